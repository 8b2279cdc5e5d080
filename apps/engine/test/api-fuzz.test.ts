/**
 * Hostile API input: a seeded fuzzer over every REST route of the OpenAPI document and
 * every Socket.IO event, while a job runs.
 *
 * Cases mix what an attacker or a broken client sends: malformed, truncated and
 * non-JSON bodies, wrong and missing content types, oversized bodies, deep nesting,
 * wrong-typed fields, unicode, NUL and lone surrogates, huge and non-finite numbers,
 * prototype keys (`__proto__`, `constructor`), path parameters with traversal and
 * encoded slashes, query strings with repeated and bracketed keys, mutated job graphs.
 *
 *   inject (Fastify, no socket)   SLUICE_FUZZ_RUNS cases (default 10,000)
 *   real HTTP over loopback       a few hundred, including raw malformed requests
 *   Socket.IO over loopback       a few hundred events with random names and payloads
 *
 * No answer may be a 500 or 501 (502-504 only where an external system the engine calls
 * failed); every error must be a JSON ApiError with a message; nothing may hang; the engine keeps serving, and the job keeps running and producing output.
 * SLUICE_FUZZ_SEED=n replays one seed (`npm run soak:api` runs many more cases).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { buildOpenApiDocument, createEngineService, JobManager, TaskManager, type EngineService, type InjectRequest, type InjectResponse, type Job } from '@sluice/engine';

const RUNS = Number(process.env['SLUICE_FUZZ_RUNS'] ?? 10_000);
const SEED = process.env['SLUICE_FUZZ_SEED'] === undefined ? undefined : Number(process.env['SLUICE_FUZZ_SEED']);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BODY_LIMIT = 256 * 1024;

// ─── Seeded randomness ──────────────────────────────────────────────────────

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    // mulberry32
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

// ─── Hostile values ─────────────────────────────────────────────────────────

const NASTY_STRINGS = [
  '',
  ' ',
  '../../../../etc/passwd',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..\\..\\windows\\win.ini',
  '/etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'a\u0000b',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u0041\u0042',
  '💥🔥'.repeat(50),
  'ﷺ'.repeat(100),
  '\r\nX-Injected: 1',
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs; --",
  '${process.exit(1)}',
  '{{constructor.constructor("return process")()}}',
  'x'.repeat(70_000),
  '%',
  '%zz',
  '%00',
  '%ff%fe',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '99999999999999999999999999',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
];

const NASTY_NUMBERS = [0, -1, 1, -0, 0.5, 2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, Number.MIN_VALUE, 1e308, -1e308, 123456789012345];

function nastyString(rng: Rng): string {
  if (rng.chance(0.3)) {
    let s = '';
    const n = rng.int(40);
    for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.8) ? 32 + rng.int(95) : rng.int(0x10000));
    return s;
  }
  return rng.pick(NASTY_STRINGS);
}

function nastyValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 5 : 8)) {
    case 0:
      return nastyString(rng);
    case 1:
      return rng.pick(NASTY_NUMBERS);
    case 2:
      return rng.pick([true, false, null]);
    case 3:
      return rng.int(1000);
    case 4:
      return rng.pick(['graph', 'pipeline', 'version', 'savepoint', 'dryRun', 'drain', 'name', 'jobId']);
    case 5: {
      const arr: unknown[] = [];
      const n = rng.int(5);
      for (let i = 0; i < n; i++) arr.push(nastyValue(rng, depth + 1));
      return arr;
    }
    default: {
      const obj: Record<string, unknown> = {};
      const n = rng.int(5);
      for (let i = 0; i < n; i++) obj[rng.chance(0.3) ? rng.pick(['__proto__', 'constructor', 'prototype', 'graph', 'nodes', 'edges', 'config']) : nastyString(rng).slice(0, 30)] = nastyValue(rng, depth + 1);
      return obj;
    }
  }
}

/** JSON text an attacker writes by hand: prototype keys that JSON.stringify would not produce, non-finite numbers, deep nesting. */
function nastyJsonText(rng: Rng): string {
  switch (rng.int(16)) {
    case 0:
      return '{"__proto__": {"polluted": true}, "graph": {"__proto__": {"schemaVersion": 1}}}';
    case 1:
      return '{"constructor": {"prototype": {"polluted": true}}}';
    case 2:
      return '{"graph": {"schemaVersion": 1, "name": "x", "nodes": [{"id": "__proto__", "type": "generator", "config": {}}], "edges": []}}';
    case 3: {
      const depth = rng.pick([100, 1000, 10_000, 100_000]);
      return `{"graph": ${'['.repeat(depth)}${']'.repeat(depth)}}`;
    }
    case 4: {
      const depth = rng.pick([100, 1000, 10_000, 50_000]);
      return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    }
    case 5:
      return `{"version": ${rng.pick(['1e400', '-1e400', '99999999999999999999999', '1.5', '-1', '0', 'NaN', 'Infinity', '0x10', '01'])}}`;
    case 6:
      return rng.pick(['{', '}', '[', '{"graph": ', '{"graph": {}', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '// c\n{}', '\ufeff{}', 'nul', 'tru', '"\\u00"', '"\\ud800"', '{"a":"\u0000"}', '1', '"str"', 'null', '[]']);
    case 7:
      return JSON.stringify({ graph: nastyValue(rng) });
    case 8:
      return JSON.stringify({ pipeline: rng.chance(0.5) ? rng.pick(PIPELINE_NAMES) : nastyString(rng), version: rng.chance(0.5) ? 1 + rng.int(3) : rng.pick(NASTY_NUMBERS) });
    case 9:
      return JSON.stringify({ name: rng.chance(0.5) ? rng.pick(PIPELINE_NAMES) : nastyString(rng), graph: mutatedGraph(rng), description: rng.chance(0.5) ? nastyString(rng) : 'x'.repeat(3000) });
    case 10:
      return JSON.stringify({ graph: mutatedGraph(rng), savepoint: rng.pick(['/', '/etc', '../../..', '..', 'checkpoints/../../', nastyString(rng)]), dryRun: rng.chance(0.5) });
    case 11:
      return JSON.stringify({ drain: nastyValue(rng) });
    case 12:
      return JSON.stringify(nastyValue(rng));
    case 13:
      return `{"graph": {"name": "${'\\u0000'.repeat(50)}", "schemaVersion": ${rng.pick(['1', '2', '0', '"1"', 'null', '1e9'])}}}`;
    case 14:
      return JSON.stringify({ graph: mutatedGraph(rng) });
    default:
      return JSON.stringify({ graph: mutatedGraph(rng), pipeline: 'p' });
  }
}

