/**
 * Hosted mode: user functions in the sandbox. Every hostile function below runs as its
 * own job on an engine in sandboxed mode while a well-behaved job runs beside it; each is
 * blocked (the job fails with a clear error, or the attempt sees nothing) or contained,
 * and the neighbour keeps producing the right output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager, type Job } from '@sluice/engine';

let taskManager: TaskManager;
let jobs: JobManager;
let trustedTaskManager: TaskManager;
let trusted: JobManager;

beforeAll(() => {
  taskManager = new TaskManager({ slots: 2, userCode: { mode: 'sandboxed', cpuMsPerCall: 1000, memoryMbPerJob: 64 } });
  jobs = new JobManager(taskManager);
  trustedTaskManager = new TaskManager({ slots: 1, userCode: { mode: 'trusted' } });
  trusted = new JobManager(trustedTaskManager);
});
afterAll(async () => {
  await taskManager.shutdown();
  await trustedTaskManager.shutdown();
});

function mapJob(fn: string, count = 2000, type: 'map' | 'filter' | 'flat-map' = 'map', parallelism = 1): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: `${type} job`,
    job: { defaultParallelism: parallelism },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: 0, keys: 10 } },
      { id: 'fn', type, config: { fn } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'fn' },
      { id: 'e2', source: 'fn', target: 'out' },
    ],
  };
}

function processJob(fn: string, states: unknown[] = [{ kind: 'value', name: 'count' }], count = 2000): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'process job',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: 0, keys: 10 } },
      { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'fn', type: 'keyed-process', config: { fn, states } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'k' },
      { id: 'e2', source: 'k', target: 'fn' },
      { id: 'e3', source: 'fn', target: 'out' },
    ],
  };
}

async function settle(job: Job): Promise<void> {
  await job.done;
  await new Promise((r) => setTimeout(r, 150));
}

const values = (job: Job) => job.results('out').map((r) => r.value);

/** A paced neighbour that must keep running and producing while a hostile job runs. */
async function withNeighbour(hostile: () => Promise<void>): Promise<void> {
  const neighbour = await jobs.submit({
    ...mapJob('(v) => ({ id: v.id, doubled: v.value * 2 })', 400),
    name: 'neighbour',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 400, ratePerSecond: 2000, keys: 10 } },
      { id: 'fn', type: 'map', config: { fn: '(v) => ({ id: v.id, doubled: v.value * 2 })' } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
  });
  await hostile();
  expect(await neighbour.done).toBe('finished');
  await new Promise((r) => setTimeout(r, 150));
  const rows = values(neighbour) as Array<{ id: number; doubled: number }>;
  expect(rows).toHaveLength(400);
  expect(rows.every((r) => r.doubled === r.id * 2)).toBe(true);
}

