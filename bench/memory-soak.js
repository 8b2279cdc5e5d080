// Issue target: memory flat (±10%) over a 5-minute run with a sink throttled to 1% of the
// source rate: backpressure must stop the source instead of queueing without bound.
//
// Two slow ends, each its own run:
//   throttled-sink  the case: a discard sink that takes 1,000 records/s (ratePerSecond),
//                   like a slow external system; its task waits between records.
//   busy-operator   a map that spins 1 ms per record (1,000 records/s) before a plain sink.
//                   The spinning loop allocates on every call, so the young generation is
//                   collected hundreds of times a second and every record waiting in its
//                   input batch survives into the old generation: the process's memory then
//                   follows V8's full collections (a ramp until the first one), not the queues.
// SLUICE_BENCH_SOAK_S sets the length of each (default 300 s); SLUICE_BENCH_SOAK_SCENARIOS
// picks some (comma-separated names).
import { report } from './lib.js';
import { JobManager, TaskManager } from '@sluice/engine';

const SOURCE_RATE = 100_000;
const SLOW_RATE = SOURCE_RATE / 100;

const generator = { id: 'gen', type: 'generator', config: { profile: 'clickstream', ratePerSecond: SOURCE_RATE, keys: 10_000 } };

const SCENARIOS = {
  'throttled-sink': {
    slowNode: 'sink',
    graph: {
      schemaVersion: 1,
      name: 'memory soak: throttled sink',
      nodes: [generator, { id: 'sink', type: 'blackhole-sink', chaining: 'never', config: { ratePerSecond: SLOW_RATE } }],
      edges: [{ id: 'e1', source: 'gen', target: 'sink' }],
    },
  },
  'busy-operator': {
    slowNode: 'throttled',
    graph: {
      schemaVersion: 1,
      name: 'memory soak: busy operator',
      nodes: [
        generator,
        {
          id: 'throttled',
          type: 'map',
          chaining: 'never',
          config: { fn: '(v) => { const end = performance.now() + 1; while (performance.now() < end) {} return v; }' },
        },
        { id: 'sink', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'throttled' },
        { id: 'e2', source: 'throttled', target: 'sink' },
      ],
    },
  },
};

async function soak(scenario, { graph, slowNode }, seconds) {
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
    const operators = [...job.metrics.values()].flatMap((m) => m.metrics.operators);
    const produced = operators.filter((o) => o.nodeId === 'gen').reduce((n, o) => n + o.recordsOut, 0);
    const consumed = operators.filter((o) => o.nodeId === slowNode).reduce((n, o) => n + o.recordsIn, 0);
    // Growth, as opposed to GC breathing: the least-squares slope over the settled samples.
    const ts = settled.map((s) => s.t);
    const tMean = ts.reduce((a, b) => a + b, 0) / ts.length;
    const slope = settled.reduce((acc, s) => acc + (s.t - tMean) * (s.rss - mean), 0) / settled.reduce((acc, s) => acc + (s.t - tMean) ** 2, 0);
    const half = Math.floor(settled.length / 2);
    const firstHalf = settled.slice(0, half).reduce((a, s) => a + s.rss, 0) / half;
    const secondHalf = settled.slice(half).reduce((a, s) => a + s.rss, 0) / (settled.length - half);
    const common = { bench: 'memory-soak', scenario, runs: 1, seconds };
    report({ ...common, metric: 'rss_mb_mean', value: Number(mean.toFixed(1)), unit: 'MB', stat: 'mean' });
    report({ ...common, metric: 'rss_growth_mb_per_min', value: Number((slope * 60).toFixed(2)), unit: 'MB/min', stat: 'least-squares' });
    report({ ...common, metric: 'rss_second_half_over_first', value: Number((secondHalf / firstHalf).toFixed(3)), unit: 'ratio', stat: 'mean-ratio' });
    report({ ...common, metric: 'heap_mb_range', value: Number((Math.max(...settled.map((s) => s.heap)) - Math.min(...settled.map((s) => s.heap))).toFixed(1)), unit: 'MB', stat: 'max-min' });
    report({ ...common, metric: 'rss_max_deviation', value: Number((deviation * 100).toFixed(2)), unit: '%', stat: 'max', goal: 10, samples: rss.length });
    report({ ...common, metric: 'slow_end_records_per_s', value: Math.round(consumed / seconds), unit: 'records/s', stat: 'mean', goal: SLOW_RATE });
    report({ ...common, metric: 'records_in_flight', value: produced - consumed, unit: 'records', stat: 'final', produced, consumed });
  } finally {
    await taskManager.shutdown();
  }
}

export async function run() {
  const seconds = Number(process.env.SLUICE_BENCH_SOAK_S ?? 300);
  const picked = (process.env.SLUICE_BENCH_SOAK_SCENARIOS ?? Object.keys(SCENARIOS).join(',')).split(',').map((s) => s.trim());
  for (const name of picked) {
    const scenario = SCENARIOS[name];
    if (!scenario) throw new Error(`unknown memory-soak scenario '${name}'; known: ${Object.keys(SCENARIOS).join(', ')}`);
    await soak(name, scenario, seconds);
  }
}