const EXAMPLES = ['clickstream-page-views', 'user-sessions', 'order-shipment-join', 'failed-logins-cep', 'iot-sensor-averages'].map(
  (name) => JSON.parse(readFileSync(`${ROOT}examples/${name}.json`, 'utf8')) as JobGraphDocument,
);

/** An example graph made tiny (so a valid one starts a short job) and then mutated at random places. */
function mutatedGraph(rng: Rng): unknown {
  const graph = structuredClone(rng.pick(EXAMPLES)) as unknown as Record<string, unknown>;
  for (const node of graph['nodes'] as Array<{ type: string; config: Record<string, unknown> }>) {
    if (node.type === 'generator') node.config = { ...node.config, count: 20, ratePerSecond: 0 };
  }
  const mutations = rng.chance(0.3) ? 0 : 1 + rng.int(3);
  for (let m = 0; m < mutations; m++) {
    // Walk to a random place and replace, delete, or add something there.
    let target: unknown = graph;
    for (let d = 0; d < 4; d++) {
      if (typeof target !== 'object' || target === null) break;
      const keys = Object.keys(target);
      if (keys.length === 0 || rng.chance(0.25)) break;
      const next = (target as Record<string, unknown>)[rng.pick(keys)];
      if (typeof next !== 'object' || next === null) break;
      target = next;
    }
    if (typeof target !== 'object' || target === null) continue;
    const record = target as Record<string, unknown>;
    const keys = Object.keys(record);
    const key = keys.length > 0 && rng.chance(0.7) ? rng.pick(keys) : nastyString(rng).slice(0, 20);
    if (rng.chance(0.2)) Reflect.deleteProperty(record, key);
    else record[key] = nastyValue(rng);
  }
  return graph;
}

// ─── Requests ───────────────────────────────────────────────────────────────

interface RouteShape {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly operationId: string;
  readonly query: readonly string[];
  readonly body: boolean;
}

