// One Sluice side of `npm run bench:nexmark`, in its own process so that its CPU time
// and peak RSS are its own: runs a Nexmark example graph over the NDJSON events with a
// file source, `runs` times on one embedded engine. With --out, run 1 collects the
// results and writes them canonical and sorted there (the correctness run); every other
// run writes to a blackhole sink (throughput). With --generator it instead
// measures the generator alone (nexmark profile → blackhole). Prints one JSON line per
// run, as bench/flink's RunSql does.
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JobManager, TaskManager } from '@sluice/engine';
import { ROW_KIND_SHORT } from '@sluice/operators';
import { applyChange, canonicalRow, finalRows } from './canonical.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    query: { type: 'string' },
    input: { type: 'string' },
    events: { type: 'string' },
    parallelism: { type: 'string', default: '2' },
    runs: { type: 'string', default: '4' },
    out: { type: 'string' },
    generator: { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
    'event-interval-ms': { type: 'string', default: '0.01' },
  },
});
const parallelism = Number(args.parallelism);
const runs = Number(args.runs);

/** The example graph with the file source (or the generator alone) and the given sink. */
function graphFor(sink) {
  if (args.generator) {
    return {
      schemaVersion: 1,
      name: 'Nexmark generator ceiling',
      job: { defaultParallelism: parallelism },
      nodes: [
        { id: 'events', type: 'generator', config: { profile: 'nexmark', seed: Number(args.seed), count: Number(args.events), eventIntervalMs: Number(args['event-interval-ms']), ratePerSecond: 0 } },
        { id: 'results', type: 'blackhole-sink', config: {} },
      ],
      edges: [{ id: 'e1', source: 'events', target: 'results' }],
    };
  }
  const graph = JSON.parse(readFileSync(`${ROOT}examples/nexmark/${args.query}.json`, 'utf8'));
  graph.job = { ...graph.job, defaultParallelism: parallelism };
  for (const node of graph.nodes) {
    delete node.parallelism;
    if (node.type === 'generator') {
      node.type = 'file-source';
      node.config = {
        path: args.input,
        format: 'jsonl',
        watermarks: { maxOutOfOrdernessMs: 4000, timestampAssigner: '(e) => (e.bid ?? e.auction ?? e.person).dateTime' },
      };
    }
    if (node.type === 'collect-sink') node.config = sink === 'collect' ? { name: args.query, maxRecords: 10_000_000 } : {};
    if (node.type === 'collect-sink' && sink === 'blackhole') node.type = 'blackhole-sink';
  }
  return graph;
}

function resetPeakRss() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux: the peak then covers the process so far.
  }
}

function peakRssKb() {
  const match = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) : -1;
}

const taskManager = new TaskManager({ slots: parallelism });
try {
  const jobs = new JobManager(taskManager);
  for (let run = 1; run <= runs; run++) {
    const collect = run === 1 && args.out !== undefined && !args.generator;
    const table = new Map();
    resetPeakRss();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let firstOutputMs = null;
    let changes = 0;
    const job = await jobs.submit(graphFor(collect ? 'collect' : 'blackhole'));
    // Fold results in as they arrive, so the job's own buffer never holds them all.
    const drain = () => {
      const rows = job.collected.get(args.query);
      if (!rows || rows.length === 0) return;
      firstOutputMs ??= performance.now() - t0;
      changes += rows.length;
      for (const row of rows) applyChange(table, ROW_KIND_SHORT[row.kind], canonicalRow(args.query, row.value));
      rows.length = 0;
    };
    const timer = collect ? setInterval(drain, 5) : undefined;
    const status = await job.done;
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (timer) {
      // Results still in flight from the workers arrive right after the status.
      await new Promise((r) => setTimeout(r, 150));
      clearInterval(timer);
      drain();
    }
    if (status !== 'finished') throw new Error(`Sluice ${args.query ?? 'generator'} at parallelism ${parallelism}: ${status} ${job.failure?.message ?? ''}`);
    let rows = null;
    if (collect) {
      const final = finalRows(table, `Sluice ${args.query}`);
      rows = final.length;
      // In chunks: the whole text can exceed the longest string V8 allows.
      const fd = openSync(args.out, 'w');
      for (let i = 0; i < final.length; i += 10_000) writeSync(fd, final.slice(i, i + 10_000).map((r) => `${r}\n`).join(''));
      closeSync(fd);
    }
    console.log(JSON.stringify({ run, mode: collect ? 'collect' : 'blackhole', wall_ms: wallMs, cpu_ms: (cpu.user + cpu.system) / 1000, first_output_ms: firstOutputMs, changes: collect ? changes : null, rows, peak_rss_kb: peakRssKb() }));
  }
} finally {
  await taskManager.shutdown();
}
