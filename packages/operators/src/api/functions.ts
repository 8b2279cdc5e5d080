/**
 * What user functions receive besides the record. One context object per operator,
 * updated in place before each call, so calling a user function allocates nothing.
 */
export interface FunctionContext {
  /** Event time of the current record (or -Infinity when it has none). */
  timestamp: number;
  readonly nodeId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  /** How many times the job restarted before this run; 0 on the first. */
  readonly attemptNumber: number;
}

export type UserFunction<A extends unknown[], R> = (...args: A) => R;

/**
 * Turns a code field's source text into the compiled user function (or hook object).
 * The caller knows which shape the field's code kind has and casts accordingly.
 */
export type CodeLoader = (source: string) => unknown;

/** Results of collect sinks leave the operator through this. */
export interface CollectOutlet {
  /** Hands a record over at once (no checkpointing). */
  push(value: unknown, timestamp: number, kind: number): void;
  /**
   * Hands over the records of a completed checkpoint. The receiver applies each commit id
   * once, so committing again after a restore (2PC recovery) never duplicates rows.
   */
  commit(commitId: string, rows: Array<[unknown, number, number]>): void;
}

/** The user functions that may run over a batch of records in one call. */
export type BatchKind = 'map' | 'filter' | 'flat-map';

/**
 * What a batch call returns: map, one output per input; filter, a keep flag (1) per
 * input; flat-map, every output in order with the number each input produced.
 */
export interface BatchResult {
  readonly outputs?: readonly unknown[];
  readonly keep?: Uint8Array;
  readonly counts?: Int32Array;
}

/**
 * A user function applied to many records in one call, `ctx.timestamp` set per record.
 * Offered where calling user code crosses a boundary (the sandbox), so the crossing is
 * paid per batch, not per record.
 */
export type BatchFunction = (values: unknown[], timestamps: number[], ctx: FunctionContext) => BatchResult;

/** Compiles a code field into a batch function; undefined where user code is called directly. */
export type BatchLoader = (source: string, kind: BatchKind) => BatchFunction;
