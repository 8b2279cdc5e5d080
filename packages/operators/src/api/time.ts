import type { Key } from './elements.js';
import type { Namespace } from './state.js';

/** Wall-clock time and callbacks at a wall-clock time; tests use a manual one. */
export interface ProcessingTimeService {
  now(): number;
  /** Calls `callback(time)` through the task's mailbox at or after `time`. Returns a cancel function. */
  schedule(time: number, callback: (time: number) => void): () => void;
}

export interface InternalTimer {
  readonly timestamp: number;
  readonly key: Key;
  readonly namespace: Namespace;
}

/**
 * Timers per key and namespace, as Flink's InternalTimerService: registering the
 * same (time, key, namespace) twice keeps one timer; timers fire in timestamp order,
 * with the backend's current key and namespace set to theirs.
 */
export interface TimerService {
  currentWatermark(): number;
  currentProcessingTime(): number;
  registerEventTimeTimer(namespace: Namespace, timestamp: number): void;
  deleteEventTimeTimer(namespace: Namespace, timestamp: number): void;
  registerProcessingTimeTimer(namespace: Namespace, timestamp: number): void;
  deleteProcessingTimeTimer(namespace: Namespace, timestamp: number): void;
  /** Pending timers of one key, for the state inspector. */
  timersOf(key: Key): { event: InternalTimer[]; processing: InternalTimer[] };
}

/** What an operator implements to receive its timers. */
export interface Triggerable {
  onEventTime(timer: InternalTimer): void;
  onProcessingTime(timer: InternalTimer): void;
}
