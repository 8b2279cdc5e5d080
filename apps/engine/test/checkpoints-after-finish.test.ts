/**
 * Checkpoints after parts of the graph finished (Flink's FLIP-147), on worker threads:
 * finished subtasks are recorded as finished, barriers start at the running subtasks
 * whose producers all ended, a sink waiting at its end commits with the next checkpoint,
 * and a restore does not run finished subtasks again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateGraph, type JobGraphDocument } from '@sluice/graph-model';
import { allocateBell, allocateChannel, ChannelWriter, compilePlan, InputGate, JobManager, MessageEncoder, StreamTask, TaskManager, type CheckpointMetadata, type GateListener, type Job, type TaskHost } from '@sluice/engine';
import { SILENT_LOGGER } from '@sluice/operators';
import { committedLines } from './file-output.js';

let taskManager: TaskManager;
let jobs: JobManager;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sluice-finished-'));
  taskManager = new TaskManager({ slots: 2 });
  jobs = new JobManager(taskManager, { dataDir: join(scratch, 'data') });
});
afterAll(async () => {
  await taskManager.shutdown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, job: Job, condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen: ${JSON.stringify({ status: job.status, progress: job.progress(), checkpoints: job.checkpoints().map((c) => `${c.id}:${c.status}:${c.failure ?? ''}`) })}`);
    if (job.status !== 'running') throw new Error(`${what} did not happen before the job ended (${job.status}: ${job.failure?.message ?? ''}; checkpoints ${job.checkpoints().map((c) => `${c.id}:${c.status}:${c.failure ?? ''}`).join(', ')})`);
    await sleep(20);
  }
}

async function finish(job: Job): Promise<string[]> {
  const status = await job.done;
  await sleep(150);
  if (status !== 'finished') throw new Error(`job ${status}: ${job.failure?.message ?? ''}`);
  return job.results('out').map((r) => JSON.stringify(r.value)).sort();
}

const completedAfter = (job: Job, at: number) => job.checkpoints().filter((c) => c.status === 'completed' && c.triggeredAt > at).length;

const LINES_B = 80_000;

/**
 * A file source over two files: file 0 (subtask 0) has 3 lines, file 1 (subtask 1)
 * LINES_B, read slowly, into the exactly-once file sink. With `failAt`, the first attempt
 * fails at that line of file 1.
 */
function unevenJob(name: string, failAt = -1): { graph: JobGraphDocument; output: string } {
  const input = join(scratch, name);
  mkdirSync(input, { recursive: true });
  writeFileSync(join(input, 'a.jsonl'), [0, 1, 2].map((id) => JSON.stringify({ id, file: 'a', timestamp: id })).join('\n') + '\n');
  writeFileSync(join(input, 'b.jsonl'), Array.from({ length: LINES_B }, (_, id) => JSON.stringify({ id, file: 'b', timestamp: id })).join('\n') + '\n');
  const output = join(scratch, `${name}-out`);
  const graph: JobGraphDocument = {
    schemaVersion: 1,
    name,
    job: {
      defaultParallelism: 2,
      checkpointing: { enabled: true, intervalMs: 100 },
      restartStrategy: failAt < 0 ? { type: 'none' } : { type: 'fixed-delay', attempts: 2, delayMs: 10 },
    },
    nodes: [
      { id: 'files', type: 'file-source', config: { path: input, format: 'jsonl' } },
      // Subtask 1 takes at least 50 µs a record: it runs for 4 s or more after subtask 0 finished,
      // and a poll of the source (1024 records) still returns to the task's mailbox within ~50 ms.
      {
        id: 'slow',
        type: 'map',
        config: {
          fn: `(v, ctx) => { if (v.file === 'b') { if (ctx.attemptNumber === 0 && v.id === ${failAt}) throw new Error('injected failure'); const t = performance.now() + 0.05; while (performance.now() < t) {} } return v; }`,
        },
      },
      { id: 'sink', type: 'file-sink', config: { path: output, format: 'jsonl', semantics: 'exactly-once' } },
    ],
    edges: [
      { id: 'e1', source: 'files', target: 'slow' },
      { id: 'e2', source: 'slow', target: 'sink' },
    ],
  };
  return { graph, output };
}

