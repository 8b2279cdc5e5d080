import { ROW_KIND_SHORT, RowKind } from '../api/elements.js';
import type { CollectOutlet } from '../api/functions.js';
import { AbstractOperator, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import type { OperatorEnv } from '../registry.js';

/**
 * Hands records to the engine (the job manager keeps the latest `maxRecords` per name).
 *
 * With checkpointing on it is a two-phase-commit sink: rows wait in the operator until
 * the checkpoint after them completes, then go out under a commit id (node, subtask,
 * attempt, checkpoint). Rows of a completed checkpoint that were not handed over
 * before a failure are in that checkpoint's state and are committed again on restore;
 * the receiver applies each commit id once, so no row is lost or duplicated.
 */
type Row = [unknown, number, number];

interface Staged {
  readonly checkpointId: number;
  readonly commitId: string;
  readonly rows: Row[];
}

export class CollectSink extends AbstractOperator<unknown> {
  private readonly outlet: CollectOutlet;
  private readonly transactional: boolean;
  private pending: Row[] = [];
  private staged: Staged[] = [];

  constructor(config: { name: string }, env: OperatorEnv) {
    super();
    this.outlet = env.collector(config.name);
    this.transactional = env.job.checkpointing.enabled;
  }

  override initializeState(restore: OperatorRestore): void {
    // Transactions of the checkpoint we restore from: it completed, so they are committed.
    for (const entry of (restore.operatorState ?? []) as Staged[]) this.outlet.commit(entry.commitId, entry.rows);
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (this.transactional) this.pending.push([value, timestamp, kind]);
    else this.outlet.push(value, timestamp, kind);
  }

  override snapshotState(checkpointId: number): OperatorStateSnapshot | undefined {
    if (!this.transactional) return undefined;
    if (this.pending.length > 0) {
      this.staged.push({ checkpointId, commitId: `${this.ctx.nodeId}/${this.ctx.subtaskIndex}/${this.ctx.attemptNumber}/${checkpointId}`, rows: this.pending });
      this.pending = [];
    }
    return { mode: 'split', entries: this.staged.map((s) => ({ ...s })) };
  }

  override notifyCheckpointComplete(checkpointId: number): void {
    // An aborted checkpoint's rows stay staged and go out with the next completed one.
    const ready = this.staged.filter((s) => s.checkpointId <= checkpointId);
    this.staged = this.staged.filter((s) => s.checkpointId > checkpointId);
    for (const s of ready) this.outlet.commit(s.commitId, s.rows);
  }

  override finish(): void {
    if (!this.transactional) return;
    // End of input: nothing more can fail before the job finishes, so commit the rest.
    for (const s of this.staged) this.outlet.commit(s.commitId, s.rows);
    this.staged = [];
    if (this.pending.length > 0) this.outlet.commit(`${this.ctx.nodeId}/${this.ctx.subtaskIndex}/${this.ctx.attemptNumber}/final`, this.pending);
    this.pending = [];
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
