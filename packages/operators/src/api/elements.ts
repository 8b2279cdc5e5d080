/**
 * What flows through a pipeline. On the hot path a record travels as separate
 * arguments (value, timestamp, kind) rather than as an object, so passing one
 * from operator to operator allocates nothing.
 */

/** Changelog row kinds, as Flink's RowKind; append-only streams carry only INSERT. */
export const RowKind = { INSERT: 0, UPDATE_BEFORE: 1, UPDATE_AFTER: 2, DELETE: 3 } as const;
export type RowKind = (typeof RowKind)[keyof typeof RowKind];
export const ROW_KIND_SHORT = ['+I', '-U', '+U', '-D'] as const;

/** Timestamp of a record that has none (processing-time pipelines); Flink uses Long.MIN_VALUE. */
export const NO_TIMESTAMP = Number.NEGATIVE_INFINITY;
/** The watermark before any was seen. */
export const MIN_WATERMARK = Number.NEGATIVE_INFINITY;
/** The final watermark of a bounded input: every event-time window and timer fires. */
export const MAX_WATERMARK = Number.POSITIVE_INFINITY;

/** A record as tests and taps see it. */
export interface StreamRecord<T> {
  readonly value: T;
  readonly timestamp: number;
  readonly kind: RowKind;
}

export type Key = string | number;
export type KeySelector<T> = (value: T) => Key;
