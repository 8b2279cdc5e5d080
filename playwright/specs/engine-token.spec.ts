/**
 * An engine that needs a bearer token (hosted mode; here a second engine started with
 * `--token`, on 127.0.0.1 like every server in these tests): the bar says so and asks
 * for the token, a wrong one is refused, the right one connects REST and Socket.IO,
 * and the browser keeps it for the next visit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, importGraph, openEditor, test } from '../fixtures';

const repoRoot = path.resolve(import.meta.dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function startEngine(token: string, webOrigin: string): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-token-engine-'));
  const child = spawn(process.execPath, ['apps/cli/bin/sluice.js', 'serve', '--port', String(port), '--slots', '1', '--data-dir', dataDir, '--cors-origin', webOrigin, '--token', token], {
    cwd: repoRoot,
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/api/health`)).ok) return { url, process: child };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the engine with a token did not start at ${url}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const graph = {
  schemaVersion: 1,
  name: 'Behind a token',
  nodes: [
    { id: 'numbers', type: 'generator', config: { profile: 'sequence', ratePerSecond: 100, keys: 5 }, position: { x: 0, y: 80 } },
    { id: 'drop', type: 'blackhole-sink', config: {}, position: { x: 260, y: 80 } },
  ],
  edges: [{ id: 'e1', source: 'numbers', target: 'drop' }],
};

test('an engine that needs a token: the bar asks for it, refuses a wrong one, connects with the right one and keeps it', async ({ page, baseURL, consoleErrors }) => {
  const token = `token-${Math.random().toString(36).slice(2)}-for-playwright`;
  const engine = await startEngine(token, new URL(baseURL ?? '').origin);
  try {
    // This page's web server names the usual engine: point the app at the one with a token.
    await page.route('**/config.json', (route) => route.fulfill({ json: { engineUrl: engine.url } }));
    await openEditor(page);
    const status = page.getByTestId('engine-status');
    await expect(status).toHaveAttribute('data-state', 'locked');
    await expect(status).toHaveAttribute('aria-label', /needs a token: it needs a token/);
    await expect(page.getByTestId('deploy-note')).toContainText('The engine needs a token');

    await page.getByTestId('engine-token').fill('not-the-token-at-all');
    await page.getByTestId('engine-token-connect').click();
    await expect(status).toHaveAttribute('aria-label', /refused this token/);
    await expect(status).toHaveAttribute('data-state', 'locked');

    await page.getByTestId('engine-token').fill(token);
    await page.getByTestId('engine-token-connect').click();
    await expect(status).toHaveAttribute('data-state', 'online');
    await expect(page.getByTestId('engine-token-form')).toHaveCount(0);

    // REST (submit) and Socket.IO (the job's status) both carry it.
    await importGraph(page, graph);
    await page.getByTestId('btn-deploy').click();
    await expect(page.getByTestId('job-status')).toHaveText('running');

    // The next visit connects without asking.
    await page.reload();
    await expect(status).toHaveAttribute('data-state', 'online');
    await expect(page.getByTestId('engine-token-form')).toHaveCount(0);

    const jobs = (await (await fetch(`${engine.url}/api/jobs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { jobs: Array<{ id: string; status: string }> };
    expect(jobs.jobs.map((j) => j.status)).toContain('running');
    for (const job of jobs.jobs) await fetch(`${engine.url}/api/jobs/${job.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } finally {
    engine.process.kill('SIGINT');
  }
  // The browser reports each refused request (401) as a console error: those were the point.
  const unexpected = consoleErrors.filter((e) => !/status of 401/.test(e));
  consoleErrors.splice(0, consoleErrors.length, ...unexpected);
});
