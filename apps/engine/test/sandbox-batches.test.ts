/**
 * Sandboxed keyed-process functions run over batches of records with their keys' value
 * states handed over per batch (process-batcher.ts). What a function sees and does must
 * not change: each case runs sandboxed and trusted, and both must give the same results,
 * or fail with the same message naming the same key and record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager, type Job } from '@sluice/engine';
import type { ProcessBatch, ProcessProgram, ProcessProgramHost } from '@sluice/operators';
import type { TaskSandbox } from '../src/runtime/sandbox.js';

let sandboxedTm: TaskManager;
let sandboxed: JobManager;
let trustedTm: TaskManager;
let trusted: JobManager;

beforeAll(() => {
  sandboxedTm = new TaskManager({ slots: 2, userCode: { mode: 'sandboxed' } });
  sandboxed = new JobManager(sandboxedTm);
  trustedTm = new TaskManager({ slots: 2, userCode: { mode: 'trusted' } });
  trusted = new JobManager(trustedTm);
});
afterAll(async () => {
  await sandboxedTm.shutdown();
  await trustedTm.shutdown();
});

interface ProcessOptions {
  readonly states?: unknown[];
  readonly sideOutputs?: string[];
  readonly count?: number;
  readonly keys?: number;
  readonly parallelism?: number;
}

function processJob(fn: string, options: ProcessOptions = {}): JobGraphDocument {
  const sideOutputs = options.sideOutputs ?? [];
  return {
    schemaVersion: 1,
    name: 'process batch job',
    job: { defaultParallelism: options.parallelism ?? 1 },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: options.count ?? 3000, ratePerSecond: 0, keys: options.keys ?? 10 } },
      { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'fn', type: 'keyed-process', config: { fn, states: options.states ?? [{ kind: 'value', name: 'count' }], sideOutputs } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
      ...sideOutputs.map((tag) => ({ id: `side-${tag}`, type: 'collect-sink', config: { name: tag, maxRecords: 1_000_000 } })),
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'k' },
      { id: 'e2', source: 'k', target: 'fn' },
      { id: 'e3', source: 'fn', target: 'out' },
      ...sideOutputs.map((tag) => ({ id: `e-${tag}`, source: 'fn', sourceOutput: tag, target: `side-${tag}` })),
    ],
  };
}

async function bothWays(graph: JobGraphDocument): Promise<[Job, Job]> {
  const jobs = await Promise.all([sandboxed.submit(graph), trusted.submit(graph)]);
  await Promise.all(jobs.map((j) => j.done));
  await new Promise((r) => setTimeout(r, 150));
  return jobs;
}

/** Rows with their timestamps, sorted: the order across keys and subtasks is not fixed. */
const rows = (job: Job, sink = 'out') => job.results(sink).map((r) => JSON.stringify([r.value, r.timestamp])).sort();
const withoutJobId = (message: string | undefined, job: Job) => message?.replaceAll(job.id, '<job>');

/**
 * A batch for a program run directly: one entry per key number in ids, keyed by that
 * number's key; its columns longer than the batch, as the batcher's are. held: the places
 * of the keys sent as held.
 */
function directBatch(dictionary: { generation: number; keys: string[] }, ids: number[], values: unknown[], prefetched: unknown[][] = [], held: number[] = []): ProcessBatch {
  return {
    size: ids.length,
    kinds: new Uint8Array(8),
    values,
    timestamps: new Float64Array(8),
    keyIndex: Int32Array.from({ length: 8 }, (_, i) => i),
    keys: ids.map((id) => dictionary.keys[id]),
    keyIds: ids,
    dictionary,
    prefetched,
    held: Uint8Array.from({ length: 8 }, (_, i) => (held.includes(i) ? 1 : 0)),
    watermark: 0,
    processingTime: 0,
  };
}

/**
 * A keyed-process program (code binds f) loaded straight into a sandbox of its own, with
 * `states` as prefetched value states, and opened. The caller disposes the sandbox.
 */
