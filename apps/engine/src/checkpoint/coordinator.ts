/**
 * The checkpoint coordinator (job manager side), after Flink's CheckpointCoordinator:
 * one checkpoint at a time; a new one starts `intervalMs` after the previous started,
 * but no sooner than `minPauseMs` after it ended. A checkpoint is triggered at the
 * subtasks that start it (barriers flow from there with the data) and completes when every
 * subtask that had not finished acknowledged; then its metadata is written (the moment it
 * exists), tasks are notified, and older checkpoints pruned. A decline or the timeout aborts it.
 *
 * Checkpoints go on after parts of the graph finished (Flink's FLIP-147): the job manager
 * says which subtasks have finished (they are recorded as finished, with no state) and
 * where barriers start: the running sources and every running subtask whose producers
 * have all finished. A subtask that finishes while a checkpoint waits for it counts as
 * finished in that checkpoint: it sent everything it will ever send before its end.
 *
 * Time is injected (now, timers), so tests drive the coordinator by hand.
 */
import type { Barrier } from '../runtime/messages.js';
import type { CheckpointAck } from '../runtime/task.js';
import { relativizeHandle } from '../state/rocksdb/index.js';
import type { CheckpointMetadata, CheckpointStorage, NodeStateInfo, SubtaskStateHandle } from './storage.js';

export interface SubtaskId {
  readonly taskId: number;
  readonly subtaskIndex: number;
}

export interface CheckpointSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly minPauseMs: number;
  readonly retained: number;
}

export interface CoordinatorContext {
  readonly jobId: string;
  readonly jobName: string;
  readonly maxParallelism: number;
  readonly storage: CheckpointStorage;
  readonly settings: CheckpointSettings;
  /** Every subtask that must acknowledge (those not finished), and the subtasks where barriers start. */
  subtasks(): readonly SubtaskId[];
  sources(): readonly SubtaskId[];
  /** Subtasks that have finished: recorded as such, they acknowledge nothing. */
  finished(): readonly SubtaskId[];
  /** Node descriptions for the metadata (type, parallelism), with the task that runs each node. */
  nodes(): ReadonlyArray<Omit<NodeStateInfo, 'states' | 'hasOperatorState' | 'finishedSubtasks'> & { readonly taskId: number }>;
  trigger(barrier: Barrier, sources: readonly SubtaskId[]): void;
  notify(checkpointId: number, outcome: 'complete' | 'aborted'): void;
  now(): number;
  setTimer(callback: () => void, ms: number): () => void;
  log(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>): void;
}

export type CheckpointStatus = 'in-progress' | 'completed' | 'failed';

export interface SubtaskCheckpointStats extends SubtaskId {
  readonly acknowledgedAfterMs: number;
  readonly alignmentMs: number;
  readonly syncMs: number;
  readonly asyncMs: number;
  readonly bytes: number;
}

export interface CheckpointStats {
  readonly id: number;
  readonly savepoint: boolean;
  status: CheckpointStatus;
  readonly triggeredAt: number;
  completedAt: number | undefined;
  durationMs: number | undefined;
  bytes: number;
  failure: string | undefined;
  /** Subtasks that acknowledge it; one that finishes while it is pending no longer counts. */
  expected: number;
  readonly subtasks: SubtaskCheckpointStats[];
  directory: string;
}

interface Pending {
  readonly stats: CheckpointStats;
  readonly barrier: Barrier;
  readonly acks: Map<string, CheckpointAck & SubtaskId>;
  readonly expected: Set<string>;
  /** Subtasks finished before the trigger or while it was pending: `${taskId}/${subtaskIndex}`. */
  readonly finished: Set<string>;
  readonly cancelTimeout: () => void;
  readonly resolve: (stats: CheckpointStats) => void;
  readonly reject: (error: Error) => void;
}

const keyOf = (s: SubtaskId) => `${s.taskId}/${s.subtaskIndex}`;
const HISTORY = 50;