describe('sandboxed user functions give the same results as trusted ones', () => {
  const cases: Array<[string, JobGraphDocument]> = [
    ['map with ctx.timestamp per record', mapJob('(v, ctx) => ({ id: v.id, t: ctx.timestamp, node: ctx.nodeId, sub: ctx.subtaskIndex })')],
    ['filter', mapJob('(v) => v.value % 3 === 0', 2000, 'filter')],
    ['flat-map with zero, one and two outputs', mapJob('(v) => v.value % 3 === 0 ? [] : v.value % 3 === 1 ? [v.id] : [v.id, -v.id]', 2000, 'flat-map')],
    ['map at parallelism 2', mapJob('(v) => v.id * 10', 3000, 'map', 2)],
    // Flat records cross as columns (flat-records.ts); these must arrive exactly as msgpack would bring them.
    [
      'map to flat records with keys and strings of every kind',
      mapJob(String.raw`(v) => ({ 'quote"d': v.id, 'back\\slash': 'a\u2028b\n' + v.key, '': v.id % 2 === 0, 'emoji😀': '😀' + v.id, 'é': v.value / 3, big: v.timestamp * 1000 })`),
    ],
    [
      'map to records whose shapes change between and within batches, some nested',
      mapJob('(v) => v.id < 1100 ? { a: v.id, s: String(v.id) } : v.id < 1300 ? (v.id % 2 ? { a: v.id } : { b: true }) : { n: { deep: [v.id] }, x: null }', 2000),
    ],
    [
      'fused map and filter, both reading ctx.timestamp',
      {
        ...mapJob('(v) => v'),
        nodes: [
          { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 3000, ratePerSecond: 0, keys: 10 } },
          { id: 'm', type: 'map', config: { fn: '(v, ctx) => ({ id: v.id, t: ctx.timestamp })' } },
          { id: 'f', type: 'filter', config: { fn: '(v, ctx) => v.t === ctx.timestamp && v.id % 4 !== 0' } },
          { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
        ],
        edges: [
          { id: 'e1', source: 'gen', target: 'm' },
          { id: 'e2', source: 'm', target: 'f' },
          { id: 'e3', source: 'f', target: 'out' },
        ],
      },
    ],
    [
      'keyed process with value state, timers and onTimer',
      processJob(`({
        processElement(v, ctx) {
          const s = ctx.state('count');
          const n = (s.value() ?? 0) + 1;
          s.update(n);
          if (n % 50 === 0) ctx.collect({ key: ctx.key, n, at: ctx.timestamp });
          ctx.timerService.registerEventTimeTimer(ctx.timestamp + 1000);
        },
        onTimer(t, ctx) { if (t % 7000 === 0) ctx.collect({ key: ctx.key, timer: t, domain: ctx.timeDomain, at: ctx.timestamp }); },
      })`),
    ],
    [
      'keyed process with list, map and reducing state',
      processJob(
        `({
          processElement(v, ctx) {
            ctx.state('seen').add(v.id);
            ctx.state('byValue').put(v.value % 4, v.id);
            ctx.state('sum').add(v.value);
            if (v.id % 100 === 99) ctx.collect({ key: ctx.key, seen: ctx.state('seen').get().length, entries: ctx.state('byValue').entries(), sum: ctx.state('sum').get() });
          },
        })`,
        [
          { kind: 'list', name: 'seen' },
          { kind: 'map', name: 'byValue' },
          { kind: 'reducing', name: 'sum', reduce: '(a, b) => a + b' },
        ],
      ),
    ],
  ];
  it.each(cases)('%s', async (_name, graph) => {
    const [sandboxed, inProcess] = await Promise.all([jobs.submit(graph), trusted.submit(graph)]);
    await Promise.all([settle(sandboxed), settle(inProcess)]);
    expect(sandboxed.failure).toBeUndefined();
    expect(sandboxed.status).toBe('finished');
    const sort = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
    expect(values(sandboxed).length).toBeGreaterThan(0);
    expect(sort(values(sandboxed))).toEqual(sort(values(inProcess)));
  });
});

/** Each: a function, and what must be true of the job it runs in. */
type Hostile = readonly [name: string, graph: JobGraphDocument, expectation: { fails: RegExp } | { finishes: (rows: unknown[]) => void }];