async function directProgram(job: string, code: string, states: string[]): Promise<{ sandbox: TaskSandbox; program: ProcessProgram; host: ProcessProgramHost }> {
  const { TaskSandbox } = await import('../src/runtime/sandbox.js');
  const sandbox = new TaskSandbox({ mode: 'sandboxed' }, job, 0, `${job} test`);
  try {
    const context = { timestamp: 0, key: undefined, state() {}, collect() {}, output() {}, timerService: { currentWatermark: () => 0 } };
    const spec = { type: 'keyed-process', states: states.map((name) => ({ name, kind: 'value', prefetch: true })), sideOutputs: [], holdable: true };
    const program = sandbox.loadProcess(code, 'f', spec, context, 'p');
    const host = { stateCall: () => undefined };
    program.open(host);
    return { sandbox, program, host };
  } catch (error) {
    sandbox.dispose();
    throw error;
  }
}

describe('a sandboxed keyed-process function over batches gives what the trusted one gives', () => {
  it('value state kept across records of a key, cleared and read back, in open() handles and ctx.state handles', async () => {
    const [s, t] = await bothWays(
      processJob(
        `({
          open(ctx) { this.count = ctx.state('count'); },
          processElement(v, ctx) {
            const n = (this.count.value() ?? 0) + 1;
            if (n % 7 === 0) this.count.clear(); else this.count.update(n);
            ctx.state('last').update({ id: v.id, n });
            if (v.id % 5 === 0) ctx.collect({ key: ctx.key, n, count: ctx.state('count').value(), last: ctx.state('last').value(), t: ctx.timestamp });
          },
        })`,
        { states: [{ kind: 'value', name: 'count' }, { kind: 'value', name: 'last' }], parallelism: 2 },
      ),
    );
    expect(s.failure).toBeUndefined();
    expect(t.failure).toBeUndefined();
    expect(rows(s).length).toBe(600);
    expect(rows(s)).toEqual(rows(t));
  });

  it('number keys, and state values of every type (numbers, short and long strings, booleans, objects, cleared) as they change between batches', async () => {
    const graph = processJob(
      `({
        processElement(v, ctx) {
          const s = ctx.state('mixed');
          const before = s.value();
          const phase = Math.floor(v.id / 700);
          if (v.id % 11 === 0) s.clear();
          // Short strings, numbers and booleans are kept in the sandbox across batches; long strings and objects are not.
          else s.update(phase === 0 ? v.id : phase === 1 ? 'text ' + v.id : phase === 2 ? v.id % 2 === 0 : phase === 3 ? 'long '.repeat(20) + v.id : { id: v.id, nested: [phase] });
          if (v.id % 3 === 0) ctx.collect({ key: ctx.key, keyType: typeof ctx.key, before: before === undefined ? 'none' : before, after: s.value() ?? 'none' });
        },
      })`,
      { states: [{ kind: 'value', name: 'mixed' }], count: 3500 },
    );
    // Key by a number: a map makes the key field.
    graph.nodes.splice(1, 1, { id: 'num', type: 'map', config: { fn: '(v) => ({ id: v.id, k: v.id % 13 })' } }, { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'k' } } });
    graph.edges.splice(0, 1, { id: 'e0', source: 'gen', target: 'num' }, { id: 'e1', source: 'num', target: 'k' });
    const [s, t] = await bothWays(graph);
    expect(s.failure).toBeUndefined();
    expect(t.failure).toBeUndefined();
    expect(rows(s).length).toBe(1167);
    expect(rows(s)).toEqual(rows(t));
    expect(rows(s).some((r) => r.includes('"keyType":"number"'))).toBe(true);
  });

  it('side outputs, event-time timers registered and deleted, onTimer state, the current watermark', async () => {
    const [s, t] = await bothWays(
      processJob(
        `({
          processElement(v, ctx) {
            const c = ctx.state('count');
            c.update((c.value() ?? 0) + 1);
            // Where watermarks fall between records depends on timing: compare only that one is there.
            if (v.id % 10 === 0) ctx.output('tens', { id: v.id, key: ctx.key, wm: ctx.timerService.currentWatermark() < ctx.timestamp });
            ctx.timerService.registerEventTimeTimer(ctx.timestamp + 500);
            if (v.id % 3 === 0) ctx.timerService.deleteEventTimeTimer(ctx.timestamp + 500);
          },
          onTimer(t, ctx) {
            const c = ctx.state('count');
            ctx.collect({ timer: t, key: ctx.key, n: c.value(), domain: ctx.timeDomain, at: ctx.timestamp });
            if (t % 3 === 0) c.clear();
            if (t % 2 === 0) ctx.output('tens', { fromTimer: t });
          },
        })`,
        { sideOutputs: ['tens'] },
      ),
    );
    expect(s.failure).toBeUndefined();
    expect(rows(s).length).toBeGreaterThan(100);
    expect(rows(s)).toEqual(rows(t));
    expect(rows(s, 'tens').length).toBeGreaterThan(300);
    expect(rows(s, 'tens')).toEqual(rows(t, 'tens'));
  });

  it('outputs, tags and timers stay right while a chained sandboxed map runs on the outputs as they are emitted', async () => {
    // The batch result's numbers come back through the shared area, which the map's calls
    // reuse while the outputs are still being emitted one by one.
    const graph = processJob(
      `({
        processElement(v, ctx) {
          const c = ctx.state('count');
          c.update((c.value() ?? 0) + 1);
          ctx.collect({ id: v.id, key: ctx.key, n: c.value(), at: ctx.timestamp });
          ctx.collect({ id: -v.id, key: ctx.key, n: 0, at: ctx.timestamp });
          if (v.id % 7 === 0) ctx.output('sevens', { id: v.id, at: ctx.timestamp });
          if (v.id % 5 === 0) ctx.timerService.registerEventTimeTimer(ctx.timestamp + 1);
        },
        // What a timer sees of the state depends on where watermarks fell: it emits only its time.
        onTimer(t, ctx) { ctx.collect({ id: 0.5, key: ctx.key, n: -1, at: t }); },
      })`,
      { sideOutputs: ['sevens'], count: 6000 },
    );
    const nodes = graph.nodes.map((n) => n);
    nodes.push({ id: 'm', type: 'map', config: { fn: '(r, ctx) => ({ ...r, seen: ctx.timestamp })' } });
    const edges = graph.edges.map((e) => (e.id === 'e3' ? { ...e, target: 'm' } : e));
    edges.push({ id: 'e4', source: 'm', target: 'out' });
    const [s, t] = await bothWays({ ...graph, nodes, edges });
    expect(s.failure).toBeUndefined();
    expect(rows(s).length).toBe(2 * 6000 + 1200);
    expect(rows(s)).toEqual(rows(t));
    expect(rows(s, 'sevens').length).toBe(858);
    expect(rows(s, 'sevens')).toEqual(rows(t, 'sevens'));
  });

  it('list, map, aggregating state and a value state whose TTL is refreshed on read (reached per call)', async () => {
    const [s, t] = await bothWays(
      processJob(
        `({
          processElement(v, ctx) {
            ctx.state('seen').add(v.id % 13);
            ctx.state('byMod').put(v.value % 4, v.id);
            ctx.state('avg').add(v.value);
            const ttl = ctx.state('touched');
            ttl.update((ttl.value() ?? 0) + 1);
            if (v.id % 50 === 49) {
              ctx.collect({ key: ctx.key, seen: ctx.state('seen').get().length, entries: ctx.state('byMod').entries(), avg: ctx.state('avg').get(), touched: ttl.value() });
              ctx.state('seen').clear();
            }
          },
        })`,
        {
          states: [
            { kind: 'list', name: 'seen' },
            { kind: 'map', name: 'byMod' },
            { kind: 'aggregating', name: 'avg', aggregate: '({ createAccumulator: () => [0, 0], add: (v, a) => [a[0] + v, a[1] + 1], getResult: (a) => a[0] / a[1] })' },
            { kind: 'value', name: 'touched', ttl: { ttlMs: 3_600_000, update: 'on-read-and-write' } },
          ],
        },
      ),
    );
    expect(s.failure).toBeUndefined();
    expect(rows(s).length).toBe(60);
    expect(rows(s)).toEqual(rows(t));
  });
});

