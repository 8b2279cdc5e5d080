/**
 * Fault tolerance end to end, on worker threads: a keyed window job with checkpoints
 * and the exactly-once collect sink must produce exactly the failure-free output after
 * a user function throws at a random record or a worker thread is killed at a random
 * moment. SLUICE_FT_SEEDS raises the seed count for a soak run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobGraphDocument } from '@sluice/graph-model';
import { decodeSnapshot, encodeSnapshot, JobManager, readSnapshotFile, TaskManager, type Job } from '@sluice/engine';
import { committedLines } from './file-output.js';

const SEEDS = Number(process.env['SLUICE_FT_SEEDS'] ?? 50);
let taskManager: TaskManager;
let jobs: JobManager;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sluice-eo-'));
  // A wedged slot is replaced well inside the per-seed time limit.
  taskManager = new TaskManager({ slots: 2, heartbeatTimeoutMs: 8000 });
  jobs = new JobManager(taskManager, { dataDir: join(scratch, 'data') });
});
afterAll(async () => {
  await taskManager.shutdown();
});

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COUNT = 12_000;

let outputs = 0;
/** A fresh output directory for the exactly-once file sink of one run. */
function freshOutput(): string {
  return join(scratch, `out-${++outputs}`);
}

type Alignment = 'aligned' | 'unaligned' | 'timeout';

function windowJob(failAt: number, parallelism = 2, rate = 15_000, fileOutput?: string, alignment: Alignment = 'aligned'): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'exactly once',
    job: {
      defaultParallelism: parallelism,
      checkpointing: { enabled: true, intervalMs: 100, unaligned: alignment !== 'aligned', alignmentTimeoutMs: alignment === 'timeout' ? 5 : 0 },
      restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 50 },
    },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: COUNT, ratePerSecond: rate, keys: 23, eventIntervalMs: 7 } },
      { id: 'maybe-fail', type: 'map', config: { fn: `(v, ctx) => { if (ctx.attemptNumber === 0 && v.id === ${failAt}) throw new Error('injected failure'); return v; }` } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      {
        id: 'window',
        type: 'tumbling-window',
        config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'value', as: 'sum' }] } },
      },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
      ...(fileOutput ? [{ id: 'files', type: 'file-sink', config: { path: fileOutput, format: 'jsonl' as const, semantics: 'exactly-once' as const } }] : []),
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'maybe-fail' },
      { id: 'e2', source: 'maybe-fail', target: 'by-key' },
      { id: 'e3', source: 'by-key', target: 'window' },
      { id: 'e4', source: 'window', target: 'out' },
      ...(fileOutput ? [{ id: 'e5', source: 'window', target: 'files' }] : []),
    ],
  };
}

async function finish(job: Job): Promise<string[]> {
  // A hang says where it stands instead of only timing out.
  const status = await Promise.race([job.done, stuck(job, 25_000)]);
  await new Promise((r) => setTimeout(r, 150));
  if (status !== 'finished') throw new Error(`job ${status}: ${job.failure?.message ?? ''}`);
  return job.results('out').map((r) => JSON.stringify(r.value)).sort();
}

/** Rejects after `ms` with the job's state, its subtasks' metrics and what every slot is doing. */
function stuck(job: Job, ms: number): Promise<never> {
  return new Promise<never>((_, reject) => {
    setTimeout(() => {
      void taskManager.diagnose().then((slots) => {
        const metrics = [...job.metrics.values()].map((m) => ({
          task: m.taskId,
          subtask: m.subtaskIndex,
          ops: m.metrics.operators.map((o) => [o.nodeId, o.recordsIn, o.recordsOut, o.watermark]),
          input: m.metrics.inputWatermarks,
        }));
        const state = {
          status: job.status,
          restarts: job.restarts,
          progress: job.progress(),
          exceptions: job.exceptions.map((e) => e.failure.message),
          checkpoints: job.checkpoints().map((c) => `${c.id}:${c.status}:${c.failure ?? ''}`),
          metrics,
          slots,
        };
        reject(new Error(`job did not end: ${JSON.stringify(state)}`));
      });
    }, ms).unref();
  });
}

