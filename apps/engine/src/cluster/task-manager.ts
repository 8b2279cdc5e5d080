/**
 * A task manager: N slots, each a worker thread. Deploying a job allocates the shared
 * memory of every channel and bell, places subtasks on slots, and sends each slot its
 * deployments. Everything a slot needs crosses in one structured-clone message, so a
 * slot could later live in another process with the same protocol over a socket.
 *
 * A slot whose worker dies (out of memory, a crash) fails every job attempt that had a
 * subtask there and is replaced by a fresh worker, so restarts have somewhere to go.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { connectedConsumers } from '../runtime/partitioner.js';
import { allocateBell, allocateChannel } from '../runtime/channel.js';
import type { Barrier } from '../runtime/messages.js';
import type { FromWorker, SubtaskAddress, SubtaskDiagnosis, ToWorker } from '../runtime/protocol.js';
import type { InputChannelSpec, OutputChannelSpec, SubtaskRestore, TaskDeployment } from '../runtime/task.js';
import type { ExecutionPlan } from '../compile/plan.js';
import type { Key, KeyInspection } from '@sluice/operators';
import type { UserCodeSettings } from '../runtime/sandbox.js';
import type { SlotSettings } from '../runtime/worker.js';

const DEFAULT_YOUNG_GENERATION_MB = 8;

export interface TaskManagerOptions {
  /** Worker threads; default: one per core. */
  readonly slots?: number;
  /** Heap limit of each slot, in MB. */
  readonly maxHeapMb?: number;
  /**
   * Young generation of each slot's heap, in MB (default 8). Records are short-lived, so
   * a small young generation is collected often and cheaply; V8's default lets it grow
   * to tens of MB per worker, and the process's memory then swings by that much with
   * every scavenge (measured: ±16% RSS over 5 minutes, ±4% with 8 MB; bench memory-soak).
   */
  readonly workerYoungGenerationMb?: number;
  /**
   * Where subtasks keep RocksDB keyed state. On the checkpoint storage's file system, SST
   * files are hard-linked into checkpoints instead of copied. Default: <tmp>/sluice-state.
   */
  readonly localStateDirectory?: string;
  /**
   * A slot whose worker answers no heartbeat for this long is replaced and the job attempts
   * on it fail over, as Flink does when a TaskManager's heartbeat times out. A worker's
   * event loop is also its task thread, so this catches a user function that never
   * returns as well as a wedged worker. Default 30 s; 0 turns it off.
   */
  readonly heartbeatTimeoutMs?: number;
  /**
   * How user functions run: 'trusted' (in the slot's own thread, the default for embedded
   * and local use) or 'sandboxed' (an isolate per job with CPU and memory limits; the
   * hosted default of `sluice serve`).
   */
  readonly userCode?: UserCodeSettings;
  /**
   * Largest record, in msgpack bytes, a sandboxed user function may emit or an exchange may
   * carry (JobLimits.maxRecordBytes); a larger one fails its job. Default: unlimited across
   * exchanges, 1 MiB for sandboxed functions.
   */
  readonly maxRecordBytes?: number;
  /**
   * Whether slots fsync the state files they write (default true). A job process runs
   * under Node's permission model, which refuses fsync (Node 20 and 24); its parent syncs
   * each acknowledged file instead, before the checkpoint can complete.
   */
  readonly durableWrites?: boolean;
  /**
   * A Unix socket through which the slots' Kafka clients reach their brokers (a job
   * process has no network; the engine's KafkaRelay listens there).
   */
  readonly kafkaRelay?: string;
}

const HEARTBEAT_INTERVAL_MS = 1000;

export type JobListener = (message: FromWorker) => void;

/** Subtasks of one task, by task id and index. */
export type SubtaskList = ReadonlyArray<{ readonly taskId: number; readonly subtaskIndex: number }>;

