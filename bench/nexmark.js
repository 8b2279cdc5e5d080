// `npm run bench:nexmark` (or `npm run bench -- nexmark`): Nexmark q0–q8 (without q6) on
// Sluice (parallelism 1 and 2) and Apache Flink 1.20 (parallelism 2, hashmap state), side
// by side over the same NDJSON events, plus the generator-only ceiling.
//
// Per engine and query, two processes. The first runs the query once and collects its
// results: the correctness oracle, and the submit-to-first-output time. The second runs
// it 1 + NEXMARK_RUNS times into a blackhole sink; the first of those is the warm-up
// (JIT), the others give the median events/s (events ÷ wall time from submission to the
// job's end), events per CPU-second and peak RSS (each run's own: /proc VmHWM is reset
// before it). Separate processes keep the collected results out of the measured memory.
// Then Sluice's final rows are compared with Flink's (bench/nexmark/canonical.js); any
// mismatch is printed with the first differing rows and makes the benchmark exit non-zero.
//
// Settings (environment):
//   NEXMARK_EVENTS            events (default 10000000)
//   NEXMARK_EVENT_INTERVAL_MS event time between events (default: 100 s ÷ events, so the
//                             events span 100 s of event time; 0.01 for 10 M events)
//   NEXMARK_SEED              generator seed (default 42)
//   NEXMARK_RUNS              measured runs after the collecting one (default 3)
//   NEXMARK_QUERIES           e.g. q0,q5 (default all)
//   NEXMARK_ENGINES           sluice,flink (default both)
//   FLINK_JAVA_OPTS           JVM options for Flink (default -Xmx4g)
// The events file is cached under .cache/nexmark/; the table is saved to bench/results/nexmark.json.
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeGeneratedRecords } from '@sluice/cli/generate';
import { report, median } from './lib.js';
import { applyChange, canonicalRow, finalRows, NEXMARK_QUERIES } from './nexmark/canonical.js';
import { runFlink } from './nexmark/flink.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CACHE = `${ROOT}.cache/nexmark/`;
const SLUICE_RUN = fileURLToPath(new URL('./nexmark/sluice-run.js', import.meta.url));

function setting(name, fallback) {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

async function* lines(file) {
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line.length > 0) yield line;
}

/** Streams two sorted row files side by side; returns counts and up to 5 rows that only one side has. */
async function compareFiles(expectedFile, actualFile) {
  const e = lines(expectedFile)[Symbol.asyncIterator]();
  const a = lines(actualFile)[Symbol.asyncIterator]();
  let x = await e.next();
  let y = await a.next();
  let expectedRows = 0;
  let actualRows = 0;
  const firstDifferences = [];
  while (!x.done || !y.done) {
    if (!x.done && !y.done && x.value === y.value) {
      expectedRows++;
      actualRows++;
      x = await e.next();
      y = await a.next();
    } else if (y.done || (!x.done && x.value < y.value)) {
      if (firstDifferences.length < 5) firstDifferences.push({ only: 'flink', row: x.value });
      expectedRows++;
      x = await e.next();
    } else {
      if (firstDifferences.length < 5) firstDifferences.push({ only: 'sluice', row: y.value });
      actualRows++;
      y = await a.next();
    }
  }
  return { match: firstDifferences.length === 0, flinkRows: expectedRows, sluiceRows: actualRows, firstDifferences };
}

/** Flink's changelog (RunSql's lines) → its final rows, canonical and sorted, one per line in `out`. */
async function canonicalFlinkRows(query, changelog, out) {
  const table = new Map();
  for await (const line of lines(changelog)) {
    const { op, row } = JSON.parse(line);
    applyChange(table, op, canonicalRow(query, row));
  }
  const rows = finalRows(table, `Flink ${query}`);
  table.clear();
  const fd = openSync(out, 'w');
  for (let i = 0; i < rows.length; i += 10_000) writeSync(fd, rows.slice(i, i + 10_000).map((r) => `${r}\n`).join(''));
  closeSync(fd);
}

function runSluice(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-old-space-size=8192', SLUICE_RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`Sluice ${args.join(' ')} exited with ${code}:\n${stderr.split('\n').slice(-20).join('\n')}`));
      else resolve(stdout.split('\n').filter((l) => l.startsWith('{"run"')).map((l) => JSON.parse(l)));
    });
  });
}

