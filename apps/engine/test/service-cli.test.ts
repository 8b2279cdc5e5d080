/**
 * The CLI's side of the service: `sluice serve` (serveEngine) and the REST client
 * behind `sluice submit | list | status | cancel` (apps/cli/src/remote.ts), against a
 * real service on 127.0.0.1.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { TaskManager, processModeAvailability } from '@sluice/engine';
import { createEngineService, serveEngine, type EngineService } from '../dist/service/index.js';
import { cancelCommand, listCommand, savepointCommand, statusCommand, submitCommand, type RemoteIo } from '../../cli/src/remote.js';

let taskManager: TaskManager;
let service: EngineService;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-service-cli-'));
  taskManager = new TaskManager({ slots: 2 });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), taskManager });
});

afterAll(async () => {
  await service.close();
  await taskManager.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

function capture(): RemoteIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: (t) => (out += t), stderr: (t) => (err += t), cwd: dir, out: () => out, err: () => err };
}

const graph = (count: number | null, name: string): JobGraphDocument => ({
  schemaVersion: 1,
  name,
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: count === null ? 100 : 0 } },
    { id: 'out', type: 'collect-sink', config: { name: 'out' } },
  ],
  edges: [{ id: 'e1', source: 'gen', target: 'out' }],
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('sluice savepoint', () => {
  const checkpointed = (): JobGraphDocument => ({ ...graph(null, 'checkpointed'), job: { checkpointing: { enabled: true, intervalMs: 60_000 } } });

  it('takes a savepoint of a running job and prints where it is; --stop stops the job there', async () => {
    writeFileSync(join(dir, 'checkpointed.json'), JSON.stringify(checkpointed()));
    const submitted = capture();
    expect(await submitCommand('checkpointed.json', { url: service.url, env: {} }, submitted)).toBe(0);
    const id = /submitted job (\S+)/.exec(submitted.out())?.[1] ?? '';

    const taken = capture();
    expect(await savepointCommand(id, { url: service.url, env: {} }, taken), taken.err()).toBe(0);
    const location = new RegExp(`^savepoint (\\d+) of job ${id} at (\\S+)\\n$`).exec(taken.out())?.[2];
    expect(location, taken.out()).toBeDefined();
    expect(existsSync(join(location ?? '', '_metadata'))).toBe(true);

    const stopped = capture();
    expect(await savepointCommand(id, { url: service.url, env: {}, stop: true }, stopped), stopped.err()).toBe(0);
    expect(stopped.out()).toMatch(/; the job stopped\n$/);
    const status = capture();
    expect(await statusCommand(id, { url: service.url, env: {} }, status)).toBe(0);
    expect(status.out()).toMatch(new RegExp(`^job ${id} \\(checkpointed\\): (finished|cancelled|stopped)`));
  });

  it('names the reason when a job cannot take a savepoint', async () => {
    writeFileSync(join(dir, 'plain.json'), JSON.stringify(graph(null, 'plain')));
    const submitted = capture();
    expect(await submitCommand('plain.json', { url: service.url, env: {} }, submitted)).toBe(0);
    const id = /submitted job (\S+)/.exec(submitted.out())?.[1] ?? '';
    const refused = capture();
    expect(await savepointCommand(id, { url: service.url, env: {} }, refused)).toBe(1);
    expect(refused.err()).toContain('job.checkpointing.enabled');
    expect(await cancelCommand(id, { url: service.url, env: {} }, capture())).toBe(0);

    const unknown = capture();
    expect(await savepointCommand('no-such-job', { url: service.url, env: {} }, unknown)).toBe(1);
    expect(unknown.err()).toContain('no-such-job');
  });
});

describe('sluice submit, list, status, cancel', () => {
  it('submits a graph file, lists it, shows its status and cancels it', async () => {
    writeFileSync(join(dir, 'forever.json'), JSON.stringify(graph(null, 'forever'), null, 2));
    const submitted = capture();
    expect(await submitCommand('forever.json', { url: service.url, env: {} }, submitted)).toBe(0);
    const id = /submitted job (\S+) \(forever\) to http:\/\/127\.0\.0\.1:\d+/.exec(submitted.out())?.[1];
    expect(id, submitted.out()).toBeDefined();

    const listed = capture();
    expect(await listCommand({ url: service.url, env: {} }, listed)).toBe(0);
    expect(listed.out()).toMatch(/^ID\s+STATUS\s+STARTED \(UTC\)\s+DURATION\s+NAME\n/);
    expect(listed.out()).toContain(`${id ?? ''}  running`);

    const status = capture();
    expect(await statusCommand(id ?? '', { url: service.url, env: {} }, status)).toBe(0);
    expect(status.out()).toMatch(new RegExp(`^job ${id ?? ''} \\(forever\\): running, `));
    expect(status.out()).toContain('task 0: gen → out ×1');

    const cancelled = capture();
    expect(await cancelCommand(id ?? '', { url: service.url, env: {} }, cancelled)).toBe(0);
    expect(cancelled.out()).toBe(`cancelled job ${id ?? ''}\n`);
    const again = capture();
    expect(await cancelCommand(id ?? '', { url: service.url, env: {} }, again)).toBe(1);
    expect(again.err()).toBe(`job '${id ?? ''}' is not running: it was already cancelled\n`);

    const unknown = capture();
    expect(await statusCommand('nope', { url: service.url, env: {} }, unknown)).toBe(1);
    expect(unknown.err()).toBe("no job with id 'nope'\n");
  });

  it('takes the URL from SLUICE_URL and prints JSON with --json', async () => {
    writeFileSync(join(dir, 'small.json'), JSON.stringify(graph(10, 'small')));
    const io = capture();
    expect(await submitCommand('small.json', { json: true, env: { SLUICE_URL: service.url } }, io)).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ name: 'small', status: 'running', warnings: [] });
  });

  it("points at the file's lines when the engine refuses a graph, and at the JSON error before sending", async () => {
    const broken = graph(10, 'broken');
    broken.nodes[0] = { id: 'gen', type: 'generater', config: {} };
    writeFileSync(join(dir, 'broken.json'), JSON.stringify(broken, null, 2));
    const io = capture();
    expect(await submitCommand('broken.json', { url: service.url, env: {} }, io)).toBe(1);
    expect(io.err()).toMatch(/^broken\.json: the engine refused the job: the job graph has \d+ errors?/);
    expect(io.err()).toContain("  broken.json:7:7: nodes[0].type: unknown operator type 'generater'; did you mean 'generator'?\n");

    writeFileSync(join(dir, 'malformed.json'), '{\n  "schemaVersion": 1,,\n}');
    const local = capture();
    expect(await submitCommand('malformed.json', { url: service.url, env: {} }, local)).toBe(1);
    expect(local.err()).toMatch(/^malformed\.json:2:22: invalid JSON/);

    const missing = capture();
    expect(await submitCommand('missing.json', { url: service.url, env: {} }, missing)).toBe(1);
    expect(missing.err()).toBe('missing.json: no such file\n');
  });

  it('says plainly when no engine is reachable (exit 2)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const run of [
      (io: RemoteIo) => listCommand({ url, env: {} }, io),
      (io: RemoteIo) => statusCommand('x', { url, env: {} }, io),
      (io: RemoteIo) => cancelCommand('x', { url, env: {} }, io),
      (io: RemoteIo) => submitCommand('small.json', { url, env: {} }, io),
    ]) {
      const io = capture();
      expect(await run(io)).toBe(2);
      expect(io.err()).toBe(`cannot reach the Sluice engine at ${url} (connection refused). Is it running? Start one with 'sluice serve', or point --url (or SLUICE_URL) at it.\n`);
    }
    const bad = capture();
    expect(await listCommand({ url: 'ftp://x', env: {} }, bad)).toBe(2);
    expect(bad.err()).toBe("--url: 'ftp://x' must start with http:// or https://\n");
  });

  it('asks for a token when the engine needs one, and uses --token or SLUICE_TOKEN', async () => {
    const secured = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'secured'), taskManager, requireToken: true });
    try {
      const without = capture();
      expect(await listCommand({ url: secured.url, env: {} }, without)).toBe(2);
      expect(without.err()).toMatch(/needs a token: pass --token or set SLUICE_TOKEN/);
      const wrong = capture();
      expect(await listCommand({ url: secured.url, token: 'wrong', env: {} }, wrong)).toBe(2);
      expect(wrong.err()).toMatch(/needs a token: the one given is not valid/);
      expect(await listCommand({ url: secured.url, token: secured.token, env: {} }, capture())).toBe(0);
      expect(await listCommand({ env: { SLUICE_URL: secured.url, SLUICE_TOKEN: secured.token } }, capture())).toBe(0);
    } finally {
      await secured.close();
    }
  });
});

describe('sluice serve', () => {
  it('prints where it listens, serves until aborted, and stops cleanly', async () => {
    const abort = new AbortController();
    let out = '';
    let err = '';
    const running = serveEngine({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve'), slots: 1 }, { stdout: (t) => (out += t), stderr: (t) => (err += t), signal: abort.signal });
    const url = await (async () => {
      for (let i = 0; i < 200; i++) {
        const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        if (found) return found;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no banner: ${out}${err}`);
    })();
    expect(out).toContain(`metrics      ${url}/metrics`);
    expect(out).toContain('access       this machine only (no token needed)');
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
    const overview = (await (await fetch(`${url}/api/overview`)).json()) as { slots: number };
    expect(overview.slots).toBe(1);
    abort.abort();
    expect(await running).toBe(0);
    expect(err).toBe('stopping the engine…\n');
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });

  it.skipIf(!processModeAvailability().available)('runs each job in a process of its own with --process-per-job, and says so', async () => {
    const abort = new AbortController();
    let out = '';
    const running = serveEngine(
      { host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve-process'), slots: 1, processPerJob: true, sandbox: { memoryMbPerJob: 300 }, maxCpusPerJob: 3, maxDiskMbPerJob: 500 },
      { stdout: (t) => (out += t), stderr: () => undefined, signal: abort.signal },
    );
    for (let i = 0; i < 200 && !/listening on/.test(out); i++) await new Promise((r) => setTimeout(r, 25));
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
    expect(out).toContain('user code    a confined process per job (300 MB of memory, 3 CPUs and 500 MB of disk per job;');
    const io = capture();
    const file = join(dir, 'process-graph.json');
    writeFileSync(file, JSON.stringify({ ...graph(null, 'in its own process'), nodes: [...graph(null, '').nodes.slice(0, 1), { id: 'map', type: 'map', config: { fn: '(v) => process.pid' } }, graph(null, '').nodes[1]], edges: [{ id: 'e1', source: 'gen', target: 'map' }, { id: 'e2', source: 'map', target: 'out' }] }));
    expect(await submitCommand(file, { url }, io)).toBe(0);
    const jobId = /job (\S+)/.exec(io.out())?.[1] ?? '';
    // The map runs in the job's pid namespace, where it is process 1.
    let rows: Array<{ value: unknown }> = [];
    for (let i = 0; i < 200 && rows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      rows = ((await (await fetch(`${url}/api/jobs/${jobId}/results/out`)).json()) as { rows?: Array<{ value: unknown }> }).rows ?? [];
    }
    expect(rows[0]?.value).toBe(1);
    abort.abort();
    expect(await running).toBe(0);

    let err = '';
    expect(await serveEngine({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve-both'), trusted: true, processPerJob: true }, { stdout: () => undefined, stderr: (t) => (err += t) })).toBe(2);
    expect(err).toBe('sluice serve: cannot start: --trusted and --process-per-job exclude each other: choose one way to run user code\n');
  });

  it('prints a generated token when it needs one, and exits 2 when the port is taken', async () => {
    const abort = new AbortController();
    let out = '';
    const running = serveEngine({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve-token'), slots: 1, requireToken: true }, { stdout: (t) => (out += t), stderr: () => undefined, signal: abort.signal });
    for (let i = 0; i < 200 && !out.includes('token'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(out).toMatch(new RegExp(`admin token  \\S{40,}  \\(generated; kept in ${join(dir, 'serve-token', 'token').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    abort.abort();
    expect(await running).toBe(0);

    let err = '';
    const port = Number(new URL(service.url).port);
    expect(await serveEngine({ host: '127.0.0.1', port, dataDir: join(dir, 'serve-busy'), slots: 1 }, { stdout: () => undefined, stderr: (t) => (err += t) })).toBe(2);
    expect(err).toBe(`sluice serve: 127.0.0.1:${port} is in use (another engine?); choose another with --port\n`);
  });
});
