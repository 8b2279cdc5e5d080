/**
 * What the REST API shows of a job: plain JSON built from the job manager's state.
 */
import type { JobGraphDocument, ValidatedGraph } from '@sluice/graph-model';
import { VOID_NAMESPACE, type Namespace } from '@sluice/operators';
import type { CheckpointDetail, CheckpointHistory, CollectSinkInfo, ExceptionEntry, ExecutionGraph, JobSummary, PipelineRef, RestorePlanView, StateQueryResult } from '@sluice/protocol';
import type { CheckpointStats } from '../checkpoint/coordinator.js';
import type { RestorePlan } from '../checkpoint/restore.js';
import type { ExecutionPlan } from '../compile/plan.js';
import type { FailureReport } from '../runtime/protocol.js';
import type { Job, StateQueryAnswer } from '../cluster/job-manager.js';

export function jobSummary(job: Job, pipeline: PipelineRef | undefined, now: number): JobSummary {
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    startTime: job.startedAt,
    endTime: job.endedAt ?? null,
    durationMs: Math.max(0, (job.endedAt ?? now) - job.startedAt),
    pipeline: pipeline ?? null,
    tenant: job.tenant ?? null,
  };
}

/** The validated graph written back as a document: defaults applied, effective partitioning on every edge. */
export function graphDocument(graph: ValidatedGraph): JobGraphDocument {
  return {
    schemaVersion: graph.schemaVersion,
    name: graph.name,
    ...(graph.description !== undefined ? { description: graph.description } : {}),
    job: graph.job,
    nodes: graph.nodes.map((n) => ({
      id: n.id,
      type: n.type,
      ...(n.name !== undefined ? { name: n.name } : {}),
      ...(n.description !== undefined ? { description: n.description } : {}),
      ...(n.declaredParallelism !== undefined ? { parallelism: n.declaredParallelism } : {}),
      chaining: n.chaining,
      config: n.config,
      ...(n.position !== undefined ? { position: n.position } : {}),
    })),
    edges: graph.edges.map((e) => ({
      id: e.id,
      source: e.source,
      sourceOutput: e.sourceOutput,
      target: e.target,
      targetInput: e.targetInput,
      partitioning: e.partitioning,
    })),
  };
}

export function executionGraph(plan: ExecutionPlan): ExecutionGraph {
  const nodeOf = (task: number, operator: number) => plan.tasks[task]?.operators[operator]?.nodeId ?? '?';
  return {
    maxParallelism: plan.job.maxParallelism,
    tasks: plan.tasks.map((t) => ({
      id: t.id,
      name: t.name,
      parallelism: t.parallelism,
      operators: t.operators.map((o) => ({ nodeId: o.nodeId, type: o.type, name: o.name })),
      inputs: [...t.inputs],
      subtasks: t.subtasks.map((s) => ({ index: s.index, keyGroupRange: s.keyGroupRange ? { start: s.keyGroupRange.start, end: s.keyGroupRange.end } : null })),
    })),
    exchanges: plan.exchanges.map((x) => ({
      id: x.id,
      edgeIds: [...x.edgeIds],
      from: { taskId: x.fromTask, nodeId: nodeOf(x.fromTask, x.fromOperator), output: x.fromOutput },
      to: { taskId: x.toTask, nodeId: nodeOf(x.toTask, 0), input: x.toInput },
      partitioning: x.partitioning,
      keyed: x.key !== undefined,
    })),
  };
}

export function exceptionEntry(plan: ExecutionPlan, failure: FailureReport, timestamp: number, attempt: number, restarted: boolean): ExceptionEntry {
  const task = failure.nodeId === undefined ? undefined : plan.tasks.find((t) => t.operators.some((o) => o.nodeId === failure.nodeId));
  return {
    timestamp,
    attempt,
    restarted,
    message: failure.message,
    nodeId: failure.nodeId ?? null,
    taskId: task?.id ?? null,
    taskName: task?.name ?? null,
    subtaskIndex: failure.subtaskIndex !== undefined && failure.subtaskIndex >= 0 ? failure.subtaskIndex : null,
    key: failure.key ?? null,
    record: failure.record ?? null,
    stack: failure.stack ?? null,
  };
}

/** Every failure of the job, newest first, each with the attempt it ended and whether the job restarted. */
export function exceptionHistory(job: Job): ExceptionEntry[] {
  return job.exceptions.map((e) => exceptionEntry(job.plan, e.failure, e.at, e.attempt, e.restarted)).reverse();
}

