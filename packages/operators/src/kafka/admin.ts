/** The broker's topics, for the editor's topic picker and `sluice topics`. */
import { SILENT_LOGGER } from '../api/context.js';
import { createKafka } from './client.js';

export interface KafkaTopicInfo {
  readonly name: string;
  readonly partitions: number;
}

/** Lists the topics of a cluster (internal ones, starting with `__`, left out), sorted by name. */
export async function listKafkaTopics(bootstrapServers: string): Promise<KafkaTopicInfo[]> {
  const kafka = createKafka(bootstrapServers, 'sluice-admin', SILENT_LOGGER, `Kafka at ${bootstrapServers}`);
  const admin = kafka.admin({ retry: { retries: 2 } });
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
