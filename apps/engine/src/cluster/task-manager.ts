/**
 * A task manager: N slots, each a worker thread. Deploying a job allocates the shared
 * memory of every channel and bell, places subtasks on slots, and sends each slot its
 * deployments. Everything a slot needs crosses in one structured-clone message, so a
 * slot could later live in another process with the same protocol over a socket.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { connectedConsumers } from '../runtime/partitioner.js';
import { allocateBell, allocateChannel } from '../runtime/channel.js';
import type { FromWorker, ToWorker } from '../runtime/protocol.js';
import type { InputChannelSpec, OutputChannelSpec, TaskDeployment } from '../runtime/task.js';
import type { ExecutionPlan } from '../compile/plan.js';

export interface TaskManagerOptions {
  /** Worker threads; default: one per core. */
  readonly slots?: number;
  /** Heap limit of each slot, in MB. */
  readonly maxHeapMb?: number;
}

export type JobListener = (message: FromWorker) => void;

export interface Placement {
  readonly taskId: number;
  readonly subtaskIndex: number;
  readonly slot: number;
}

export class TaskManager {
  readonly slots: number;
  private readonly workers: Worker[] = [];
  private readonly listeners = new Map<string, JobListener>();
  private nextSlot = 0;
  private closed = false;

  constructor(options: TaskManagerOptions = {}) {
    this.slots = Math.max(1, options.slots ?? availableParallelism());
    for (let slot = 0; slot < this.slots; slot++) {
      const worker = new Worker(new URL('../runtime/worker.js', import.meta.url), {
        resourceLimits: options.maxHeapMb ? { maxOldGenerationSizeMb: options.maxHeapMb } : undefined,
      });
      worker.on('message', (message: FromWorker) => this.listeners.get(message.jobId)?.(message));
      worker.on('error', (error) => {
        // A slot died (out of memory, a crash in native code): fail every job it ran.
        for (const [jobId, listener] of this.listeners) {
          listener({ type: 'failed', jobId, taskId: -1, subtaskIndex: -1, failure: { message: `task manager slot ${slot} died: ${error.message}` } });
        }
      });
      this.workers.push(worker);
    }
  }

  /** Allocates channels and starts every subtask of the plan. */
  deploy(plan: ExecutionPlan, listener: JobListener): Placement[] {
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
          taskId: task.id,
          subtaskIndex: subtask.index,
          inputs: inputs[task.id]?.[subtask.index] ?? [],
          outputs: outputs[task.id]?.[subtask.index] ?? [],
          doorbell: b.doorbell,
          creditBell: b.creditBell,
        };
        this.send(slot, { type: 'deploy', deployment });
        placements.push({ taskId: task.id, subtaskIndex: subtask.index, slot });
      }
    }
    return placements;
  }

  cancel(jobId: string): void {
    for (let slot = 0; slot < this.workers.length; slot++) this.send(slot, { type: 'cancel', jobId });
  }

  release(jobId: string): void {
    this.listeners.delete(jobId);
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private send(slot: number, message: ToWorker): void {
    this.workers[slot]?.postMessage(message);
  }
}
