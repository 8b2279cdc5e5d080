/**
 * The job manager: validates and compiles a submitted graph, deploys it on the task
 * manager, follows its subtasks to the end, and keeps what users look at (status,
 * collected results, metrics, the failure). One job's failure never touches another.
 */
import { randomUUID } from 'node:crypto';
import { validateGraph, type GraphProblem, type ValidatedGraph } from '@sluice/graph-model';
import { implementedTypes, isImplemented } from '@sluice/operators';
import { compilePlan } from '../compile/compile.js';
import type { ExecutionPlan } from '../compile/plan.js';
import { compileUserCode } from '../compile/user-code.js';
import type { FailureReport, FromWorker } from '../runtime/protocol.js';
import type { TaskMetrics } from '../runtime/task.js';
import type { TaskManager } from './task-manager.js';

export type JobStatus = 'running' | 'finished' | 'failed' | 'cancelled';

export interface CollectedRow {
  readonly value: unknown;
  readonly timestamp: number;
  readonly kind: number;
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
  readonly failure: FailureReport | undefined;
}

export class Job {
  status: JobStatus = 'running';
  failure: FailureReport | undefined;
  endedAt: number | undefined;
  readonly startedAt = Date.now();
  /** Collect-sink name → rows, oldest dropped beyond the sink's maxRecords. */
  readonly collected = new Map<string, CollectedRow[]>();
  readonly droppedCollected = new Map<string, number>();
  readonly printed: string[] = [];
  /** Latest metrics per `${taskId}/${subtask}`. */
  readonly metrics = new Map<string, { taskId: number; subtaskIndex: number; metrics: TaskMetrics }>();
  readonly done: Promise<JobStatus>;
  private resolveDone!: (status: JobStatus) => void;
  private running: number;
  private readonly maxCollected: Map<string, number>;
  onPrint: ((line: string) => void) | undefined;

  constructor(
    readonly id: string,
    readonly plan: ExecutionPlan,
    readonly graph: ValidatedGraph,
    private readonly taskManager: TaskManager,
  ) {
    this.running = plan.tasks.reduce((n, t) => n + t.parallelism, 0);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.maxCollected = new Map(
      graph.nodes.filter((n) => n.definition.type === 'collect-sink').map((n) => [(n.config as { name: string }).name, (n.config as { maxRecords: number }).maxRecords]),
    );
  }

  get name(): string {
    return this.plan.jobName;
  }

  snapshot(): JobSnapshot {
    return { id: this.id, name: this.name, status: this.status, startedAt: this.startedAt, endedAt: this.endedAt, failure: this.failure };
  }

  /** Rows of a collect sink, in arrival order. */
  results(name: string): CollectedRow[] {
    return this.collected.get(name) ?? [];
  }

  cancel(): void {
    if (this.status !== 'running') return;
    this.end('cancelled');
    this.taskManager.cancel(this.id);
  }

  /** @internal */
  receive(message: FromWorker): void {
    switch (message.type) {
      case 'collect': {
        let rows = this.collected.get(message.name);
        if (!rows) this.collected.set(message.name, (rows = []));
        for (const [value, timestamp, kind] of message.rows) rows.push({ value, timestamp, kind });
        const max = this.maxCollected.get(message.name) ?? Number.POSITIVE_INFINITY;
        if (rows.length > max) {
          const excess = rows.length - max;
          rows.splice(0, excess);
          this.droppedCollected.set(message.name, (this.droppedCollected.get(message.name) ?? 0) + excess);
        }
        break;
      }
      case 'print':
        for (const line of message.lines) {
          this.printed.push(line);
          this.onPrint?.(line);
        }
        if (this.printed.length > 10_000) this.printed.splice(0, this.printed.length - 10_000);
        break;
      case 'metrics':
        for (const t of message.tasks) this.metrics.set(`${t.taskId}/${t.subtaskIndex}`, t);
        break;
      case 'finished':
        if (--this.running === 0 && this.status === 'running') this.end('finished');
        break;
      case 'cancelled':
        break;
      case 'failed':
        if (this.status === 'running') {
          this.failure = message.failure;
          this.end('failed');
          this.taskManager.cancel(this.id);
        }
        break;
      case 'log':
        break;
    }
  }

  private end(status: JobStatus): void {
    this.status = status;
    this.endedAt = Date.now();
    this.resolveDone(status);
  }
}

export class JobManager {
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly taskManager: TaskManager) {}

  /** Validates, compiles and starts a job graph. Throws SubmissionError listing every problem. */
  async submit(graph: unknown): Promise<Job> {
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
    const code = await compileUserCode(result.graph);
    if (!code.ok) throw new SubmissionError('user code does not compile', code.problems);
    const id = randomUUID();
    const plan = compilePlan(result.graph, { jobId: id, code: code.code });
    const job = new Job(id, plan, result.graph, this.taskManager);
    this.jobs.set(id, job);
    this.taskManager.deploy(plan, (message) => job.receive(message));
    void job.done.then(() => setTimeout(() => this.taskManager.release(id), 1000).unref());
    return job;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }
}
