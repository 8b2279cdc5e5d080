import type { RowKind } from '../api/elements.js';
import type { BatchFunction, BatchKind, BatchResult, FunctionContext, FusableBatchOperator, FusedBatch, FusedBatchResult } from '../api/functions.js';
import { AbstractOperator, type OperatorContext, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import { runBatch } from '../api/context.js';
import type { Output } from '../api/output.js';
import { compileConditions, type ConditionSpec } from '../functions/conditions.js';
import { compileProjection } from '../functions/projection.js';
import { OperatorListStateStore, type OperatorListStateAccess } from '../state/operator-list-state.js';
import type { OperatorEnv } from '../registry.js';

/**
 * Map, filter and flat-map: the function's context also reaches the subtask's operator
 * list states (ctx.getOperatorListState), checkpointed with the operator.
 */
abstract class FunctionOperator extends AbstractOperator<unknown> {
  protected fctx!: FunctionContext;
  private listStates: OperatorListStateStore | undefined;

  override setup(ctx: OperatorContext, output: Output<unknown>): void {
    super.setup(ctx, output);
    const fctx: FunctionContext & OperatorListStateAccess = {
      timestamp: 0,
      nodeId: ctx.nodeId,
      subtaskIndex: ctx.subtaskIndex,
      parallelism: ctx.parallelism,
      attemptNumber: ctx.attemptNumber,
      getOperatorListState: (name, options) => {
        if (!this.listStates) throw new Error(`ctx.getOperatorListState('${name}') is used before operator '${ctx.nodeId}' was initialized`);
        return this.listStates.getOperatorListState(name, options);
      },
    };
    this.fctx = fctx;
  }

  override initializeState(restore: OperatorRestore): void {
    this.listStates = OperatorListStateStore.restoredFor(this.ctx, restore.operatorState);
  }

  override snapshotState(_checkpointId: number): OperatorStateSnapshot | undefined {
    return this.listStates?.snapshot();
  }
}

/** Records a batch function has not seen yet. */
const BATCH_SIZE = 1024;

/**
 * Map, filter and flat-map call their function per record; where the engine offers a
 * batch function (sandboxed user code) they buffer up to BATCH_SIZE records instead and
 * call it once per batch. Results keep the input order, and the buffer empties before
 * anything that must not overtake records: a watermark, idleness, a barrier, the end.
 */
abstract class BatchingFunctionOperator extends FunctionOperator implements FusableBatchOperator {
  private readonly batchFn: BatchFunction | undefined;
  /** Set while this operator heads a fused chain (see FusedBatch). */
  private fused: FusedBatch | undefined;
  private values: unknown[] = [];
  private timestamps: number[] = [];
  private kinds: RowKind[] = [];
  flushBuffered: (() => void) | undefined;

  constructor(config: { fn: string }, env: OperatorEnv, kind: BatchKind) {
    super();
    this.batchFn = env.batch?.(config.fn, kind);
    if (this.batchFn) this.flushBuffered = () => this.flushBatch();
  }

  protected get batching(): boolean {
    return this.batchFn !== undefined;
  }

  get batchFunction(): BatchFunction | undefined {
    return this.batchFn;
  }

  fuse(fused: FusedBatch | undefined): void {
    this.fused = fused;
  }

  protected buffer(value: unknown, timestamp: number, kind: RowKind): void {
    this.values.push(value);
    this.timestamps.push(timestamp);
    this.kinds.push(kind);
    if (this.values.length >= BATCH_SIZE) this.flushBatch();
  }

  private flushBatch(): void {
    if (this.values.length === 0) return;
    runBatch(this.ctx, this.runBuffered);
  }

  private readonly runBuffered = (): void => {
    const values = this.values;
    const timestamps = this.timestamps;
    const kinds = this.kinds;
    this.values = [];
    this.timestamps = [];
    this.kinds = [];
    const fused = this.fused;
    if (fused) {
      const result = fused.run(values, timestamps, this.fctx);
      emitFused(fused.output, values, timestamps, kinds, result);
      fused.counted(result.stageOutputs);
      return;
    }
    this.emitBatch(values, timestamps, kinds, (this.batchFn as BatchFunction)(values, timestamps, this.fctx));
  };

  protected abstract emitBatch(values: unknown[], timestamps: number[], kinds: RowKind[], result: BatchResult): void;

  override processWatermark(watermark: number): void {
    this.flushBatch();
    super.processWatermark(watermark);
  }
  override processIdle(idle: boolean): void {
    this.flushBatch();
    super.processIdle(idle);
  }
  override prepareSnapshotPreBarrier(_checkpointId: number): void {
    this.flushBatch();
  }
  override finish(): void {
    this.flushBatch();
  }
}

export class MapOperator extends BatchingFunctionOperator {
  private readonly fn: (value: unknown, ctx: FunctionContext) => unknown;
  constructor(config: { fn: string }, env: OperatorEnv) {
    super(config, env, 'map');
    this.fn = this.batching ? unusedDirect : (env.fn(config.fn) as typeof this.fn);
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.flushBuffered) {
      this.buffer(value, timestamp, kind);
      return;
    }
    this.fctx.timestamp = timestamp;
    this.output.collect(this.fn(value, this.fctx), timestamp, kind);
  }
  protected emitBatch(_values: unknown[], timestamps: number[], kinds: RowKind[], result: BatchResult): void {
    const outputs = result.outputs ?? [];
    for (let i = 0; i < outputs.length; i++) this.output.collect(outputs[i], timestamps[i] as number, kinds[i]);
  }
}

