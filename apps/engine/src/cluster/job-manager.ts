/**
 * The job manager: validates and compiles a submitted graph, deploys it on the task
 * manager, follows its subtasks, runs its checkpoints, restarts it after failures,
 * and keeps what users look at (status, results, metrics, checkpoints, exceptions).
 * One job's failure never touches another.
 *
 *   submit ─▶ running ─▶ finished
 *               │ ▲
 *       failure │ │ redeploy from the newest valid checkpoint (restart strategy allows)
 *               ▼ │
 *            restarting ─▶ failed (strategy exhausted)        cancel ─▶ cancelled
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateGraph, type GraphProblem, type ValidatedGraph } from '@sluice/graph-model';
import { FINAL_CHECKPOINT_ID, implementedTypes, inRange, isImplemented, keyGroupOf, subtaskForKeyGroup, type Key, type KeyInspection } from '@sluice/operators';
import { CheckpointCoordinator, type CheckpointStats, type SubtaskId } from '../checkpoint/coordinator.js';
import { RestartStrategy } from '../checkpoint/restart.js';
import { planRestore, subtaskRestores, type RestorePlan } from '../checkpoint/restore.js';
import { CheckpointStorage, type StoredCheckpoint } from '../checkpoint/storage.js';
import { compilePlan } from '../compile/compile.js';
import type { ExecutionPlan } from '../compile/plan.js';
import { compileUserCode } from '../compile/user-code.js';
import { connectedConsumers } from '../runtime/partitioner.js';
import type { FailureReport, FromWorker } from '../runtime/protocol.js';
import type { TaskMetrics } from '../runtime/task.js';
import { writeAtomicallySync } from '../runtime/state-files.js';
import { sandboxAvailability } from '../runtime/sandbox.js';
import { sandboxUnsupported } from '../compile/sandbox-support.js';
import { LimitExceededError, parallelismProblems, type JobLimits } from './limits.js';
import type { TaskExecutor } from './task-manager.js';
import { endpointAccess, processModeAvailability, processModeProblems } from './job-process.js';
import { JobHotKeys, JobTaps } from './live-debug.js';

export type JobStatus = 'running' | 'restarting' | 'finished' | 'failed' | 'cancelled';

export interface CollectedRow {
  readonly value: unknown;
  readonly timestamp: number;
  readonly kind: number;
}

export interface ExceptionEntry {
  readonly at: number;
  readonly attempt: number;
  readonly failure: FailureReport;
  /** Whether the job restarted after it. */
  readonly restarted: boolean;
}

/** How long a deployed subtask may take to start before its attempt fails (a stuck slot). */
const START_TIMEOUT_MS = 10_000;

/** One key's state in a running job (Job.queryState). */
export interface StateQueryAnswer extends KeyInspection {
  readonly nodeId: string;
  readonly key: Key;
  readonly keyGroup: number;
  readonly subtask: number;
  readonly attempt: number;
}

export class StateQueryError extends Error {
  constructor(
    readonly reason: 'no-node' | 'not-keyed' | 'not-running',
    message: string,
  ) {
    super(message);
    this.name = 'StateQueryError';
  }
}

export class SubmissionError extends Error {
  constructor(
    message: string,
    readonly problems: readonly Pick<GraphProblem, 'path' | 'message' | 'nodeId'>[],
  ) {
    super(message);
    this.name = 'SubmissionError';
  }
}

export interface JobSnapshot {
  readonly id: string;
  readonly name: string;
  readonly status: JobStatus;
  readonly startedAt: number;
  readonly endedAt: number | undefined;
  readonly restarts: number;
  readonly failure: FailureReport | undefined;
}

export interface SubmitOptions {
  /** A checkpoint or savepoint directory to start from. */
  readonly restoreFrom?: string | undefined;
  /** Drop state of nodes the graph no longer has instead of refusing to start. */
  readonly allowNonRestoredState?: boolean | undefined;
  /** Reuse a job id (resuming a job after an engine restart). */
  readonly jobId?: string | undefined;
  /** The tenant that owns the job (a hosted engine's tenant token submitted it); undefined: the admin's. */
  readonly tenant?: string | undefined;
}

export interface JobManagerOptions {
  /** Where checkpoints and savepoints go; default a directory under the OS temp dir. */
  readonly dataDir?: string;
  readonly now?: () => number;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** What one job may take (limits.ts); absent: unlimited. */
  readonly limits?: JobLimits;
  /**
   * The engine's own admission rules for a valid graph of a tenant (undefined: the admin's),
   * such as a hosted engine's Kafka and file allow-lists: any problem refuses the job at
   * submit and resume (check and dry run apply the admin's rules), with the problems' paths.
   */
  readonly admit?: (graph: ValidatedGraph, tenant: string | undefined) => readonly Pick<GraphProblem, 'path' | 'message' | 'nodeId'>[];
}

