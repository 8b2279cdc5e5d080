/**
 * Per-job authorization of a hosted engine (issue 10, part 5): the admin token reaches
 * every job; a tenant token only its own tenant's jobs and pipelines. Another tenant's
 * job answers exactly like a job that does not exist (REST 404, Socket.IO join refused),
 * so a tenant cannot even learn that it exists. Tokens are kept as hashes only, revoked
 * ones stop working at the next request, and a job's tenant survives a resume.
 *
 * Tests bind only to loopback; a configured token gives the policy of a network bind.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphJsonSchema, type JobGraphDocument } from '@sluice/graph-model';
import type { ClientToServerEvents, JobList, JobStatusEvent, ServerToClientEvents } from '@sluice/protocol';
import { buildOpenApiDocument, createEngineService, JobManager, TaskManager, type CreatedToken, type EngineService } from '@sluice/engine';

const ADMIN_TOKEN = 'the-admin-token-of-this-engine-0123456789';

let dir: string;
let taskManager: TaskManager;
let jobs: JobManager;
let service: EngineService;
let acme: CreatedToken;
let globex: CreatedToken;
let adminJob: string;
let acmeJob: string;
let globexJob: string;

const counting = (name: string): JobGraphDocument => ({
  schemaVersion: 1,
  name,
  job: { checkpointing: { enabled: true, intervalMs: 60_000 } },
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 200, keys: 5 } },
    { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
    { id: 'out', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'k' },
    { id: 'e2', source: 'k', target: 'count' },
    { id: 'e3', source: 'count', target: 'out' },
  ],
});

type Call = { status: number; body: Record<string, unknown> & { error?: string } };

type Operation = { responses: Record<string, { content?: Record<string, unknown> }> };
const document = buildOpenApiDocument() as { paths: Record<string, Record<string, Operation>> };
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(graphJsonSchema());
ajv.addSchema({ ...document, $id: 'https://sluice.test/openapi.json' });
const validators = new Map<string, ValidateFunction>();

/** Every answer of these tests must be one the OpenAPI document describes (status and body). */
function conforms(method: string, url: string, answer: Call): void {
  const path = url.split('?')[0] ?? '';
  const match = Object.keys(document.paths).find((template) => new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`).test(path) && document.paths[template]?.[method.toLowerCase()]);
  if (match === undefined) throw new Error(`no documented operation for ${method} ${path}`);
  const response = document.paths[match]?.[method.toLowerCase()]?.responses[String(answer.status)];
  expect(response, `${method} ${match} does not document ${answer.status}: ${JSON.stringify(answer.body)}`).toBeDefined();
  if (!response?.content?.['application/json']) return;
  const pointer = `https://sluice.test/openapi.json#/paths/${match.replace(/~/g, '~0').replace(/\//g, '~1').replace(/[{}]/g, encodeURIComponent)}/${method.toLowerCase()}/responses/${answer.status}/content/application~1json/schema`;
  let validate = validators.get(pointer);
  if (!validate) validators.set(pointer, (validate = ajv.compile({ $ref: pointer })));
  expect(validate(answer.body), `${method} ${match} ${answer.status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

async function call(method: 'GET' | 'POST', url: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<Call> {
  const response = await service.inject({
    method,
    url,
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  const answer = { status: response.statusCode, body: response.headers['content-type']?.toString().startsWith('application/json') ? (JSON.parse(response.body) as Call['body']) : { text: response.body } };
  conforms(method, url, answer);
  return answer;
}

async function submitAs(token: string, name: string): Promise<string> {
  const answer = await call('POST', '/api/jobs', token, { graph: counting(name) });
  expect(answer.status, answer.body.error).toBe(201);
  return answer.body['id'] as string;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-tenants-'));
  taskManager = new TaskManager({ slots: 1 });
  jobs = new JobManager(taskManager, { dataDir: join(dir, 'data') });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), jobManager: jobs, token: ADMIN_TOKEN, telemetry: { frameMs: 200 } });
  acme = await service.tenants.create('acme', Date.now());
  globex = await service.tenants.create('globex', Date.now());
  adminJob = await submitAs(ADMIN_TOKEN, 'admin job');
  acmeJob = await submitAs(acme.token, 'acme job');
  globexJob = await submitAs(globex.token, 'globex job');
});

afterAll(async () => {
  await service.close();
  await taskManager.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** Every operation of the document that names a job, with `{id}` left to fill in. */
const jobRoutes = (() => {
  const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, { operationId: string }>> };
  return Object.entries(doc.paths)
    .filter(([path]) => path.includes('{id}'))
    .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase() as 'GET' | 'POST', path, operationId: op.operationId })));
})();

/** A request to a job route that would succeed or fail on its merits, not on its shape. */
function requestFor(route: (typeof jobRoutes)[number], id: string): { url: string; body: unknown } {
  const url = route.path
    .replace('{id}', id)
    .replace('{sink}', 'out')
    .replace('{requestId}', 'r-1')
    .replace('{checkpointId}', '1');
  const query = route.operationId === 'queryState' ? '?node=count&key=1' : route.operationId === 'getJobResults' ? '?limit=1' : '';
  const body = route.operationId === 'redeployJob' ? { graph: counting('redeployed'), dryRun: true } : route.method === 'POST' ? {} : undefined;
  return { url: `${url}${query}`, body };
}

describe('REST: who reaches which job', () => {
  it('refuses every job route without a token and with a wrong token (401), whoever owns the job', async () => {
    for (const route of jobRoutes) {
      for (const id of [adminJob, acmeJob]) {
        const { url, body } = requestFor(route, id);
        for (const token of [undefined, 'not-a-token', `${acme.token}x`]) {
          const answer = await call(route.method, url, token, body);
          expect(answer.status, `${route.operationId} with ${token ?? 'no token'}`).toBe(401);
        }
      }
    }
  });

  it("answers another tenant's job on every job route exactly like a job that does not exist (404), and changes nothing", async () => {
    expect(jobRoutes.length).toBeGreaterThanOrEqual(11);
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const route of jobRoutes.filter((r) => r.operationId !== 'cancelJob' && r.operationId !== 'stopWithSavepoint')) {
      for (const foreign of [globexJob, adminJob]) {
        const { url, body } = requestFor(route, foreign);
        const answer = await call(route.method, url, acme.token, body);
        expect(answer.status, `${route.operationId} on another tenant's job`).toBe(404);
        expect(answer.body.error).toBe(`no job with id '${foreign}' in tenant 'acme'`);
        const missing = requestFor(route, unknown);
        const absent = await call(route.method, missing.url, acme.token, missing.body);
        expect(absent.status).toBe(404);
        expect(absent.body.error).toBe(answer.body.error?.replace(foreign, unknown));
      }
    }
    for (const operation of ['cancel', 'stop']) {
      const answer = await call('POST', `/api/jobs/${globexJob}/${operation}`, acme.token, {});
      expect(answer.status, operation).toBe(404);
    }
    expect(jobs.get(globexJob)?.status).toBe('running');
    expect(jobs.get(adminJob)?.status).toBe('running');
  });

  it('lets a tenant list, see, query the state of and savepoint its own job; lists and counts only its own', async () => {
    const list = await call('GET', '/api/jobs', acme.token);
    expect((list.body as unknown as JobList).jobs.map((j) => [j.id, j.tenant])).toEqual([[acmeJob, 'acme']]);
    const overview = await call('GET', '/api/overview', acme.token);
    expect(overview.body).toMatchObject({ tenant: 'acme', authRequired: true, jobs: { running: 1 } });

    expect((await call('GET', `/api/jobs/${acmeJob}`, acme.token)).body).toMatchObject({ id: acmeJob, tenant: 'acme', name: 'acme job' });
    expect((await call('GET', `/api/jobs/${acmeJob}/checkpoints`, acme.token)).status).toBe(200);
    expect((await call('GET', `/api/jobs/${acmeJob}/exceptions`, acme.token)).status).toBe(200);
    expect((await call('GET', `/api/jobs/${acmeJob}/state?node=count&key=1`, acme.token)).status).toBe(200);
    const savepoint = await call('POST', `/api/jobs/${acmeJob}/savepoints`, acme.token, {});
    expect(savepoint.status).toBe(202);
    const requestId = savepoint.body['requestId'] as string;
    let status: Call | undefined;
    for (let i = 0; i < 200; i++) {
      status = await call('GET', `/api/jobs/${acmeJob}/savepoints/${requestId}`, acme.token);
      if (status.body['status'] !== 'in-progress') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status?.body).toMatchObject({ status: 'completed', jobId: acmeJob });
    // The request id of acme's savepoint means nothing under another job.
    expect((await call('GET', `/api/jobs/${globexJob}/savepoints/${requestId}`, acme.token)).status).toBe(404);

    const metrics = await call('GET', '/metrics', acme.token);
    expect(metrics.status).toBe(200);
    const text = String(metrics.body['text']);
    expect(text).toContain(acmeJob);
    expect(text).not.toContain(globexJob);
    expect(text).not.toContain(adminJob);
    // The engine process's own metrics describe everyone's engine: the admin's only.
    expect(text).not.toMatch(/^(process|nodejs)_/m);
    const adminText = String((await call('GET', '/metrics', ADMIN_TOKEN)).body['text']);
    expect(adminText).toMatch(/^process_cpu_seconds_total /m);
    expect(adminText).toContain(globexJob);
  });

  it('lets the admin token reach every job, listed with its tenant', async () => {
    const list = (await call('GET', '/api/jobs', ADMIN_TOKEN)).body as unknown as JobList;
    const tenants = new Map(list.jobs.map((j) => [j.id, j.tenant]));
    expect(tenants.get(adminJob)).toBeNull();
    expect(tenants.get(acmeJob)).toBe('acme');
    expect(tenants.get(globexJob)).toBe('globex');
    for (const id of [adminJob, acmeJob, globexJob]) expect((await call('GET', `/api/jobs/${id}`, ADMIN_TOKEN)).status).toBe(200);
    expect((await call('GET', '/api/overview', ADMIN_TOKEN)).body).toMatchObject({ tenant: null });
  });

  it('lets the admin act as one tenant with X-Sluice-Tenant, and refuses a tenant token acting for another', async () => {
    const asAcme = (await call('GET', '/api/jobs', ADMIN_TOKEN, undefined, { 'x-sluice-tenant': 'acme' })).body as unknown as JobList;
    expect(asAcme.jobs.map((j) => j.id)).toEqual([acmeJob]);
    const spoof = await call('GET', '/api/jobs', acme.token, undefined, { 'x-sluice-tenant': 'globex' });
    expect(spoof.status).toBe(403);
    expect(spoof.body.error).toBe("X-Sluice-Tenant: a tenant token acts only for its own tenant ('acme'), not 'globex'");
    const bad = await call('GET', '/api/jobs', ADMIN_TOKEN, undefined, { 'x-sluice-tenant': '../etc' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^X-Sluice-Tenant: tenant name '..\/etc' is not valid/);
  });

  it('keeps pipelines per tenant: the same name in two tenants is two pipelines, and neither sees the other', async () => {
    const save = (token: string, description: string) => call('POST', '/api/pipelines', token, { name: 'orders', graph: counting(description), description });
    expect((await save(acme.token, 'acme orders')).status).toBe(201);
    expect((await call('GET', '/api/pipelines/orders', globex.token)).status).toBe(404);
    expect((await call('POST', '/api/jobs', globex.token, { pipeline: 'orders' })).status).toBe(404);
    const theirs = await save(globex.token, 'globex orders');
    expect(theirs.status).toBe(201);
    expect(theirs.body['version']).toBe(1);
    expect(((await call('GET', '/api/pipelines/orders/versions/1', acme.token)).body['graph'] as JobGraphDocument).name).toBe('acme orders');
    expect(((await call('GET', '/api/pipelines/orders/versions/1', globex.token)).body['graph'] as JobGraphDocument).name).toBe('globex orders');
    expect((await call('GET', '/api/pipelines', ADMIN_TOKEN)).body['pipelines']).toEqual([]);
    const submitted = await call('POST', '/api/jobs', acme.token, { pipeline: 'orders' });
    expect(submitted.status).toBe(201);
    expect(submitted.body).toMatchObject({ tenant: 'acme', pipeline: { name: 'orders', version: 1 } });
    expect((await call('POST', `/api/jobs/${submitted.body['id'] as string}/cancel`, acme.token, {})).status).toBe(202);
  });

  it("refuses a tenant's redeploy from another tenant's savepoint directory", async () => {
    const savepoint = await call('POST', `/api/jobs/${globexJob}/savepoints`, globex.token, {});
    let location: string | null = null;
    for (let i = 0; i < 200 && location === null; i++) {
      const status = await call('GET', `/api/jobs/${globexJob}/savepoints/${savepoint.body['requestId'] as string}`, globex.token);
      location = status.body['location'] as string | null;
      if (location === null) await new Promise((r) => setTimeout(r, 50));
    }
    expect(location).not.toBeNull();
    const stolen = await call('POST', `/api/jobs/${acmeJob}/redeploy`, acme.token, { graph: counting('acme job'), savepoint: location, dryRun: true });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toMatch(/^'savepoint' must be a checkpoint or savepoint of one of tenant 'acme''s jobs/);
    // Its owner may plan from it.
    expect((await call('POST', `/api/jobs/${globexJob}/redeploy`, globex.token, { graph: counting('globex job'), savepoint: location, dryRun: true })).status).toBe(200);
  });
});

