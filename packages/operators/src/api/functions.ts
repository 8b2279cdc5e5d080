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