export class Job {
  status: JobStatus = 'running';
  failure: FailureReport | undefined;
  endedAt: number | undefined;
  readonly startedAt: number;
  restarts = 0;
  attempt = 0;
  readonly exceptions: ExceptionEntry[] = [];
  /** Collect-sink name → rows, oldest dropped beyond the sink's maxRecords. */
  readonly collected = new Map<string, CollectedRow[]>();
  readonly droppedCollected = new Map<string, number>();
  readonly printed: string[] = [];
  /** Latest metrics per `${taskId}/${subtask}` of the current attempt. */
  readonly metrics = new Map<string, { taskId: number; subtaskIndex: number; metrics: TaskMetrics }>();
  readonly done: Promise<JobStatus>;
  /** The restore plan the job started with, if it started from a checkpoint or savepoint. */
  restorePlan: RestorePlan | undefined;
  /** The owning tenant (service/tenants.ts); undefined: the admin's. Kept in the job record, so a resumed job keeps it. */
  tenant: string | undefined;
  /** Most keyed-state entries over all subtasks (JobLimits.maxStateEntries). */
  maxStateEntries: number | undefined;
  onPrint: ((line: string) => void) | undefined;
  coordinator: CheckpointCoordinator | undefined;
  private resolveDone!: (status: JobStatus) => void;
  private running = 0;
  private readonly finishedSubtasks = new Set<string>();
  /** Subtasks at their end that wait for the job's end to commit their last output. */
  private readonly awaitingFinal = new Set<string>();
  private readonly startedSubtasks = new Set<string>();
  private startWatchdog: NodeJS.Timeout | undefined;
  private readonly maxCollected: Map<string, number>;
  private readonly restartStrategy: RestartStrategy;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Where to restart from when no checkpoint was completed yet: the savepoint the job started from. */
  private initialRestore: StoredCheckpoint | undefined;
  /** Record taps on edges of the running job (live-debug.ts). */
  readonly taps: JobTaps;
  /** Key counting on keyed exchanges while someone subscribes (live-debug.ts). */
  readonly hotKeys: JobHotKeys;

  constructor(
    readonly id: string,
    readonly plan: ExecutionPlan,
    readonly graph: ValidatedGraph,
    private readonly taskManager: TaskExecutor,
    private readonly storage: CheckpointStorage,
    private readonly now: () => number,
    private readonly log: NonNullable<JobManagerOptions['log']>,
    /** Commit ids applied so far, shared by all jobs of the job manager (like an external system's transaction ids). */
    private readonly committed: Set<string>,
  ) {
    this.startedAt = now();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.maxCollected = new Map(
      graph.nodes.filter((n) => n.definition.type === 'collect-sink').map((n) => [(n.config as { name: string }).name, (n.config as { maxRecords: number }).maxRecords]),
    );
    this.restartStrategy = new RestartStrategy(graph.job.restartStrategy);
    const send: ConstructorParameters<typeof JobTaps>[2] = (subtasks, message) => this.taskManager.sendToSubtasks(this.id, this.attempt, subtasks, message);
    this.taps = new JobTaps(plan, graph, send);
    this.hotKeys = new JobHotKeys(plan, graph, send, now);
  }

  get name(): string {
    return this.plan.jobName;
  }

  snapshot(): JobSnapshot {
    return { id: this.id, name: this.name, status: this.status, startedAt: this.startedAt, endedAt: this.endedAt, restarts: this.restarts, failure: this.failure };
  }

  /** Where the current attempt stands: for diagnostics and the job detail view. */
  progress(): { attempt: number; subtasks: number; running: number; finished: string[]; checkpointInProgress: boolean } {
    const subtasks = this.plan.tasks.reduce((n, t) => n + t.parallelism, 0);
    return { attempt: this.attempt, subtasks, running: this.running, finished: [...this.finishedSubtasks], checkpointInProgress: this.coordinator?.inProgress ?? false };
  }

  /** Rows of a collect sink, in arrival order. */
  results(name: string): CollectedRow[] {
    return this.collected.get(name) ?? [];
  }

  /** Checkpoint statistics, oldest first. */
  checkpoints(): readonly CheckpointStats[] {
    return this.coordinator?.history ?? [];
  }

