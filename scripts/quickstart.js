// The README's start command: the engine service and the web editor on this machine,
// with an example pipeline running on the built-in generator (no Kafka). Ctrl-C stops both.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ENGINE_PORT = Number(process.env.SLUICE_ENGINE_PORT ?? 8081);
const WEB_PORT = Number(process.env.SLUICE_WEB_PORT ?? 3000);
const engineUrl = `http://127.0.0.1:${ENGINE_PORT}`;
const webUrl = `http://127.0.0.1:${WEB_PORT}`;
const children = [];

function start(name, command, args, env = {}) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const prefix = (data) => data.toString().split('\n').filter((l) => l.trim() !== '').map((l) => `[${name}] ${l}`).join('\n');
  child.stdout.on('data', (d) => process.stdout.write(`${prefix(d)}\n`));
  child.stderr.on('data', (d) => process.stderr.write(`${prefix(d)}\n`));
  child.on('exit', (code) => {
    if (!stopping) {
      console.error(`${name} stopped unexpectedly (exit code ${code}); stopping Sluice.`);
      stop(1);
    }
  });
  return child;
}

async function waitFor(url, what) {
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not start within two minutes (${url})`);
}

let stopping = false;
function stop(code = 0) {
  stopping = true;
  for (const child of children) child.kill('SIGINT');
  setTimeout(() => process.exit(code), 2000).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

// The engine answers browsers from the editor's origins only (CORS); the editor learns the engine's URL from SLUICE_ENGINE_URL.
// --trusted: a quick start is one person on their own machine, so user functions run in-process at full
// speed (and on any Node version); `sluice serve` without it confines them (a process per job, or V8 isolates), the hosted default.
start('engine', process.execPath, ['apps/cli/bin/sluice.js', 'serve', '--trusted', '--port', String(ENGINE_PORT), '--data-dir', '.sluice/data', '--cors-origin', webUrl, `http://localhost:${WEB_PORT}`]);
await waitFor(`${engineUrl}/api/health`, 'the engine');

// The clickstream example, unbounded and paced, so that there is always something running.
const example = JSON.parse(readFileSync(`${root}examples/clickstream-page-views.json`, 'utf8'));
example.name = 'Clickstream: page views per minute (live)';
for (const node of example.nodes) {
  if (node.type === 'generator') node.config = { ...node.config, count: null, ratePerSecond: 2000, eventIntervalMs: 100 };
}
const submitted = await fetch(`${engineUrl}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ graph: example }) });
const job = await submitted.json();
if (!submitted.ok) throw new Error(`the example did not start: ${JSON.stringify(job)}`);

start('web', 'npm', ['run', 'start', '-w', '@sluice/web'], { PORT: String(WEB_PORT), NEXT_TELEMETRY_DISABLED: '1', SLUICE_ENGINE_URL: engineUrl });
await waitFor(webUrl, 'the web editor');

console.log(`
Sluice is running.
  Editor       ${webUrl}
  Engine API   ${engineUrl}/api   (OpenAPI: ${engineUrl}/api/openapi.json, metrics: ${engineUrl}/metrics)
  Example job  ${job.id ?? job.job?.id ?? ''} — ${example.name}, on the built-in generator
  User code    trusted (in-process, --trusted): for local use; \`sluice serve\` without it confines user functions
  CLI          npx sluice list / status <id> / submit <graph.json>
Press Ctrl-C to stop.`);
