/**
 * (f) Nothing leaves 127.0.0.1: the editor, its examples, Monaco and its workers
 * all come from the built app. (Every other spec checks the same through the
 * `requests` fixture; this one goes through each feature that loads something.)
 */
import { expect, isLocal, openEditor, test } from '../fixtures';

test('no request leaves 127.0.0.1', async ({ page, requests }) => {
  await openEditor(page);
  await page.getByTestId('btn-examples').click();
  await page.getByTestId('example-card-fraud-detection').click();
  // A code field loads Monaco and its TypeScript worker.
  await page.getByTestId('node-detector').click();
  const code = page.getByTestId('field-config.fn');
  await expect(code.locator('.monaco-editor')).toBeVisible();
  await code.locator('.view-lines').click();
  await page.keyboard.press('End');
  await page.keyboard.type(' ');
  await page.getByTestId('btn-layout').click();
  await page.getByTestId('btn-import').click();
  await page.getByTestId('dialog-close').click();
  await page.reload();
  await expect(page.getByTestId('canvas')).toBeVisible();

  expect(requests.length).toBeGreaterThan(5);
  expect(requests.some((url) => url.includes('/_next/static/'))).toBe(true);
  expect(requests.filter((url) => !isLocal(url))).toEqual([]);
  for (const url of requests) {
    expect(url.startsWith('data:') || url.startsWith('blob:') || new URL(url).hostname === '127.0.0.1', url).toBe(true);
  }
});