  /**
   * Queryable state: every state value and pending timer of one key in a keyed operator,
   * read from the subtask that owns the key's key group (between two of its records).
   * Rejects with a StateQueryError that says why (no such node, not keyed, not running).
   */
  async queryState(nodeId: string, key: Key): Promise<StateQueryAnswer> {
    const node = this.graph.nodes.find((n) => n.id === nodeId);
    if (!node) throw new StateQueryError('no-node', `job '${this.id}' has no node '${nodeId}'`);
    const task = this.plan.tasks.find((t) => t.operators.some((o) => o.nodeId === nodeId));
    const keyed = task && task.operators[0]?.nodeId === nodeId && task.keys.some((k) => k !== undefined);
    if (!task || !keyed) {
      const keyedNodes = this.plan.tasks.filter((t) => t.keys.some((k) => k !== undefined)).map((t) => `'${t.operators[0]?.nodeId ?? ''}'`);
      throw new StateQueryError(
        'not-keyed',
        `node '${nodeId}' (${node.definition.type}) has no keyed state: only an operator right after a key-by keeps state per key` +
          (keyedNodes.length > 0 ? `; keyed operators of this job: ${keyedNodes.join(', ')}` : '; this job has no keyed operator'),
      );
    }
    if (this.status !== 'running') throw new StateQueryError('not-running', `job '${this.id}' is ${this.status}; state is read from running subtasks`);
    const maxParallelism = this.graph.job.maxParallelism;
    const keyGroup = keyGroupOf(key, maxParallelism);
    const subtaskIndex = task.subtasks.find((s) => s.keyGroupRange && inRange(s.keyGroupRange, keyGroup))?.index ?? subtaskForKeyGroup(keyGroup, maxParallelism, task.parallelism);
    if (this.finishedSubtasks.has(`${task.id}/${subtaskIndex}`)) {
      throw new StateQueryError('not-running', `subtask ${subtaskIndex} of node '${nodeId}' (owner of key group ${keyGroup}) has finished; its state is gone`);
    }
    try {
      const inspection = await this.taskManager.inspectState({ jobId: this.id, attempt: this.attempt, taskId: task.id, subtaskIndex }, nodeId, key);
      return { nodeId, key, keyGroup, subtask: subtaskIndex, attempt: this.attempt, ...inspection };
    } catch (error) {
      throw new StateQueryError('not-running', `cannot read state of node '${nodeId}' subtask ${subtaskIndex}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Takes a savepoint now (needs checkpointing configured, so that barriers are understood). */
  async triggerSavepoint(): Promise<CheckpointStats> {
    if (this.status !== 'running') throw new Error(`the job is ${this.status}; savepoints are taken of running jobs`);
    if (!this.coordinator) throw new Error('savepoints need checkpointing enabled in the job config');
    return this.coordinator.trigger({ savepoint: true });
  }

  /**
   * Stop-with-savepoint: periodic checkpoints stop, sources emit nothing after the
   * savepoint's barrier, and once the savepoint completed (committing exactly-once sinks
   * up to it) the job is cancelled. A restore from the savepoint then continues exactly
   * where this job stopped. With `drain`, sources emit the final watermark just before
   * the barrier (Flink's `stop --drain`): every event-time window fires and its results
   * are committed; use it to retire a pipeline, not to upgrade one (a restored job would
   * see event time start again below the windows that already fired).
   */
  async stopWithSavepoint(options: { drain?: boolean } = {}): Promise<CheckpointStats> {
    if (this.status !== 'running') throw new Error(`the job is ${this.status}; only a running job can be stopped with a savepoint`);
    const coordinator = this.coordinator;
    if (!coordinator) throw new Error('savepoints need checkpointing enabled in the job config');
    coordinator.pausePeriodic();
    await coordinator.settle();
    try {
      const savepoint = await coordinator.trigger({ savepoint: true, stop: true, drain: options.drain === true });
      this.cancel();
      return savepoint;
    } catch (error) {
      // The sources may have stopped already: the job cannot just go on; restart it.
      this.onFailure({ message: `stop-with-savepoint failed: ${error instanceof Error ? error.message : String(error)}` }, { taskId: -1, subtaskIndex: -1 });
      throw error;
    }
  }

  cancel(): void {
    if (this.status !== 'running' && this.status !== 'restarting') return;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.coordinator?.stop('the job was cancelled');
    this.taskManager.cancel(this.id);
    this.end('cancelled');
  }

  /** @internal Deploys the first attempt, restoring from a checkpoint or savepoint if given. */
  start(restore: StoredCheckpoint | undefined): void {
    this.initialRestore = restore;
    if (this.graph.job.checkpointing.enabled) {
      const settings = this.graph.job.checkpointing;
      const subtasks = () => this.plan.tasks.flatMap((t) => t.subtasks.map((s) => ({ taskId: t.id, subtaskIndex: s.index })));
      const running = () => subtasks().filter((s) => !this.finishedSubtasks.has(`${s.taskId}/${s.subtaskIndex}`));
      this.coordinator = new CheckpointCoordinator(
        {
          jobId: this.id,
          jobName: this.name,
          maxParallelism: this.graph.job.maxParallelism,
          storage: this.storage,
          settings,
          // Finished subtasks are recorded as finished (a restore does not run them again).
          subtasks: running,
          sources: () => running().filter((s) => this.startsBarriers(s)),
          finished: () => subtasks().filter((s) => this.finishedSubtasks.has(`${s.taskId}/${s.subtaskIndex}`)),
          nodes: () => this.plan.tasks.flatMap((t) => t.operators.map((o) => ({ nodeId: o.nodeId, type: o.type, parallelism: t.parallelism, taskId: t.id }))),
          trigger: (barrier, sources) => {
            if (sources.length === 0) {
              this.coordinator?.decline({ taskId: -1, subtaskIndex: -1 }, barrier.id, 'no running subtask can start it');
              return;
            }
            this.taskManager.triggerCheckpoint(this.id, this.attempt, sources, barrier);
          },
          notify: (checkpointId, outcome) => this.taskManager.notifyCheckpoint(this.id, this.attempt, checkpointId, outcome),
          now: this.now,
          setTimer: (callback, ms) => {
            const timer = setTimeout(callback, ms);
            timer.unref();
            return () => clearTimeout(timer);
          },
          log: (level, message, fields) => this.log(level, message, { job: this.id, ...fields }),
        },
        (restore?.id ?? 0) + 1,
      );
    }
    this.deploy(restore);
  }

  /** Producer subtasks of each subtask (`${taskId}/${subtaskIndex}`), from the channels the task manager connects. */
  private producers: Map<string, string[]> | undefined;

  private producersOf(subtask: SubtaskId): readonly string[] {
    if (!this.producers) {
      const producers = new Map<string, string[]>();
      for (const exchange of this.plan.exchanges) {
        const from = this.plan.tasks[exchange.fromTask];
        const to = this.plan.tasks[exchange.toTask];
        if (!from || !to) continue;
        for (let i = 0; i < from.parallelism; i++) {
          for (const j of connectedConsumers(exchange.partitioning, i, from.parallelism, to.parallelism)) {
            const key = `${to.id}/${j}`;
            producers.set(key, [...(producers.get(key) ?? []), `${from.id}/${i}`]);
          }
        }
      }
      this.producers = producers;
    }
    return this.producers.get(`${subtask.taskId}/${subtask.subtaskIndex}`) ?? [];
  }

  /**
   * Where a checkpoint's barrier starts (Flink's "new sources" after tasks finished): a
   * source, a subtask waiting for its final commit (its input ended: no barrier reaches it
   * through a channel), or one whose producers all ended (finished or waiting to commit).
   */
  private startsBarriers(subtask: SubtaskId): boolean {
    const key = `${subtask.taskId}/${subtask.subtaskIndex}`;
    if (this.awaitingFinal.has(key)) return true;
    return this.producersOf(subtask).every((p) => this.finishedSubtasks.has(p) || this.awaitingFinal.has(p));
  }

  /** A subtask finished or ended its input: the checkpoint in progress may now have to start at subtasks it waits for. */
  private triggerWhereProducersEnded(): void {
    const waiting = this.coordinator?.waiting();
    if (!waiting) return;
    const at = [...waiting.subtasks].map((key) => {
      const [taskId, subtaskIndex] = key.split('/').map(Number) as [number, number];
      return { taskId, subtaskIndex };
    });
    // A subtask that has the barrier already (or a newer one) ignores the trigger.
    const start = at.filter((s) => this.plan.tasks[s.taskId]?.inputs.length !== 0 && this.startsBarriers(s));
    if (start.length > 0) this.taskManager.triggerCheckpoint(this.id, this.attempt, start, waiting.barrier);
  }

  private deploy(restore: StoredCheckpoint | undefined): void {
    this.running = this.plan.tasks.reduce((n, t) => n + t.parallelism, 0);
    this.finishedSubtasks.clear();
    this.awaitingFinal.clear();
    this.startedSubtasks.clear();
    this.metrics.clear();
    const restoreFor = restore ? subtaskRestores(restore, this.plan) : () => undefined;
    // A native restore also reads the shared files its handles list, beside the checkpoint directory.
    const readable = restore ? [...new Set([restore.directory, ...this.storage.nativeHandles(restore).flatMap((h) => [h.privateDirectory, h.sharedDirectory])])] : [];
    const files = { writable: this.storage.jobDirectories(this.id), readable, endpoints: endpointAccess(this.graph), localState: this.storage.localStateDirectory(this.id) };
    const placements = this.taskManager.deploy(this.plan, this.attempt, restoreFor, (message) => this.receive(message), files);
    if (this.attempt > 0) {
      this.taps.redeploy();
      this.hotKeys.redeploy();
    }
    this.coordinator?.start();
    // A subtask that never starts (a slot that does not respond) must not hang the job:
    // fail the attempt, replace the slot, and let the restart strategy decide.
    const attempt = this.attempt;
    if (this.startWatchdog) clearTimeout(this.startWatchdog);
    this.startWatchdog = setTimeout(() => {
      this.startWatchdog = undefined;
      if (this.attempt !== attempt || this.status !== 'running') return;
      const missing = placements.filter((p) => !this.startedSubtasks.has(`${p.taskId}/${p.subtaskIndex}`));
      if (missing.length === 0) return;
      const slots = [...new Set(missing.map((p) => p.slot))];
      void this.taskManager.recycleSlots(this.id, slots);
      const first = missing[0] as { taskId: number; subtaskIndex: number; slot: number };
      this.onFailure(
        { message: `${missing.length} subtask(s) did not start within ${START_TIMEOUT_MS} ms (first: subtask ${first.subtaskIndex + 1} of task ${first.taskId} on slot ${first.slot}); slot(s) ${slots.join(', ')} replaced` },
        first,
      );
    }, START_TIMEOUT_MS);
    this.startWatchdog.unref();
  }

  /** @internal */
  receive(message: FromWorker): void {
    // Commits are idempotent by id and may come from an attempt that just ended.
    if (message.type === 'collect' && message.commitId !== undefined) {
      if (this.committed.has(message.commitId)) return;
      this.committed.add(message.commitId);
      this.addRows(message.name, message.rows);
      return;
    }
    if (message.type === 'diagnosis' || message.type === 'heartbeat' || message.type === 'state-inspection' || message.attempt !== this.attempt) return;
    switch (message.type) {
      case 'collect':
        this.addRows(message.name, message.rows);
        break;
      case 'print':
        for (const line of message.lines) {
          this.printed.push(line);
          this.onPrint?.(line);
        }
        if (this.printed.length > 10_000) this.printed.splice(0, this.printed.length - 10_000);
        break;
      case 'metrics':
        for (const t of message.tasks) this.metrics.set(`${t.taskId}/${t.subtaskIndex}`, t);
        this.checkStateEntries();
        break;
      case 'checkpoint-ack':
        this.coordinator?.acknowledge(message, message.ack);
        break;
      case 'checkpoint-declined':
        this.coordinator?.decline(message, message.checkpointId, message.reason);
        break;
      case 'finished':
        this.finishedSubtasks.add(`${message.taskId}/${message.subtaskIndex}`);
        this.awaitingFinal.delete(`${message.taskId}/${message.subtaskIndex}`);
        if (--this.running === 0 && this.status === 'running') {
          this.coordinator?.stop('the job finished');
          this.taskManager.forgetAttempt(this.id, this.attempt);
          this.end('finished');
        } else {
          this.coordinator?.subtaskFinished(message);
          this.triggerWhereProducersEnded();
          this.commitFinalWhenAllEnded();
        }
        break;
      case 'started':
        this.startedSubtasks.add(`${message.taskId}/${message.subtaskIndex}`);
        break;
      case 'awaiting-final-commit':
        this.awaitingFinal.add(`${message.taskId}/${message.subtaskIndex}`);
        this.triggerWhereProducersEnded();
        this.commitFinalWhenAllEnded();
        break;
      case 'cancelled':
        break;
      case 'failed':
        this.onFailure(message.failure, message);
        break;
      case 'log':
        this.log(message.level, message.message, { job: this.id, ...message.fields });
        break;
      case 'tap-records':
        this.taps.receive(message.subtaskIndex, message.taps);
        break;
      case 'hot-keys':
        this.hotKeys.receive(message.taskId, message.subtaskIndex, message.reports);
        break;
    }
  }

  /**
   * Once every subtask still running is only waiting to commit, nothing can replay any more:
   * the job's last output becomes visible (Flink's final checkpoint, without the snapshot).
   */
  private commitFinalWhenAllEnded(): void {
    if (this.awaitingFinal.size === 0 || this.awaitingFinal.size !== this.running || this.status !== 'running') return;
    this.coordinator?.stop('the job reached its end');
    this.taskManager.notifyCheckpoint(this.id, this.attempt, FINAL_CHECKPOINT_ID, 'complete');
  }

  private addRows(name: string, tuples: ReadonlyArray<readonly [unknown, number, number]>): void {
    let rows = this.collected.get(name);
    if (!rows) this.collected.set(name, (rows = []));
    for (const [value, timestamp, kind] of tuples) rows.push({ value, timestamp, kind });
    const max = this.maxCollected.get(name) ?? Number.POSITIVE_INFINITY;
    if (rows.length > max) {
      const excess = rows.length - max;
      rows.splice(0, excess);
      this.droppedCollected.set(name, (this.droppedCollected.get(name) ?? 0) + excess);
    }
  }

  /**
   * Keyed-state entries of the current attempt, from every subtask's latest report. Over
   * the limit the job fails without a restart: it would restore the same state and fail again.
   */
  private checkStateEntries(): void {
    const limit = this.maxStateEntries;
    if (limit === undefined || this.status !== 'running') return;
    let total = 0;
    const byNode = new Map<string, number>();
    for (const { metrics } of this.metrics.values()) {
      for (const op of metrics.operators) {
        const entries = op.stateEntries;
        total += entries;
        if (entries > 0) byNode.set(op.nodeId, (byNode.get(op.nodeId) ?? 0) + entries);
      }
    }
    if (total <= limit) return;
    const [nodeId, most] = [...byNode].sort((a, b) => b[1] - a[1])[0] ?? ['?', 0];
    const error = new LimitExceededError(
      `job '${this.id}' holds ${total} keyed-state entries, above this engine's limit of ${limit} per job (limits.maxStateEntries); ` +
        `operator '${nodeId}' holds the most (${most}): bound the key space, shorten state TTL or window sizes, or raise the limit`,
    );
    this.failWithoutRestart({ message: error.message, jobId: this.id, nodeId }, { taskId: -1, subtaskIndex: -1 });
  }

  /** Fails the job for good (a limit it exceeded would be exceeded again after a restart). */
  private failWithoutRestart(failure: FailureReport, where: SubtaskId): void {
    if (this.status !== 'running' && this.status !== 'restarting') return;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.coordinator?.stop('the job exceeded a limit');
    this.taskManager.cancel(this.id, this.attempt);
    this.taskManager.forgetAttempt(this.id, this.attempt);
    this.exceptions.push({ at: this.now(), attempt: this.attempt, failure, restarted: false });
    if (this.exceptions.length > 100) this.exceptions.shift();
    this.failure = failure;
    this.log('error', `job ${this.id} failed: ${failure.message}; not restarting (a limit was exceeded)`, { task: where.taskId });
    this.end('failed');
  }

  private onFailure(failure: FailureReport, where: SubtaskId): void {
    if (this.status !== 'running') return;
    this.coordinator?.stop('a task failed');
    this.taskManager.cancel(this.id, this.attempt);
    this.taskManager.forgetAttempt(this.id, this.attempt);
    const decision = this.restartStrategy.onFailure(this.now());
    this.exceptions.push({ at: this.now(), attempt: this.attempt, failure, restarted: decision.restart });
    if (this.exceptions.length > 100) this.exceptions.shift();
    if (!decision.restart) {
      this.failure = failure;
      this.log('error', `job ${this.id} failed: ${failure.message}; not restarting because ${decision.reason ?? 'of its restart strategy'}`, { task: where.taskId });
      this.end('failed');
      return;
    }
    this.status = 'restarting';
    this.restarts++;
    this.log('warn', `job ${this.id} failed and restarts in ${decision.delayMs} ms: ${failure.message}`, { attempt: this.attempt });
    this.restartTimer = setTimeout(() => void this.restart(), decision.delayMs);
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.status !== 'restarting') return;
    let restore: StoredCheckpoint | undefined;
    if (this.graph.job.checkpointing.enabled) {
      restore = await this.storage.latestValid(this.id, (id, reason) => this.log('warn', `checkpoint ${id} of job ${this.id} cannot be used: ${reason}; trying an older one`));
    }
    restore ??= this.initialRestore;
    // The job may have been cancelled while the checkpoint was being read.
    if (!this.isRestarting()) return;
    this.attempt++;
    this.status = 'running';
    try {
      this.deploy(restore);
    } catch (error) {
      this.onFailure({ message: `restart failed: ${error instanceof Error ? error.message : String(error)}` }, { taskId: -1, subtaskIndex: -1 });
    }
  }