describe('exactly-once with checkpoints', () => {
  let expected: string[] = [];
  let expectedFiles: string[] = [];

  beforeAll(async () => {
    const output = freshOutput();
    expected = await finish(await jobs.submit(windowJob(-1, 2, 15_000, output)));
    expectedFiles = committedLines(output);
  });

  it('the failure-free run produces the complete result, in the collect sink and the file sink', () => {
    expect(expectedFiles).toEqual(expected);
    // 12,000 records, 7 ms apart in event time, in 1 s windows per key.
    expect(expected.length).toBeGreaterThan(23 * 80);
    const total = expected.reduce((n, row) => n + (JSON.parse(row) as { count: number }).count, 0);
    expect(total).toBe(COUNT);
  });

  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: the output after a failure equals the failure-free output', async (seed) => {
    const random = mulberry32(seed);
    const kill = random() < 0.5;
    const failAt = kill ? -1 : 1000 + Math.floor(random() * (COUNT - 2000));
    const alignment = (['aligned', 'unaligned', 'timeout'] as const)[seed % 3] ?? 'aligned';
    const output = freshOutput();
    const job = await jobs.submit(windowJob(failAt, 2, 15_000, output, alignment));
    if (kill) {
      const delay = 150 + Math.floor(random() * 450);
      const slot = Math.floor(random() * taskManager.slots);
      setTimeout(() => void taskManager.killSlot(slot), delay);
    }
    const rows = await finish(job);
    expect(job.restarts, `seed ${seed}: ${kill ? 'kill' : `throw at ${failAt}`}, ${alignment}`).toBeGreaterThanOrEqual(1);
    expect(rows).toEqual(expected);
    expect(committedLines(output)).toEqual(expectedFiles);
  });
});

describe('the end of a bounded job', () => {
  it('a sink subtask at its end commits only when the whole job has ended, so a later failure elsewhere replays instead of duplicating', async () => {
    // Two independent chains. Chain 1 runs to its end at once; chain 0 stalls on its first
    // record (attempt 0 only) and then fails, after chain 1's sink has finished its input.
    const graph: JobGraphDocument = {
      schemaVersion: 1,
      name: 'late failure',
      job: {
        defaultParallelism: 2,
        checkpointing: { enabled: true, intervalMs: 50 },
        restartStrategy: { type: 'fixed-delay', attempts: 3, delayMs: 10 },
      },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 4000, ratePerSecond: 0, keys: 7, eventIntervalMs: 1 } },
        {
          id: 'late-fail',
          type: 'map',
          config: {
            fn: `(v, ctx) => { if (ctx.attemptNumber === 0 && ctx.subtaskIndex === 0) { const until = Date.now() + 1500; while (Date.now() < until) {} throw new Error('late failure'); } return v; }`,
          },
        },
        { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 100_000 } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'late-fail' },
        { id: 'e2', source: 'late-fail', target: 'out' },
      ],
    };
    const job = await jobs.submit(graph);
    expect(await Promise.race([job.done, stuck(job, 25_000)])).toBe('finished');
    await new Promise((r) => setTimeout(r, 150));
    expect(job.restarts).toBe(1);
    const ids = job.results('out').map((r) => (r.value as { id: number }).id);
    expect(new Set(ids).size).toBe(4000);
    expect(ids.length).toBe(4000);
  });
});

