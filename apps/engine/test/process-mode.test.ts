/**
 * The 'process' user-code mode: each job runs in a process of its own, confined by Node's
 * permission model and Linux namespaces (job-process.ts). User code there runs at full
 * speed and can do anything to its own process; what it must not reach is everything
 * else: files, the network, other processes, the engine's environment, other jobs. Each
 * hostile function below runs as its own job while a well-behaved neighbour job runs
 * beside it (in a process of its own), and the neighbour keeps producing the right output.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { tripwire, type Tripwire } from './tripwire.js';
import { waitFor } from './wait.js';
import { JobManager, ProcessTaskManager, processModeAvailability, SubmissionError, type Job } from '@sluice/engine';

const SECRET = 'engine-secret-7f3a';
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
let dataDir: string;
let outside: string;
let taskManager: ProcessTaskManager;
let jobs: JobManager;

beforeAll(() => {
  // The engine's own environment must not reach a job process.
  process.env['SLUICE_TEST_SECRET'] = SECRET;
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-process-mode-'));
  outside = mkdtempSync(join(tmpdir(), 'sluice-process-outside-'));
  writeFileSync(join(outside, 'private.txt'), SECRET);
  taskManager = new ProcessTaskManager({ userCode: { cpuMsPerCall: 1000, memoryMbPerJob: 512 }, slotsPerJob: 1, maxMessageBytes: MAX_MESSAGE_BYTES });
  jobs = new JobManager(taskManager, { dataDir });
});
afterAll(async () => {
  await taskManager.shutdown();
  delete process.env['SLUICE_TEST_SECRET'];
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

function mapJob(fn: string, count = 3, ratePerSecond = 0): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'map job',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond, keys: 10 } },
      { id: 'fn', type: 'map', config: { fn } },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'fn' },
      { id: 'e2', source: 'fn', target: 'out' },
    ],
  };
}

/** A map whose every record runs `expression` and emits its result, or how it was refused. */
const attempt = (expression: string) => mapJob(`(v) => { try { return String(${expression}); } catch (e) { return 'refused: ' + (e.code ?? e.message); } }`);

const values = (job: Job) => job.results('out').map((r) => r.value);

async function settle(job: Job): Promise<void> {
  await job.done;
  await new Promise((r) => setTimeout(r, 150));
}

async function withNeighbour(hostile: (neighbourId: string) => Promise<void>): Promise<void> {
  const neighbour = await jobs.submit({ ...mapJob('(v) => ({ id: v.id, doubled: v.value * 2 })', 200, 400), name: 'neighbour' });
  await hostile(neighbour.id);
  expect(await neighbour.done).toBe('finished');
  await new Promise((r) => setTimeout(r, 150));
  const rows = values(neighbour) as Array<{ id: number; doubled: number }>;
  expect(rows).toHaveLength(200);
  expect(rows.every((r) => r.doubled === r.id * 2)).toBe(true);
}

const available = processModeAvailability().available;

