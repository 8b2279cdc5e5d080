/**
 * (e) The examples gallery, built into the app from examples/*.json: every example
 * opens with all of its nodes and edges and no problems.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, openEditor, test } from '../fixtures';

const EXAMPLES = path.resolve(import.meta.dirname, '../../examples');
const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).sort();

interface ExampleFile {
  name: string;
  nodes: Array<{ id: string; name?: string }>;
  edges: unknown[];
}

test('the gallery lists every example and opens each one', async ({ page }) => {
  await openEditor(page);
  for (const file of files) {
    const example = JSON.parse(readFileSync(path.join(EXAMPLES, file), 'utf8')) as ExampleFile;
    await page.getByTestId('btn-examples').click();
    await expect(page.getByTestId('examples-dialog').locator('.example-card')).toHaveCount(files.length);
    await page.getByTestId(`example-${file.replace(/\.json$/, '')}`).click();
    await expect(page.getByTestId('doc-title')).toHaveText(example.name);
    for (const node of example.nodes) {
      await expect(page.getByTestId(`node-${node.id}`)).toBeVisible();
      if (node.name !== undefined) await expect(page.getByTestId(`node-${node.id}-name`)).toHaveText(node.name);
    }
    await expect(page.locator('.react-flow__edge')).toHaveCount(example.edges.length);
    // Kafka needs a broker only to run; the graph itself is valid.
    await expect(page.getByTestId('problems-summary')).toHaveText('No problems');
  }
});

test.describe('the README picture', () => {
  test.use({ viewport: { width: 1600, height: 960 } });

  test('a realistic pipeline: sensor averages with a late-data branch, the window selected', async ({ page }, testInfo) => {
    await openEditor(page);
    await page.getByTestId('btn-examples').click();
    await page.getByTestId('example-iot-sensor-averages').click();
    await page.getByTestId('node-averages').click();
    await expect(page.getByTestId('field-config.sizeMs-hint')).toHaveText('= 1 min');
    await expect(page.getByTestId('handle-averages-out-late')).toBeVisible();
    await page.getByTestId('btn-fit').click();
    for (const dismiss of await page.getByTestId('toast').getByRole('button', { name: 'Dismiss' }).all()) await dismiss.click();
    await expect(page.getByTestId('toast')).toHaveCount(0);
    await page.waitForTimeout(300); // let the fit settle
    const shot = await page.screenshot({ path: path.resolve(import.meta.dirname, '../artifacts/editor.png') });
    await testInfo.attach('editor', { body: shot, contentType: 'image/png' });
  });
});