describe('savepoints', () => {
  it('stop with a savepoint at parallelism 2, restore at parallelism 3: together the same output as a straight run', async () => {
    const straight = await finish(await jobs.submit(windowJob(-1, 2, 8000)));
    const first = await jobs.submit(windowJob(-1, 2, 8000));
    await new Promise((r) => setTimeout(r, 600));
    const savepoint = await first.stopWithSavepoint();
    expect(savepoint.savepoint).toBe(true);
    await first.done;
    await new Promise((r) => setTimeout(r, 150));
    const before = first.results('out').map((r) => JSON.stringify(r.value));
    const second = await jobs.submit(windowJob(-1, 3, 8000), { restoreFrom: savepoint.directory });
    expect(second.restorePlan?.entries.find((e) => e.nodeId === 'window')?.status).toBe('restored');
    const after = await finish(second);
    expect([...before, ...after].sort()).toEqual(straight);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
  });

  it('refuses to restore a savepoint into a graph whose state changed incompatibly, naming node and state', async () => {
    const job = await jobs.submit(windowJob(-1, 1, 4000));
    await new Promise((r) => setTimeout(r, 300));
    const savepoint = await job.stopWithSavepoint();
    const changed = windowJob(-1, 1, 4000);
    (changed.nodes[3]!.config as { function: unknown }).function = { kind: 'process', process: '(k, w, els, out) => out.collect(els.length)' };
    await expect(jobs.submit(changed, { restoreFrom: savepoint.directory })).rejects.toThrow(
      "the checkpoint does not fit the graph: state 'window-contents' of 'window' was aggregating state and is now list state",
    );
    const plan = await jobs.dryRunRestore(changed, savepoint.directory);
    expect(plan.entries.find((e) => e.nodeId === 'window')?.status).toBe('incompatible');
  });
});

/**
 * A sink slower than its source (about a millisecond per record): the exchange's channels and the
 * producers' output queues stay full, so a barrier that waited behind them would wait for
 * the sink. Unaligned barriers overtake them (FLIP-76).
 */
function throttledJob(unaligned: boolean, failAt = -1, fileOutput?: string, parallelism = 2, relay = false, count = THROTTLED_COUNT, alignmentTimeoutMs = 0): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'throttled sink',
    job: {
      defaultParallelism: parallelism,
      checkpointing: { enabled: true, intervalMs: 100, unaligned, alignmentTimeoutMs, retained: 100 },
      restartStrategy: { type: 'fixed-delay', attempts: 3, delayMs: 50 },
    },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: 0, keys: 23, eventIntervalMs: 7 } },
      // Large records: a channel's eight 32 KB buffers hold about a hundred of them, the rest queues at the producer.
      { id: 'pad', type: 'map', config: { fn: `(v) => ({ ...v, pad: 'x'.repeat(2000) })` } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      // A task between source and sink, itself held back by the sink.
      ...(relay
        ? [
            { id: 'relay', type: 'map', config: { fn: `(v) => v` } },
            { id: 'by-id', type: 'key-by', config: { key: { kind: 'field' as const, field: 'id' } } },
          ]
        : []),
      {
        id: 'slow',
        type: 'map',
        config: {
          fn: `(v, ctx) => { if (ctx.attemptNumber === 0 && v.id === ${failAt}) throw new Error('injected failure'); const until = Date.now() + 1; while (Date.now() < until) {} return { id: v.id, key: v.key, value: v.value }; }`,
        },
      },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
      ...(fileOutput ? [{ id: 'files', type: 'file-sink', config: { path: fileOutput, format: 'jsonl' as const, semantics: 'exactly-once' as const } }] : []),
    ],
    edges: [
      { id: 'e0', source: 'gen', target: 'pad' },
      { id: 'e1', source: 'pad', target: 'by-key' },
      ...(relay
        ? [
            { id: 'e2', source: 'by-key', target: 'relay' },
            { id: 'e2a', source: 'relay', target: 'by-id' },
            { id: 'e2b', source: 'by-id', target: 'slow' },
          ]
        : [{ id: 'e2', source: 'by-key', target: 'slow' }]),
      { id: 'e3', source: 'slow', target: 'out' },
      ...(fileOutput ? [{ id: 'e4', source: 'slow', target: 'files' }] : []),
    ],
  };
}

const THROTTLED_COUNT = 3000;

