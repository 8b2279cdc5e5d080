/**
 * The entry point of a task-manager slot: a worker thread that runs the subtasks
 * deployed to it, each on its own mailbox loop, and reports back to the job manager.
 */
import { parentPort } from 'node:worker_threads';
import type { CollectOutlet, Logger, ProcessingTimeService } from '@sluice/operators';
import { StreamTask, TaskFailure, type TaskDeployment } from './task.js';
import type { FromWorker, ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');

const post = (message: FromWorker) => port.postMessage(message);
const tasks = new Map<string, StreamTask>();
const outlets = new Map<string, { jobId: string; nodeId: string; name: string; rows: Array<[unknown, number, number]> }>();
const printed = new Map<string, string[]>();
let flushTimer: NodeJS.Timeout | undefined;

const processingTime: ProcessingTimeService = {
  now: () => Date.now(),
  schedule(time, callback) {
    const timer = setTimeout(() => callback(Math.max(time, Date.now())), Math.max(0, time - Date.now()));
    return () => clearTimeout(timer);
  },
};

function flushOutput(): void {
  flushTimer = undefined;
  for (const outlet of outlets.values()) {
    if (outlet.rows.length === 0) continue;
    post({ type: 'collect', jobId: outlet.jobId, nodeId: outlet.nodeId, name: outlet.name, rows: outlet.rows });
    outlet.rows = [];
  }
  for (const [jobId, lines] of printed) {
    if (lines.length > 0) post({ type: 'print', jobId, lines: lines.splice(0) });
  }
}

function scheduleFlush(): void {
  flushTimer ??= setTimeout(flushOutput, 50);
}

function logger(jobId: string, taskName: string): Logger {
  const log = (level: 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) =>
    post({ type: 'log', jobId, level, message, fields: { task: taskName, ...fields } });
  return { info: log('info'), warn: log('warn'), error: log('error') };
}

function deploy(deployment: TaskDeployment): void {
  const { jobId } = deployment.plan;
  const id = `${jobId}/${deployment.taskId}/${deployment.subtaskIndex}`;
  const where = { jobId, taskId: deployment.taskId, subtaskIndex: deployment.subtaskIndex };
  let task: StreamTask;
  try {
    task = new StreamTask(deployment, {
      processingTime,
      log: logger(jobId, id),
      print: (line) => {
        let lines = printed.get(jobId);
        if (!lines) printed.set(jobId, (lines = []));
        lines.push(line);
        scheduleFlush();
      },
      collector: (nodeId, name): CollectOutlet => {
        const key = `${jobId}/${nodeId}/${name}`;
        let outlet = outlets.get(key);
        if (!outlet) outlets.set(key, (outlet = { jobId, nodeId, name, rows: [] }));
        const target = outlet;
        return {
          push(value, timestamp, kind) {
            target.rows.push([value, timestamp, kind]);
            if (target.rows.length >= 1000) flushOutput();
            else scheduleFlush();
          },
        };
      },
    });
  } catch (error) {
    post({ type: 'failed', ...where, failure: describeDeployError(error, deployment) });
    return;
  }
  tasks.set(id, task);
  task.run().then(
    (result) => {
      tasks.delete(id);
      flushOutput();
      post({ type: result === 'finished' ? 'finished' : 'cancelled', ...where });
    },
    (error: unknown) => {
      tasks.delete(id);
      flushOutput();
      const failure: FromWorkerFailure = error instanceof TaskFailure ? error.toJSON() : { message: String(error) };
      post({ type: 'failed', ...where, failure });
    },
  );
}

type FromWorkerFailure = Extract<FromWorker, { type: 'failed' }>['failure'];

function describeDeployError(error: unknown, deployment: TaskDeployment): FromWorkerFailure {
  const task = deployment.plan.tasks[deployment.taskId];
  const message = error instanceof Error ? error.message : String(error);
  return { message: `cannot start task '${task?.name ?? deployment.taskId}': ${message}`, jobId: deployment.plan.jobId, subtaskIndex: deployment.subtaskIndex };
}

setInterval(() => {
  const byJob = new Map<string, Extract<FromWorker, { type: 'metrics' }>['tasks']>();
  for (const task of tasks.values()) {
    let list = byJob.get(task.jobId);
    if (!list) byJob.set(task.jobId, (list = []));
    task.refreshOperatorTimes();
    list.push({ taskId: task.plan.id, subtaskIndex: task.subtaskIndex, metrics: structuredClone(task.metrics) });
  }
  for (const [jobId, list] of byJob) post({ type: 'metrics', jobId, tasks: list });
}, 1000).unref();

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'deploy':
      deploy(message.deployment);
      break;
    case 'cancel':
      for (const task of tasks.values()) if (task.jobId === message.jobId) task.cancel();
      break;
  }
});