export class FilterOperator extends BatchingFunctionOperator {
  private readonly fn: (value: unknown, ctx: FunctionContext) => unknown;
  constructor(config: { fn: string }, env: OperatorEnv) {
    super(config, env, 'filter');
    this.fn = this.batching ? unusedDirect : (env.fn(config.fn) as typeof this.fn);
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.flushBuffered) {
      this.buffer(value, timestamp, kind);
      return;
    }
    this.fctx.timestamp = timestamp;
    if (this.fn(value, this.fctx) === true) this.output.collect(value, timestamp, kind);
  }
  protected emitBatch(values: unknown[], timestamps: number[], kinds: RowKind[], result: BatchResult): void {
    const keep = result.keep as Uint8Array;
    for (let i = 0; i < values.length; i++) if (keep[i] === 1) this.output.collect(values[i], timestamps[i] as number, kinds[i]);
  }
}

export class FlatMapOperator extends BatchingFunctionOperator {
  private readonly fn: (value: unknown, ctx: FunctionContext) => unknown;
  constructor(config: { fn: string }, env: OperatorEnv) {
    super(config, env, 'flat-map');
    this.fn = this.batching ? unusedDirect : (env.fn(config.fn) as typeof this.fn);
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.flushBuffered) {
      this.buffer(value, timestamp, kind);
      return;
    }
    this.fctx.timestamp = timestamp;
    const result = this.fn(value, this.fctx);
    if (Array.isArray(result)) {
      for (const item of result) this.output.collect(item, timestamp, kind);
    } else if (result !== null && typeof result === 'object' && Symbol.iterator in result) {
      for (const item of result as Iterable<unknown>) this.output.collect(item, timestamp, kind);
    } else if (result !== undefined && result !== null) {
      throw new TypeError(`flat-map must return an array or another iterable, got ${typeof result}`);
    }
  }
  protected emitBatch(_values: unknown[], timestamps: number[], kinds: RowKind[], result: BatchResult): void {
    const outputs = result.outputs ?? [];
    const counts = result.counts as Int32Array;
    let next = 0;
    for (let i = 0; i < counts.length; i++) {
      const end = next + (counts[i] as number);
      for (; next < end; next++) this.output.collect(outputs[next], timestamps[i] as number, kinds[i]);
    }
  }
}

/** A fused chain's results: its inputs where only filters ran, otherwise each input's outputs in order. */
function emitFused(output: Output<unknown>, values: unknown[], timestamps: number[], kinds: RowKind[], result: FusedBatchResult): void {
  const keep = result.keep;
  if (keep) {
    for (let i = 0; i < values.length; i++) if (keep[i] === 1) output.collect(values[i], timestamps[i] as number, kinds[i]);
    return;
  }
  const outputs = result.outputs ?? [];
  const counts = result.counts as Int32Array;
  let next = 0;
  for (let i = 0; i < counts.length; i++) {
    const end = next + (counts[i] as number);
    for (; next < end; next++) output.collect(outputs[next], timestamps[i] as number, kinds[i]);
  }
}

function unusedDirect(): never {
  throw new Error('internal: a batching operator called its function per record');
}

export class FilterExpressionOperator extends AbstractOperator<unknown> {
  private readonly test: (record: unknown) => boolean;
  constructor(config: { match: 'all' | 'any'; conditions: readonly ConditionSpec[] }) {
    super();
    this.test = compileConditions(config);
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.test(value)) this.output.collect(value, timestamp, kind);
  }
}

export class ProjectOperator extends AbstractOperator<unknown> {
  private readonly project: (record: unknown) => Record<string, unknown>;
  constructor(config: { fields: readonly { from: string; as?: string | undefined }[] }) {
    super();
    this.project = compileProjection(config.fields);
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.output.collect(this.project(value), timestamp, kind);
  }
}

/** Inputs are merged by the task; the operator only passes records on. */
export class UnionOperator extends AbstractOperator<unknown> {
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.output.collect(value, timestamp, kind);
  }
}