export class CheckpointCoordinator {
  private nextId: number;
  private pending: Pending | undefined;
  private stopped = true;
  private cancelNext: (() => void) | undefined;
  private lastStartedAt = Number.NEGATIVE_INFINITY;
  private lastEndedAt = Number.NEGATIVE_INFINITY;
  readonly history: CheckpointStats[] = [];
  latestCompleted: CheckpointStats | undefined;
  /** Some subtask acknowledged native (incremental RocksDB) state: pruning also collects shared files. */
  private sharedState = false;
  /** Savepoints waiting for the checkpoint in progress to end; no periodic checkpoint starts before them. */
  private savepointsWaiting = 0;
  private readonly idle: Array<() => void> = [];

  constructor(
    private readonly ctx: CoordinatorContext,
    /** Checkpoint ids continue after the one restored from, so directories never clash. */
    firstId = 1,
  ) {
    this.nextId = firstId;
  }

  /** Starts periodic checkpoints. */
  start(): void {
    this.stopped = false;
    this.scheduleNext();
  }

  /** Stops triggering and aborts the checkpoint in progress (a restart or the end of the job). */
  stop(reason: string): void {
    this.stopped = true;
    this.cancelNext?.();
    this.cancelNext = undefined;
    if (this.pending) this.abort(this.pending, reason);
  }

  /** No more periodic checkpoints; one in progress may still complete (for stop-with-savepoint). */
  pausePeriodic(): void {
    this.stopped = true;
    this.cancelNext?.();
    this.cancelNext = undefined;
  }

  /** Waits for the checkpoint in progress, if any, to end. */
  async settle(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    await new Promise<void>((resolve) => {
      const check = () => (this.pending === pending ? setTimeout(check, 5) : resolve());
      check();
    });
  }

