import type { RowKind } from '../api/elements.js';
import type { FunctionContext } from '../api/functions.js';
import { AbstractOperator, type OperatorContext } from '../api/operator.js';
import type { Output } from '../api/output.js';
import { compileConditions, type ConditionSpec } from '../functions/conditions.js';
import { compileProjection } from '../functions/projection.js';
import type { OperatorEnv } from '../registry.js';

abstract class FunctionOperator extends AbstractOperator<unknown> {
  protected fctx!: FunctionContext;

  override setup(ctx: OperatorContext, output: Output<unknown>): void {
    super.setup(ctx, output);
    this.fctx = { timestamp: 0, nodeId: ctx.nodeId, subtaskIndex: ctx.subtaskIndex, parallelism: ctx.parallelism, attemptNumber: ctx.attemptNumber };
  }
}

export class MapOperator extends FunctionOperator {
  private readonly fn: (value: unknown, ctx: FunctionContext) => unknown;
  constructor(config: { fn: string }, env: OperatorEnv) {
    super();
    this.fn = env.fn(config.fn) as typeof this.fn;
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.fctx.timestamp = timestamp;
    this.output.collect(this.fn(value, this.fctx), timestamp, kind);
  }
}

export class FilterOperator extends FunctionOperator {
  private readonly fn: (value: unknown, ctx: FunctionContext) => unknown;
  constructor(config: { fn: string }, env: OperatorEnv) {
    super();
    this.fn = env.fn(config.fn) as typeof this.fn;
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.fctx.timestamp = timestamp;
    if (this.fn(value, this.fctx) === true) this.output.collect(value, timestamp, kind);
  }
}

export class FlatMapOperator extends FunctionOperator {
  private readonly fn: (value: unknown, ctx: FunctionContext) => unknown;
  constructor(config: { fn: string }, env: OperatorEnv) {
    super();
    this.fn = env.fn(config.fn) as typeof this.fn;
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
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
