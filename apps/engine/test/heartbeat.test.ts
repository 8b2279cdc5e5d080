/**
 * TaskManager heartbeats. A worker's event loop is also its task thread, so a user
 * function that never returns silences the slot; like Flink on a heartbeat timeout, the
 * slot is replaced and the job fails over under its restart strategy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager } from '@sluice/engine';

let taskManager: TaskManager;
let jobs: JobManager;

beforeAll(() => {
  taskManager = new TaskManager({ slots: 2, heartbeatTimeoutMs: 3000 });
  jobs = new JobManager(taskManager);
});
afterAll(async () => {
  await taskManager.shutdown();
});

function endlessOnFirstAttempt(attempts: number | 'none'): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'endless loop',
    job: { defaultParallelism: 1, restartStrategy: attempts === 'none' ? { type: 'none' } : { type: 'fixed-delay', attempts, delayMs: 10 } },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 2000, ratePerSecond: 0, keys: 5, eventIntervalMs: 1 } },
      { id: 'spin', type: 'map', config: { fn: '(v, ctx) => { if (ctx.attemptNumber === 0 && v.id === 700) { for (;;) {} } return v; }' } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 10_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'spin' },
      { id: 'e2', source: 'spin', target: 'out' },
    ],
  };
}

describe('task manager heartbeats', () => {
  it('a heartbeat timeout replaces the slot and the job restarts and finishes', async () => {
    const job = await jobs.submit(endlessOnFirstAttempt(2));
    expect(await job.done).toBe('finished');
    expect(job.restarts).toBe(1);
    const failure = job.exceptions[0]?.failure.message ?? '';
    expect(failure).toMatch(/slot \d answered no heartbeat for \d+ s and was replaced/);
    expect(failure).toContain(`job ${job.id} attempt 0`);
    // The replacement slot works: both slots answer.
    const slots = await taskManager.diagnose(2000);
    expect(slots.map((s) => s.responsive)).toEqual([true, true]);
  }, 30_000);

  it('without restarts left the job fails with the heartbeat timeout as its cause', async () => {
    const job = await jobs.submit(endlessOnFirstAttempt('none'));
    expect(await job.done).toBe('failed');
    expect(job.failure?.message).toMatch(/answered no heartbeat/);
  }, 30_000);
});
