/**
 * Window assigners, with Flink's arithmetic. A window [start, end) has
 * maxTimestamp = end - 1: it fires when the watermark reaches maxTimestamp.
 */

export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

export const GLOBAL_WINDOW: TimeWindow = { start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY };

export function maxTimestamp(window: TimeWindow): number {
  return window.end === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : window.end - 1;
}

/** Flink's TimeWindow.getWindowStartWithOffset, correct for negative timestamps too. */
export function windowStart(timestamp: number, offset: number, size: number): number {
  const remainder = (timestamp - offset) % size;
  return remainder < 0 ? timestamp - (remainder + size) : timestamp - remainder;
}

/** The start of every sliding window containing `timestamp`, latest first. */
export function slidingStarts(timestamp: number, size: number, slide: number, offset: number): number[] {
  const starts: number[] = [];
  const last = windowStart(timestamp, offset, slide);
  for (let start = last; start > timestamp - size; start -= slide) starts.push(start);
  return starts;
}

/** Flink's TimeWindow.intersects: touching windows intersect, so sessions chain. */
export function intersects(a: TimeWindow, b: TimeWindow): boolean {
  return a.start <= b.end && a.end >= b.start;
}

export function cover(a: TimeWindow, b: TimeWindow): TimeWindow {
  return { start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}
