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
});

export { expect };

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
