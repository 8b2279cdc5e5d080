/**
 * Interval join, after Flink's IntervalJoinOperator (KeyedStream.intervalJoin).
 *
 * A left element at time t joins the right elements of the same key whose
 * timestamps r lie in [t + lowerBound, t + upperBound]; either bound may be
 * exclusive. Both sides are buffered per key, sorted by timestamp, so the matches of
 * a new element are found by binary search rather than by scanning every buffered
 * element (Flink scans its MapState<timestamp, list>). A pair is emitted once, by
 * whichever of its two elements arrives second, with the larger of the two
 * timestamps (Flink's TimestampedCollector in `collect`).
 *
 * Lateness is Flink's `isLate`: an element with a timestamp below the operator's
 * watermark (the minimum of both inputs) is dropped without joining, and counted
 * in `lateRecordsDropped`. The join has no `late` output, as in Flink.
 *
 * State stays bounded: a buffered element is removed once no future, non-late
 * element of the other side can match it. A left element t can only meet right
 * elements r >= watermark with r <= t + upperBound, so it goes once the watermark
 * passes t + upperBound; a right element r once the watermark passes r - lowerBound.
 * One event-time timer per (side, cleanup time) removes the buffer's prefix that is
 * due: cleanup time grows with the timestamp, so the due elements are always at the
 * front. Flink removes a left element when the watermark *reaches* t + upperBound,
 * which loses a right element arriving with exactly that (not late) timestamp; here
 * it is kept one millisecond longer, so the join matches a nested-loop join over the
 * same non-late input exactly.
 *
 * Timestamps are whole milliseconds, as everywhere in Sluice.
 */
import { NO_TIMESTAMP, RowKind } from '../api/elements.js';
import type { FunctionContext } from '../api/functions.js';
import { AbstractTwoInputOperator, type InternalTimerService, type OperatorContext } from '../api/operator.js';
import type { Output } from '../api/output.js';
import type { ValueState } from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { InternalTimer } from '../api/time.js';
import type { OperatorEnv } from '../registry.js';

export interface IntervalJoinConfig {
  readonly lowerBoundMs: number;
  readonly upperBoundMs: number;
  readonly lowerBoundInclusive?: boolean | undefined;
  readonly upperBoundInclusive?: boolean | undefined;
  /** Source of `(left, right, ctx) => output`; without it the output is `{ left, right }`. */
  readonly fn?: string | undefined;
}

/** What the join function sees besides the pair, as Flink's ProcessJoinFunction.Context. */
export interface IntervalJoinContext extends FunctionContext {
  leftTimestamp: number;
  rightTimestamp: number;
}

type JoinFn = (left: unknown, right: unknown, ctx: IntervalJoinContext) => unknown;

/**
 * One side's buffered elements of one key, sorted by timestamp (arrival order among
 * equal timestamps): parallel arrays, so buffering an element allocates nothing else.
 */
interface Buffer {
  t: number[];
  v: unknown[];
}

const LEFT_BUFFER = 'interval-join-left';
const RIGHT_BUFFER = 'interval-join-right';
/** Timer namespaces: which side's buffer a cleanup timer prunes. */
const LEFT = 'left';
const RIGHT = 'right';

export class IntervalJoinOperator extends AbstractTwoInputOperator<unknown, unknown> {
  private readonly lower: number;
  private readonly upper: number;
  private readonly lowerInclusive: boolean;
  private readonly upperInclusive: boolean;
  private readonly join: JoinFn | undefined;
  private left!: ValueState<Buffer>;
  private right!: ValueState<Buffer>;
  private fctx!: IntervalJoinContext;
  private cleanupTimers!: InternalTimerService;

  constructor(config: IntervalJoinConfig, env: OperatorEnv) {
    super();
    const { lowerBoundMs, upperBoundMs } = config;
    if (!Number.isFinite(lowerBoundMs) || !Number.isFinite(upperBoundMs)) {
      throw new Error(`interval join bounds must be finite numbers, got [${lowerBoundMs}, ${upperBoundMs}]`);
    }
    if (lowerBoundMs > upperBoundMs) throw new Error(`interval join: lowerBoundMs (${lowerBoundMs}) must not exceed upperBoundMs (${upperBoundMs})`);
    this.lower = lowerBoundMs;
    this.upper = upperBoundMs;
    this.lowerInclusive = config.lowerBoundInclusive ?? true;
    this.upperInclusive = config.upperBoundInclusive ?? true;
    this.join = config.fn !== undefined ? (env.fn(config.fn) as JoinFn) : undefined;
  }

  override setup(ctx: OperatorContext, output: Output<unknown>): void {
    super.setup(ctx, output);
    this.fctx = { timestamp: 0, leftTimestamp: 0, rightTimestamp: 0, nodeId: ctx.nodeId, subtaskIndex: ctx.subtaskIndex, parallelism: ctx.parallelism, attemptNumber: ctx.attemptNumber };
  }

  override open(): void {
    this.left = this.backend.getState({ kind: 'value', name: LEFT_BUFFER }) as ValueState<Buffer>;
    this.right = this.backend.getState({ kind: 'value', name: RIGHT_BUFFER }) as ValueState<Buffer>;
    this.cleanupTimers = this.useTimers();
  }