/** What one job may reach: its checkpoint and savepoint directories, the state it restores from, and what its graph's endpoints name. */
export interface JobAccess {
  /** Directories the job's subtasks write state files into (and read back from). */
  readonly writable: readonly string[];
  /** Directories of the state files the first deployment restores from (a savepoint of another job, say). */
  readonly readable: readonly string[];
  /**
   * What the graph's endpoints need: paths its file sources read (files or directories),
   * directories its file sinks write, bootstrap lists of its Kafka sources and sinks.
   */
  readonly endpoints?: { readonly reads: readonly string[]; readonly writes: readonly string[]; readonly kafka: readonly string[] };
  /**
   * Where a job process keeps its working RocksDB databases: inside one of `writable`, so
   * that checkpoints hard-link their files (a link cannot cross mount points, and each
   * writable directory is a mount of its own in the job's jail). Task managers of threads
   * keep theirs in TaskManagerOptions.localStateDirectory.
   */
  readonly localState?: string | undefined;
}

/**
 * What the job manager needs from whatever runs subtasks: the task manager's worker
 * threads, or a process per job (ProcessTaskManager, the 'process' user-code mode).
 */
export interface TaskExecutor {
  readonly slots: number;
  readonly userCode: UserCodeSettings;
  deploy(
    plan: ExecutionPlan,
    attempt: number,
    restore: (taskId: number, subtaskIndex: number) => SubtaskRestore | undefined,
    listener: JobListener,
    files?: JobAccess,
  ): Placement[];
  triggerCheckpoint(jobId: string, attempt: number, subtasks: SubtaskList, barrier: Barrier): void;
  notifyCheckpoint(jobId: string, attempt: number, checkpointId: number, outcome: 'complete' | 'aborted'): void;
  cancel(jobId: string, attempt?: number): void;
  forgetAttempt(jobId: string, attempt: number): void;
  release(jobId: string): void;
  inspectState(where: SubtaskAddress, nodeId: string, key: Key, timeoutMs?: number): Promise<KeyInspection>;
  sendToSubtasks(jobId: string, attempt: number, subtasks: SubtaskList, message: (where: SubtaskAddress) => ToWorker): void;
  /** Replaces what runs the given slots of a job's attempt (subtasks that never started there). */
  recycleSlots(jobId: string, slots: readonly number[]): Promise<void>;
  shutdown(): Promise<void>;
}

export interface Placement {
  readonly taskId: number;
  readonly subtaskIndex: number;
  readonly slot: number;
}

export class TaskManager implements TaskExecutor {
  readonly slots: number;
  /** How this task manager runs user code (engine-wide). */
  readonly userCode: UserCodeSettings;
  private readonly workers: Worker[] = [];
  private readonly listeners = new Map<string, JobListener>();
  /** jobId → attempt → where its subtasks run. */
  private readonly placements = new Map<string, Map<number, Placement[]>>();
  private nextSlot = 0;
  private closed = false;
  private nextRequest = 0;
  private readonly diagnoses = new Map<number, (slot: number, message: Extract<FromWorker, { type: 'diagnosis' }>) => void>();
  private readonly inspections = new Map<number, (message: Extract<FromWorker, { type: 'state-inspection' }>) => void>();

  constructor(private readonly options: TaskManagerOptions = {}) {
    this.slots = Math.max(1, options.slots ?? availableParallelism());
    this.userCode = options.userCode ?? { mode: 'trusted' };
    for (let slot = 0; slot < this.slots; slot++) this.workers.push(this.spawn(slot));
    const timeoutMs = options.heartbeatTimeoutMs ?? 30_000;
    if (timeoutMs > 0) {
      this.heartbeats = setInterval(() => this.checkHeartbeats(timeoutMs), Math.min(HEARTBEAT_INTERVAL_MS, timeoutMs / 2));
      this.heartbeats.unref();
    }
  }

  /** Whether each slot's current worker has come online (for diagnostics). */
  private readonly online: boolean[] = [];
  /** When each slot's current worker last sent anything. */
  private readonly lastHeard: number[] = [];
  private heartbeats: NodeJS.Timeout | undefined;