/** What a completed checkpoint holds of the records in flight between 'gen' and 'slow'. */
function inFlight(directory: string, consumer = 'slow', count = THROTTLED_COUNT): { emitted: Set<number>; overtakenOutput: number[]; channel: number[] } {
  const emitted = new Set<number>();
  const overtakenOutput: number[] = [];
  const channel: number[] = [];
  // Generator split i of 2 holds records i, i + 2, …; a split that is not in the checkpoint was read to its end (jobs started at parallelism 2).
  const position = new Map<number, number>();
  for (const file of readdirSync(directory).filter((f) => f.endsWith('.state'))) {
    const data = readSnapshotFile(join(directory, file));
    const gen = data.operators.find((o) => o.nodeId === 'gen');
    for (const split of (gen?.operatorState?.entries ?? []) as Array<{ split: number; next: number; of: number }>) position.set(split.split, split.next);
    for (const record of data.outputChannelState ?? []) if (record[0] === consumer) overtakenOutput.push((record[3] as { id: number }).id);
    if (data.operators[0]?.nodeId === consumer) for (const record of data.channelState ?? []) channel.push((record[1] as { id: number }).id);
  }
  for (const split of [0, 1]) {
    const next = position.get(split) ?? Number.POSITIVE_INFINITY;
    for (let k = 0; k < next && split + k * 2 < count; k++) emitted.add(split + k * 2);
  }
  return { emitted, overtakenOutput, channel };
}

/**
 * Checks every completed checkpoint's in-flight records (overtaken output and channel state
 * towards 'slow'): each was emitted before the source's barrier and is stored once. Returns
 * how many checkpoints hold overtaken output.
 */
function checkInFlight(completed: ReadonlyArray<{ id: number; directory: string }>, count = THROTTLED_COUNT): number {
  let overtaking = 0;
  for (const checkpoint of completed) {
    const { emitted, overtakenOutput, channel } = inFlight(checkpoint.directory, 'slow', count);
    for (const id of [...overtakenOutput, ...channel]) expect(emitted.has(id), `checkpoint ${checkpoint.id}: record ${id}`).toBe(true);
    expect(new Set([...overtakenOutput, ...channel]).size).toBe(overtakenOutput.length + channel.length);
    if (overtakenOutput.length > 0) overtaking++;
  }
  return overtaking;
}

