/** What the engine asks a Kafka cluster itself: its topics (the editor's topic picker, `sluice topics`), its brokers (the job-process relay). */
import { SILENT_LOGGER } from '../api/context.js';
import { createKafka } from './client.js';

export interface KafkaTopicInfo {
  readonly name: string;
  readonly partitions: number;
}

/** Lists the topics of a cluster (internal ones, starting with `__`, left out), sorted by name. */
export async function listKafkaTopics(bootstrapServers: string): Promise<KafkaTopicInfo[]> {
  // Someone is waiting at the editor or the CLI: a cluster that does not answer is reported in seconds.
  const kafka = createKafka(bootstrapServers, 'sluice-admin', SILENT_LOGGER, `Kafka at ${bootstrapServers}`, { retries: 1, connectionTimeoutMs: 2_000 });
  const admin = kafka.admin({ retry: { retries: 1 } });
  await admin.connect();
  try {
    const names = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
    if (names.length === 0) return [];
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    return topics.map((t) => ({ name: t.name, partitions: t.partitions.length })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The host:port of every broker the cluster's metadata names. */
export async function listKafkaBrokers(bootstrapServers: string): Promise<string[]> {
  const kafka = createKafka(bootstrapServers, 'sluice-admin', SILENT_LOGGER, `Kafka at ${bootstrapServers}`, { retries: 1, connectionTimeoutMs: 2_000 });
  const admin = kafka.admin({ retry: { retries: 1 } });
  await admin.connect();
  try {
    const { brokers } = await admin.describeCluster();
    return brokers.map((b) => `${b.host}:${b.port}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