describe.skipIf(!available)('a job process runs user code at full speed and gives the same results', () => {
  it('runs a chained map job to the same output as trusted code', async () => {
    const job = await jobs.submit(mapJob('(v) => ({ id: v.id, value: v.value * 3 })', 5000));
    await settle(job);
    expect(job.failure).toBeUndefined();
    const rows = values(job) as Array<{ id: number; value: number }>;
    expect(rows).toHaveLength(5000);
    expect(rows.every((r) => r.value === r.id * 3)).toBe(true);
  });

  it('stops with a savepoint and a new job restores the counts from it', async () => {
    const counting = (count: number, rate: number): JobGraphDocument => ({
      schemaVersion: 1,
      name: 'counting',
      // Periodic checkpoints as well: state files written by the job process, acknowledged through the engine's checks.
      job: { checkpointing: { enabled: true, intervalMs: 200 } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: rate, keys: 1 } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        {
          id: 'fn',
          type: 'keyed-process',
          config: { fn: '({ processElement(v, ctx) { const s = ctx.state("n"); const n = (s.value() ?? 0) + 1; s.update(n); ctx.collect(n); } })', states: [{ kind: 'value', name: 'n' }] },
        },
        { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'k' },
        { id: 'e2', source: 'k', target: 'fn' },
        { id: 'e3', source: 'fn', target: 'out' },
      ],
    });
    const first = await jobs.submit(counting(1_000_000, 500));
    expect(await waitFor(() => first.checkpoints().filter((c) => c.status === 'completed').length >= 2, 15_000)).toBe(true);
    const savepoint = await first.stopWithSavepoint();
    await settle(first);
    const before = values(first) as number[];
    expect(before.length).toBeGreaterThan(0);
    expect(before).toEqual(before.map((_, i) => i + 1));
    // The state file is in the job's own savepoint directory.
    expect(savepoint.directory.startsWith(join(dataDir, 'savepoints', first.id))).toBe(true);
    expect(readdirSync(savepoint.directory).some((f) => f.endsWith('.state'))).toBe(true);
    // The generator resumes after the records the savepoint covers, and the counts go on from there.
    const second = await jobs.submit(counting(before.length + 50, 0), { restoreFrom: savepoint.directory });
    await settle(second);
    expect(second.failure).toBeUndefined();
    expect(values(second)).toEqual(Array.from({ length: 50 }, (_, i) => before.length + i + 1));
  });
});

