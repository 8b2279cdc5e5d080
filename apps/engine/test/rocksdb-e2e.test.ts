/**
 * The RocksDB backend in running jobs (worker threads): the exactly-once window job with
 * incremental checkpoints survives thrown errors and killed workers (aligned and
 * unaligned), a native checkpoint restores at another parallelism and into a heap job,
 * and shared files of pruned checkpoints are collected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager, type Job } from '@sluice/engine';

let taskManager: TaskManager;
let jobs: JobManager;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sluice-rocks-e2e-'));
  taskManager = new TaskManager({ slots: 2, localStateDirectory: join(scratch, 'local') });
  jobs = new JobManager(taskManager, { dataDir: join(scratch, 'data') });
});
afterAll(async () => {
  await taskManager.shutdown();
});

const COUNT = 12_000;
type Backend = { type: 'heap' } | { type: 'rocksdb'; incremental?: boolean };

function windowJob(backend: Backend, failAt: number, parallelism = 2, rate = 15_000, unaligned = false, retained = 1): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'rocksdb exactly once',
    job: {
      defaultParallelism: parallelism,
      checkpointing: { enabled: true, intervalMs: 100, unaligned, retained },
      restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 50 },
      stateBackend: backend,
    },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: COUNT, ratePerSecond: rate, keys: 23, eventIntervalMs: 7 } },
      { id: 'maybe-fail', type: 'map', config: { fn: `(v, ctx) => { if (ctx.attemptNumber === 0 && v.id === ${failAt}) throw new Error('injected failure'); return v; }` } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'window', type: 'tumbling-window', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'value', as: 'sum' }] } } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'maybe-fail' },
      { id: 'e2', source: 'maybe-fail', target: 'by-key' },
      { id: 'e3', source: 'by-key', target: 'window' },
      { id: 'e4', source: 'window', target: 'out' },
    ],
  };
}

async function finish(job: Job): Promise<string[]> {
  const status = await Promise.race([job.done, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 40_000).unref())]);
  await new Promise((r) => setTimeout(r, 150));
  if (status !== 'finished') throw new Error(`job ${status}: ${job.failure?.message ?? ''} ${JSON.stringify(job.checkpoints().map((c) => `${c.id}:${c.status}:${c.failure ?? ''}`))}`);
  return job.results('out').map((r) => JSON.stringify(r.value)).sort();
}

function metadataOf(directory: string): { triggeredAt: number; subtasks: Array<{ native?: Record<string, { shared: Array<{ name: string }>; sharedDirectory: string }> }> } {
  return JSON.parse(readFileSync(join(directory, '_metadata'), 'utf8')) as never;
}

describe('RocksDB state in running jobs', () => {
  let expected: string[] = [];
  beforeAll(async () => {
    expected = await finish(await jobs.submit(windowJob({ type: 'heap' }, -1)));
  });

  const cases = Array.from({ length: Number(process.env['SLUICE_ROCKS_E2E_SEEDS'] ?? 12) }, (_, i) => [i + 1, i % 2 === 0 ? 'throw' : 'kill', i % 4 >= 2] as const);
  for (const [seed, failure, unaligned] of cases) {
    it(`seed ${seed}: ${failure}, ${unaligned ? 'unaligned' : 'aligned'}: the same output as the heap job without failure`, async () => {
      const failAt = failure === 'throw' ? 2000 + ((seed * 1237) % 8000) : -1;
      const job = await jobs.submit(windowJob({ type: 'rocksdb' }, failAt, 2, 15_000, unaligned));
      if (failure === 'kill') setTimeout(() => void taskManager.killSlot(seed % 2), 250 + ((seed * 37) % 400));
      const rows = await finish(job);
      expect(job.restarts).toBeGreaterThanOrEqual(1);
      expect(rows).toEqual(expected);
      const completed = job.checkpoints().filter((c) => c.status === 'completed');
      expect(completed.length).toBeGreaterThan(0);
    }, 60_000);
  }

  it('a native checkpoint restores at parallelism 3 (RocksDB) and into a heap job', async () => {
    const first = await jobs.submit(windowJob({ type: 'rocksdb' }, -1, 2, 4000, false, 3));
    // Let a few checkpoints complete, then stop without a savepoint and restore from the latest checkpoint.
    for (let i = 0; i < 200 && first.checkpoints().filter((c) => c.status === 'completed').length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    first.cancel();
    await first.done;
    const latest = first.checkpoints().filter((c) => c.status === 'completed').at(-1);
    expect(latest).toBeDefined();
    const directory = latest?.directory ?? '';
    const metadata = metadataOf(directory);
    const handles = metadata.subtasks.flatMap((s) => Object.values(s.native ?? {}));
    expect(handles.length).toBe(2);
    // Retained checkpoints keep their shared files; pruned ones left none behind that nobody
    // lists, except files linked after the newest retained checkpoint started (a checkpoint
    // that was running when the job was cancelled).
    const shared = join(directory, '..', 'shared');
    const listed = new Set<string>();
    let newestTrigger = 0;
    for (const name of readdirSync(join(directory, '..')).filter((n) => n.startsWith('chk-') && existsSync(join(directory, '..', n, '_metadata')))) {
      const metadata = metadataOf(join(directory, '..', name));
      newestTrigger = Math.max(newestTrigger, metadata.triggeredAt);
      for (const s of metadata.subtasks) for (const h of Object.values(s.native ?? {})) for (const f of h.shared) listed.add(f.name);
    }
    for (const f of readdirSync(shared)) {
      if (!listed.has(f)) expect(statSync(join(shared, f)).ctimeMs, `${f} is listed by no retained checkpoint`).toBeGreaterThanOrEqual(newestTrigger);
    }

    const firstRows = first.results('out').map((r) => JSON.stringify(r.value));
    const rescaled = await finish(await jobs.submit(windowJob({ type: 'rocksdb' }, -1, 3, 4000), { restoreFrom: directory }));
    const onHeap = await finish(await jobs.submit(windowJob({ type: 'heap' }, -1, 2, 4000), { restoreFrom: directory }));
    // Windows fired before the checkpoint are in the first run's output (exactly once with the collect sink's commits).
    const committedBefore = firstRows.filter((r) => !rescaled.includes(r));
    expect([...committedBefore, ...rescaled].sort()).toEqual(expected);
    expect(onHeap).toEqual(rescaled);
  }, 90_000);
});
