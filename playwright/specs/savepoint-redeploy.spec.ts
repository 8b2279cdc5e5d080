/**
 * (c) One-click savepoint and redeploy: a running job takes a savepoint (it shows
 * in the checkpoint history), the window size is edited on the canvas, Redeploy
 * shows the restore plan as a dry run, and on confirmation the job is stopped with
 * a savepoint and the edited pipeline runs again with its state restored.
 */
import path from 'node:path';
import { expect, expectRateAboveZero, importGraph, openEditor, test } from '../fixtures';

const graph = {
  schemaVersion: 1,
  name: 'Page views per second',
  job: { checkpointing: { enabled: true, intervalMs: 1000 }, watermarks: { emit: { mode: 'periodic', intervalMs: 100 } } },
  nodes: [
    // Event time follows the wall clock (1,000 records/s, 1 ms apart), so the lag shown is real.
    { id: 'clicks', type: 'generator', name: 'Clicks', config: { profile: 'clickstream', ratePerSecond: 1000, eventIntervalMs: 1, keys: 50, startTime: Date.now() - 2000 }, position: { x: 0, y: 80 } },
    { id: 'by-page', type: 'key-by', name: 'By page', config: { key: { kind: 'field', field: 'page' } }, position: { x: 240, y: 80 } },
    { id: 'per-second', type: 'tumbling-window', name: 'Views per second', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count', as: 'views' }] } }, position: { x: 480, y: 80 } },
    { id: 'views', type: 'collect-sink', name: 'Views', config: { name: 'views' }, position: { x: 720, y: 80 } },
  ],
  edges: [
    { id: 'e1', source: 'clicks', target: 'by-page' },
    { id: 'e2', source: 'by-page', target: 'per-second' },
    { id: 'e3', source: 'per-second', target: 'views' },
  ],
};

test('take a savepoint, edit the window size, redeploy with the restore plan, and the job runs again with its state restored', async ({ page }, testInfo) => {
  await openEditor(page);
  await importGraph(page, graph);
  await expect(page.getByTestId('problems-summary')).toHaveText('No problems');
  await page.getByTestId('btn-deploy').click();
  await expect(page.getByTestId('job-status')).toHaveText('running');
  await expectRateAboveZero(page, 'per-second', 'in');
  // The README picture of the live view: figures on every node, a node's detail on the right.
  await page.getByTestId('node-per-second').click();
  await expect(page.getByTestId('subtask-row-0')).toBeVisible();
  // A few seconds of history in the charts, and no toast over the canvas.
  await expect
    .poll(async () => ((await page.getByTestId('chart-in').locator('polyline').first().getAttribute('points')) ?? '').split(' ').length, { timeout: 15_000 })
    .toBeGreaterThanOrEqual(6);
  await expect(page.getByTestId('toast')).toHaveCount(0);
  const shot = await page.screenshot({ path: path.resolve(import.meta.dirname, '../artifacts/live-view.png') });
  await testInfo.attach('live-view', { body: shot, contentType: 'image/png' });

  // Keyed state of one page, read from the running window: its window state and the window's timer.
  await page.getByTestId('tab-state').click();
  await page.getByTestId('state-key').fill('/cart');
  await expect
    .poll(
      async () => {
        await page.getByTestId('state-query').click();
        return page.locator('[data-testid^="state-row-"]').count();
      },
      { timeout: 15_000 },
    )
    .toBeGreaterThan(0);
  await expect(page.getByTestId('state-timers')).toBeVisible();
  await expect(page.getByTestId('state-error')).toHaveCount(0);
  await expect(page.getByTestId('state-unavailable')).toHaveCount(0);
  // Hot keys of the keyed edge: the engine counts keys while someone watches.
  await page.getByTestId('hot-keys-start').click();
  await expect(page.getByTestId('hot-key-row').first()).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId('hot-keys-unavailable')).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath('state.png') });

  // One click: a savepoint, which the checkpoint history lists.
  await page.getByTestId('btn-savepoint').click();
  await expect(page.locator('.toast-success').filter({ hasText: /Savepoint \d+ completed/ })).toBeVisible({ timeout: 20_000 });
  await page.getByTestId('bottom-tab-checkpoints').click();
  await expect(page.locator('[data-testid^="checkpoint-row-"][data-kind="savepoint"][data-status="completed"]')).toHaveCount(1);
  await expect(page.getByTestId('checkpoint-counts')).toContainText('completed');
  await page.screenshot({ path: testInfo.outputPath('savepoint.png') });

  // Nothing was edited yet: Redeploy has nothing to do.
  await expect(page.getByTestId('btn-redeploy')).toBeDisabled();
  await page.getByTestId('tab-inspector').click();
  await page.getByTestId('node-per-second').click();
  await page.getByTestId('field-config.sizeMs').fill('2000');
  await expect(page.getByTestId('btn-redeploy')).toBeEnabled();
  await page.getByTestId('btn-redeploy').click();

  // The dry run: what changed, and per node what happens to its state.
  const dialog = page.getByTestId('redeploy-dialog');
  await expect(dialog.getByTestId('redeploy-changes')).toContainText('sizeMs');
  await expect(dialog.getByTestId('restore-plan-per-second')).toHaveAttribute('data-status', 'restored');
  await expect(dialog.getByTestId('restore-plan-per-second')).toContainText('window-contents');
  await expect(dialog.getByTestId('restore-plan-clicks')).toHaveAttribute('data-status', 'restored');
  await page.screenshot({ path: testInfo.outputPath('restore-plan.png') });
  const before = await page.getByTestId('job-chip').locator('.job-chip-name').getAttribute('title');
  await dialog.getByTestId('redeploy-confirm').click();
  await expect(dialog).toHaveCount(0, { timeout: 30_000 });

  // A new job, running, started from the savepoint the stop took, with the window's state in it.
  await expect(page.getByTestId('job-status')).toHaveText('running');
  await expect(page.getByTestId('job-chip').locator('.job-chip-name')).not.toHaveAttribute('title', before ?? '');
  await page.getByTestId('tab-live').click();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('job-restore-summary')).toContainText(/Started from savepoint \d+: [1-9]\d* node\(s\) restored/);
  await expect(page.getByTestId('job-restore-table-per-second')).toHaveAttribute('data-status', 'restored');
  await expectRateAboveZero(page, 'per-second', 'in');
  await page.screenshot({ path: testInfo.outputPath('redeployed.png') });
});
