/**
 * `aggregate`: a running aggregation per key over all time, as Flink SQL's
 * `GROUP BY` without a window (Flink's GroupAggFunction). Its output is a changelog:
 * the result table of the query, kept up to date row by row.
 *
 * ## Per record
 *
 * Each key keeps one value in keyed state: `[count, accumulator]`, where `count` is
 * the number of records currently aggregated (Flink's RecordCounter) and the
 * accumulator is the built-in aggregator's plain JSON data (see
 * functions/aggregations.ts). The previous result is not stored: it is recomputed
 * from the accumulator before the record is applied, as GroupAggFunction does
 * (`prevAggValue = function.getValue()`), so the state holds nothing twice.
 *
 * | input kind                    | action                                                   |
 * |-------------------------------|----------------------------------------------------------|
 * | INSERT, UPDATE_AFTER          | add the record to the accumulator (`accumulate`)         |
 * | UPDATE_BEFORE, DELETE         | retract it (`retract`)                                   |
 *
 * and then, with `key` the current key and the result `{ key, ...getResult(acc) }`:
 *
 * - the key had no accumulator: emit INSERT(new result);
 * - the count dropped to 0: emit DELETE(previous result) and clear the key's state;
 * - the result changed: emit UPDATE_BEFORE(previous) then UPDATE_AFTER(new);
 * - the result did not change: emit nothing, unless a state TTL is set (see below).
 *
 * Every output record carries the timestamp of the input record that caused it.
 *
 * A retraction for a key without an accumulator is ignored: its addition was never
 * seen, or its state expired (Flink: "Don't create a new accumulator for a retraction
 * message. This might happen if the retraction message is the first message for the
 * key or after a state clean up."). A retraction when some aggregation cannot retract
 * (`first`, `last`, `top-n`) fails the task with an Error naming the aggregation,
 * whether or not the key has state: Flink's planner rejects such a plan up front, and
 * failing on the first retraction keeps the failure independent of state and TTL.
 *
 * ## State TTL
 *
 * `stateTtlMs > 0` gives the accumulator a processing-time TTL, refreshed on every
 * write (Flink's `table.exec.state.ttl`: OnCreateAndWrite, NeverReturnExpired). A key
 * not updated for that long is forgotten: its next record starts a fresh accumulator
 * and is emitted as an INSERT, and retractions for it are ignored. As in Flink, an
 * unchanged result is then still emitted as UPDATE_BEFORE/UPDATE_AFTER, so that
 * downstream operators with the same TTL see the key written and keep its state
 * ("If state cleaning is enabled, we have to emit messages to prevent too early state
 * eviction of downstream operators.").
 */
import type { Aggregation } from '@sluice/graph-model';
import { RowKind } from '../api/elements.js';
import { AbstractOperator } from '../api/operator.js';
import type { StateDescriptor, ValueState } from '../api/state.js';
import { createAggregator, type BuiltinAggregator } from '../functions/aggregations.js';

/** The `aggregate` catalog entry's config, after defaults. */
export interface GroupAggregateConfig {
  readonly aggregations: readonly Aggregation[];
  /** Processing-time TTL of a key's accumulator; 0 keeps keys forever. */
  readonly stateTtlMs: number;
}

/** [number of records aggregated, accumulator]: plain JSON, as checkpoints store it. */
type Stored = [number, unknown];

const ACCUMULATOR = 'aggregate-accumulator';

export class GroupAggregateOperator extends AbstractOperator<unknown> {
  private readonly aggregator: BuiltinAggregator;
  private readonly ttlMs: number;
  /** Why a retraction cannot be applied, or undefined when every aggregation can retract. */
  private readonly retractError: string | undefined;
  private readonly descriptor: Extract<StateDescriptor, { kind: 'value' }>;
  private accumulator!: ValueState<Stored>;

  constructor(config: GroupAggregateConfig) {
    super();
    this.aggregator = createAggregator(config.aggregations);
    this.ttlMs = config.stateTtlMs > 0 ? config.stateTtlMs : 0;
    this.retractError = this.aggregator.supportsRetraction ? undefined : retractionError(this.aggregator);
    this.descriptor =
      this.ttlMs > 0
        ? { kind: 'value', name: ACCUMULATOR, ttl: { ttlMs: this.ttlMs, update: 'on-create-and-write' } }
        : { kind: 'value', name: ACCUMULATOR };
  }

  override open(): void {
    this.accumulator = this.backend.getState(this.descriptor) as ValueState<Stored>;
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    const retract = kind === RowKind.UPDATE_BEFORE || kind === RowKind.DELETE;
    if (retract && this.retractError !== undefined) {
      throw new Error(`aggregate '${this.ctx.nodeId}' received a ${kind === RowKind.DELETE ? 'delete' : 'update-before'} record, but ${this.retractError}`);
    }
    const agg = this.aggregator;
    const stored = this.accumulator.value();
    if (stored === undefined) {
      // A retraction of something never added here (or forgotten by the TTL): nothing to undo.
      if (retract) return;
      const acc = agg.add(agg.createAccumulator(), value, timestamp);
      this.accumulator.update([1, acc]);
      this.output.collect(this.row(agg.getResult(acc)), timestamp, RowKind.INSERT);
      return;
    }
    // The previous result, taken before add/retract may mutate the accumulator.
    const previous = agg.getResult(stored[1]);
    const count = stored[0] + (retract ? -1 : 1);
    const acc = retract ? agg.retract(stored[1], value, timestamp) : agg.add(stored[1], value, timestamp);
    if (count <= 0) {
      this.accumulator.clear();
      this.output.collect(this.row(previous), timestamp, RowKind.DELETE);
      return;
    }
    this.accumulator.update([count, acc]);
    const next = agg.getResult(acc);
    if (this.ttlMs === 0 && sameValue(previous, next)) return;
    this.output.collect(this.row(previous), timestamp, RowKind.UPDATE_BEFORE);
    this.output.collect(this.row(next), timestamp, RowKind.UPDATE_AFTER);
  }

  private row(result: Record<string, unknown>): Record<string, unknown> {
    return { key: this.backend.getCurrentKey(), ...result };
  }
}

/** The aggregator's own message for a retraction it cannot apply; `retract` throws before touching anything. */
function retractionError(aggregator: BuiltinAggregator): string {
  try {
    aggregator.retract(aggregator.createAccumulator(), {}, 0);
  } catch (error) {
    return (error as Error).message;
  }
  return 'retraction is not supported by its aggregations';
}

/** Structural equality of aggregation results (JSON-like values); 0 equals -0, as in SQL. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return false;
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(rb, key) || !sameValue(ra[key], rb[key])) return false;
  }
  return true;
}
