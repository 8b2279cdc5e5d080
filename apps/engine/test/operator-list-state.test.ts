/**
 * Operator list state of user functions through real checkpoints: a job at parallelism
 * 2 is stopped with a savepoint and restored at parallelism 3. Each new subtask reports
 * what it restored in open(); an even-split list must come back as contiguous, even
 * parts of the old subtasks' lists concatenated in subtask order, and a union list
 * whole on every subtask (Flink's getListState and getUnionListState).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, SubmissionError, TaskManager } from '@sluice/engine';

let taskManager: TaskManager;
let jobs: JobManager;

beforeAll(() => {
  taskManager = new TaskManager({ slots: 2 });
  jobs = new JobManager(taskManager);
});
afterAll(async () => {
  await taskManager.shutdown();
});

const RECORDS = 6_000;

/** Every record's id goes into `seen` (even split); `tally` (union) holds one count per subtask of the first run. */
const REMEMBERING = `({
  open(ctx) {
    this.report = {
      seen: [...ctx.getOperatorListState('seen').get()],
      tally: [...ctx.getOperatorListState('tally', { redistribution: 'union' }).get()],
    };
  },
  processElement(r, ctx) {
    if (this.report) {
      ctx.output('restored', { subtask: ctx.subtaskIndex, ...this.report });
      this.report = undefined;
    }
    ctx.getOperatorListState('seen').add(r.id);
    const tally = ctx.getOperatorListState('tally', { redistribution: 'union' });
    const others = tally.get().filter((t) => t.subtask !== ctx.subtaskIndex);
    const mine = tally.get().find((t) => t.subtask === ctx.subtaskIndex);
    tally.update([...others, { subtask: ctx.subtaskIndex, n: (mine ? mine.n : 0) + 1 }].sort((a, b) => a.subtask - b.subtask));
    ctx.collect({ id: r.id, subtask: ctx.subtaskIndex });
  },
})`;

function graph(parallelism: number): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'operator list state',
    job: { defaultParallelism: parallelism, checkpointing: { enabled: true, intervalMs: 300 } },
    nodes: [
      { id: 'numbers', type: 'generator', config: { profile: 'sequence', count: RECORDS, ratePerSecond: 2_000, keys: 60, seed: 4 } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'remember', type: 'keyed-process', config: { fn: REMEMBERING, sideOutputs: ['restored'] } },
      { id: 'ids', type: 'collect-sink', config: { name: 'ids', maxRecords: 1_000_000 } },
      { id: 'reports', type: 'collect-sink', config: { name: 'reports', maxRecords: 1_000 } },
    ],
    edges: [
      { id: 'e1', source: 'numbers', target: 'by-key' },
      { id: 'e2', source: 'by-key', target: 'remember' },
      { id: 'e3', source: 'remember', target: 'ids' },
      { id: 'e4', source: 'remember', sourceOutput: 'restored', target: 'reports' },
    ],
  };
}

type Report = { subtask: number; seen: number[]; tally: Array<{ subtask: number; n: number }> };

describe('operator list state of user functions across a rescale', () => {
  it('restoring a savepoint of parallelism 2 at parallelism 3 splits even-split lists contiguously and evenly, and gives every subtask the whole union list', async () => {
    const first = await jobs.submit(graph(2));
    for (let i = 0; i < 400 && first.results('ids').length < RECORDS / 4 && first.status === 'running'; i++) await new Promise((r) => setTimeout(r, 25));
    const savepoint = await first.stopWithSavepoint();
    expect(await first.done).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 150));
    // What the first run committed is exactly what its state held at the savepoint (the collect sink is exactly-once).
    const before = first.results('ids').map((r) => r.value as { id: number; subtask: number });
    expect(before.length).toBeGreaterThan(0);
    expect(before.length, 'the stop landed before the end of the input').toBeLessThan(RECORDS);
    const oldLists = [0, 1].map((s) => before.filter((r) => r.subtask === s).map((r) => r.id));

    const second = await jobs.submit(graph(3), { restoreFrom: savepoint.directory });
    const status = await second.done;
    await new Promise((r) => setTimeout(r, 150));
    expect(status, second.failure?.message).toBe('finished');
    const reports = second.results('reports').map((r) => r.value as Report).sort((a, b) => a.subtask - b.subtask);
    expect(reports.map((r) => r.subtask)).toEqual([0, 1, 2]);

    const total = before.length;
    const sizes = reports.map((r) => r.seen.length);
    const longer = total % 3;
    expect(sizes).toEqual([0, 1, 2].map((i) => Math.floor(total / 3) + (i < longer ? 1 : 0)));
    expect(reports.flatMap((r) => r.seen)).toEqual([...(oldLists[0] ?? []), ...(oldLists[1] ?? [])]);

    for (const report of reports) {
      expect(report.tally).toEqual([
        { subtask: 0, n: oldLists[0]?.length },
        { subtask: 1, n: oldLists[1]?.length },
      ]);
    }
    // The restored job went on from the savepoint: every record once across both runs.
    const after = second.results('ids').map((r) => (r.value as { id: number }).id);
    expect([...before.map((r) => r.id), ...after].sort((a, b) => a - b)).toEqual(Array.from({ length: RECORDS }, (_, i) => i));
  }, 60_000);
});

describe('operator list state and sandboxed user code', () => {
  it('a sandboxed engine refuses a job whose function uses operator list state, naming the operator and the code field', async () => {
    const sandboxedTm = new TaskManager({ slots: 1, userCode: { mode: 'sandboxed' } });
    try {
      const sandboxed = new JobManager(sandboxedTm);
      const refused = graph(1);
      refused.nodes.splice(2, 0, { id: 'dedup', type: 'filter', config: { fn: "(r, ctx) => { const s = ctx.getOperatorListState('ids'); s.add(r.id); return true; }" } });
      refused.edges[0] = { id: 'e1', source: 'numbers', target: 'dedup' };
      refused.edges.push({ id: 'e5', source: 'dedup', target: 'by-key' });
      const error = await sandboxed.check(refused).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SubmissionError);
      expect((error as SubmissionError).message).toMatch(/operator 'dedup' \(filter\) uses ctx.getOperatorListState.*not available to sandboxed user code.*--trusted/);
      expect((error as SubmissionError).problems.map((p) => [p.nodeId, p.path])).toEqual([
        ['dedup', 'nodes[2].config.fn'],
        ['remember', 'nodes[3].config.fn'],
      ]);
      // The same job without operator list state passes the check.
      await expect(sandboxed.check(graphWithout())).resolves.toBeUndefined();
    } finally {
      await sandboxedTm.shutdown();
    }
  });
});

function graphWithout(): JobGraphDocument {
  const g = graph(1);
  const remember = g.nodes.find((n) => n.id === 'remember');
  if (remember) remember.config = { fn: '({ processElement(r, ctx) { ctx.collect(r); } })', sideOutputs: ['restored'] };
  return g;
}
