/**
 * The topic picker of a Kafka source asks the engine for the cluster's topics. No
 * broker runs in the browser suite, so this checks the path a person meets when the
 * cluster is not there: the engine's own 502 text, naming the cluster, appears
 * beside the field. (The engine answers 502 without a broker: it tries the address.)
 */
import { createServer } from 'node:net';
import { expect, openEditor, test } from '../fixtures';

/** A 127.0.0.1 port that nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

test("the topic picker shows the engine's error for a Kafka cluster it cannot reach", async ({ page, consoleErrors }) => {
  // KafkaJS retries a refused connection for about 30 s before the engine answers 502.
  test.setTimeout(120_000);
  const servers = `127.0.0.1:${await closedPort()}`;
  await openEditor(page);
  await expect(page.getByTestId('engine-status')).toHaveAttribute('data-state', 'online');
  await page.getByTestId('palette-kafka-source').press('Enter');
  await expect(page.getByTestId('field-id')).toHaveValue('kafka-source-1');
  await page.getByTestId('field-config.bootstrapServers').fill(servers);

  await page.getByTestId('field-config.topic-pick').click();
  await expect(page.getByTestId('field-config.topic-pick-panel')).toContainText(`Asking the engine for the topics of the Kafka cluster at ${servers}`);
  const error = page.getByTestId('field-config.topic-pick-error');
  await expect(error).toContainText(`cannot list the topics of the Kafka cluster at ${servers}`, { timeout: 90_000 });
  await expect(page.getByTestId('field-config.topic-pick-list')).toHaveCount(0);
  // The topic field is untouched.
  await expect(page.getByTestId('field-config.topic')).toHaveValue('input');

  await page.getByTestId('field-config.topic-pick-close').click();
  await expect(page.getByTestId('field-config.topic-pick-panel')).toHaveCount(0);

  // Chromium logs every 4xx/5xx response as a console error; this one was expected.
  const expected = consoleErrors.filter((e) => /status of 502/.test(e));
  expect(expected.length).toBeLessThanOrEqual(1);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !expected.includes(e)));
});
