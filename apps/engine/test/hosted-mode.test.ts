/**
 * Hosted mode as `sluice serve` runs it: user code confined unless --trusted (a process per
 * job where Linux allows it, else V8 isolates), an engine that refuses to start (and jobs
 * that are refused) when the confinement asked for cannot be had, and
 * the per-job resource limits (parallelism at submit, keyed-state entries and record
 * sizes while running), each failing only the job that exceeds it, with a message
 * naming the job, the place and the limit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { createEngineService, JobManager, processModeAvailability, serveEngine, TaskManager, userCodeFor, type EngineService, type StartOptions } from '@sluice/engine';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-hosted-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A job whose only output says whether user code could see Node's `process`, and whose it is ('pid 1': a job process, pid 1 of its own pid namespace). */
const probeJob: JobGraphDocument = {
  schemaVersion: 1,
  name: 'probe',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 3, ratePerSecond: 0 } },
    { id: 'probe', type: 'map', config: { fn: "(v) => ({ id: v.id, process: typeof process === 'undefined' ? 'undefined' : process.pid === 1 ? 'pid 1' : 'engine' })" } },
    { id: 'out', type: 'collect-sink', config: { name: 'out' } },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'probe' },
    { id: 'e2', source: 'probe', target: 'out' },
  ],
};

async function banner(out: () => string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1];
    if (found) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no banner: ${out()}`);
}

async function probe(url: string): Promise<unknown[]> {
  const submitted = await fetch(`${url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ graph: probeJob }) });
  expect(submitted.status).toBe(201);
  const { id } = (await submitted.json()) as { id: string };
  for (let i = 0; i < 200; i++) {
    const job = (await (await fetch(`${url}/api/jobs/${id}`)).json()) as { status: string };
    if (job.status !== 'running') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const results = (await (await fetch(`${url}/api/jobs/${id}/results/out`)).json()) as { rows: Array<{ value: { process: string } }> };
  return results.rows.map((r) => r.value.process);
}

/** `sluice serve` on a free loopback port, in a data directory of its own; stop() checks it exits with 0. */
async function serve(name: string, options: Partial<StartOptions> = {}) {
  const abort = new AbortController();
  let out = '';
  let err = '';
  const running = serveEngine({ host: '127.0.0.1', port: 0, dataDir: join(dir, name), slots: 1, ...options }, { stdout: (t) => (out += t), stderr: (t) => (err += t), signal: abort.signal });
  const url = await banner(() => out);
  return {
    url,
    out: () => out,
    err: () => err,
    stop: async () => {
      abort.abort();
      expect(await running).toBe(0);
    },
  };
}

describe('sluice serve runs user code confined unless --trusted', () => {
  const processes = processModeAvailability();

  it('confines by default, also on loopback: a process per job where this machine can confine one, else V8 isolates, and says which', async () => {
    const engine = await serve('default');
    if (processes.available) {
      expect(engine.out()).toContain('user code    a confined process per job (1024 MB of memory, its slots + 1 CPUs and 10240 MB of disk per job; --isolate runs it in V8 isolates, --trusted in-process)');
      expect(await probe(engine.url)).toEqual(['pid 1', 'pid 1', 'pid 1']);
    } else {
      expect(engine.out()).toContain('user code    sandboxed in V8 isolates');
      expect(engine.err()).toContain(`because a process per job is not available here: ${processes.reason}`);
      expect(await probe(engine.url)).toEqual(['undefined', 'undefined', 'undefined']);
    }
    await engine.stop();
  });

  it('runs user code in V8 isolates with --isolate, and says so', async () => {
    const engine = await serve('isolate', { isolate: true });
    expect(engine.out()).toContain('user code    sandboxed in V8 isolates (1000 ms CPU per call, 128 MB heap per job; --trusted runs it in-process)');
    expect(await probe(engine.url)).toEqual(['undefined', 'undefined', 'undefined']);
    await engine.stop();
  });

  it('falls back to the isolates, saying why, where a process per job cannot be confined; takes one mode at most', () => {
    const none = () => ({ available: false as const, reason: 'no user namespaces here' });
    const yes = () => ({ available: true as const, unshare: '/usr/bin/unshare' });
    expect(userCodeFor({}, none)).toEqual({ settings: { mode: 'sandboxed', cpuMsPerCall: 1000, memoryMbPerJob: 128 }, noProcess: 'no user namespaces here' });
    expect(userCodeFor({}, yes)).toEqual({ settings: { mode: 'process', cpuMsPerCall: 1000, memoryMbPerJob: 1024 } });
    // Asked for, a mode is taken as it is: the start refuses where it is not available.
    expect(userCodeFor({ processPerJob: true }, none).settings.mode).toBe('process');
    expect(userCodeFor({ isolate: true, sandbox: { memoryMbPerJob: 256 } }, yes)).toEqual({ settings: { mode: 'sandboxed', cpuMsPerCall: 1000, memoryMbPerJob: 256 } });
    expect(() => userCodeFor({ isolate: true, processPerJob: true }, yes)).toThrow('--process-per-job and --isolate exclude each other: choose one way to run user code');
  });

  it('runs user code in-process with trusted (the quick start)', async () => {
    const engine = await serve('trusted', { trusted: true });
    expect(engine.out()).toContain("user code    trusted: runs in the engine's own threads (--trusted); only for code you trust");
    expect(await probe(engine.url)).toEqual(['engine', 'engine', 'engine']);
    await engine.stop();
  });
});

