/**
 * Live debugging inside a subtask: record taps and key counting. Both are switched on
 * by swapping an object on the output path (a tap wraps the target an edge's records
 * go to; key counting replaces an exchange's channel selector), so a subtask that
 * nobody watches runs exactly the code it runs without them: no flag, no branch.
 *
 *   job manager ──tap-start──▶ slot ──post──▶ task: wrap the edge's target
 *   target.collect ─▶ TapTarget: sample (token bucket) ─▶ inner.collect
 *   slot, every 200 ms: drained samples ──tap-records──▶ job manager (global limit)
 *
 *   job manager ──count-keys──▶ slot ─▶ task: the key-by's ExchangeWriter selects with
 *   a KeyCountingSelector (the key it computes anyway goes into a Space-Saving sketch)
 *   slot, every second: each sketch's top entries ──hot-keys──▶ job manager (merge)
 */
import { RowKind, subtaskForKey, type FiringWindow, type Key } from '@sluice/operators';

/** What the job manager asks a subtask to sample. */
export interface TapSpec {
  readonly tapId: string;
  /** The producing operator's index in its chain. */
  readonly operator: number;
  /** The operator's output ('main', 'late', a side-output tag). */
  readonly output: string;
  /** Index into the operator's targets of that output (the plan's `outputs[output]`). */
  readonly target: number;
  /** This subtask's share of the tap's rate. */
  readonly perSecond: number;
  readonly limit: number;
}

export interface TapSample {
  readonly value: unknown;
  readonly timestamp: number;
  readonly kind: RowKind;
  /** The producer's last emitted watermark when the record left it. */
  readonly watermark: number;
  /** [start, end) of the window being emitted, 'late' on a late output, null otherwise. */
  readonly window: { readonly start: number; readonly end: number } | 'late' | null;
}

export interface TapDrain {
  readonly tapId: string;
  readonly records: TapSample[];
  readonly skipped: number;
}

/** Where records of an output go (a chained operator or an exchange writer); task.ts implements it. */
export interface RecordTarget {
  collect(value: unknown, timestamp: number, kind: RowKind): void;
  watermark(watermark: number): void;
  idle(idle: boolean): void;
}

/** One tap on one subtask: a token bucket over processing time. */
export class TapSampler {
  private records: TapSample[] = [];
  private skipped = 0;
  private taken = 0;
  private tokens = 1;
  private last = performance.now();
  private readonly burst: number;

  constructor(
    readonly spec: TapSpec,
    /** The producer's counters: `outputWatermark` is the watermark on the edge. */
    private readonly counters: { readonly outputWatermark: number },
    private readonly firing: FiringWindow,
  ) {
    this.burst = Math.max(1, spec.perSecond);
  }

  offer(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.taken >= this.spec.limit) return;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.spec.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) {
      this.skipped++;
      return;
    }
    this.tokens -= 1;
    this.taken++;
    const start = this.firing.start;
    const window = this.spec.output === 'late' ? 'late' : Number.isFinite(start) && Number.isFinite(this.firing.end) ? { start, end: this.firing.end } : null;
    // A copy: chained operators downstream may change the object before the sample is sent.
    this.records.push({ value: snapshotValue(value), timestamp, kind, watermark: this.counters.outputWatermark, window });
  }

  drain(): TapDrain | undefined {
    if (this.records.length === 0 && this.skipped === 0) return undefined;
    const drained = { tapId: this.spec.tapId, records: this.records, skipped: this.skipped };
    this.records = [];
    this.skipped = 0;
    return drained;
  }
}

/** Wraps the target of a tapped edge; holds every tap on it. */
export class TapTarget implements RecordTarget {
  readonly samplers: TapSampler[] = [];

  constructor(readonly inner: RecordTarget) {}

  collect(value: unknown, timestamp: number, kind: RowKind): void {
    for (const sampler of this.samplers) sampler.offer(value, timestamp, kind);
    this.inner.collect(value, timestamp, kind);
  }

  watermark(watermark: number): void {
    this.inner.watermark(watermark);
  }

  idle(idle: boolean): void {
    this.inner.idle(idle);
  }
}

function snapshotValue(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return String(value);
  }
}

// ─── Key counting ────────────────────────────────────────────────────────────

interface Counter {
  key: Key;
  count: number;
  /** Over-count bound: the count of the entry this key replaced. */
  error: number;
  position: number;
}

