/**
 * Kafka → key-by → tumbling window → Kafka, exactly-once, against a real broker: a
 * read_committed reader of the output sees exactly the failure-free result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager, type Job } from '@sluice/engine';
import { bootstrap, createTopic, mulberry32, produce, readCommitted } from './kafka-helpers.js';

const SEEDS = Number(process.env['SLUICE_KAFKA_SEEDS'] ?? 6);
const FIXTURE = fileURLToPath(new URL('./fixtures/engine-process.js', import.meta.url));

let taskManager: TaskManager;
let jobs: JobManager;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sluice-kafka-'));
  taskManager = new TaskManager({ slots: 2, heartbeatTimeoutMs: 8000 });
  jobs = new JobManager(taskManager, { dataDir: join(scratch, 'data') });
});
afterAll(async () => {
  await taskManager.shutdown();
});

const PARTITIONS = 8;
const KEYS = 13;
const COUNT = 16_000;

/** Records in event-time order within each partition: no record is late. */
function input(): Array<{ partition: number; value: { id: number; key: string; value: number; ts: number } }> {
  return Array.from({ length: COUNT }, (_, id) => ({ partition: id % PARTITIONS, value: { id, key: `k${id % KEYS}`, value: id % 100, ts: 1_700_000_000_000 + id * 5 } }));
}

function expectedWindows(): string[] {
  const windows = new Map<string, { key: string; windowStart: number; count: number; sum: number }>();
  for (const { value } of input()) {
    const start = value.ts - (value.ts % 1000);
    const id = `${value.key}@${start}`;
    const w = windows.get(id) ?? { key: value.key, windowStart: start, count: 0, sum: 0 };
    w.count++;
    w.sum += value.value;
    windows.set(id, w);
  }
  return [...windows.values()].map((w) => `${w.key}|${w.windowStart}|${w.count}|${w.sum}`).sort();
}

export function windowGraph(inTopic: string, outTopic: string, parallelism: number, extra: Partial<JobGraphDocument['job']> = {}): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'kafka windows',
    job: { defaultParallelism: parallelism, checkpointing: { enabled: true, intervalMs: 100 }, restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 50 }, ...extra },
    nodes: [
      {
        id: 'in',
        type: 'kafka-source',
        config: { bootstrapServers: bootstrap(), topic: inTopic, bounded: true, format: 'json', watermarks: { timestampField: 'ts', maxOutOfOrdernessMs: 0 } },
      },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'window', type: 'tumbling-window', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'value', as: 'sum' }] } } },
      { id: 'out', type: 'kafka-sink', config: { bootstrapServers: bootstrap(), topic: outTopic, semantics: 'exactly-once', keyField: 'key', headers: { origin: 'sluice-test' } } },
    ],
    edges: [
      { id: 'e1', source: 'in', target: 'by-key' },
      { id: 'e2', source: 'by-key', target: 'window' },
      { id: 'e3', source: 'window', target: 'out' },
    ],
  };
}

/** Records read so far by the Kafka source subtasks of the current attempt. */
function sourceRecords(job: Job): number {
  let n = 0;
  for (const { metrics } of job.metrics.values()) for (const op of metrics.operators) if (op.nodeId === 'in') n += op.recordsOut;
  return n;
}

async function finish(job: Job): Promise<void> {
  const status = await job.done;
  if (status !== 'finished') throw new Error(`job ${status}: ${job.failure?.message ?? ''}`);
}

async function outputOf(topic: string): Promise<string[]> {
  return (await readCommitted(topic)).map((r) => {
    const v = JSON.parse(r.value ?? 'null') as { key: string; windowStart: number; count: number; sum: number };
    return `${v.key}|${v.windowStart}|${v.count}|${v.sum}`;
  }).sort();
}