  private checkHeartbeats(timeoutMs: number): void {
    if (this.closed) return;
    const now = performance.now();
    for (let slot = 0; slot < this.workers.length; slot++) {
      const silentMs = now - (this.lastHeard[slot] ?? now);
      if (silentMs > timeoutMs) {
        const subtasks = this.placementsOn(slot);
        void this.replaceSlot(
          slot,
          `task manager slot ${slot} answered no heartbeat for ${Math.round(silentMs / 1000)} s and was replaced` +
            (subtasks.length > 0 ? ` (it ran ${subtasks.join(', ')}; a user function that never returns blocks its slot like this)` : ''),
        );
      } else {
        this.send(slot, { type: 'heartbeat' });
      }
    }
  }

  private placementsOn(slot: number): string[] {
    const found: string[] = [];
    for (const [jobId, attempts] of this.placements) {
      for (const [attempt, placements] of attempts) {
        for (const p of placements) if (p.slot === slot) found.push(`job ${jobId} attempt ${attempt} task ${p.taskId} subtask ${p.subtaskIndex}`);
      }
    }
    return found;
  }

  private spawn(slot: number): Worker {
    const worker = new Worker(new URL('../runtime/worker.js', import.meta.url), {
      resourceLimits: {
        maxYoungGenerationSizeMb: this.options.workerYoungGenerationMb ?? DEFAULT_YOUNG_GENERATION_MB,
        ...(this.options.maxHeapMb ? { maxOldGenerationSizeMb: this.options.maxHeapMb } : {}),
      },
      workerData: { userCode: this.options.userCode, maxRecordBytes: this.options.maxRecordBytes, durableWrites: this.options.durableWrites, kafkaRelay: this.options.kafkaRelay } satisfies SlotSettings,
    });
    this.online[slot] = false;
    this.lastHeard[slot] = performance.now();
    worker.on('online', () => {
      if (this.workers[slot] === worker) this.online[slot] = true;
    });
    worker.on('message', (message: FromWorker) => {
      if (this.workers[slot] === worker) this.lastHeard[slot] = performance.now();
      if (message.type === 'heartbeat') return;
      if (message.type === 'diagnosis') {
        this.diagnoses.get(message.requestId)?.(slot, message);
        return;
      }
      if (message.type === 'state-inspection') {
        this.inspections.get(message.requestId)?.(message);
        return;
      }
      this.listeners.get(message.jobId)?.(message);
    });
    const died = (reason: string) => {
      if (this.workers[slot] !== worker || this.closed) return;
      this.workers[slot] = this.spawn(slot);
      this.failSlot(slot, `task manager slot ${slot} died: ${reason}`);
    };
    worker.on('error', (error) => died(error.message));
    worker.on('exit', (code) => died(`its worker thread exited with code ${code}`));
    return worker;
  }