describe('checkpoints after parts of the graph finished', () => {
  it('a source whose subtasks finish at different times keeps completing checkpoints after the first finishes, and the exactly-once file sink commits the finished part meanwhile', async () => {
    const { graph, output } = unevenJob('uneven');
    const job = await jobs.submit(graph);
    await until('subtask 0 finishing', job, () => job.progress().finished.length > 0);
    const firstFinishedAt = Date.now();
    await until('two checkpoints completing after a subtask finished', job, () => completedAfter(job, firstFinishedAt) >= 2);
    // Subtask 0's sink committed with a checkpoint: its lines are visible while subtask 1 still runs.
    const whileRunning = committedLines(output);
    expect(job.status).toBe('running');
    expect(whileRunning.filter((l) => l.includes('"a"'))).toHaveLength(3);
    expect(await job.done).toBe('finished');
    const lines = committedLines(output);
    expect(lines).toHaveLength(LINES_B + 3);
    expect(new Set(lines).size).toBe(LINES_B + 3);
    // Only the checkpoint in progress when the last subtasks ended may fail (nothing is left to snapshot).
    const failed = job.checkpoints().filter((c) => c.status === 'failed' && c.failure !== 'the job reached its end' && c.failure !== 'the job finished');
    expect(failed.map((c) => c.failure)).toEqual([]);
  }, 60_000);

  it('after a failure, a restore from a checkpoint taken after a subtask finished does not run that subtask again, and the exactly-once file sink has every line once', async () => {
    const { graph, output } = unevenJob('uneven-failure', LINES_B - 10_000);
    const job = await jobs.submit(graph);
    await until('subtask 0 finishing', job, () => job.progress().finished.includes('0/0'));
    const finishedAt = Date.now();
    await until('a checkpoint completing after it finished', job, () => completedAfter(job, finishedAt) >= 1);
    expect(job.restarts).toBe(0);
    expect(await job.done).toBe('finished');
    expect(job.restarts).toBe(1);
    await sleep(150);
    // Attempt 1: the finished subtask read nothing (its file was not read again).
    expect(job.metrics.get('0/0')?.metrics.operators[0]?.recordsOut).toBe(0);
    expect((job.metrics.get('0/1')?.metrics.operators[0]?.recordsOut ?? 0) > 0).toBe(true);
    const lines = committedLines(output);
    expect(lines).toHaveLength(LINES_B + 3);
    expect(new Set(lines).size).toBe(LINES_B + 3);
  }, 60_000);
});

function windowJob(parallelism: number, rate: number): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'finished generator subtask',
    job: { defaultParallelism: parallelism, checkpointing: { enabled: true, intervalMs: 100 }, restartStrategy: { type: 'none' } },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 9000, ratePerSecond: rate, keys: 13, eventIntervalMs: 7 } },
      { id: 'tag', type: 'map', config: { fn: '(v) => v' } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'window', type: 'tumbling-window', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'value', as: 'sum' }] } } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'tag' },
      { id: 'e2', source: 'tag', target: 'by-key' },
      { id: 'e3', source: 'by-key', target: 'window' },
      { id: 'e4', source: 'window', target: 'out' },
    ],
  };
}

function metadataOf(directory: string): CheckpointMetadata {
  return JSON.parse(readFileSync(join(directory, '_metadata'), 'utf8')) as CheckpointMetadata;
}

