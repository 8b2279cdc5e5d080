/**
 * Regular (unbounded) inner join on the key, after Flink SQL's StreamingJoinOperator
 * for an inner join whose inputs have no unique key (JoinRecordStateViews
 * InputSideHasNoUniqueKey).
 *
 * Each side keeps its records per key as a multiset: record JSON → (record, count).
 * An arriving record changes its side's multiset and is joined with every record of
 * the other side (a record with count n matches n times). The output is a changelog
 * that forwards the input's RowKind, as Flink does for inner joins ("We forward input
 * RowKind if it is inner join", StreamingJoinOperator#processElement):
 *
 *   +I / +U  →  add one occurrence, emit +I / +U [record, other] per match
 *   -U / -D  →  remove one occurrence, emit -U / -D [record, other] per match
 *
 * A retraction of a record that is not in its side's state (never seen, or expired
 * by TTL) is ignored: no state change and no output. Flink also ignores it in state
 * ("ignore cnt == null, which means state may be expired") but still emits the
 * joined retractions; here nothing is emitted, so the output never retracts a row it
 * did not produce. The first such retraction is logged as a warning.
 *
 * State TTL (stateTtlMs > 0, processing time, Flink's table.exec.state.ttl with
 * OnCreateAndWrite): a record expires that long after its last update and is never
 * matched after. Each multiset entry carries its last update time, so records of one
 * key expire one by one as in Flink's per-entry MapState TTL; the state descriptor's
 * TTL lets the backend drop a key's whole multiset once nothing was written to it
 * for that long (on read, and on snapshot).
 *
 * Records are compared by their JSON text, so two records are the same when they
 * serialize alike (property order included). The join function must be
 * deterministic: a retraction re-applies it to rebuild the row to retract.
 */
import { RowKind } from '../api/elements.js';
import type { FunctionContext } from '../api/functions.js';
import { AbstractTwoInputOperator, type OperatorContext } from '../api/operator.js';
import type { Output } from '../api/output.js';
import type { MapState, StateTtl } from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { OperatorEnv } from '../registry.js';

export interface RegularJoinConfig {
  /** Records are forgotten this long after their last update (processing time); 0 keeps them forever. */
  readonly stateTtlMs?: number | undefined;
  /** Source of `(left, right, ctx) => output`; without it the output is `{ left, right }`. */
  readonly fn?: string | undefined;
}

type JoinFn = (left: unknown, right: unknown, ctx: FunctionContext) => unknown;

/** One distinct record of a side's multiset. Plain data, so it snapshots as is. */
interface Entry {
  /** The record's JSON: its key in the multiset. */
  readonly k: string;
  /** The record. */
  readonly v: unknown;
  /** Occurrences. */
  c: number;
  /** Timestamp of the latest occurrence; null when it had none. */
  ts: number | null;
  /** Processing time of the last update, for per-record TTL. */
  u: number;
}

const LEFT_RECORDS = 'regular-join-left';
const RIGHT_RECORDS = 'regular-join-right';

export class RegularJoinOperator extends AbstractTwoInputOperator<unknown, unknown> {
  private readonly ttlMs: number;
  private readonly join: JoinFn | undefined;
  private left!: MapState<string, Entry>;
  private right!: MapState<string, Entry>;
  private fctx!: FunctionContext;
  private warnedUnknownRetraction = false;
  /** Retractions of records that were not in state (never seen, or expired); for tests and the state inspector. */
  ignoredRetractions = 0;

  constructor(config: RegularJoinConfig, env: OperatorEnv) {
    super();
    const ttl = config.stateTtlMs ?? 0;
    if (!(ttl >= 0)) throw new Error(`regular join: stateTtlMs must be 0 (no TTL) or positive, got ${ttl}`);
    this.ttlMs = ttl;
    this.join = config.fn !== undefined ? (env.fn(config.fn) as JoinFn) : undefined;
  }

  override setup(ctx: OperatorContext, output: Output<unknown>): void {
    super.setup(ctx, output);
    this.fctx = { timestamp: 0, nodeId: ctx.nodeId, subtaskIndex: ctx.subtaskIndex, parallelism: ctx.parallelism, attemptNumber: ctx.attemptNumber };
  }

  override open(): void {
    const ttl: StateTtl | undefined = this.ttlMs > 0 ? { ttlMs: this.ttlMs, update: 'on-create-and-write' } : undefined;
    this.left = this.backend.getState({ kind: 'map', name: LEFT_RECORDS, ttl }) as MapState<string, Entry>;
    this.right = this.backend.getState({ kind: 'map', name: RIGHT_RECORDS, ttl }) as MapState<string, Entry>;
  }

  processElement1(value: unknown, timestamp: number, kind: RowKind): void {
    this.process(value, timestamp, kind, this.left, this.right, true);
  }

  processElement2(value: unknown, timestamp: number, kind: RowKind): void {
    this.process(value, timestamp, kind, this.right, this.left, false);
  }

  private process(value: unknown, timestamp: number, kind: RowKind, own: MapState<string, Entry>, other: MapState<string, Entry>, isLeft: boolean): void {
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    const now = this.ttlMs > 0 ? this.ctx.processingTime.now() : 0;
    // JSON.stringify gives undefined for undefined and functions, whatever its declared type says.
    const json = JSON.stringify(value) as string | undefined;
    const k = json ?? 'undefined';
    const ts = Number.isFinite(timestamp) ? timestamp : null;
    const existing = own.get(k);
    const live = existing !== undefined && !this.expired(existing, now) ? existing : undefined;
    if (kind === RowKind.INSERT || kind === RowKind.UPDATE_AFTER) {
      if (live) {
        live.c++;
        live.ts = ts;
        live.u = now;
        own.put(k, live);
      } else {
        own.put(k, { k, v: value, c: 1, ts, u: now });
      }
    } else {
      if (!live) {
        if (existing) own.remove(k);
        this.unknownRetraction(isLeft, kind);
        return;
      }
      if (live.c > 1) {
        live.c--;
        live.u = now;
        own.put(k, live);
      } else {
        own.remove(k);
      }
    }
    // Join with every live record of the other side, forwarding the input's RowKind.
    for (const entry of other.values()) {
      if (this.expired(entry, now)) {
        other.remove(entry.k);
        continue;
      }
      const out = entry.ts === null ? timestamp : Math.max(timestamp, entry.ts);
      for (let i = 0; i < entry.c; i++) {
        if (isLeft) this.emit(value, entry.v, out, kind);
        else this.emit(entry.v, value, out, kind);
      }
    }
  }

  private expired(entry: Entry, now: number): boolean {
    return this.ttlMs > 0 && entry.u + this.ttlMs <= now;
  }

  private emit(left: unknown, right: unknown, timestamp: number, kind: RowKind): void {
    let out: unknown;
    if (this.join) {
      this.fctx.timestamp = timestamp;
      out = this.join(left, right, this.fctx);
    } else {
      out = { left, right };
    }
    this.output.collect(out, timestamp, kind);
  }

  private unknownRetraction(isLeft: boolean, kind: RowKind): void {
    this.ignoredRetractions++;
    if (this.warnedUnknownRetraction) return;
    this.warnedUnknownRetraction = true;
    this.ctx.log.warn(
      `regular join '${this.ctx.nodeId}': ignored a ${kind === RowKind.DELETE ? 'delete' : 'update-before'} of a ${isLeft ? 'left' : 'right'} record that is not in state (never seen, or expired by state TTL); further ones are ignored without a warning`,
      { key: this.backend.getCurrentKey(), side: isLeft ? 'left' : 'right' },
    );
  }
}
