// Kafka source → map → Kafka sink on Sluice, against a bare kafkajs consumer → producer pipe
// doing the same work (parse, map, serialize, produce with acks=all) on the same broker and
// input topic. Issue target: Sluice at ≥ 0.8 of the bare pipe. Also exactly-once against
// at-least-once, both with a 1 s checkpoint interval. Starts its own broker (scripts/kafka).
// lib.js loads @sluice/operators, which fixes kafkajs's read_committed filtering, before kafkajs loads here.
import { median, report, runJob } from './lib.js';
import { processModeAvailability } from '@sluice/engine';
import { startKafka } from '../scripts/kafka/broker.js';
const { default: kafkajs } = await import('kafkajs');

const { Kafka, logLevel } = kafkajs;
const EVENTS = Number(process.env.SLUICE_KAFKA_BENCH_EVENTS ?? 300_000);
const PARTITIONS = 4;
const RUNS = 3;
const map = (v) => ({ ...v, value: v.value * 2 });

async function createTopic(kafka, topic, partitions) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: false });
  // Until every partition has a leader in the broker's metadata (kafkajs's waitForLeaders gives up too early).
  for (let i = 0; ; i++) {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] }).catch((error) => {
      if (i > 50) throw error;
      return { topics: [] };
    });
    if (topics[0]?.partitions.length === partitions && topics[0].partitions.every((p) => p.leader >= 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await admin.disconnect();
}

async function endOffsets(kafka, topic) {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return offsets.reduce((n, o) => n + Number(o.high), 0);
}

async function fill(kafka, topic) {
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < EVENTS; i += 5000) {
    const messages = [];
    for (let id = i; id < Math.min(EVENTS, i + 5000); id++) {
      messages.push({ key: `key-${id % 1000}`, value: JSON.stringify({ id, key: `key-${id % 1000}`, value: id % 997, timestamp: 1_700_000_000_000 + id }) });
    }
    await producer.send({ topic, messages, acks: -1 });
  }
  await producer.disconnect();
}

/** The baseline: one consumer (its own group) and one producer, batch in, batch out. */
async function barePipe(kafka, input, output, run) {
  const consumer = kafka.consumer({ groupId: `bare-${run}`, maxWaitTimeInMs: 100, maxBytesPerPartition: 1024 * 1024 });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const t0 = performance.now();
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  let count = 0;
  await new Promise((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          const messages = batch.messages.map((m) => ({ key: m.key, value: JSON.stringify(map(JSON.parse(m.value.toString()))) }));
          for (let i = 0; i < messages.length; i += 1000) await producer.send({ topic: output, messages: messages.slice(i, i + 1000), acks: -1 });
          count += messages.length;
          if (count >= EVENTS) resolve();
        },
      })
      .catch(reject);
  });
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([consumer.disconnect(), producer.disconnect()]);
  return seconds;
}

function pipeline(bootstrap, input, output, semantics, parallelism) {
  return {
    schemaVersion: 1,
    name: `kafka ${semantics}`,
    job: { defaultParallelism: parallelism, checkpointing: { enabled: true, intervalMs: 1000 } },
    nodes: [
      { id: 'in', type: 'kafka-source', config: { bootstrapServers: bootstrap, topic: input, bounded: true } },
      { id: 'map', type: 'map', config: { fn: '(v) => ({ ...v, value: v.value * 2 })' } },
      { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap, topic: output, semantics, keyField: 'key' } },
    ],
    edges: [
      { id: 'e1', source: 'in', target: 'map' },
      { id: 'e2', source: 'map', target: 'out' },
    ],
  };
}