describe('tenant tokens', () => {
  it('keeps only hashes of tokens at rest', () => {
    const text = readFileSync(join(dir, 'data', 'tokens.json'), 'utf8');
    expect(text).not.toContain(acme.token);
    expect(text).not.toContain(globex.token);
    const stored = JSON.parse(text) as { tokens: Array<Record<string, unknown>> };
    expect(stored.tokens.map((t) => Object.keys(t).sort())).toEqual([
      ['createdAt', 'id', 'sha256', 'tenant'],
      ['createdAt', 'id', 'sha256', 'tenant'],
    ]);
  });

  it('lets only the admin list, create and revoke tokens; a tenant token gets 403', async () => {
    for (const [method, url, body] of [
      ['GET', '/api/tokens', undefined],
      ['POST', '/api/tokens', { tenant: 'acme' }],
      ['POST', `/api/tokens/${globex.id}/revoke`, {}],
      ['POST', '/api/tenants/globex/revoke', {}],
    ] as const) {
      const answer = await call(method, url, acme.token, body);
      expect(answer.status, url).toBe(403);
      expect(answer.body.error).toBe(`only the admin token may ${method} ${url}; this token acts for tenant 'acme'`);
    }
    const listed = await call('GET', '/api/tokens', ADMIN_TOKEN);
    expect(listed.body['tokens']).toEqual([
      { id: acme.id, tenant: 'acme', createdAt: acme.createdAt },
      { id: globex.id, tenant: 'globex', createdAt: globex.createdAt },
    ]);
    expect((await call('POST', '/api/tokens', ADMIN_TOKEN, { tenant: 'Not A Name' })).status).toBe(400);
    expect((await call('POST', '/api/tokens/0123456789ab/revoke', ADMIN_TOKEN, {})).status).toBe(404);
  });

  it('refuses a revoked token at its next request (REST and Socket.IO), and a token created over REST works at once', async () => {
    const created = await call('POST', '/api/tokens', ADMIN_TOKEN, { tenant: 'initech' });
    expect(created.status).toBe(201);
    const token = created.body['token'] as string;
    expect((await call('GET', '/api/overview', token)).body).toMatchObject({ tenant: 'initech', jobs: { running: 0 } });
    expect(await handshake({ auth: { token } })).toBe('connected');
    const connected = await open(token);
    const disconnected = new Promise<string>((resolve) => connected.on('disconnect', resolve));

    const revoked = await call('POST', `/api/tokens/${created.body['id'] as string}/revoke`, ADMIN_TOKEN, {});
    expect(revoked.body).toEqual({ revoked: [{ id: created.body['id'], tenant: 'initech', createdAt: created.body['createdAt'] }] });
    const after = await call('GET', '/api/overview', token);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('the bearer token is not valid');
    expect(await handshake({ auth: { token } })).toBe('the bearer token is not valid');
    // The connection it had open is closed by the engine (within a second).
    expect(await disconnected).toBe('io server disconnect');

    // Revoking a whole tenant: every one of its tokens.
    const one = await service.tenants.create('hooli', Date.now());
    const two = await service.tenants.create('hooli', Date.now());
    expect(((await call('POST', '/api/tenants/hooli/revoke', ADMIN_TOKEN, {})).body['revoked'] as unknown[]).length).toBe(2);
    for (const t of [one, two]) expect((await call('GET', '/api/jobs', t.token)).status).toBe(401);
  });
});

