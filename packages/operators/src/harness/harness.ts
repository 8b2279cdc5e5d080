/**
 * Test harnesses after Flink's OneInputStreamOperatorTestHarness: feed records,
 * watermarks and processing time; read what came out, in order; snapshot, restore
 * into a fresh operator, and go on.
 */
import type { Key, KeySelector, RowKind, StreamRecord } from '../api/elements.js';
import { MAX_WATERMARK, NO_TIMESTAMP, RowKind as Kinds } from '../api/elements.js';
import { createOperatorContext, type SubtaskInfo } from '../api/context.js';
import type { OperatorContext, OneInputOperator, OperatorStateSnapshot, SourceOperator, TwoInputOperator } from '../api/operator.js';
import { FINAL_CHECKPOINT_ID, InputStatus } from '../api/operator.js';
import type { Output } from '../api/output.js';
import type { KeyedStateSnapshot, KeyInspection } from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { HeapKeyedStateBackend } from '../state/heap-backend.js';
import { ManualProcessingTime } from './processing-time.js';

export type OutputElement<T = unknown> =
  | { readonly type: 'record'; readonly value: T; readonly timestamp: number; readonly kind: RowKind }
  | { readonly type: 'watermark'; readonly watermark: number }
  | { readonly type: 'idle'; readonly idle: boolean };

/** An output that remembers everything, in order. */
export class RecordingOutput implements Output<unknown> {
  readonly elements: OutputElement[] = [];
  readonly sides = new Map<string, Array<StreamRecord<unknown>>>();

  collect(value: unknown, timestamp: number, kind: RowKind = Kinds.INSERT): void {
    this.elements.push({ type: 'record', value, timestamp, kind });
  }
  collectSide(tag: string, value: unknown, timestamp: number): void {
    let list = this.sides.get(tag);
    if (!list) this.sides.set(tag, (list = []));
    list.push({ value, timestamp, kind: Kinds.INSERT });
  }
  emitWatermark(watermark: number): void {
    this.elements.push({ type: 'watermark', watermark });
  }
  emitIdle(idle: boolean): void {
    this.elements.push({ type: 'idle', idle });
  }
  clear(): void {
    this.elements.length = 0;
    this.sides.clear();
  }
}

export interface HarnessSnapshot {
  readonly operatorState: OperatorStateSnapshot | undefined;
  readonly keyedState: KeyedStateSnapshot | undefined;
}

export interface HarnessOptions {
  readonly keySelector?: KeySelector<never>;
  readonly keySelector2?: KeySelector<never>;
  readonly maxParallelism?: number;
  readonly parallelism?: number;
  readonly subtaskIndex?: number;
  /** Start of processing time; default 0. */
  readonly processingTime?: number;
  /** Side outputs that count as connected; default all of `main` plus any tag the test reads. */
  readonly connectedOutputs?: readonly string[];
  readonly nodeType?: string;
}

abstract class HarnessBase {
  readonly output = new RecordingOutput();
  readonly processingTime: ManualProcessingTime;
  readonly ctx: OperatorContext & { readonly heapBackend: HeapKeyedStateBackend | undefined };
  private opened = false;

  protected constructor(
    protected readonly operator: OneInputOperator<unknown> | TwoInputOperator<unknown, unknown> | SourceOperator,
    options: HarnessOptions,
  ) {
    this.processingTime = new ManualProcessingTime(options.processingTime ?? 0);
    const info: SubtaskInfo = {
      jobId: 'test-job',
      nodeId: 'under-test',
      nodeType: options.nodeType ?? 'test',
      subtaskIndex: options.subtaskIndex ?? 0,
      parallelism: options.parallelism ?? 1,
      maxParallelism: options.maxParallelism ?? 128,
    };
    this.ctx = createOperatorContext(info, {
      processingTime: this.processingTime,
      keySelectors: [options.keySelector as KeySelector<unknown> | undefined, options.keySelector2 as KeySelector<unknown> | undefined],
      connectedOutputs: new Set(['main', ...(options.connectedOutputs ?? ['late', 'dead-letter', 'timed-out'])]),
    });
  }

  /** setup → initializeState (from a snapshot, if given) → open. */
  open(restore?: HarnessSnapshot | readonly HarnessSnapshot[]): this {
    const snapshots = restore === undefined ? [] : Array.isArray(restore) ? (restore as readonly HarnessSnapshot[]) : [restore as HarnessSnapshot];
    this.operator.setup(this.ctx, this.output);
    const keyed = snapshots.map((s) => s.keyedState).filter((s): s is KeyedStateSnapshot => s !== undefined);
    if (keyed.length > 0) {
      if (!this.ctx.heapBackend) throw new Error('cannot restore keyed state into a harness without a key selector');
      this.ctx.heapBackend.restore(keyed);
    }
    const operatorState = snapshots.flatMap((s) => s.operatorState?.entries ?? []);
    this.operator.initializeState({
      operatorState: snapshots.some((s) => s.operatorState) ? operatorState : undefined,
      keyedState: keyed.length > 0 ? keyed : undefined,
    });
    this.operator.open();
    this.opened = true;
    return this;
  }

  setProcessingTime(time: number): void {
    this.processingTime.advanceTo(time);
  }

