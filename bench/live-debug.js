// The cost of live debugging on the keyed-count job (generator → key-by → count → sink,
// parallelism 1): plain, with a hot-keys subscriber (key counting at the key-by), and
// with a record tap on the keyed edge. Measured alternately in one run; the ratios are
// what matters (issue: hot keys cost < 5% throughput).
import { JobManager, TaskManager } from '@sluice/engine';
import { median, report } from './lib.js';

const EVENTS = 4_000_000;

const graph = () => ({
  schemaVersion: 1,
  name: 'keyed count (live debug)',
  job: { defaultParallelism: 1 },
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: EVENTS, ratePerSecond: 0, keys: 100_000 } },
    { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'by-key' },
    { id: 'e2', source: 'by-key', target: 'count' },
    { id: 'e3', source: 'count', target: 'sink' },
  ],
});

async function once(mode) {
  const taskManager = new TaskManager({ slots: 2 });
  try {
    const jobs = new JobManager(taskManager);
    const t0 = performance.now();
    const job = await jobs.submit(graph());
    if (mode === 'hot-keys') job.hotKeys.subscribe(job.hotKeys.exchangesOf('by-key'));
    let sampled = 0;
    if (mode === 'tap') job.taps.start('e2', { maxRecordsPerSecond: 10, limit: 10_000 }, (batch) => (sampled += batch.records.length));
    const status = await job.done;
    const seconds = (performance.now() - t0) / 1000;
    if (status !== 'finished') throw new Error(`benchmark job ${status}: ${job.failure?.message ?? ''}`);
    if (mode === 'tap' && sampled === 0) throw new Error('the tap delivered no records');
    return EVENTS / seconds;
  } finally {
    await taskManager.shutdown();
  }
}

export async function run() {
  const modes = ['plain', 'hot-keys', 'tap'];
  const rates = Object.fromEntries(modes.map((m) => [m, []]));
  for (const m of modes) await once(m); // warm-up
  for (let i = 0; i < 5; i++) for (const m of modes) rates[m].push(await once(m));
  const plain = median(rates.plain);
  for (const m of modes) {
    report({ bench: 'live-debug', metric: 'events_per_s', mode: m, value: Math.round(median(rates[m])), unit: 'ev/s', parallelism: 1, runs: 5, stat: 'median', events: EVENTS });
  }
  for (const m of ['hot-keys', 'tap']) {
    report({ bench: 'live-debug', metric: `throughput_ratio_${m.replace('-', '_')}_over_plain`, value: Number((median(rates[m]) / plain).toFixed(3)), unit: 'ratio', runs: 5, stat: 'median-ratio' });
  }
}
