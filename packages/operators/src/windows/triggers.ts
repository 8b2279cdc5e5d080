/**
 * Triggers decide when a window emits (Flink's Trigger). Results combine FIRE and
 * PURGE; a purging trigger turns every FIRE into FIRE_AND_PURGE.
 *
 * Merging (session) windows: when windows merge, each merged window's trigger is
 * cleared, and then onMerge receives the trigger values every merged window held, to
 * fold them into the merged window (Flink's OnMergeContext.mergePartitionedState):
 * a count trigger adds its counts, a continuous trigger keeps the earliest next firing.
 */
import type { TimeWindow } from './assigners.js';
import { maxTimestamp } from './assigners.js';

export const TriggerResult = { CONTINUE: 0, FIRE: 1, PURGE: 2, FIRE_AND_PURGE: 3 } as const;
export type TriggerResult = (typeof TriggerResult)[keyof typeof TriggerResult];

export const fires = (r: TriggerResult): boolean => (r & 1) !== 0;
export const purges = (r: TriggerResult): boolean => (r & 2) !== 0;

/** What a trigger may do, for the window and key being handled. */
export interface TriggerContext {
  currentWatermark(): number;
  currentProcessingTime(): number;
  registerEventTimeTimer(time: number): void;
  registerProcessingTimeTimer(time: number): void;
  deleteEventTimeTimer(time: number): void;
  deleteProcessingTimeTimer(time: number): void;
  /** A per-window, per-key value for the trigger's own bookkeeping. */
  getValue(name: string): unknown;
  setValue(name: string, value: unknown): void;
}

/** The values a trigger kept for one window (TriggerContext.getValue / setValue). */
export type TriggerValues = ReadonlyMap<string, unknown>;

export interface Trigger {
  onElement(timestamp: number, window: TimeWindow, ctx: TriggerContext, value: unknown): TriggerResult;
  onEventTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult;
  onProcessingTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult;
  /**
   * Windows merged into `window` (they were cleared already): fold their trigger values,
   * `merged` (one map per merged window), into `window`'s and re-register its timers.
   */
  onMerge(window: TimeWindow, ctx: TriggerContext, merged: readonly TriggerValues[]): void;
  clear(window: TimeWindow, ctx: TriggerContext): void;
}

export class EventTimeTrigger implements Trigger {
  onElement(_timestamp: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    const max = maxTimestamp(window);
    if (max <= ctx.currentWatermark()) return TriggerResult.FIRE; // late but within allowed lateness
    ctx.registerEventTimeTimer(max);
    return TriggerResult.CONTINUE;
  }
  onEventTime(time: number, window: TimeWindow): TriggerResult {
    return time === maxTimestamp(window) ? TriggerResult.FIRE : TriggerResult.CONTINUE;
  }
  onProcessingTime(): TriggerResult {
    return TriggerResult.CONTINUE;
  }
  onMerge(window: TimeWindow, ctx: TriggerContext): void {
    const max = maxTimestamp(window);
    if (max > ctx.currentWatermark()) ctx.registerEventTimeTimer(max);
  }
  clear(window: TimeWindow, ctx: TriggerContext): void {
    ctx.deleteEventTimeTimer(maxTimestamp(window));
  }
}

export class ProcessingTimeTrigger implements Trigger {
  onElement(_timestamp: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    ctx.registerProcessingTimeTimer(maxTimestamp(window));
    return TriggerResult.CONTINUE;
  }
  onEventTime(): TriggerResult {
    return TriggerResult.CONTINUE;
  }
  onProcessingTime(time: number, window: TimeWindow): TriggerResult {
    return time === maxTimestamp(window) ? TriggerResult.FIRE : TriggerResult.CONTINUE;
  }
  onMerge(window: TimeWindow, ctx: TriggerContext): void {
    ctx.registerProcessingTimeTimer(maxTimestamp(window));
  }
  clear(window: TimeWindow, ctx: TriggerContext): void {
    ctx.deleteProcessingTimeTimer(maxTimestamp(window));
  }
}