describe('Kafka → window → Kafka, exactly-once', () => {
  let inTopic = '';
  let restarted = 0;
  beforeAll(async () => {
    inTopic = await createTopic('windows-in', PARTITIONS);
    await produce(inTopic, input());
  });

  it('a failure-free run writes every window once, keyed, with headers, visible to read_committed', async () => {
    const outTopic = await createTopic('windows-out', 3);
    await finish(await jobs.submit(windowGraph(inTopic, outTopic, 2)));
    const records = await readCommitted(outTopic);
    expect(records.every((r) => r.headers['origin'] === 'sluice-test' && r.key !== null && JSON.parse(r.value ?? '{}').key === r.key)).toBe(true);
    expect(await outputOf(outTopic)).toEqual(expectedWindows());
  });

  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: a worker killed at a random moment, the output is still each window exactly once', async (seed) => {
    const random = mulberry32(seed);
    const outTopic = await createTopic(`windows-kill-${seed}`, 3);
    const job = await jobs.submit(windowGraph(inTopic, outTopic, 2));
    // Kill at a random point of the input rather than a random time, so that a busy
    // machine (a slower or faster run than the straight one) still kills mid-run.
    // Metrics arrive once a second: aim at the first half.
    const fraction = 0.05 + random() * 0.45;
    const slot = Math.floor(random() * taskManager.slots);
    const startedAt = Date.now();
    while (job.status === 'running' && sourceRecords(job) < fraction * COUNT && Date.now() - startedAt < 30_000) await new Promise((r) => setTimeout(r, 5));
    const delay = Date.now() - startedAt;
    if (job.status === 'running') await taskManager.killSlot(slot);
    await finish(job);
    if (job.restarts > 0) restarted++;
    const why = job.exceptions.map((e) => e.failure.message).join('; ');
    expect(await outputOf(outTopic), `seed ${seed}: slot ${slot} killed after ${delay} ms (${Math.round(fraction * 100)}% of the input), ${job.restarts} restart(s): ${why}`).toEqual(expectedWindows());
  });

  it('most seeds did kill the job before it ended', () => {
    expect(restarted).toBeGreaterThanOrEqual(Math.ceil(SEEDS / 2));
  });

  it.each([1, 2])('engine SIGKILL %i: resumed from its newest checkpoint, the output is each window exactly once', async (seed) => {
    const random = mulberry32(100 + seed);
    const outTopic = await createTopic(`windows-crash-${seed}`, 3);
    const dataDir = join(scratch, `crash-${seed}`);
    const graphFile = join(scratch, `crash-${seed}.json`);
    writeFileSync(graphFile, JSON.stringify(windowGraph(inTopic, outTopic, 2)));
    let jobId = '';
    const first = engineProcess([dataDir, 'submit', graphFile], (line) => {
      if (line.startsWith('job ')) jobId = line.slice(4);
    });
    // Killed after its first completed checkpoint plus a random moment.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const chk = jobId ? join(dataDir, 'checkpoints', jobId) : '';
      if (chk && existsSync(chk) && readdirSync(chk).some((d) => existsSync(join(chk, d, '_metadata')))) break;
      if (Date.now() > deadline) throw new Error('no checkpoint completed in time');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, Math.floor(random() * 300)));
    first.kill();
    await first.exited;
    let result = '';
    const second = engineProcess([dataDir, 'resume'], (line) => {
      if (line.startsWith('done ')) result = line;
    });
    expect(await second.exited).toBe(0);
    expect(result).toMatch(/^done finished restored-from \d+$/);
    const output = await outputOf(outTopic);
    // The engines' logs say which checkpoint, transactions and subtasks a wrong window went through.
    if (JSON.stringify(output) !== JSON.stringify(expectedWindows())) console.error(`engine SIGKILL ${seed}: ${output.length} windows of ${expectedWindows().length}\nfirst engine:\n${first.stderr()}\nsecond engine:\n${second.stderr()}`);
    expect(output).toEqual(expectedWindows());
  });
});

function engineProcess(args: string[], onLine: (line: string) => void): { kill(): void; exited: Promise<number | null>; stderr(): string } {
  const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then((code) => {
    if (code !== 0 && code !== null) console.error(stderr);
  });
  return { kill: () => child.kill('SIGKILL'), exited, stderr: () => stderr };
}
