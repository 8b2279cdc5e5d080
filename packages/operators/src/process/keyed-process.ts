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
 * keyed backend; the operator itself holds no other state.
 */
import type { RowKind } from '../api/elements.js';
import { AbstractOperator } from '../api/operator.js';
import type { InternalTimer } from '../api/time.js';
import type { OperatorEnv } from '../registry.js';
import { compileStates, loadHooks, ProcessFunctionContext, type KeyedProcessContext, type OnTimerContext, type OpenContext, type ProcessFunctionConfig } from './context.js';

/** The hook object of a keyed-process node's `fn`. */
export interface KeyedProcessFunction {
  processElement(value: unknown, ctx: KeyedProcessContext): void;
  onTimer?(timestamp: number, ctx: OnTimerContext): void;
  open?(ctx: OpenContext): void;
}

export type KeyedProcessConfig = ProcessFunctionConfig;

export class KeyedProcessOperator extends AbstractOperator<unknown> {
  private readonly fn: KeyedProcessFunction;
  private readonly context: ProcessFunctionContext;

  constructor(config: KeyedProcessConfig, env: OperatorEnv) {
    super();
    this.fn = loadHooks('keyed-process', config.fn, env.fn, ['processElement'], ['onTimer', 'open']) as KeyedProcessFunction;
    this.context = new ProcessFunctionContext(
      'keyed-process',
      compileStates('keyed-process', config.states ?? [], env.fn),
      config.sideOutputs ?? [],
      () => this.currentWatermark,
    );
  }

  override open(): void {
    // this.backend fails with a clear message when the input is not keyed.
    this.context.bind(this.ctx, this.output, this.backend, this.useTimers());
    this.fn.open?.(this.context as unknown as OpenContext);
  }

  processElement(value: unknown, timestamp: number, _kind: RowKind): void {
    const context = this.context;
    context.enterElement(timestamp);
    this.fn.processElement(value, context as unknown as KeyedProcessContext);
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