describe('an unreadable tokens.json', () => {
  it('refuses tenant tokens with a message that reveals nothing, keeps the admin token working, and names the file to the operator', async () => {
    const dataDir = join(dir, 'corrupt');
    const other = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, jobManager: new JobManager(taskManager, { dataDir }), token: ADMIN_TOKEN });
    try {
      const token = (await other.tenants.create('acme', Date.now())).token;
      const overview = (bearer: string) => other.inject({ method: 'GET', url: '/api/overview', headers: { authorization: `Bearer ${bearer}` } });
      expect((await overview(token)).statusCode).toBe(200);
      writeFileSync(join(dataDir, 'tokens.json'), '{ "format": 1, "tokens": [');
      const refused = await overview(token);
      expect(refused.statusCode).toBe(401);
      expect(JSON.parse(refused.body)).toEqual({ error: "the bearer token cannot be checked: this engine's tenant token file is unreadable" });
      expect((await overview(ADMIN_TOKEN)).statusCode).toBe(200);
      await expect(other.tenants.list()).rejects.toThrow(`${join(dataDir, 'tokens.json')} is not valid JSON`);
    } finally {
      await other.close();
    }
  });
});

function handshake(options: { auth?: Record<string, unknown> }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectSocket(service.url, { auth: options.auth ?? {}, transports: ['websocket'], reconnection: false, forceNew: true });
    socket.on('connect', () => {
      socket.close();
      resolve('connected');
    });
    socket.on('connect_error', (error) => {
      socket.close();
      resolve(error.message);
    });
  });
}

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

