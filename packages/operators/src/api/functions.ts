import type { Output } from './output.js';

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

/**
 * A keyed-process function run where calling user code crosses a boundary (the sandbox):
 * records and timers go over in batches, and the function's keyed state travels with
 * them. Per batch, the operator reads each prefetched state (a value state) for every key
 * of the batch once, the program runs the entries in order, and hands back what they
 * emitted, the final value of every state entry they wrote, and the timers they
 * registered or deleted, each in order; the operator applies them after the batch.
 * Other states (list, map, reducing, aggregating, and values whose TTL is refreshed on
 * read) are reached through `ProcessProgramHost.stateCall` while the batch runs.
 */
export interface ProcessProgram {
  /** The hook object's shape (hook names map to functions, other fields to their data), for the operator to check. */
  readonly hooks: unknown;
  /** Calls open(ctx) once; there is no key and nothing may be emitted. */
  open(host: ProcessProgramHost): void;
  /** Runs a batch of elements and timers; throws a ProcessBatchError naming the entry that failed. */
  run(batch: ProcessBatch, host: ProcessProgramHost): ProcessBatchResult;
  /**
   * The writes the program kept back (ProcessBatchResult.deferred), which it then forgets:
   * [prefetched state index, key number, cleared (1) or updated (0)] triples, key numbers
   * of the dictionary generation of the batches that kept them, and the updates' values.
   */
  takeWrites?(): { readonly writes: ArrayLike<number>; readonly updateValues: ArrayLike<unknown> };
}

export interface ProcessProgramSpec {
  /** The operator type, as error messages name it. */
  readonly type: string;
  /** Declared states; `prefetch`: read for every key of a batch before it runs and written back after it. */
  readonly states: ReadonlyArray<{ readonly name: string; readonly kind: string; readonly prefetch: boolean }>;
  readonly sideOutputs: readonly string[];
  /**
   * Whether the program may keep prefetched values across batches (ProcessBatch.held):
   * not when one of those states has a TTL, as its values expire on the host.
   */
  readonly holdable: boolean;
}

/** What kind an entry of a batch is. */
export const ENTRY_ELEMENT = 0;
export const ENTRY_EVENT_TIMER = 1;
export const ENTRY_PROCESSING_TIMER = 2;

/**
 * One batch, column by column: entry i (below size) is kinds[i], values[i], timestamps[i],
 * keys[keyIndex[i]]. The typed columns may be longer than the batch.
 */
export interface ProcessBatch {
  readonly size: number;
  readonly kinds: Uint8Array;
  /** The record of an element; undefined for a timer. */
  readonly values: unknown[];
  /** The record's event time, or the timer's time. */
  readonly timestamps: Float64Array;
  readonly keyIndex: Int32Array;
  /** The batch's distinct keys. */
  readonly keys: unknown[];
  /**
   * Each of `keys`' number in the operator's key dictionary (KeyDictionary), which lasts
   * across batches: a program whose keys cross a boundary sends each key once.
   */
  readonly keyIds: number[];
  readonly dictionary: KeyDictionary;
  /**
   * Per prefetched state (in spec order), its value (undefined: none) for each of `keys`
   * the program does not hold, in the order of `keys`.
   */
  readonly prefetched: unknown[][];
  /**
   * Per key of `keys`, 1 where the program holds its values of every prefetched state
   * (it said so after an earlier batch, ProcessBatchResult.holds): those were not read.
   */
  readonly held: Uint8Array;
  readonly watermark: number;
  readonly processingTime: number;
}

/**
 * Keys numbered in the order a batcher first saw them: key `n` is keys[n]. The list only
 * grows, until a new generation starts it over (it grew too large).
 */
export interface KeyDictionary {
  readonly generation: number;
  readonly keys: readonly unknown[];
}

/** Timer operations of a batch, as `timers` lists them: [operation, entry, time] triples. */
export const TIMER_REGISTER_EVENT = 0;
export const TIMER_DELETE_EVENT = 1;
export const TIMER_REGISTER_PROCESSING = 2;
export const TIMER_DELETE_PROCESSING = 3;