describe.skipIf(!available)('a job process reads the files its sources name and writes where its sinks do, nothing beside them', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-process-files-'));
    mkdirSync(join(dir, 'in'));
    for (const [name, from] of [['a.jsonl', 0], ['b.jsonl', 500]] as const) {
      writeFileSync(join(dir, 'in', name), Array.from({ length: 500 }, (_, i) => JSON.stringify({ id: from + i, timestamp: 1000 + from + i }) + '\n').join(''));
    }
    writeFileSync(join(dir, 'beside.txt'), SECRET);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const fileJob = (source: string, sink: string, fn: string): JobGraphDocument => ({
    schemaVersion: 1,
    name: 'file job',
    job: { checkpointing: { enabled: true, intervalMs: 100 } },
    nodes: [
      { id: 'in', type: 'file-source', config: { path: source, format: 'jsonl' } },
      { id: 'fn', type: 'map', config: { fn } },
      // Small part files: several roll, each closed (synced) and committed on a checkpoint.
      { id: 'out', type: 'file-sink', config: { path: sink, format: 'jsonl', rolling: { maxRecords: 200 } } },
    ],
    edges: [
      { id: 'e1', source: 'in', target: 'fn' },
      { id: 'e2', source: 'fn', target: 'out' },
    ],
  });

  it('reads a directory of files and commits an exactly-once file sink: every line once, in committed part files', async () => {
    const besides = JSON.stringify(join(dir, 'beside.txt'));
    const fn = `(v) => { let beside; try { beside = process.getBuiltinModule('fs').readFileSync(${besides}, 'utf8'); } catch (e) { beside = 'refused: ' + e.code; } return { id: v.id, beside }; }`;
    const job = await jobs.submit(fileJob(join(dir, 'in'), join(dir, 'out'), fn));
    expect(await job.done).toBe('finished');
    const committed = readdirSync(join(dir, 'out')).filter((name) => !name.startsWith('.'));
    expect(committed.length).toBeGreaterThan(1);
    const rows = committed.flatMap((name) => readFileSync(join(dir, 'out', name), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { id: number; beside: string }));
    expect(rows.map((r) => r.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // The source's directory is the job's to read; a file beside it is not.
    expect(new Set(rows.map((r) => r.beside))).toEqual(new Set(['refused: ERR_ACCESS_DENIED']));
  });

  it("refuses a file path in the engine's data directory at submit, naming the field", async () => {
    const error = await jobs.submit(fileJob(join(dataDir, 'jobs'), join(dir, 'out2'), '(v) => v')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubmissionError);
    expect((error as SubmissionError).problems).toEqual([expect.objectContaining({ path: 'nodes[0].config.path', nodeId: 'in', message: expect.stringMatching(/engine's data directory/) })]);
  });
});

describe.skipIf(!available)('hostile user functions in a job process are blocked or contained, and other jobs keep running', () => {
  const blocked: Array<[string, () => string, RegExp]> = [
    ['reads a file outside the job (fs.readFileSync)', () => `process.getBuiltinModule('fs').readFileSync(${JSON.stringify(join(outside, 'private.txt'))}, 'utf8')`, /^refused: ERR_ACCESS_DENIED$/],
    ['reads /etc/passwd', () => "process.getBuiltinModule('fs').readFileSync('/etc/passwd', 'utf8')", /^refused: ERR_ACCESS_DENIED$/],
    ["lists the engine's data directory", () => `process.getBuiltinModule('fs').readdirSync(${JSON.stringify(dataDir)})`, /^refused: ERR_ACCESS_DENIED$/],
    ['writes a file outside the job', () => `process.getBuiltinModule('fs').writeFileSync(${JSON.stringify(join(outside, 'written.txt'))}, 'x')`, /^refused: ERR_ACCESS_DENIED$/],
    ['spawns a process (child_process)', () => "process.getBuiltinModule('child_process').execSync('id')", /^refused: ERR_ACCESS_DENIED$/],
    ['reaches internal bindings (process.binding)', () => "process.binding('fs')", /^refused: ERR_ACCESS_DENIED$/],
    ['loads a native addon (process.dlopen)', () => "process.dlopen({ exports: {} }, '/usr/lib/x86_64-linux-gnu/libc.so.6')", /^refused: ERR_DLOPEN_DISABLED$/],
    ["opens an inspector session on its process's main thread", () => "new (process.getBuiltinModule('inspector').Session)().connectToMainThread()", /^refused: ERR_ACCESS_DENIED$/],
    ['signals the engine process (process.kill)', () => `process.kill(${process.pid}, 'SIGTERM')`, /^refused: ESRCH$/],
    ["reads the engine's environment", () => 'JSON.stringify(process.env)', /^(?!.*engine-secret).*$/],
    ['reaches process through this.constructor.constructor and sees only its own namespace', () => "v.constructor.constructor('return process')().pid", /^1$/],
  ];

  it.each(blocked)('%s', async (_name, expression, expected) => {
    await withNeighbour(async () => {
      const job = await jobs.submit(attempt(expression()));
      await settle(job);
      expect(job.failure).toBeUndefined();
      const rows = values(job) as string[];
      expect(rows).toHaveLength(3);
      for (const row of rows) expect(row).toMatch(expected);
    });
    expect(existsSync(join(outside, 'written.txt'))).toBe(false);
  });

  describe('the network', () => {
    let wire: Tripwire;
    beforeAll(async () => {
      wire = await tripwire();
    });
    afterAll(() => wire.close());

    it("cannot reach a server on the engine's loopback, by net.connect or by fetch", async () => {
      const job = await jobs.submit(
        mapJob(
          `(v) => {
            const socket = process.getBuiltinModule('net').connect(${wire.port}, '127.0.0.1');
            socket.on('error', () => {});
            fetch('http://127.0.0.1:${wire.port}/').catch(() => {});
            return v.id;
          }`,
          200,
          200,
        ),
      );
      await settle(job);
      expect(job.failure).toBeUndefined();
      await new Promise((r) => setTimeout(r, 300));
      expect(wire.connections()).toBe(0);
    });
  });

  const contained: Array<[string, string, RegExp]> = [
    ['loops forever: while (true) {}', '(v) => { while (true) {} }', /slot 0 answered no heartbeat for \d+ s and was replaced .*a user function that never returns/],
    // V8's own out-of-memory error in the slot, or the engine's watch on the process's memory, whichever comes first.
    ['allocates without end in its slot', '(v) => { const a = []; for (;;) a.push(new Array(1_000_000).fill(1.5)); }', /slot 0 died: .*memory|process used \d+ MB of memory, above its limit of 512 MB/i],
    [
      'allocates without end in worker threads it starts',
      `(v) => {
        const { Worker } = process.getBuiltinModule('worker_threads');
        for (let i = 0; i < 8; i++) new Worker('const a = []; for (;;) a.push(new Array(1_000_000).fill(1.5));', { eval: true });
        for (;;) {}
      }`,
      /process used \d+ MB of memory, above its limit of 512 MB \(userCode.memoryMbPerJob\)/,
    ],
    ['exits its thread (process.exit)', '(v) => process.exit(3)', /slot 0 died: its worker thread exited with code 3/],
    [
      'posts a message of a type the engine does not know',
      "(v) => { process.getBuiltinModule('worker_threads').parentPort.postMessage({ type: 'take-over', jobId: JOB, attempt: 0 }); return v.id; }",
      /process sent a message of unknown type "take-over"; the engine stopped it/,
    ],
    [
      'acknowledges a checkpoint with a state file outside its directories',
      `(v) => { process.getBuiltinModule('worker_threads').parentPort.postMessage({ type: 'checkpoint-ack', jobId: JOB, attempt: 0, taskId: 0, subtaskIndex: 0, ack: { checkpointId: 1, nodes: [], file: '/etc/passwd', bytes: 1, sha256: '', alignmentMs: 0, syncMs: 0, asyncMs: 0 } }); return v.id; }`,
      /checkpoint acknowledgement naming a state file outside the job's directories \("\/etc\/passwd"\)/,
    ],
    [
      // Node's IPC channel read such a message whole into the engine's memory before anyone looked at it.
      'posts a message larger than the engine takes (32 MB, above maxMessageBytes): refused from its length, before its bytes are read',
      "(v) => { globalThis.sent ??= process.getBuiltinModule('worker_threads').parentPort.postMessage({ type: 'print', jobId: JOB, attempt: 0, lines: ['x'.repeat(32 * 1024 * 1024)] }) ?? 1; return v.id; }",
      new RegExp(`process sent a message of \\d+ bytes, above the limit of ${MAX_MESSAGE_BYTES} \\(maxMessageBytes\\); the engine stopped it`),
    ],
    [
      // 2^40 paths to one string in a few hundred bytes: the engine's log would write it out.
      'posts a small message of shared references that unfolds to terabytes',
      "(v) => { let x = ['x'.repeat(100)]; for (let i = 0; i < 40; i++) x = [x, x]; process.getBuiltinModule('worker_threads').parentPort.postMessage({ type: 'log', jobId: JOB, attempt: 0, level: 'info', message: 'm', fields: { x } }); return v.id; }",
      /process sent a message of \d+ bytes that unfolds to more than 4 times that \(shared or cyclic references\); the engine stopped it/,
    ],
    [
      'posts a message that refers to itself',
      "(v) => { const x = { type: 'log', jobId: JOB, attempt: 0, level: 'info', message: 'm', fields: {} }; x.fields.self = x; process.getBuiltinModule('worker_threads').parentPort.postMessage(x); return v.id; }",
      /process sent a message of \d+ bytes that unfolds to more than 4 times that \(shared or cyclic references\); the engine stopped it/,
    ],
    [
      'writes a frame header of its own on the pipe to the engine, announcing 4 GB',
      "(v) => { globalThis.sent ??= process.getBuiltinModule('fs').writeSync(3, Buffer.from([255, 255, 255, 255])); return v.id; }",
      /process sent a message (of \d+ bytes, above the limit of \d+ \(maxMessageBytes\)|that does not deserialize .*); the engine stopped it/,
    ],
    [
      'writes bytes that are not a message on the pipe to the engine',
      "(v) => { globalThis.sent ??= process.getBuiltinModule('fs').writeSync(3, Buffer.from([0, 0, 0, 4, 1, 2, 3, 4])); return v.id; }",
      /process sent a message (that does not deserialize .*|of \d+ bytes, above the limit of \d+ \(maxMessageBytes\)); the engine stopped it/,
    ],
  ];

  it.each(contained)('%s', async (_name, fn, failure) => {
    await withNeighbour(async () => {
      // The job's own id, for a forged message that names it to pass the engine's first check.
      const jobId = randomUUID();
      const job = await jobs.submit(mapJob(fn.replace('JOB', JSON.stringify(jobId)), 1_000_000, 1000), { jobId });
      await settle(job);
      expect(job.status).toBe('failed');
      expect(job.failure?.message).toMatch(failure);
    });
  }, 30_000);

  it('spins in threads it starts itself, which no heartbeat watches: stopped for the CPUs it takes, naming them and the limit', async () => {
    // A limit of one CPU over 3 s, so that two cores are enough to exceed it.
    const limited = new ProcessTaskManager({ slotsPerJob: 1, maxCpusPerJob: 1, cpuWindowMs: 3000 });
    try {
      const limitedJobs = new JobManager(limited, { dataDir: join(dataDir, 'cpu-limited') });
      await withNeighbour(async () => {
        const spin = "(v) => { globalThis.spun ??= [1, 2, 3].map(() => new (process.getBuiltinModule('worker_threads').Worker)('for (;;) {}', { eval: true })); return v.id; }";
        const job = await limitedJobs.submit(mapJob(spin, 1_000_000, 100));
        await settle(job);
        expect(job.status).toBe('failed');
        expect(job.failure?.message).toMatch(/process used \d+\.\d CPUs over the last 3 s, above its limit of 1 \(maxCpusPerJob; threads the job starts itself count too\); it was stopped/);
      });
    } finally {
      await limited.shutdown();
    }
  }, 30_000);

  it('sends the engine messages faster than messageBytesPerSecond: the engine reads it slower, and says so', async () => {
    const warnings: string[] = [];
    const limited = new ProcessTaskManager({ slotsPerJob: 1, messageBytesPerSecond: 1024 * 1024, log: (level, message) => level === 'warn' && warnings.push(message) });
    try {
      const limitedJobs = new JobManager(limited, { dataDir: join(dataDir, 'rate-limited') });
      await withNeighbour(async () => {
        const jobId = randomUUID();
        // Each record: 50 valid messages the engine must read, check and hand on (5,000 a second).
        const flood = `(v) => { const port = process.getBuiltinModule('worker_threads').parentPort; for (let i = 0; i < 50; i++) port.postMessage({ type: 'metrics', jobId: ${JSON.stringify(jobId)}, attempt: 0, tasks: [] }); return v.id; }`;
        const job = await limitedJobs.submit(mapJob(flood, 1_000_000, 100), { jobId });
        expect(await waitFor(() => warnings.length > 0 || job.status !== 'running', 20_000)).toBe(true);
        expect({ status: job.status, failure: job.failure?.message }).toEqual({ status: 'running', failure: undefined });
        expect(warnings).toEqual([`job ${jobId}'s process sends the engine more than 1048576 bytes a second (messageBytesPerSecond); the engine reads it slower`]);
        expect(job.status).toBe('running');
        job.cancel();
      });
    } finally {
      await limited.shutdown();
    }
  }, 40_000);

  it("fills its file sink's directory past maxDiskMbPerJob: stopped, naming what it took and the limit; what the directory held before is not the job's", async () => {
    const limited = new ProcessTaskManager({ slotsPerJob: 1, maxDiskMbPerJob: 20 });
    const sinkDir = mkdtempSync(join(tmpdir(), 'sluice-disk-sink-'));
    try {
      // 30 MB the directory held before: above the limit, and not the job's doing.
      writeFileSync(join(sinkDir, 'before.bin'), Buffer.alloc(30 * 1024 * 1024, 1));
      const limitedJobs = new JobManager(limited, { dataDir: join(dataDir, 'disk-limited') });
      const filling = (fn: string, count: number, rate: number): JobGraphDocument => ({
        schemaVersion: 1,
        name: 'filling',
        nodes: [
          { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: rate, keys: 10 } },
          { id: 'fn', type: 'map', config: { fn } },
          { id: 'files', type: 'file-sink', config: { path: sinkDir, format: 'jsonl' } },
        ],
        edges: [
          { id: 'e1', source: 'gen', target: 'fn' },
          { id: 'e2', source: 'fn', target: 'files' },
        ],
      });
      const write = (mb: number) => `(v) => { process.getBuiltinModule('fs').writeFileSync(${JSON.stringify(sinkDir)} + '/fill-' + v.id, Buffer.alloc(${mb} * 1024 * 1024, 1)); return v; }`;
      await withNeighbour(async () => {
        // 10 MB, for 3 s: within the limit.
        const within = await limitedJobs.submit(filling(write(1), 10, 3));
        expect(await within.done).toBe('finished');
        // 1 MB a record, 50 a second, until stopped.
        const job = await limitedJobs.submit(filling(write(1), 1_000_000, 50));
        await settle(job);
        expect(job.status).toBe('failed');
        expect(job.failure?.message).toMatch(/job [0-9a-f-]+'s directories took (more than )?\d+ MB more disk than when it started, above its limit of 20 MB \(maxDiskMbPerJob; its checkpoints, savepoints and file sinks' directories\); it was stopped/);
      });
    } finally {
      await limited.shutdown();
      rmSync(sinkDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('an engine killed outright leaves no job process behind: each ends when its pipe to the engine closes', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const engine = spawn(process.execPath, ['apps/cli/bin/sluice.js', 'serve', '--port', '0', '--slots', '1', '--data-dir', join(dataDir, 'killed-engine')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    engine.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      expect(await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 20_000)).toBe(true);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      const submitted = await fetch(`${url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ graph: mapJob('(v) => v.id', 1_000_000, 100) }) });
      const { id } = (await submitted.json()) as { id: string };
      // The job's process (node running job-host.js with the job's id in its settings) and the unshare above it.
      const hosts = () =>
        readdirSync('/proc')
          .filter((pid) => /^\d+$/.test(pid))
          .filter((pid) => {
            try {
              const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
              return cmdline.includes('job-host.js') && cmdline.includes(id);
            } catch {
              return false;
            }
          });
      expect(await waitFor(() => hosts().length === 2, 20_000)).toBe(true);
      engine.kill('SIGKILL');
      expect(await waitFor(() => hosts().length === 0, 10_000)).toBe(true);
    } finally {
      engine.kill('SIGKILL');
    }
  }, 60_000);

  it('a job process that dies fails its job with the reason, and other jobs keep running', async () => {
    await withNeighbour(async () => {
      const job = await jobs.submit(mapJob('(v) => v.id', 1_000_000, 1000));
      await waitFor(() => values(job).length > 0 || job.status !== 'running', 30_000);
      expect({ status: job.status, failure: job.failure?.message, rows: values(job).length > 0 }).toEqual({ status: 'running', failure: undefined, rows: true });
      process.kill(taskManager.pidOf(job.id) as number, 'SIGKILL');
      await settle(job);
      expect(job.status).toBe('failed');
      expect(job.failure?.message).toMatch(/job [0-9a-f-]+'s process exited \(signal SIGKILL\)/);
    });
  });

  it('acknowledges a checkpoint with a state file that is not there: the checkpoint is declined, the job runs on', async () => {
    // What a job that reaches its end does by accident: the checkpoint's directory is gone
    // by the time the engine would sync the file its acknowledgement names.
    const jobId = randomUUID();
    const missing = JSON.stringify(join(dataDir, 'checkpoints', jobId, 'chk-999', 'task-0-subtask-0.state'));
    const ack = `{ type: 'checkpoint-ack', jobId: ${JSON.stringify(jobId)}, attempt: 0, taskId: 0, subtaskIndex: 0, ack: { checkpointId: 999, nodes: [], file: ${missing}, bytes: 1, sha256: '', alignmentMs: 0, syncMs: 0, asyncMs: 0 } }`;
    const job = await jobs.submit(mapJob(`(v) => { if (v.id === 0) process.getBuiltinModule('worker_threads').parentPort.postMessage(${ack}); return v.id; }`, 50, 100), { jobId });
    await settle(job);
    expect(job.failure).toBeUndefined();
    expect(values(job)).toHaveLength(50);
  });

  it('cannot fail another job by posting a forged message about it', async () => {
    await withNeighbour(async (neighbourId) => {
      const forge = `process.getBuiltinModule('worker_threads').parentPort.postMessage({ type: 'failed', jobId: ${JSON.stringify(neighbourId)}, attempt: 0, taskId: 0, subtaskIndex: 0, failure: { message: 'forged' } })`;
      const job = await jobs.submit(mapJob(`(v) => { ${forge}; return v.id; }`, 50, 100));
      await settle(job);
      expect(job.failure).toBeUndefined();
      expect(values(job)).toHaveLength(50);
    });
  });

  const forgedNative = (jobId: string, handle: Record<string, unknown>) => {
    const dir = join(dataDir, 'checkpoints', jobId, 'chk-1');
    const native = { fn: { privateDirectory: join(dir, 'native'), sharedDirectory: join(dataDir, 'checkpoints', jobId, 'shared'), private: [], shared: [], ...handle } };
    const ack = { type: 'checkpoint-ack', jobId, attempt: 0, taskId: 0, subtaskIndex: 0, ack: { checkpointId: 1, nodes: [], file: join(dir, 'task-0-subtask-0.state'), bytes: 1, sha256: '', alignmentMs: 0, syncMs: 0, asyncMs: 0, native } };
    return `(v) => { process.getBuiltinModule('worker_threads').parentPort.postMessage(${JSON.stringify(ack)}); return v.id; }`;
  };
  it.each([
    ['a private directory outside its own', { privateDirectory: '/etc' }, /native state of 'fn' names a directory outside the job's directories \("\/etc"\)/],
    ['a shared file whose database name climbs out of the directory', { shared: [{ name: 'a.sst', localName: '../../../victim.sst', bytes: 1, sha256: '' }] }, /native state of 'fn' lists a file that is not a plain name/],
  ] as const)('acknowledges a checkpoint whose native (RocksDB) state names %s: the engine stops it', async (_name, handle, failure) => {
    await withNeighbour(async () => {
      const jobId = randomUUID();
      const job = await jobs.submit(mapJob(forgedNative(jobId, handle), 1_000_000, 1000), { jobId });
      await settle(job);
      expect(job.status).toBe('failed');
      expect(job.failure?.message).toMatch(failure);
    });
  }, 30_000);
});

describe.skipIf(!available)('RocksDB state in a job process (the addon loads there, inside the jail)', () => {
  const COUNT = 6000;
  const KEYS = 5;
  // Per key a running count, and a list that grows by 2000 bytes a record: 12 MB in all,
  // well past a 4 MB memtable budget, so RocksDB writes SST files early that incremental
  // checkpoints share.
  const counting: JobGraphDocument = {
    schemaVersion: 1,
    name: 'rocksdb counting',
    job: {
      checkpointing: { enabled: true, intervalMs: 150 },
      restartStrategy: { type: 'fixed-delay', attempts: 3, delayMs: 100 },
      stateBackend: { type: 'rocksdb', memtableMb: 4, writeBufferKb: 64 },
    },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: COUNT, ratePerSecond: 1500, keys: KEYS } },
      { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      {
        id: 'fn',
        type: 'keyed-process',
        config: {
          fn: '({ processElement(v, ctx) { const s = ctx.state("n"); const n = (s.value() ?? 0) + 1; s.update(n); ctx.state("pad").add("x".repeat(2000)); ctx.collect({ key: v.key, n }); } })',
          states: [
            { kind: 'value', name: 'n' },
            { kind: 'list', name: 'pad' },
          ],
        },
      },
      { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 1_000_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'k' },
      { id: 'e2', source: 'k', target: 'fn' },
      { id: 'e3', source: 'fn', target: 'out' },
    ],
  };

  it('restarts from its newest incremental checkpoint after its process is killed: every count of every key exactly once', async () => {
    const job = await jobs.submit(counting);
    const local = join(dataDir, 'checkpoints', job.id, 'local-state', job.id, 'attempt-0');
    const shared = join(dataDir, 'checkpoints', job.id, 'shared');
    const sharedFiles = () => (existsSync(shared) ? readdirSync(shared) : []);
    expect(await waitFor(() => job.checkpoints().filter((c) => c.status === 'completed').length >= 2 && sharedFiles().length > 0, 30_000)).toBe(true);
    // The working databases sit beside the checkpoints, on the same mount in the jail: shared files are hard links, not copies.
    expect(existsSync(local)).toBe(true);
    expect(sharedFiles().some((name) => statSync(join(shared, name)).nlink >= 2)).toBe(true);
    process.kill(taskManager.pidOf(job.id) as number, 'SIGKILL');
    expect(await waitFor(() => job.status !== 'running' || job.restarts > 0, 20_000)).toBe(true);
    await settle(job);
    expect(job.failure).toBeUndefined();
    expect(job.restarts).toBe(1);
    const rows = values(job) as Array<{ key: number; n: number }>;
    expect(rows).toHaveLength(COUNT);
    for (let key = 0; key < KEYS; key++) {
      const counts = rows.filter((r) => r.key === key).map((r) => r.n);
      expect(counts).toEqual(counts.map((_, i) => i + 1));
    }
    // The killed process could not drop its working databases; the engine did.
    expect(existsSync(local)).toBe(false);
  }, 60_000);

  it("a new job restores from another job's incremental checkpoint, reading its shared files: the two runs' counts add up exactly once", async () => {
    const first = await jobs.submit(counting);
    // A completed checkpoint that lists shared files: the restore links (or, read-only, copies) them.
    const listsShared = (directory: string) => {
      try {
        const metadata = JSON.parse(readFileSync(join(directory, '_metadata'), 'utf8')) as { subtasks: Array<{ native?: Record<string, { shared: unknown[] }> }> };
        return metadata.subtasks.some((s) => Object.values(s.native ?? {}).some((h) => h.shared.length > 0));
      } catch {
        return false; // pruned meanwhile: a newer one completed
      }
    };
    const completed = () => first.checkpoints().filter((c) => c.status === 'completed');
    expect(await waitFor(() => completed().length >= 2 && listsShared(completed().at(-1)?.directory ?? ''), 30_000)).toBe(true);
    first.cancel();
    await settle(first);
    const latest = completed().at(-1);
    expect(listsShared(latest?.directory ?? '')).toBe(true);
    const second = await jobs.submit(counting, { restoreFrom: latest?.directory ?? '' });
    await settle(second);
    expect(second.failure).toBeUndefined();
    const rows = [...values(first), ...values(second)] as Array<{ key: number; n: number }>;
    expect(rows).toHaveLength(COUNT);
    for (let key = 0; key < KEYS; key++) {
      const counts = rows.filter((r) => r.key === key).map((r) => r.n);
      expect(counts).toEqual(counts.map((_, i) => i + 1));
    }
  }, 60_000);
});
