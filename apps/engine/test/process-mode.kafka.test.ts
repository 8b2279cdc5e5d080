/**
 * Kafka in a job process, against a real broker. A job process has no network: its Kafka
 * clients reach their brokers through the engine's relay (kafka-relay.ts), which connects
 * only to brokers of the job's own clusters. Exactly-once still holds through it, and user
 * code that asks the relay for anything else is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, ProcessTaskManager, processModeAvailability, type Job } from '@sluice/engine';
import { bootstrap, createTopic, produce, readCommitted } from './kafka-helpers.js';
import { tripwire, type Tripwire } from './tripwire.js';
import { waitFor } from './wait.js';

const available = processModeAvailability().available;
let dataDir: string;
let taskManager: ProcessTaskManager;
let jobs: JobManager;
const warnings: string[] = [];

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-process-kafka-'));
  taskManager = new ProcessTaskManager({ userCode: { cpuMsPerCall: 1000 }, slotsPerJob: 2, log: (_level, message) => warnings.push(message) });
  jobs = new JobManager(taskManager, { dataDir });
});
afterAll(async () => {
  await taskManager.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

async function finished(job: Job): Promise<void> {
  const status = await job.done;
  if (status !== 'finished') throw new Error(`job ${status}: ${job.failure?.message ?? ''}`);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function copyGraph(inTopic: string, outTopic: string, fn: string): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'kafka copy in a job process',
    job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 100 } },
    nodes: [
      { id: 'in', type: 'kafka-source', config: { bootstrapServers: bootstrap(), topic: inTopic, bounded: true, groupId: `copy-${inTopic}` } },
      { id: 'fn', type: 'map', config: { fn } },
      { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap(), topic: outTopic, semantics: 'exactly-once' } },
    ],
    edges: [
      { id: 'e1', source: 'in', target: 'fn' },
      { id: 'e2', source: 'fn', target: 'out' },
    ],
  };
}

describe.skipIf(!available)('Kafka in a job process, through the engine', () => {
  let wire: Tripwire;
  beforeAll(async () => {
    wire = await tripwire();
  });
  afterAll(() => wire.close());

  it('copies a topic exactly once: the source and the transactional sink reach the broker through the relay', async () => {
    const inTopic = await createTopic('process-in', 4);
    const outTopic = await createTopic('process-out', 2);
    await produce(inTopic, range(0, 2000).map((id) => ({ partition: id % 4, value: { id } })));
    const job = await jobs.submit(copyGraph(inTopic, outTopic, '(v) => ({ id: v.id, twice: v.id * 2 })'));
    await finished(job);
    const rows = (await readCommitted(outTopic)).map((r) => JSON.parse(r.value ?? '{}') as { id: number; twice: number });
    expect(rows.map((r) => r.id).sort((a, b) => a - b)).toEqual(range(0, 2000));
    expect(rows.every((r) => r.twice === r.id * 2)).toBe(true);
  });

  it('refuses user code that asks the relay for an address that is not a broker of its clusters, and says why', async () => {
    const inTopic = await createTopic('process-probe-in', 1);
    const outTopic = await createTopic('process-probe-out', 1);
    await produce(inTopic, [{ partition: 0, value: { id: 1 } }]);
    // The relay's path is in the slot's settings: user code can find it, and ask for the
    // test's own server on the engine's loopback.
    const probe = `(v) => {
      const path = process.getBuiltinModule('worker_threads').workerData.kafkaRelay;
      const socket = process.getBuiltinModule('net').connect({ path });
      socket.on('error', () => {});
      socket.write('127.0.0.1:${wire.port}\\n');
      return { id: v.id, relay: typeof path };
    }`;
    const job = await jobs.submit(copyGraph(inTopic, outTopic, probe));
    await finished(job);
    expect((await readCommitted(outTopic)).map((r) => JSON.parse(r.value ?? '{}') as unknown)).toEqual([{ id: 1, relay: 'string' }]);
    const refusal = `refused a connection of job ${job.id}: 127.0.0.1:${wire.port} is not a broker of this job's Kafka clusters (${bootstrap()}`;
    expect(await waitFor(() => warnings.some((w) => w.includes(refusal)), 10_000)).toBe(true);
    expect(wire.connections()).toBe(0);
  });
});
