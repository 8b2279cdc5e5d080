/**
 * The live view on a 300-node job: every operator gets its overlay, figures keep
 * arriving on far-apart nodes, and the canvas still drags while frames come in.
 * (Timings belong in benchmarks; this asserts what a person sees.)
 */
import { expect, expectRateAboveZero, importGraph, openEditor, test } from '../fixtures';

function bigGraph(size: number) {
  const nodes: unknown[] = [{ id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 200 }, position: { x: 0, y: 0 } }];
  const edges: unknown[] = [];
  for (let i = 1; i < size - 1; i++) {
    nodes.push({ id: `step-${i}`, type: 'map', config: { fn: `(v) => ({ ...v, step: ${i} })` }, position: { x: (i % 20) * 220, y: Math.floor(i / 20) * 150 } });
    edges.push({ id: `e${i}`, source: i === 1 ? 'gen' : `step-${i - 1}`, target: `step-${i}` });
  }
  nodes.push({ id: 'out', type: 'blackhole-sink', config: {}, position: { x: 0, y: 2400 } });
  edges.push({ id: `e${size - 1}`, source: `step-${size - 2}`, target: 'out' });
  return { schemaVersion: 1, name: `${size} nodes live`, nodes, edges };
}

test.use({ trace: 'off' });

test('300 nodes live: an overlay on every operator, figures on far nodes, and the canvas still drags', async ({ page }, testInfo) => {
  await openEditor(page);
  await importGraph(page, bigGraph(300));
  await expect(page.locator('.react-flow__node')).toHaveCount(300);
  await expect(page.getByTestId('problems-summary')).toHaveText('No problems');
  await page.getByTestId('btn-deploy').click();
  await expect(page.getByTestId('job-status')).toHaveText('running');
  await expect(page.locator('[data-testid^="node-"][data-testid$="-live"]')).toHaveCount(300, { timeout: 15_000 });
  await page.getByTestId('btn-fit').click();
  await expectRateAboveZero(page, 'step-1', 'in');
  await expectRateAboveZero(page, 'step-297', 'out');

  const node = page.getByTestId('node-step-150');
  const box = await node.boundingBox();
  if (!box) throw new Error('node not visible');
  await page.mouse.move(box.x + box.width / 2, box.y + 5);
  await page.mouse.down();
  for (let i = 1; i <= 15; i++) await page.mouse.move(box.x + box.width / 2 + i * 4, box.y + 5 + i * 3);
  await page.mouse.up();
  expect((await node.boundingBox())?.x ?? 0).toBeGreaterThan(box.x + 30);
  await expect(page.getByTestId('node-step-150-live')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('300-nodes-live.png') });
});