/** Fires when a window holds `count` elements (Flink's CountTrigger). */
export class CountTrigger implements Trigger {
  constructor(private readonly count: number) {}
  onElement(_timestamp: number, _window: TimeWindow, ctx: TriggerContext): TriggerResult {
    const seen = ((ctx.getValue('count') as number | undefined) ?? 0) + 1;
    if (seen >= this.count) {
      ctx.setValue('count', undefined);
      return TriggerResult.FIRE;
    }
    ctx.setValue('count', seen);
    return TriggerResult.CONTINUE;
  }
  onEventTime(): TriggerResult {
    return TriggerResult.CONTINUE;
  }
  onProcessingTime(): TriggerResult {
    return TriggerResult.CONTINUE;
  }
  onMerge(_window: TimeWindow, ctx: TriggerContext, merged: readonly TriggerValues[]): void {
    // Flink's CountTrigger merges its ReducingState (a sum): elements before the merge still count.
    let count = 0;
    for (const values of merged) count += (values.get('count') as number | undefined) ?? 0;
    if (count > 0) ctx.setValue('count', count);
  }
  clear(_window: TimeWindow, ctx: TriggerContext): void {
    ctx.setValue('count', undefined);
  }
}

/**
 * Early results every `interval` of event time, and a final one at the window's end
 * (Flink's ContinuousEventTimeTrigger).
 */
export class ContinuousEventTimeTrigger implements Trigger {
  constructor(private readonly interval: number) {}
  onElement(timestamp: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    const max = maxTimestamp(window);
    if (max <= ctx.currentWatermark()) return TriggerResult.FIRE;
    ctx.registerEventTimeTimer(max);
    if (ctx.getValue('next') === undefined) {
      const start = timestamp - (((timestamp % this.interval) + this.interval) % this.interval);
      const next = start + this.interval;
      ctx.setValue('next', next);
      ctx.registerEventTimeTimer(next);
    }
    return TriggerResult.CONTINUE;
  }
  onEventTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    if (time === maxTimestamp(window)) return TriggerResult.FIRE;
    if (ctx.getValue('next') === time) {
      const next = time + this.interval;
      ctx.setValue('next', next);
      if (next < maxTimestamp(window)) ctx.registerEventTimeTimer(next);
      return TriggerResult.FIRE;
    }
    return TriggerResult.CONTINUE;
  }
  onProcessingTime(): TriggerResult {
    return TriggerResult.CONTINUE;
  }
  onMerge(window: TimeWindow, ctx: TriggerContext, merged: readonly TriggerValues[]): void {
    const max = maxTimestamp(window);
    if (max > ctx.currentWatermark()) ctx.registerEventTimeTimer(max);
    // Flink keeps the earliest pending early firing of the merged windows (a Min ReducingState).
    const next = earliest(merged, 'next');
    if (next === undefined) return;
    ctx.setValue('next', next);
    if (next < max) ctx.registerEventTimeTimer(next);
  }
  clear(window: TimeWindow, ctx: TriggerContext): void {
    const next = ctx.getValue('next');
    if (typeof next === 'number') ctx.deleteEventTimeTimer(next);
    ctx.setValue('next', undefined);
    ctx.deleteEventTimeTimer(maxTimestamp(window));
  }
}

/** Early results every `interval` of processing time (Flink's ContinuousProcessingTimeTrigger). */
export class ContinuousProcessingTimeTrigger implements Trigger {
  constructor(private readonly interval: number) {}
  onElement(_timestamp: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    if (ctx.getValue('next') === undefined) {
      const now = ctx.currentProcessingTime();
      const next = now - (((now % this.interval) + this.interval) % this.interval) + this.interval;
      ctx.setValue('next', next);
      ctx.registerProcessingTimeTimer(next);
    }
    if (window.end !== Number.POSITIVE_INFINITY) ctx.registerProcessingTimeTimer(maxTimestamp(window));
    return TriggerResult.CONTINUE;
  }
  onEventTime(): TriggerResult {
    return TriggerResult.CONTINUE;
  }
  onProcessingTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    if (time === maxTimestamp(window)) return TriggerResult.FIRE;
    if (ctx.getValue('next') === time) {
      const next = time + this.interval;
      ctx.setValue('next', next);
      ctx.registerProcessingTimeTimer(next);
      return TriggerResult.FIRE;
    }
    return TriggerResult.CONTINUE;
  }
  onMerge(window: TimeWindow, ctx: TriggerContext, merged: readonly TriggerValues[]): void {
    if (window.end !== Number.POSITIVE_INFINITY) ctx.registerProcessingTimeTimer(maxTimestamp(window));
    const next = earliest(merged, 'next');
    if (next === undefined) return;
    ctx.setValue('next', next);
    ctx.registerProcessingTimeTimer(next);
  }
  clear(_window: TimeWindow, ctx: TriggerContext): void {
    const next = ctx.getValue('next');
    if (typeof next === 'number') ctx.deleteProcessingTimeTimer(next);
    ctx.setValue('next', undefined);
  }
}

