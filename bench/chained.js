// Issue target: a chained generator → map → filter → sink job at ≥ 3M events/s on this machine.
import { throughput } from './lib.js';

const EVENTS = 10_000_000;

export const graph = (events = EVENTS) => ({
  schemaVersion: 1,
  name: 'chained map filter',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: events, ratePerSecond: 0, keys: 1000 } },
    { id: 'map', type: 'map', config: { fn: '(v) => ({ id: v.id, key: v.key, value: v.value * 2, timestamp: v.timestamp })' } },
    { id: 'filter', type: 'filter', config: { fn: '(v) => v.value % 3 !== 0' } },
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'map' },
    { id: 'e2', source: 'map', target: 'filter' },
    { id: 'e3', source: 'filter', target: 'sink' },
  ],
});

export async function run() {
  await throughput('chained-map-filter', () => graph(), EVENTS, { extra: { parallelism: 1 } });
}