describe('where isolated-vm cannot be loaded', () => {
  // A preload that makes every isolated-vm package unresolvable, as on a Node version none of them was built for.
  const hide = () => {
    const file = join(dir, 'hide-isolated-vm.cjs');
    writeFileSync(
      file,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'isolated-vm' || request === 'isolated-vm-6') throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
`,
    );
    return file;
  };

  function node(args: string[], until?: RegExp): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', hide(), ...args], { cwd: ROOT, env: { ...process.env, SLUICE_DATA_DIR: join(dir, `child-${Math.random()}`) } });
      let out = '';
      let err = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`timed out: ${out}${err}`));
      }, 20_000);
      let interrupted = false;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // One Ctrl-C stops the engine cleanly; a second would exit at once (130).
        if (!interrupted && until?.test(out)) {
          interrupted = true;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });
  }

  it('sluice serve --isolate refuses to start and says why; by default it confines jobs in processes where it can, else refuses too; with --trusted it starts', async () => {
    const missing = /sandboxed user code needs the isolated-vm package \(5\.0\.4 on Node 20, 6\.x on Node 22 and 24\), which could not be loaded on Node \S+ \(isolated-vm: Cannot find module 'isolated-vm'; isolated-vm-6: Cannot find module 'isolated-vm-6'\)/;
    const refused = await node(['apps/cli/bin/sluice.js', 'serve', '--isolate', '--port', '0', '--slots', '1']);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/^sluice serve: cannot start: the isolate sandbox \(--isolate\) is not available: /);
    expect(refused.err).toMatch(missing);
    expect(refused.err).toContain('Start with --trusted');

    const processes = processModeAvailability();
    if (processes.available) {
      const started = await node(['apps/cli/bin/sluice.js', 'serve', '--port', '0', '--slots', '1'], /user code {4}a confined process per job/);
      expect(started.code).toBe(0);
    } else {
      const neither = await node(['apps/cli/bin/sluice.js', 'serve', '--port', '0', '--slots', '1']);
      expect(neither.code).toBe(2);
      expect(neither.err).toContain(`user code runs confined by default, and neither way is available here: a process per job (${processes.reason}) nor the isolate sandbox`);
      expect(neither.err).toMatch(missing);
    }

    const trusted = await node(['apps/cli/bin/sluice.js', 'serve', '--trusted', '--port', '0', '--slots', '1'], /user code {4}trusted/);
    expect(trusted.out).toContain('Sluice engine listening on');
    expect(trusted.code).toBe(0);
  });

  it('a sandboxed engine refuses each job at submit with the reason', async () => {
    const script = `
      import { JobManager, TaskManager } from '@sluice/engine';
      const tm = new TaskManager({ slots: 1, userCode: { mode: 'sandboxed' } });
      try {
        await new JobManager(tm).submit(${JSON.stringify(probeJob)});
        console.log('submitted');
      } catch (error) {
        console.log(error.name + ': ' + error.message);
      } finally {
        await tm.shutdown();
      }`;
    const run = await node(['--input-type=module', '-e', script]);
    expect(run.err).toBe('');
    expect(run.out).toMatch(/^SubmissionError: cannot run job 'probe': sandboxed user code needs the isolated-vm package .* run user code trusted \(sluice serve --trusted, userCode\.mode 'trusted'\) only where every job's author is trusted\n$/);
  });
});

describe('resource limits per job', () => {
  let taskManager: TaskManager;
  let jobs: JobManager;
  let service: EngineService;

  beforeAll(async () => {
    taskManager = new TaskManager({ slots: 2, maxRecordBytes: 10_000 });
    jobs = new JobManager(taskManager, { dataDir: join(dir, 'limits'), limits: { maxParallelism: 2, maxStateEntries: 1000, maxRecordBytes: 10_000 } });
    service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'limits-service'), jobManager: jobs });
  });
  afterAll(async () => {
    await service.close();
    await taskManager.shutdown();
  });

  const keyedJob = (keys: number, backend: 'heap' | 'rocksdb' = 'heap'): JobGraphDocument => ({
    schemaVersion: 1,
    name: `keyed ${keys}`,
    job: { stateBackend: { type: backend }, restartStrategy: { type: 'fixed-delay', attempts: 3, delayMs: 100 } },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 40_000, ratePerSecond: 8000, keys } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      {
        id: 'remember',
        type: 'keyed-process',
        config: { fn: '({ processElement(v, ctx) { const s = ctx.state("seen"); s.update((s.value() ?? 0) + 1); ctx.collect(v.id); } })', states: [{ kind: 'value', name: 'seen' }] },
      },
      { id: 'out', type: 'blackhole-sink', config: {} },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'by-key' },
      { id: 'e2', source: 'by-key', target: 'remember' },
      { id: 'e3', source: 'remember', target: 'out' },
    ],
  });

  it('refuses a job wider than maxParallelism at submit, naming the graph path (REST: 400 with problems)', async () => {
    const graph = keyedJob(10);
    graph.job = { ...graph.job, defaultParallelism: 3 };
    graph.nodes = graph.nodes.map((n) => (n.id === 'remember' ? { ...n, parallelism: 4 } : n));
    const response = await fetch(`${service.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ graph }) });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; problems: Array<{ in: string; path: string; message: string; nodeId: string }> };
    expect(body.error).toBe("parallelism 3 of node 'gen' is above this engine's limit of 2 (limits.maxParallelism)");
    expect(body.problems).toEqual([
      { in: 'graph', path: 'job.defaultParallelism', message: "parallelism 3 of node 'gen' is above this engine's limit of 2 (limits.maxParallelism)", nodeId: 'gen' },
      { in: 'graph', path: 'nodes[2].parallelism', message: "parallelism 4 of node 'remember' is above this engine's limit of 2 (limits.maxParallelism)", nodeId: 'remember' },
      { in: 'graph', path: 'job.defaultParallelism', message: "parallelism 3 of node 'out' is above this engine's limit of 2 (limits.maxParallelism)", nodeId: 'out' },
    ]);
    expect(jobs.list()).toEqual([]);
  });

  it('fails a job whose keyed state grows past maxStateEntries, without restarting it, while a smaller job runs on', async () => {
    const [small, large] = await Promise.all([jobs.submit(keyedJob(100)), jobs.submit(keyedJob(5000))]);
    expect(await large.done).toBe('failed');
    expect(large.failure?.message).toMatch(
      new RegExp(`^job '${large.id}' holds \\d+ keyed-state entries, above this engine's limit of 1000 per job \\(limits\\.maxStateEntries\\); operator 'remember' holds the most \\(\\d+\\)`),
    );
    expect(large.failure?.nodeId).toBe('remember');
    expect(large.restarts).toBe(0);
    expect(await small.done).toBe('finished');
  });

  it('counts RocksDB state too (from RocksDB’s own estimate)', async () => {
    const job = await jobs.submit(keyedJob(5000, 'rocksdb'));
    expect(await job.done).toBe('failed');
    expect(job.failure?.message).toMatch(/keyed-state entries, above this engine's limit of 1000 per job \(limits\.maxStateEntries\)/);
  });

  it('fails a job that sends a record larger than maxRecordBytes across an exchange, naming the operator', async () => {
    const graph = (size: number): JobGraphDocument => ({
      schemaVersion: 1,
      name: `records of ${size}`,
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 600, ratePerSecond: 0, keys: 4 } },
        { id: 'widen', type: 'map', config: { fn: `(v) => ({ key: v.key, pad: 'x'.repeat(v.id === 500 ? ${size} : 10) })` } },
        { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count', as: 'n' }] } },
        { id: 'out', type: 'collect-sink', config: { name: 'out' } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'widen' },
        { id: 'e2', source: 'widen', target: 'by-key' },
        { id: 'e3', source: 'by-key', target: 'count' },
        { id: 'e4', source: 'count', target: 'out' },
      ],
    });
    const fits = await jobs.submit(graph(9000));
    expect(await fits.done, fits.failure?.message).toBe('finished');
    const tooLarge = await jobs.submit(graph(20_000));
    expect(await tooLarge.done).toBe('failed');
    expect(tooLarge.failure?.message).toMatch(/^a record of 200\d\d bytes was sent to '[^']+'; the engine's limit is 10000 bytes per record \(limits\.maxRecordBytes\) \(job /);
    expect(tooLarge.failure?.nodeId).toBe('widen');
  });
});

