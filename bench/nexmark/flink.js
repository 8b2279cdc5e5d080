// Runs one Nexmark query on Apache Flink through bench/flink/flink.sh (RunSql in an
// embedded MiniCluster) and returns the JSON line RunSql prints per run.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FLINK_SH = fileURLToPath(new URL('../flink/flink.sh', import.meta.url));
const SQL_DIR = fileURLToPath(new URL('../flink/sql/', import.meta.url));

/**
 * @param {string} query q0 … q8
 * @param {{ input: string, runs?: number, parallelism?: number, out?: string }} options
 *   input: absolute path of the NDJSON events; out: where run 1 writes the query's changelog.
 * @returns {Promise<Array<{ run: number, mode: string, wall_ms: number, cpu_ms: number, first_output_ms: number | null, changes: number | null, peak_rss_kb: number }>>}
 */
export function runFlink(query, { input, runs = 1, parallelism = 2, out } = {}) {
  const args = ['--sql', `${SQL_DIR}nexmark-ddl.sql`, '--sql', `${SQL_DIR}${query}.sql`, '--var', `INPUT=${input}`, '--runs', String(runs), '--parallelism', String(parallelism)];
  if (out !== undefined) args.push('--out', out);
  return new Promise((resolve, reject) => {
    const child = spawn(FLINK_SH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`Flink ${query} exited with ${code}:\n${stderr.split('\n').slice(-30).join('\n')}`));
        return;
      }
      resolve(stdout.split('\n').filter((l) => l.startsWith('{"run"')).map((l) => JSON.parse(l)));
    });
  });
}
