/**
 * Timers per (timestamp, key, namespace) on the heap, as Flink's
 * HeapInternalTimerService: registering an existing timer is a no-op, deleting is
 * cheap (the queue entry is skipped when it surfaces), and timers fire in timestamp
 * order with the backend's key and namespace set to the timer's.
 */
import type { Key } from '../api/elements.js';
import { MIN_WATERMARK } from '../api/elements.js';
import type { InternalTimerService } from '../api/operator.js';
import type { KeyedStateBackend, KeyGroupRange, Namespace, TimerSnapshot } from '../api/state.js';
import type { InternalTimer, ProcessingTimeService, Triggerable } from '../api/time.js';
import { inRange, keyGroupOf } from './key-groups.js';

/** The timers registered at a checkpoint's barrier (HeapTimerService.captureTimers). */
export interface TimerCapture {
  readonly event: readonly InternalTimer[];
  readonly processing: readonly InternalTimer[];
}

/** A registered timer; the same object sits in the queue, so deleting it just marks it. */
interface TimerEntry extends InternalTimer {
  deleted: boolean;
}

/**
 * Registered timers, by key: most keys have one or two timers, so a short array per key
 * gives membership without building a composite key per call and costs far less memory
 * than an index by timestamp when every key's timers are distinct (session windows).
 */
class TimerSet {
  private readonly byKey = new Map<Key, TimerEntry | TimerEntry[]>();
  private count = 0;

  /** Returns the new entry, or undefined when the timer was registered already. */
  add(timestamp: number, namespace: Namespace, key: Key): TimerEntry | undefined {
    const existing = this.byKey.get(key);
    if (existing === undefined) {
      const entry: TimerEntry = { timestamp, key, namespace, deleted: false };
      this.byKey.set(key, entry);
      this.count++;
      return entry;
    }
    if (Array.isArray(existing)) {
      for (const e of existing) if (e.timestamp === timestamp && e.namespace === namespace) return undefined;
      const entry: TimerEntry = { timestamp, key, namespace, deleted: false };
      existing.push(entry);
      this.count++;
      return entry;
    }
    if (existing.timestamp === timestamp && existing.namespace === namespace) return undefined;
    const entry: TimerEntry = { timestamp, key, namespace, deleted: false };
    this.byKey.set(key, [existing, entry]);
    this.count++;
    return entry;
  }

  /** Unregisters a timer; returns false when it was not registered. */
  delete(timestamp: number, namespace: Namespace, key: Key): boolean {
    const existing = this.byKey.get(key);
    if (existing === undefined) return false;
    if (!Array.isArray(existing)) {
      if (existing.timestamp !== timestamp || existing.namespace !== namespace) return false;
      existing.deleted = true;
      this.byKey.delete(key);
      this.count--;
      return true;
    }
    const index = existing.findIndex((e) => e.timestamp === timestamp && e.namespace === namespace);
    if (index < 0) return false;
    (existing[index] as TimerEntry).deleted = true;
    existing.splice(index, 1);
    if (existing.length === 1) this.byKey.set(key, existing[0] as TimerEntry);
    this.count--;
    return true;
  }

  /** Removes an entry taken off the queue (it is registered unless it was deleted). */
  take(entry: TimerEntry): boolean {
    if (entry.deleted) return false;
    return this.delete(entry.timestamp, entry.namespace, entry.key);
  }

  get size(): number {
    return this.count;
  }

  /** Every registered timer, as an array of the entries themselves (their timestamp, key and namespace never change). */
  capture(): InternalTimer[] {
    const out: InternalTimer[] = [];
    for (const entries of this.byKey.values()) {
      if (Array.isArray(entries)) for (const e of entries) out.push(e);
      else out.push(entries);
    }
    return out;
  }

  *all(): Generator<InternalTimer> {
    for (const entries of this.byKey.values()) {
      if (Array.isArray(entries)) yield* entries;
      else yield entries;
    }
  }

  of(key: Key): InternalTimer[] {
    const entries = this.byKey.get(key);
    return entries === undefined ? [] : Array.isArray(entries) ? [...entries] : [entries];
  }
}

/** A binary min-heap of timers by timestamp. */
class TimerQueue {
  private readonly heap: TimerEntry[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): TimerEntry | undefined {
    return this.heap[0];
  }

  push(timer: TimerEntry): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as TimerEntry;
      if (p.timestamp <= timer.timestamp) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = timer;
  }

  pop(): TimerEntry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as InternalTimer).timestamp < (heap[left] as InternalTimer).timestamp ? right : left;
      if ((heap[child] as InternalTimer).timestamp >= last.timestamp) break;
      heap[i] = heap[child] as TimerEntry;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

export class HeapTimerService implements InternalTimerService {
  private readonly eventSet = new TimerSet();
  private readonly eventQueue = new TimerQueue();
  private readonly processingSet = new TimerSet();
  private readonly processingQueue = new TimerQueue();
  private watermark = MIN_WATERMARK;
  private scheduledAt = Number.POSITIVE_INFINITY;
  private cancelScheduled: (() => void) | undefined;

