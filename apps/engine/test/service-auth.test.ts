/**
 * Token auth of a network-facing engine (issue 10, part 5), on REST and Socket.IO, with
 * the engine's own (admin) token.
 *
 * Without a token, or with a wrong one, nothing but health and the API description
 * answers, and no Socket.IO connection is made, so no job's room can be joined. The
 * admin token reaches every job; rooms keep telemetry apart (a client receives frames
 * only of the jobs it subscribed to). Tenant tokens, which reach only their tenant's
 * jobs, are tested in service-tenants.test.ts.
 *
 * Tests bind only to loopback; `requireToken: true` gives the policy of a bind to any
 * other address (service-rest.test.ts checks that such a bind requires one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { buildOpenApiDocument, createEngineService, JobManager, TaskManager, type EngineService, type Job } from '@sluice/engine';

let dir: string;
let taskManager: TaskManager;
let service: EngineService;
let jobA: Job;
let jobB: Job;
const TOKEN = 'a-configured-token-of-enough-length-0123456789';

const paced = (name: string): JobGraphDocument => ({
  schemaVersion: 1,
  name,
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 200, keys: 5 } },
    { id: 'out', type: 'blackhole-sink', config: {} },
  ],
  edges: [{ id: 'e1', source: 'gen', target: 'out' }],
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-auth-'));
  taskManager = new TaskManager({ slots: 1 });
  const jobs = new JobManager(taskManager, { dataDir: join(dir, 'engine') });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'service'), jobManager: jobs, token: TOKEN, telemetry: { frameMs: 200 } });
  jobA = await jobs.submit(paced('job A'));
  jobB = await jobs.submit(paced('job B'));
});
afterAll(async () => {
  await service.close();
  await taskManager.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

const routes = (() => {
  const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, { operationId: string }>> };
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase() as 'GET' | 'POST', path, operationId: op.operationId })));
})();
const PUBLIC = new Set(['getHealth', 'getOpenApi', 'getGraphSchema']);

describe('REST with a token required', () => {
  it('answers every protected route 401 without a token, with a wrong one, and with the token anywhere but the Authorization header', async () => {
    expect(routes.length).toBeGreaterThan(15);
    for (const route of routes.filter((r) => !PUBLIC.has(r.operationId))) {
      const url = route.path.replace('{id}', jobA.id).replace(/\{\w+\}/g, '1');
      const payload = route.method === 'POST' ? JSON.stringify({ graph: paced('x') }) : undefined;
      const headers = (extra: Record<string, string>) => ({ ...(payload ? { 'content-type': 'application/json' } : {}), ...extra });
      const attempts: Array<[string, Record<string, string>, string]> = [
        ['no token', headers({}), url],
        ['a wrong token', headers({ authorization: 'Bearer not-the-token' }), url],
        ['the token without Bearer', headers({ authorization: TOKEN }), url],
        ['Basic auth', headers({ authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` }), url],
        ['the token in the query', headers({}), `${url}${url.includes('?') ? '&' : '?'}token=${TOKEN}`],
        ['the token in a cookie', headers({ cookie: `token=${TOKEN}` }), url],
        ['a token one character short', headers({ authorization: `Bearer ${TOKEN.slice(0, -1)}` }), url],
      ];
      for (const [what, h, target] of attempts) {
        const response = await service.inject({ method: route.method, url: target, headers: h, ...(payload ? { payload } : {}) });
        expect(response.statusCode, `${route.operationId} with ${what}`).toBe(401);
        expect(response.headers['www-authenticate']).toBe('Bearer realm="sluice"');
        expect(JSON.parse(response.body).error).toMatch(/^(a bearer token is required|the bearer token is not valid)/);
      }
    }
    // Nothing was started, cancelled or stopped by the refused calls.
    expect(jobA.status).toBe('running');
    expect(service.jobManager.list()).toHaveLength(2);
  });

  it('serves health and the API description without a token, and every route with it', async () => {
    for (const route of routes.filter((r) => PUBLIC.has(r.operationId))) {
      expect((await service.inject({ method: route.method, url: route.path })).statusCode, route.path).toBe(200);
    }
    const overview = await service.inject({ method: 'GET', url: '/api/overview', headers: { authorization: `bearer ${TOKEN}` } });
    expect(overview.statusCode).toBe(200);
    const other = await service.inject({ method: 'GET', url: `/api/jobs/${jobB.id}`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(other.statusCode).toBe(200);
  });
});

describe('Socket.IO with a token required', () => {
  function open(options: { auth?: Record<string, unknown>; headers?: Record<string, string> }): Promise<Socket | string> {
    return new Promise((resolve) => {
      const socket = connectSocket(service.url, { auth: options.auth ?? {}, extraHeaders: options.headers ?? {}, transports: ['polling', 'websocket'], reconnection: false, forceNew: true });
      socket.on('connect', () => resolve(socket));
      socket.on('connect_error', (error) => {
        socket.close();
        resolve(error.message);
      });
    });
  }

  it('refuses the handshake without a token, with a wrong one, or with a non-string one, so no room can be joined', async () => {
    expect(await open({})).toMatch(/^a bearer token is required/);
    expect(await open({ auth: { token: 'wrong' } })).toBe('the bearer token is not valid');
    expect(await open({ auth: { token: TOKEN.slice(1) } })).toBe('the bearer token is not valid');
    expect(await open({ auth: { token: 12345 } })).toMatch(/^a bearer token is required/);
    expect(await open({ auth: { token: [TOKEN] } })).toMatch(/^a bearer token is required/);
    expect(await open({ headers: { authorization: 'Bearer wrong' } })).toBe('the bearer token is not valid');
  });

  it('accepts the token in auth.token or the Authorization header', async () => {
    for (const options of [{ auth: { token: TOKEN } }, { headers: { authorization: `Bearer ${TOKEN}` } }]) {
      const socket = await open(options);
      expect(typeof socket).not.toBe('string');
      (socket as Socket).close();
    }
  });

  it("with the admin token a client may join any job's room, and gets telemetry only of the jobs it subscribed to", async () => {
    const socket = (await open({ auth: { token: TOKEN } })) as Socket;
    try {
      const seen = new Set<string>();
      socket.on('metrics', (frame: { jobId: string }) => seen.add(frame.jobId));
      expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: jobA.id })).toMatchObject({ ok: true, job: { id: jobA.id } });
      for (let i = 0; i < 100 && !seen.has(jobA.id); i++) await new Promise((r) => setTimeout(r, 20));
      // Frames come every 200 ms: a few of them pass here without one of job B's.
      await new Promise((r) => setTimeout(r, 700));
      expect([...seen]).toEqual([jobA.id]);
      // The admin token reaches job B's room too (a tenant token would not: service-tenants.test.ts).
      expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: jobB.id })).toMatchObject({ ok: true, job: { id: jobB.id } });
      for (let i = 0; i < 100 && !seen.has(jobB.id); i++) await new Promise((r) => setTimeout(r, 20));
      expect(seen.has(jobB.id)).toBe(true);
    } finally {
      socket.close();
    }
  });
});
