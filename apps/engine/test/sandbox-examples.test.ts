/**
 * Every example graph (examples/*.json, examples/nexmark/*.json) runs with its user code
 * confined, in V8 isolates and in a process of its own (the two ways `sluice serve` runs
 * it), and gives the same final rows as with trusted user code.
 *
 * Each runs on fewer events (5,000 per generator) at parallelism 1, so that both runs see
 * the records in the same order and their outputs must be equal. External systems are
 * swapped for built-in ones, as the engine's user code is what this is about: file and
 * Kafka sinks become collect sinks, and kafka-etl's Kafka source becomes the clickstream
 * generator (its records have the fields the pipeline reads; it has no user function).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, ProcessTaskManager, processModeAvailability, TaskManager, type Job } from '@sluice/engine';
import { RowKind } from '@sluice/operators';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EVENTS = 5000;

let sandboxedTm: TaskManager;
let sandboxed: JobManager;
let trustedTm: TaskManager;
let trusted: JobManager;
const processes = processModeAvailability().available;
let processTm: ProcessTaskManager | undefined;
let perProcess: JobManager | undefined;

beforeAll(() => {
  sandboxedTm = new TaskManager({ slots: 2, userCode: { mode: 'sandboxed' } });
  sandboxed = new JobManager(sandboxedTm);
  // Two slots: on one slot, nexmark q7 (a diamond of exchanges in one thread) can spin its task loop under CPU contention (an engine bug reported separately).
  trustedTm = new TaskManager({ slots: 2, userCode: { mode: 'trusted' } });
  trusted = new JobManager(trustedTm);
  if (processes) {
    processTm = new ProcessTaskManager({ slotsPerJob: 2 });
    perProcess = new JobManager(processTm);
  }
});
afterAll(async () => {
  await sandboxedTm.shutdown();
  await trustedTm.shutdown();
  await processTm?.shutdown();
});

const examples = [
  ...readdirSync(`${ROOT}examples`).filter((f) => f.endsWith('.json')).map((f) => `examples/${f}`),
  ...readdirSync(`${ROOT}examples/nexmark`).filter((f) => f.endsWith('.json')).map((f) => `examples/nexmark/${f}`),
].sort();

function testable(path: string): JobGraphDocument {
  const graph = JSON.parse(readFileSync(`${ROOT}${path}`, 'utf8')) as JobGraphDocument;
  graph.job = { ...graph.job, defaultParallelism: 1 };
  const original = new Set(graph.nodes.filter((n) => n.type === 'generator').map((n) => n.id));
  graph.nodes = graph.nodes.map((node) => {
    const { parallelism: _ignored, ...rest } = node;
    if (node.type === 'generator') return { ...rest, config: { ...(node.config as object), count: EVENTS, ratePerSecond: 0 } };
    if (node.type === 'kafka-source') return { id: node.id, type: 'generator', config: { profile: 'clickstream', count: EVENTS, ratePerSecond: 0, seed: 7 } };
    if (node.type === 'file-sink' || node.type === 'kafka-sink') return { id: node.id, type: 'collect-sink', config: { name: node.id, maxRecords: 1_000_000 } };
    return rest;
  });
  // The generator has no dead-letter output: a replaced Kafka source's dead-letter edge and sink go.
  const replaced = new Set(graph.nodes.filter((n) => n.type === 'generator' && !original.has(n.id)).map((n) => n.id));
  const dropped = new Set(graph.edges.filter((e) => replaced.has(e.source) && e.sourceOutput !== undefined && e.sourceOutput !== 'main').map((e) => e.target));
  graph.edges = graph.edges.filter((e) => !dropped.has(e.target));
  graph.nodes = graph.nodes.filter((n) => !dropped.has(n.id));
  return graph;
}

/** Final rows of every collect sink: changelogs applied, sorted. */
function materialize(job: Job): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [sink, rows] of job.collected) {
    const table = new Map<string, number>();
    for (const row of rows) {
      const text = JSON.stringify(row.value);
      const delta = row.kind === RowKind.INSERT || row.kind === RowKind.UPDATE_AFTER ? 1 : -1;
      table.set(text, (table.get(text) ?? 0) + delta);
    }
    out[sink] = [...table].flatMap(([text, n]) => Array.from({ length: Math.max(0, n) }, () => text)).sort();
  }
  return out;
}

