/**
 * Values for a config field that only the engine can know: the topics of the Kafka
 * cluster a node is configured with. One table says which fields of which operator
 * types have suggestions and how they are asked for; the inspector puts a "Pick…"
 * control beside every such field and nothing else in the form knows about it.
 *
 * The engine asks the cluster itself (GET /api/kafka/topics), so the list is what
 * its jobs will see, and its errors (a malformed server list, an unreachable
 * cluster) are shown as it words them.
 */
import type { KafkaTopics } from '@sluice/protocol';
import type { ObjectSpec } from '../model/form-spec';
import type { EngineClient } from './engine-client';
import type { EngineConnection } from './live-store';

/** One value the user can pick. */
export interface FieldSuggestion {
  readonly value: string;
  /** What is shown beside the value ('3 partitions'). */
  readonly detail: string;
}

export interface SuggestionSource {
  /** What is listed, for the picker's labels ('topic'). */
  readonly noun: string;
  /** Where the values come from, for the picker's heading and empty answer; `config` has its defaults filled in. */
  describe(config: Readonly<Record<string, unknown>>): string;
  load(client: EngineClient, config: Readonly<Record<string, unknown>>, signal?: AbortSignal): Promise<readonly FieldSuggestion[]>;
}

/** The engine's topic list as picker entries. Throws when the answer is not the documented `KafkaTopics`. */
export function topicSuggestions(answer: unknown): FieldSuggestion[] {
  const topics = (answer as Partial<KafkaTopics> | null | undefined)?.topics;
  if (!Array.isArray(topics)) throw new Error('the engine answered GET /api/kafka/topics without a topics list');
  return topics.map((t: unknown, i) => {
    const topic = t as { name?: unknown; partitions?: unknown } | null;
    if (typeof topic?.name !== 'string' || typeof topic.partitions !== 'number') {
      throw new Error(`the engine answered GET /api/kafka/topics with topics[${i}] that is not { name, partitions }`);
    }
    return { value: topic.name, detail: `${topic.partitions} partition${topic.partitions === 1 ? '' : 's'}` };
  });
}

function bootstrapServersOf(config: Readonly<Record<string, unknown>>): string {
  return typeof config['bootstrapServers'] === 'string' ? config['bootstrapServers'] : '';
}

const kafkaTopics: SuggestionSource = {
  noun: 'topic',
  describe: (config) => `the Kafka cluster at ${bootstrapServersOf(config) || '(no bootstrap servers)'}`,
  // An empty server list goes to the engine too: its 400 says what is wrong better than a second rule here.
  load: async (client, config, signal) => topicSuggestions(await client.kafkaTopics(bootstrapServersOf(config), signal)),
};

/** Operator type → config field (problem path, `config.topic`) → where its suggestions come from. */
const SOURCES: Readonly<Record<string, Readonly<Record<string, SuggestionSource>>>> = {
  'kafka-source': { 'config.topic': kafkaTopics },
  'kafka-sink': { 'config.topic': kafkaTopics },
};

export function suggestionSource(nodeType: string, fieldPath: string): SuggestionSource | undefined {
  return SOURCES[nodeType]?.[fieldPath];
}

/** The node's config with each top-level field that is not set shown by its default, as the form shows it. */
export function configWithDefaults(spec: ObjectSpec, config: unknown): Record<string, unknown> {
  const record: Record<string, unknown> = typeof config === 'object' && config !== null && !Array.isArray(config) ? { ...(config as Record<string, unknown>) } : {};
  for (const p of spec.properties) {
    if (record[p.name] === undefined && p.spec.hasDefault) record[p.name] = p.spec.defaultValue;
  }
  return record;
}

/** Null when the engine can be asked; otherwise why not. */
export function engineNotReady(engine: EngineConnection, client: EngineClient | undefined): string | null {
  if (engine.kind === 'online' && client !== undefined) return null;
  if (engine.kind === 'offline') return `no engine connected: ${engine.reason}`;
  if (engine.kind === 'locked') return `the engine needs a token: ${engine.reason}`;
  return 'no engine connected yet (start one with `sluice serve`, or npm run quickstart)';
}
