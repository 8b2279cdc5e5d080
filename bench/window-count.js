// Issue targets (operator library): generator → key-by → tumbling 1-minute count per key
// (100k keys, heap state) ≥ 1M events/s on one core; a sliding 10 s / 2 s window with an
// aggregate function at most 1.5× the cost of the tumbling one.
//
// Event-time density decides how much of the work is firing. At 1M events/s, a real
// 1-minute window holds about 600 events per key of 100k: `dense` (0.01 ms of event time
// per event, 60 events per key per window) is close to that. `sparse` (1 ms per event)
// puts every key once in each window, so every input record produces its own result:
// the worst case, reported separately.
import { report, throughput } from './lib.js';

const EVENTS = 6_000_000;
const count = { kind: 'aggregations', aggregations: [{ op: 'count' }] };
const average = {
  kind: 'aggregate',
  aggregate: '({ createAccumulator: () => ({ n: 0, sum: 0 }), add: (v, a) => { a.n++; a.sum += v.value; return a; }, getResult: (a) => a.sum / a.n, merge: (a, b) => ({ n: a.n + b.n, sum: a.sum + b.sum }) })',
};

const graph = (window, eventIntervalMs) => ({
  schemaVersion: 1,
  name: 'window count',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: EVENTS, ratePerSecond: 0, keys: 100_000, eventIntervalMs } },
    { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    window,
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'by-key' },
    { id: 'e2', source: 'by-key', target: 'w' },
    { id: 'e3', source: 'w', target: 'sink' },
  ],
});

const tumbling = (fn, size = 60_000, extra = {}) => ({ id: 'w', type: 'tumbling-window', config: { sizeMs: size, function: fn, ...extra } });
const sliding = (fn) => ({ id: 'w', type: 'sliding-window', config: { sizeMs: 10_000, slideMs: 2_000, function: fn } });

export async function run() {
  await throughput('window-count', () => graph(tumbling(count), 0.01), EVENTS, { extra: { window: 'tumbling 1 min', density: 'dense', parallelism: 1 } });
  await throughput('window-count', () => graph(tumbling(count), 1), EVENTS, { extra: { window: 'tumbling 1 min', density: 'sparse', parallelism: 1 } });
  // Sliding vs tumbling at the same event-time density (0.001 ms/event: 20 events per key per 2 s slide).
  const t = await throughput('window-aggregate', () => graph(tumbling(average, 10_000), 0.001), EVENTS, { extra: { window: 'tumbling 10 s', parallelism: 1 } });
  const s = await throughput('window-aggregate', () => graph(sliding(average), 0.001), EVENTS, { extra: { window: 'sliding 10 s / 2 s', parallelism: 1 } });
  report({ bench: 'window-aggregate', metric: 'sliding_cost_over_tumbling', value: Number((t / s).toFixed(3)), unit: 'ratio', runs: 3, stat: 'median-ratio' });
  // Allowed lateness makes the window a changelog: every fired window keeps a copy of its
  // result until end + lateness, to retract it on a late re-fire. Sparse is the worst case
  // (one result per input record); no record is late here, so this is the bookkeeping alone.
  const append = await throughput('window-count', () => graph(tumbling(count), 1), EVENTS, { extra: { window: 'tumbling 1 min', density: 'sparse', lateness: 0, parallelism: 1 } });
  const changelog = await throughput('window-count', () => graph(tumbling(count, 60_000, { allowedLatenessMs: 60_000 }), 1), EVENTS, {
    extra: { window: 'tumbling 1 min', density: 'sparse', lateness: '1 min', parallelism: 1 },
  });
  report({ bench: 'window-count', metric: 'lateness_cost_over_none', value: Number((append / changelog).toFixed(3)), unit: 'ratio', runs: 3, stat: 'median-ratio' });
}
