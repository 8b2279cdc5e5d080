/**
 * The operator contract, after Flink's StreamOperator.
 *
 *   setup → initializeState → open → ( processElement | processWatermark | timers )*
 *         → finish (end of input) → close (always, also after a failure)
 *
 * Snapshots interleave with processing: prepareSnapshotPreBarrier and snapshotState
 * on a barrier, notifyCheckpointComplete when the whole checkpoint is done.
 *
 * Concurrency guarantee: the task calls an operator from one thread and never
 * re-enters it; each call returns before the next starts. An exception thrown from
 * any method fails the task (and, by the restart strategy, the job).
 */
import type { Key, KeySelector, RowKind } from './elements.js';
import { MIN_WATERMARK } from './elements.js';
import type { Output } from './output.js';
import type { KeyedStateBackend, KeyedStateSnapshot } from './state.js';
import type { InternalTimer, ProcessingTimeService, TimerService, Triggerable } from './time.js';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Counters an operator updates itself; records in/out and timings are measured by the task. */
export interface OperatorMetrics {
  /** Records dropped for lateness that had no `late` output connected... never silent: counted here. */
  lateRecordsDropped: number;
  /** Records routed to the `late` side output. */
  lateRecordsRouted: number;
  /** Records sent to a dead-letter output. */
  deadLetters: number;
}

export interface OperatorContext {
  readonly jobId: string;
  readonly nodeId: string;
  readonly nodeType: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  /** How many times the job restarted before this run; 0 on the first. */
  readonly attemptNumber: number;
  readonly processingTime: ProcessingTimeService;
  /** Present for operators with keyed inputs. */
  readonly keyedBackend: KeyedStateBackend | undefined;
  /** Key selector of input 1 (and 2, for two-input operators) when keyed. */
  readonly keySelectors: readonly (KeySelector<unknown> | undefined)[];
  /** Names of the outputs that have edges; an operator may skip work for unconnected side outputs. */
  readonly connectedOutputs: ReadonlySet<string>;
  readonly metrics: OperatorMetrics;
  /**
   * Window operators set this to the window whose result they emit, for the time of the
   * emit (NaN otherwise): the engine's record taps annotate results with it.
   */
  readonly firing: FiringWindow;
  readonly log: Logger;
  /** The timer service of this operator, firing into `target`; needs a keyed backend. */
  createTimerService(target: Triggerable): InternalTimerService;
  /**
   * Runs a batch the operator buffered (sandboxed user code runs on batches): the call, and
   * emitting its results downstream. The engine times every batch in full, because one
   * batch holds the work of up to a thousand records and its per-record timing samples
   * would either miss it or count it many times over. Absent: call `run` directly.
   */
  readonly runBatch?: (run: () => void) => void;
}

/** [start, end) of the window being emitted; NaN when none is. */
export interface FiringWindow {
  start: number;
  end: number;
}

/** One split of a source (a generator split, a Kafka partition), for telemetry. */
export interface SplitStatus {
  readonly split: string;
  readonly watermark: number;
  readonly idle: boolean;
  /** Processing time of the split's last record; null before its first. */
  readonly lastRecordAt: number | null;
  /** Records behind the end of the split (a Kafka partition's consumer lag); null while unknown, absent for sources without one. */
  readonly lag?: number | null | undefined;
}

/** A transaction of an exactly-once sink that is not visible yet, for telemetry. */
export interface OpenTransactionStatus {
  readonly transactionalId: string;
  readonly records: number;
  /** Processing time at which its first record arrived. */
  readonly openedAt: number;
  /** 'open' until the barrier, then 'pre-committed' until its checkpoint completes, then 'committing'. */
  readonly phase: 'open' | 'pre-committed' | 'committing';
}

/** The timer service as the owning operator and task drive it. */
export interface InternalTimerService extends TimerService {
  /** Fires every event-time timer at or before `watermark`, in timestamp order. */
  advanceWatermark(watermark: number): void;
  snapshot(): void;
}

/** Plain-data operator state (source offsets, pending sink files), restored by list redistribution. */
export interface OperatorStateSnapshot {
  /** 'split': entries are divided among new subtasks on rescale; 'union': every subtask gets all. */
  readonly mode: 'split' | 'union';
  readonly entries: readonly unknown[];
}