describe('a sandboxed keyed-process function over batches fails as the trusted one does', () => {
  const failing: Array<[string, string, ProcessOptions?]> = [
    ['an error names the key and the record it failed on, not the last of its batch', `({ processElement(v, ctx) { if (v.id === 1234) throw new Error('boom at ' + v.id); } })`],
    ['a non-Error value thrown', `({ processElement(v, ctx) { if (v.id === 77) throw { code: 7 }; } })`],
    ['an undeclared state names the declared ones', `({ processElement(v, ctx) { if (v.id === 300) ctx.state('nope').value(); } })`],
    ['an undeclared side output names the declared ones', `({ processElement(v, ctx) { if (v.id === 300) ctx.output('nope', v); } })`, { sideOutputs: ['tens'] }],
    ['a timer without a finite time', `({ processElement(v, ctx) { if (v.id === 300) ctx.timerService.registerEventTimeTimer('soon'); } })`],
    ['collect in open()', `({ open(ctx) { ctx.collect(1); }, processElement(v, ctx) {} })`],
    ['a timer registered in open()', `({ open(ctx) { ctx.timerService.registerEventTimeTimer(5); }, processElement(v, ctx) {} })`],
    ['an error in onTimer names the timer key', `({ processElement(v, ctx) { ctx.timerService.registerEventTimeTimer(ctx.timestamp + 10); }, onTimer(t, ctx) { if (ctx.key === 'key-3') throw new Error('timer failed for ' + ctx.key); } })`],
  ];
  it.each(failing)('%s', async (_name, fn, options) => {
    const [s, t] = await bothWays(processJob(fn, options));
    expect(s.status).toBe('failed');
    expect(t.status).toBe('failed');
    const trustedMessage = withoutJobId(t.failure?.message, t);
    // The trusted message of a non-data record comes from the exchange, not the function.
    if (!trustedMessage?.includes('function')) {
      expect(withoutJobId(s.failure?.message, s)).toEqual(trustedMessage);
    }
    expect(s.failure?.message).toMatch(/operator 'fn', subtask 1\/1/);
  });

  it('names the failing record: boom at 1234 with its key', async () => {
    const [s] = await bothWays(processJob(`({ processElement(v, ctx) { if (v.id === 1234) throw new Error('boom at ' + v.id); } })`));
    expect(s.failure?.message).toMatch(/boom at 1234 \(job .*, operator 'fn', subtask 1\/1, key "key-4", record \{"id":1234,/);
  });
});

describe('a sandboxed map over batches', () => {
  it('names the record it failed on, not the last of its batch', async () => {
    const graph: JobGraphDocument = {
      schemaVersion: 1,
      name: 'failing map',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 3000, ratePerSecond: 0, keys: 10 } },
        { id: 'fn', type: 'map', config: { fn: '(v) => { if (v.id === 1234) throw new Error("bad " + v.id); return v; }' } },
        { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'fn' },
        { id: 'e2', source: 'fn', target: 'out' },
      ],
    };
    const [s, t] = await bothWays(graph);
    expect(s.failure?.message).toMatch(/bad 1234 \(job .*, operator 'fn', subtask 1\/1, record \{"id":1234,/);
    expect(withoutJobId(s.failure?.message, s)).toEqual(withoutJobId(t.failure?.message, t));
  });
});

describe('consecutive sandboxed map, filter and flat-map functions of a chain run as one batch call', () => {
  const chain = (count: number, ratePerSecond: number): JobGraphDocument => ({
    schemaVersion: 1,
    name: 'fused chain',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond, keys: 7 } },
      { id: 'double', type: 'map', config: { fn: '(v) => ({ id: v.id, value: v.value * 2 })' } },
      { id: 'odd-thirds', type: 'filter', config: { fn: '(v) => v.id % 3 !== 0' } },
      { id: 'split', type: 'flat-map', config: { fn: '(v) => v.id % 2 === 0 ? [v, { ...v, copy: true }] : [v]' } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'double' },
      { id: 'e2', source: 'double', target: 'odd-thirds' },
      { id: 'e3', source: 'odd-thirds', target: 'split' },
      { id: 'e4', source: 'split', target: 'out' },
    ],
  });
  const counts = (job: Job) => {
    const byNode = new Map<string, [number, number]>();
    for (const m of job.metrics.values()) for (const o of m.metrics.operators) byNode.set(o.nodeId, [o.recordsIn, o.recordsOut]);
    return Object.fromEntries(byNode);
  };

  it('gives what the trusted chain gives, and counts records in and out of every operator between', async () => {
    const n = 6000;
    const [s, t] = await bothWays(chain(n, 0));
    expect(s.failure).toBeUndefined();
    expect(rows(s)).toEqual(rows(t));
    // Metrics are reported once a second; the final report comes with the end.
    await new Promise((r) => setTimeout(r, 1200));
    const kept = n - n / 3;
    const split = kept + kept / 2;
    expect(counts(s)).toMatchObject({ double: [n, n], 'odd-thirds': [n, kept], split: [kept, split], out: [split, 0] });
    expect(counts(s)).toEqual(counts(t));
  });

  it('a tap on an edge inside the run sees its records (the run splits while tapped), and results stay the same', async () => {
    const graph = chain(6000, 3000);
    const job = await sandboxed.submit(graph);
    const tapped: unknown[] = [];
    for (let i = 0; i < 100 && job.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    const tapId = job.taps.start('e2', { maxRecordsPerSecond: 10_000, limit: 1000 }, (batch) => tapped.push(...batch.records.map((r) => r.value)));
    await new Promise((r) => setTimeout(r, 700));
    job.taps.stop(tapId);
    await job.done;
    const reference = await trusted.submit(graph);
    await reference.done;
    await new Promise((r) => setTimeout(r, 150));
    expect(job.failure).toBeUndefined();
    expect(tapped.length).toBeGreaterThan(100);
    for (const value of tapped) expect(value).toEqual({ id: expect.any(Number), value: expect.any(Number) });
    expect(rows(job)).toEqual(rows(reference));
  });

  it('an error in a later function of the run names that function and the record it got', async () => {
    const graph = chain(3000, 0);
    (graph.nodes[3] as { config: { fn: string } }).config.fn = '(v) => { if (v.id === 2000) throw new Error("split failed"); return [v]; }';
    const [s, t] = await bothWays(graph);
    expect(s.failure?.message).toMatch(/split failed \(job .*, operator 'split', subtask 1\/1, record \{"id":2000,"value":4000\}\)/);
    expect(withoutJobId(s.failure?.message, s)).toEqual(withoutJobId(t.failure?.message, t));
  });
});

