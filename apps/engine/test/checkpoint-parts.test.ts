/** The checkpoint machinery in isolation: restart strategies, storage, the coordinator, restore plans. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { jobConfig, validateGraph, type JobGraphDocument, type ValidatedGraph } from '@sluice/graph-model';
import {
  CheckpointCoordinator,
  CheckpointStorage,
  RestartStrategy,
  SnapshotEncoder,
  compilePlan,
  decodeSnapshot,
  encodeSnapshot,
  planRestore,
  subtaskRestores,
  type CheckpointMetadata,
  type CoordinatorContext,
  type StoredCheckpoint,
  type SubtaskSnapshotData,
} from '@sluice/engine';

const dir = () => mkdtempSync(join(tmpdir(), 'sluice-chk-'));

describe('restart strategies', () => {
  const strategy = (config: object) => new RestartStrategy(jobConfig.parse({ restartStrategy: config }).restartStrategy, () => 0.5);

  it('none never restarts', () => {
    expect(strategy({ type: 'none' }).onFailure(0)).toMatchObject({ restart: false });
  });

  it('fixed delay restarts N times with its delay, then gives up', () => {
    const s = strategy({ type: 'fixed-delay', attempts: 2, delayMs: 50 });
    expect([s.onFailure(0), s.onFailure(1), s.onFailure(2)].map((d) => [d.restart, d.delayMs])).toEqual([
      [true, 50],
      [true, 50],
      [false, 0],
    ]);
  });

  it('failure rate allows N failures within the interval', () => {
    const s = strategy({ type: 'failure-rate', maxFailuresPerInterval: 2, intervalMs: 1000, delayMs: 10 });
    expect(s.onFailure(0).restart).toBe(true);
    expect(s.onFailure(100).restart).toBe(true);
    expect(s.onFailure(200).restart).toBe(false);
    expect(strategy({ type: 'failure-rate', maxFailuresPerInterval: 2, intervalMs: 1000, delayMs: 10 }).onFailure(0).restart).toBe(true);
    const spaced = strategy({ type: 'failure-rate', maxFailuresPerInterval: 1, intervalMs: 100, delayMs: 10 });
    expect([0, 500, 1000].map((t) => spaced.onFailure(t).restart)).toEqual([true, true, true]);
  });

  it('exponential delay grows by its multiplier up to the maximum, and resets after a quiet run', () => {
    const s = strategy({ type: 'exponential-delay', initialDelayMs: 100, maxDelayMs: 500, multiplier: 2, jitterFactor: 0, resetAfterMs: 10_000 });
    expect([0, 1, 2, 3, 4].map((t) => s.onFailure(t).delayMs)).toEqual([100, 200, 400, 500, 500]);
    expect(s.onFailure(20_000).delayMs).toBe(100);
  });

  it('exponential delay adds jitter within its factor', () => {
    const low = new RestartStrategy(jobConfig.parse({ restartStrategy: { type: 'exponential-delay', initialDelayMs: 1000, jitterFactor: 0.1 } }).restartStrategy, () => 0);
    const high = new RestartStrategy(jobConfig.parse({ restartStrategy: { type: 'exponential-delay', initialDelayMs: 1000, jitterFactor: 0.1 } }).restartStrategy, () => 0.999);
    expect(low.onFailure(0).delayMs).toBe(900);
    expect(high.onFailure(0).delayMs).toBe(1100);
  });
});

function writeCheckpoint(storage: CheckpointStorage, id: number, content = 'x'): Promise<void> {
  const directory = storage.directoryFor('job', id, false);
  mkdirSync(directory, { recursive: true });
  const bytes = encodeSnapshot({ jobId: 'job', checkpointId: id, taskId: 0, subtaskIndex: 0, operators: [{ nodeId: 'n', operatorState: { mode: 'split', entries: [content] }, keyedState: undefined }] });
  writeFileSync(join(directory, 'task-0-subtask-0.state'), bytes);
  const metadata: CheckpointMetadata = {
    formatVersion: 1,
    jobId: 'job',
    jobName: 'job',
    checkpointId: id,
    savepoint: false,
    triggeredAt: 0,
    completedAt: 1,
    maxParallelism: 128,
    nodes: [{ nodeId: 'n', type: 'generator', parallelism: 1, states: {}, hasOperatorState: true }],
    subtasks: [{ taskId: 0, subtaskIndex: 0, file: 'task-0-subtask-0.state', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), nodes: ['n'] }],
  };
  return storage.complete(directory, metadata);
}

describe('checkpoint storage', () => {
  it('knows a checkpoint only once its metadata exists, newest first', async () => {
    const storage = new CheckpointStorage(dir());
    await writeCheckpoint(storage, 1);
    await writeCheckpoint(storage, 2);
    mkdirSync(storage.directoryFor('job', 3, false), { recursive: true });
    expect((await storage.list('job')).map((c) => c.id)).toEqual([2, 1]);
  });

  it('falls back to the previous checkpoint when the newest is truncated or corrupted, and says why', async () => {
    const storage = new CheckpointStorage(dir());
    await writeCheckpoint(storage, 1);
    await writeCheckpoint(storage, 2);
    await writeCheckpoint(storage, 3);
    const file3 = join(storage.directoryFor('job', 3, false), 'task-0-subtask-0.state');
    writeFileSync(file3, readFileSync(file3).subarray(0, 10));
    const file2 = join(storage.directoryFor('job', 2, false), 'task-0-subtask-0.state');
    const corrupted = readFileSync(file2);
    corrupted.writeUInt8((corrupted.at(-1) ?? 0) ^ 0xff, corrupted.length - 1);
    writeFileSync(file2, corrupted);
    const skipped: string[] = [];
    const found = await storage.latestValid('job', (id, reason) => skipped.push(`${id}: ${reason}`));
    expect(found?.id).toBe(1);
    expect(skipped).toEqual([expect.stringMatching(/^3: .* has 10 bytes; the checkpoint recorded \d+ \(truncated\?\)$/), expect.stringMatching(/^2: .* does not match its recorded checksum \(corrupted\)$/)]);
  });

  it('refuses a directory without metadata and a metadata file that is not JSON', async () => {
    const storage = new CheckpointStorage(dir());
    const empty = storage.directoryFor('job', 9, false);
    mkdirSync(empty, { recursive: true });
    await expect(storage.load(empty)).rejects.toThrow(/has no _metadata/);
    writeFileSync(join(empty, '_metadata'), '{ nope');
    await expect(storage.load(empty)).rejects.toThrow(/damaged \(not valid JSON\)/);
  });

  it('keeps the newest N completed checkpoints', async () => {
    const storage = new CheckpointStorage(dir());
    for (const id of [1, 2, 3, 4]) await writeCheckpoint(storage, id);
    await storage.prune('job', 2, undefined);
    expect((await storage.list('job')).map((c) => c.id)).toEqual([4, 3]);
    expect(existsSync(storage.directoryFor('job', 1, false))).toBe(false);
  });
});

describe('checkpoint coordinator', () => {
  function harness(settings: Partial<CoordinatorContext['settings']> = {}) {
    let now = 0;
    const timers: Array<{ at: number; fn: () => void; active: boolean }> = [];
    const storage = new CheckpointStorage(dir());
    const triggered: number[] = [];
    const notified: Array<[number, string]> = [];
    const ctx: CoordinatorContext = {
      jobId: 'job',
      jobName: 'job',
      maxParallelism: 128,
      storage,
      settings: { intervalMs: 100, timeoutMs: 1000, minPauseMs: 0, retained: 1, ...settings },
      subtasks: () => [
        { taskId: 0, subtaskIndex: 0 },
        { taskId: 1, subtaskIndex: 0 },
      ],
      sources: () => [{ taskId: 0, subtaskIndex: 0 }],
      finished: () => [],
      nodes: () => [{ nodeId: 'n', type: 'map', parallelism: 1, taskId: 0 }],
      trigger: (barrier) => triggered.push(barrier.id),
      notify: (id, outcome) => notified.push([id, outcome]),
      now: () => now,
      setTimer: (fn, ms) => {
        const timer = { at: now + ms, fn, active: true };
        timers.push(timer);
        return () => (timer.active = false);
      },
      log: () => {},
    };
    const advance = (ms: number) => {
      const until = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.active && t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        next.active = false;
        now = next.at;
        next.fn();
      }
      now = until;
    };
    const ack = async (c: CheckpointCoordinator, id: number, taskId: number) => {
      const directory = storage.directoryFor('job', id, false);
      mkdirSync(directory, { recursive: true });
      const file = join(directory, `task-${taskId}-subtask-0.state`);
      writeFileSync(file, 'state');
      c.acknowledge({ taskId, subtaskIndex: 0 }, { checkpointId: id, nodes: [], file, bytes: 5, sha256: 'x', alignmentMs: 1, syncMs: 2, asyncMs: 3 });
      // The last acknowledgement starts an asynchronous metadata write: wait for its outcome.
      const stats = c.history.find((h) => h.id === id);
      if (stats && stats.subtasks.length === stats.expected) {
        for (let i = 0; i < 500 && stats.status === 'in-progress'; i++) await new Promise((r) => setTimeout(r, 5));
      }
    };
    return { ctx, advance, triggered, notified, ack, storage };
  }

  it('triggers at the interval, one at a time, and completes when every subtask acknowledged', async () => {
    const h = harness();
    const c = new CheckpointCoordinator(h.ctx);
    c.start();
    h.advance(100);
    expect(h.triggered).toEqual([1]);
    h.advance(300);
    expect(h.triggered).toEqual([1]);
    await h.ack(c, 1, 0);
    expect(c.history[0]?.status).toBe('in-progress');
    await h.ack(c, 1, 1);
    expect(c.history[0]).toMatchObject({ status: 'completed', bytes: 10, expected: 2 });
    expect(h.notified).toEqual([[1, 'complete']]);
    expect(existsSync(join(h.storage.directoryFor('job', 1, false), '_metadata'))).toBe(true);
    h.advance(0);
    expect(h.triggered).toEqual([1, 2]);
    c.stop('test over');
  });

  it('waits the minimum pause after a checkpoint before the next one', async () => {
    const h = harness({ intervalMs: 10, minPauseMs: 500 });
    const c = new CheckpointCoordinator(h.ctx);
    c.start();
    h.advance(10);
    await h.ack(c, 1, 0);
    await h.ack(c, 1, 1);
    h.advance(400);
    expect(h.triggered).toEqual([1]);
    h.advance(100);
    expect(h.triggered).toEqual([1, 2]);
    c.stop('test over');
  });

  it('aborts a checkpoint on timeout or decline, discards its files and goes on', () => {
    const h = harness({ timeoutMs: 50 });
    const c = new CheckpointCoordinator(h.ctx);
    c.start();
    h.advance(100);
    h.advance(50);
    expect(c.history[0]).toMatchObject({ id: 1, status: 'failed', failure: 'it did not complete within 50 ms' });
    // The next starts an interval after the previous started (t=200), before its own timeout.
    h.advance(60);
    c.decline({ taskId: 1, subtaskIndex: 0 }, 2, 'disk full');
    expect(c.history[1]).toMatchObject({ id: 2, status: 'failed', failure: 'subtask 1 of task 1 declined it: disk full' });
    expect(h.notified).toEqual([
      [1, 'aborted'],
      [2, 'aborted'],
    ]);
    c.stop('test over');
  });

  it('a subtask that finishes while a checkpoint waits for it is finished in that checkpoint, and its late decline does not abort it', async () => {
    const h = harness();
    h.ctx.nodes = () => [
      { nodeId: 'src', type: 'generator', parallelism: 1, taskId: 0 },
      { nodeId: 'n', type: 'map', parallelism: 1, taskId: 1 },
    ];
    const c = new CheckpointCoordinator(h.ctx);
    const done = c.trigger();
    c.subtaskFinished({ taskId: 1, subtaskIndex: 0 });
    // The trigger reached the worker after the subtask ended there.
    c.decline({ taskId: 1, subtaskIndex: 0 }, 1, 'the source subtask is no longer running');
    expect(c.history[0]).toMatchObject({ status: 'in-progress', expected: 1 });
    await h.ack(c, 1, 0);
    expect(await done).toMatchObject({ id: 1, status: 'completed' });
    const metadata = JSON.parse(readFileSync(join(h.storage.directoryFor('job', 1, false), '_metadata'), 'utf8')) as CheckpointMetadata;
    expect(metadata.nodes.map((n) => [n.nodeId, n.finishedSubtasks])).toEqual([
      ['src', undefined],
      ['n', [0]],
    ]);
    expect(metadata.subtasks.map((s) => s.taskId)).toEqual([0]);
    c.stop('test over');
  });

  it('records subtasks finished before the trigger as finished, and fails a checkpoint when every subtask has finished', async () => {
    const h = harness();
    let finished = [{ taskId: 1, subtaskIndex: 0 }];
    h.ctx.subtasks = () => [{ taskId: 0, subtaskIndex: 0 }, { taskId: 1, subtaskIndex: 0 }].filter((s) => !finished.some((f) => f.taskId === s.taskId));
    h.ctx.finished = () => finished;
    h.ctx.nodes = () => [{ nodeId: 'n', type: 'map', parallelism: 1, taskId: 1 }];
    const c = new CheckpointCoordinator(h.ctx);
    const first = c.trigger();
    expect(c.history[0]?.expected).toBe(1);
    await h.ack(c, 1, 0);
    await first;
    const metadata = JSON.parse(readFileSync(join(h.storage.directoryFor('job', 1, false), '_metadata'), 'utf8')) as CheckpointMetadata;
    expect(metadata.nodes[0]?.finishedSubtasks).toEqual([0]);
    finished = [{ taskId: 0, subtaskIndex: 0 }, { taskId: 1, subtaskIndex: 0 }];
    await expect(c.trigger()).rejects.toThrow('checkpoint 2 failed: every subtask has finished');
    c.stop('test over');
  });

  it('a savepoint asked for while a checkpoint is in progress is not refused: it starts when that checkpoint ends, before the next periodic one', async () => {
    const h = harness({ intervalMs: 100, minPauseMs: 0 });
    const c = new CheckpointCoordinator(h.ctx);
    c.start();
    h.advance(100);
    expect(h.triggered).toEqual([1]);
    // Where the slots would write the savepoints' state.
    for (const id of [2, 3]) mkdirSync(h.storage.directoryFor('job', id, true), { recursive: true });
    const savepoint = c.trigger({ savepoint: true });
    // A second savepoint meanwhile: each waits its turn.
    const second = c.trigger({ savepoint: true });
    expect(c.history.map((s) => s.id)).toEqual([1]);
    await h.ack(c, 1, 0);
    await h.ack(c, 1, 1);
    await new Promise((r) => setTimeout(r, 0));
    expect(h.triggered).toEqual([1, 2]);
    expect(c.history[1]).toMatchObject({ id: 2, savepoint: true, status: 'in-progress' });
    // The periodic checkpoint due meanwhile does not start before the waiting savepoint.
    h.advance(100);
    expect(h.triggered).toEqual([1, 2]);
    await h.ack(c, 2, 0);
    await h.ack(c, 2, 1);
    expect(await savepoint).toMatchObject({ id: 2, savepoint: true, status: 'completed' });
    await new Promise((r) => setTimeout(r, 0));
    expect(h.triggered).toEqual([1, 2, 3]);
    await h.ack(c, 3, 0);
    await h.ack(c, 3, 1);
    expect(await second).toMatchObject({ id: 3, savepoint: true, status: 'completed' });
    h.advance(100);
    expect(h.triggered).toEqual([1, 2, 3, 4]);
    expect(c.history[3]?.savepoint).toBe(false);
    c.stop('test over');
  });

  it('a savepoint waiting for a checkpoint fails, naming why, when the job stops meanwhile', async () => {
    const h = harness();
    const c = new CheckpointCoordinator(h.ctx);
    c.start();
    const first = c.trigger();
    const savepoint = c.trigger({ savepoint: true });
    c.stop('the job is restarting');
    await expect(first).rejects.toThrow(/failed: the job is restarting/);
    await expect(savepoint).rejects.toThrow('the job stopped before the savepoint could start');
    expect(c.history).toHaveLength(1);
  });

  it('refuses a second checkpoint while one is in progress', async () => {
    const h = harness();
    const c = new CheckpointCoordinator(h.ctx);
    const first = c.trigger();
    await expect(c.trigger()).rejects.toThrow(/checkpoint 1 is still in progress/);
    c.stop('test over');
    await expect(first).rejects.toThrow(/failed: test over/);
  });
});

describe('restore plans', () => {
  function graph(edit: (g: JobGraphDocument) => void = () => {}): ValidatedGraph {
    const g: JobGraphDocument = {
      schemaVersion: 1,
      name: 'g',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence' } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'proc', type: 'keyed-process', config: { fn: '({ processElement(v, ctx) {} })', states: [{ kind: 'value', name: 'seen' }] } },
        { id: 'out', type: 'collect-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'k' },
        { id: 'e2', source: 'k', target: 'proc' },
        { id: 'e3', source: 'proc', target: 'out' },
      ],
    };
    edit(g);
    const r = validateGraph(g);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.graph;
  }
  const stored: StoredCheckpoint = {
    id: 7,
    directory: '/nowhere',
    metadata: {
      formatVersion: 1,
      jobId: 'j',
      jobName: 'g',
      checkpointId: 7,
      savepoint: true,
      triggeredAt: 0,
      completedAt: 0,
      maxParallelism: 128,
      nodes: [
        { nodeId: 'gen', type: 'generator', parallelism: 1, states: {}, hasOperatorState: true },
        { nodeId: 'proc', type: 'keyed-process', parallelism: 1, states: { seen: { kind: 'value' } }, hasOperatorState: false },
        { nodeId: 'out', type: 'collect-sink', parallelism: 1, states: {}, hasOperatorState: false },
        { nodeId: 'gone', type: 'keyed-process', parallelism: 1, states: { x: { kind: 'list' } }, hasOperatorState: false },
      ],
      subtasks: [],
    },
  };

  it('deploys the subtasks of fully finished nodes as finished, and refuses a chain of finished and unfinished nodes, naming them', () => {
    const finished = (nodes: Record<string, readonly number[]>): StoredCheckpoint => ({
      ...stored,
      metadata: { ...stored.metadata, nodes: stored.metadata.nodes.map((n) => (nodes[n.nodeId] ? { ...n, finishedSubtasks: nodes[n.nodeId] } : n)), subtasks: [] },
    });
    const plan = compilePlan(graph(), { jobId: 'j', code: {} });
    const genTask = plan.tasks.findIndex((t) => t.operators[0]?.nodeId === 'gen');
    const procTask = plan.tasks.findIndex((t) => t.operators[0]?.nodeId === 'proc');
    expect(plan.tasks[procTask]?.operators.map((o) => o.nodeId)).toEqual(['proc', 'out']);
    const restoreFor = subtaskRestores(finished({ gen: [0] }), plan);
    expect(restoreFor(genTask, 0)).toEqual({ checkpointId: 7, operators: {}, finished: true });
    expect(restoreFor(procTask, 0).finished).toBeUndefined();
    expect(() => subtaskRestores(finished({ gen: [0], proc: [0] }), plan)(procTask, 0)).toThrow(
      "cannot restore checkpoint 7: subtask 1 of task 'proc → out' chains 'proc', which had finished, with 'out', which had not; keep finished nodes in chains of their own",
    );
  });

  it('matches state by node id: restored, new, and dropped (an error unless allowed)', () => {
    const plan = planRestore(stored, graph(), false);
    expect(plan.entries.map((e) => [e.nodeId, e.status])).toEqual([
      ['gen', 'restored'],
      ['proc', 'restored'],
      ['out', 'new'],
      ['gone', 'dropped'],
    ]);
    expect(plan.problems).toEqual(["the checkpoint has state for 'gone' (keyed-process), which the graph no longer has; set allowNonRestoredState to drop it"]);
    expect(planRestore(stored, graph(), true).problems).toEqual([]);
  });

  it('refuses a node whose type or state kind changed, naming the node and the state', () => {
    const changedKind = planRestore(stored, graph((g) => ((g.nodes[2]!.config as { states: unknown[] }).states = [{ kind: 'list', name: 'seen' }])), true);
    expect(changedKind.problems).toEqual(["state 'seen' of 'proc' was value state and is now list state"]);
    const changedType = planRestore(
      stored,
      graph((g) => {
        g.nodes[0]!.type = 'file-source';
        g.nodes[0]!.config = { path: 'x', format: 'jsonl' };
      }),
      true,
    );
    expect(changedType.problems).toEqual(["'gen' was a generator and is now a file-source; its state cannot carry over"]);
  });

  it('refuses keyed state when the number of key groups changed', () => {
    const plan = planRestore(stored, graph((g) => (g.job = { maxParallelism: 64 })), true);
    expect(plan.problems).toEqual(["'proc' has keyed state in 128 key groups, but the job now has maxParallelism 64"]);
  });
});

describe('state files encoded in steps', () => {
  function data(groups: number, withChannelState: boolean): SubtaskSnapshotData {
    return {
      jobId: 'job',
      checkpointId: 7,
      taskId: 1,
      subtaskIndex: 0,
      operators: [
        { nodeId: 'src', operatorState: { mode: 'split', entries: [{ split: 0, next: 5 }] }, keyedState: undefined },
        {
          nodeId: 'w',
          operatorState: undefined,
          keyedState: {
            maxParallelism: 128,
            descriptors: { count: { kind: 'value' }, seen: { kind: 'map', ttlMs: 10 } },
            keyGroups: Array.from({ length: groups }, (_, g) => ({
              keyGroup: g,
              states: { count: [['', [[`k${g}`, { n: g, big: 2 ** 40, text: 'é'.repeat(g) }]]]] },
              timers: [{ domain: 'event', timestamp: g * 1000, key: `k${g}`, namespace: 5 }],
            })),
          },
        },
      ],
      ...(withChannelState ? { channelState: [[0, { v: 1 }, 12, 0]] } : {}),
    };
  }

  it('stores a key group\'s timers grouped by (domain, timestamp, namespace), and they decode to the same timers', () => {
    const timers = ['a', 'b', 'c', 'd'].flatMap((key, i) => [
      { domain: 'event' as const, timestamp: 59_999, key, namespace: 0 },
      { domain: 'event' as const, timestamp: 119_999, key, namespace: 60_000 },
      { domain: 'processing' as const, timestamp: 1000 + (i % 2), key, namespace: '' },
    ]);
    const snapshot: SubtaskSnapshotData = {
      jobId: 'job',
      checkpointId: 1,
      taskId: 0,
      subtaskIndex: 0,
      operators: [{ nodeId: 'w', operatorState: undefined, keyedState: { maxParallelism: 128, descriptors: {}, keyGroups: [{ keyGroup: 5, states: {}, timers }] } }],
    };
    const bytes = encodeSnapshot(snapshot);
    const raw = unpack(bytes.subarray(5)) as { operators: Array<{ keyedState: { keyGroups: Array<{ timerRows: unknown[] }> } }> };
    expect(raw.operators[0]?.keyedState.keyGroups[0]?.timerRows).toEqual([
      [0, 59_999, 0, ['a', 'b', 'c', 'd']],
      [0, 119_999, 60_000, ['a', 'b', 'c', 'd']],
      [1, 1000, '', ['a', 'c']],
      [1, 1001, '', ['b', 'd']],
    ]);
    const decoded = decodeSnapshot(bytes, 'grouped').operators[0]?.keyedState?.keyGroups[0]?.timers ?? [];
    const order = (t: { domain: string; timestamp: number; key: unknown }) => `${t.domain}/${t.timestamp}/${String(t.key)}`;
    expect([...decoded].sort((x, y) => order(x).localeCompare(order(y)))).toEqual([...timers].sort((x, y) => order(x).localeCompare(order(y))));
  });

  it('reads state files of format 1, which stored one object per timer', () => {
    const snapshot = data(3, true);
    const v1 = Buffer.concat([Buffer.from('SLST'), Buffer.of(1), Buffer.from(new Packr({ useRecords: false, moreTypes: false }).pack(snapshot))]);
    expect(decodeSnapshot(v1, 'format 1')).toEqual(snapshot);
    const future = Buffer.concat([Buffer.from('SLST'), Buffer.of(9), Buffer.from(new Packr({ useRecords: false, moreTypes: false }).pack(snapshot))]);
    expect(() => decodeSnapshot(future, 'future.state')).toThrow('future.state has state format 9; this Sluice reads formats 1, 2');
  });

  for (const groups of [0, 3, 20, 128]) {
    it(`decodes to what encodeSnapshot writes, whole or in steps (${groups} key groups)`, () => {
      for (const channel of [false, true]) {
        const snapshot = data(groups, channel);
        const encoder = new SnapshotEncoder(snapshot);
        let steps = 0;
        while (!encoder.step(0)) steps++;
        const { bytes, sha256 } = encoder.finish();
        expect(decodeSnapshot(bytes, 'stepped')).toEqual(decodeSnapshot(encodeSnapshot(snapshot), 'whole'));
        expect(sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
        if (groups > 3) expect(steps).toBeGreaterThan(groups);
      }
    });
  }
});