describe('unaligned checkpoints under backpressure', () => {
  it('state files keep overtaken output apart from in-flight input, and files of format 3 (without it) still read', () => {
    const data = {
      jobId: 'j',
      checkpointId: 4,
      taskId: 0,
      subtaskIndex: 1,
      operators: [],
      channelState: [[0, { id: 1 }, 10, 0]] as const,
      outputChannelState: [['slow', 0, 1, { id: 2 }, 20, 0]] as const,
    };
    const bytes = encodeSnapshot(data);
    expect(bytes[4]).toBe(4);
    const read = decodeSnapshot(bytes, 'new.state');
    expect(read.channelState).toEqual([[0, { id: 1 }, 10, 0]]);
    expect(read.outputChannelState).toEqual([['slow', 0, 1, { id: 2 }, 20, 0]]);
    const older = encodeSnapshot({ ...data, outputChannelState: undefined });
    older[4] = 3;
    const old = decodeSnapshot(older, 'old.state');
    expect(old.channelState).toEqual([[0, { id: 1 }, 10, 0]]);
    expect(old.outputChannelState).toBeUndefined();
  });

  it('barriers overtake the output queued for a throttled sink: completed checkpoints hold those records instead of waiting for them', async () => {
    const job = await jobs.submit(throttledJob(true));
    await finish(job);
    // The newest 100 are kept on disk.
    const completed = job.checkpoints().filter((c) => c.status === 'completed' && existsSync(c.directory));
    expect(completed.length).toBeGreaterThan(0);
    // Overtaken records were all emitted before the source's barrier, and each is stored once.
    const overtaking = checkInFlight(completed);
    // Had a barrier waited behind the queued output, that output would not be in its checkpoint.
    expect(overtaking).toBeGreaterThan(0);
  });

  it('a backpressured subtask between source and sink lets the barrier overtake its own queued output as well', async () => {
    // Twice the records: the relay shares its worker with the busy sink and its output queue
    // fills later than the source's, so a short job completed too few checkpoints to see one overtake it.
    const count = THROTTLED_COUNT * 2;
    const job = await jobs.submit(throttledJob(true, -1, undefined, 2, true, count));
    await finish(job);
    const completed = job.checkpoints().filter((c) => c.status === 'completed' && existsSync(c.directory));
    expect(checkInFlight(completed, count)).toBeGreaterThan(0);
  });

  it('aligned barriers wait behind the queued output: their checkpoints hold no records in flight', async () => {
    const job = await jobs.submit(throttledJob(false));
    await finish(job);
    const completed = job.checkpoints().filter((c) => c.status === 'completed' && existsSync(c.directory));
    expect(completed.length).toBeGreaterThan(0);
    for (const checkpoint of completed) {
      const { overtakenOutput, channel } = inFlight(checkpoint.directory);
      expect([overtakenOutput.length, channel.length]).toEqual([0, 0]);
    }
  });

  it('after a failure, a restore from a checkpoint with overtaken output replays it: exactly the failure-free output', async () => {
    const cleanOutput = freshOutput();
    const clean = await finish(await jobs.submit(throttledJob(true, -1, cleanOutput)));
    expect(clean.length).toBe(THROTTLED_COUNT);
    const output = freshOutput();
    const job = await jobs.submit(throttledJob(true, Math.floor(THROTTLED_COUNT * 0.7), output));
    const rows = await finish(job);
    expect(job.restarts).toBeGreaterThanOrEqual(1);
    const failedAt = job.exceptions[0]?.at ?? Number.POSITIVE_INFINITY;
    const restored = job
      .checkpoints()
      .filter((c) => c.status === 'completed' && (c.completedAt ?? Number.POSITIVE_INFINITY) < failedAt)
      .sort((a, b) => b.id - a.id)[0];
    expect(restored, 'a checkpoint completed before the failure').toBeDefined();
    expect(inFlight(restored!.directory).overtakenOutput.length).toBeGreaterThan(0);
    expect(rows).toEqual(clean);
    expect(committedLines(output)).toEqual(committedLines(cleanOutput));
  });

  it("with an alignment timeout, barriers start aligned and overtake the output queued before them once it passed (Flink's aligned checkpoint timeout); a restore replays that output exactly once", async () => {
    const cleanOutput = freshOutput();
    const clean = await finish(await jobs.submit(throttledJob(true, -1, cleanOutput)));
    const output = freshOutput();
    const job = await jobs.submit(throttledJob(true, Math.floor(THROTTLED_COUNT * 0.7), output, 2, false, THROTTLED_COUNT, 20));
    const rows = await finish(job);
    expect(job.restarts).toBeGreaterThanOrEqual(1);
    const completed = job.checkpoints().filter((c) => c.status === 'completed' && existsSync(c.directory));
    // Output is overtaken only by a barrier converted at the timeout: it starts in line with the data.
    expect(checkInFlight(completed)).toBeGreaterThan(0);
    expect(rows).toEqual(clean);
    expect(committedLines(output)).toEqual(committedLines(cleanOutput));
  });

  it('a checkpoint with overtaken output restores at parallelism 3: the consumers that now own the keys get those records, exactly once', async () => {
    const cleanOutput = freshOutput();
    await finish(await jobs.submit(throttledJob(true, -1, cleanOutput)));
    const output = freshOutput();
    const first = await jobs.submit(throttledJob(true, -1, output));
    // Cancel right after a checkpoint that holds overtaken output completed (same tick: no later one completes first).
    const chosen = await new Promise<string>((resolve, reject) => {
      const poll = setInterval(() => {
        const latest = first.checkpoints().filter((c) => c.status === 'completed').sort((a, b) => b.id - a.id)[0];
        if (latest && inFlight(latest.directory).overtakenOutput.length > 0) {
          clearInterval(poll);
          first.cancel();
          resolve(latest.directory);
        } else if (first.status !== 'running') {
          clearInterval(poll);
          reject(new Error(`the job ended (${first.status}) before a checkpoint held overtaken output`));
        }
      }, 5);
    });
    await first.done;
    const second = await jobs.submit(throttledJob(true, -1, output, 3), { restoreFrom: chosen });
    await finish(second);
    expect(committedLines(output)).toEqual(committedLines(cleanOutput));
  });
});
