import { expect, inject, it } from 'vitest';
import '@sluice/operators';
import { Kafka, logLevel } from 'kafkajs';
import { runCli } from '../src/cli.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBootstrap: string;
  }
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (err += t), cwd: process.cwd() });
  return { code, out, err };
}

it('sluice topics lists the topics of a cluster with their partitions, without internal ones', async () => {
  const bootstrap = inject('kafkaBootstrap');
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 12 } }).admin();
  await admin.connect();
  const topic = `cli-topics-${process.pid}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
  const json = await cli(['topics', bootstrap, '--json']);
  expect(json.code).toBe(0);
  const topics = JSON.parse(json.out) as Array<{ name: string; partitions: number }>;
  expect(topics).toContainEqual({ name: topic, partitions: 3 });
  expect(topics.some((t) => t.name.startsWith('__'))).toBe(false);
  expect((await cli(['topics', bootstrap])).out).toContain(`${topic}\t3 partitions`);
});

it('sluice topics names the cluster it cannot reach', async () => {
  const result = await cli(['topics', '127.0.0.1:1']);
  expect(result.code).toBe(1);
  expect(result.err).toMatch(/cannot list the topics of the Kafka cluster at 127\.0\.0\.1:1: /);
});
