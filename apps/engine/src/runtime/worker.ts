/**
 * The entry point of a task-manager slot: a worker thread that runs the subtasks
 * deployed to it, each on its own mailbox loop, and reports back to the job manager.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { relayKafkaThrough, type CollectOutlet, type KeyInspection, type Logger, type ProcessingTimeService } from '@sluice/operators';
import type { CollectedRowTuple, FailureReport, FromWorker, ToWorker } from './protocol.js';
import { writeAtomically } from './state-files.js';
import { StreamTask, TaskFailure, type TaskDeployment } from './task.js';
import type { UserCodeSettings } from './sandbox.js';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');

const post = (message: FromWorker) => port.postMessage(message);
/** What the task manager started this slot with. */
export interface SlotSettings {
  readonly userCode?: UserCodeSettings | undefined;
  /** TaskManagerOptions.maxRecordBytes. */
  readonly maxRecordBytes?: number | undefined;
  /** TaskManagerOptions.durableWrites (default true). */
  readonly durableWrites?: boolean | undefined;
  /** TaskManagerOptions.kafkaRelay. */
  readonly kafkaRelay?: string | undefined;
}
const settings = (workerData ?? {}) as SlotSettings;
relayKafkaThrough(settings.kafkaRelay);
const tasks = new Map<string, StreamTask>();
const outlets = new Map<string, { jobId: string; attempt: number; nodeId: string; name: string; rows: CollectedRowTuple[] }>();
const printed = new Map<string, { jobId: string; attempt: number; lines: string[] }>();
let flushTimer: NodeJS.Timeout | undefined;

const processingTime: ProcessingTimeService = {
  now: () => Date.now(),
  schedule(time, callback) {
    const timer = setTimeout(() => callback(Math.max(time, Date.now())), Math.max(0, time - Date.now()));
    return () => clearTimeout(timer);
  },
};

const taskKey = (jobId: string, attempt: number, taskId: number, subtaskIndex: number) => `${jobId}/${attempt}/${taskId}/${subtaskIndex}`;

function flushOutput(): void {
  flushTimer = undefined;
  for (const outlet of outlets.values()) {
    if (outlet.rows.length === 0) continue;
    post({ type: 'collect', jobId: outlet.jobId, attempt: outlet.attempt, nodeId: outlet.nodeId, name: outlet.name, rows: outlet.rows });
    outlet.rows = [];
  }
  for (const p of printed.values()) {
    if (p.lines.length > 0) post({ type: 'print', jobId: p.jobId, attempt: p.attempt, lines: p.lines.splice(0) });
  }
}

function scheduleFlush(): void {
  flushTimer ??= setTimeout(flushOutput, 50);
}

function logger(jobId: string, attempt: number, taskName: string): Logger {
  const log = (level: 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) =>
    post({ type: 'log', jobId, attempt, level, message, fields: { task: taskName, ...fields } });
  return { info: log('info'), warn: log('warn'), error: log('error') };
}

function deploy(deployment: TaskDeployment): void {
  const { jobId } = deployment.plan;
  const { attempt, taskId, subtaskIndex } = deployment;
  const id = taskKey(jobId, attempt, taskId, subtaskIndex);
  const where = { jobId, attempt, taskId, subtaskIndex };
  let task: StreamTask;
  try {
    task = new StreamTask(deployment, {
      userCode: settings.userCode && { ...settings.userCode, maxRecordBytes: settings.maxRecordBytes ?? settings.userCode.maxRecordBytes },
      maxRecordBytes: settings.maxRecordBytes,
      durableWrites: settings.durableWrites !== false,
      processingTime,
      log: logger(jobId, attempt, id),
      print: (line) => {
        const key = `${jobId}/${attempt}`;
        let p = printed.get(key);
        if (!p) printed.set(key, (p = { jobId, attempt, lines: [] }));
        p.lines.push(line);
        scheduleFlush();
      },
      collector: (nodeId, name): CollectOutlet => {
        const key = `${jobId}/${attempt}/${nodeId}/${name}`;
        let outlet = outlets.get(key);
        if (!outlet) outlets.set(key, (outlet = { jobId, attempt, nodeId, name, rows: [] }));
        const target = outlet;
        return {
          push(value, timestamp, kind) {
            target.rows.push([value, timestamp, kind]);
            if (target.rows.length >= 1000) flushOutput();
            else scheduleFlush();
          },
          commit(commitId, rows) {
            // Ordered after any immediate rows of the same sink.
            flushOutput();
            post({ type: 'collect', jobId, attempt, nodeId, name, rows, commitId });
          },
        };
      },
      async persist(path, bytes) {
        await mkdir(dirname(path), { recursive: true });
        await writeAtomically(path, bytes, settings.durableWrites !== false);
      },
      acknowledgeCheckpoint: (ack) => post({ type: 'checkpoint-ack', ...where, ack }),
      declineCheckpoint: (checkpointId, reason) => post({ type: 'checkpoint-declined', ...where, checkpointId, reason }),
      awaitingFinalCommit: () => post({ type: 'awaiting-final-commit', ...where }),
    });
  } catch (error) {
    post({ type: 'failed', ...where, failure: describeDeployError(error, deployment) });
    return;
  }
  tasks.set(id, task);
  post({ type: 'started', ...where });
  task.run().then(
    (result) => {
      tasks.delete(id);
      flushOutput();
      postFinalMetrics(task);
      post({ type: result === 'finished' ? 'finished' : 'cancelled', ...where });
    },
    (error: unknown) => {
      tasks.delete(id);
      flushOutput();
      postFinalMetrics(task);
      const failure: FailureReport = error instanceof TaskFailure ? error.toJSON() : { message: String(error) };
      post({ type: 'failed', ...where, failure });
    },
  );
}

