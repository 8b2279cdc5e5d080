/**
 * The Kafka source and sink on the engine, against a real broker: idle partitions,
 * offsets restored from a savepoint at another parallelism, dead letters, at-least-once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager, type Job } from '@sluice/engine';
import { bootstrap, createTopic, produce, readCommitted, withAdmin } from './kafka-helpers.js';

let taskManager: TaskManager;
let jobs: JobManager;

beforeAll(() => {
  const scratch = mkdtempSync(join(tmpdir(), 'sluice-kafka-conn-'));
  taskManager = new TaskManager({ slots: 2, heartbeatTimeoutMs: 10_000 });
  jobs = new JobManager(taskManager, { dataDir: join(scratch, 'data') });
});
afterAll(async () => {
  await taskManager.shutdown();
});

async function finished(job: Job): Promise<void> {
  const status = await job.done;
  if (status !== 'finished') throw new Error(`job ${status}: ${job.failure?.message ?? ''}`);
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function copyGraph(inTopic: string, outTopic: string, parallelism: number, bounded: boolean): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'kafka copy',
    job: { defaultParallelism: parallelism, checkpointing: { enabled: true, intervalMs: 100 } },
    nodes: [
      { id: 'in', type: 'kafka-source', config: { bootstrapServers: bootstrap(), topic: inTopic, bounded, groupId: `copy-${inTopic}` } },
      { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap(), topic: outTopic, semantics: 'exactly-once' } },
    ],
    edges: [{ id: 'e1', source: 'in', target: 'out' }],
  };
}

/** A source split as the subtasks last reported it (TaskMetrics.splits). */
function splitOf(job: Job, split: string): { split: string; idle: boolean; lastRecordAgeMs: number | null; lag?: number | null } | undefined {
  for (const { metrics } of job.metrics.values()) {
    const found = metrics.splits?.find((s) => s.split === split);
    if (found) return found;
  }
  return undefined;
}