  get inProgress(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Triggers a checkpoint (or savepoint) now. A checkpoint is refused while another is in
   * progress; a savepoint waits for it to end and then starts (Flink does not refuse a
   * savepoint for a checkpoint in progress; barriers here align one checkpoint at a time).
   * Rejects when a subtask declines, or on timeout.
   */
  async trigger(options: { savepoint?: boolean; stop?: boolean; drain?: boolean } = {}): Promise<CheckpointStats> {
    if (options.savepoint === true && this.pending) {
      const stoppedBefore = this.stopped;
      this.savepointsWaiting++;
      try {
        while (this.inProgress) await new Promise<void>((resolve) => this.idle.push(resolve));
      } finally {
        this.savepointsWaiting--;
      }
      if (this.stopped && !stoppedBefore) throw new Error('the job stopped before the savepoint could start');
    }
    if (this.pending) throw new Error(`checkpoint ${this.pending.stats.id} is still in progress`);
    const id = this.nextId++;
    const savepoint = options.savepoint === true;
    const directory = this.ctx.storage.directoryFor(this.ctx.jobId, id, savepoint);
    const triggeredAt = this.ctx.now();
    const expected = new Set(this.ctx.subtasks().map(keyOf));
    const finished = new Set(this.ctx.finished().map(keyOf));
    const stats: CheckpointStats = {
      id,
      savepoint,
      status: 'in-progress',
      triggeredAt,
      completedAt: undefined,
      durationMs: undefined,
      bytes: 0,
      failure: undefined,
      expected: expected.size,
      subtasks: [],
      directory,
    };
    this.history.push(stats);
    if (this.history.length > HISTORY) this.history.shift();
    this.lastStartedAt = triggeredAt;
    const barrier: Barrier = { id, timestamp: triggeredAt, directory, savepoint, stop: options.stop === true, drain: options.stop === true && options.drain === true };
    return new Promise<CheckpointStats>((resolve, reject) => {
      const pending: Pending = {
        stats,
        barrier,
        acks: new Map(),
        expected,
        finished,
        resolve,
        reject,
        cancelTimeout: this.ctx.setTimer(() => {
          if (this.pending === pending) this.abort(pending, `it did not complete within ${this.ctx.settings.timeoutMs} ms`);
        }, this.ctx.settings.timeoutMs),
      };
      this.pending = pending;
      if (expected.size === 0) {
        this.abort(pending, 'every subtask has finished');
        return;
      }
      this.ctx.trigger(barrier, this.ctx.sources());
    });
  }

  /** The checkpoint in progress and the subtasks it still waits for (to trigger those whose producers finished since). */
  waiting(): { barrier: Barrier; subtasks: Set<string> } | undefined {
    const pending = this.pending;
    if (!pending) return undefined;
    return { barrier: pending.barrier, subtasks: new Set([...pending.expected].filter((k) => !pending.acks.has(k))) };
  }

  /**
   * A subtask finished. If the checkpoint in progress still waits for it, it is finished
   * in that checkpoint: a subtask ends only after sending everything downstream, and the
   * consumers' barrier alignment counts an ended channel as aligned after reading it all.
   */
  subtaskFinished(subtask: SubtaskId): void {
    const pending = this.pending;
    if (!pending) return;
    const key = keyOf(subtask);
    if (!pending.expected.has(key) || pending.acks.has(key)) return;
    pending.expected.delete(key);
    pending.finished.add(key);
    pending.stats.expected = pending.expected.size;
    if (pending.expected.size === 0) this.abort(pending, 'every subtask has finished');
    else if (pending.acks.size === pending.expected.size) void this.finish(pending);
  }

  acknowledge(subtask: SubtaskId, ack: CheckpointAck): void {
    const pending = this.pending;
    if (!pending || ack.checkpointId !== pending.stats.id) return;
    const key = keyOf(subtask);
    if (!pending.expected.has(key) || pending.acks.has(key)) return;
    pending.acks.set(key, { ...ack, ...subtask });
    if (ack.native && Object.keys(ack.native).length > 0) this.sharedState = true;
    pending.stats.subtasks.push({
      ...subtask,
      acknowledgedAfterMs: this.ctx.now() - pending.stats.triggeredAt,
      alignmentMs: ack.alignmentMs,
      syncMs: ack.syncMs,
      asyncMs: ack.asyncMs,
      bytes: ack.bytes + (ack.nativeBytes ?? 0),
    });
    pending.stats.bytes += ack.bytes + (ack.nativeBytes ?? 0);
    if (pending.acks.size === pending.expected.size) void this.finish(pending);
  }

  decline(subtask: SubtaskId, checkpointId: number, reason: string): void {
    const pending = this.pending;
    if (!pending || checkpointId !== pending.stats.id) return;
    // A trigger that came after the subtask finished: its 'finished' report came first and counts.
    if (pending.finished.has(keyOf(subtask))) return;
    this.abort(pending, `subtask ${subtask.subtaskIndex + 1} of task ${subtask.taskId} declined it: ${reason}`);
  }

  private async finish(pending: Pending): Promise<void> {
    const { stats } = pending;
    try {
      const handles: SubtaskStateHandle[] = [];
      const states = new Map<string, { states: Record<string, { kind: string; ttlMs?: number }>; hasOperatorState: boolean }>();
      for (const ack of pending.acks.values()) {
        for (const n of ack.nodes) {
          const known = states.get(n.nodeId) ?? { states: {}, hasOperatorState: false };
          Object.assign(known.states, n.states);
          known.hasOperatorState ||= n.hasOperatorState;
          states.set(n.nodeId, known);
        }
        handles.push({
          taskId: ack.taskId,
          subtaskIndex: ack.subtaskIndex,
          file: ack.file.slice(stats.directory.length + 1),
          bytes: ack.bytes,
          sha256: ack.sha256,
          nodes: ack.nodes.map((n) => n.nodeId),
          ...(ack.native ? { native: Object.fromEntries(Object.entries(ack.native).map(([nodeId, h]) => [nodeId, relativizeHandle(h, stats.directory)])) } : {}),
        });
      }
      if (this.pending !== pending) return; // aborted meanwhile
      const completedAt = this.ctx.now();
      const metadata: CheckpointMetadata = {
        formatVersion: 1,
        jobId: this.ctx.jobId,
        jobName: this.ctx.jobName,
        checkpointId: stats.id,
        savepoint: stats.savepoint,
        triggeredAt: stats.triggeredAt,
        completedAt,
        maxParallelism: this.ctx.maxParallelism,
        nodes: this.ctx.nodes().map(({ taskId, ...n }) => {
          const finishedSubtasks = Array.from({ length: n.parallelism }, (_, i) => i).filter((i) => pending.finished.has(keyOf({ taskId, subtaskIndex: i })));
          return {
            ...n,
            states: states.get(n.nodeId)?.states ?? {},
            hasOperatorState: states.get(n.nodeId)?.hasOperatorState ?? false,
            ...(finishedSubtasks.length > 0 ? { finishedSubtasks } : {}),
          };
        }),
        subtasks: handles.sort((a, b) => a.taskId - b.taskId || a.subtaskIndex - b.subtaskIndex),
      };
      await this.ctx.storage.complete(stats.directory, metadata);
      if (this.pending !== pending) return;
      this.pending = undefined;
      pending.cancelTimeout();
      stats.status = 'completed';
      stats.completedAt = completedAt;
      stats.durationMs = completedAt - stats.triggeredAt;
      this.lastEndedAt = completedAt;
      if (!stats.savepoint) this.latestCompleted = stats;
      this.ctx.notify(stats.id, 'complete');
      this.ctx.log('info', `checkpoint ${stats.id} completed`, { durationMs: stats.durationMs, bytes: stats.bytes, savepoint: stats.savepoint });
      pending.resolve(stats);
      this.wakeIdle();
      // The pause before the next checkpoint counts from completion, not from the end of pruning.
      this.scheduleNext();
      if (!stats.savepoint) {
        await this.ctx.storage.prune(this.ctx.jobId, this.ctx.settings.retained, undefined, this.sharedState).catch((error: unknown) => {
          this.ctx.log('warn', `could not remove old checkpoints: ${error instanceof Error ? error.message : String(error)}`);
        });
      }
    } catch (error) {
      if (this.pending === pending) this.abort(pending, `its metadata could not be written: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.scheduleNext();
    }
  }

  private abort(pending: Pending, reason: string): void {
    if (this.pending !== pending) return;
    this.pending = undefined;
    pending.cancelTimeout();
    pending.stats.status = 'failed';
    pending.stats.failure = reason;
    this.lastEndedAt = this.ctx.now();
    this.ctx.notify(pending.stats.id, 'aborted');
    this.ctx.log('warn', `checkpoint ${pending.stats.id} failed: ${reason}`);
    void this.ctx.storage.discard(pending.stats.directory);
    pending.reject(new Error(`checkpoint ${pending.stats.id} failed: ${reason}`));
    this.wakeIdle();
    this.scheduleNext();
  }

  private wakeIdle(): void {
    for (const wake of this.idle.splice(0)) wake();
  }

  private scheduleNext(): void {
    if (this.stopped || this.pending || this.cancelNext) return;
    const { intervalMs, minPauseMs } = this.ctx.settings;
    const at = Math.max(this.lastStartedAt + intervalMs, this.lastEndedAt + minPauseMs);
    const wait = Math.max(0, Number.isFinite(at) ? at - this.ctx.now() : intervalMs);
    this.cancelNext = this.ctx.setTimer(() => {
      this.cancelNext = undefined;
      // A waiting savepoint goes first; the savepoint's end schedules the next checkpoint.
      if (this.stopped || this.pending || this.savepointsWaiting > 0) return;
      this.trigger().catch(() => {
        // Logged by abort; the next one is scheduled there.
      });
    }, wait);
  }
}