describe('the CPU limit per call counts CPU time, not wall time', () => {
  it('fails a call that finished but used more CPU than cpuMsPerCall, and gives calls three times that in wall time', async () => {
    const { TaskSandbox } = await import('../src/runtime/sandbox.js');
    const sandbox = new TaskSandbox({ mode: 'sandboxed', cpuMsPerCall: 100 }, 'cpu-job', 0, 'cpu test');
    try {
      const ctx = { timestamp: 0, nodeId: 'n', subtaskIndex: 0, parallelism: 1, attemptNumber: 0 };
      // Busy for 250 ms of wall time: within the 300 ms wall limit, above 100 ms of CPU on any but a starved machine.
      const busy = sandbox.loadBatch('const f = (v) => { const end = Date.now() + 250; while (Date.now() < end) {} return v; };', 'f', 'map');
      expect(() => busy([1], [0], ctx)).toThrow(/^user function ran longer than 100 ms in one call \(userCode\.cpuMsPerCall\): it used \d+ ms of CPU$/);
      const quick = sandbox.loadBatch('const g = (v) => v + 1;', 'g', 'map');
      expect(quick([1, 2], [0, 0], ctx)).toEqual({ outputs: [2, 3] });
      // The replies thrown away above (msgpack, and columns of flat records) leave nothing the next call needs.
      expect(() => busy([{ a: 1 }, { a: 2 }], [0, 0], ctx)).toThrow(/^user function ran longer than 100 ms/);
      expect(() => busy([{ n: { deep: 1 } }], [0], ctx)).toThrow(/^user function ran longer than 100 ms/);
      const widen = sandbox.loadBatch('const k = (v) => ({ ...v, b: true });', 'k', 'map');
      expect(widen([{ a: 1 }], [0], ctx)).toEqual({ outputs: [{ a: 1, b: true }] });
      expect(widen([{ n: { deep: 2 } }], [0], ctx)).toEqual({ outputs: [{ n: { deep: 2 }, b: true }] });
      const endless = sandbox.loadBatch('const h = (v) => { for (;;) {} };', 'h', 'map');
      expect(() => endless([1], [0], ctx)).toThrow(/^user function ran longer than 100 ms in one call \(userCode\.cpuMsPerCall\) and was stopped after 300 ms \(\d+ ms of it on the CPU\): an endless loop\?$/);
    } finally {
      sandbox.dispose();
    }
  });
});
