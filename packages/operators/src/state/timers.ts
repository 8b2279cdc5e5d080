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

/** timestamp → namespace → keys: membership without building a composite key per call. */
class TimerSet {
  private readonly byTime = new Map<number, Map<Namespace, Set<Key>>>();
  private count = 0;

  add(t: number, ns: Namespace, key: Key): boolean {
    let byNs = this.byTime.get(t);
    if (!byNs) this.byTime.set(t, (byNs = new Map<Namespace, Set<Key>>()));
    let keys = byNs.get(ns);
    if (!keys) byNs.set(ns, (keys = new Set()));
    if (keys.has(key)) return false;
    keys.add(key);
    this.count++;
    return true;
  }

  delete(t: number, ns: Namespace, key: Key): boolean {
    const byNs = this.byTime.get(t);
    const keys = byNs?.get(ns);
    if (!byNs || !keys?.delete(key)) return false;
    if (keys.size === 0) byNs.delete(ns);
    if (byNs.size === 0) this.byTime.delete(t);
    this.count--;
    return true;
  }

  get size(): number {
    return this.count;
  }

  *all(): Generator<InternalTimer> {
    for (const [timestamp, byNs] of this.byTime) for (const [namespace, keys] of byNs) for (const key of keys) yield { timestamp, key, namespace };
  }
}

/** A binary min-heap of timers by timestamp. */
class TimerQueue {
  private readonly heap: InternalTimer[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): InternalTimer | undefined {
    return this.heap[0];
  }

  push(timer: InternalTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as InternalTimer;
      if (p.timestamp <= timer.timestamp) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = timer;
  }

  pop(): InternalTimer | undefined {
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
      heap[i] = heap[child] as InternalTimer;
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
    const key = this.backend.getCurrentKey();
    if (this.eventSet.add(timestamp, namespace, key)) this.eventQueue.push({ timestamp, key, namespace });
  }

  deleteEventTimeTimer(namespace: Namespace, timestamp: number): void {
    this.eventSet.delete(timestamp, namespace, this.backend.getCurrentKey());
  }

  registerProcessingTimeTimer(namespace: Namespace, timestamp: number): void {
    const key = this.backend.getCurrentKey();
    if (!this.processingSet.add(timestamp, namespace, key)) return;
    this.processingQueue.push({ timestamp, key, namespace });
    if (timestamp < this.scheduledAt) this.schedule(timestamp);
  }

  deleteProcessingTimeTimer(namespace: Namespace, timestamp: number): void {
    this.processingSet.delete(timestamp, namespace, this.backend.getCurrentKey());
  }

  timersOf(key: Key): { event: InternalTimer[]; processing: InternalTimer[] } {
    const of = (set: TimerSet) => [...set.all()].filter((t) => t.key === key).sort((a, b) => a.timestamp - b.timestamp);
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
      if (!this.eventSet.delete(next.timestamp, next.namespace, next.key)) continue;
      this.backend.setCurrentKey(next.key);
      this.backend.setCurrentNamespace(next.namespace);
      this.target.onEventTime(next);
    }
  }

  snapshot(): void {
    // Timers are captured with keyed state: see snapshotTimers.
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
        if (this.eventSet.add(t.timestamp, t.namespace, t.key)) this.eventQueue.push({ timestamp: t.timestamp, key: t.key, namespace: t.namespace });
      } else if (this.processingSet.add(t.timestamp, t.namespace, t.key)) {
        this.processingQueue.push({ timestamp: t.timestamp, key: t.key, namespace: t.namespace });
        if (t.timestamp < this.scheduledAt) this.schedule(t.timestamp);
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
      if (!this.processingSet.delete(next.timestamp, next.namespace, next.key)) continue;
      this.backend.setCurrentKey(next.key);
      this.backend.setCurrentNamespace(next.namespace);
      this.target.onProcessingTime(next);
    }
  }
}
