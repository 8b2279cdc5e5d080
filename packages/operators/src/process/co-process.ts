/**
 * Co-process function over two connected inputs, after Flink's CoProcessOperator and
 * KeyedCoProcessOperator.
 *
 *   processElement1(value, ctx)   a record of the first input
 *   processElement2(value, ctx)   a record of the second input
 *   onTimer(timestamp, ctx)       a timer of ctx.key fired (keyed only)
 *   open(ctx)                     once, after state was restored
 *
 * When both inputs are keyed by the same key (the graph requires both or neither),
 * the operator has a keyed backend: the two sides share the declared keyed state and
 * the timers of the current key, as a KeyedCoProcessFunction. Otherwise it is a plain
 * CoProcessFunction, and ctx.state and the timer registrations throw.
 *
 * Event time is the minimum of both inputs' watermarks (AbstractTwoInputOperator);
 * event-time timers fire before that combined watermark is forwarded.
 */
import type { RowKind } from '../api/elements.js';
import { AbstractTwoInputOperator, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import { OperatorListStateStore } from '../state/operator-list-state.js';
import type { InternalTimer } from '../api/time.js';
import type { OperatorEnv } from '../registry.js';
import { compileStates, loadHooks, ProcessFunctionContext, type CoProcessContext, type OnTimerContext, type OpenContext, type ProcessFunctionConfig } from './context.js';

/** The hook object of a co-process node's `fn`. */
export interface CoProcessFunction {
  processElement1(value: unknown, ctx: CoProcessContext): void;
  processElement2(value: unknown, ctx: CoProcessContext): void;
  onTimer?(timestamp: number, ctx: OnTimerContext): void;
  open?(ctx: OpenContext): void;
}

export type CoProcessConfig = ProcessFunctionConfig;

export class CoProcessOperator extends AbstractTwoInputOperator<unknown, unknown> {
  private readonly fn: CoProcessFunction;
  private readonly context: ProcessFunctionContext;
  private listStates: OperatorListStateStore | undefined;

  constructor(config: CoProcessConfig, env: OperatorEnv) {
    super();
    this.fn = loadHooks('co-process', config.fn, env.fn, ['processElement1', 'processElement2'], ['onTimer', 'open']) as CoProcessFunction;
    this.context = new ProcessFunctionContext('co-process', compileStates('co-process', config.states ?? [], env.fn), config.sideOutputs ?? [], () => this.currentWatermark);
  }

  override initializeState(restore: OperatorRestore): void {
    this.listStates = OperatorListStateStore.restoredFor(this.ctx, restore.operatorState);
    this.context.bindListStates(this.listStates);
  }

  override snapshotState(_checkpointId: number): OperatorStateSnapshot | undefined {
    return this.listStates?.snapshot();
  }

  override open(): void {
    this.context.bind(this.ctx, this.output, this.ctx.keyedBackend, this.ctx.keyedBackend ? this.useTimers() : undefined);
    this.fn.open?.(this.context as unknown as OpenContext);
  }

  processElement1(value: unknown, timestamp: number, _kind: RowKind): void {
    const context = this.context;
    context.enterElement(timestamp);
    this.fn.processElement1(value, context as unknown as CoProcessContext);
  }

  processElement2(value: unknown, timestamp: number, _kind: RowKind): void {
    const context = this.context;
    context.enterElement(timestamp);
    this.fn.processElement2(value, context as unknown as CoProcessContext);
  }

  override onEventTime(timer: InternalTimer): void {
    if (!this.fn.onTimer) return;
    this.context.enterTimer(timer.timestamp, 'event-time');
    this.fn.onTimer(timer.timestamp, this.context as unknown as OnTimerContext);
  }

  override onProcessingTime(timer: InternalTimer): void {
    if (!this.fn.onTimer) return;
    this.context.enterTimer(timer.timestamp, 'processing-time');
    this.fn.onTimer(timer.timestamp, this.context as unknown as OnTimerContext);
  }
}
