// Hosted mode: sandboxed user functions (isolated-vm) against trusted ones (in the slot's
// thread), on the chained map/filter job and on a keyed process function with value state.
// Issue goal: sandboxed >= 50% of trusted. Both sides run in the same process, one after
// the other, and the ratio is printed as its own metric.
import { graph as chained } from './chained.js';
import { report, throughput } from './lib.js';

const CHAINED_EVENTS = 2_000_000;
const PROCESS_EVENTS = 300_000;

const keyedProcess = (events) => ({
  schemaVersion: 1,
  name: 'keyed process',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: events, ratePerSecond: 0, keys: 1000 } },
    { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    {
      id: 'proc',
      type: 'keyed-process',
      config: {
        fn: `({ processElement(v, ctx) {
          const s = ctx.state('sum');
          const sum = (s.value() ?? 0) + v.value;
          s.update(sum);
          if (v.id % 100 === 0) ctx.collect({ key: ctx.key, sum });
        } })`,
        states: [{ kind: 'value', name: 'sum' }],
      },
    },
    { id: 'sink', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'by-key' },
    { id: 'e2', source: 'by-key', target: 'proc' },
    { id: 'e3', source: 'proc', target: 'sink' },
  ],
});

async function compare(name, makeGraph, events) {
  const trusted = await throughput(name, makeGraph, events, { userCode: { mode: 'trusted' }, extra: { mode: 'trusted', parallelism: 1 } });
  const sandboxed = await throughput(name, makeGraph, events, { userCode: { mode: 'sandboxed' }, extra: { mode: 'sandboxed', parallelism: 1 } });
  report({ bench: name, metric: 'sandboxed_over_trusted', value: Number((sandboxed / trusted).toFixed(3)), unit: 'ratio', runs: 3, stat: 'median-ratio', goal: 0.5 });
}

export async function run() {
  await compare('sandbox-chained-map-filter', () => chained(CHAINED_EVENTS), CHAINED_EVENTS);
  await compare('sandbox-keyed-process', () => keyedProcess(PROCESS_EVENTS), PROCESS_EVENTS);
}
