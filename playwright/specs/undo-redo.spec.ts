/**
 * (d) Undo and redo restore the graph exactly (compared as exported canonical
 * JSON), from the keyboard and the toolbar; copy/paste and delete are undoable.
 */
import { expect, exportJson, openEditor, test } from '../fixtures';

test('undo and redo restore the graph', async ({ page }, testInfo) => {
  await openEditor(page);
  await page.getByTestId('btn-examples').click();
  await page.getByTestId('example-clickstream-page-views').click();
  await expect(page.getByTestId('node-per-minute')).toBeVisible();
  const original = (await exportJson(page)).text;

  // 1. Edit a config field.
  await page.getByTestId('node-per-minute').click();
  await page.getByTestId('field-config.sizeMs').fill('30000');
  await expect(page.getByTestId('field-config.sizeMs-hint')).toHaveText('= 30 s');
  // 2. Delete a node (with its edges) from the keyboard.
  await page.getByTestId('node-views-only').click();
  await page.keyboard.press('Delete');
  await expect(page.getByTestId('node-views-only')).toHaveCount(0);
  await expect(page.locator('.react-flow__edge')).toHaveCount(2);
  // 3. Move a node.
  const box = await page.getByTestId('node-page-views').boundingBox();
  if (!box) throw new Error('node not visible');
  await page.mouse.move(box.x + 40, box.y + 12);
  await page.mouse.down();
  await page.mouse.move(box.x + 40, box.y + 150, { steps: 8 });
  await page.mouse.up();
  // 4. Copy and paste a node.
  await page.getByTestId('node-by-page').click();
  await page.keyboard.press('ControlOrMeta+c');
  await page.keyboard.press('ControlOrMeta+v');
  await expect(page.getByTestId('node-by-page-1')).toBeVisible();
  const edited = (await exportJson(page)).text;
  expect(edited).not.toBe(original);
  expect((JSON.parse(edited) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id)).toEqual(['clicks', 'by-page', 'per-minute', 'page-views', 'by-page-1']);
  await page.screenshot({ path: testInfo.outputPath('edited.png') });

  // Undo everything from the keyboard (focus on the canvas, not in a field).
  await page.getByTestId('node-clicks').click();
  for (let i = 0; i < 4; i++) await page.keyboard.press('ControlOrMeta+z');
  await expect(page.getByTestId('node-views-only')).toBeVisible();
  await expect(page.getByTestId('node-by-page-1')).toHaveCount(0);
  expect((await exportJson(page)).text).toBe(original);
  await expect(page.getByTestId('btn-undo')).toBeEnabled(); // loading the example is undoable too

  // Redo all of it: Shift+Ctrl+Z, Ctrl+Y and the toolbar.
  await page.keyboard.press('ControlOrMeta+Shift+z');
  await page.keyboard.press('ControlOrMeta+y');
  await page.getByTestId('btn-redo').click();
  await page.getByTestId('btn-redo').click();
  await expect(page.getByTestId('btn-redo')).toBeDisabled();
  expect((await exportJson(page)).text).toBe(edited);

  // And back with the toolbar.
  for (let i = 0; i < 4; i++) await page.getByTestId('btn-undo').click();
  expect((await exportJson(page)).text).toBe(original);
  await page.screenshot({ path: testInfo.outputPath('restored.png') });
});

test('select all, delete and undo from the keyboard', async ({ page }) => {
  await openEditor(page);
  await page.getByTestId('btn-examples').click();
  await page.getByTestId('example-order-shipment-join').click();
  const nodes = page.locator('.react-flow__node');
  const count = await nodes.count();
  expect(count).toBeGreaterThan(3);
  await nodes.first().click();
  await page.keyboard.press('ControlOrMeta+a');
  await expect(page.getByTestId('multi-inspector')).toBeVisible();
  await page.keyboard.press('Backspace');
  await expect(nodes).toHaveCount(0);
  await page.keyboard.press('ControlOrMeta+z');
  await expect(nodes).toHaveCount(count);
  await expect(page.getByTestId('problems-summary')).toHaveText('No problems');
});
