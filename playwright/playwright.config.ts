/**
 * Browser tests of the web editor, against the BUILT app (`npm run build -w
 * @sluice/web` first) and a real engine service (`sluice serve`, built by
 * `npm run build`), in Debian's Chromium (/usr/bin/chromium): Playwright never
 * downloads a browser here. One worker (two cores); free ports and a fresh engine
 * data directory picked once per run.
 */
import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '..');

// Workers re-evaluate this file: the port is chosen once and handed down in the environment.
const freePort = () =>
  execFileSync(
    process.execPath,
    ['-e', "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})"],
    { encoding: 'utf8' },
  ).trim();
process.env['SLUICE_WEB_PORT'] ??= freePort();
process.env['SLUICE_TEST_ENGINE_PORT'] ??= freePort();
process.env['SLUICE_TEST_DATA_DIR'] ??= mkdtempSync(path.join(tmpdir(), 'sluice-playwright-'));
const port = process.env['SLUICE_WEB_PORT'];
const baseURL = `http://127.0.0.1:${port}`;
const enginePort = process.env['SLUICE_TEST_ENGINE_PORT'];
const engineURL = `http://127.0.0.1:${enginePort}`;
// Specs talk to the engine directly too (to start jobs and clean up): fixtures.ts reads it.
process.env['SLUICE_TEST_ENGINE_URL'] = engineURL;

export default defineConfig({
  testDir: './specs',
  outputDir: './artifacts/test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: process.env['CI'] !== undefined,
  reporter: [['list'], ['json', { outputFile: 'results.json' }]],
  use: {
    baseURL,
    browserName: 'chromium',
    viewport: { width: 1440, height: 900 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    {
      // The engine only answers browsers from the web app's origin (CORS allow-list).
      command: `node apps/cli/bin/sluice.js serve --port ${enginePort} --slots 2 --data-dir ${process.env['SLUICE_TEST_DATA_DIR']} --cors-origin ${baseURL}`,
      cwd: repoRoot,
      url: `${engineURL}/api/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGINT', timeout: 5_000 },
    },
    {
      command: 'npm run start -w @sluice/web',
      cwd: repoRoot,
      env: { PORT: port, NEXT_TELEMETRY_DISABLED: '1', SLUICE_ENGINE_URL: engineURL },
      url: baseURL,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
  ],
});