  /** Allocates channels and starts every subtask of one attempt of a plan. */
  deploy(plan: ExecutionPlan, attempt: number, restore: (taskId: number, subtaskIndex: number) => SubtaskRestore | undefined, listener: JobListener): Placement[] {
    if (this.closed) throw new Error('the task manager is shut down');
    this.listeners.set(plan.jobId, listener);
    const bells = plan.tasks.map((t) => t.subtasks.map(() => ({ doorbell: allocateBell(), creditBell: allocateBell() })));
    const inputs = plan.tasks.map((t) => t.subtasks.map(() => [] as InputChannelSpec[]));
    const outputs = plan.tasks.map((t) => t.subtasks.map(() => [] as OutputChannelSpec[]));
    for (const exchange of plan.exchanges) {
      const from = plan.tasks[exchange.fromTask];
      const to = plan.tasks[exchange.toTask];
      if (!from || !to) throw new Error(`exchange ${exchange.id} refers to a missing task`);
      for (let i = 0; i < from.parallelism; i++) {
        for (const j of connectedConsumers(exchange.partitioning, i, from.parallelism, to.parallelism)) {
          const memory = allocateChannel();
          const producerBells = bells[exchange.fromTask]?.[i];
          const consumerBells = bells[exchange.toTask]?.[j];
          if (!producerBells || !consumerBells) throw new Error('internal: missing bells');
          outputs[exchange.fromTask]?.[i]?.push({ exchange: exchange.id, consumerSubtask: j, memory, doorbell: consumerBells.doorbell });
          inputs[exchange.toTask]?.[j]?.push({ exchange: exchange.id, producerSubtask: i, input: exchange.toInput, memory, creditBell: producerBells.creditBell });
        }
      }
    }
    // Spread subtasks over slots round robin across all tasks, so that a pipeline's
    // stages land on different cores.
    const placements: Placement[] = [];
    for (const task of plan.tasks) {
      for (const subtask of task.subtasks) {
        const slot = this.nextSlot++ % this.slots;
        const b = bells[task.id]?.[subtask.index];
        if (!b) throw new Error('internal: missing bells');
        const deployment: TaskDeployment = {
          plan,
          attempt,
          taskId: task.id,
          subtaskIndex: subtask.index,
          restore: restore(task.id, subtask.index),
          localStateDirectory: this.options.localStateDirectory,
          inputs: inputs[task.id]?.[subtask.index] ?? [],
          outputs: outputs[task.id]?.[subtask.index] ?? [],
          doorbell: b.doorbell,
          creditBell: b.creditBell,
        };
        this.send(slot, { type: 'deploy', deployment });
        placements.push({ taskId: task.id, subtaskIndex: subtask.index, slot });
      }
    }
    let attempts = this.placements.get(plan.jobId);
    if (!attempts) this.placements.set(plan.jobId, (attempts = new Map<number, Placement[]>()));
    attempts.set(attempt, placements);
    return placements;
  }

  /** Starts a checkpoint at the given (source) subtasks. */
  triggerCheckpoint(jobId: string, attempt: number, subtasks: SubtaskList, barrier: Barrier): void {
    const placements = this.placements.get(jobId)?.get(attempt) ?? [];
    for (const { taskId, subtaskIndex } of subtasks) {
      const slot = placements.find((p) => p.taskId === taskId && p.subtaskIndex === subtaskIndex)?.slot;
      if (slot === undefined) continue;
      this.send(slot, { type: 'trigger-checkpoint', jobId, attempt, taskId, subtaskIndex, barrier });
    }
  }

  notifyCheckpoint(jobId: string, attempt: number, checkpointId: number, outcome: 'complete' | 'aborted'): void {
    for (const slot of this.slotsOf(jobId, attempt)) {
      this.send(slot, { type: outcome === 'complete' ? 'checkpoint-complete' : 'checkpoint-aborted', jobId, attempt, checkpointId });
    }
  }

  cancel(jobId: string, attempt?: number): void {
    for (let slot = 0; slot < this.workers.length; slot++) this.send(slot, { type: 'cancel', jobId, ...(attempt !== undefined ? { attempt } : {}) });
  }

  /** Forgets an attempt's placements (after all its subtasks ended). */
  forgetAttempt(jobId: string, attempt: number): void {
    this.placements.get(jobId)?.delete(attempt);
  }

  release(jobId: string): void {
    this.listeners.delete(jobId);
    this.placements.delete(jobId);
  }

