import { ROW_KIND_SHORT, RowKind } from '../api/elements.js';
import type { CollectOutlet } from '../api/functions.js';
import { AbstractOperator } from '../api/operator.js';
import { TwoPhaseCommitSink } from './two-phase-commit.js';
import type { OperatorEnv } from '../registry.js';

/**
 * Hands records to the engine (the job manager keeps the latest `maxRecords` per name).
 *
 * With checkpointing on it is a two-phase-commit sink: rows wait until the checkpoint
 * after them completes, then go out under a commit id (node, subtask, attempt,
 * sequence). The receiver applies each commit id once, so committing again after a
 * restore never duplicates rows. Without checkpointing, rows go out at once.
 */
type Row = [unknown, number, number];

interface CollectTransaction {
  readonly commitId: string;
  readonly rows: Row[];
}

export class CollectSink extends TwoPhaseCommitSink<CollectTransaction> {
  protected readonly transactional: boolean;
  private readonly outlet: CollectOutlet;
  private sequence = 0;

  constructor(config: { name: string }, env: OperatorEnv) {
    super();
    this.outlet = env.collector(config.name);
    this.transactional = env.job.checkpointing.enabled;
  }

  override processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.transactional) super.processElement(value, timestamp, kind);
    else this.outlet.push(value, timestamp, kind);
  }

  protected beginTransaction(): CollectTransaction {
    // Unique across jobs: a job restored from another's savepoint re-commits that job's transactions.
    return { commitId: `${this.ctx.jobId}/${this.ctx.nodeId}/${this.ctx.subtaskIndex}/${this.ctx.attemptNumber}/${this.sequence++}`, rows: [] };
  }

  protected write(transaction: CollectTransaction, value: unknown, timestamp: number, kind: RowKind): void {
    transaction.rows.push([value, timestamp, kind]);
  }

  protected preCommit(): void {
    // Rows are in the checkpoint's state: nothing to make durable elsewhere.
  }

  protected commit(transaction: CollectTransaction): void {
    this.outlet.commit(transaction.commitId, transaction.rows);
  }

  protected abort(): void {
    // Rows that reached no checkpoint are produced again after the restore.
  }

  protected serialize(transaction: CollectTransaction): unknown {
    return transaction;
  }

  protected deserialize(data: unknown): CollectTransaction {
    return data as CollectTransaction;
  }

  protected isEmpty(transaction: CollectTransaction): boolean {
    return transaction.rows.length === 0;
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

/**
 * Drops records. With `ratePerSecond` it takes records no faster than that (its share per
 * subtask), like a slow external system: over its budget, blockedUntil() holds the task's
 * input until processing time has caught up, so the task waits without spinning and its
 * producers run out of credit.
 */
export class BlackholeSink extends AbstractOperator<unknown> {
  /** Processing time per record on this subtask, in ms; 0 without a rate. */
  private interval = 0;
  /** When the records taken so far have been paid for. */
  private paidUntil = 0;
  private wake: Promise<void> | undefined;
  private cancelWake: (() => void) | undefined;

  constructor(private readonly config: { ratePerSecond?: number | null | undefined } = {}) {
    super();
  }

  override open(): void {
    const rate = this.config.ratePerSecond;
    if (!rate) return;
    this.interval = (1000 * this.ctx.parallelism) / rate;
    this.paidUntil = this.ctx.processingTime.now();
  }

  processElement(): void {
    this.paidUntil += this.interval;
  }

  override processWatermark(watermark: number): void {
    this.currentWatermark = Math.max(this.currentWatermark, watermark);
  }

  blockedUntil(): Promise<void> | undefined {
    if (this.interval === 0) return undefined;
    const now = this.ctx.processingTime.now();
    // Time spent without records is not saved up for a burst later.
    if (this.paidUntil <= now) {
      this.paidUntil = now;
      return undefined;
    }
    this.wake ??= new Promise((resolve) => {
      this.cancelWake = this.ctx.processingTime.schedule(this.paidUntil, () => {
        this.wake = undefined;
        this.cancelWake = undefined;
        resolve();
      });
    });
    return this.wake;
  }

  override close(): void {
    this.cancelWake?.();
  }
}
