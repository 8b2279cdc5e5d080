// Hosted mode: sandboxed user functions (isolated-vm) against trusted ones (in the slot's
// thread), on the chained map/filter job and on a keyed process function with value state.
// Issue goal: sandboxed >= 50% of trusted. Both sides run in the same process, alternating,
// and the ratios (wall clock and per CPU-second) are printed as their own metrics.
import { graph as chained } from './chained.js';
import { loadavg } from 'node:os';
import { median, report, runJob } from './lib.js';

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

/**
 * Trusted and sandboxed runs alternate (after one warm-up each), so that a change in the
 * load of a shared machine falls on both sides alike. Per CPU-second figures are the fair
 * ones there: wall-clock rates move with what else the machine runs.
 */
async function compare(name, makeGraph, events, runs = 3) {
  const modes = ['trusted', 'sandboxed'];
  for (const mode of modes) await runJob(makeGraph(), { userCode: { mode } });
  const rates = { trusted: [], sandboxed: [] };
  const cpu = { trusted: [], sandboxed: [] };
  const load = [];
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const { seconds, cpuSeconds } = await runJob(makeGraph(), { userCode: { mode } });
      rates[mode].push(events / seconds);
      cpu[mode].push(events / cpuSeconds);
      load.push(loadavg()[0]);
    }
  }
  const loadAverage = Number(median(load).toFixed(2));
  for (const mode of modes) {
    report({ bench: name, metric: 'events_per_s', value: Math.round(median(rates[mode])), unit: 'ev/s', runs, stat: 'median', events, events_per_cpu_s: Math.round(median(cpu[mode])), mode, parallelism: 1, load_average: loadAverage });
  }
  const ratio = (a, b) => Number((median(a) / median(b)).toFixed(3));
  report({ bench: name, metric: 'sandboxed_over_trusted', value: ratio(rates.sandboxed, rates.trusted), unit: 'ratio', runs, stat: 'median-ratio', goal: 0.5, load_average: loadAverage });
  report({ bench: name, metric: 'sandboxed_over_trusted_per_cpu_s', value: ratio(cpu.sandboxed, cpu.trusted), unit: 'ratio', runs, stat: 'median-ratio', goal: 0.5, load_average: loadAverage });
}

export async function run() {
  await compare('sandbox-chained-map-filter', () => chained(CHAINED_EVENTS), CHAINED_EVENTS);
  await compare('sandbox-keyed-process', () => keyedProcess(PROCESS_EVENTS), PROCESS_EVENTS);
}