describe("a keyed-process function's keys cross once (the batcher's key dictionary)", () => {
  it('more keys than the dictionary holds: it starts over, and every record still sees its own key and state', async () => {
    // 70 000 keys: past the 65 536 the dictionary holds, so numbers are given out anew.
    const [s, t] = await bothWays(
      processJob(
        `({ processElement(v, ctx) {
          const c = ctx.state('count');
          const n = (c.value() ?? 0) + 1;
          c.update(n);
          const mine = ctx.key === v.key;
          if (v.id % 10 === 0 || !mine) ctx.collect({ key: ctx.key, n, mine });
        } })`,
        { count: 150_000, keys: 70_000 },
      ),
    );
    expect(s.failure).toBeUndefined();
    expect(t.failure).toBeUndefined();
    expect(rows(s).length).toBe(15_000);
    expect(rows(s).every((r) => r.includes('"mine":true'))).toBe(true);
    expect(rows(s)).toEqual(rows(t));
  });

  it('keeps small values it wrote or was given, uses them for keys sent as held, and says when the host was reached', async () => {
    const { sandbox, program, host } = await directProgram(
      'held-job',
      `const f = ({ processElement(v, ctx) {
        const s = ctx.state('s');
        if (v.touch) Object.getPrototypeOf(ctx).collect('through the host');
        if (v.set !== undefined) s.update(v.set);
        ctx.collect([ctx.key, s.value()]);
      } });`,
      ['s'],
    );
    try {
      const letters = { generation: 0, keys: ['a', 'b', 'c'] };
      // One entry per key given; held: the keys sent as held (no value given for them).
      const run = (ids: number[], given: unknown[], held: number[] = [], record: object = {}, dictionary = letters) =>
        program.run(directBatch(dictionary, ids, ids.map(() => record), [given], held), host);
      const long = 'x'.repeat(65);
      const first = run([0, 1, 2], [5, long, undefined]);
      expect(first.outputs).toEqual([['a', 5], ['b', long], ['c', undefined]]);
      // Small values (and none) are kept; a long string is not.
      expect(Array.from(first.holds ?? [])).toEqual([1, 0, 1]);
      expect(first.stale).toBe(false);
      const second = run([2, 0, 1], ['again'], [0, 1], { set: undefined });
      expect(second.outputs).toEqual([['c', undefined], ['a', 5], ['b', 'again']]);
      // Values written are kept as they were written.
      const third = run([0, 1], [], [0, 1], { set: 'short' });
      expect(third.outputs).toEqual([['a', 'short'], ['b', 'short']]);
      expect(Array.from(third.holds ?? [])).toEqual([1, 1]);
      expect(run([1, 0], [], [0, 1]).outputs).toEqual([['b', 'short'], ['a', 'short']]);
      // User code that reaches the host's context makes what is kept stale.
      expect(run([0], [], [0], { touch: true }).stale).toBe(true);
      expect(run([0], [], [0]).stale).toBe(false);
      // Writes to held keys stayed in the isolate (deferred) until taken: a's and b's 'short', by key number.
      expect(third.writes).toHaveLength(0);
      expect(third.deferred).toBe(true);
      const taken = program.takeWrites?.();
      expect(Array.from(taken?.writes ?? [])).toEqual([0, 0, 0, 0, 1, 0]);
      expect(Array.from(taken?.updateValues ?? [])).toEqual(['short', 'short']);
      expect(Array.from(program.takeWrites?.().writes ?? [1])).toEqual([]);
      // A key sent as held that the program never kept (its numbers started over) is an internal error, not undefined.
      expect(() => run([0], [], [0], {}, { generation: 1, keys: ['z'] })).toThrow('a kept state value is missing');
    } finally {
      sandbox.dispose();
    }
  });

  it('keeps writes to held keys back until they are taken, and sends them with the key once it is no longer held', async () => {
    const { sandbox, program, host } = await directProgram(
      'deferred-job',
      `const f = ({ processElement(v, ctx) {
        if (v.s !== undefined) ctx.state('s').update(v.s);
        if (v.t !== undefined) ctx.state('t').update(v.t);
        if (v.clear) ctx.state('s').clear();
      } });`,
      ['s', 't'],
    );
    try {
      const keys = { generation: 0, keys: ['a', 'b'] };
      // a gets s = 1, b gets s cleared: both stay held, so nothing is written back yet.
      const first = program.run(directBatch(keys, [0, 1], [{ s: 1 }, { clear: true }], [[undefined, 7], [undefined, undefined]]), host);
      expect(Array.from(first.writes)).toEqual([]);
      expect(Array.from(first.holds ?? [])).toEqual([1, 1]);
      expect(first.deferred).toBe(true);
      // a's t becomes an object: a is no longer held, and its kept-back s goes out with that write.
      const second = program.run(directBatch(keys, [0], [{ t: { deep: true } }], [[]], [0]), host);
      expect(Array.from(second.holds ?? [])).toEqual([0]);
      expect(Array.from(second.writes)).toEqual([0, 0, 0, 1, 0, 0]);
      expect(Array.from(second.updateValues)).toEqual([1, { deep: true }]);
      // What is left to take is b's clear (no value), once.
      const taken = program.takeWrites?.();
      expect(Array.from(taken?.writes ?? [])).toEqual([0, 1, 1]);
      expect(Array.from(taken?.updateValues ?? [1])).toEqual([]);
      expect(Array.from(program.takeWrites?.().writes ?? [1])).toEqual([]);
    } finally {
      sandbox.dispose();
    }
  });

  it('sends a key the program lacks, again after a failed batch, and all of a new generation', async () => {
    const { sandbox, program, host } = await directProgram(
      'dictionary-job',
      `const f = ({ processElement(v, ctx) { if (v.fail) throw new Error('failed at ' + ctx.key); ctx.collect(ctx.key); } });`,
      [],
    );
    try {
      const run = (dictionary: { generation: number; keys: string[] }, ids: number[], fail = false) =>
        program.run(directBatch(dictionary, ids, ids.map(() => ({ fail }))), host).outputs;
      const first = { generation: 0, keys: ['a', 'b'] };
      expect(run(first, [0, 1])).toEqual(['a', 'b']);
      first.keys.push('c');
      expect(run(first, [2, 0])).toEqual(['c', 'a']);
      first.keys.push('d');
      expect(() => run(first, [3], true)).toThrow('failed at d');
      expect(run(first, [3, 1])).toEqual(['d', 'b']);
      // Numbers 0 and 1 are other keys now.
      expect(run({ generation: 1, keys: ['x', 'y'] }, [1, 0])).toEqual(['y', 'x']);
    } finally {
      sandbox.dispose();
    }
  });
});