  private isRestarting(): boolean {
    return this.status === 'restarting';
  }

  private end(status: JobStatus): void {
    this.status = status;
    this.endedAt = this.now();
    this.taps.endAll('job-ended');
    this.resolveDone(status);
  }
}

/**
 * What the job manager remembers of a job on disk (`<dataDir>/jobs/<id>.json`), so that an
 * engine restarted after a crash can pick the job up again from its newest checkpoint.
 */
export interface JobRecord {
  readonly id: string;
  readonly graph: unknown;
  readonly submittedAt: number;
  readonly restoreFrom?: string | undefined;
  readonly allowNonRestoredState?: boolean | undefined;
  readonly status: JobStatus;
  /** The owning tenant; absent: the admin's (and every record written before tenants existed). */
  readonly tenant?: string | undefined;
}

export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly committed = new Set<string>();
  private readonly jobsDir: string;
  readonly storage: CheckpointStorage;
  private readonly now: () => number;
  private readonly log: NonNullable<JobManagerOptions['log']>;
  readonly limits: JobLimits;
  private readonly admit: JobManagerOptions['admit'];

  constructor(
    private readonly taskManager: TaskExecutor,
    options: JobManagerOptions = {},
  ) {
    this.limits = options.limits ?? {};
    this.admit = options.admit;
    const dataDir = options.dataDir ?? join(tmpdir(), `sluice-${process.pid}`);
    mkdirSync(dataDir, { recursive: true });
    this.storage = new CheckpointStorage(dataDir);
    this.jobsDir = join(dataDir, 'jobs');
    mkdirSync(this.jobsDir, { recursive: true });
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
  }

  /** Validates, compiles and starts a job graph. Throws SubmissionError listing every problem. */
  async submit(graph: unknown, options: SubmitOptions = {}): Promise<Job> {
    const { validated, plan } = await this.prepare(graph, options.jobId ?? randomUUID(), options.tenant);
    let restore: StoredCheckpoint | undefined;
    let restorePlan: RestorePlan | undefined;
    if (options.restoreFrom !== undefined) {
      try {
        restore = await this.storage.load(options.restoreFrom);
      } catch (error) {
        throw new SubmissionError(`cannot restore: ${error instanceof Error ? error.message : String(error)}`, []);
      }
      restorePlan = planRestore(restore, validated, options.allowNonRestoredState === true);
      if (restorePlan.problems.length > 0) {
        throw new SubmissionError(
          `the checkpoint does not fit the graph: ${restorePlan.problems.join('; ')}`,
          restorePlan.entries
            .filter((e) => e.status === 'incompatible' || e.status === 'dropped')
            .map((e) => ({ path: `$`, message: e.reason ?? e.status, nodeId: e.nodeId })),
        );
      }
    }
    const job = new Job(plan.jobId, plan, validated, this.taskManager, this.storage, this.now, this.log, this.committed);
    job.restorePlan = restorePlan;
    job.tenant = options.tenant;
    job.maxStateEntries = this.limits.maxStateEntries;
    this.jobs.set(job.id, job);
    const record = { id: job.id, graph, submittedAt: job.startedAt, restoreFrom: options.restoreFrom, allowNonRestoredState: options.allowNonRestoredState, tenant: options.tenant };
    this.remember({ ...record, status: 'running' });
    void job.done.then((status) => this.remember({ ...record, status }));
    job.start(restore);
    void job.done.then(() => setTimeout(() => this.taskManager.release(job.id), 1000).unref());
    return job;
  }

  /** Everything submit checks before it starts a job (validation, limits, the sandbox, user code), without starting one. Throws SubmissionError. */
  async check(graph: unknown): Promise<void> {
    await this.prepare(graph, 'check');
  }

  /** The restore plan a graph would get from a checkpoint or savepoint, without starting anything. */
  async dryRunRestore(graph: unknown, restoreFrom: string, allowNonRestoredState = false): Promise<RestorePlan> {
    const { validated } = await this.prepare(graph, 'dry-run');
    return planRestore(await this.storage.load(restoreFrom), validated, allowNonRestoredState);
  }

  /**
   * After an engine crash: starts every job that was running when the engine stopped, under
   * its old id, from its newest valid checkpoint (or the savepoint it started from).
   */
  async resume(): Promise<Job[]> {
    const resumed: Job[] = [];
    for (const record of this.records()) {
      if (record.status !== 'running' && record.status !== 'restarting') continue;
      if (this.jobs.has(record.id)) continue;
      const latest = await this.storage.latestValid(record.id, (id, reason) => this.log('warn', `checkpoint ${id} of job ${record.id} cannot be used: ${reason}; trying an older one`));
      const restoreFrom = latest?.directory ?? record.restoreFrom;
      this.log('info', `resuming job ${record.id}${restoreFrom ? ` from ${restoreFrom}` : ' from the beginning (no checkpoint)'}`);
      try {
        resumed.push(await this.submit(record.graph, { jobId: record.id, restoreFrom, allowNonRestoredState: record.allowNonRestoredState, tenant: record.tenant }));
      } catch (error) {
        this.log('error', `cannot resume job ${record.id}: ${error instanceof Error ? error.message : String(error)}`);
        this.remember({ ...record, status: 'failed' });
      }
    }
    return resumed;
  }

  /** Every job this job manager's data directory knows of. */
  records(): JobRecord[] {
    const records: JobRecord[] = [];
    for (const name of readdirSync(this.jobsDir)) {
      if (!name.endsWith('.json')) continue;
      try {
        records.push(JSON.parse(readFileSync(join(this.jobsDir, name), 'utf8')) as JobRecord);
      } catch (error) {
        this.log('warn', `ignoring unreadable job record ${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return records.sort((a, b) => a.submittedAt - b.submittedAt);
  }

  private remember(record: JobRecord): void {
    writeAtomicallySync(join(this.jobsDir, `${record.id}.json`), `${JSON.stringify(record)}\n`);
  }

  /** The record of a job this data directory knows of (running or not, resumed or not); undefined when there is none. */
  record(id: string): JobRecord | undefined {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.jobsDir, `${id}.json`), 'utf8')) as JobRecord;
    } catch {
      return undefined;
    }
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  private async prepare(graph: unknown, jobId: string, tenant?: string): Promise<{ validated: ValidatedGraph; plan: ExecutionPlan }> {
    const result = validateGraph(graph);
    if (!result.ok) {
      const errors = result.problems.filter((p) => p.severity === 'error');
      throw new SubmissionError(`the job graph has ${errors.length} error${errors.length === 1 ? '' : 's'}`, errors);
    }
    // Key-by nodes compile into hash exchanges; they never run as operators.
    const missing = result.graph.nodes.filter((n) => n.definition.keysStream !== true && !isImplemented(n.definition.type));
    if (missing.length > 0) {
      throw new SubmissionError(
        `this engine cannot run ${[...new Set(missing.map((n) => n.definition.type))].join(', ')} yet (it runs ${implementedTypes().join(', ')})`,
        missing.map((n) => ({ path: `nodes[${n.index}].type`, message: `operator type '${n.definition.type}' is not implemented by this engine yet`, nodeId: n.id })),
      );
    }
    const refused = this.admit?.(result.graph, tenant) ?? [];
    if (refused.length > 0) throw new SubmissionError(`${refused[0]?.path ?? '$'}: ${refused[0]?.message ?? 'refused'}`, refused);
    const tooWide = parallelismProblems(result.graph, this.limits.maxParallelism);
    if (tooWide.length > 0) throw new SubmissionError(tooWide[0]?.message ?? 'parallelism above the limit', tooWide);
    if (this.taskManager.userCode.mode === 'sandboxed') {
      const sandbox = sandboxAvailability();
      if (!sandbox.available) throw new SubmissionError(`cannot run job '${result.graph.name}': ${sandbox.reason}`, []);
      const unsupported = sandboxUnsupported(result.graph);
      if (unsupported.length > 0) throw new SubmissionError(unsupported[0]?.message ?? 'user code needs what the sandbox does not offer', unsupported);
    }
    if (this.taskManager.userCode.mode === 'process') {
      const available = processModeAvailability();
      if (!available.available) throw new SubmissionError(`cannot run job '${result.graph.name}': ${available.reason}`, []);
      const unsupported = processModeProblems(result.graph, this.storage.root);
      if (unsupported.length > 0) throw new SubmissionError(unsupported[0]?.message ?? 'the job needs what a job process does not offer', unsupported);
    }
    const code = await compileUserCode(result.graph);
    if (!code.ok) throw new SubmissionError('user code does not compile', code.problems);
    return { validated: result.graph, plan: compilePlan(result.graph, { jobId, code: code.code }) };
  }
}
