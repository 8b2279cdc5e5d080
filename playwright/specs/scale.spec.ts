/**
 * A 300-node graph stays usable: it loads, a node drags smoothly, and an edit in
 * the inspector shows on the canvas promptly.
 */
import { expect, openEditor, test } from '../fixtures';

function bigGraph(size: number) {
  const nodes: unknown[] = [{ id: 'gen', type: 'generator', config: { profile: 'sequence', count: 1000 }, position: { x: 0, y: 0 } }];
  const edges: unknown[] = [];
  for (let i = 1; i < size - 1; i++) {
    const filter = i % 3 === 0;
    nodes.push({
      id: `step-${i}`,
      type: filter ? 'filter' : 'map',
      config: { fn: filter ? '(v) => v.value > 0' : `(v) => ({ ...v, step: ${i} })` },
      position: { x: (i % 20) * 220, y: Math.floor(i / 20) * 110 },
    });
    edges.push({ id: `e${i}`, source: i === 1 ? 'gen' : `step-${i - 1}`, target: `step-${i}` });
  }
  nodes.push({ id: 'out', type: 'collect-sink', config: {}, position: { x: 0, y: 1800 } });
  edges.push({ id: `e${size - 1}`, source: `step-${size - 2}`, target: 'out' });
  return { schemaVersion: 1, name: `${size} nodes`, nodes, edges };
}

// A trace would snapshot the 300-node page at every mouse move and measure Playwright, not the editor.
test.use({ trace: 'off' });

test('300 nodes: load, drag and edit stay responsive', async ({ page }, testInfo) => {
  await openEditor(page);
  await page.getByTestId('btn-import').click();
  await page.getByTestId('import-text').fill(JSON.stringify(bigGraph(300)));
  const loadStart = Date.now();
  await page.getByTestId('import-load').click();
  await expect(page.locator('.react-flow__node')).toHaveCount(300);
  await expect(page.getByTestId('problems-summary')).toHaveText('No problems');
  const loadMs = Date.now() - loadStart;

  // Drag one node across the canvas in 30 steps.
  await page.getByTestId('btn-fit').click();
  const node = page.getByTestId('node-step-150');
  const box = await node.boundingBox();
  if (!box) throw new Error('node not visible');
  const dragStart = Date.now();
  await page.mouse.move(box.x + box.width / 2, box.y + 5);
  await page.mouse.down();
  for (let i = 1; i <= 30; i++) await page.mouse.move(box.x + box.width / 2 + i * 4, box.y + 5 + i * 3);
  await page.mouse.up();
  const dragMs = Date.now() - dragStart;
  const moved = await node.boundingBox();
  expect(moved?.x ?? 0).toBeGreaterThan(box.x + 60);

  // Rename through the inspector; the canvas follows.
  const editStart = Date.now();
  await page.getByTestId('field-name').fill('Renamed step');
  await expect(page.getByTestId('node-step-150-name')).toHaveText('Renamed step');
  const editMs = Date.now() - editStart;

  await testInfo.attach('timings', { body: JSON.stringify({ loadMs, dragMs, editMs }), contentType: 'application/json' });
  await page.screenshot({ path: testInfo.outputPath('300-nodes.png') });
  // Generous bounds for a 2-core CI machine with software rendering. Measured here: load ~6 s,
  // drag ~4 s for 30 moves (a 10-node graph takes ~3 s: most of it is the headless browser
  // painting, not the editor), edit ~0.1 s.
  expect(loadMs).toBeLessThan(20_000);
  expect(dragMs).toBeLessThan(12_000);
  expect(editMs).toBeLessThan(3_000);
});
