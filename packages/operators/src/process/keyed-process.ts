/**
 * Keyed process function, after Flink's KeyedProcessOperator: per-record user logic
 * on a keyed stream, with the declared keyed state, timers per key and side outputs.
 *
 *   processElement(value, ctx)   the task has set the record's key
 *   onTimer(timestamp, ctx)      a timer of ctx.key fired; ctx.timeDomain says which kind
 *   open(ctx)                    once, after state was restored
 *
 * Event-time timers fire when a watermark passes them, before the watermark is
 * forwarded (AbstractOperator.processWatermark), so results a timer emits precede the
 * watermark that caused them. Keyed state and pending timers are snapshotted with the
 * keyed backend; the function's operator list states (ctx.getOperatorListState) are the
 * operator's own state.
 */
import type { RowKind } from '../api/elements.js';
import { AbstractOperator, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import { OperatorListStateStore } from '../state/operator-list-state.js';
import type { InternalTimer } from '../api/time.js';
import type { OperatorEnv } from '../registry.js';
import { ENTRY_EVENT_TIMER, ENTRY_PROCESSING_TIMER } from '../api/functions.js';
import { compileStates, loadHooks, ProcessFunctionContext, type KeyedProcessContext, type OnTimerContext, type OpenContext, type ProcessFunctionConfig } from './context.js';
import { ProcessBatcher, programSpec } from './process-batcher.js';

/** The hook object of a keyed-process node's `fn`. */
export interface KeyedProcessFunction {
  processElement(value: unknown, ctx: KeyedProcessContext): void;
  onTimer?(timestamp: number, ctx: OnTimerContext): void;
  open?(ctx: OpenContext): void;
}

export type KeyedProcessConfig = ProcessFunctionConfig;

export class KeyedProcessOperator extends AbstractOperator<unknown> {
  private readonly fn: KeyedProcessFunction | undefined;
  private readonly context: ProcessFunctionContext;
  /** Where user code runs in batches (sandboxed): see process-batcher.ts. */
  private readonly batcher: ProcessBatcher | undefined;
  flushBuffered: (() => void) | undefined;
  syncState: (() => void) | undefined;
  private listStates: OperatorListStateStore | undefined;

  constructor(config: KeyedProcessConfig, env: OperatorEnv) {
    super();
    const descriptors = compileStates('keyed-process', config.states ?? [], env.fn);
    const sideOutputs = config.sideOutputs ?? [];
    this.context = new ProcessFunctionContext('keyed-process', descriptors, sideOutputs, () => this.currentWatermark);
    if (env.processProgram) {
      const spec = programSpec('keyed-process', descriptors, sideOutputs);
      const program = env.processProgram(config.fn, spec, this.context);
      loadHooks('keyed-process', config.fn, () => program.hooks, ['processElement'], ['onTimer', 'open']);
      this.batcher = new ProcessBatcher(program, spec, this.context, () => this.currentWatermark);
      this.flushBuffered = () => (this.batcher as ProcessBatcher).flush();
      this.syncState = () => (this.batcher as ProcessBatcher).takeWrites();
    } else {
      this.fn = loadHooks('keyed-process', config.fn, env.fn, ['processElement'], ['onTimer', 'open']) as KeyedProcessFunction;
    }
  }

  override initializeState(restore: OperatorRestore): void {
    this.listStates = OperatorListStateStore.restoredFor(this.ctx, restore.operatorState);
    this.context.bindListStates(this.listStates);
  }

  override snapshotState(_checkpointId: number): OperatorStateSnapshot | undefined {
    return this.listStates?.snapshot();
  }

  override open(): void {
    // this.backend fails with a clear message when the input is not keyed.
    const timers = this.useTimers();
    this.context.bind(this.ctx, this.output, this.backend, timers);
    if (this.batcher) {
      this.batcher.bind(this.ctx, this.output, this.backend, timers);
      this.batcher.open();
      return;
    }
    this.fn?.open?.(this.context as unknown as OpenContext);
  }

  processElement(value: unknown, timestamp: number, _kind: RowKind): void {
    if (this.batcher) {
      this.batcher.addElement(value, timestamp);
      return;
    }
    const context = this.context;
    context.enterElement(timestamp);
    (this.fn as KeyedProcessFunction).processElement(value, context as unknown as KeyedProcessContext);
  }

  override processWatermark(watermark: number): void {
    this.batcher?.flush();
    super.processWatermark(watermark);
  }
  override processIdle(idle: boolean): void {
    this.batcher?.flush();
    super.processIdle(idle);
  }
  override prepareSnapshotPreBarrier(_checkpointId: number): void {
    this.batcher?.flush();
    this.batcher?.takeWrites();
  }
  override finish(): void {
    this.batcher?.flush();
    this.batcher?.takeWrites();
  }

  override onEventTime(timer: InternalTimer): void {
    if (this.batcher) {
      if (this.batcher.hasOnTimer) this.batcher.runTimer(ENTRY_EVENT_TIMER, timer.timestamp);
      return;
    }
    if (!this.fn?.onTimer) return;
    this.context.enterTimer(timer.timestamp, 'event-time');
    this.fn.onTimer(timer.timestamp, this.context as unknown as OnTimerContext);
  }

  override onProcessingTime(timer: InternalTimer): void {
    if (this.batcher) {
      if (this.batcher.hasOnTimer) this.batcher.runTimer(ENTRY_PROCESSING_TIMER, timer.timestamp);
      return;
    }
    if (!this.fn?.onTimer) return;
    this.context.enterTimer(timer.timestamp, 'processing-time');
    this.fn.onTimer(timer.timestamp, this.context as unknown as OnTimerContext);
  }
}