const ids = async (topic: string) => (await readCommitted(topic)).map((r) => (JSON.parse(r.value ?? '{}') as { id: number }).id).sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('Kafka source', () => {
  it('offsets restore exactly from a savepoint into a graph at another parallelism', async () => {
    const inTopic = await createTopic('restore-in', 6);
    const outTopic = await createTopic('restore-out', 2);
    await produce(inTopic, range(0, 3000).map((id) => ({ partition: id % 6, value: { id } })));
    const first = await jobs.submit(copyGraph(inTopic, outTopic, 2, false));
    // Everything produced so far has been copied and committed; then stop with a savepoint.
    await until('the first 3000 records in the output', async () => ((await ids(outTopic)).length >= 3000 ? true : undefined));
    const savepoint = await first.stopWithSavepoint();
    await produce(inTopic, range(3000, 6000).map((id) => ({ partition: id % 6, value: { id } })));
    const second = await jobs.submit(copyGraph(inTopic, outTopic, 3, true), { restoreFrom: savepoint.directory });
    expect(second.restorePlan?.entries.find((e) => e.nodeId === 'in')?.status).toBe('restored');
    await finished(second);
    expect(await ids(outTopic)).toEqual(range(0, 6000));
  });

  it('starts where startFrom says: a timestamp, the group\'s committed offsets, or the latest offsets', async () => {
    const inTopic = await createTopic('start-in', 2);
    await produce(inTopic, range(0, 200).map((id) => ({ partition: id % 2, value: { id } })));
    await new Promise((r) => setTimeout(r, 50));
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await produce(inTopic, range(200, 300).map((id) => ({ partition: id % 2, value: { id } })));
    await withAdmin((admin) => admin.setOffsets({ groupId: `start-${inTopic}`, topic: inTopic, partitions: [{ partition: 0, offset: '120' }, { partition: 1, offset: '130' }] }));
    const run = async (startFrom: unknown) => {
      const outTopic = await createTopic('start-out', 1);
      const graph = copyGraph(inTopic, outTopic, 2, true);
      graph.nodes[0] = { ...graph.nodes[0], config: { ...(graph.nodes[0]?.config as object), groupId: `start-${inTopic}`, startFrom } } as JobGraphDocument['nodes'][number];
      await finished(await jobs.submit(graph));
      return ids(outTopic);
    };
    // Offsets 120 and 130 of partitions 0 and 1 hold ids 240 and 261. (First: every run commits its offsets to the group.)
    expect(await run({ mode: 'group-offsets' })).toEqual(range(240, 300).filter((id) => id % 2 === 0 || id >= 261));
    expect(await run({ mode: 'timestamp', timestampMs: from })).toEqual(range(200, 300));
    expect(await run({ mode: 'latest' })).toEqual([]);
  });

  it('discovers partitions added while it runs and reads them from their beginning', async () => {
    const inTopic = await createTopic('discover-in', 2);
    const outTopic = await createTopic('discover-out', 1);
    await produce(inTopic, range(0, 100).map((id) => ({ partition: id % 2, value: { id } })));
    const graph = copyGraph(inTopic, outTopic, 2, false);
    graph.nodes[0] = { ...graph.nodes[0], config: { ...(graph.nodes[0]?.config as object), partitionDiscoveryIntervalMs: 1000 } } as JobGraphDocument['nodes'][number];
    const job = await jobs.submit(graph);
    try {
      await until('the first 100 records', async () => ((await ids(outTopic)).length >= 100 ? true : undefined));
      await withAdmin((admin) => admin.createPartitions({ topicPartitions: [{ topic: inTopic, count: 4 }] }));
      await produce(inTopic, range(100, 200).map((id) => ({ partition: id % 4, value: { id } })));
      const all = await until('the records of the new partitions', async () => {
        const got = await ids(outTopic);
        return got.length >= 200 ? got : undefined;
      });
      expect(all).toEqual(range(0, 200));
    } finally {
      job.cancel();
      await job.done;
    }
  });

  it('at-least-once: after a worker is killed mid-run every record arrives (duplicates allowed)', async () => {
    const inTopic = await createTopic('alo-in', 4);
    const outTopic = await createTopic('alo-out', 2);
    await produce(inTopic, range(0, 20_000).map((id) => ({ partition: id % 4, value: { id } })));
    const job = await jobs.submit({
      schemaVersion: 1,
      name: 'at least once',
      job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 100 }, restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 50 } },
      nodes: [
        { id: 'in', type: 'kafka-source', config: { bootstrapServers: bootstrap(), topic: inTopic, bounded: true } },
        // Slow enough (about 2 s per subtask) that the kill lands mid-run.
        { id: 'slow', type: 'map', config: { fn: '(v) => { if (v.id % 100 === 0) { const t = Date.now() + 20; while (Date.now() < t); } return v; }' } },
        { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap(), topic: outTopic, semantics: 'at-least-once' } },
      ],
      edges: [
        { id: 'e1', source: 'in', target: 'slow' },
        { id: 'e2', source: 'slow', target: 'out' },
      ],
    });
    await until('the first output', async () => ((await withAdmin((a) => a.fetchTopicOffsets(outTopic))).some((o) => Number(o.high) > 0) ? true : undefined));
    await taskManager.killSlot(0);
    await finished(job);
    const got = await ids(outTopic);
    expect(job.restarts).toBeGreaterThanOrEqual(1);
    expect([...new Set(got)]).toEqual(range(0, 20_000));
  });

  it('a record that is not JSON goes to the dead-letter output with topic, partition, offset and error; nothing else is lost', async () => {
    const inTopic = await createTopic('poison-in', 2);
    const outTopic = await createTopic('poison-out', 1);
    const records: Array<{ partition: number; value: unknown; raw?: string }> = range(0, 400).map((id) => ({ partition: id % 2, value: { id } }));
    records.splice(201, 0, { partition: 1, value: null, raw: '{"id": 9999, broken' });
    await produce(inTopic, records);
    const job = await jobs.submit({
      schemaVersion: 1,
      name: 'poison',
      job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 100 } },
      nodes: [
        { id: 'in', type: 'kafka-source', config: { bootstrapServers: bootstrap(), topic: inTopic, bounded: true } },
        { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap(), topic: outTopic, semantics: 'at-least-once' } },
        { id: 'dead', type: 'collect-sink', config: { name: 'dead' } },
      ],
      edges: [
        { id: 'e1', source: 'in', target: 'out' },
        { id: 'e2', source: 'in', sourceOutput: 'dead-letter', target: 'dead' },
      ],
    });
    await finished(job);
    expect(await ids(outTopic)).toEqual(range(0, 400));
    const dead = job.results('dead').map((r) => r.value as { topic: string; partition: number; offset: number; error: string; text: string });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ topic: inTopic, partition: 1, offset: 100, text: '{"id": 9999, broken' });
    expect(dead[0]?.error).toMatch(/cannot parse the value as JSON/);
  });

  it('one idle partition out of eight: it is named idle, and windows fire once the idleness timeout has passed', async () => {
    const inTopic = await createTopic('idle-in', 8);
    const outTopic = await createTopic('idle-out', 1);
    // Partition 7 never gets a record; the other seven get ten records each per 100 ms,
    // event time 100 ms per step, so every 1 s window holds 700 records.
    const producing = { on: true };
    const producer = (async () => {
      for (let step = 0; producing.on && step < 600; step++) {
        await produce(inTopic, range(0, 70).map((i) => ({ partition: i % 7, value: { step, ts: 1_700_000_000_000 + step * 100 + Math.floor(i / 7) * 10 } })));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const job = await jobs.submit({
      schemaVersion: 1,
      name: 'idle partition',
      // Checkpoints further apart than the once-a-second telemetry, so that a sink transaction
      // stays open across a report (one window a second would otherwise be committed between two).
      job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 1500 } },
      nodes: [
        { id: 'in', type: 'kafka-source', config: { bootstrapServers: bootstrap(), topic: inTopic, watermarks: { timestampField: 'ts', maxOutOfOrdernessMs: 0, idleTimeoutMs: 2000 } } },
        { id: 'window', type: 'all-window', config: { assigner: { kind: 'tumbling', sizeMs: 1000, offsetMs: 0 }, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
        { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap(), topic: outTopic, semantics: 'exactly-once' } },
      ],
      edges: [
        { id: 'e1', source: 'in', target: 'window' },
        { id: 'e2', source: 'window', target: 'out' },
      ],
    });
    try {
      // Before its idleness timeout the telemetry names the partition that has never had a record.
      const silent = await until('telemetry naming partition 7', () => splitOf(job, `${inTopic}-7`));
      expect(silent.lastRecordAgeMs).toBeNull();
      // Windows fire once partition 7 is idle and stops holding the watermark back.
      const counts = await until('three windows', async () => {
        const rows = (await readCommitted(outTopic)).map((r) => (JSON.parse(r.value ?? '{}') as { count: number }).count);
        return rows.length >= 3 ? rows : undefined;
      });
      expect(counts.slice(0, 3)).toEqual([700, 700, 700]);
      expect((await until('partition 7 reported idle', () => (splitOf(job, `${inTopic}-7`)?.idle === true ? true : undefined)))).toBe(true);
      // The partitions with records are not idle until their own timeout, and report their consumer lag.
      const busy = splitOf(job, `${inTopic}-0`);
      expect(busy?.lastRecordAgeMs).not.toBeNull();
      expect(busy?.lag).toBeGreaterThanOrEqual(0);
      // The exactly-once sink's transactions that readers cannot see yet, with their age.
      const transaction = await until('a sink transaction in the telemetry', () => {
        for (const { metrics } of job.metrics.values()) {
          const found = metrics.transactions?.find((t) => t.nodeId === 'out');
          if (found) return found;
        }
        return undefined;
      });
      // Any sink subtask may be the first to report one.
      expect(transaction.transactionalId).toMatch(new RegExp(`^sluice-${job.id}-out-g0-s\\d+-\\d+$`));
      expect(transaction.ageMs).toBeGreaterThanOrEqual(0);
    } finally {
      producing.on = false;
      await producer;
      job.cancel();
      await job.done;
    }
  });
});