  constructor(
    private readonly backend: KeyedStateBackend,
    private readonly target: Triggerable,
    private readonly processingTime: ProcessingTimeService,
  ) {}

  currentWatermark(): number {
    return this.watermark;
  }

  currentProcessingTime(): number {
    return this.processingTime.now();
  }

  registerEventTimeTimer(namespace: Namespace, timestamp: number): void {
    const entry = this.eventSet.add(timestamp, namespace, this.backend.getCurrentKey());
    if (entry) this.eventQueue.push(entry);
  }

  deleteEventTimeTimer(namespace: Namespace, timestamp: number): void {
    this.eventSet.delete(timestamp, namespace, this.backend.getCurrentKey());
  }

  registerProcessingTimeTimer(namespace: Namespace, timestamp: number): void {
    const entry = this.processingSet.add(timestamp, namespace, this.backend.getCurrentKey());
    if (!entry) return;
    this.processingQueue.push(entry);
    if (timestamp < this.scheduledAt) this.schedule(timestamp);
  }

  deleteProcessingTimeTimer(namespace: Namespace, timestamp: number): void {
    this.processingSet.delete(timestamp, namespace, this.backend.getCurrentKey());
  }

  timersOf(key: Key): { event: InternalTimer[]; processing: InternalTimer[] } {
    const of = (set: TimerSet) =>
      set
        .of(key)
        .map((t) => ({ timestamp: t.timestamp, key: t.key, namespace: t.namespace }))
        .sort((a, b) => a.timestamp - b.timestamp);
    return { event: of(this.eventSet), processing: of(this.processingSet) };
  }

  get pendingEventTimers(): number {
    return this.eventSet.size;
  }

  advanceWatermark(watermark: number): void {
    this.watermark = watermark;
    for (;;) {
      const next = this.eventQueue.peek();
      if (!next || next.timestamp > watermark) return;
      this.eventQueue.pop();
      if (!this.eventSet.take(next)) continue;
      this.backend.setCurrentKey(next.key);
      this.backend.setCurrentNamespace(next.namespace);
      this.target.onEventTime(next);
    }
  }

  snapshot(): void {
    // Timers are captured with keyed state: see snapshotTimers.
  }

  /**
   * The timers registered now, for a checkpoint: only the arrays of entries are copied
   * here (the barrier's synchronous part); grouping them by key group is left to the
   * snapshot's asynchronous part. Entries deleted or fired later stay in the capture.
   */
  captureTimers(): TimerCapture {
    return { event: this.eventSet.capture(), processing: this.processingSet.capture() };
  }

  /** Pending timers grouped by key group, stored alongside keyed state in a snapshot. */
  snapshotTimers(maxParallelism: number): Map<number, TimerSnapshot[]> {
    const groups = new Map<number, TimerSnapshot[]>();
    const add = (domain: 'event' | 'processing', t: InternalTimer) => {
      const group = keyGroupOf(t.key, maxParallelism);
      let list = groups.get(group);
      if (!list) groups.set(group, (list = []));
      list.push({ domain, timestamp: t.timestamp, key: t.key, namespace: t.namespace });
    };
    for (const t of this.eventSet.all()) add('event', t);
    for (const t of this.processingSet.all()) add('processing', t);
    return groups;
  }

  restoreTimers(timers: readonly TimerSnapshot[], range: KeyGroupRange, maxParallelism: number): void {
    for (const t of timers) {
      if (!inRange(range, keyGroupOf(t.key, maxParallelism))) continue;
      if (t.domain === 'event') {
        const entry = this.eventSet.add(t.timestamp, t.namespace, t.key);
        if (entry) this.eventQueue.push(entry);
      } else {
        const entry = this.processingSet.add(t.timestamp, t.namespace, t.key);
        if (entry) {
          this.processingQueue.push(entry);
          if (t.timestamp < this.scheduledAt) this.schedule(t.timestamp);
        }
      }
    }
  }

  close(): void {
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
  }

  private schedule(time: number): void {
    this.cancelScheduled?.();
    this.scheduledAt = time;
    this.cancelScheduled = this.processingTime.schedule(time, (now) => this.fireProcessingTimers(now));
  }

  private fireProcessingTimers(now: number): void {
    this.scheduledAt = Number.POSITIVE_INFINITY;
    this.cancelScheduled = undefined;
    for (;;) {
      const next = this.processingQueue.peek();
      if (!next) return;
      if (next.timestamp > now) {
        this.schedule(next.timestamp);
        return;
      }
      this.processingQueue.pop();
      if (!this.processingSet.take(next)) continue;
      this.backend.setCurrentKey(next.key);
      this.backend.setCurrentNamespace(next.namespace);
      this.target.onProcessingTime(next);
    }
  }
}