const ROUTES: RouteShape[] = (() => {
  const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, { operationId: string; parameters?: Array<{ in: string; name: string }>; requestBody?: unknown }>> };
  const out: RouteShape[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      out.push({
        method: method.toUpperCase() as 'GET' | 'POST',
        path,
        operationId: op.operationId,
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        body: op.requestBody !== undefined,
      });
    }
  }
  return out;
})();

/** Routes that stop the job they name when given valid input: the running job's id never goes there. */
const STOPS_A_JOB = new Set(['cancelJob', 'stopWithSavepoint']);

/** Percent-encodes every byte but unreserved ASCII (encodeURIComponent throws on lone surrogates). */
function enc(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

const PIPELINE_NAMES = ['fuzz', 'fuzz-2', 'orders.v1', 'A_b-c'];
const TENANTS = ['acme', 'globex', 'a', 'tenant-with-63-characters-abcdefghijklmnopqrstuvwxyz-0123456789'];

function pathParam(rng: Rng, name: string, ids: FuzzIds, operationId: string): string {
  const r = rng.int(10);
  if (name === 'id' && r < 4) return STOPS_A_JOB.has(operationId) ? (ids.started.length > 0 ? rng.pick(ids.started) : crypto.randomUUID()) : rng.chance(0.7) || ids.started.length === 0 ? ids.running : rng.pick(ids.started);
  if (name === 'name' && r < 4) return rng.pick(PIPELINE_NAMES);
  if (name === 'tenant' && r < 4) return rng.pick(TENANTS);
  if (name === 'tokenId' && r < 4) return Array.from({ length: 12 }, () => '0123456789abcdef'[rng.int(16)]).join('');
  if (r < 6) {
    const raw = nastyString(rng);
    return rng.chance(0.5) ? enc(raw) : raw.replace(/[?#]/g, '');
  }
  if (r < 7) return rng.pick(['..', '.', '%2e%2e', '..%2f..%2f..', '%2F', '%252e%252e%252f', '....//....//']);
  if (r < 8) return String(rng.pick(NASTY_NUMBERS));
  if (r < 9) return name === 'sink' ? 'out' : name === 'version' ? String(1 + rng.int(3)) : 'clicks';
  return crypto.randomUUID();
}

/** Values a well-meaning client would send, so that cases also get past validation into the handlers. */
const PLAUSIBLE_QUERY: Readonly<Record<string, readonly string[]>> = {
  node: ['count', 'by-page', 'clicks', 'out'],
  key: ['/cart', '/home', '/product/rain-jacket', '0', ''],
  keyType: ['auto', 'string', 'number'],
  limit: ['1', '10', '10000'],
  offset: ['0', '5'],
  bootstrapServers: ['127.0.0.1:1', 'localhost:1,127.0.0.1:2'],
};

/** Job ids the fuzzer may name: the job that must keep running (never stopped), and jobs the fuzz itself started. */
interface FuzzIds {
  readonly running: string;
  readonly started: string[];
}

function fuzzRequest(rng: Rng, ids: FuzzIds): InjectRequest {
  const route = rng.chance(0.03) ? { method: rng.pick(['GET', 'POST'] as const), path: `/api/${nastyString(rng).slice(0, 40)}`, operationId: 'none', query: [], body: rng.chance(0.5) } : rng.pick(ROUTES);
  let url = route.path.replace(/\{(\w+)\}/g, (_, name: string) => pathParam(rng, name, ids, route.operationId));
  if (!url.startsWith('/')) url = `/${url}`;
  const query: string[] = [];
  const names = [...route.query, ...(rng.chance(0.2) ? ['__proto__', 'constructor[prototype][x]', 'limit[]', nastyString(rng).slice(0, 10)] : [])];
  for (const name of names) {
    if (rng.chance(0.3)) continue;
    const times = rng.chance(0.1) ? 2 + rng.int(3) : 1;
    for (let i = 0; i < times; i++) {
      const plausible = Object.hasOwn(PLAUSIBLE_QUERY, name) ? PLAUSIBLE_QUERY[name] : undefined;
      const value = plausible && rng.chance(0.4) ? rng.pick(plausible) : rng.chance(0.3) ? String(rng.int(20)) : rng.chance(0.5) ? String(rng.pick(NASTY_NUMBERS)) : nastyString(rng).slice(0, 200);
      query.push(`${enc(name)}=${rng.chance(0.8) ? enc(value) : value.replace(/[#&]/g, '')}`);
    }
  }
  if (query.length > 0) url += `?${query.join('&')}`;
  const method = rng.chance(0.05) ? rng.pick(['PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const) : route.method === 'GET' && rng.chance(0.05) ? 'POST' : route.method;
  const headers: Record<string, string> = {};
  let payload: string | Buffer | undefined;
  if (method !== 'GET' && method !== 'HEAD' && (route.body || rng.chance(0.3))) {
    const kind = rng.int(20);
    if (kind === 0) payload = Buffer.alloc(BODY_LIMIT + 1 + rng.int(1000), 0x5b); // '[' × more than the limit
    else if (kind === 1) payload = Buffer.from(Array.from({ length: 64 + rng.int(512) }, () => rng.int(256)));
    else if (kind === 2) payload = '';
    else if (kind < 8 && route.operationId === 'createToken') payload = JSON.stringify({ tenant: rng.chance(0.7) ? rng.pick(TENANTS) : nastyString(rng) });
    else if (kind < 8 && route.operationId === 'savePipeline') payload = JSON.stringify({ name: rng.pick(PIPELINE_NAMES), graph: mutatedGraph(rng) });
    else if (kind < 8 && (route.operationId === 'submitJob' || route.operationId === 'redeployJob')) payload = JSON.stringify({ graph: mutatedGraph(rng), ...(rng.chance(0.3) ? { dryRun: true, savepoint: rng.pick(['/', '/etc', '..', nastyString(rng)]) } : {}) });
    else payload = nastyJsonText(rng);
    headers['content-type'] = rng.chance(0.85)
      ? rng.pick(['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON'])
      : rng.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/xml', '', 'application/json, text/plain', '*/*']);
  } else if (rng.chance(0.05)) {
    headers['content-type'] = 'application/json';
    payload = nastyJsonText(rng);
  }
  if (rng.chance(0.05)) headers['accept'] = rng.pick(['text/html', 'application/xml', '*/*', '']);
  if (rng.chance(0.02)) headers['x-forwarded-for'] = nastyString(rng).replace(/[\r\n]/g, '');
  // The admin acting as a tenant: the running job is then another tenant's (404), which must change nothing.
  if (rng.chance(0.03)) headers['x-sluice-tenant'] = rng.chance(0.6) ? rng.pick(TENANTS) : nastyString(rng).replace(/[\r\n]/g, '');
  return { method, url, headers, ...(payload !== undefined ? { payload } : {}) };
}

/** The route template a URL matched, for the statistics ('/api/jobs/{id}'), or 'other'. */
function routeOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  const segments = path.split('/');
  for (const route of ROUTES) {
    const template = route.path.split('/');
    if (template.length === segments.length && template.every((t, i) => t.startsWith('{') || t === segments[i])) return route.path;
  }
  return 'other';
}

/** What every answer must be: below 500, and for errors a JSON ApiError with a message. */
function checkAnswer(request: InjectRequest, response: InjectResponse): string | undefined {
  const where = `${request.method} ${request.url.slice(0, 200)} ${typeof request.payload === 'string' ? request.payload.slice(0, 200) : `<${request.payload?.length ?? 0} bytes>`}`;
  // 502-504 say that a system the engine talks to (a Kafka cluster) failed: not the request's doing and no crash, but still an ApiError. Anything else 5xx is a bug.
  if (response.statusCode >= 500 && !(response.statusCode >= 502 && response.statusCode <= 504)) return `${response.statusCode} for ${where}: ${response.body.slice(0, 500)}`;
  if (request.method === 'HEAD' || response.statusCode === 204) return undefined;
  if (response.statusCode >= 400) {
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      return `${response.statusCode} without a JSON body for ${where}: ${response.body.slice(0, 200)}`;
    }
    const error = (body as { error?: unknown }).error;
    if (typeof error !== 'string' || error.length === 0) return `${response.statusCode} without an error message for ${where}: ${response.body.slice(0, 200)}`;
    const problems = (body as { problems?: unknown }).problems;
    if (problems !== undefined && (!Array.isArray(problems) || problems.some((p: { path?: unknown; message?: unknown }) => typeof p.path !== 'string' || typeof p.message !== 'string'))) {
      return `${response.statusCode} with malformed problems for ${where}: ${response.body.slice(0, 300)}`;
    }
  }
  return undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

// ─── The engine under fuzz, with a job running ──────────────────────────────

let dir: string;
let taskManager: TaskManager;
let jobs: JobManager;
let service: EngineService;
let running: Job;

const runningGraph: JobGraphDocument = {
  schemaVersion: 1,
  name: 'keeps running',
  nodes: [
    { id: 'clicks', type: 'generator', config: { profile: 'clickstream', ratePerSecond: 500, keys: 50 } },
    { id: 'by-page', type: 'key-by', config: { key: { kind: 'field', field: 'page' } } },
    { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count', as: 'n' }] } },
    { id: 'out', type: 'collect-sink', config: { name: 'out', maxRecords: 100 } },
  ],
  edges: [
    { id: 'e1', source: 'clicks', target: 'by-page' },
    { id: 'e2', source: 'by-page', target: 'count' },
    { id: 'e3', source: 'count', target: 'out' },
  ],
};

function produced(job: Job): number {
  return job.results('out').length + (job.droppedCollected.get('out') ?? 0);
}

async function waitForMore(job: Job, than: number): Promise<void> {
  for (let i = 0; i < 200 && produced(job) <= than; i++) await new Promise((r) => setTimeout(r, 25));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-api-fuzz-'));
  taskManager = new TaskManager({ slots: 2 });
  jobs = new JobManager(taskManager, { dataDir: join(dir, 'engine'), limits: { maxParallelism: 4 } });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'service'), jobManager: jobs, bodyLimitBytes: BODY_LIMIT });
  running = await jobs.submit(runningGraph);
  await waitForMore(running, 0);
});

afterAll(async () => {
  await service.close();
  await taskManager.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

function expectRunningJobAlive(before: number): Promise<void> {
  return (async () => {
    await waitForMore(running, before);
    expect(running.status, running.failure?.message).toBe('running');
    expect(produced(running)).toBeGreaterThan(before);
  })();
}

describe('hostile API input never crashes the engine, never answers 5xx, and leaves running jobs alone', () => {
  it(`${SEED === undefined ? RUNS : 1} seeded REST cases through the whole HTTP pipeline (inject)`, { timeout: Math.max(600_000, RUNS * 20) }, async () => {
    const before = produced(running);
    const failures: string[] = [];
    const seen = new Map<string, number>();
    const ids: FuzzIds = { running: running.id, started: [] };
    const seeds = SEED === undefined ? Array.from({ length: RUNS }, (_, i) => i + 1) : [SEED];
    for (const seed of seeds) {
      const request = fuzzRequest(new Rng(seed), ids);
      let response: InjectResponse;
      try {
        response = await withTimeout(service.inject(request), 10_000, `${request.method} ${request.url.slice(0, 100)}`);
        if (response.statusCode === 201) {
          const id = (JSON.parse(response.body) as { id?: unknown; job?: { id?: unknown } | null }).id ?? (JSON.parse(response.body) as { job?: { id?: unknown } | null }).job?.id;
          if (typeof id === 'string') ids.started.push(id);
        }
      } catch (error) {
        failures.push(`seed ${seed}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const problem = checkAnswer(request, response);
      if (problem) failures.push(`seed ${seed}: ${problem}`);
      if (failures.length >= 10) break;
      const key = `${request.method} ${routeOf(request.url)} ${response.statusCode}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    if (process.env['SLUICE_FUZZ_STATS'] !== undefined) console.log([...seen].sort().map(([k, n]) => `${n}\t${k}`).join('\n'));
    expect(failures).toEqual([]);
    // The cases reach the handlers, not only the validation in front of them: every route answers something but 404 and 400 at least once.
    if (SEED === undefined && RUNS >= 5000) {
      const reached = new Set([...seen.keys()].filter((k) => !/ (400|404|405|413|415)$/.test(k)).map((k) => k.split(' ').slice(0, 2).join(' ')));
      expect(ROUTES.map((r) => `${r.method} ${r.path}`).filter((r) => !reached.has(r))).toEqual([]);
    }
    // Jobs the fuzzer started (valid mutated graphs) are small; stop those still running.
    for (const job of jobs.list()) if (job !== running) job.cancel();
    await expectRunningJobAlive(before);
  });

  it('a few hundred cases over a real HTTP connection, including malformed requests on raw sockets', { timeout: 120_000 }, async () => {
    const before = produced(running);
    const failures: string[] = [];
    const count = Math.max(200, Math.floor(RUNS / 50));
    for (let seed = 1_000_001; seed < 1_000_001 + count; seed++) {
      const rng = new Rng(seed);
      const request = fuzzRequest(rng, { running: running.id, started: [] });
      if (request.method === 'OPTIONS' || request.method === 'HEAD') continue;
      let response: InjectResponse;
      try {
        // fetch cannot send every URL the fuzzer makes; those that it refuses never reach the server.
        new URL(`${service.url}${request.url}`);
        const answer = await withTimeout(
          fetch(`${service.url}${request.url}`, { method: request.method, headers: request.headers, ...(request.payload !== undefined ? { body: request.payload } : {}) }),
          10_000,
          request.url.slice(0, 100),
        );
        response = { statusCode: answer.status, headers: {}, body: await answer.text() };
      } catch (error) {
        if (error instanceof TypeError) continue;
        failures.push(`seed ${seed}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const problem = checkAnswer(request, response);
      if (problem) failures.push(`seed ${seed}: ${problem}`);
    }
    const port = Number(new URL(service.url).port);
    const raw = [
      'GARBAGE\r\n\r\n',
      'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n',
      'POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"graph":',
      'POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
      'POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      `GET /api/jobs/${'a'.repeat(100_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      'GET /api/../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
      'GET /socket.io/?EIO=4&transport=polling&sid=../../x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
      'POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n42["x",{}',
      'GET /socket.io/?EIO=999&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n',
      'GET /api/health HTTP/1.1\r\nHost: evil.example\r\n\r\n',
      'GET\u0000 /api/health HTTP/1.1\r\n\r\n',
    ];
    for (const text of raw) {
      const answer = await withTimeout(
        new Promise<string>((resolve) => {
          const socket = netConnect(port, '127.0.0.1', () => socket.end(text));
          let data = '';
          socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
          socket.on('close', () => resolve(data));
          socket.on('error', () => resolve(data));
          socket.setTimeout(5000, () => socket.destroy());
        }),
        10_000,
        JSON.stringify(text.slice(0, 60)),
      );
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      if (status >= 500) failures.push(`raw ${JSON.stringify(text.slice(0, 80))}: ${answer.slice(0, 300)}`);
    }
    expect(failures).toEqual([]);
    expect((await fetch(`${service.url}/api/health`)).status).toBe(200);
    await expectRunningJobAlive(before);
  });

  it('a few hundred Socket.IO events with random names and payloads', { timeout: 120_000 }, async () => {
    const before = produced(running);
    const events = ['subscribe', 'unsubscribe', 'subscribe-jobs', 'unsubscribe-jobs', 'tap-start', 'tap-stop', 'hot-keys-subscribe', 'hot-keys-unsubscribe'];
    const socket: Socket = connectSocket(service.url, { transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.on('connect', () => resolve());
      socket.on('connect_error', reject);
    });
    const failures: string[] = [];
    const count = Math.max(300, Math.floor(RUNS / 30));
    for (let seed = 2_000_001; seed < 2_000_001 + count; seed++) {
      const rng = new Rng(seed);
      const known = rng.chance(0.9);
      const event = known ? rng.pick(events) : nastyString(rng).slice(0, 50) || 'x';
      const args: unknown[] = [];
      const n = rng.int(3);
      for (let i = 0; i < n; i++) {
        args.push(
          rng.chance(0.3)
            ? { jobId: rng.chance(0.5) ? running.id : nastyValue(rng), edgeId: rng.pick(['e1', 'e2', 'e3', nastyString(rng)]), nodeId: rng.pick(['count', 'by-page', nastyString(rng)]), tapId: nastyValue(rng), maxRecordsPerSecond: rng.pick(NASTY_NUMBERS), limit: rng.pick(NASTY_NUMBERS), detail: nastyValue(rng) }
            : rng.chance(0.1)
              ? Buffer.from([1, 2, 3])
              : nastyValue(rng),
        );
      }
      if (!socket.connected) {
        failures.push(`seed ${seed}: the server disconnected the client`);
        break;
      }
      const withAck = known && rng.chance(0.8);
      if (!withAck) {
        socket.emit(event, ...args);
        continue;
      }
      try {
        const reply = await withTimeout(socket.timeout(5000).emitWithAck(event, ...args) as Promise<unknown>, 6000, event);
        if (typeof reply !== 'object' || reply === null || typeof (reply as { ok?: unknown }).ok !== 'boolean') failures.push(`seed ${seed}: ${event} acked ${inspect(reply).slice(0, 200)}`);
        else if (!(reply as { ok: boolean }).ok && typeof (reply as { error?: unknown }).error !== 'string') failures.push(`seed ${seed}: ${event} refused without a message`);
      } catch (error) {
        failures.push(`seed ${seed}: ${event}(${JSON.stringify(args).slice(0, 200)}): ${error instanceof Error ? error.message : String(error)}`);
      }
      if (failures.length >= 10) break;
    }
    // Still the same healthy connection.
    const reply = (await socket.timeout(5000).emitWithAck('subscribe', { jobId: running.id })) as { ok: boolean };
    expect(reply.ok).toBe(true);
    socket.disconnect();
    expect(failures).toEqual([]);
    await expectRunningJobAlive(before);
  });
});

describe('what the fuzzer found, pinned', () => {
  const post = (url: string, payload: string) => service.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });

  it('a deeply nested JSON body is a 400 naming the depth, not a stack overflow (500)', async () => {
    for (const payload of [`{"graph": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`, `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`]) {
      const response = await post('/api/jobs', payload);
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body)).toEqual({ error: expect.stringMatching(/^the JSON body nests deeper than 256 levels \(at offset \d+\)/) as unknown });
    }
    // Brackets inside strings do not count.
    const inString = await post('/api/jobs', JSON.stringify({ graph: { name: '['.repeat(10_000) } }));
    expect(inString.statusCode).toBe(400);
    expect(JSON.parse(inString.body).error).toMatch(/^the job graph has \d+ errors?/);
  });

  it('an OPTIONS request that is no CORS preflight gets 204, not a text/plain 400', async () => {
    const response = await service.inject({ method: 'OPTIONS', url: '/api/jobs' });
    expect(response.statusCode).toBe(204);
  });

  it('Socket.IO events with too few or too many arguments are still acknowledged', async () => {
    const socket: Socket = connectSocket(service.url, { transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.on('connect', () => resolve());
      socket.on('connect_error', reject);
    });
    try {
      expect(await socket.timeout(2000).emitWithAck('subscribe')).toEqual({ ok: false, error: 'subscribe needs { jobId: string }' });
      expect(await socket.timeout(2000).emitWithAck('subscribe-jobs', { extra: true }, 5)).toEqual({ ok: true });
      expect(await socket.timeout(2000).emitWithAck('unsubscribe', { jobId: running.id }, 'extra')).toEqual({ ok: true });
      expect(await socket.timeout(2000).emitWithAck('subscribe', { jobId: running.id }, 'extra')).toMatchObject({ ok: true });
    } finally {
      socket.disconnect();
    }
  });

  it('a redeploy whose savepoint cannot be used answers 400 and leaves the running job running', async () => {
    const before = produced(running);
    const response = await post(`/api/jobs/${running.id}/redeploy`, JSON.stringify({ graph: runningGraph, savepoint: 'savepoints/none/savepoint-1' }));
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toMatch(/has no _metadata: it is not a completed checkpoint or savepoint/);
    await expectRunningJobAlive(before);
  });

  it("a redeploy's savepoint must lie in the engine's checkpoint storage (no reading elsewhere on its disk)", async () => {
    for (const savepoint of ['/etc', '../../..', '/', 'savepoints/../../x', `${jobs.storage.root}/../outside`]) {
      const response = await post(`/api/jobs/${running.id}/redeploy`, JSON.stringify({ graph: runningGraph, savepoint, dryRun: true }));
      expect(response.statusCode, savepoint).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ error: expect.stringMatching(/^'savepoint' must be a checkpoint or savepoint directory of this engine \(under /) as unknown, problems: [{ in: 'body', path: 'savepoint' }] });
    }
    expect(running.status).toBe('running');
  });
});
