/** GET /api/kafka/topics against the real broker: the editor's topic picker. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TaskManager } from '@sluice/engine';
import { createEngineService, type EngineService } from '../dist/service/index.js';
import { bootstrap, createTopic } from './kafka-helpers.js';

let taskManager: TaskManager;
let service: EngineService;

beforeAll(async () => {
  taskManager = new TaskManager({ slots: 1 });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: mkdtempSync(join(tmpdir(), 'sluice-kafka-svc-')), taskManager });
});
afterAll(async () => {
  await service.close();
  await taskManager.shutdown();
});

async function get(path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${service.url}${path}`);
  return { status: response.status, body: await response.json() };
}

it('lists the topics of the configured cluster with their partition counts, internal topics left out', async () => {
  const topic = await createTopic('picker', 3);
  const answer = await get(`/api/kafka/topics?bootstrapServers=${encodeURIComponent(bootstrap())}`);
  expect(answer.status).toBe(200);
  const body = answer.body as { bootstrapServers: string; topics: Array<{ name: string; partitions: number }> };
  expect(body.bootstrapServers).toBe(bootstrap());
  expect(body.topics).toContainEqual({ name: topic, partitions: 3 });
  expect(body.topics.some((t) => t.name.startsWith('__'))).toBe(false);
  expect(body.topics.map((t) => t.name)).toEqual([...body.topics.map((t) => t.name)].sort());
});

it('answers 400 for a malformed server list and 502 naming a cluster it cannot reach', async () => {
  const bad = await get('/api/kafka/topics?bootstrapServers=no-port-here');
  expect(bad.status).toBe(400);
  expect(bad.body).toMatchObject({ error: expect.stringMatching(/'no-port-here' is not host:port/) as unknown, problems: [{ in: 'query', path: 'bootstrapServers' }] });
  const down = await get('/api/kafka/topics?bootstrapServers=127.0.0.1:1');
  expect(down.status).toBe(502);
  expect(down.body).toMatchObject({ error: expect.stringMatching(/^cannot list the topics of the Kafka cluster at 127\.0\.0\.1:1: /) as unknown });
});
