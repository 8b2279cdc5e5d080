import { ROW_KIND_SHORT, RowKind } from '../api/elements.js';
import type { CollectOutlet } from '../api/functions.js';
import { AbstractOperator } from '../api/operator.js';
import type { OperatorEnv } from '../registry.js';

/** Hands records to the engine (the job manager keeps the latest `maxRecords` per name). */
export class CollectSink extends AbstractOperator<unknown> {
  private readonly outlet: CollectOutlet;
  constructor(config: { name: string }, env: OperatorEnv) {
    super();
    this.outlet = env.collector(config.name);
  }
  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.outlet.push(value, timestamp, kind);
  }
  override processWatermark(watermark: number): void {
    this.currentWatermark = Math.max(this.currentWatermark, watermark);
  }
}

/** One JSON line per record, prefixed like Flink's print(): `prefix:subtask> `. */
export class ConsoleSink extends AbstractOperator<unknown> {
  private readonly print: (line: string) => void;
  private prefix = '';
  constructor(
    private readonly config: { prefix: string },
    env: OperatorEnv,
  ) {
    super();
    this.print = (line) => env.print(line);
  }
  override open(): void {
    const subtask = this.ctx.parallelism > 1 ? `${this.ctx.subtaskIndex + 1}> ` : '';
    this.prefix = this.config.prefix === '' ? subtask : `${this.config.prefix}:${subtask === '' ? ' ' : subtask}`;
  }
  processElement(value: unknown, _timestamp: number, kind: RowKind): void {
    // JSON.stringify gives undefined for undefined and functions.
    const body = (JSON.stringify(value) as string | undefined) ?? 'undefined';
    this.print(kind === RowKind.INSERT ? `${this.prefix}${body}` : `${this.prefix}${ROW_KIND_SHORT[kind]}${body}`);
  }
  override processWatermark(watermark: number): void {
    this.currentWatermark = Math.max(this.currentWatermark, watermark);
  }
}

export class BlackholeSink extends AbstractOperator<unknown> {
  processElement(): void {}
  override processWatermark(watermark: number): void {
    this.currentWatermark = Math.max(this.currentWatermark, watermark);
  }
}