/** Records a read_committed reader sees in a topic. */
async function committedCount(kafka, topic) {
  // A commit returns before its markers are written: wait until the end offsets settle.
  let total = await endOffsets(kafka, topic);
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const again = await endOffsets(kafka, topic);
    if (again === total) break;
    total = again;
  }
  const consumer = kafka.consumer({ groupId: `count-${topic}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  // A consumer that rejoins its group may be handed a batch again: count each offset once.
  const seen = new Set();
  const reached = new Map();
  await new Promise((resolve) => {
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      // Without a first offset the batch held only records before the fetch position, and
      // kafkajs reports the partition's end as its last offset.
      if (e.payload.firstOffset === null) return;
      reached.set(e.payload.partition, Number(e.payload.lastOffset) + 1);
      if ([...reached.values()].reduce((a, b) => a + b, 0) >= total) resolve();
    });
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) seen.add(`${batch.partition}/${m.offset}`);
      },
    });
  });
  await consumer.disconnect();
  return seen.size;
}

export async function run() {
  const broker = await startKafka();
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const kafka = new Kafka({ clientId: 'sluice-bench', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  let topics = 0;
  const fresh = async (name, partitions = PARTITIONS) => {
    const topic = `${name}-${++topics}`;
    await createTopic(kafka, topic, partitions);
    return topic;
  };
  let failed = false;
  try {
    const input = await fresh('input');
    await fill(kafka, input);

    const measure = async (name, once) => {
      await once(-1);
      const seconds = [];
      for (let i = 0; i < RUNS; i++) seconds.push(await once(i));
      return EVENTS / median(seconds);
    };

    const bare = await measure('bare', async (i) => barePipe(kafka, input, await fresh('bare-out'), `${i}-${topics}`));
    report({ bench: 'kafka-pipe', metric: 'events_per_s', value: Math.round(bare), unit: 'ev/s', runs: RUNS, stat: 'median', events: EVENTS, engine: 'bare kafkajs consumer+producer', partitions: PARTITIONS });

    const sluice = async (semantics, parallelism, userCode) => {
      let lastOut = '';
      const rate = await measure(semantics, async () => {
        const out = await fresh(`sluice-${semantics}`);
        const { seconds } = await runJob(pipeline(broker.bootstrap, input, out, semantics, parallelism), { slots: parallelism, userCode });
        lastOut = out;
        return seconds;
      });
      // A benchmark that produced the wrong output says so.
      const written = semantics === 'exactly-once' ? await committedCount(kafka, lastOut) : await endOffsets(kafka, lastOut);
      if (written !== EVENTS) {
        console.error(`kafka benchmark: the ${semantics} pipeline wrote ${written} records, expected ${EVENTS}`);
        failed = true;
      }
      return rate;
    };

    const atLeastOnce = await sluice('at-least-once', 1);
    report({ bench: 'kafka-pipe', metric: 'events_per_s', value: Math.round(atLeastOnce), unit: 'ev/s', runs: RUNS, stat: 'median', events: EVENTS, engine: 'sluice', semantics: 'at-least-once', checkpoint_interval_ms: 1000, parallelism: 1 });
    report({ bench: 'kafka-pipe', metric: 'ratio_sluice_vs_bare', value: Number((atLeastOnce / bare).toFixed(3)), unit: 'ratio', goal: 0.8, parallelism: 1 });

    // A confined process per job has no network: its clients reach the broker through the
    // engine's relay (kafka-relay.ts), one more hop for every byte.
    if (processModeAvailability().available) {
      const inProcess = await sluice('at-least-once', 1, { mode: 'process' });
      report({ bench: 'kafka-pipe', metric: 'events_per_s', value: Math.round(inProcess), unit: 'ev/s', runs: RUNS, stat: 'median', events: EVENTS, engine: 'sluice', user_code: 'process', semantics: 'at-least-once', checkpoint_interval_ms: 1000, parallelism: 1 });
      report({ bench: 'kafka-pipe', metric: 'ratio_process_vs_trusted', value: Number((inProcess / atLeastOnce).toFixed(3)), unit: 'ratio', semantics: 'at-least-once', parallelism: 1 });
    }

    const exactlyOnce = await sluice('exactly-once', 1);
    report({ bench: 'kafka-pipe', metric: 'events_per_s', value: Math.round(exactlyOnce), unit: 'ev/s', runs: RUNS, stat: 'median', events: EVENTS, engine: 'sluice', semantics: 'exactly-once', checkpoint_interval_ms: 1000, parallelism: 1 });
    report({ bench: 'kafka-pipe', metric: 'ratio_exactly_once_vs_at_least_once', value: Number((exactlyOnce / atLeastOnce).toFixed(3)), unit: 'ratio', checkpoint_interval_ms: 1000, parallelism: 1 });
  } finally {
    await broker.stop();
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[1] === new URL(import.meta.url).pathname) await run();