export class PurgingTrigger implements Trigger {
  constructor(private readonly inner: Trigger) {}
  onElement(timestamp: number, window: TimeWindow, ctx: TriggerContext, value: unknown): TriggerResult {
    return purging(this.inner.onElement(timestamp, window, ctx, value));
  }
  onEventTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    return purging(this.inner.onEventTime(time, window, ctx));
  }
  onProcessingTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    return purging(this.inner.onProcessingTime(time, window, ctx));
  }
  onMerge(window: TimeWindow, ctx: TriggerContext, merged: readonly TriggerValues[]): void {
    this.inner.onMerge(window, ctx, merged);
  }
  clear(window: TimeWindow, ctx: TriggerContext): void {
    this.inner.clear(window, ctx);
  }
}

/** The smallest number a merged window held under `name`, if any held one. */
function earliest(merged: readonly TriggerValues[], name: string): number | undefined {
  let min: number | undefined;
  for (const values of merged) {
    const v = values.get(name);
    if (typeof v === 'number' && (min === undefined || v < min)) min = v;
  }
  return min;
}

function purging(result: TriggerResult): TriggerResult {
  return fires(result) ? TriggerResult.FIRE_AND_PURGE : result;
}

const RESULT_NAMES: Record<string, TriggerResult> = {
  CONTINUE: TriggerResult.CONTINUE,
  FIRE: TriggerResult.FIRE,
  PURGE: TriggerResult.PURGE,
  FIRE_AND_PURGE: TriggerResult.FIRE_AND_PURGE,
};

interface UserTrigger {
  onElement(value: unknown, timestamp: number, window: WindowView, ctx: TriggerContext): unknown;
  onEventTime?(time: number, window: WindowView, ctx: TriggerContext): unknown;
  onProcessingTime?(time: number, window: WindowView, ctx: TriggerContext): unknown;
  clear?(window: WindowView, ctx: TriggerContext): void;
}

interface WindowView {
  readonly start: number;
  readonly end: number;
  readonly maxTimestamp: number;
}

/** A trigger written by the user as an object of functions returning 'CONTINUE', 'FIRE', … */
export class UserCodeTrigger implements Trigger {
  constructor(private readonly user: UserTrigger) {}
  private result(value: unknown, hook: string): TriggerResult {
    if (value === undefined) return TriggerResult.CONTINUE;
    const result = typeof value === 'string' ? RESULT_NAMES[value] : undefined;
    if (result === undefined) throw new TypeError(`trigger ${hook} returned ${JSON.stringify(value)}; expected 'CONTINUE', 'FIRE', 'PURGE' or 'FIRE_AND_PURGE'`);
    return result;
  }
  onElement(timestamp: number, window: TimeWindow, ctx: TriggerContext, value: unknown): TriggerResult {
    return this.result(this.user.onElement(value, timestamp, view(window), ctx), 'onElement');
  }
  onEventTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    return this.result(this.user.onEventTime?.(time, view(window), ctx), 'onEventTime');
  }
  onProcessingTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    return this.result(this.user.onProcessingTime?.(time, view(window), ctx), 'onProcessingTime');
  }
  /** Unreachable: the window operator refuses custom triggers on merging windows, as Flink refuses triggers that cannot merge. */
  onMerge(): void {
    throw new Error('a custom trigger cannot merge windows');
  }
  clear(window: TimeWindow, ctx: TriggerContext): void {
    this.user.clear?.(view(window), ctx);
  }
}

function view(window: TimeWindow): WindowView {
  return { start: window.start, end: window.end, maxTimestamp: maxTimestamp(window) };
}
