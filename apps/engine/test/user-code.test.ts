/**
 * User functions as the job manager compiles them (compile/user-code.ts) and a worker
 * evaluates them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager } from '@sluice/engine';

const taskManager = new TaskManager({ slots: 1 });
afterAll(() => taskManager.shutdown());

function mapJob(fn: string): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'user code',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 3, ratePerSecond: 0 } },
      { id: 'fn', type: 'map', config: { fn } },
      { id: 'out', type: 'collect-sink', config: { name: 'out' } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'fn' },
      { id: 'e2', source: 'fn', target: 'out' },
    ],
  };
}

describe('user code', () => {
  it("a function's failure carries where the function threw, below the engine's own stack as its cause", async () => {
    const job = await new JobManager(taskManager).submit(mapJob("(v) => {\n  if (v.id === 1) throw new RangeError('no id 1 here');\n  return v;\n}"));
    expect(await job.done).toBe('failed');
    expect(job.failure?.message).toMatch(/^no id 1 here \(job [0-9a-f-]+, operator 'fn', subtask 1\/1, record /);
    expect(job.failure?.stack).toMatch(/^TaskFailure: no id 1 here[\s\S]*\nCaused by: RangeError: no id 1 here\n\s+at /);
  });

  it('a function that mentions `this` outside any method compiles and runs (it once failed as "Unexpected token \'export\'")', async () => {
    const job = await new JobManager(taskManager).submit(mapJob('(v) => ({ id: v.id, seen: this === undefined ? "nothing" : "something" })'));
    expect(await job.done).toBe('finished');
    expect(job.failure).toBeUndefined();
    expect(job.results('out').map((r) => (r.value as { id: number }).id)).toEqual([0, 1, 2]);
  });
});