/**
 * The Space-Saving sketch (Metwally, Agrawal, El Abbadi 2005): `capacity` counters; a
 * key without one takes over the smallest, inheriting its count as its error bound.
 * Every key whose true count exceeds total / capacity is guaranteed to be kept. The
 * counters live in a min-heap, so a miss costs O(log capacity) and a hit on a hot
 * key (deep in the heap) little more than an increment.
 */
export class SpaceSaving {
  private readonly heap: Counter[] = [];
  private readonly index = new Map<Key, Counter>();
  total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`a Space-Saving sketch needs a positive integer capacity, not ${capacity}`);
  }

  offer(key: Key, weight = 1): void {
    this.total += weight;
    const counter = this.index.get(key);
    if (counter) {
      counter.count += weight;
      this.siftDown(counter.position);
      return;
    }
    if (this.heap.length < this.capacity) {
      const added: Counter = { key, count: weight, error: 0, position: this.heap.length };
      this.heap.push(added);
      this.index.set(key, added);
      this.siftUp(added.position);
      return;
    }
    const min = this.heap[0] as Counter;
    this.index.delete(min.key);
    min.key = key;
    min.error = min.count;
    min.count += weight;
    this.index.set(key, min);
    this.siftDown(0);
  }

  /** The `k` largest counters, largest first. */
  top(k: number): Array<{ key: Key; count: number; error: number }> {
    return [...this.heap]
      .sort((a, b) => b.count - a.count)
      .slice(0, k)
      .map((c) => ({ key: c.key, count: c.count, error: c.error }));
  }

  clear(): void {
    this.heap.length = 0;
    this.index.clear();
    this.total = 0;
  }

  private siftDown(from: number): void {
    const heap = this.heap;
    const n = heap.length;
    let i = from;
    const item = heap[i] as Counter;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && (heap[right] as Counter).count < (heap[left] as Counter).count) child = right;
      const c = heap[child] as Counter;
      if (c.count >= item.count) break;
      heap[i] = c;
      c.position = i;
      i = child;
    }
    heap[i] = item;
    item.position = i;
  }

  private siftUp(from: number): void {
    const heap = this.heap;
    let i = from;
    const item = heap[i] as Counter;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Counter;
      if (p.count <= item.count) break;
      heap[i] = p;
      p.position = i;
      i = parent;
    }
    heap[i] = item;
    item.position = i;
  }
}

/** Counters per sketch: enough to hold the top 100 a client may ask for with room for churn. */
export const SKETCH_CAPACITY = 256;
/** On average one record in SKETCH_STRIDE goes into the sketch (weighted by the stride). */
export const SKETCH_STRIDE = 8;

export interface HotKeyReport {
  readonly exchange: number;
  /** Records through the exchange from this subtask in the interval (exact). */
  readonly total: number;
  readonly intervalMs: number;
  /** The sketch's largest counters, estimated record counts. */
  readonly entries: Array<{ key: Key; count: number; error: number }>;
}

/**
 * A hash partitioner that also counts keys. Records enter the sketch at random
 * intervals averaging SKETCH_STRIDE (a fixed stride could alias with a periodic key
 * pattern), weighted by the interval, so a hot key costs a sketch update only once
 * every few records.
 */
export class KeyCountingSelector {
  readonly sketch = new SpaceSaving(SKETCH_CAPACITY);
  private countdown = 1;
  private seen = 0;
  private random = 0x9e3779b9;
  private since = performance.now();

  constructor(
    readonly exchange: number,
    private readonly keyOf: (value: unknown) => Key,
    private readonly maxParallelism: number,
    private readonly consumerParallelism: number,
  ) {}

  select(value: unknown): number {
    const key = this.keyOf(value);
    this.seen++;
    if (--this.countdown === 0) {
      // xorshift32: a cheap, good-enough source of random strides.
      let x = this.random;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.random = x >>> 0;
      const stride = 1 + (this.random % (2 * SKETCH_STRIDE - 1));
      this.sketch.offer(key, stride);
      this.countdown = stride;
    }
    return subtaskForKey(key, this.maxParallelism, this.consumerParallelism);
  }

  /**
   * The interval's figures, and the sketch starts afresh; undefined while the interval
   * is shorter than `minIntervalMs` (a sketch switched on just before the report would
   * otherwise rank a handful of records).
   */
  report(top: number, minIntervalMs = 500): HotKeyReport | undefined {
    const now = performance.now();
    if (now - this.since < minIntervalMs) return undefined;
    const report = { exchange: this.exchange, total: this.seen, intervalMs: now - this.since, entries: this.sketch.top(top) };
    this.sketch.clear();
    this.seen = 0;
    this.since = now;
    return report;
  }
}
