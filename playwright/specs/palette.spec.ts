/**
 * The palette comes from the catalog: search narrows it, and the keyboard adds
 * operators (Enter at the centre of the view). Every operator's inspector form has
 * a label for each control.
 */
import { expect, openEditor, test } from '../fixtures';

test('search the palette and add operators from the keyboard', async ({ page }) => {
  await openEditor(page);
  const items = page.locator('[data-testid^="palette-"][role="button"]');
  const all = await items.count();
  expect(all).toBeGreaterThanOrEqual(28);

  await page.getByTestId('palette-search').fill('window');
  await expect(page.getByTestId('palette-tumbling-window')).toBeVisible();
  await expect(page.getByTestId('palette-generator')).toHaveCount(0);
  await page.getByTestId('palette-search').fill('');
  await expect(items).toHaveCount(all);

  await page.getByTestId('palette-map').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('node-map-1')).toBeVisible();
  await expect(page.getByTestId('field-id')).toHaveValue('map-1');
  await page.getByTestId('palette-map').press('Enter');
  await expect(page.getByTestId('node-map-2')).toBeVisible();
});

test('every operator form labels every control', async ({ page }) => {
  await openEditor(page);
  const types = await page.locator('[data-testid^="palette-"][role="button"]').evaluateAll((els) => els.map((el) => (el.getAttribute('data-testid') ?? '').replace(/^palette-/, '')));
  for (const type of types) {
    await page.getByTestId(`palette-${type}`).press('Enter');
    await expect(page.getByTestId('field-id')).toHaveValue(`${type}-1`);
    const unlabelled = await page.getByTestId('inspector').locator('input:not([type=hidden]), select, textarea').evaluateAll((controls) =>
      controls
        .filter((c) => {
          const control = c as HTMLInputElement;
          return control.labels?.length === 0 && !control.getAttribute('aria-label') && !control.getAttribute('aria-labelledby');
        })
        .map((c) => c.outerHTML.slice(0, 120)),
    );
    expect(unlabelled, `unlabelled controls of ${type}`).toEqual([]);
  }
  await expect(page.locator('.react-flow__node')).toHaveCount(types.length);
});