export interface ProcessBatchResult {
  /** Emitted records in order; entry i of outputEntry says which batch entry emitted it. */
  readonly outputs: unknown[];
  readonly outputEntry: ArrayLike<number>;
  /** -1: the main output; otherwise the index of the side output in the spec's sideOutputs. */
  readonly outputTag: ArrayLike<number>;
  /** Final writes to prefetched states (but those deferred): [prefetched state index, key index, cleared (1) or updated (0)] triples. */
  readonly writes: ArrayLike<number>;
  /** The values of the updates among the writes, in order (a clear has none). */
  readonly updateValues: ArrayLike<unknown>;
  /** [operation, entry, time] triples in the order the function called them. */
  readonly timers: ArrayLike<number>;
  /**
   * Per key of the batch, 1 where the program now holds the key's final values of every
   * prefetched state, so that a later batch of the same dictionary generation need not
   * read them (ProcessBatch.held). Absent: it holds none of them.
   */
  readonly holds?: ArrayLike<number>;
  /**
   * The program kept back writes to keys it holds (not in `writes`): the host's state
   * lacks them until it takes them (ProcessProgram.takeWrites), which it must do before
   * anything reads that state or the key numbers start over.
   */
  readonly deferred?: boolean;
  /**
   * The host's state may have been changed behind the program's back during the batch
   * (user code reached the host's context): what it holds from earlier batches is not to
   * be trusted any more.
   */
  readonly stale?: boolean;
}

/** The host side of a program: keyed state that is not prefetched. */
export interface ProcessProgramHost {
  /** Calls `method` of state `name` for the key of batch entry `entry` (-1: outside a batch, the backend's current key). */
  stateCall(entry: number, name: string, method: string, args: unknown[]): unknown;
}

/** A user function failed on one entry of a batch; the operator names that entry's key and record. */
export class ProcessBatchError extends Error {
  constructor(
    message: string,
    readonly entry: number,
  ) {
    super(message);
  }
}

/**
 * An error about one record of a batch: the task names this record in the failure, not
 * the record it was handling when the batch ran.
 */
export class BatchRecordError extends Error {
  constructor(
    message: string,
    readonly record: unknown,
    /** The operator whose function failed, where it is not the one that ran the batch (a fused chain). */
    readonly nodeId?: string,
  ) {
    super(message);
  }
}

/**
 * Consecutive map, filter and flat-map operators of one chain whose functions run in the
 * same sandbox, run as one: the first operator hands its batch to `run`, which applies
 * every function of the chain record by record (depth first, as chained calls would) and
 * returns what the last one emitted; those records go to `output`, the last operator's
 * output. The operators between see no records while fused (they still get watermarks).
 */
export interface FusedBatch {
  run(values: unknown[], timestamps: number[], ctx: FunctionContext): FusedBatchResult;
  readonly output: Output<unknown>;
  /** How many records each function but the last emitted in this batch (their metrics); called once its outputs were emitted. */
  counted(stageOutputs: readonly number[]): void;
}

/** keep (only filters in the chain) or outputs with counts per input, and records out per function. */
export interface FusedBatchResult extends BatchResult {
  readonly stageOutputs: readonly number[];
  /** On some batches only: each function's own time in this one, in ms (the engine splits a run's busy time by them). */
  readonly stageMs?: ArrayLike<number>;
}

/** An operator that calls a batch function and can hand its batches to a fused chain instead. */
export interface FusableBatchOperator {
  readonly batchFunction: BatchFunction | undefined;
  fuse(fused: FusedBatch | undefined): void;
}

export function isFusableBatchOperator(operator: object): operator is FusableBatchOperator & object {
  return typeof (operator as Partial<FusableBatchOperator>).fuse === 'function' && typeof (operator as Partial<FusableBatchOperator>).batchFunction === 'function';
}

export type ProcessProgramLoader = (source: string, spec: ProcessProgramSpec, context: object) => ProcessProgram;
