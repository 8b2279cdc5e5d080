// Hosted mode: sandboxed user functions (isolated-vm) and user functions in a confined job
// process (the 'process' mode) against trusted ones (in the slot's thread), on the chained
// map/filter job and on a keyed process function with value state. Issue goal: sandboxed
// >= 50% of trusted. The modes alternate, and the ratios (wall clock and per CPU-second,
// the job process's CPU included) are printed as their own metrics.
import { graph as chained } from './chained.js';
import { loadavg } from 'node:os';
import { processModeAvailability } from '@sluice/engine';
import { median, report, runJob } from './lib.js';

// The chained benchmark's own size (chained.js); keyed process: a few seconds trusted
// (at 1M, trusted ran for half a second after start-up, and the sandboxed side's warm-up,
// its isolate compiling the batch loop and the user function, was a third of its run).
const CHAINED_EVENTS = 10_000_000;
const PROCESS_EVENTS = 4_000_000;

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
 *
 * Every run starts an engine of its own (worker threads, modules, a job, an isolate): about
 * half a second before the first record, which is most of a trusted run of a few million
 * records and flatters the ratio. So each mode also runs a job of STARTUP_EVENTS records,
 * and the steady figures take the median of those (its start-up) off every run:
 * events / (seconds - start-up). The goal is judged on the steady ratio.
 */
const STARTUP_EVENTS = 1000;

async function compare(name, makeGraph, events, runs = 3) {
  // The process mode needs Linux user namespaces; where they are missing it is left out.
  const modes = processModeAvailability().available ? ['trusted', 'sandboxed', 'process'] : ['trusted', 'sandboxed'];
  for (const mode of modes) await runJob(makeGraph(events), { userCode: { mode } });
  const seconds = Object.fromEntries(modes.map((m) => [m, []]));
  const cpuSeconds = Object.fromEntries(modes.map((m) => [m, []]));
  const startup = Object.fromEntries(modes.map((m) => [m, []]));
  const load = [];
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const run = await runJob(makeGraph(events), { userCode: { mode } });
      seconds[mode].push(run.seconds);
      cpuSeconds[mode].push(run.cpuSeconds);
      startup[mode].push((await runJob(makeGraph(STARTUP_EVENTS), { userCode: { mode } })).seconds);
      load.push(loadavg()[0]);
    }
  }
  const loadAverage = Number(median(load).toFixed(2));
  const rate = {};
  const perCpu = {};
  const steady = {};
  for (const mode of modes) {
    const start = median(startup[mode]);
    rate[mode] = median(seconds[mode].map((s) => events / s));
    perCpu[mode] = median(cpuSeconds[mode].map((s) => events / s));
    steady[mode] = median(seconds[mode].map((s) => events / Math.max(1e-3, s - start)));
    report({
      bench: name,
      metric: 'events_per_s',
      value: Math.round(rate[mode]),
      unit: 'ev/s',
      runs,
      stat: 'median',
      events,
      events_per_cpu_s: Math.round(perCpu[mode]),
      startup_s: Number(start.toFixed(3)),
      steady_events_per_s: Math.round(steady[mode]),
      mode,
      parallelism: 1,
      load_average: loadAverage,
    });
  }
  for (const mode of modes.slice(1)) {
    const ratio = (of) => Number((of[mode] / of.trusted).toFixed(3));
    report({ bench: name, metric: `steady_${mode}_over_trusted`, value: ratio(steady), unit: 'ratio', runs, stat: 'median-ratio', goal: 0.5, load_average: loadAverage });
    report({ bench: name, metric: `${mode}_over_trusted`, value: ratio(rate), unit: 'ratio', runs, stat: 'median-ratio', events, note: 'whole runs, start-up included', load_average: loadAverage });
    report({ bench: name, metric: `${mode}_over_trusted_per_cpu_s`, value: ratio(perCpu), unit: 'ratio', runs, stat: 'median-ratio', note: 'whole runs, start-up included', load_average: loadAverage });
  }
}

export async function run() {
  await compare('sandbox-chained-map-filter', (events) => chained(events), CHAINED_EVENTS);
  await compare('sandbox-keyed-process', (events) => keyedProcess(events), PROCESS_EVENTS);
}
