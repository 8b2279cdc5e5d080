/**
 * (d) "Why doesn't my window fire?": a busy source and an almost silent one feed a
 * union before an event-time window. The watermark debugger, opened on the union,
 * names the silent source as the input holding the watermark back; a node whose
 * only input went idle (its source declared idleness) is flagged idle. The job is
 * started through the REST API and attached to from the job list.
 */
import { engineCall, expect, expectRateAboveZero, openEditor, test } from '../fixtures';

const source = (ratePerSecond: number, idleTimeoutMs: number, seed: number) => ({
  profile: 'sequence',
  ratePerSecond,
  keys: 3,
  eventIntervalMs: 10,
  seed,
  watermarks: { idleTimeoutMs },
});

const graph = {
  schemaVersion: 1,
  name: 'A silent source holds the window back',
  job: { watermarks: { emit: { mode: 'periodic', intervalMs: 50 } } },
  nodes: [
    { id: 'busy', type: 'generator', config: source(2000, 0, 1) },
    // 0.1 records/s and no idleness timeout: its watermark stays where its last record left it.
    { id: 'quiet', type: 'generator', config: source(0.1, 0, 7) },
    // As silent, but it declares itself idle after a second: it stops counting.
    { id: 'sleepy', type: 'generator', config: source(0.1, 1000, 9) },
    { id: 'u', type: 'union', config: {} },
    { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'w', type: 'tumbling-window', config: { sizeMs: 500, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
    { id: 'out', type: 'blackhole-sink', config: {} },
    { id: 'sleepy-tap', type: 'map', chaining: 'never', config: { fn: '(v) => v' } },
    { id: 'tap-out', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'busy', target: 'u' },
    { id: 'e2', source: 'quiet', target: 'u' },
    { id: 'e3', source: 'sleepy', target: 'u' },
    { id: 'e4', source: 'u', target: 'k' },
    { id: 'e5', source: 'k', target: 'w' },
    { id: 'e6', source: 'w', target: 'out' },
    { id: 'e7', source: 'sleepy', target: 'sleepy-tap' },
    { id: 'e8', source: 'sleepy-tap', target: 'tap-out' },
  ],
};

test('the watermark debugger names the silent source holding a union back, and flags an idle input', async ({ page }, testInfo) => {
  const job = await engineCall<{ id: string }>('POST', '/api/jobs', { graph });
  await openEditor(page);
  await page.getByTestId('btn-jobs').click();
  await page.getByTestId(`job-attach-${job.id}`).click();
  // Attaching shows the job's graph on the canvas (laid out, as it has no positions).
  await expect(page.getByTestId('node-u')).toBeVisible();
  await expect(page.getByTestId('job-status')).toHaveText('running');
  await expectRateAboveZero(page, 'busy', 'out');

  await page.getByTestId('node-u').click();
  await page.getByTestId('tab-watermarks').click();
  const debuggerPanel = page.getByTestId('watermark-debugger');
  await expect(debuggerPanel).toHaveAttribute('data-kind', 'inputs');
  await expect(debuggerPanel.getByTestId('wm-holding-back')).toContainText("subtask 1/1 of 'quiet' (edge e2)", { timeout: 15_000 });
  await expect(debuggerPanel.getByTestId('wm-input-0-in')).toHaveAttribute('data-limiting', 'true');
  await page.screenshot({ path: testInfo.outputPath('holding-back.png') });

  // The named input leads to the source on the canvas.
  await debuggerPanel.getByTestId('wm-holding-back-link').click();
  await expect(page.getByTestId('node-quiet')).toHaveClass(/is-selected/);
  await expect(page.getByTestId('watermark-debugger')).toHaveAttribute('data-kind', 'source');

  // The tap behind the self-declared idle source: its only input is idle, so it holds nothing back.
  await page.getByTestId('node-sleepy-tap').click();
  await expect(page.getByTestId('wm-input-0-in')).toHaveAttribute('data-idle', 'true', { timeout: 15_000 });
  await expect(page.getByTestId('wm-holding-back')).toHaveText('nothing: every input is idle');
  await expect(page.getByTestId('node-sleepy-tap-idle')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('idle-input.png') });
});
