// Regenerates the checked-in expected outputs of the Nexmark CI test
// (examples/nexmark/expected/) by running every query on Apache Flink 1.20 over the
// events the examples generate (written as NDJSON by the same generator code).
//   npm run build && node bench/nexmark/regenerate-expected.js
// Needs Java 17 and Maven (bench/flink/flink.sh fetches Flink from Maven Central once).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants } from 'node:zlib';
import { writeGeneratedRecords } from '@sluice/cli/generate';
import { NEXMARK_QUERIES, rowsFromFlinkLines } from './canonical.js';
import { runFlink } from './flink.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXPECTED = `${ROOT}examples/nexmark/expected/`;
const queries = Object.keys(NEXMARK_QUERIES);

/** The generator settings all examples share: the expected outputs are for exactly these events. */
export function exampleSource() {
  let settings;
  for (const q of queries) {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/nexmark/${q}.json`, 'utf8'));
    const source = graph.nodes.find((n) => n.type === 'generator');
    const { profile, seed, count, eventIntervalMs } = source.config;
    const these = { profile, seed, count, eventIntervalMs };
    if (settings && JSON.stringify(settings) !== JSON.stringify(these)) throw new Error(`examples/nexmark/${q}.json generates other events than the other queries`);
    settings = these;
  }
  return settings;
}

const settings = exampleSource();
const input = `${ROOT}.cache/nexmark/ci-${settings.seed}-${settings.count}-${settings.eventIntervalMs}.ndjson`;
await writeGeneratedRecords(settings, input);
mkdirSync(EXPECTED, { recursive: true });
const manifest = { generator: settings, engine: 'Apache Flink 1.20.3 (bench/flink, parallelism 2)', queries: {} };
for (const q of queries) {
  const out = `${ROOT}.cache/nexmark/flink-expected-${q}.jsonl`;
  const [run] = await runFlink(q, { input, runs: 1, out });
  const rows = rowsFromFlinkLines(q, readFileSync(out, 'utf8').split('\n'));
  const text = rows.map((r) => `${r}\n`).join('');
  writeFileSync(`${EXPECTED}${q}.jsonl.br`, brotliCompressSync(Buffer.from(text), { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24 } }));
  manifest.queries[q] = { rows: rows.length, sha256: createHash('sha256').update(text).digest('hex') };
  console.log(`${q}: ${rows.length} rows (Flink changelog: ${run.changes} changes)`);
}
writeFileSync(`${EXPECTED}manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
