/**
 * Shared fixtures: every test records the URL of every request its browser context
 * makes and every console error, and fails if a request left 127.0.0.1 (data: and
 * blob: URLs stay in the page) or the page logged an error.
 */
import { expect, test as base, type Locator, type Page } from '@playwright/test';

export function isLocal(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('blob:')) return true;
  try {
    return new URL(url).hostname === '127.0.0.1';
  } catch {
    return false;
  }
}

interface Fixtures {
  requests: string[];
  consoleErrors: string[];
  /** Cancels every job still running on the engine when the test ends. */
  engineCleanup: undefined;
}

/** The engine service the config started for this run (playwright.config.ts). */
export function engineUrl(): string {
  const url = process.env['SLUICE_TEST_ENGINE_URL'];
  if (url === undefined) throw new Error('SLUICE_TEST_ENGINE_URL is not set: run through playwright.config.ts');
  return url;
}

/** Calls the engine's REST API from the test (not the page); throws with the engine's message on an error. */
export async function engineCall<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${engineUrl()}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

export const test = base.extend<Fixtures>({
  requests: [
    async ({ context }, use) => {
      const urls: string[] = [];
      context.on('request', (request) => urls.push(request.url()));
      await use(urls);
      expect(urls.filter((url) => !isLocal(url)), 'requests that left 127.0.0.1').toEqual([]);
    },
    { auto: true },
  ],
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(`${error.name}: ${error.message}`));
      await use(errors);
      expect(errors, 'console errors').toEqual([]);
    },
    { auto: true },
  ],
  engineCleanup: [
    // eslint-disable-next-line no-empty-pattern -- Playwright reads fixture dependencies from a destructuring pattern
    async ({}, use) => {
      await use(undefined);
      const { jobs } = await engineCall<{ jobs: { id: string; status: string }[] }>('GET', '/api/jobs');
      for (const job of jobs) {
        if (job.status === 'running' || job.status === 'restarting') await engineCall('POST', `/api/jobs/${job.id}/cancel`);
      }
    },
    { auto: true },
  ],
});

export { expect };

/** A rate as the canvas prints it (`850`, `1.2k`, `12k`, `1.5M`, `–`) as a number; NaN when there is none yet. */
export function parseRate(text: string): number {
  const match = /^([\d.]+)([kM]?)$/.exec(text.trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * (match[2] === 'k' ? 1000 : match[2] === 'M' ? 1_000_000 : 1);
}

/** Waits until a node's records/s overlay (in or out) shows more than zero. */
export async function expectRateAboveZero(page: Page, nodeId: string, direction: 'in' | 'out'): Promise<void> {
  const rate = page.getByTestId(`node-${nodeId}-rate-${direction}`);
  await expect(rate).toBeVisible({ timeout: 15_000 });
  await expect.poll(async () => parseRate(await rate.innerText()), { timeout: 15_000, message: `records/s ${direction} of ${nodeId}` }).toBeGreaterThan(0);
}

/** Pastes a graph into the import dialog and loads it. */
export async function importGraph(page: Page, graph: unknown): Promise<void> {
  await page.getByTestId('btn-import').click();
  await page.getByTestId('import-text').fill(JSON.stringify(graph));
  await page.getByTestId('import-load').click();
  await expect(page.getByTestId('import-dialog')).toHaveCount(0);
}

/** Opens the editor on an empty canvas. */
export async function openEditor(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('canvas')).toBeVisible();
  await expect(page.getByTestId('palette-generator')).toBeVisible();
}

/** Drags a palette item onto the canvas at (x, y) relative to the canvas (HTML5 drag and drop). */
export async function dropOperator(page: Page, type: string, x: number, y: number): Promise<Locator> {
  const before = await page.locator('[data-testid^="node-"][data-testid$="-name"]').count();
  await page.getByTestId(`palette-${type}`).dragTo(page.getByTestId('canvas'), { targetPosition: { x, y } });
  await expect(page.locator('[data-testid^="node-"][data-testid$="-name"]')).toHaveCount(before + 1);
  return page.locator(`[data-testid^="node-${type}-"][data-testid$="-name"]`).last();
}

/** Drags from one handle to another, as a person draws an edge. */
export async function connect(page: Page, fromHandle: string, toHandle: string): Promise<void> {
  const from = page.getByTestId(fromHandle);
  const to = page.getByTestId(toHandle);
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  if (!a || !b) throw new Error(`handle not visible: ${a ? toHandle : fromHandle}`);
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

/** The canonical JSON the editor exports, through the Export button (a download). */
export async function exportJson(page: Page): Promise<{ text: string; path: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('btn-export').click()]);
  const path = await download.path();
  const { readFile } = await import('node:fs/promises');
  return { text: await readFile(path, 'utf8'), path };
}
