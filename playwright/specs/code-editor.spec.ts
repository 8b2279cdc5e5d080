/**
 * The code editor knows the function's context: completion lists the context's
 * members, and a misspelt member is a type error shown inline — from typings
 * generated from the code kind's signature, checked by Monaco's TypeScript worker.
 */
import { expect, openEditor, test } from '../fixtures';

test('completion and type errors in a keyed process function', async ({ page }, testInfo) => {
  await openEditor(page);
  await page.getByTestId('btn-examples').click();
  await page.getByTestId('example-card-fraud-detection').click();
  await page.getByTestId('node-detector').click();
  const code = page.getByTestId('field-config.fn');
  const editor = code.locator('.monaco-editor');
  await expect(editor).toBeVisible();
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('({ processElement(value, ctx) { ctx.');
  const suggestions = page.locator('.suggest-widget.visible');
  await expect(suggestions).toBeVisible();
  await expect(suggestions).toContainText('timerService');
  await expect(suggestions).toContainText('collect');
  await expect(suggestions).toContainText('state');
  await page.screenshot({ path: testInfo.outputPath('completion.png') });
  await page.keyboard.press('Escape');
  await page.keyboard.type('colect(value) } })');
  await expect(editor.locator('.squiggly-error').first()).toBeVisible();
  await expect(page.getByTestId('node-detector-errors')).toHaveCount(0); // valid syntax and shape: a type error is the editor's hint, not a graph problem
  await page.screenshot({ path: testInfo.outputPath('type-error.png') });
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('({ processElement(value, ctx) { ctx.collect(value) } })');
  await expect(editor.locator('.squiggly-error')).toHaveCount(0);
});
