// Issue target (fault tolerance): the throughput lost to exactly-once checkpoints every
// second on the keyed window benchmark is at most 10%. The same job (generator → key-by →
// tumbling 1-minute count per key over 100k keys, heap state) runs without checkpoints
// and with aligned exactly-once checkpoints every second; both report events/s, and the
// checkpointed run also what its checkpoints cost: how many completed, the synchronous
// part (the task stops for it) and the asynchronous part (records go on meanwhile).
import { median, report, runJob } from './lib.js';

const EVENTS = 8_000_000;
// Runs with and without checkpoints alternate, in pairs, so that a change in the speed of a
// shared machine falls on both sides alike; the loss is the median over the pairs.
const PAIRS = Number(process.env.SLUICE_BENCH_CHECKPOINT_PAIRS ?? 6);

const graph = (checkpointing) => ({
  schemaVersion: 1,
  name: 'checkpointed window count',
  job: {
    defaultParallelism: 1,
    checkpointing: checkpointing ? { enabled: true, intervalMs: 1000, mode: 'exactly-once' } : { enabled: false },
  },
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: EVENTS, ratePerSecond: 0, keys: 100_000, eventIntervalMs: 0.01 } },
    { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'w', type: 'tumbling-window', config: { sizeMs: 60_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'by-key' },
    { id: 'e2', source: 'by-key', target: 'w' },
    { id: 'e3', source: 'w', target: 'sink' },
  ],
});

async function measure() {
  const rates = { plain: [], checkpointed: [] };
  const cpuRates = { plain: [], checkpointed: [] };
  const checkpoints = [];
  // The first run of each warms up the code; it is not counted.
  await runJob(graph(false));
  await runJob(graph(true));
  for (let i = 0; i < PAIRS; i++) {
    for (const checkpointing of [false, true]) {
      const { seconds, cpuSeconds, job } = await runJob(graph(checkpointing));
      rates[checkpointing ? 'checkpointed' : 'plain'].push(EVENTS / seconds);
      cpuRates[checkpointing ? 'checkpointed' : 'plain'].push(EVENTS / cpuSeconds);
      if (checkpointing) checkpoints.push(...job.checkpoints().filter((c) => c.status === 'completed'));
    }
  }
  return { rates, cpuRates, checkpoints };
}

export async function run() {
  const { rates, cpuRates, checkpoints } = await measure();
  report({ bench: 'checkpoint-overhead', metric: 'events_per_s', value: Math.round(median(rates.plain)), unit: 'ev/s', runs: PAIRS, stat: 'median', checkpointing: 'off', events: EVENTS, keys: 100_000 });
  const subtasks = checkpoints.flatMap((c) => c.subtasks);
  const keyed = subtasks.filter((s) => s.bytes > 1_000_000);
  report({
    bench: 'checkpoint-overhead',
    metric: 'events_per_s',
    value: Math.round(median(rates.checkpointed)),
    unit: 'ev/s',
    runs: PAIRS,
    stat: 'median',
    checkpointing: 'exactly-once every 1 s',
    events: EVENTS,
    keys: 100_000,
    checkpoints_completed: checkpoints.length,
    window_state_sync_ms_median: keyed.length > 0 ? Number(median(keyed.map((s) => s.syncMs)).toFixed(1)) : null,
    window_state_async_ms_median: keyed.length > 0 ? Math.round(median(keyed.map((s) => s.asyncMs))) : null,
    window_state_bytes_median: keyed.length > 0 ? Math.round(median(keyed.map((s) => s.bytes))) : null,
  });
  const losses = rates.plain.map((plain, i) => 1 - rates.checkpointed[i] / plain);
  report({
    bench: 'checkpoint-overhead',
    metric: 'throughput_loss',
    value: Number(median(losses).toFixed(3)),
    unit: 'fraction',
    runs: PAIRS,
    stat: 'median over alternating pairs',
    target: '<= 0.10',
    pairs: losses.map((l) => Number(l.toFixed(3))),
  });
  // What the checkpoints cost in CPU (events per CPU-second of the process, both sides):
  // steadier than wall-clock rates where other work shares the machine.
  const cpuLosses = cpuRates.plain.map((plain, i) => 1 - cpuRates.checkpointed[i] / plain);
  report({ bench: 'checkpoint-overhead', metric: 'cpu_cost', value: Number(median(cpuLosses).toFixed(3)), unit: 'fraction', runs: PAIRS, stat: 'median over alternating pairs', pairs: cpuLosses.map((l) => Number(l.toFixed(3))) });
}
