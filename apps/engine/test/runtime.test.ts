/**
 * The runtime on real worker threads: each test deploys a job on a task manager with
 * two slots and checks what came out (and, where it matters, the live metrics).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument, Partitioning } from '@sluice/graph-model';
import { JobManager, readSnapshotFile, SubmissionError, TaskManager, type Job } from '@sluice/engine';
import { keyGroupOf, keyGroupRangeOf, recordFactory, subtaskForKey } from '@sluice/operators';
import { waitFor } from './wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let taskManager: TaskManager;
let jobs: JobManager;
let scratch: string;

beforeAll(async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  scratch = mkdtempSync(`${tmpdir()}/sluice-runtime-`);
  taskManager = new TaskManager({ slots: 2 });
  jobs = new JobManager(taskManager);
});
afterAll(async () => {
  await taskManager.shutdown();
});

async function run(graph: JobGraphDocument): Promise<Job> {
  const job = await jobs.submit(graph);
  await job.done;
  // Collected rows that were still in flight when the last subtask finished.
  await new Promise((r) => setTimeout(r, 150));
  return job;
}

function values<T>(job: Job, name = 'out'): T[] {
  return job.results(name).map((r) => r.value as T);
}

const sorted = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();

function keyedCount(chaining: boolean): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'keyed count',
    job: { defaultParallelism: 2, chaining },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 20_000, ratePerSecond: 0, keys: 37, eventIntervalMs: 3 } },
      { id: 'm', type: 'map', config: { fn: '(v) => ({ ...v, even: v.value % 2 === 0 })' } },
      { id: 'f', type: 'filter-expression', config: { conditions: [{ field: 'even', op: 'eq', value: true }] } },
      { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      {
        id: 'w',
        type: 'tumbling-window',
        config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'value', as: 'sum' }] } },
      },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'm' },
      { id: 'e2', source: 'm', target: 'f' },
      { id: 'e3', source: 'f', target: 'k' },
      { id: 'e4', source: 'k', target: 'w' },
      { id: 'e5', source: 'w', target: 'out' },
    ],
  };
}

describe('runtime', () => {
  it('gives identical output with chaining on and off', async () => {
    const on = await run(keyedCount(true));
    const off = await run(keyedCount(false));
    expect(on.status).toBe('finished');
    expect(off.status).toBe('finished');
    expect(on.plan.tasks.length).toBeLessThan(off.plan.tasks.length);
    expect(values(on).length).toBeGreaterThan(100);
    expect(sorted(values(on))).toEqual(sorted(values(off)));
  });

  function fanOut(partitioning: Partitioning | 'key-by', p: number, q: number): JobGraphDocument {
    const keyed = partitioning === 'key-by';
    return {
      schemaVersion: 1,
      name: `exchange ${partitioning}`,
      nodes: [
        { id: 'gen', type: 'generator', parallelism: p, config: { profile: 'sequence', count: 6000, ratePerSecond: 0, keys: 50 } },
        { id: 'tag', type: 'map', parallelism: p, config: { fn: '(v, ctx) => ({ ...v, from: ctx.subtaskIndex })' } },
        ...(keyed ? [{ id: 'k', type: 'key-by', config: { key: { kind: 'field' as const, field: 'key' } } }] : []),
        { id: 'to', type: 'map', parallelism: q, config: { fn: '(v, ctx) => ({ ...v, to: ctx.subtaskIndex })' } },
        { id: 'out', type: 'collect-sink', parallelism: q, config: { name: 'out', maxRecords: 1_000_000 } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'tag' },
        ...(keyed
          ? [
              { id: 'e2', source: 'tag', target: 'k' },
              { id: 'e3', source: 'k', target: 'to' },
            ]
          : [{ id: 'e2', source: 'tag', target: 'to', partitioning }]),
        { id: 'e4', source: 'to', target: 'out' },
      ],
    };
  }

  type Tagged = { id: number; key: string; from: number; to: number };

  it('forward keeps each record on the same subtask index', async () => {
    const rows = values<Tagged>(await run(fanOut('forward', 2, 2)));
    expect(rows).toHaveLength(6000);
    expect(rows.every((r) => r.to === r.from)).toBe(true);
  });

  it('rebalance delivers each record once, spreading every producer evenly over all consumers', async () => {
    const rows = values<Tagged>(await run(fanOut('rebalance', 2, 3)));
    expect(new Set(rows.map((r) => r.id)).size).toBe(6000);
    for (const from of [0, 1]) {
      const counts = [0, 1, 2].map((to) => rows.filter((r) => r.from === from && r.to === to).length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  it('rescale sends each producer to its own group of consumers', async () => {
    const rows = values<Tagged>(await run(fanOut('rescale', 2, 4)));
    expect(rows).toHaveLength(6000);
    expect([...new Set(rows.filter((r) => r.from === 0).map((r) => r.to))].sort()).toEqual([0, 1]);
    expect([...new Set(rows.filter((r) => r.from === 1).map((r) => r.to))].sort()).toEqual([2, 3]);
  });

  it('broadcast delivers every record to every consumer', async () => {
    const rows = values<Tagged>(await run(fanOut('broadcast', 2, 3)));
    expect(rows).toHaveLength(18_000);
    for (const to of [0, 1, 2]) expect(new Set(rows.filter((r) => r.to === to).map((r) => r.id)).size).toBe(6000);
  });

  it('hash partitioning keeps a key on one subtask, the one whose key-group range holds it', async () => {
    const rows = values<Tagged>(await run(fanOut('key-by', 2, 3)));
    expect(rows).toHaveLength(6000);
    const subtaskOf = new Map<string, Set<number>>();
    for (const r of rows) subtaskOf.set(r.key, (subtaskOf.get(r.key) ?? new Set()).add(r.to));
    for (const [key, subtasks] of subtaskOf) {
      expect([...subtasks]).toEqual([subtaskForKey(key, 128, 3)]);
      const range = keyGroupRangeOf(subtaskForKey(key, 128, 3), 128, 3);
      expect(keyGroupOf(key, 128)).toBeGreaterThanOrEqual(range.start);
      expect(keyGroupOf(key, 128)).toBeLessThanOrEqual(range.end);
    }
  });

  it('a bounded job ends with every window fired (checked against a recount of the generated data)', async () => {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/clickstream-page-views.json`, 'utf8')) as JobGraphDocument;
    const job = await run(graph);
    expect(job.status).toBe('finished');
    const gen = graph.nodes[0]?.config as { seed: number; count: number; keys: number; eventIntervalMs: number; maxOutOfOrdernessMs: number };
    const make = recordFactory({ profile: 'clickstream', seed: gen.seed, keys: gen.keys, startTime: 1_700_000_000_000, eventIntervalMs: gen.eventIntervalMs, maxOutOfOrdernessMs: gen.maxOutOfOrdernessMs, lateFraction: 0, lateByMs: 0 });
    const expected = new Map<string, { views: number; visitors: Set<string> }>();
    for (let n = 0; n < gen.count; n++) {
      const { value, timestamp } = make(n);
      if (value['action'] !== 'view') continue;
      const k = `${String(value['page'])}@${timestamp - (timestamp % 60_000)}`;
      const cell = expected.get(k) ?? { views: 0, visitors: new Set() };
      cell.views++;
      cell.visitors.add(String(value['userId']));
      expected.set(k, cell);
    }
    const actual = values<{ key: string; windowStart: number; views: number; visitors: number }>(job, 'page-views');
    expect(new Map(actual.map((r) => [`${r.key}@${r.windowStart}`, [r.views, r.visitors]]))).toEqual(
      new Map([...expected].map(([k, v]) => [k, [v.views, v.visitors.size]])),
    );
  });

  function twoSources(idleTimeoutMs: number): JobGraphDocument {
    const source = (rate: number, idle: number) => ({
      profile: 'sequence' as const,
      ratePerSecond: rate,
      keys: 3,
      eventIntervalMs: 10,
      watermarks: { idleTimeoutMs: idle },
    });
    return {
      schemaVersion: 1,
      name: 'idle input',
      job: { watermarks: { emit: { mode: 'periodic', intervalMs: 50 } } },
      nodes: [
        { id: 'busy', type: 'generator', config: source(2000, 0) },
        { id: 'quiet', type: 'generator', config: { ...source(0.1, idleTimeoutMs), seed: 7 } },
        { id: 'u', type: 'union', config: {} },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'w', type: 'tumbling-window', config: { sizeMs: 500, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
        { id: 'out', type: 'collect-sink', config: { name: 'out' } },
      ],
      edges: [
        { id: 'e1', source: 'busy', target: 'u' },
        { id: 'e2', source: 'quiet', target: 'u' },
        { id: 'e3', source: 'u', target: 'k' },
        { id: 'e4', source: 'k', target: 'w' },
        { id: 'e5', source: 'w', target: 'out' },
      ],
    };
  }

  it('the watermark is the minimum over inputs: a silent input holds windows back, and is named as the one holding back', async () => {
    const job = await jobs.submit(twoSources(0));
    const unionTask = job.plan.tasks.find((t) => t.operators.some((o) => o.nodeId === 'u'));
    const quietExchange = job.plan.exchanges.find((e) => e.fromTask === job.plan.tasks.find((t) => t.operators[0]?.nodeId === 'quiet')?.id);
    expect(await waitFor(() => [...job.metrics.values()].some((m) => m.taskId === unionTask?.id && m.metrics.inputWatermarks[0]?.holdingBack !== undefined), 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(job.results('out')).toEqual([]);
    const marks = [...job.metrics.values()].find((m) => m.taskId === unionTask?.id)?.metrics.inputWatermarks[0];
    expect(marks?.holdingBack).toEqual({ exchange: quietExchange?.id, producerSubtask: 0 });
    job.cancel();
  });

  it('an idle input stops holding the watermark back after its idleness timeout', async () => {
    const job = await jobs.submit(twoSources(200));
    expect(await waitFor(() => job.results('out').length > 0, 10_000)).toBe(true);
    job.cancel();
  });

  it('a slow sink backpressures the source through bounded buffers', async () => {
    const graph: JobGraphDocument = {
      schemaVersion: 1,
      name: 'backpressure',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 0 } },
        { id: 'slow', type: 'map', chaining: 'never', config: { fn: '(v) => { const end = Date.now() + 1; while (Date.now() < end) {} return v; }' } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'slow' },
        { id: 'e2', source: 'slow', target: 'out' },
      ],
    };
    const job = await jobs.submit(graph);
    const sourceTask = job.plan.tasks.find((t) => t.operators[0]?.nodeId === 'gen')?.id;
    const slowTask = job.plan.tasks.find((t) => t.operators[0]?.nodeId === 'slow')?.id;
    const metricsOf = (task: number | undefined) => [...job.metrics.values()].find((m) => m.taskId === task)?.metrics;
    expect(await waitFor(() => (metricsOf(sourceTask)?.backpressuredMs ?? 0) > 1000, 10_000)).toBe(true);
    const source = metricsOf(sourceTask);
    const slow = metricsOf(slowTask);
    job.cancel();
    if (!source || !slow) throw new Error('no metrics');
    const produced = source.operators[0]?.recordsOut ?? 0;
    const consumed = slow.operators[0]?.recordsIn ?? 0;
    // Without flow control the source would have produced millions by now.
    expect(produced - consumed).toBeLessThan(20_000);
    expect(source.backpressuredMs).toBeGreaterThan(source.busyMs);
    expect(slow.busyMs).toBeGreaterThan(slow.idleMs);
  });

  it('a discard sink with a rate stands for a slow external system: it takes no more than that, counts its waiting as busy, and backpressures the source', async () => {
    const rate = 500;
    const graph: JobGraphDocument = {
      schemaVersion: 1,
      name: 'throttled sink',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 0 } },
        { id: 'out', type: 'blackhole-sink', chaining: 'never', config: { ratePerSecond: rate } },
      ],
      edges: [{ id: 'e1', source: 'gen', target: 'out' }],
    };
    const started = performance.now();
    const job = await jobs.submit(graph);
    const sourceTask = job.plan.tasks.find((t) => t.operators[0]?.nodeId === 'gen')?.id;
    const sinkTask = job.plan.tasks.find((t) => t.operators[0]?.nodeId === 'out')?.id;
    const metricsOf = (task: number | undefined) => [...job.metrics.values()].find((m) => m.taskId === task)?.metrics;
    // Each subtask reports once a second on its own: wait until the sink has accounted for a second too.
    const accounted = (m: ReturnType<typeof metricsOf>) => (m ? m.busyMs + m.idleMs + m.backpressuredMs : 0);
    expect(await waitFor(() => (metricsOf(sourceTask)?.backpressuredMs ?? 0) > 1000 && accounted(metricsOf(sinkTask)) > 1000, 10_000)).toBe(true);
    const source = metricsOf(sourceTask);
    const sink = metricsOf(sinkTask);
    const elapsedS = (performance.now() - started) / 1000;
    job.cancel();
    if (!source || !sink) throw new Error('no metrics');
    const consumed = sink.operators[0]?.recordsIn ?? 0;
    expect(consumed).toBeGreaterThan(0);
    // A slower machine only takes fewer; one read step (1,024 records) may come before the wait.
    expect(consumed).toBeLessThanOrEqual(rate * elapsedS + 1024);
    expect((source.operators[0]?.recordsOut ?? 0) - consumed).toBeLessThan(20_000);
    expect(source.backpressuredMs).toBeGreaterThan(source.busyMs);
    expect(sink.backpressuredMs).toBe(0);
    expect(sink.busyMs).toBeGreaterThan(sink.idleMs);
  });

  function failing(fn: string, keyed: boolean): JobGraphDocument {
    return {
      schemaVersion: 1,
      name: 'failing',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 5000, ratePerSecond: 0, keys: 10 } },
        ...(keyed
          ? [
              { id: 'k', type: 'key-by', config: { key: { kind: 'field' as const, field: 'key' } } },
              {
                id: 'boom',
                type: 'tumbling-window',
                config: { sizeMs: 1000, function: { kind: 'aggregate' as const, aggregate: `({ createAccumulator: () => 0, add: ${fn}, getResult: (a) => a })` } },
              },
            ]
          : [{ id: 'boom', type: 'map', config: { fn } }]),
        { id: 'out', type: 'collect-sink', config: {} },
      ],
      edges: keyed
        ? [
            { id: 'e1', source: 'gen', target: 'k' },
            { id: 'e2', source: 'k', target: 'boom' },
            { id: 'e3', source: 'boom', target: 'out' },
          ]
        : [
            { id: 'e1', source: 'gen', target: 'boom' },
            { id: 'e2', source: 'boom', target: 'out' },
          ],
    };
  }

  it('a task whose output feeds two operators drains every output while it is backpressured, and keeps its worker responsive', async () => {
    // Two hash exchanges out of one key-by: while one is out of credit, the other must
    // still be drained, or the task waits on nothing and starves the consumers on its own
    // worker (this job hung at parallelism 2 until the slot missed its heartbeats).
    const job = await run({
      schemaVersion: 1,
      name: 'fan-out under backpressure',
      job: { defaultParallelism: 2, watermarks: { maxOutOfOrdernessMs: 500, emit: { mode: 'punctuated', everyRecords: 100 } } },
      nodes: [
        { id: 'readings', type: 'generator', config: { profile: 'sensor', count: 20_000, ratePerSecond: 0, keys: 40, eventIntervalMs: 20, seed: 8 } },
        { id: 'by-sensor', type: 'key-by', config: { key: { kind: 'field', field: 'sensorId' } } },
        { id: 'a', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
        { id: 'b', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
        { id: 'sa', type: 'collect-sink', config: { name: 'a', maxRecords: 1_000_000 } },
        { id: 'sb', type: 'collect-sink', config: { name: 'b', maxRecords: 1_000_000 } },
      ],
      edges: [
        { id: 'e1', source: 'readings', target: 'by-sensor' },
        { id: 'e2', source: 'by-sensor', target: 'a' },
        { id: 'e3', source: 'by-sensor', target: 'b' },
        { id: 'e4', source: 'a', target: 'sa' },
        { id: 'e5', source: 'b', target: 'sb' },
      ],
    });
    expect(job.status, job.failure?.message).toBe('finished');
    // Every reading counted once per aggregate: the last count per sensor sums to the total.
    for (const name of ['a', 'b']) {
      const last = new Map<unknown, number>();
      for (const r of values<{ key: unknown; count: number }>(job, name)) last.set(r.key, r.count);
      expect([...last.values()].reduce((n, c) => n + c, 0), name).toBe(20_000);
    }
  }, 60_000);

  it('a source with an expensive operator chained after it lets checkpoint barriers in between its records: a poll lasts about one slice, not a whole batch', async () => {
    const count = 300;
    const job = await run({
      schemaVersion: 1,
      name: 'slow chain after a source',
      job: { defaultParallelism: 1, checkpointing: { enabled: true, intervalMs: 20, retained: 100 } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: 0, keys: 5 } },
        // About 3 ms per record, chained into the source's task.
        { id: 'slow', type: 'map', config: { fn: '(v) => { const end = performance.now() + 3; while (performance.now() < end) {} return v; }' } },
        { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000 } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'slow' },
        { id: 'e2', source: 'slow', target: 'out' },
      ],
    });
    expect(job.status, job.failure?.message).toBe('finished');
    expect(values(job)).toHaveLength(count);
    // Where the generator stood at each completed checkpoint. Emitting a batch of 1024
    // records in one poll would put every checkpoint at 0 or at the end.
    const positions = job
      .checkpoints()
      .filter((c) => c.status === 'completed')
      .flatMap((c) => readdirSync(c.directory).filter((f) => f.endsWith('.state')).map((f) => readSnapshotFile(join(c.directory, f))))
      .flatMap((file) => file.operators.filter((o) => o.nodeId === 'gen'))
      .flatMap((o) => (o.operatorState?.entries ?? []) as Array<{ next: number }>)
      .map((e) => e.next);
    expect(new Set(positions.filter((p) => p > 0 && p < count)).size, `positions: ${positions.join(', ')}`).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('a throwing user function fails the job with job, operator, subtask and record', async () => {
    const job = await run(failing("(v) => { if (v.value === 1234) throw new Error('bad value'); return v; }", false));
    expect(job.status).toBe('failed');
    expect(job.failure).toMatchObject({ nodeId: 'boom', subtaskIndex: 0, jobId: job.id });
    expect(job.failure?.record).toContain('"value":1234');
    expect(job.failure?.message).toMatch(new RegExp(`^bad value \\(job ${job.id}, operator 'boom', subtask 1/1, record \\{.*"value":1234`));
  });

  it('a throwing keyed function also names the key', async () => {
    const job = await run(failing("(v, acc) => { if (v.key === 'key-3') throw new Error('no key-3'); return acc + 1; }", true));
    expect(job.status).toBe('failed');
    expect(job.failure).toMatchObject({ nodeId: 'boom', key: 'key-3' });
    expect(job.failure?.message).toMatch(/^no key-3 \(.*operator 'boom'.*key "key-3".*record/);
  });

  it('reports a thrown non-Error value plainly', async () => {
    const job = await run(failing("(v) => { if (v.value === 7) throw 'oops'; return v; }", false));
    expect(job.failure?.message).toMatch(/^a non-Error value was thrown: "oops"/);
  });

  it("one job's failure leaves another running job alone", async () => {
    const good = jobs.submit(keyedCount(true));
    const bad = jobs.submit(failing("(v) => { throw new Error('always'); }", false));
    const [g, b] = await Promise.all([good, bad]);
    await Promise.all([g.done, b.done]);
    await new Promise((r) => setTimeout(r, 150));
    expect(b.status).toBe('failed');
    expect(g.status).toBe('finished');
    const reference = await run(keyedCount(true));
    expect(sorted(values(g))).toEqual(sorted(values(reference)));
  });

  it('measures time per operator inside a chain, so a slow operator shows even when chained', async () => {
    const job = await jobs.submit({
      schemaVersion: 1,
      name: 'chain timing',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 0 } },
        { id: 'cheap', type: 'map', config: { fn: '(v) => v' } },
        { id: 'costly', type: 'map', config: { fn: '(v) => { const end = performance.now() + 0.02; while (performance.now() < end) {} return v; }' } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'cheap' },
        { id: 'e2', source: 'cheap', target: 'costly' },
        { id: 'e3', source: 'costly', target: 'out' },
      ],
    });
    expect(job.plan.tasks).toHaveLength(1);
    const ops = () => [...job.metrics.values()][0]?.metrics.operators ?? [];
    // Past the first reports, where JIT warm-up distorts the samples.
    expect(await waitFor(() => (ops().find((o) => o.nodeId === 'costly')?.busyMs ?? 0) > 2000, 15_000)).toBe(true);
    const byId = new Map(ops().map((o) => [o.nodeId, o.busyMs]));
    job.cancel();
    expect(byId.get('costly')).toBeGreaterThan(5 * (byId.get('cheap') ?? 0));
    expect(byId.get('costly')).toBeGreaterThan(5 * (byId.get('out') ?? 0));
  });

  it('runs every example that needs no Kafka to the end', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(`${ROOT}examples`).filter((f) => f.endsWith('.json'));
    let ran = 0;
    for (const file of files) {
      const graph = JSON.parse(readFileSync(`${ROOT}examples/${file}`, 'utf8')) as JobGraphDocument;
      if (graph.nodes.some((n) => n.type.startsWith('kafka-'))) continue;
      // File sinks write into a scratch directory, not the repository.
      for (const node of graph.nodes) {
        if (node.type === 'file-sink') (node.config as { path: string }).path = `${scratch}/${node.id}`;
      }
      const job = await run(graph);
      expect(job.status, `${file}: ${job.failure?.message ?? ''}`).toBe('finished');
      ran++;
    }
    expect(ran).toBeGreaterThanOrEqual(7);
  });

  it('is fully deterministic at parallelism 1 with punctuated watermarks, late records included', async () => {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/iot-sensor-averages.json`, 'utf8')) as JobGraphDocument;
    graph.job = { ...graph.job, defaultParallelism: 1, watermarks: { maxOutOfOrdernessMs: 2000, emit: { mode: 'punctuated', everyRecords: 1 } } };
    const first = await run(graph);
    const second = await run(graph);
    expect(first.results('late-readings').length).toBeGreaterThan(100);
    expect(second.results('averages')).toEqual(first.results('averages'));
    expect(second.results('late-readings')).toEqual(first.results('late-readings'));
  });

  it('reads files and writes files, sending a poison line to the dead-letter output', async () => {
    const { mkdirSync, writeFileSync, readdirSync } = await import('node:fs');
    const input = `${scratch}/in`;
    mkdirSync(input, { recursive: true });
    writeFileSync(`${input}/a.jsonl`, '{"id":1,"timestamp":1000}\n{"id":2,"timestamp":2000}\nnot json\n');
    writeFileSync(`${input}/b.jsonl`, '{"id":3,"timestamp":1500}\n');
    const job = await run({
      schemaVersion: 1,
      name: 'files',
      nodes: [
        { id: 'src', type: 'file-source', config: { path: input, format: 'jsonl' } },
        { id: 'sink', type: 'file-sink', config: { path: `${scratch}/out`, format: 'jsonl' } },
        { id: 'dead', type: 'collect-sink', config: { name: 'dead' } },
      ],
      edges: [
        { id: 'e1', source: 'src', target: 'sink' },
        { id: 'e2', source: 'src', sourceOutput: 'dead-letter', target: 'dead' },
      ],
    });
    expect(job.status).toBe('finished');
    const written = readdirSync(`${scratch}/out`)
      .filter((f) => !f.startsWith('.'))
      .flatMap((f) => readFileSync(`${scratch}/out/${f}`, 'utf8').trim().split('\n'))
      .map((l) => (JSON.parse(l) as { id: number }).id)
      .sort();
    expect(written).toEqual([1, 2, 3]);
    expect(values<{ line: number; file: string }>(job, 'dead')).toMatchObject([{ line: 3 }]);
  });

  it('refuses an invalid graph with every problem and its path', async () => {
    const graph = keyedCount(true);
    graph.nodes[4]!.config = { sizeMs: -1, function: { kind: 'aggregations', aggregations: [] } };
    const error = await jobs.submit(graph).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubmissionError);
    expect((error as SubmissionError).problems.map((p) => p.path).sort()).toEqual(['nodes[4].config.function.aggregations', 'nodes[4].config.sizeMs']);
  });
});
