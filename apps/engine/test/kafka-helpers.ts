/**
 * For tests against the real broker that the `kafka` vitest project starts
 * (scripts/kafka/vitest-global-setup.js): topics, producing input, reading output
 * read_committed.
 */
import { inject } from 'vitest';
// First: it fixes how kafkajs drops aborted transactions for read_committed readers (kafkajs.ts there).
import '@sluice/operators';
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
  // Generous retries: a loaded machine makes a fresh topic's metadata lag behind its creation.
  client ??= new Kafka({ clientId: 'sluice-test', brokers: [bootstrap()], logLevel: logLevel.NOTHING, retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 2000 } });
  return client;
}

let topics = 0;
/** A topic of its own for one test. */
export async function createTopic(name: string, partitions: number): Promise<string> {
  const topic = `${name}-${process.pid}-${++topics}`;
  await withAdmin(async (admin) => {
    // kafkajs's own waitForLeaders gives up on 'does not host this topic-partition' (a metadata cache behind).
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: false });
    // Leaders are elected before every broker's metadata cache knows the topic: wait for that too.
    for (let i = 0; ; i++) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        if (topics[0]?.partitions.length === partitions && topics[0].partitions.every((p) => p.leader >= 0)) break;
      } catch (error) {
        if (i > 50) throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });
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
  // A commit returns before the broker has written its markers; the end offsets a
  // read_committed reader can reach settle shortly after. Read them until they stop moving.
  let ends = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const again = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
    if (JSON.stringify(again) === JSON.stringify(ends)) break;
    ends = again;
  }
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
        // A batch without a first offset held only records before the fetch position; kafkajs
        // then reports the partition's end as its last offset.
        const firstOffset: unknown = e.payload.firstOffset;
        if (firstOffset === null) return;
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
