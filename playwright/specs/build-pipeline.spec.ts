/**
 * (a) A person builds a pipeline from an empty canvas: drags operators from the
 * palette, connects them, configures them in the inspector, then writes a map
 * function in the code editor — a syntax error shows on the node and in the
 * problems panel, and goes away once fixed. Then deploys it to the engine and
 * sees records flow on the canvas.
 */
import { connect, dropOperator, expect, expectRateAboveZero, openEditor, test } from '../fixtures';

test('build generator → key-by → tumbling window → collect sink by drag and drop, configure it, write a map function, deploy it and see records flow', async ({ page }, testInfo) => {
  await openEditor(page);
  // An empty job has no source and no sink: the validator says so from the start.
  await expect(page.getByTestId('problems-summary')).toHaveText('2 errors');
  // The engine is there, but there is nothing to deploy: Deploy is disabled and says why.
  await expect(page.getByTestId('engine-status')).toHaveAttribute('data-state', 'online');
  await expect(page.getByTestId('btn-deploy')).toBeDisabled();
  await expect(page.getByTestId('deploy-wrapper')).toHaveAttribute('title', 'The pipeline is empty.');

  await dropOperator(page, 'generator', 110, 150);
  await dropOperator(page, 'key-by', 320, 150);
  await dropOperator(page, 'tumbling-window', 530, 150);
  await dropOperator(page, 'collect-sink', 740, 150);
  for (const id of ['generator-1', 'key-by-1', 'tumbling-window-1', 'collect-sink-1']) {
    await expect(page.getByTestId(`node-${id}`)).toBeVisible();
  }
  // Unconnected operators are problems until they are wired up.
  await expect(page.getByTestId('node-key-by-1-errors')).toHaveText('1');

  await connect(page, 'handle-generator-1-out-main', 'handle-key-by-1-in-in');
  await connect(page, 'handle-key-by-1-out-main', 'handle-tumbling-window-1-in-in');
  await connect(page, 'handle-tumbling-window-1-out-main', 'handle-collect-sink-1-in-in');
  await expect(page.locator('.react-flow__edge')).toHaveCount(3);
  await expect(page.getByTestId('node-key-by-1-errors')).toHaveCount(0);

  // Configure each node through the inspector.
  await page.getByTestId('node-generator-1').click();
  await page.getByTestId('field-config.profile').selectOption('clickstream');
  // Unbounded (count stays null) at 2,000 records/s, so that the live view has something to show.
  await expect(page.getByTestId('field-config.count-null')).toBeChecked();
  await page.getByTestId('field-config.ratePerSecond').fill('2000');
  await page.getByTestId('field-name').fill('Clicks');
  await expect(page.getByTestId('node-generator-1-name')).toHaveText('Clicks');
  await expect(page.getByTestId('field-id')).toHaveValue('generator-1');
  await expect(page.getByTestId('field-id')).not.toBeEditable();

  await page.getByTestId('node-key-by-1').click();
  await expect(page.getByTestId('field-config.key.kind')).toHaveValue('field');
  await page.getByTestId('field-config.key.field').fill('page');

  await page.getByTestId('node-tumbling-window-1').click();
  await page.getByTestId('field-config.sizeMs').fill('30000');
  await expect(page.getByTestId('field-config.sizeMs-hint')).toHaveText('= 30 s');
  await expect(page.getByTestId('field-config.function.kind')).toHaveValue('aggregations');
  await expect(page.getByTestId('field-config.function.aggregations[0].op')).toHaveValue('count');
  await page.getByTestId('field-config.function.aggregations[0].as-toggle').check();
  await page.getByTestId('field-config.function.aggregations[0].as').fill('views');

  await page.getByTestId('node-collect-sink-1').click();
  await page.getByTestId('field-config.name').fill('page-views');
  await expect(page.getByTestId('problems-summary')).toHaveText('No problems');
  await expect(page.getByTestId('btn-deploy')).toBeEnabled();
  await page.screenshot({ path: testInfo.outputPath('pipeline.png') });

  // A map on the window's late output; its code is typed into Monaco, key by key.
  await dropOperator(page, 'map', 530, 380);
  await connect(page, 'handle-tumbling-window-1-out-late', 'handle-map-1-in-in');
  await expect(page.locator('.react-flow__edge')).toHaveCount(4);
  await page.getByTestId('node-map-1').click();
  const code = page.getByTestId('field-config.fn');
  const editor = code.locator('.monaco-editor');
  await expect(editor).toBeVisible();
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('(value) => value +');
  await expect(page.getByTestId('node-map-1-errors')).toHaveText('1');
  const problem = page.locator('[data-testid^="problem-"][data-problem-code="invalid-code"]');
  await expect(problem).toHaveCount(1);
  await expect(problem).toContainText('nodes[4].config.fn');
  await expect(problem).toContainText('syntax error');
  await expect(page.getByTestId('field-config.fn-errors')).toContainText('syntax error');
  await page.screenshot({ path: testInfo.outputPath('code-error.png') });

  // The problem leads back into the code: the editor gets the focus, at the error.
  await page.getByTestId('node-collect-sink-1').click();
  await problem.click();
  await expect(page.getByTestId('field-id')).toHaveValue('map-1');
  await expect(editor).toHaveClass(/focused/);
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('(value) => ({ ...value, late: true })');
  await expect(page.getByTestId('node-map-1-errors')).toHaveCount(0);
  await expect(problem).toHaveCount(0);
  // What is left is a warning: the map's output goes nowhere yet.
  await expect(page.getByTestId('problems-summary')).toHaveText('1 warning');
  await expect(editor.locator('.view-lines')).toContainText('late: true');
  await page.screenshot({ path: testInfo.outputPath('code-fixed.png') });

  // Deploy: the job runs, and the canvas shows it live.
  await page.getByTestId('btn-deploy').click();
  await expect(page.getByTestId('job-status')).toHaveText('running');
  await expectRateAboveZero(page, 'generator-1', 'out');
  await expectRateAboveZero(page, 'tumbling-window-1', 'in');
  await expect(page.getByTestId('node-generator-1-backpressure')).toHaveAttribute('data-level', /^(ok|low|high)$/);
  // A key-by runs as the exchange into the window: it has no figures of its own.
  await expect(page.getByTestId('node-key-by-1-live')).toHaveCount(0);
  // Clicking a node shows its figures per subtask, with charts.
  await page.getByTestId('node-tumbling-window-1').click();
  await expect(page.getByTestId('node-live-detail')).toBeVisible();
  await expect(page.getByTestId('subtask-row-0')).toBeVisible();
  await expect(page.getByTestId('chart-in')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('deployed.png') });
});