describe('restoring with finished subtasks', () => {
  it('a restore at a higher parallelism where one generator subtask has no split completes checkpoints, and a restore from a savepoint taken after it finished gives the output of a straight run', async () => {
    const straight = await finish(await jobs.submit(windowJob(2, 3000)));

    const first = await jobs.submit(windowJob(2, 3000));
    await sleep(400);
    const s1 = await first.stopWithSavepoint();
    await first.done;
    await sleep(150);
    const part1 = first.results('out').map((r) => JSON.stringify(r.value));

    // Two splits over three subtasks: one generator subtask (task 0, the generator's chain) has nothing to read and finishes at once.
    const second = await jobs.submit(windowJob(3, 3000), { restoreFrom: s1.directory });
    const genFinished = () => second.progress().finished.filter((k) => k.startsWith('0/')).map((k) => Number(k.slice(2)));
    await until('the split-less generator subtask finishing', second, () => genFinished().length > 0);
    const splitless = genFinished();
    const finishedAt = Date.now();
    await until('a checkpoint completing after it finished', second, () => completedAfter(second, finishedAt) >= 1 && second.results('out').length > 0);
    const s2 = await second.stopWithSavepoint();
    await second.done;
    await sleep(150);
    const part2 = second.results('out').map((r) => JSON.stringify(r.value));
    const gen = metadataOf(s2.directory).nodes.find((n) => n.nodeId === 'gen');
    expect(gen?.finishedSubtasks).toEqual(splitless);
    expect(splitless).toHaveLength(1);

    // The finished subtask is not run again (no split re-read): together the same output.
    const third = await jobs.submit(windowJob(3, 3000), { restoreFrom: s2.directory });
    const part3 = await finish(third);
    expect(third.metrics.get(`0/${splitless[0] ?? -1}`)?.metrics.operators[0]?.recordsOut).toBe(0);
    expect([...part1, ...part2, ...part3].sort()).toEqual(straight);
    expect([part1.length, part2.length, part3.length].every((n) => n > 0), `parts ${part1.length} ${part2.length} ${part3.length}`).toBe(true);

    // Rescaled back to 2: the running subtasks' splits are spread again, the finished one's are gone with it.
    const rescaled = await finish(await jobs.submit(windowJob(2, 3000), { restoreFrom: s2.directory }));
    expect([...part1, ...part2, ...rescaled].sort()).toEqual(straight);
  }, 60_000);

  it('a source that had fully finished is not read again after a restore from a savepoint taken after it finished', async () => {
    const graph = (): JobGraphDocument => ({
      schemaVersion: 1,
      name: 'two sources',
      job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 100 }, restartStrategy: { type: 'none' } },
      nodes: [
        { id: 'small', type: 'generator', config: { profile: 'sequence', count: 50, ratePerSecond: 0 } },
        { id: 'tag-small', type: 'map', config: { fn: "(v) => ({ source: 'small', id: v.id })" } },
        { id: 'big', type: 'generator', config: { profile: 'sequence', count: 6000, ratePerSecond: 2000 } },
        { id: 'tag-big', type: 'map', config: { fn: "(v) => ({ source: 'big', id: v.id })" } },
        { id: 'both', type: 'union', config: {} },
        { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 100_000 } },
      ],
      edges: [
        { id: 'e1', source: 'small', target: 'tag-small' },
        { id: 'e2', source: 'big', target: 'tag-big' },
        { id: 'e3', source: 'tag-small', target: 'both' },
        { id: 'e4', source: 'tag-big', target: 'both' },
        { id: 'e5', source: 'both', target: 'out' },
      ],
    });
    const rows = (job: Job) => job.results('out').map((r) => r.value as { source: string; id: number });
    const first = await jobs.submit(graph());
    const small = first.plan.tasks.find((t) => t.operators[0]?.nodeId === 'small')?.id;
    await until('the small source finishing', first, () => [0, 1].every((i) => first.progress().finished.includes(`${small ?? -1}/${i}`)));
    const finishedAt = Date.now();
    await until('a checkpoint completing after it finished', first, () => completedAfter(first, finishedAt) >= 1);
    const savepoint = await first.stopWithSavepoint();
    await first.done;
    await sleep(150);
    expect(metadataOf(savepoint.directory).nodes.find((n) => n.nodeId === 'small')?.finishedSubtasks).toEqual([0, 1]);
    const before = rows(first);
    expect(before.filter((r) => r.source === 'small')).toHaveLength(50);

    // Without the finished record the small source would start again from nothing (it has no state) and emit its 50 again.
    const second = await jobs.submit(graph(), { restoreFrom: savepoint.directory });
    expect(await second.done).toBe('finished');
    await sleep(150);
    const after = rows(second);
    expect(after.filter((r) => r.source === 'small')).toEqual([]);
    const big = [...before, ...after].filter((r) => r.source === 'big').map((r) => r.id);
    expect(big).toHaveLength(6000);
    expect(new Set(big).size).toBe(6000);
  }, 60_000);
});