function describeDeployError(error: unknown, deployment: TaskDeployment): FailureReport {
  const task = deployment.plan.tasks[deployment.taskId];
  const message = error instanceof Error ? error.message : String(error);
  return { message: `cannot start task '${task?.name ?? deployment.taskId}': ${message}`, jobId: deployment.plan.jobId, subtaskIndex: deployment.subtaskIndex };
}

/** Samples of record taps go out five times a second, so a tap shows records soon. */
function postTaps(task: StreamTask): void {
  const taps = task.drainTaps();
  if (taps.length > 0) post({ type: 'tap-records', jobId: task.jobId, attempt: task.attempt, taskId: task.plan.id, subtaskIndex: task.subtaskIndex, taps });
}

setInterval(() => {
  for (const task of tasks.values()) postTaps(task);
}, 200).unref();

/** Entries per sketch sent to the job manager: the top 100 a client may ask for, with margin for merging. */
const HOT_KEY_ENTRIES = 128;

/** A subtask's last counters, sent before it reports its end: the periodic report may be up to a second old. */
function postFinalMetrics(task: StreamTask): void {
  postTaps(task);
  task.refreshOperatorTimes();
  post({ type: 'metrics', jobId: task.jobId, attempt: task.attempt, tasks: [{ taskId: task.plan.id, subtaskIndex: task.subtaskIndex, metrics: structuredClone(task.metrics) }] });
}

setInterval(() => {
  const byJob = new Map<string, { jobId: string; attempt: number; tasks: Extract<FromWorker, { type: 'metrics' }>['tasks'] }>();
  for (const task of tasks.values()) {
    const key = `${task.jobId}/${task.attempt}`;
    let entry = byJob.get(key);
    if (!entry) byJob.set(key, (entry = { jobId: task.jobId, attempt: task.attempt, tasks: [] }));
    task.refreshOperatorTimes();
    const reports = task.reportHotKeys(HOT_KEY_ENTRIES);
    if (reports.length > 0) post({ type: 'hot-keys', jobId: task.jobId, attempt: task.attempt, taskId: task.plan.id, subtaskIndex: task.subtaskIndex, reports });
    entry.tasks.push({ taskId: task.plan.id, subtaskIndex: task.subtaskIndex, metrics: structuredClone(task.metrics) });
  }
  for (const entry of byJob.values()) post({ type: 'metrics', ...entry });
}, 1000).unref();

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'deploy':
      deploy(message.deployment);
      break;
    case 'cancel':
      for (const task of tasks.values()) if (task.jobId === message.jobId && (message.attempt === undefined || task.attempt === message.attempt)) task.cancel();
      break;
    case 'trigger-checkpoint': {
      const task = tasks.get(taskKey(message.jobId, message.attempt, message.taskId, message.subtaskIndex));
      const where = { jobId: message.jobId, attempt: message.attempt, taskId: message.taskId, subtaskIndex: message.subtaskIndex };
      if (task) task.triggerCheckpoint(message.barrier);
      else post({ type: 'checkpoint-declined', ...where, checkpointId: message.barrier.id, reason: 'the source subtask is no longer running' });
      break;
    }
    case 'inspect-state': {
      const task = tasks.get(taskKey(message.jobId, message.attempt, message.taskId, message.subtaskIndex));
      const reply = (answer: { inspection: KeyInspection } | { error: string }) => post({ type: 'state-inspection', jobId: '', requestId: message.requestId, ...answer });
      if (!task) reply({ error: `subtask ${message.subtaskIndex} of task ${message.taskId} is not running` });
      else task.inspectState(message.nodeId, message.key).then((inspection) => reply({ inspection }), (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }));
      break;
    }
    case 'tap-start':
    case 'tap-stop':
    case 'count-keys': {
      // The subtask may have ended or not started yet; the job manager's own bookkeeping covers both.
      const task = tasks.get(taskKey(message.jobId, message.attempt, message.taskId, message.subtaskIndex));
      if (!task) break;
      if (message.type === 'tap-start') task.startTap(message.spec);
      else if (message.type === 'tap-stop') task.stopTap(message.tapId);
      else task.countKeys(message.exchange, message.on);
      break;
    }
    case 'heartbeat':
      port.postMessage({ type: 'heartbeat', jobId: '' } satisfies FromWorker);
      break;
    case 'diagnose':
      port.postMessage({
        type: 'diagnosis',
        jobId: '',
        requestId: message.requestId,
        eventLoopAt: Date.now(),
        subtasks: [...tasks.values()].map((t) => ({ jobId: t.jobId, attempt: t.attempt, taskId: t.plan.id, subtaskIndex: t.subtaskIndex, ...t.diagnose() })),
      } satisfies FromWorker);
      break;
    case 'checkpoint-complete':
    case 'checkpoint-aborted':
      for (const task of tasks.values()) {
        if (task.jobId !== message.jobId || task.attempt !== message.attempt) continue;
        if (message.type === 'checkpoint-complete') task.notifyCheckpointComplete(message.checkpointId);
        else task.notifyCheckpointAborted(message.checkpointId);
      }
      break;
  }
});
