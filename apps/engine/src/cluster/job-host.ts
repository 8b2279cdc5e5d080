/**
 * The entry point of a job process (job-process.ts): a task manager of its own for one
 * job, driven over IPC by the engine's ProcessTaskManager. It runs confined (Node's
 * permission model, Linux namespaces), and it ends when the engine goes away.
 */
import type { FromWorker } from '../runtime/protocol.js';
import type { FromJobHost, JobHostSettings, ToJobHost } from './job-process.js';
import { TaskManager } from './task-manager.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as JobHostSettings;
const send = (message: FromJobHost) => {
  if (process.connected) process.send?.(message);
};

const manager = new TaskManager({ ...settings.taskManager, userCode: { mode: 'trusted' }, durableWrites: false });
const relay = (message: FromWorker) => send({ type: 'worker', message });

process.on('disconnect', () => {
  void manager.shutdown().finally(() => process.exit(0));
});

process.on('message', (raw) => {
  const message = raw as ToJobHost;
  const jobId = settings.jobId;
  switch (message.type) {
    case 'deploy':
      manager.deploy(message.plan, message.attempt, (taskId, subtaskIndex) => message.restores[taskId]?.[subtaskIndex], relay);
      break;
    case 'trigger-checkpoint':
      manager.triggerCheckpoint(jobId, message.attempt, message.subtasks, message.barrier);
      break;
    case 'notify-checkpoint':
      manager.notifyCheckpoint(jobId, message.attempt, message.checkpointId, message.outcome);
      break;
    case 'cancel':
      manager.cancel(jobId, message.attempt);
      break;
    case 'forget-attempt':
      manager.forgetAttempt(jobId, message.attempt);
      break;
    case 'inspect-state':
      manager.inspectState(message.where, message.nodeId, message.key, message.timeoutMs).then(
        (inspection) => send({ type: 'inspection', requestId: message.requestId, inspection }),
        (error: unknown) => send({ type: 'inspection', requestId: message.requestId, error: error instanceof Error ? error.message : String(error) }),
      );
      break;
    case 'to-subtasks':
      for (const { taskId, subtaskIndex, message: toWorker } of message.messages) manager.sendToSubtasks(jobId, message.attempt, [{ taskId, subtaskIndex }], () => toWorker);
      break;
  }
});