  processElement1(value: unknown, timestamp: number, kind: RowKind): void {
    if (!this.accept(timestamp, kind)) return;
    // Right elements r with t + lower <= r <= t + upper (each end per its inclusiveness).
    const right = this.right.value();
    if (right) {
      const from = this.lowerInclusive ? lowerIndex(right.t, timestamp + this.lower) : upperIndex(right.t, timestamp + this.lower);
      const hi = timestamp + this.upper;
      for (let i = from; i < right.t.length; i++) {
        const r = right.t[i] as number;
        if (this.upperInclusive ? r > hi : r >= hi) break;
        this.emit(value, right.v[i], timestamp, r);
      }
    }
    this.buffer(this.left, LEFT, value, timestamp, this.leftCleanupTime(timestamp));
  }

  processElement2(value: unknown, timestamp: number, kind: RowKind): void {
    if (!this.accept(timestamp, kind)) return;
    // Left elements t with r - upper <= t <= r - lower: the bounds seen from the right.
    const left = this.left.value();
    if (left) {
      const from = this.upperInclusive ? lowerIndex(left.t, timestamp - this.upper) : upperIndex(left.t, timestamp - this.upper);
      const hi = timestamp - this.lower;
      for (let i = from; i < left.t.length; i++) {
        const t = left.t[i] as number;
        if (this.lowerInclusive ? t > hi : t >= hi) break;
        this.emit(left.v[i], value, t, timestamp);
      }
    }
    this.buffer(this.right, RIGHT, value, timestamp, this.rightCleanupTime(timestamp));
  }

  override onEventTime(timer: InternalTimer): void {
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    if (timer.namespace === LEFT) this.prune(this.left, timer.timestamp, this.upper, this.upperInclusive, 1);
    else if (timer.namespace === RIGHT) this.prune(this.right, timer.timestamp, this.lower, this.lowerInclusive, -1);
  }

  /** False for a late element (dropped and counted); throws for input the join cannot take. */
  private accept(timestamp: number, kind: RowKind): boolean {
    if (timestamp === NO_TIMESTAMP) {
      throw new Error('interval join: the record has no event-time timestamp; interval joins need event time, so give both sources a timestamp field or assigner');
    }
    if (kind === RowKind.UPDATE_BEFORE || kind === RowKind.DELETE) {
      throw new Error('interval join: cannot consume retractions (update-before or delete records); use a regular join for changelog inputs');
    }
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    if (timestamp < this.currentWatermark) {
      this.ctx.metrics.lateRecordsDropped++;
      return false;
    }
    return true;
  }

  /** When the watermark has passed t + upper: no right element to come can match left t. */
  private leftCleanupTime(t: number): number {
    return t + this.upper + (this.upperInclusive ? 1 : 0);
  }

  /** When the watermark has passed r - lower: no left element to come can match right r. */
  private rightCleanupTime(r: number): number {
    return r - this.lower + (this.lowerInclusive ? 1 : 0);
  }

  private buffer(state: ValueState<Buffer>, side: string, value: unknown, timestamp: number, cleanupTime: number): void {
    // Already beyond every future match (a negative upper bound): nothing to keep.
    if (cleanupTime <= this.currentWatermark) return;
    const buffer = state.value();
    if (!buffer) {
      state.update({ t: [timestamp], v: [value] });
    } else {
      const at = upperIndex(buffer.t, timestamp);
      if (at === buffer.t.length) {
        buffer.t.push(timestamp);
        buffer.v.push(value);
      } else {
        buffer.t.splice(at, 0, timestamp);
        buffer.v.splice(at, 0, value);
      }
      state.update(buffer);
    }
    this.cleanupTimers.registerEventTimeTimer(side, cleanupTime);
  }

  /** Removes the buffered elements whose cleanup time (timestamp ± bound, +1 if inclusive) is at or before `time`. */
  private prune(state: ValueState<Buffer>, time: number, bound: number, inclusive: boolean, sign: 1 | -1): void {
    const buffer = state.value();
    if (!buffer) return;
    const extra = inclusive ? 1 : 0;
    let n = 0;
    while (n < buffer.t.length && (buffer.t[n] as number) + sign * bound + extra <= time) n++;
    if (n === 0) return;
    if (n === buffer.t.length) {
      state.clear();
      return;
    }
    buffer.t.splice(0, n);
    buffer.v.splice(0, n);
    state.update(buffer);
  }

  private emit(left: unknown, right: unknown, leftTimestamp: number, rightTimestamp: number): void {
    const timestamp = Math.max(leftTimestamp, rightTimestamp);
    let out: unknown;
    if (this.join) {
      const fctx = this.fctx;
      fctx.timestamp = timestamp;
      fctx.leftTimestamp = leftTimestamp;
      fctx.rightTimestamp = rightTimestamp;
      out = this.join(left, right, fctx);
    } else {
      out = { left, right };
    }
    this.output.collect(out, timestamp, RowKind.INSERT);
  }
}

/** First index whose timestamp is >= `time` (sorted ascending). */
function lowerIndex(ts: readonly number[], time: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ts[mid] as number) < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose timestamp is > `time` (sorted ascending). */
function upperIndex(ts: readonly number[], time: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ts[mid] as number) <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
