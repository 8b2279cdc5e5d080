/**
 * (b) Export gives the canonical JSON (the same bytes `sluice fmt` writes); importing
 * it again — from a file or pasted — gives the identical graph back. Syntax errors
 * are reported with line and column; importing over unexported changes first shows
 * what will change.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, exportJson, openEditor, test } from '../fixtures';

const EXAMPLES = path.resolve(import.meta.dirname, '../../examples');

test('export, re-import from a file and from pasted text, identical canonical JSON', async ({ page, context, baseURL }, testInfo) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL ?? '' });
  await openEditor(page);
  await page.getByTestId('btn-examples').click();
  await page.getByTestId('example-card-fraud-detection').click();
  await expect(page.getByTestId('node-alerts')).toBeVisible();

  const exported = await exportJson(page);
  // The examples are kept in canonical form, so the export is the file, byte for byte.
  expect(exported.text).toBe(readFileSync(path.join(EXAMPLES, 'card-fraud-detection.json'), 'utf8'));

  // Copy to the clipboard gives the same text.
  await page.getByTestId('btn-copy-json').click();
  await expect(page.getByTestId('toast').last()).toContainText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(exported.text);

  // Start afresh, import the file.
  await page.getByTestId('btn-new').click();
  await expect(page.locator('.react-flow__node')).toHaveCount(0);
  await page.getByTestId('btn-import').click();
  await page.getByTestId('import-file').setInputFiles(exported.path);
  await expect(page.getByTestId('import-dialog')).toHaveCount(0);
  await expect(page.getByTestId('node-alerts')).toBeVisible();
  expect((await exportJson(page)).text).toBe(exported.text);

  // Start afresh, paste the text.
  await page.getByTestId('btn-new').click();
  await page.getByTestId('btn-import').click();
  await page.getByTestId('import-text').fill(exported.text);
  await page.getByTestId('import-load').click();
  await expect(page.getByTestId('node-alerts')).toBeVisible();
  expect((await exportJson(page)).text).toBe(exported.text);

  // Importing over unexported changes shows what will change first.
  await page.getByTestId('node-alerts').click();
  await page.getByTestId('field-name').fill('Fraud alerts');
  await page.getByTestId('btn-import').click();
  await page.getByTestId('import-file').setInputFiles(exported.path);
  const diff = page.getByTestId('diff-dialog');
  await expect(diff).toBeVisible();
  await expect(diff.getByTestId('diff-line')).toHaveText([`~ node 'alerts' name: "Fraud alerts" → "Alerts"`]);
  await page.screenshot({ path: testInfo.outputPath('what-will-change.png') });
  await page.getByTestId('diff-confirm').click();
  await expect(page.getByTestId('node-alerts-name')).toHaveText('Alerts');
  expect((await exportJson(page)).text).toBe(exported.text);
});

test('a syntax error is reported with its line and column; a graph with problems still loads', async ({ page }) => {
  await openEditor(page);
  await page.getByTestId('btn-import').click();
  await page.getByTestId('import-text').fill('{\n  "schemaVersion": 1,\n  "name": "broken"\n  "nodes": []\n}');
  await page.getByTestId('import-load').click();
  await expect(page.getByTestId('import-error')).toHaveText(/^line 4, column 3: invalid JSON: comma expected/);

  const invalid = {
    schemaVersion: 1,
    name: 'Needs fixing',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence' }, position: { x: 0, y: 0 } },
      { id: 'w', type: 'tumbling-window', config: { sizeMs: -5, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } }, position: { x: 250, y: 0 } },
      { id: 'out', type: 'collect-sink', config: {}, position: { x: 500, y: 0 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'w' },
      { id: 'e2', source: 'w', target: 'out' },
    ],
  };
  await page.getByTestId('import-text').fill(JSON.stringify(invalid, null, 2));
  await page.getByTestId('import-load').click();
  await expect(page.getByTestId('node-w')).toBeVisible();
  await expect(page.getByTestId('node-w-errors')).toHaveText('1');
  await expect(page.getByTestId('problems-summary')).toHaveText('1 error');
  // The problem leads to the field: the node is selected and its size field focused.
  await page.getByTestId('problem-0').click();
  await expect(page.getByTestId('field-config.sizeMs')).toBeFocused();
  await expect(page.getByTestId('field-config.sizeMs-errors')).toContainText('must be greater than 0');
  await page.getByTestId('field-config.sizeMs').fill('5000');
  await expect(page.getByTestId('problems-summary')).toHaveText(/1 error/);
  await expect(page.getByTestId('problem-0')).toContainText('needs a keyed input');
});
