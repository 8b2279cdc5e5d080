/**
 * Golden pipelines built from the catalog's operators give the same output at
 * parallelism 1, 2 and 4 (changelogs compared after materializing them to final rows).
 * The inputs stay within their watermarks' out-of-orderness bounds, so no record is
 * late at any parallelism and the output is independent of how subtasks interleave.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager, type Job } from '@sluice/engine';
import { RowKind } from '@sluice/operators';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let taskManager: TaskManager;
let jobs: JobManager;

beforeAll(() => {
  taskManager = new TaskManager({ slots: 2 });
  jobs = new JobManager(taskManager);
});
afterAll(async () => {
  await taskManager.shutdown();
});

function example(name: string, edit: (g: JobGraphDocument) => void = () => {}): JobGraphDocument {
  const graph = JSON.parse(readFileSync(`${ROOT}examples/${name}.json`, 'utf8')) as JobGraphDocument;
  edit(graph);
  return graph;
}

function withParallelism(graph: JobGraphDocument, parallelism: number): JobGraphDocument {
  const copy = structuredClone(graph);
  copy.job = { ...copy.job, defaultParallelism: parallelism };
  for (const node of copy.nodes) delete node.parallelism;
  return copy;
}

function setConfig(graph: JobGraphDocument, id: string, patch: Record<string, unknown>): void {
  const node = graph.nodes.find((n) => n.id === id);
  if (!node) throw new Error(`no node ${id}`);
  node.config = { ...(node.config as object), ...patch };
}

/** Final rows of every collect sink: inserts as they are, changelogs applied by key. */
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

async function runAt(graph: JobGraphDocument, parallelism: number): Promise<Record<string, string[]>> {
  const job = await jobs.submit(withParallelism(graph, parallelism));
  const status = await job.done;
  await new Promise((r) => setTimeout(r, 150));
  if (status !== 'finished') throw new Error(`${graph.name} at parallelism ${parallelism}: ${status} ${job.failure?.message ?? ''}`);
  return materialize(job);
}

const pipelines: Array<[string, JobGraphDocument]> = [
  ['tumbling windows with distinct counts (clickstream)', example('clickstream-page-views', (g) => setConfig(g, 'clicks', { count: 60_000 }))],
  ['merging session windows with an aggregate and a result function', example('user-sessions', (g) => setConfig(g, 'clicks', { count: 40_000 }))],
  ['an interval join of two keyed streams', example('order-shipment-join', (g) => (setConfig(g, 'orders', { count: 20_000 }), setConfig(g, 'shipments', { count: 20_000 })))],
  [
    'a changelog group aggregate',
    example('customer-revenue-changelog', (g) => {
      const sink = g.nodes.find((n) => n.id === 'revenue-table');
      if (sink) {
        sink.type = 'collect-sink';
        sink.config = { name: 'revenue', maxRecords: 1_000_000 };
      }
    }),
  ],
  ['a CEP pattern with a timed-out output', example('failed-logins-cep', (g) => setConfig(g, 'logins', { count: 30_000 }))],
  [
    'sliding windows on panes',
    {
      schemaVersion: 1,
      name: 'sliding averages',
      job: { watermarks: { maxOutOfOrdernessMs: 500 } },
      nodes: [
        { id: 'readings', type: 'generator', config: { profile: 'sensor', count: 30_000, ratePerSecond: 0, keys: 40, eventIntervalMs: 20, maxOutOfOrdernessMs: 400 } },
        { id: 'by-sensor', type: 'key-by', config: { key: { kind: 'field', field: 'sensorId' } } },
        {
          id: 'avg',
          type: 'sliding-window',
          config: { sizeMs: 30_000, slideMs: 10_000, function: { kind: 'aggregations', aggregations: [{ op: 'avg', field: 'temperature', as: 'avg' }, { op: 'count' }] } },
        },
        { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
      ],
      edges: [
        { id: 'e1', source: 'readings', target: 'by-sensor' },
        { id: 'e2', source: 'by-sensor', target: 'avg' },
        { id: 'e3', source: 'avg', target: 'out' },
      ],
    },
  ],
];

describe('golden pipelines give the same output at parallelism 1, 2 and 4', () => {
  it.each(pipelines)('%s', async (_name, graph) => {
    const one = await runAt(graph, 1);
    expect(Object.values(one).reduce((n, rows) => n + rows.length, 0)).toBeGreaterThan(10);
    const [two, four] = [await runAt(graph, 2), await runAt(graph, 4)];
    expect(two).toEqual(one);
    expect(four).toEqual(one);
  });
});
