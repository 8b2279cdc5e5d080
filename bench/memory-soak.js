// Issue target: memory flat (±10%) over a 5-minute run with a sink throttled to 1% of the
// source rate: backpressure must stop the source instead of queueing without bound.
// SLUICE_BENCH_SOAK_S shortens it for a quick look (default 300 s).
import { report } from './lib.js';
import { JobManager, TaskManager } from '@sluice/engine';

const SOURCE_RATE = 100_000;
const graph = {
  schemaVersion: 1,
  name: 'memory soak',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'clickstream', ratePerSecond: SOURCE_RATE, keys: 10_000 } },
    {
      id: 'throttled',
      type: 'map',
      chaining: 'never',
      // 1% of the source rate: 1,000 records/s.
      config: { fn: '(v) => { const end = performance.now() + 1; while (performance.now() < end) {} return v; }' },
    },
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'throttled' },
    { id: 'e2', source: 'throttled', target: 'sink' },
  ],
};

export async function run() {
  const seconds = Number(process.env.SLUICE_BENCH_SOAK_S ?? 300);
  const taskManager = new TaskManager({ slots: 2 });
  try {
    const job = await new JobManager(taskManager).submit(graph);
    const samples = [];
    const started = Date.now();
    while (Date.now() - started < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 5000));
      if (job.status !== 'running') throw new Error(`job ${job.status}: ${job.failure?.message ?? ''}`);
      const m = process.memoryUsage();
      samples.push({ t: (Date.now() - started) / 1000, rss: m.rss / 1e6, heap: m.heapUsed / 1e6 });
    }
    job.cancel();
    // Compare the settled state: the first fifth is start-up.
    const settled = samples.slice(Math.floor(samples.length / 5));
    const rss = settled.map((s) => s.rss);
    const mean = rss.reduce((a, b) => a + b, 0) / rss.length;
    const deviation = Math.max(...rss.map((r) => Math.abs(r - mean) / mean));
    const metrics = [...job.metrics.values()];
    const produced = metrics.flatMap((m) => m.metrics.operators).find((o) => o.nodeId === 'gen')?.recordsOut ?? 0;
    const consumed = metrics.flatMap((m) => m.metrics.operators).find((o) => o.nodeId === 'throttled')?.recordsIn ?? 0;
    // Growth, as opposed to GC breathing: the least-squares slope over the settled samples.
    const ts = settled.map((s) => s.t);
    const tMean = ts.reduce((a, b) => a + b, 0) / ts.length;
    const slope = settled.reduce((acc, s) => acc + (s.t - tMean) * (s.rss - mean), 0) / settled.reduce((acc, s) => acc + (s.t - tMean) ** 2, 0);
    const half = Math.floor(settled.length / 2);
    const firstHalf = settled.slice(0, half).reduce((a, s) => a + s.rss, 0) / half;
    const secondHalf = settled.slice(half).reduce((a, s) => a + s.rss, 0) / (settled.length - half);
    report({ bench: 'memory-soak', metric: 'rss_mb_mean', value: Number(mean.toFixed(1)), unit: 'MB', runs: 1, stat: 'mean', seconds });
    report({ bench: 'memory-soak', metric: 'rss_growth_mb_per_min', value: Number((slope * 60).toFixed(2)), unit: 'MB/min', runs: 1, stat: 'least-squares', seconds });
    report({ bench: 'memory-soak', metric: 'rss_second_half_over_first', value: Number((secondHalf / firstHalf).toFixed(3)), unit: 'ratio', runs: 1, stat: 'mean-ratio', seconds });
    report({ bench: 'memory-soak', metric: 'heap_mb_range', value: Number((Math.max(...settled.map((s) => s.heap)) - Math.min(...settled.map((s) => s.heap))).toFixed(1)), unit: 'MB', runs: 1, stat: 'max-min', seconds });
    report({ bench: 'memory-soak', metric: 'rss_max_deviation', value: Number((deviation * 100).toFixed(2)), unit: '%', runs: 1, stat: 'max', seconds, samples: rss.length });
    report({ bench: 'memory-soak', metric: 'records_in_flight', value: produced - consumed, unit: 'records', runs: 1, stat: 'final', produced, consumed });
  } finally {
    await taskManager.shutdown();
  }
}
