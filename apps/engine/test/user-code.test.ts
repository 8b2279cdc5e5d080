/**
 * User functions as the job manager compiles them (compile/user-code.ts) and a worker
 * evaluates them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { JobManager, TaskManager } from '@sluice/engine';

const taskManager = new TaskManager({ slots: 1 });
afterAll(() => taskManager.shutdown());

describe('user code', () => {
  it('a function that mentions `this` outside any method compiles and runs (it once failed as "Unexpected token \'export\'")', async () => {
    const job = await new JobManager(taskManager).submit({
      schemaVersion: 1,
      name: 'this',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 3, ratePerSecond: 0 } },
        { id: 'fn', type: 'map', config: { fn: '(v) => ({ id: v.id, seen: this === undefined ? "nothing" : "something" })' } },
        { id: 'out', type: 'collect-sink', config: { name: 'out' } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'fn' },
        { id: 'e2', source: 'fn', target: 'out' },
      ],
    });
    expect(await job.done).toBe('finished');
    expect(job.failure).toBeUndefined();
    expect(job.results('out').map((r) => (r.value as { id: number }).id)).toEqual([0, 1, 2]);
  });
});
