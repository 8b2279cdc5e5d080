/**
 * KafkaJS clients as the Kafka source and sink build them: brokers from the
 * `bootstrapServers` string, KafkaJS's own logging routed to the operator's logger, and
 * Flink's assignment of partitions to source subtasks.
 */
import type { Kafka as KafkaClient, LogEntry, logCreator } from 'kafkajs';
import { Kafka, logLevel } from './kafkajs.js';
import type { Logger } from '../api/operator.js';
import { relaySocketFactory } from './relay.js';

// KafkaJS warns once per process about its default partitioner changing in 2.0; the sink
// picks its partitioner explicitly.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/** Whether `text` is one host:port. */
export function isBrokerAddress(text: string): boolean {
  return /^[^:\s]+:\d{1,5}$/.test(text);
}

/** A host:port as addresses are compared: the host without case, the port as written. */
export function brokerKey(address: string): string {
  const colon = address.lastIndexOf(':');
  return `${address.slice(0, colon).toLowerCase()}:${address.slice(colon + 1)}`;
}

export function parseBootstrapServers(servers: string, where: string): string[] {
  const brokers = servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const broker of brokers) {
    if (!isBrokerAddress(broker)) throw new Error(`${where}: bootstrap server '${broker}' is not host:port`);
  }
  if (brokers.length === 0) throw new Error(`${where}: bootstrapServers names no broker`);
  return brokers;
}

/**
 * KafkaJS logs retried protocol errors (a coordinator still loading, a leader moving) at
 * ERROR; they are routine, so only what it reports outside a request/response goes on.
 */
function bridge(log: Logger): logCreator {
  return () =>
    ({ level, log: entry }: LogEntry) => {
      if (level > logLevel.WARN) return;
      const message = entry.message;
      if (message.startsWith('[Connection]') || message.includes('Response ')) return;
      // Said for every transactional producer: a send that runs out of retries fails the task
      // and the restore re-sends in a new transaction, so exactly-once does not rest on retries.
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      const { message: _message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
      log.warn(`kafka: ${message}`, fields);
    };
}

/** How hard a client tries to reach a broker before it gives up. */
export interface KafkaPatience {
  readonly retries: number;
  readonly connectionTimeoutMs: number;
}

// A broker that is down fails a task after about a minute of retries; the job's restart
// strategy takes it from there.
const TASK_PATIENCE: KafkaPatience = { retries: 8, connectionTimeoutMs: 5_000 };

export function createKafka(bootstrapServers: string, clientId: string, log: Logger, where: string, patience: KafkaPatience = TASK_PATIENCE): KafkaClient {
  const socketFactory = relaySocketFactory();
  return new Kafka({
    ...(socketFactory ? { socketFactory } : {}),
    clientId,
    brokers: parseBootstrapServers(bootstrapServers, where),
    logLevel: logLevel.WARN,
    logCreator: bridge(log),
    retry: { retries: patience.retries, initialRetryTime: 200, maxRetryTime: 10_000 },
    connectionTimeout: patience.connectionTimeoutMs,
  });
}

/** Java's String.hashCode, which Flink's partition assignment is defined with. */
export function javaStringHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  return hash;
}

/**
 * The subtask that reads a partition, as Flink's KafkaSourceEnumerator.getSplitOwner:
 * a topic's partitions go round robin from a start index derived from the topic name,
 * so partitions of one topic spread evenly and the answer depends on nothing else.
 */
export function partitionOwner(topic: string, partition: number, parallelism: number): number {
  const startIndex = ((Math.imul(javaStringHash(topic), 31) & 0x7fffffff) % parallelism + parallelism) % parallelism;
  return (startIndex + partition) % parallelism;
}
