/**
 * The entry point of a job process (job-process.ts): a task manager of its own for one
 * job, driven by the engine's ProcessTaskManager over a pipe (frames.ts). It runs confined (Node's
 * permission model, Linux namespaces), and it ends when the engine goes away.
 */
import { Socket } from 'node:net';
import type { FromWorker } from '../runtime/protocol.js';
import { encodeFrame, FrameDecoder } from './frames.js';
import type { FromJobHost, JobHostSettings, ToJobHost } from './job-process.js';
import { TaskManager } from './task-manager.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as JobHostSettings;
// The engine's end of the pipe (frames.ts).
const pipe = new Socket({ fd: 3, readable: true, writable: true });
const send = (message: FromJobHost) => {
  if (pipe.writable) pipe.write(encodeFrame(message));
};

const manager = new TaskManager({ ...settings.taskManager, userCode: { mode: 'trusted' }, durableWrites: false });
const relay = (message: FromWorker) => send({ type: 'worker', message });

let ending = false;
const end = (code: number) => {
  if (ending) return;
  ending = true;
  // A slot inside native code (RocksDB) may not stop for terminate(); nobody is left to wait for it.
  setTimeout(() => process.exit(code), 2000);
  void manager.shutdown().finally(() => process.exit(code));
};
// The engine went away.
pipe.on('close', () => end(0));
pipe.on('error', () => end(0));
const decoder = new FrameDecoder({
  maxBytes: Number.MAX_SAFE_INTEGER,
  onMessage: (raw) => receive(raw as ToJobHost),
  onProblem: (problem) => {
    process.stderr.write(`the engine sent ${problem}\n`);
    end(1);
  },
});
pipe.on('data', (chunk: Buffer) => decoder.push(chunk));

function receive(message: ToJobHost): void {
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
}