describe('input gate: a checkpoint triggered where every producer ended', () => {
  function setup() {
    const encoder = new MessageEncoder();
    const specs = [0, 1].map((i) => ({ exchange: 0, producerSubtask: i, input: 0, memory: allocateChannel(8, 1024), creditBell: allocateBell() }));
    const writers = specs.map((spec) => new ChannelWriter(spec.memory, new Int32Array(allocateBell())));
    const gate = new InputGate(specs, 1, 'exactly-once');
    const seen: string[] = [];
    const listener: GateListener = {
      handleRecord: (_input, _value, timestamp) => seen.push(`record ${timestamp}`),
      handleWatermark: () => {},
      handleIdle: () => {},
      reportInputWatermarks: () => {},
      handleBarrier: (barrier) => seen.push(`checkpoint ${barrier.id}`),
      abandonBarrier: (id) => seen.push(`abandoned ${id}`),
      startUnalignedCheckpoint: (barrier) => seen.push(`unaligned ${barrier.id}`),
      recordInFlight: () => {},
      completeUnalignedCheckpoint: (barrier) => seen.push(`unaligned complete ${barrier.id}`),
    };
    const barrier = (id: number) => ({ id, timestamp: 0, directory: '/x', savepoint: false });
    return {
      records: (channel: number, timestamps: number[]) => writers[channel]!.write(encoder.records(timestamps, null, timestamps.map((t) => ({ t })))),
      end: (channel: number) => writers[channel]!.write(encoder.endOfPartition()),
      barrier: (channel: number, id: number) => writers[channel]!.write(encoder.barrier(barrier(id))),
      trigger: (id: number) => gate.trigger(barrier(id), listener),
      read: () => {
        gate.read(10_000, listener);
        return seen.splice(0);
      },
    };
  }

  it('completes once every channel ended, after every record the producers sent', () => {
    const g = setup();
    g.records(0, [1, 2]);
    g.end(0);
    g.records(1, [3]);
    g.trigger(5);
    expect(g.read()).toEqual(['record 1', 'record 2', 'record 3']);
    g.end(1);
    expect(g.read()).toEqual(['checkpoint 5']);
  });

  it('completes at once when every channel has ended already', () => {
    const g = setup();
    g.end(0);
    g.end(1);
    expect(g.read()).toEqual([]);
    g.trigger(6);
    expect(g.read()).toEqual(['checkpoint 6']);
  });

  it('aligns once with a barrier that a channel still delivers, and leaves a checkpoint it aligns already alone', () => {
    const g = setup();
    g.barrier(0, 7);
    g.records(1, [4]);
    expect(g.read()).toEqual(['record 4']);
    g.trigger(7);
    g.end(1);
    expect(g.read()).toEqual(['checkpoint 7']);
  });
});

describe('a subtask that finishes right after a barrier', () => {
  // Finished before its acknowledgement arrived, the coordinator would record the subtask as
  // finished in that checkpoint and drop its state, so a restore would not read again what
  // it emitted after the barrier (a bounded Kafka source's last records were lost that way).
  it('reports its end only after the checkpoint it took part in is acknowledged', async () => {
    const result = validateGraph({
      schemaVersion: 1,
      name: 'short source',
      job: { defaultParallelism: 1, checkpointing: { enabled: true, intervalMs: 60_000 } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 200, ratePerSecond: 0, keys: 3 } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [{ id: 'e', source: 'gen', target: 'out' }],
    } satisfies JobGraphDocument);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const plan = compilePlan(result.graph, { jobId: 'j', code: {} });
    const events: string[] = [];
    const host: TaskHost = {
      collector: () => ({ push: () => {}, commit: () => {} }),
      print: () => {},
      processingTime: {
        now: () => Date.now(),
        schedule: (time, callback) => {
          const timer = setTimeout(() => callback(Date.now()), Math.max(0, time - Date.now()));
          return () => clearTimeout(timer);
        },
      },
      log: SILENT_LOGGER,
      // A slow disk: the snapshot is written long after the source reached its end.
      persist: async () => {
        await sleep(300);
      },
      acknowledgeCheckpoint: (ack) => events.push(`ack ${ack.checkpointId}`),
      declineCheckpoint: (id, reason) => events.push(`decline ${id}: ${reason}`),
      awaitingFinalCommit: () => events.push('awaiting final commit'),
    };
    const task = new StreamTask({ plan, attempt: 0, taskId: 0, subtaskIndex: 0, inputs: [], outputs: [], doorbell: allocateBell(), creditBell: allocateBell(), localStateDirectory: join(scratch, 'local') }, host);
    const run = task.run().then((outcome) => events.push(outcome));
    task.triggerCheckpoint({ id: 1, timestamp: Date.now(), directory: join(scratch, 'slow-disk', 'chk-1'), savepoint: false });
    await run;
    expect(events).toEqual(['ack 1', 'finished']);
  });
});