  /**
   * Asks every slot what its subtasks are doing. A slot that does not answer within
   * `timeoutMs` is reported as unresponsive (its event loop is blocked, or it is gone).
   */
  async diagnose(timeoutMs = 1000): Promise<Array<{ slot: number; online: boolean; responsive: boolean; subtasks: SubtaskDiagnosis[] }>> {
    const requestId = this.nextRequest++;
    const answers = new Map<number, SubtaskDiagnosis[]>();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.diagnoses.set(requestId, (slot, message) => {
        answers.set(slot, message.subtasks);
        if (answers.size === this.workers.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      for (let slot = 0; slot < this.workers.length; slot++) this.send(slot, { type: 'diagnose', requestId });
    });
    this.diagnoses.delete(requestId);
    return this.workers.map((_, slot) => ({ slot, online: this.online[slot] === true, responsive: answers.has(slot), subtasks: answers.get(slot) ?? [] }));
  }

  /**
   * Reads one key's state of one operator in a running subtask. The subtask answers from
   * its mailbox, between records; a subtask that does not answer within `timeoutMs` (a
   * blocked loop, or one that just ended) makes this reject.
   */
  async inspectState(
    where: SubtaskAddress,
    nodeId: string,
    key: Key,
    timeoutMs = 5000,
  ): Promise<KeyInspection> {
    const slot = this.slotOf(where.jobId, where.attempt, where.taskId, where.subtaskIndex);
    if (slot === undefined) throw new Error(`subtask ${where.subtaskIndex} of task ${where.taskId} is not running`);
    const requestId = this.nextRequest++;
    try {
      return await new Promise<KeyInspection>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`subtask ${where.subtaskIndex} did not answer the state query within ${timeoutMs} ms`)), timeoutMs);
        this.inspections.set(requestId, (message) => {
          clearTimeout(timer);
          if (message.inspection) resolve(message.inspection);
          else reject(new Error(message.error ?? 'the state query failed'));
        });
        this.send(slot, { type: 'inspect-state', requestId, nodeId, key, ...where });
      });
    } finally {
      this.inspections.delete(requestId);
    }
  }

  /** Sends a message to the slot of each listed subtask of a job attempt (record taps, key counting). */
  sendToSubtasks(jobId: string, attempt: number, subtasks: SubtaskList, message: (where: SubtaskAddress) => ToWorker): void {
    for (const { taskId, subtaskIndex } of subtasks) {
      const slot = this.slotOf(jobId, attempt, taskId, subtaskIndex);
      if (slot !== undefined) this.send(slot, message({ jobId, attempt, taskId, subtaskIndex }));
    }
  }

  /**
   * Replaces a slot's worker at once (one that does not start its subtasks, say) and fails
   * the job attempts that had subtasks there; the old worker is terminated.
   */
  async recycleSlot(slot: number): Promise<void> {
    await this.replaceSlot(slot, `task manager slot ${slot} did not respond and was replaced`);
  }

  async recycleSlots(_jobId: string, slots: readonly number[]): Promise<void> {
    await Promise.all(slots.map((slot) => this.recycleSlot(slot)));
  }

  private async replaceSlot(slot: number, reason: string): Promise<void> {
    const old = this.workers[slot];
    if (!old || this.closed) return;
    this.workers[slot] = this.spawn(slot);
    this.failSlot(slot, reason);
    await old.terminate();
  }

  /** Reports every job attempt with a subtask on the slot as failed. */
  private failSlot(slot: number, message: string): void {
    for (const [jobId, attempts] of this.placements) {
      for (const [attempt, placements] of attempts) {
        const hit = placements.find((p) => p.slot === slot);
        if (!hit) continue;
        this.listeners.get(jobId)?.({
          type: 'failed',
          jobId,
          attempt,
          taskId: hit.taskId,
          subtaskIndex: hit.subtaskIndex,
          failure: { message, jobId, subtaskIndex: hit.subtaskIndex },
        });
      }
    }
  }

  /** Terminates a slot's worker as a crash would (for failure tests); a fresh worker replaces it. */
  async killSlot(slot: number): Promise<void> {
    await this.workers[slot]?.terminate();
  }

  /** The slot running a subtask of a job attempt. */
  slotOf(jobId: string, attempt: number, taskId: number, subtaskIndex: number): number | undefined {
    return this.placements
      .get(jobId)
      ?.get(attempt)
      ?.find((p) => p.taskId === taskId && p.subtaskIndex === subtaskIndex)?.slot;
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.heartbeats) clearInterval(this.heartbeats);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private slotsOf(jobId: string, attempt: number): Set<number> {
    return new Set((this.placements.get(jobId)?.get(attempt) ?? []).map((p) => p.slot));
  }

  private send(slot: number, message: ToWorker): void {
    this.workers[slot]?.postMessage(message);
  }
}