async function open(token: string | undefined): Promise<Client> {
  const socket: Client = connectSocket(service.url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.on('connect', resolve);
    socket.on('connect_error', reject);
  });
  return socket;
}

describe('Socket.IO: whose rooms a token joins', () => {
  it('refuses the handshake without a token and with a wrong one', async () => {
    expect(await handshake({})).toMatch(/^a bearer token is required/);
    expect(await handshake({ auth: { token: 'not-a-token' } })).toBe('the bearer token is not valid');
    expect(await handshake({ auth: { token: acme.token.slice(0, -1) } })).toBe('the bearer token is not valid');
  });

  it("joins a tenant's own job and gets its telemetry; refuses another tenant's job (subscribe, taps, hot keys) as unknown, and sends none of its telemetry", async () => {
    const socket = await open(acme.token);
    try {
      const seen = new Set<string>();
      socket.on('metrics', (frame) => seen.add(frame.jobId));
      expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: acmeJob })).toMatchObject({ ok: true, job: { id: acmeJob, tenant: 'acme' } });
      for (const foreign of [globexJob, adminJob]) {
        const refusal = `no job with id '${foreign}' in tenant 'acme'`;
        expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: foreign })).toEqual({ ok: false, error: refusal });
        expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: foreign, detail: 'operators' })).toEqual({ ok: false, error: refusal });
        expect(await socket.timeout(2000).emitWithAck('tap-start', { jobId: foreign, edgeId: 'e1' })).toEqual({ ok: false, error: refusal });
        expect(await socket.timeout(2000).emitWithAck('hot-keys-subscribe', { jobId: foreign, nodeId: 'k' })).toEqual({ ok: false, error: refusal });
      }
      // Its own job's tap and hot keys work.
      const tap = await socket.timeout(2000).emitWithAck('tap-start', { jobId: acmeJob, edgeId: 'e1', limit: 1 });
      expect(tap).toMatchObject({ ok: true });
      expect(await socket.timeout(2000).emitWithAck('hot-keys-subscribe', { jobId: acmeJob, nodeId: 'k' })).toMatchObject({ ok: true });
      // Frames come every 200 ms: a second's worth without another tenant's job.
      for (let i = 0; i < 100 && !seen.has(acmeJob); i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 1000));
      expect([...seen]).toEqual([acmeJob]);
    } finally {
      socket.close();
    }
  });

  it("lets the admin token join every job's room", async () => {
    const socket = await open(ADMIN_TOKEN);
    try {
      for (const id of [adminJob, acmeJob, globexJob]) {
        expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: id })).toMatchObject({ ok: true, job: { id } });
      }
    } finally {
      socket.close();
    }
  });

  it("sends a tenant's subscribe-jobs only its own jobs' status changes; the admin's gets every job's", async () => {
    const tenantSocket = await open(acme.token);
    const adminSocket = await open(ADMIN_TOKEN);
    try {
      const tenantSaw: JobStatusEvent[] = [];
      const adminSaw: JobStatusEvent[] = [];
      tenantSocket.on('job-status', (e) => tenantSaw.push(e));
      adminSocket.on('job-status', (e) => adminSaw.push(e));
      await tenantSocket.timeout(2000).emitWithAck('subscribe-jobs');
      await adminSocket.timeout(2000).emitWithAck('subscribe-jobs');
      const theirs = await submitAs(globex.token, 'globex second');
      const mine = await submitAs(acme.token, 'acme second');
      for (const [token, id] of [[globex.token, theirs], [acme.token, mine]] as const) expect((await call('POST', `/api/jobs/${id}/cancel`, token, {})).status).toBe(202);
      for (let i = 0; i < 200 && !(adminSaw.some((e) => e.jobId === theirs && e.status === 'cancelled') && tenantSaw.some((e) => e.jobId === mine && e.status === 'cancelled')); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(adminSaw.some((e) => e.jobId === theirs && e.status === 'cancelled')).toBe(true);
      expect(tenantSaw.some((e) => e.jobId === mine && e.status === 'cancelled')).toBe(true);
      expect(tenantSaw.filter((e) => e.jobId !== mine)).toEqual([]);
    } finally {
      tenantSocket.close();
      adminSocket.close();
    }
  });
});