/** The failure that ended the job, if it failed. */
export function jobException(job: Job): ExceptionEntry | null {
  if (!job.failure) return null;
  const recorded = job.exceptions.findLast((e) => e.failure === job.failure);
  return exceptionEntry(job.plan, job.failure, recorded?.at ?? job.endedAt ?? job.startedAt, recorded?.attempt ?? job.attempt, false);
}

export function restorePlanView(plan: RestorePlan): RestorePlanView {
  return {
    checkpointId: plan.checkpointId,
    savepoint: plan.savepoint,
    entries: plan.entries.map((e) => ({ nodeId: e.nodeId, status: e.status, states: [...e.states], reason: e.reason ?? null })),
    problems: [...plan.problems],
  };
}

export function checkpointHistory(stats: readonly CheckpointStats[]): CheckpointHistory {
  const count = (status: CheckpointStats['status']) => stats.filter((c) => c.status === status).length;
  return {
    counts: { completed: count('completed'), failed: count('failed'), inProgress: count('in-progress') },
    history: [...stats].reverse().map((c) => ({
      id: c.id,
      savepoint: c.savepoint,
      status: c.status,
      triggeredAt: c.triggeredAt,
      completedAt: c.completedAt ?? null,
      durationMs: c.durationMs ?? null,
      stateSizeBytes: c.bytes,
      location: c.directory,
      failure: c.failure ?? null,
    })),
  };
}

/** One checkpoint with its subtasks' acknowledgements, grouped by task in plan order. */
export function checkpointDetail(stats: CheckpointStats, plan: ExecutionPlan): CheckpointDetail {
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    id: stats.id,
    savepoint: stats.savepoint,
    status: stats.status,
    triggeredAt: stats.triggeredAt,
    completedAt: stats.completedAt ?? null,
    durationMs: stats.durationMs ?? null,
    stateSizeBytes: stats.bytes,
    location: stats.directory,
    failure: stats.failure ?? null,
    expected: stats.expected,
    acknowledged: stats.subtasks.length,
    tasks: plan.tasks.map((task) => ({
      taskId: task.id,
      name: task.name,
      nodeIds: task.operators.map((o) => o.nodeId),
      parallelism: task.parallelism,
      subtasks: stats.subtasks
        .filter((s) => s.taskId === task.id)
        .sort((a, b) => a.subtaskIndex - b.subtaskIndex)
        .map((s) => ({
          subtask: s.subtaskIndex,
          acknowledgedAfterMs: round(s.acknowledgedAfterMs),
          syncMs: round(s.syncMs),
          asyncMs: round(s.asyncMs),
          alignmentMs: round(s.alignmentMs),
          stateSizeBytes: s.bytes,
        })),
    })),
  };
}

/** Collect sinks by name: config name → node id. */
export function collectSinks(job: Job): Map<string, string> {
  const sinks = new Map<string, string>();
  for (const node of job.graph.nodes) {
    if (node.definition.type !== 'collect-sink') continue;
    const name = (node.config as { name?: unknown }).name;
    if (typeof name === 'string') sinks.set(name, node.id);
  }
  return sinks;
}

export function sinkInfos(job: Job): CollectSinkInfo[] {
  return [...collectSinks(job)].map(([name, nodeId]) => ({ name, nodeId, rows: job.results(name).length, dropped: job.droppedCollected.get(name) ?? 0 }));
}

/** Queryable state on the wire: the void namespace (state not per window) is null. */
export function stateQueryView(answer: StateQueryAnswer): StateQueryResult {
  const ns = (namespace: Namespace): string | number | null => (namespace === VOID_NAMESPACE ? null : namespace);
  return {
    nodeId: answer.nodeId,
    key: answer.key,
    keyGroup: answer.keyGroup,
    subtask: answer.subtask,
    attempt: answer.attempt,
    states: answer.states.map((s) => ({ name: s.name, kind: s.kind, namespace: ns(s.namespace), value: s.value })),
    timers: {
      event: answer.timers.event.map((t) => ({ timestamp: t.timestamp, namespace: ns(t.namespace) })),
      processing: answer.timers.processing.map((t) => ({ timestamp: t.timestamp, namespace: ns(t.namespace) })),
    },
  };
}
