/**
 * The Nexmark queries of examples/nexmark/ give exactly Apache Flink's results.
 *
 * Each example runs as checked in (the built-in `nexmark` generator, 50,000 events,
 * parallelism 2) and at parallelism 1, and its collected changelog, materialized to final rows, must equal
 * the rows Flink 1.20 computed with the same query in SQL over the same events,
 * checked in under examples/nexmark/expected/. Flink is not needed here: the expected
 * outputs are regenerated with `node bench/nexmark/regenerate-expected.js`
 * (docs/nexmark.md), whenever the generator or a query changes on purpose.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager } from '@sluice/engine';
import { ROW_KIND_SHORT } from '@sluice/operators';
import { applyChange, canonicalRow, compareRows, finalRows, NEXMARK_QUERIES, type NexmarkQuery } from '../../../bench/nexmark/canonical.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXPECTED = `${ROOT}examples/nexmark/expected/`;

interface Manifest {
  generator: { profile: string; seed: number; count: number; eventIntervalMs: number };
  queries: Record<string, { rows: number; sha256: string }>;
}
const manifest = JSON.parse(readFileSync(`${EXPECTED}manifest.json`, 'utf8')) as Manifest;

let taskManager: TaskManager;
let jobs: JobManager;
beforeAll(() => {
  taskManager = new TaskManager({ slots: 2 });
  jobs = new JobManager(taskManager);
});
afterAll(async () => {
  await taskManager.shutdown();
});

function expectedRows(query: NexmarkQuery): string[] {
  const text = brotliDecompressSync(readFileSync(`${EXPECTED}${query}.jsonl.br`)).toString('utf8');
  return text.length === 0 ? [] : text.slice(0, -1).split('\n');
}

describe('Nexmark queries match Apache Flink on the same events', () => {
  for (const query of Object.keys(NEXMARK_QUERIES) as NexmarkQuery[]) {
    it.each([2, 1])(`${query} gives Flink's final rows at parallelism %i`, async (parallelism) => {
      const graph = JSON.parse(readFileSync(`${ROOT}examples/nexmark/${query}.json`, 'utf8')) as JobGraphDocument;
      graph.job = { ...graph.job, defaultParallelism: parallelism };
      const source = graph.nodes.find((n) => n.type === 'generator');
      const { profile, seed, count, eventIntervalMs } = source?.config as Manifest['generator'];
      // The expected rows are for exactly these events.
      expect({ profile, seed, count, eventIntervalMs }).toEqual(manifest.generator);

      const job = await jobs.submit(graph);
      const status = await job.done;
      await new Promise((r) => setTimeout(r, 150));
      expect(status, job.failure?.message).toBe('finished');
      expect(job.droppedCollected.get(query) ?? 0).toBe(0);

      const table = new Map<string, number>();
      for (const row of job.results(query)) applyChange(table, ROW_KIND_SHORT[row.kind] as string, canonicalRow(query, row.value));
      const actual = finalRows(table, `Sluice ${query}`);
      const expected = expectedRows(query);
      expect(expected.length).toBe(manifest.queries[query]?.rows);
      const comparison = compareRows(expected, actual);
      expect(comparison, `first rows that differ:\n${comparison.firstDifferences.map((d) => `  only in ${d.only === 'expected' ? 'Flink' : 'Sluice'}: ${d.row}`).join('\n')}`).toMatchObject({ match: true });
      expect(createHash('sha256').update(actual.map((r) => `${r}\n`).join('')).digest('hex')).toBe(manifest.queries[query]?.sha256);
    }, 60_000);
  }
});