describe('writes a sandboxed keyed-process function keeps back reach the state that queries and savepoints read', () => {
  // Counts per key: every record's n is how many records of its key came before it, plus one.
  const counting = (checkpointing: boolean): JobGraphDocument => {
    const graph = processJob(
      `({ processElement(v, ctx) {
        const c = ctx.state('count');
        const n = (c.value() ?? 0) + 1;
        c.update(n);
        ctx.collect({ key: ctx.key, n });
      } })`,
      { count: 4000, keys: 3 },
    );
    const gen = graph.nodes[0] as { config: Record<string, unknown> };
    gen.config['ratePerSecond'] = 2000;
    return { ...graph, job: { ...graph.job, ...(checkpointing ? { checkpointing: { enabled: true, intervalMs: 60_000 } } : {}), restartStrategy: { type: 'none' } } };
  };
  const highest = (job: Job, key: string) => Math.max(0, ...job.results('out').map((r) => r.value as { key: string; n: number }).filter((v) => v.key === key).map((v) => v.n));

  it('a state query sees every write of the records whose outputs have come out', async () => {
    const job = await sandboxed.submit(counting(false));
    try {
      for (let i = 0; i < 50 && highest(job, 'key-0') < 50; i++) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 5; i++) {
        const answer = await job.queryState('fn', 'key-0');
        // Outputs leave after their batch's writes: none can be ahead of the state.
        const seen = highest(job, 'key-0');
        const count = answer.states.find((s) => s.name === 'count')?.value;
        expect(typeof count).toBe('number');
        expect(count as number).toBeGreaterThanOrEqual(seen);
        expect(seen).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, 30));
      }
    } finally {
      job.cancel();
      await job.done;
    }
  });

  it('a job restored from a savepoint goes on counting where the state stopped', async () => {
    const first = await sandboxed.submit(counting(true));
    for (let i = 0; i < 50 && highest(first, 'key-0') < 200; i++) await new Promise((r) => setTimeout(r, 20));
    const savepoint = await first.stopWithSavepoint();
    await first.done;
    await new Promise((r) => setTimeout(r, 150));
    const second = await sandboxed.submit(counting(true), { restoreFrom: savepoint.directory });
    await second.done;
    await new Promise((r) => setTimeout(r, 150));
    expect(second.failure).toBeUndefined();
    // Every key's counts run 1, 2, 3 ... across both jobs, with none repeated or skipped.
    for (const key of ['key-0', 'key-1', 'key-2']) {
      const counts = [first, second].flatMap((job) => job.results('out').map((r) => r.value as { key: string; n: number }).filter((v) => v.key === key).map((v) => v.n));
      expect(highest(first, key)).toBeGreaterThan(0);
      expect(counts).toEqual(Array.from({ length: counts.length }, (_, i) => i + 1));
    }
    expect(first.results('out').length + second.results('out').length).toBe(4000);
  });
});
