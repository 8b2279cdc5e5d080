// Checkpoint duration under backpressure, aligned against unaligned (FLIP-76). An unbounded
// generator feeds large records (2 KB) through a key-by to a map that takes about a
// millisecond per record, so the channels and the generator's output queue stay full. An
// aligned barrier waits behind all of that; an unaligned one overtakes it (in the channel
// ring and in the producer's queue) and stores it with the checkpoint. Both modes run in
// the same benchmark, alternating, and the ratio of their median durations is reported.
import { median, report, runJob } from './lib.js';

const EVENTS = 6000;
const RUNS = 3;

const graph = (unaligned) => ({
  schemaVersion: 1,
  name: 'checkpoints under backpressure',
  job: {
    defaultParallelism: 2,
    checkpointing: { enabled: true, intervalMs: 200, mode: 'exactly-once', unaligned, alignmentTimeoutMs: 0 },
  },
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: EVENTS, ratePerSecond: 0, keys: 23, eventIntervalMs: 1 } },
    { id: 'pad', type: 'map', config: { fn: `(v) => ({ ...v, pad: 'x'.repeat(2000) })` } },
    { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'slow', type: 'map', config: { fn: `(v) => { const until = Date.now() + 1; while (Date.now() < until) {} return v.id; }` } },
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'pad' },
    { id: 'e2', source: 'pad', target: 'by-key' },
    { id: 'e3', source: 'by-key', target: 'slow' },
    { id: 'e4', source: 'slow', target: 'sink' },
  ],
});

export async function run() {
  const fresh = () => ({ durations: [], bytes: [], completed: 0, alignment: [], async: [] });
  const results = { aligned: fresh(), unaligned: fresh() };
  // The first round warms up the code; it is not counted.
  for (let i = 0; i <= RUNS; i++) {
    for (const mode of ['aligned', 'unaligned']) {
      const { job } = await runJob(graph(mode === 'unaligned'));
      if (i === 0) continue;
      const completed = job.checkpoints().filter((c) => c.status === 'completed');
      results[mode].completed += completed.length;
      results[mode].durations.push(...completed.map((c) => c.durationMs));
      results[mode].bytes.push(...completed.map((c) => c.bytes));
      // The consumers' side: first to last barrier, and the asynchronous write.
      const consumers = completed.flatMap((c) => c.subtasks.filter((s) => s.taskId === 1));
      results[mode].alignment.push(...consumers.map((s) => s.alignmentMs));
      results[mode].async.push(...consumers.map((s) => s.asyncMs));
    }
  }
  for (const mode of ['aligned', 'unaligned']) {
    const r = results[mode];
    if (r.durations.length === 0) throw new Error(`no ${mode} checkpoint completed under backpressure`);
    const common = { bench: 'unaligned-backpressure', checkpointing: mode, runs: RUNS, events: EVENTS, parallelism: 2, completed: r.completed };
    report({ ...common, metric: 'checkpoint_duration_ms', value: Math.round(median(r.durations)), unit: 'ms', stat: 'median' });
    report({ ...common, metric: 'checkpoint_bytes', value: Math.round(median(r.bytes)), unit: 'bytes', stat: 'median' });
    report({ ...common, metric: 'consumer_alignment_ms', value: Math.round(median(r.alignment)), unit: 'ms', stat: 'median' });
    report({ ...common, metric: 'consumer_async_ms', value: Math.round(median(r.async)), unit: 'ms', stat: 'median' });
  }
  report({
    bench: 'unaligned-backpressure',
    metric: 'duration_aligned_over_unaligned',
    value: Number((median(results.aligned.durations) / median(results.unaligned.durations)).toFixed(2)),
    unit: 'ratio',
    runs: RUNS,
  });
}
