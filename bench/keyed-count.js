// Issue target: generator → key-by → per-key count (heap state) → sink at ≥ 1M events/s at
// parallelism 1, and faster at parallelism 2 than at 1. The count is a group aggregation
// (a running count per key, emitted as a changelog).
import { report, throughput } from './lib.js';

const EVENTS = 6_000_000;

const graph = (parallelism) => ({
  schemaVersion: 1,
  name: 'keyed count',
  job: { defaultParallelism: parallelism },
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

export async function run() {
  const p1 = await throughput('keyed-count', () => graph(1), EVENTS, { extra: { parallelism: 1 } });
  const p2 = await throughput('keyed-count', () => graph(2), EVENTS, { extra: { parallelism: 2 } });
  report({ bench: 'keyed-count', metric: 'speedup_p2_over_p1', value: Number((p2 / p1).toFixed(3)), unit: 'ratio', runs: 3, stat: 'median-ratio' });
}