export interface OperatorRestore {
  readonly operatorState: readonly unknown[] | undefined;
  readonly keyedState: readonly KeyedStateSnapshot[] | undefined;
}

interface Lifecycle {
  setup(ctx: OperatorContext, output: Output<unknown>): void;
  initializeState(restore: OperatorRestore): void;
  open(): void;
  prepareSnapshotPreBarrier(checkpointId: number): void;
  snapshotState(checkpointId: number): OperatorStateSnapshot | undefined;
  notifyCheckpointComplete(checkpointId: number): void;
  notifyCheckpointAborted(checkpointId: number): void;
  finish(): void;
  /**
   * Present on an operator that sometimes can take no more input (an asynchronous sink
   * with too much in flight): a promise, while that lasts, that resolves when it can. The
   * task then reads no input but still runs mails, as Flink's AsyncSinkWriter yields to
   * its mailbox.
   */
  blockedUntil?: (() => Promise<void> | undefined) | undefined;
  /** Present on transactional sinks: their transactions not yet visible (the live view shows them with their age). Called about once a second. */
  openTransactions?(): readonly OpenTransactionStatus[];
  /**
   * After finish: whether output is pre-committed but not yet visible. The task then waits,
   * before it ends, until a checkpoint taken after its end completed (Flink's final
   * checkpoint; the notification commits it), or for notifyCheckpointComplete(FINAL_CHECKPOINT_ID),
   * which comes once every subtask of the job has reached the end of its input. Until
   * then a failure anywhere in the job replays this output instead of duplicating it.
   */
  hasPendingCommits(): boolean;
  close(): void;
  /**
   * Present on an operator that holds input back to process it in batches (user functions
   * in the sandbox). The task calls it after each step of input and after mails, so that
   * records wait at most one step; the operator also empties its buffer itself before
   * forwarding a watermark or idleness, before a barrier, and at finish.
   */
  flushBuffered?: (() => void) | undefined;
  /**
   * Present on an operator that keeps keyed-state writes back from its backend (a sandboxed
   * keyed process function's, see process-batcher.ts): writes them there. The operator does
   * so itself before a barrier and at finish; the task calls it before it reads the
   * backend on its own (a state inspection).
   */
  syncState?: (() => void) | undefined;
}

/** The checkpoint id of the notification that ends a bounded job: it commits everything pending. */
export const FINAL_CHECKPOINT_ID = Number.POSITIVE_INFINITY;

export interface OneInputOperator<IN> extends Lifecycle {
  readonly inputs: 1;
  processElement(value: IN, timestamp: number, kind: RowKind): void;
  processWatermark(watermark: number): void;
  processIdle(idle: boolean): void;
}

export interface TwoInputOperator<IN1, IN2> extends Lifecycle {
  readonly inputs: 2;
  processElement1(value: IN1, timestamp: number, kind: RowKind): void;
  processElement2(value: IN2, timestamp: number, kind: RowKind): void;
  processWatermark1(watermark: number): void;
  processWatermark2(watermark: number): void;
  processIdle1(idle: boolean): void;
  processIdle2(idle: boolean): void;
}

/** What a source reports after emitting: Flink's InputStatus. */
export const InputStatus = { MORE_AVAILABLE: 0, NOTHING_AVAILABLE: 1, END_OF_INPUT: 2 } as const;
export type InputStatus = (typeof InputStatus)[keyof typeof InputStatus];

export interface SourceOperator extends Lifecycle {
  readonly inputs: 0;
  /** Emits at most `budget` records (and any due watermarks); never blocks. */
  pollNext(budget: number): InputStatus;
  /** After NOTHING_AVAILABLE: resolves when polling may yield more. */
  whenAvailable(): Promise<void>;
  /** Each split's watermark, idleness and last record, for telemetry (sources with splits; SplitWatermarks.status gives it). Called about once a second. */
  splitStatus?(): readonly SplitStatus[];
}

export type AnyOperator = SourceOperator | OneInputOperator<unknown> | TwoInputOperator<unknown, unknown>;