/** The figures of one engine on one query: `collecting` from the correctness run (or none), `runs` the warm-up and the measured runs. */
function summarize(collecting, runs, events) {
  const timed = runs.slice(1);
  return {
    events_per_s: Math.round(median(timed.map((r) => events / (r.wall_ms / 1000)))),
    events_per_cpu_s: Math.round(median(timed.map((r) => events / (r.cpu_ms / 1000)))),
    peak_rss_mb: Math.round(median(timed.map((r) => r.peak_rss_kb / 1024))),
    first_output_ms: collecting?.first_output_ms === null || collecting === undefined ? null : Math.round(collecting.first_output_ms),
    changes: collecting?.changes ?? null,
    runs: timed.length,
  };
}

const thousands = (n) => (n === null || n === undefined ? '–' : `${Math.round(n / 1000)}k`);

/** The saved table as Markdown (docs/nexmark.md shows one). */
export function markdownTable(table) {
  const out = [
    `${table.events} events over ${(table.events * table.event_interval_ms) / 1000} s of event time, seed ${table.seed}; median of ${table.runs} runs after a warm-up.`,
    '',
    '| Query | Sluice p1 ev/s | Sluice p2 ev/s | Flink p2 ev/s | Sluice/Flink (p1, p2) | ev per CPU-s (S p1, S p2, F) | peak RSS MB (S p1, S p2, F) | first output ms (S p1, S p2, F) | same results |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const notes = [];
  for (const [q, row] of Object.entries(table.queries)) {
    const s1 = row.sluice_p1 ?? {};
    const s2 = row.sluice_p2 ?? {};
    const f = row.flink_p2 ?? {};
    for (const [name, r] of [['Sluice p1', s1], ['Sluice p2', s2], ['Flink', f]]) if (r.failed) notes.push(`${q}: ${name} failed: ${r.failed}`);
    const same = [s1.correct, s2.correct].every((c) => c === true) ? 'yes' : [s1.correct, s2.correct].some((c) => c === false) ? '**no**' : '–';
    out.push(
      `| ${q} | ${thousands(s1.events_per_s)} | ${thousands(s2.events_per_s)} | ${thousands(f.events_per_s)} | ${s1.ratio_to_flink ?? '–'}, ${s2.ratio_to_flink ?? '–'} | ${thousands(s1.events_per_cpu_s)}, ${thousands(s2.events_per_cpu_s)}, ${thousands(f.events_per_cpu_s)} | ${s1.peak_rss_mb ?? '–'}, ${s2.peak_rss_mb ?? '–'}, ${f.peak_rss_mb ?? '–'} | ${s1.first_output_ms ?? '–'}, ${s2.first_output_ms ?? '–'}, ${f.first_output_ms ?? '–'} | ${same} |`,
    );
  }
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${n}`));
  if (table.generator) out.push('', `Generator alone (nexmark profile → blackhole, one subtask): ${thousands(table.generator.events_per_s)} ev/s, ${thousands(table.generator.events_per_cpu_s)} ev per CPU-second.`);
  return out.join('\n');
}

export async function run() {
  const events = Number(setting('NEXMARK_EVENTS', '10000000'));
  // By default the events span 100 s of event time, so the 10 s windows fire many times at any size.
  const eventIntervalMs = Number(setting('NEXMARK_EVENT_INTERVAL_MS', String(100_000 / events)));
  const seed = Number(setting('NEXMARK_SEED', '42'));
  const measured = Number(setting('NEXMARK_RUNS', '3'));
  const queries = setting('NEXMARK_QUERIES', Object.keys(NEXMARK_QUERIES).join(',')).split(',');
  const engines = new Set(setting('NEXMARK_ENGINES', 'sluice,flink').split(','));
  for (const q of queries) if (!(q in NEXMARK_QUERIES)) throw new Error(`NEXMARK_QUERIES: unknown query '${q}'; known: ${Object.keys(NEXMARK_QUERIES).join(', ')}`);
  mkdirSync(CACHE, { recursive: true });

  const input = `${CACHE}events-${seed}-${events}-${eventIntervalMs}.ndjson`;
  if (!existsSync(input)) {
    console.error(`nexmark: writing ${events} events to ${input}`);
    await writeGeneratedRecords({ profile: 'nexmark', count: events, seed, eventIntervalMs }, input);
  }
  const common = { events, event_interval_ms: eventIntervalMs, seed };
  const table = { ...common, runs: measured, generator: null, queries: {} };

  if (engines.has('sluice')) {
    const ceiling = summarize(undefined, await runSluice(['--generator', '--events', String(events), '--seed', String(seed), '--event-interval-ms', String(eventIntervalMs), '--parallelism', '1', '--runs', String(measured + 1)]), events);
    table.generator = ceiling;
    report({ bench: 'nexmark-generator', metric: 'events_per_s', value: ceiling.events_per_s, unit: 'ev/s', parallelism: 1, runs: measured, stat: 'median', ...common, events_per_cpu_s: ceiling.events_per_cpu_s, rss_mb: ceiling.peak_rss_mb });
  }

  let mismatches = 0;
  let failures = 0;
  for (const q of queries) {
    const row = {};
    const outputs = {};
    // A failed run is recorded and reported; the other engines and queries still run.
    const attempt = async (engine, body) => {
      try {
        await body();
      } catch (error) {
        failures++;
        row[engine] = { failed: error.message.split('\n').find((l) => l.startsWith('Error: ')) ?? error.message };
        console.error(`nexmark ${q}: ${engine} failed: ${error.message}`);
      }
    };
    if (engines.has('sluice')) {
      for (const p of [1, 2]) {
        await attempt(`sluice_p${p}`, async () => {
          const out = `${CACHE}sluice-${q}-p${p}.rows`;
          const [collecting] = await runSluice(['--query', q, '--input', input, '--parallelism', String(p), '--runs', '1', '--out', out]);
          const timed = await runSluice(['--query', q, '--input', input, '--parallelism', String(p), '--runs', String(measured + 1)]);
          row[`sluice_p${p}`] = summarize(collecting, timed, events);
          outputs[`sluice_p${p}`] = out;
        });
      }
    }
    if (engines.has('flink')) {
      await attempt('flink_p2', async () => {
        const changelog = `${CACHE}flink-${q}.jsonl`;
        const [collecting] = await runFlink(q, { input, runs: 1, parallelism: 2, out: changelog });
        const timed = await runFlink(q, { input, runs: measured + 1, parallelism: 2 });
        row.flink_p2 = summarize(collecting, timed, events);
        const out = `${CACHE}flink-${q}.rows`;
        await canonicalFlinkRows(q, changelog, out);
        outputs.flink = out;
      });
    }
    table.queries[q] = row;
    for (const [engine, figures] of Object.entries(row)) {
      if (figures.failed) {
        report({ bench: `nexmark-${q}`, engine: engine.replace(/_p\d$/, ''), metric: 'failed', value: figures.failed, parallelism: Number(engine.slice(-1)), ...common });
        continue;
      }
      const parallelism = Number(engine.slice(-1));
      report({ bench: `nexmark-${q}`, engine: engine.replace(/_p\d$/, ''), metric: 'events_per_s', value: figures.events_per_s, unit: 'ev/s', parallelism, runs: measured, stat: 'median', ...common, events_per_cpu_s: figures.events_per_cpu_s, rss_mb: figures.peak_rss_mb, first_output_ms: figures.first_output_ms, changes: figures.changes });
    }
    if (row.flink_p2 && !row.flink_p2.failed) {
      for (const p of [1, 2]) {
        const sluice = row[`sluice_p${p}`];
        if (!sluice || sluice.failed) continue;
        sluice.ratio_to_flink = Number((sluice.events_per_s / row.flink_p2.events_per_s).toFixed(2));
        sluice.rss_ratio_to_flink = Number((sluice.peak_rss_mb / row.flink_p2.peak_rss_mb).toFixed(2));
        report({ bench: `nexmark-${q}`, metric: 'ratio_sluice_flink', value: sluice.ratio_to_flink, unit: 'x', parallelism: p, runs: measured, stat: 'median', ...common });
        const comparison = await compareFiles(outputs.flink, outputs[`sluice_p${p}`]);
        sluice.correct = comparison.match;
        report({ bench: `nexmark-${q}`, metric: 'results_match_flink', value: comparison.match, parallelism: p, ...common, flink_rows: comparison.flinkRows, sluice_rows: comparison.sluiceRows });
        if (!comparison.match) {
          mismatches++;
          sluice.first_differences = comparison.firstDifferences;
          console.error(`nexmark ${q}: Sluice at parallelism ${p} differs from Flink (${comparison.sluiceRows} rows vs ${comparison.flinkRows}); first rows only one side has:`);
          for (const d of comparison.firstDifferences) console.error(`  only in ${d.only}: ${d.row}`);
        }
      }
    }
  }
  mkdirSync(`${ROOT}bench/results/`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/nexmark.json`, `${JSON.stringify(table, null, 2)}\n`);
  console.error(markdownTable(table));
  console.error(`nexmark: table saved to bench/results/nexmark.json`);
  if (mismatches > 0 || failures > 0) {
    console.error(`nexmark: ${mismatches} result mismatch(es) with Flink, ${failures} failed run(s)`);
    process.exitCode = 1;
  }
  return table;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