async function run(jobs: JobManager, graph: JobGraphDocument): Promise<Job> {
  const job = await jobs.submit(graph);
  await job.done;
  await new Promise((r) => setTimeout(r, 150));
  return job;
}

describe('every example runs with sandboxed user code, as it does trusted', () => {
  it('finds the examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(16);
  });

  it.each(examples)('%s', async (path) => {
    const graph = testable(path);
    const [inSandbox, inProcess] = await Promise.all([run(sandboxed, graph), run(trusted, graph)]);
    expect(inProcess.status, inProcess.failure?.message).toBe('finished');
    expect(inSandbox.status, inSandbox.failure?.message).toBe('finished');
    const rows = materialize(inSandbox);
    expect(Object.values(rows).some((r) => r.length > 0), 'the example produced no rows').toBe(true);
    expect(rows).toEqual(materialize(inProcess));
  });
});

describe.skipIf(!processes)('every example runs in a process of its own, as it does trusted', () => {
  it.each(examples)('%s', async (path) => {
    const graph = testable(path);
    const [confined, inEngine] = await Promise.all([run(perProcess as JobManager, graph), run(trusted, graph)]);
    expect(inEngine.status, inEngine.failure?.message).toBe('finished');
    expect(confined.status, confined.failure?.message).toBe('finished');
    const rows = materialize(confined);
    expect(Object.values(rows).some((r) => r.length > 0), 'the example produced no rows').toBe(true);
    expect(rows).toEqual(materialize(inEngine));
  });
});

describe('chains of sandboxed map, filter and flat-map functions', () => {
  const chain = (fns: Array<[string, 'map' | 'filter' | 'flat-map']>, ratePerSecond = 0): JobGraphDocument => ({
    schemaVersion: 1,
    name: 'chain',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 5000, ratePerSecond, keys: 7 } },
      ...fns.map(([fn, type], i) => ({ id: `f${i}`, type, config: { fn } })),
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 100_000 } },
    ],
    edges: [...fns.map((_, i) => ({ id: `e${i}`, source: i === 0 ? 'gen' : `f${i - 1}`, target: `f${i}` })), { id: 'last', source: `f${fns.length - 1}`, target: 'out' }],
  });

  it('give what trusted functions give, batch after batch (a map hands its results on inside the isolate)', async () => {
    const graph = chain([
      ['(v) => ({ id: v.id, key: v.key, value: v.value * 2 })', 'map'],
      ['(v) => v.value % 3 !== 0', 'filter'],
      ['(v) => ({ ...v, tag: v.key + ":" + v.id })', 'map'],
      ['(v) => v.id % 5 === 0 ? [v, { ...v, copy: true }] : v.id % 7 === 0 ? [] : [v]', 'flat-map'],
      ['(v) => v.id % 2 === 0', 'filter'],
      ['(v) => ({ id: v.id, tag: v.tag, copy: v.copy === true, ts: 0 })', 'map'],
    ]);
    const [inSandbox, inProcess] = await Promise.all([run(sandboxed, graph), run(trusted, graph)]);
    expect(inSandbox.status, inSandbox.failure?.message).toBe('finished');
    expect(inSandbox.results('out').length).toBeGreaterThan(1000);
    expect(materialize(inSandbox)).toEqual(materialize(inProcess));
  });

  it('a chain runs as chained calls do: what a filter does to its input reaches the functions after it, as in trusted mode, however the batches fall', async () => {
    for (const rate of [0, 3000]) {
      const graph = chain(
        [
          ['(v) => ({ id: v.id, seen: 0 })', 'map'],
          ['(v) => { v.seen = 1; return true; }', 'filter'],
          ['(v) => ({ id: v.id, seen: v.seen })', 'map'],
        ],
        rate,
      );
      const [inSandbox, inProcess] = await Promise.all([run(sandboxed, graph), run(trusted, graph)]);
      expect(inSandbox.status, inSandbox.failure?.message).toBe('finished');
      const seen = (job: Job) => [...new Set(job.results('out').map((r) => (r.value as { seen: number }).seen))];
      expect(seen(inSandbox), `rate ${rate}`).toEqual(seen(inProcess));
      expect(seen(inSandbox), `rate ${rate}`).toEqual([1]);
    }
  });
});