  snapshot(checkpointId = 1): HarnessSnapshot {
    this.operator.prepareSnapshotPreBarrier(checkpointId);
    return { operatorState: this.operator.snapshotState(checkpointId), keyedState: this.ctx.heapBackend?.snapshot() };
  }

  notifyCheckpointComplete(checkpointId: number): void {
    this.operator.notifyCheckpointComplete(checkpointId);
  }

  close(): void {
    if (this.opened) this.operator.close();
    this.opened = false;
  }

  /** Records of the main output. */
  records<T = unknown>(): Array<StreamRecord<T>> {
    return this.output.elements.filter((e) => e.type === 'record').map((e) => ({ value: e.value as T, timestamp: e.timestamp, kind: e.kind }));
  }

  values<T = unknown>(): T[] {
    return this.records<T>().map((r) => r.value);
  }

  watermarks(): number[] {
    return this.output.elements.flatMap((e) => (e.type === 'watermark' ? [e.watermark] : []));
  }

  side<T = unknown>(tag: string): Array<StreamRecord<T>> {
    return (this.output.sides.get(tag) ?? []) as Array<StreamRecord<T>>;
  }

  /** The timers a key has registered and not yet fired or deleted, by domain, in timestamp order. */
  timers(key: Key): KeyInspection['timers'] {
    const backend = this.ctx.heapBackend;
    if (!backend) throw new Error('the operator under test has no keyed state, so no timers: give the harness a key selector');
    return backend.inspectKey(key).timers;
  }

  protected setKey(selector: KeySelector<unknown> | undefined, value: unknown): void {
    const backend = this.ctx.heapBackend;
    if (!selector || !backend) return;
    backend.setCurrentKey(selector(value));
    backend.setCurrentNamespace(VOID_NAMESPACE);
  }
}

export class OneInputHarness<IN = unknown> extends HarnessBase {
  constructor(
    private readonly op: OneInputOperator<IN>,
    private readonly options: HarnessOptions = {},
  ) {
    super(op, options);
  }

  processElement(value: IN, timestamp: number = NO_TIMESTAMP, kind: RowKind = Kinds.INSERT): void {
    this.setKey(this.options.keySelector as KeySelector<unknown> | undefined, value);
    this.op.processElement(value, timestamp, kind);
  }

  processWatermark(watermark: number): void {
    this.op.processWatermark(watermark);
  }

  processIdle(idle: boolean): void {
    this.op.processIdle(idle);
  }

  /**
   * End of a bounded input: the final watermark, then finish(). With `jobEnds` (the
   * default) the harness is the whole job, so the job's end follows and commits what the
   * operator still holds pending; without it, the job is still running elsewhere.
   */
  endInput(jobEnds = true): void {
    this.op.processWatermark(MAX_WATERMARK);
    this.op.finish();
    if (jobEnds && this.op.hasPendingCommits()) this.op.notifyCheckpointComplete(FINAL_CHECKPOINT_ID);
  }
}

export class TwoInputHarness<IN1 = unknown, IN2 = unknown> extends HarnessBase {
  constructor(
    private readonly op: TwoInputOperator<IN1, IN2>,
    private readonly options: HarnessOptions = {},
  ) {
    super(op, options);
  }

  processElement1(value: IN1, timestamp: number = NO_TIMESTAMP, kind: RowKind = Kinds.INSERT): void {
    this.setKey(this.options.keySelector as KeySelector<unknown> | undefined, value);
    this.op.processElement1(value, timestamp, kind);
  }

  processElement2(value: IN2, timestamp: number = NO_TIMESTAMP, kind: RowKind = Kinds.INSERT): void {
    this.setKey((this.options.keySelector2 ?? this.options.keySelector) as KeySelector<unknown> | undefined, value);
    this.op.processElement2(value, timestamp, kind);
  }

  processWatermark1(watermark: number): void {
    this.op.processWatermark1(watermark);
  }

  processWatermark2(watermark: number): void {
    this.op.processWatermark2(watermark);
  }

  processBothWatermarks(watermark: number): void {
    this.op.processWatermark1(watermark);
    this.op.processWatermark2(watermark);
  }

  endInput(jobEnds = true): void {
    this.processBothWatermarks(MAX_WATERMARK);
    this.op.finish();
    if (jobEnds && this.op.hasPendingCommits()) this.op.notifyCheckpointComplete(FINAL_CHECKPOINT_ID);
  }
}

export class SourceHarness extends HarnessBase {
  constructor(
    private readonly source: SourceOperator,
    options: HarnessOptions = {},
  ) {
    super(source, options);
  }

  poll(budget = 1000): InputStatus {
    return this.source.pollNext(budget);
  }

  /** Polls until the source ends, advancing processing time when it waits. Throws if it never ends. */
  runToEnd(options: { budget?: number; maxPolls?: number; stepMs?: number } = {}): void {
    const { budget = 1000, maxPolls = 1_000_000, stepMs = 10 } = options;
    for (let i = 0; i < maxPolls; i++) {
      const status = this.source.pollNext(budget);
      if (status === InputStatus.END_OF_INPUT) {
        this.source.finish();
        return;
      }
      if (status === InputStatus.NOTHING_AVAILABLE) this.setProcessingTime(this.processingTime.now() + stepMs);
    }
    throw new Error(`source did not end within ${maxPolls} polls`);
  }
}
