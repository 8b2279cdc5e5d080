/**
 * For tests against the real broker that the `kafka` vitest project starts
 * (scripts/kafka/vitest-global-setup.js): topics, producing input, reading output
 * read_committed.
 */
import { inject } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBootstrap: string;
  }
}

export function bootstrap(): string {
  return inject('kafkaBootstrap');
}

let client: Kafka | undefined;
export function kafka(): Kafka {
  client ??= new Kafka({ clientId: 'sluice-test', brokers: [bootstrap()], logLevel: logLevel.NOTHING });
  return client;
}

let topics = 0;
/** A topic of its own for one test. */
export async function createTopic(name: string, partitions: number): Promise<string> {
  const topic = `${name}-${process.pid}-${++topics}`;
  await withAdmin((admin) => admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true }));
  return topic;
}

export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Produces JSON records (or raw text) to given partitions, in order, in batches. */
export async function produce(topic: string, records: ReadonlyArray<{ partition: number; value: unknown; key?: string; raw?: string }>): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 2000) {
      await producer.send({
        topic,
        acks: -1,
        messages: records.slice(i, i + 2000).map((r) => ({ partition: r.partition, key: r.key ?? null, value: r.raw ?? JSON.stringify(r.value) })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string>;
}

/**
 * Everything committed in a topic, read_committed: reads until the last stable offset of
 * every partition (what is committed now) and returns the records in partition order.
 */
export async function readCommitted(topic: string): Promise<ReadRecord[]> {
  const consumer = kafka().consumer({ groupId: `reader-${process.pid}-${Math.random().toString(36).slice(2)}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  const ends = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  const out: ReadRecord[] = [];
  const seen = new Set<string>();
  const reached = new Map<number, number>();
  const goal = new Map(ends.map((e) => [e.partition, Number(e.high)]));
  const done = () => [...goal].every(([p, high]) => (reached.get(p) ?? 0) >= high);
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  if (!done()) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} did not reach ${JSON.stringify([...goal])}; at ${JSON.stringify([...reached])}`)), 60_000);
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        reached.set(e.payload.partition, Math.max(reached.get(e.payload.partition) ?? 0, Number(e.payload.lastOffset) + 1));
        if (done()) {
          clearTimeout(timer);
          resolve();
        }
      });
      void consumer.run({
        eachBatch: ({ batch }) => {
          for (const m of batch.messages) {
            // A reader that rejoins its group may be handed a batch again; each offset counts once.
            const id = `${batch.partition}/${m.offset}`;
            if (seen.has(id)) continue;
            seen.add(id);
            out.push({
              partition: batch.partition,
              offset: Number(m.offset),
              key: m.key?.toString() ?? null,
              value: m.value?.toString() ?? null,
              headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
            });
          }
          return Promise.resolve();
        },
      });
    });
  }
  await consumer.disconnect();
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