const HOSTILE: Hostile[] = [
  ['reads a file with require("fs")', mapJob('(v) => require("fs").readFileSync("/etc/passwd", "utf8")'), { fails: /require is not defined/ }],
  ['spawns a process with require("child_process")', mapJob('(v) => require("child_process").execSync("id").toString()'), { fails: /require is not defined/ }],
  ['opens a socket with require("net")', mapJob('(v) => require("net").connect(80, "127.0.0.1")'), { fails: /require is not defined/ }],
  ['fetches a URL', mapJob('(v) => fetch("http://127.0.0.1:1/")'), { fails: /fetch is not defined/ }],
  ['uses XMLHttpRequest / WebSocket', mapJob('(v) => new WebSocket("ws://127.0.0.1:1")'), { fails: /WebSocket is not defined/ }],
  ['reads process.env', mapJob('(v) => process.env.HOME'), { fails: /process is not defined/ }],
  ['reads globalThis.process', mapJob('(v) => String(typeof globalThis.process)'), { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefined'])) }],
  ['imports a module dynamically', mapJob('(v) => import("node:fs")'), { fails: /./ }],
  [
    'reaches process through this.constructor.constructor',
    mapJob('function (v) { return this.constructor.constructor("return typeof process")(); }'),
    { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefined'])) },
  ],
  [
    'reaches process through the ctx constructor chain',
    mapJob('(v, ctx) => ctx.constructor.constructor("return typeof process")()'),
    { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefined'])) },
  ],
  [
    'reaches process through a state handle constructor chain',
    processJob('({ processElement(v, ctx) { const s = ctx.state("count"); ctx.collect(String(s.constructor.constructor("return typeof process")())); } })'),
    { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefined'])) },
  ],
  [
    'reaches the state backend through private fields of ctx',
    processJob('({ processElement(v, ctx) { ctx.collect(String(typeof ctx.backend) + typeof ctx.op + typeof ctx.out + typeof ctx.handles); } })'),
    { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefinedundefinedundefinedundefined'])) },
  ],
  [
    'calls a ctx method through Function.prototype.call with another this',
    processJob('({ processElement(v, ctx) { ctx.collect(String(ctx.collect.call.constructor("return typeof require")())); } })'),
    { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefined'])) },
  ],
  [
    'pollutes Object.prototype (its own context only)',
    mapJob('(v) => { Object.prototype.polluted = "yes"; Array.prototype.push = () => 0; return { id: v.id }; }'),
    { finishes: (rows) => expect(rows).toHaveLength(2000) },
  ],
  [
    'returns records with __proto__ keys',
    mapJob(`(v) => JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "id": ' + v.id + '}')`),
    {
      finishes: (rows) => {
        expect(rows).toHaveLength(2000);
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      },
    },
  ],
  ['loops forever: while (true) {}', mapJob('(v) => { while (true) {} }'), { fails: /ran longer than 1000 ms in one call .*endless loop.*job .*task/ }],
  ['loops forever in a filter', mapJob('(v) => { for (;;) {} }', 2000, 'filter'), { fails: /ran longer than 1000 ms/ }],
  // Lines past the rate are counted, not sent: the loop ends at the CPU limit, not in the log.
  ['logs to the console without end', mapJob('(v) => { for (;;) console.log("spam", v.id); }'), { fails: /ran longer than 1000 ms/ }],
  ['loops forever while its hooks are read', processJob('({ get processElement() { while (true) {} } })'), { fails: /ran longer than 1000 ms/ }],
  ['loops forever in a process function', processJob('({ processElement(v, ctx) { while (true) { ctx.state("count").value(); } } })'), { fails: /ran longer than 1000 ms/ }],
  // Each microtask allocates: the chain hits the memory limit or the time limit first, depending on the machine.
  ['loops forever through microtasks', mapJob('(v) => { const f = () => Promise.resolve().then(f); f(); return 1; }'), { fails: /ran longer than 1000 ms|exceeded the job's memory limit of 64 MB/ }],
  ['allocates without end', mapJob('(v) => { const a = []; for (;;) a.push(new Array(10_000_000).fill(1.5)); }'), { fails: /memory limit of 64 MB/ }],
  ['allocates one huge string', mapJob('(v) => { let s = "x"; for (;;) s = s + s; }'), { fails: /memory limit of 64 MB|Invalid string length/ }],
  ['allocates huge array buffers', mapJob('(v) => { const b = []; for (let i = 0; i < 100; i++) b.push(new ArrayBuffer(100 * 1024 * 1024)); return b.length; }'), { fails: /allocation failed|memory limit/ }],
  ['recurses without end', mapJob('(v) => { const f = (n) => f(n + 1) + 1; return f(0); }'), { fails: /Maximum call stack size exceeded/ }],
  ['sets a timer that never ends', mapJob('(v) => { setInterval(() => {}, 1); return v.id; }'), { fails: /setInterval is not defined/ }],
  ['blocks in Atomics.wait', mapJob('(v) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)'), { fails: /Atomics is not defined|SharedArrayBuffer is not defined/ }],
  ['compiles WebAssembly', mapJob('(v) => typeof WebAssembly'), { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefined'])) }],
  ['throws a number', mapJob('(v) => { throw 42; }'), { fails: /a non-Error value was thrown: 42/ }],
  ['throws null', mapJob('(v) => { throw null; }'), { fails: /a non-Error value was thrown: null/ }],
  ['throws an object whose toString loops forever', mapJob('(v) => { throw { toString() { while (true) {} } }; }'), { fails: /a non-Error value was thrown: \{\}|ran longer/ }],
  ['throws an Error whose message getter throws', mapJob('(v) => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { throw 1; } }); throw e; }'), { fails: /cannot be shown/ }],
  ['returns a cyclic object', mapJob('(v) => { const a = { id: v.id }; a.self = a; return a; }'), { fails: /./ }],
  ['returns a huge record', mapJob('(v) => "x".repeat(2 * 1024 * 1024)', 1), { fails: /record of \d+ bytes; the engine's limit is 1048576 bytes/ }],
  ['returns a function', mapJob('(v) => () => 1'), { fails: /returned a function; records must be data/ }],
  [
    "tampers with the sandbox's replies through setters on Object.prototype",
    mapJob('(v) => { for (const k of ["f", "o", "t", "h", "d", "m", "c", "s", "k", "keep", "error"]) Object.defineProperty(Object.prototype, k, { set() {}, configurable: true }); return { id: v.id }; }'),
    { fails: /the sandbox returned no records \(was its runtime tampered with\?\)/ },
  ],
  [
    // Batches' columns cross through memory the host shares (shared-columns.ts). Code that
    // gets at it sees its own records only, and what it writes there is never read back.
    'scribbles over the shared memory its batches cross through',
    mapJob(
      '(v) => { if (!globalThis.hooked) { const sub = Float64Array.prototype.subarray; Float64Array.prototype.subarray = function (a, b) { if (String(this.buffer) === "[object SharedArrayBuffer]") globalThis.shared = this.buffer; return sub.call(this, a, b); }; globalThis.hooked = true; } const got = globalThis.shared !== undefined; if (got) new Float64Array(globalThis.shared).fill(NaN); return { id: v.id, v: v.value, got }; }',
    ),
    {
      finishes: (rows) => {
        const got = rows as Array<{ id: number; v: number; got: boolean }>;
        expect(got.map(({ id, v }) => ({ id, v }))).toEqual(Array.from({ length: 2000 }, (_, i) => ({ id: i, v: i })));
        expect(got.filter((r) => r.got).length).toBeGreaterThan(0);
      },
    },
  ],
  ['returns a promise (async function)', mapJob('async (v) => v.id'), { fails: /not a promise/ }],
  ['returns a promise from a process function', processJob('({ async processElement(v, ctx) { ctx.collect(v); } })'), { fails: /not a promise/ }],
  ['calls an undeclared state', processJob('({ processElement(v, ctx) { ctx.state("nope").value(); } })'), { fails: /state 'nope' is not declared/ }],
  ['reads the host through Error.prepareStackTrace', mapJob('(v) => { Error.prepareStackTrace = (e, s) => s.map((f) => typeof f.getFunction()); return new Error().stack.length; }'), { finishes: (rows) => expect(rows).toHaveLength(2000) }],
  ['eval and new Function stay inside', mapJob('(v) => eval("typeof require") + new Function("return typeof process")()'), { finishes: (rows) => expect(new Set(rows)).toEqual(new Set(['undefinedundefined'])) }],
];

describe('hostile user functions are blocked or contained, and the engine keeps serving other jobs', () => {
  it('has at least 30 hostile functions', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(30);
  });

  it.each(HOSTILE)('%s', async (_name, graph, expectation) => {
    await withNeighbour(async () => {
      const job = await jobs.submit(graph);
      await settle(job);
      if ('fails' in expectation) {
        expect(job.status).toBe('failed');
        expect(job.failure?.message).toMatch(expectation.fails);
        expect(job.failure?.message).toMatch(/job [0-9a-f-]+, (operator 'fn'|task '[^']+'), subtask 1\/1/);
      } else {
        expect(job.failure).toBeUndefined();
        expect(job.status).toBe('finished');
        expectation.finishes(values(job));
      }
    });
  });
});