/**
 * Defaults for every hook, so an operator overrides only what it needs. Keyed
 * operators get `this.timers` when they call `useTimers()` in open().
 */
abstract class OperatorBase implements Triggerable {
  protected ctx!: OperatorContext;
  protected output!: Output<unknown>;
  protected currentWatermark = MIN_WATERMARK;
  protected timers: InternalTimerService | undefined;

  setup(ctx: OperatorContext, output: Output<unknown>): void {
    this.ctx = ctx;
    this.output = output;
  }
  initializeState(_restore: OperatorRestore): void {}
  open(): void {}
  prepareSnapshotPreBarrier(_checkpointId: number): void {}
  snapshotState(_checkpointId: number): OperatorStateSnapshot | undefined {
    return undefined;
  }
  notifyCheckpointComplete(_checkpointId: number): void {}
  notifyCheckpointAborted(_checkpointId: number): void {}
  finish(): void {}
  hasPendingCommits(): boolean {
    return false;
  }
  close(): void {}
  onEventTime(_timer: InternalTimer): void {}
  onProcessingTime(_timer: InternalTimer): void {}

  protected get backend(): KeyedStateBackend {
    const backend = this.ctx.keyedBackend;
    if (!backend) throw new Error(`operator '${this.ctx.nodeId}' (${this.ctx.nodeType}) uses keyed state but its input is not keyed`);
    return backend;
  }

  protected useTimers(): InternalTimerService {
    this.timers ??= this.ctx.createTimerService(this);
    return this.timers;
  }

  /** Advances event time: fires due timers first, then forwards the watermark. */
  processWatermark(watermark: number): void {
    if (watermark <= this.currentWatermark) return;
    this.currentWatermark = watermark;
    this.timers?.advanceWatermark(watermark);
    this.output.emitWatermark(watermark);
  }
}

export abstract class AbstractOperator<IN> extends OperatorBase implements OneInputOperator<IN> {
  readonly inputs = 1 as const;
  abstract processElement(value: IN, timestamp: number, kind: RowKind): void;
  processIdle(idle: boolean): void {
    this.output.emitIdle(idle);
  }
}

/**
 * Two inputs: the operator's event time is the minimum of both inputs' watermarks,
 * ignoring an idle input (Flink's AbstractStreamOperator combines them the same way).
 */
export abstract class AbstractTwoInputOperator<IN1, IN2> extends OperatorBase implements TwoInputOperator<IN1, IN2> {
  readonly inputs = 2 as const;
  private watermark1 = MIN_WATERMARK;
  private watermark2 = MIN_WATERMARK;
  private idle1 = false;
  private idle2 = false;

  abstract processElement1(value: IN1, timestamp: number, kind: RowKind): void;
  abstract processElement2(value: IN2, timestamp: number, kind: RowKind): void;

  processWatermark1(watermark: number): void {
    this.watermark1 = Math.max(this.watermark1, watermark);
    this.advanceCombined();
  }
  processWatermark2(watermark: number): void {
    this.watermark2 = Math.max(this.watermark2, watermark);
    this.advanceCombined();
  }
  processIdle1(idle: boolean): void {
    this.idle1 = idle;
    this.idleChanged();
  }
  processIdle2(idle: boolean): void {
    this.idle2 = idle;
    this.idleChanged();
  }

  private idleChanged(): void {
    if (this.idle1 && this.idle2) {
      this.output.emitIdle(true);
      return;
    }
    this.output.emitIdle(false);
    this.advanceCombined();
  }

  private advanceCombined(): void {
    const combined = this.idle1 ? this.watermark2 : this.idle2 ? this.watermark1 : Math.min(this.watermark1, this.watermark2);
    this.processWatermark(combined);
  }
}

export abstract class AbstractSourceOperator extends OperatorBase implements SourceOperator {
  readonly inputs = 0 as const;
  abstract pollNext(budget: number): InputStatus;
  /** Default: look again after the event loop's next turn (a source that can say when it has data should). */
  whenAvailable(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** The key of the record being processed, for error messages. */
export function currentKeyOf(ctx: OperatorContext): Key | undefined {
  try {
    return ctx.keyedBackend?.getCurrentKey();
  } catch {
    return undefined;
  }
}