describe('ownership across a restart', () => {
  it("keeps a job's tenant in its record, so a resumed job (sluice serve --resume) stays its tenant's", async () => {
    // A second engine on the same data directory picks up the jobs the first left running.
    const secondTaskManager = new TaskManager({ slots: 1 });
    const resumedJobs = new JobManager(secondTaskManager, { dataDir: join(dir, 'data') });
    const second = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), jobManager: resumedJobs, token: ADMIN_TOKEN });
    try {
      const resumed = await resumedJobs.resume();
      const tenants = new Map(resumed.map((job) => [job.id, job.tenant]));
      expect(tenants.get(acmeJob)).toBe('acme');
      expect(tenants.get(globexJob)).toBe('globex');
      expect(tenants.get(adminJob)).toBeUndefined();
      const asAcme = await second.inject({ method: 'GET', url: '/api/jobs', headers: { authorization: `Bearer ${acme.token}` } });
      expect((JSON.parse(asAcme.body) as JobList).jobs.map((j) => j.id)).toEqual([acmeJob]);
      const foreign = await second.inject({ method: 'GET', url: `/api/jobs/${globexJob}`, headers: { authorization: `Bearer ${acme.token}` } });
      expect(foreign.statusCode).toBe(404);
    } finally {
      for (const job of resumedJobs.list()) if (job.status === 'running') job.cancel();
      await second.close();
      await secondTaskManager.shutdown();
    }
  });
});
