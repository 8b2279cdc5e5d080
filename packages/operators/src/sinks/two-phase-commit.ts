/**
 * Exactly-once sinks by two-phase commit, after Flink's TwoPhaseCommitSinkFunction.
 *
 *   records ─▶ current transaction ─barrier: preCommit─▶ pending (in the checkpoint's state)
 *                                   ─checkpoint complete: commit─▶ visible
 *
 * - On the barrier (prepareSnapshotPreBarrier) the current transaction is pre-committed:
 *   after this it must survive a crash (files fsync'ed, a Kafka transaction flushed).
 * - The snapshot holds every pre-committed transaction not yet committed.
 * - When the checkpoint completes, its transactions (and those of earlier checkpoints
 *   that were aborted) are committed.
 * - On restore, the transactions in the restored state belong to a completed checkpoint:
 *   they are committed again. `commit` must therefore be idempotent: committing a
 *   transaction that was committed before the failure changes nothing.
 * - At the end of input the last transaction is pre-committed, and everything pending is
 *   committed by the first checkpoint that completes after the end (the subtask's snapshot
 *   in it holds the transaction, and later checkpoints record the subtask as finished), or
 *   when the whole job has reached its end (FINAL_CHECKPOINT_ID): another subtask can
 *   still fail until then, and the replay must not find this output visible.
 *
 * Without checkpointing there are no checkpoints to wait for: transactions commit when
 * `flushWithoutCheckpoints` says so (e.g. when a file rolls) and at the end of input.
 */
import type { RowKind } from '../api/elements.js';
import { AbstractOperator, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';

interface PendingTransaction<T> {
  readonly checkpointId: number;
  readonly transaction: T;
}

export abstract class TwoPhaseCommitSink<T> extends AbstractOperator<unknown> {
  private current: T | undefined;
  private pending: Array<PendingTransaction<T>> = [];

  /** Whether commits wait for checkpoints (checkpointing is on and the sink is exactly-once). */
  protected abstract readonly transactional: boolean;

  protected abstract beginTransaction(): T;
  protected abstract write(transaction: T, value: unknown, timestamp: number, kind: RowKind): void;
  /** Makes the transaction durable but not visible. */
  protected abstract preCommit(transaction: T): void;
  /** Makes it visible. Idempotent: may run again for a transaction committed before a failure. */
  protected abstract commit(transaction: T): void;
  /** Discards it (after a failure, never committed). */
  protected abstract abort(transaction: T): void;
  /** Plain data for the checkpoint, and back. */
  protected abstract serialize(transaction: T): unknown;
  protected abstract deserialize(data: unknown): T;
  /** Whether the transaction holds anything worth committing. */
  protected abstract isEmpty(transaction: T): boolean;

  override initializeState(restore: OperatorRestore): void {
    // These were pre-committed before a checkpoint that completed: commit them (again).
    for (const data of restore.operatorState ?? []) this.commit(this.deserialize(data));
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.current ??= this.beginTransaction();
    this.write(this.current, value, timestamp, kind);
  }

  /** For subclasses: whether a transaction is open (e.g. to roll it on a timer). */
  protected get currentTransaction(): T | undefined {
    return this.current;
  }

  /**
   * Ends the current transaction early (a rolling policy): pre-commits it, and commits it
   * right away when not transactional, or else keeps it pending for the next checkpoint.
   */
  protected rollTransaction(): void {
    const transaction = this.current;
    if (transaction === undefined) return;
    this.current = undefined;
    if (this.isEmpty(transaction)) {
      this.abort(transaction);
      return;
    }
    this.preCommit(transaction);
    if (this.transactional) this.pending.push({ checkpointId: Number.POSITIVE_INFINITY, transaction });
    else this.commit(transaction);
  }

  override prepareSnapshotPreBarrier(_checkpointId: number): void {
    this.rollTransaction();
  }

  override snapshotState(checkpointId: number): OperatorStateSnapshot | undefined {
    if (!this.transactional) return undefined;
    // Transactions rolled since the last snapshot belong to this checkpoint.
    this.pending = this.pending.map((p) => (p.checkpointId === Number.POSITIVE_INFINITY ? { checkpointId, transaction: p.transaction } : p));
    return { mode: 'split', entries: this.pending.map((p) => this.serialize(p.transaction)) };
  }

  override notifyCheckpointComplete(checkpointId: number): void {
    // An aborted checkpoint's transactions stay pending and go with the next completed one.
    const ready = this.pending.filter((p) => p.checkpointId <= checkpointId);
    this.pending = this.pending.filter((p) => p.checkpointId > checkpointId);
    for (const p of ready) this.commit(p.transaction);
  }

  override finish(): void {
    this.rollTransaction();
    if (this.transactional) return;
    for (const p of this.pending) this.commit(p.transaction);
    this.pending = [];
  }

  override hasPendingCommits(): boolean {
    return this.pending.length > 0;
  }

  override close(): void {
    const transaction = this.current;
    this.current = undefined;
    if (transaction !== undefined) this.abort(transaction);
  }

  override processWatermark(watermark: number): void {
    this.currentWatermark = Math.max(this.currentWatermark, watermark);
  }
}
