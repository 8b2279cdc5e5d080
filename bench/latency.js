// Issue target: p99 record latency ≤ 10 ms at half the maximum rate, with buffer timeout 0.
// Records are stamped with the wall clock right after the source and measured after a
// hash exchange to another thread (the clocks of worker threads agree: timeOrigin + now()).
import { percentile, report, runJob } from './lib.js';
import { JobManager, TaskManager } from '@sluice/engine';

const graph = ({ count = null, rate = 0, bufferTimeoutMs = 0 } = {}) => ({
  schemaVersion: 1,
  name: 'latency',
  job: { defaultParallelism: 1, bufferTimeoutMs },
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: rate, keys: 1000 } },
    { id: 'stamp', type: 'map', config: { fn: '(v) => ({ ...v, sent: performance.timeOrigin + performance.now() })' } },
    { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'measure', type: 'map', config: { fn: '(v) => ({ id: v.id, latencyMs: performance.timeOrigin + performance.now() - v.sent })' } },
    { id: 'sample', type: 'filter', config: { fn: '(v) => v.id % 10 === 0' } },
    { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 2_000_000 } },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'stamp' },
    { id: 'e2', source: 'stamp', target: 'by-key' },
    { id: 'e3', source: 'by-key', target: 'measure' },
    { id: 'e4', source: 'measure', target: 'sample' },
    { id: 'e5', source: 'sample', target: 'out' },
  ],
});

export async function run() {
  // The maximum rate of this pipeline, unthrottled.
  const events = 3_000_000;
  await runJob(graph({ count: events, bufferTimeoutMs: 100 }));
  const { seconds } = await runJob(graph({ count: events, bufferTimeoutMs: 100 }));
  const maxRate = Math.round(events / seconds);
  report({ bench: 'latency', metric: 'max_events_per_s', value: maxRate, unit: 'ev/s', runs: 1, stat: 'single', parallelism: 1 });

  const rate = Math.round(maxRate / 2);
  const durationS = Number(process.env.SLUICE_BENCH_LATENCY_S ?? 20);
  const taskManager = new TaskManager({ slots: 2 });
  try {
    const job = await new JobManager(taskManager).submit(graph({ rate, bufferTimeoutMs: 0 }));
    await new Promise((r) => setTimeout(r, durationS * 1000));
    job.cancel();
    await new Promise((r) => setTimeout(r, 200));
    // Skip the first two seconds: start-up and JIT warm-up.
    const skip = Math.round((rate / 10) * 2);
    const latencies = job.results('out').slice(skip).map((r) => r.value.latencyMs);
    if (latencies.length < 1000) throw new Error(`only ${latencies.length} latency samples`);
    for (const p of [50, 99, 99.9]) {
      report({
        bench: 'latency',
        metric: `p${p}_ms`,
        value: Number(percentile(latencies, p).toFixed(3)),
        unit: 'ms',
        runs: 1,
        stat: `p${p}`,
        rate,
        samples: latencies.length,
        buffer_timeout_ms: 0,
        seconds: durationS,
      });
    }
  } finally {
    await taskManager.shutdown();
  }
}
