/**
 * The file allow-list of a hosted engine: file sources and sinks open paths with the
 * engine's rights, so without it a tenant could read the admin token from the data
 * directory (through a collect sink or the dead-letter output), another tenant's files,
 * or any file of the host. With it, a tenant's files live under `<dir>/<tenant>/`, the
 * admin's under the listed directories, and the data directory is never reachable, not
 * through `..` and not through a symbolic link.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { createEngineService, JobManager, parseFileAllow, TaskManager, type CreatedToken, type EngineService } from '@sluice/engine';

const ADMIN = 'the-admin-token-for-the-file-allow-list-tests';

let dir: string;
let dataDir: string;
let files: string;
let taskManager: TaskManager;
let service: EngineService;
let acme: CreatedToken;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-file-allow-'));
  dataDir = join(dir, 'data');
  files = join(dir, 'files');
  mkdirSync(join(files, 'acme'), { recursive: true });
  mkdirSync(join(files, 'globex'), { recursive: true });
  writeFileSync(join(files, 'acme', 'in.jsonl'), '{"line":"alpha","timestamp":1}\n{"line":"beta","timestamp":2}\n{"line":"gamma","timestamp":3}\n');
  writeFileSync(join(files, 'globex', 'secret.jsonl'), '{"secret":true}\n');
  taskManager = new TaskManager({ slots: 1 });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, jobManager: new JobManager(taskManager, { dataDir }), token: ADMIN, fileAllow: [files] });
  acme = await service.tenants.create('acme', Date.now());
  // A link inside acme's own directory that leads into the data directory.
  symlinkSync(dataDir, join(files, 'acme', 'escape'));
});

afterAll(async () => {
  for (const job of service.jobManager.list()) if (job.status === 'running') job.cancel();
  await service.close();
  await taskManager.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

const reading = (path: string): JobGraphDocument => ({
  schemaVersion: 1,
  name: 'read a file',
  nodes: [
    { id: 'src', type: 'file-source', config: { path, format: 'jsonl' } },
    { id: 'out', type: 'collect-sink', config: { name: 'out' } },
  ],
  edges: [{ id: 'e1', source: 'src', target: 'out' }],
});

const writing = (path: string): JobGraphDocument => ({
  schemaVersion: 1,
  name: 'write a file',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 3 } },
    { id: 'sink', type: 'file-sink', config: { path, format: 'jsonl' } },
  ],
  edges: [{ id: 'e1', source: 'gen', target: 'sink' }],
});

async function submit(token: string, graph: JobGraphDocument): Promise<{ status: number; body: { error?: string; problems?: Array<{ path: string; message: string; nodeId?: string }>; id?: string } }> {
  const response = await service.inject({ method: 'POST', url: '/api/jobs', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ graph }) });
  return { status: response.statusCode, body: JSON.parse(response.body) as { error?: string; id?: string } };
}

describe('parseFileAllow', () => {
  it("takes directories (absolute from the working directory) and '*' for any", () => {
    expect(parseFileAllow(['*'])).toEqual({ any: true });
    expect(parseFileAllow([])).toEqual({ any: false, directories: [] });
    expect(() => parseFileAllow([''])).toThrow("--file-allow (fileAllow): '' is not a directory path");
  });
});

describe('file sources and sinks on a hosted engine', () => {
  it("refuses a tenant's file source on the admin token file, for the admin too (the data directory is never allowed)", async () => {
    for (const token of [acme.token, ADMIN]) {
      const answer = await submit(token, reading(join(dataDir, 'token')));
      expect(answer.status).toBe(400);
      expect(answer.body.problems).toEqual([
        {
          in: 'graph',
          path: 'nodes[0].config.path',
          nodeId: 'src',
          message: `file path '${join(dataDir, 'token')}' is inside the engine's data directory, which jobs may never read or write (it holds tokens and every tenant's checkpoints)`,
        },
      ]);
    }
    // Nor through a symbolic link inside the tenant's own directory.
    const linked = await submit(acme.token, reading(join(files, 'acme', 'escape', 'token')));
    expect(linked.status).toBe(400);
    expect(linked.body.problems?.[0]?.message).toMatch(/is inside the engine's data directory/);
    expect(service.jobManager.list()).toEqual([]);
  });

  it("keeps a tenant inside <dir>/<tenant>: another tenant's files, '..' and the rest of the host are refused with the setting named", async () => {
    const allowed = `allowed: ${join(files, 'acme')}`;
    for (const path of [join(files, 'globex', 'secret.jsonl'), join(files, 'acme', '..', 'globex', 'secret.jsonl'), '/etc/passwd', files]) {
      const answer = await submit(acme.token, reading(path));
      expect(answer.status, path).toBe(400);
      expect(answer.body.problems?.[0]?.message).toBe(`file path '${path}' is outside the directories this engine lets tenant 'acme' use (setting --file-allow (fileAllow); ${allowed})`);
    }
    const sink = await submit(acme.token, writing(join(dir, 'elsewhere')));
    expect(sink.status).toBe(400);
    expect(sink.body.problems).toEqual([expect.objectContaining({ path: 'nodes[1].config.path', nodeId: 'sink' })]);
  });

  it("runs a tenant's job on its own files: the source reads them and the sink writes beside them", async () => {
    const read = await submit(acme.token, reading(join(files, 'acme', 'in.jsonl')));
    expect(read.status, read.body.error).toBe(201);
    const job = service.jobManager.get(read.body.id ?? '');
    expect(await job?.done).toBe('finished');
    expect(job?.results('out').map((r) => (r.value as { line: string }).line)).toEqual(['alpha', 'beta', 'gamma']);

    const write = await submit(acme.token, writing(join(files, 'acme', 'out')));
    expect(write.status, write.body.error).toBe(201);
    expect(await service.jobManager.get(write.body.id ?? '')?.done).toBe('finished');
    const written = readdirSync(join(files, 'acme', 'out')).filter((f) => !f.startsWith('.'));
    expect(written.flatMap((f) => readFileSync(join(files, 'acme', 'out', f), 'utf8').trim().split('\n'))).toHaveLength(3);
  });

  it("lets the admin use any path under the listed directories, including a tenant's", async () => {
    const answer = await submit(ADMIN, reading(join(files, 'globex', 'secret.jsonl')));
    expect(answer.status, answer.body.error).toBe(201);
    expect(await service.jobManager.get(answer.body.id ?? '')?.done).toBe('finished');
  });

  it('allows no directory by default on an engine that requires a token', async () => {
    const defaultDir = join(dir, 'default');
    const hosted = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: defaultDir, jobManager: new JobManager(taskManager, { dataDir: defaultDir }), token: ADMIN });
    try {
      expect(hosted.fileAllow).toEqual({ any: false, directories: [] });
      const response = await hosted.inject({ method: 'POST', url: '/api/jobs', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, payload: JSON.stringify({ graph: reading(join(files, 'acme', 'in.jsonl')) }) });
      expect(response.statusCode).toBe(400);
      expect((JSON.parse(response.body) as { error: string }).error).toMatch(/setting --file-allow \(fileAllow\); allowed: none\)$/);
    } finally {
      await hosted.close();
    }
  });
});
