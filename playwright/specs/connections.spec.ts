/**
 * (c) Invalid connections are refused, and the reason — the validator's own
 * message — is shown.
 */
import { connect, dropOperator, expect, openEditor, test } from '../fixtures';

test('an invalid connection is refused with the reason shown', async ({ page }, testInfo) => {
  await openEditor(page);
  await dropOperator(page, 'generator', 110, 120);
  await dropOperator(page, 'tumbling-window', 420, 120);
  await dropOperator(page, 'key-by', 110, 330);
  await dropOperator(page, 'broadcast-process', 420, 330);

  // A window needs a keyed stream: straight from the generator is refused.
  await connect(page, 'handle-generator-1-out-main', 'handle-tumbling-window-1-in-in');
  const toast = page.getByTestId('toast').last();
  await expect(toast).toContainText("needs a keyed input");
  await expect(toast).toContainText("Connect 'in' from a key-by node instead of 'generator-1'");
  await expect(page.locator('.react-flow__edge')).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath('refused-keyed.png') });

  // Through a key-by it is accepted.
  await connect(page, 'handle-generator-1-out-main', 'handle-key-by-1-in-in');
  await connect(page, 'handle-key-by-1-out-main', 'handle-tumbling-window-1-in-in');
  await expect(page.locator('.react-flow__edge')).toHaveCount(2);

  // The same edge twice is refused.
  await connect(page, 'handle-generator-1-out-main', 'handle-key-by-1-in-in');
  await expect(page.getByTestId('toast').last()).toContainText('repeats edges[0]');
  await expect(page.locator('.react-flow__edge')).toHaveCount(2);

  // A broadcast input takes a non-keyed stream only.
  await connect(page, 'handle-key-by-1-out-main', 'handle-broadcast-process-1-in-broadcast');
  await expect(page.getByTestId('toast').last()).toContainText("input 'broadcast' of 'broadcast-process-1' (broadcast-process) takes a non-keyed stream");
  await connect(page, 'handle-generator-1-out-main', 'handle-broadcast-process-1-in-broadcast');
  await connect(page, 'handle-key-by-1-out-main', 'handle-broadcast-process-1-in-keyed');
  await expect(page.locator('.react-flow__edge')).toHaveCount(4);

  // A loop back is refused.
  await connect(page, 'handle-tumbling-window-1-out-main', 'handle-key-by-1-in-in');
  await expect(page.getByTestId('toast').last()).toContainText('cycle');
  await expect(page.getByTestId('toast').last()).toContainText('must not loop back on itself');
  await expect(page.locator('.react-flow__edge')).toHaveCount(4);
  await page.screenshot({ path: testInfo.outputPath('refused-cycle.png') });
});
