/**
 * Contract tests of the engine service's REST API: a real service on 127.0.0.1 (a
 * free port) over a real task manager with two slots. Every answer, errors
 * included, is checked against the response schema the OpenAPI document gives for
 * its operation and status, so the document, the types and the service agree.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphJsonSchema, validateGraph, type JobGraphDocument } from '@sluice/graph-model';
import { JobManager, SubmissionError, TaskManager } from '@sluice/engine';
import { createEngineService, isLoopbackHost, type EngineService } from '../dist/service/index.js';
import { authRequiredFor } from '../dist/service/auth.js';
import { openApiText, OPENAPI_FILE } from '../dist/service/write-openapi.js';

const ENGINE = fileURLToPath(new URL('..', import.meta.url));

let taskManager: TaskManager;
let service: EngineService;
let dataDir: string;
let doc: { paths: Record<string, Record<string, { operationId: string; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>> };
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = new Map<string, ValidateFunction>();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-service-rest-'));
  taskManager = new TaskManager({ slots: 2 });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, taskManager });
  doc = (await (await fetch(`${service.url}/api/openapi.json`)).json()) as typeof doc;
  ajv.addSchema(graphJsonSchema());
  ajv.addSchema({ ...doc, $id: 'https://sluice.test/openapi.json' });
});

afterAll(async () => {
  await service.close();
  await taskManager.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked against the OpenAPI schemas, then read freely
  readonly body: any;
  readonly headers: Headers;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = service.url): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, body: type.includes('json') ? JSON.parse(text) : text, headers: response.headers };
}

/** Asserts the answer is documented for the operation and matches its schema. */
function conforms(operationId: string, answer: Answer): void {
  const found = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op }))).find((e) => e.op.operationId === operationId);
  if (!found) throw new Error(`no operation ${operationId} in the OpenAPI document`);
  const response = found.op.responses[String(answer.status)];
  expect(response, `${operationId} does not document status ${answer.status}: ${JSON.stringify(answer.body)}`).toBeDefined();
  if (!response?.content?.['application/json']) return;
  const pointer = `https://sluice.test/openapi.json#/paths/${found.path.replace(/~/g, '~0').replace(/\//g, '~1').replace(/[{}]/g, encodeURIComponent)}/${found.method}/responses/${answer.status}/content/application~1json/schema`;
  let validate = validators.get(pointer);
  if (!validate) {
    validate = ajv.compile({ $ref: pointer });
    validators.set(pointer, validate);
  }
  expect(validate(answer.body), `${operationId} ${answer.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body).slice(0, 500)}`).toBe(true);
}

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function bounded(count = 2000, name = 'bounded'): JobGraphDocument {
  return {
    schemaVersion: 1,
    name,
    job: { defaultParallelism: 2 },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count, ratePerSecond: 0, keys: 20 } },
      { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'w', type: 'tumbling-window', config: { sizeMs: 100, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
      { id: 'out', type: 'collect-sink', config: { name: 'counts', maxRecords: 100_000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'k' },
      { id: 'e2', source: 'k', target: 'w' },
      { id: 'e3', source: 'w', target: 'out' },
    ],
  };
}

function unbounded(name = 'unbounded'): JobGraphDocument {
  return {
    schemaVersion: 1,
    name,
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 100 } },
      { id: 'out', type: 'blackhole-sink', config: {} },
    ],
    edges: [{ id: 'e1', source: 'gen', target: 'out' }],
  };
}

async function finished(id: string): Promise<Answer> {
  return waitFor(async () => {
    const answer = await call('GET', `/api/jobs/${id}`);
    return answer.body.status === 'running' || answer.body.status === 'restarting' ? undefined : answer;
  });
}

describe('the OpenAPI document', () => {
  it('is served at /api/openapi.json and checked in at apps/engine/openapi.json, up to date', async () => {
    const served = await call('GET', '/api/openapi.json');
    expect(served.status).toBe(200);
    expect(served.body.openapi).toBe('3.1.0');
    const checkedIn = readFileSync(OPENAPI_FILE, 'utf8');
    expect(OPENAPI_FILE).toBe(join(ENGINE, 'openapi.json'));
    expect(checkedIn, 'apps/engine/openapi.json is stale: run `npm run build && node apps/engine/dist/service/write-openapi.js`').toBe(openApiText());
    expect(JSON.parse(checkedIn)).toEqual(served.body);
  });

  it('documents every operation with responses whose schemas compile', () => {
    const operations = Object.values(doc.paths).flatMap((ops) => Object.values(ops));
    expect(operations.map((o) => o.operationId).sort()).toEqual(
      [
        'cancelJob', 'getCheckpoint', 'getCheckpoints', 'getGraphSchema', 'getHealth', 'getJob', 'getJobExceptions', 'getJobResults', 'getMetrics', 'getOpenApi', 'getOverview',
        'getPipeline', 'getPipelineVersion', 'getSavepoint', 'listJobs', 'listKafkaTopics', 'listPipelines', 'queryState', 'redeployJob', 'savePipeline', 'stopWithSavepoint',
        'submitJob', 'triggerSavepoint', 'listTokens', 'createToken', 'revokeToken', 'revokeTenant',
      ].sort(),
    );
    for (const [name] of Object.entries((doc as unknown as { components: { schemas: object } }).components.schemas)) {
      expect(() => ajv.compile({ $ref: `https://sluice.test/openapi.json#/components/schemas/${name}` }), name).not.toThrow();
    }
  });
});

describe('service endpoints', () => {
  it('answers health, overview and the graph schema', async () => {
    const health = await call('GET', '/api/health');
    conforms('getHealth', health);
    expect(health.body.status).toBe('ok');
    const overview = await call('GET', '/api/overview');
    conforms('getOverview', overview);
    expect(overview.body).toMatchObject({ slots: 2, authRequired: false });
    const schema = await call('GET', '/api/schema/job-graph.json');
    expect(schema.status).toBe(200);
    expect(schema.body).toEqual(graphJsonSchema());
  });

  it('answers 404 naming an unknown endpoint', async () => {
    const answer = await call('GET', '/api/nothing-here?x=1');
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ error: 'no such endpoint: GET /api/nothing-here' });
  });
});

/** A keyed job whose hour-long windows keep state (and a timer) per key while it runs. */
function hourWindows(name: string, key: { kind: 'field'; field: string } | { kind: 'function'; fn: string }, stateBackend: { type: 'heap' } | { type: 'rocksdb' } = { type: 'heap' }): JobGraphDocument {
  return {
    schemaVersion: 1,
    name,
    job: { defaultParallelism: 2, stateBackend, checkpointing: { enabled: true, intervalMs: 60_000 } },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 400, keys: 8, eventIntervalMs: 1 } },
      { id: 'k', type: 'key-by', config: { key } },
      { id: 'w', type: 'tumbling-window', config: { sizeMs: 3_600_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
      { id: 'out', type: 'collect-sink', config: { name: 'hours', maxRecords: 1000 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'k' },
      { id: 'e2', source: 'k', target: 'w' },
      { id: 'e3', source: 'w', target: 'out' },
    ],
  };
}

describe('jobs', () => {
  it('submits a graph (201, Location), runs it and shows status, graph, plan with key-group ranges, times and results', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: bounded() });
    conforms('submitJob', submitted);
    expect(submitted.status).toBe(201);
    expect(submitted.headers.get('location')).toBe(`/api/jobs/${submitted.body.id}`);
    expect(submitted.body).toMatchObject({ name: 'bounded', status: 'running', pipeline: null, endTime: null, warnings: [] });

    const detail = await finished(submitted.body.id);
    conforms('getJob', detail);
    const job = detail.body;
    expect(job.status).toBe('finished');
    expect(job.restarts).toBe(0);
    expect(job.failure).toBeNull();
    expect(job.endTime).toBeGreaterThanOrEqual(job.startTime);
    expect(job.durationMs).toBe(job.endTime - job.startTime);
    // The graph as validated: it validates again, with defaults applied.
    expect(validateGraph(job.graph).ok).toBe(true);
    expect(job.graph.job.maxParallelism).toBe(128);
    // The key-by became a hash exchange into the window's task, whose two subtasks split the 128 key groups.
    const windowTask = job.plan.tasks.find((t: { operators: { nodeId: string }[] }) => t.operators[0]?.nodeId === 'w');
    expect(windowTask.subtasks).toEqual([
      { index: 0, keyGroupRange: { start: 0, end: 63 } },
      { index: 1, keyGroupRange: { start: 64, end: 127 } },
    ]);
    const exchange = job.plan.exchanges.find((x: { to: { nodeId: string } }) => x.to.nodeId === 'w');
    expect(exchange).toMatchObject({ edgeIds: ['e1', 'e2'], from: { nodeId: 'gen', output: 'main' }, partitioning: 'hash', keyed: true });
    const total = job.sinks[0];
    expect(total).toMatchObject({ name: 'counts', nodeId: 'out', dropped: 0 });

    const rows = await waitFor(async () => {
      const answer = await call('GET', `/api/jobs/${job.id}/results/counts?limit=10000`);
      const sum = answer.body.rows.reduce((n: number, r: { value: { count: number } }) => n + r.value.count, 0);
      return sum === 2000 ? answer : undefined;
    });
    conforms('getJobResults', rows);
    expect(rows.body.rows[0]).toMatchObject({ kind: '+I', timestamp: expect.any(Number) });

    const page = await call('GET', `/api/jobs/${job.id}/results/counts?limit=3&offset=2`);
    conforms('getJobResults', page);
    expect(page.body).toMatchObject({ sink: 'counts', offset: 2, limit: 3, total: rows.body.total });
    expect(page.body.rows).toEqual(rows.body.rows.slice(2, 5));

    const exceptions = await call('GET', `/api/jobs/${job.id}/exceptions`);
    conforms('getJobExceptions', exceptions);
    expect(exceptions.body).toEqual({ entries: [] });
  });

  it('lists jobs newest first', async () => {
    const a = await call('POST', '/api/jobs', { graph: bounded(10, 'first') });
    const b = await call('POST', '/api/jobs', { graph: bounded(10, 'second') });
    const list = await call('GET', '/api/jobs');
    conforms('listJobs', list);
    const ids = list.body.jobs.map((j: { id: string }) => j.id);
    expect(ids.indexOf(b.body.id)).toBeLessThan(ids.indexOf(a.body.id));
    await finished(a.body.id);
    await finished(b.body.id);
  });

  it('refuses an invalid graph with 400 listing every error with its path', async () => {
    const graph = bounded();
    graph.nodes[0] = { id: 'gen', type: 'generater', config: {} };
    graph.nodes[2] = { id: 'w', type: 'tumbling-window', config: { sizeMs: -1, function: { kind: 'aggregations', aggregations: [] } } };
    const answer = await call('POST', '/api/jobs', { graph });
    conforms('submitJob', answer);
    expect(answer.status).toBe(400);
    const expected = validateGraph(graph).problems.filter((p) => p.severity === 'error');
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(answer.body.problems).toEqual(
      expected.map((p) => ({ in: 'graph', path: p.path, message: p.message, code: p.code, ...(p.nodeId !== undefined ? { nodeId: p.nodeId } : {}), ...(p.edgeId !== undefined ? { edgeId: p.edgeId } : {}) })),
    );
    expect(answer.body.problems.map((p: { path: string }) => p.path)).toEqual(expect.arrayContaining(['nodes[0].type', 'nodes[2].config.sizeMs', 'nodes[2].config.function.aggregations']));
    expect(answer.body.error).toMatch(/^the job graph has \d+ errors: nodes\[0\]\.type: unknown operator type 'generater'/);
  });

  it('refuses a graph the engine cannot run (a SubmissionError after validation) with 400 naming the node', async () => {
    // Which operator types the engine lacks changes as it grows: a job manager that refuses stands in.
    class RefusingJobManager extends JobManager {
      override submit(): Promise<never> {
        return Promise.reject(new SubmissionError('this engine cannot run tumbling-window yet', [{ path: 'nodes[2].type', message: "operator type 'tumbling-window' is not implemented by this engine yet", nodeId: 'w' }]));
      }
    }
    const refusing = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, jobManager: new RefusingJobManager(taskManager) });
    try {
      const answer = await call('POST', '/api/jobs', { graph: bounded() }, {}, refusing.url);
      conforms('submitJob', answer);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        error: 'this engine cannot run tumbling-window yet',
        problems: [{ in: 'graph', path: 'nodes[2].type', message: "operator type 'tumbling-window' is not implemented by this engine yet", nodeId: 'w' }],
      });
      // Given only a job manager, the service does not know the slots.
      expect((await call('GET', '/api/overview', undefined, {}, refusing.url)).body.slots).toBeNull();
    } finally {
      await refusing.close();
    }
  });

  it('answers 400 with the position for malformed JSON', async () => {
    const answer = await call('POST', '/api/jobs', '{\n  "graph": {\n    "name": "x",,\n  }\n}');
    conforms('submitJob', answer);
    expect(answer.status).toBe(400);
    expect(answer.body.position).toMatchObject({ line: 3, column: 17 });
    expect(answer.body.error).toMatch(/^malformed JSON at line 3, column 17: /);
  });

  it('names the field for every body error', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{}, 'graph', "is required (or 'pipeline')"],
      [{ graph: bounded(), pipeline: 'p' }, 'pipeline', "cannot be given together with 'graph'"],
      [{ graph: bounded(), version: 2 }, 'version', "only goes with 'pipeline'"],
      [{ graph: 'not a graph' }, 'graph', 'must be object'],
      [{ graph: bounded(), extra: true }, 'extra', 'is not a known field'],
      [{ pipeline: '../etc' }, 'pipeline', 'must match pattern "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"'],
      [{ pipeline: 'p', version: 0 }, 'version', 'must be >= 1'],
      [[1, 2], '$', 'must be object'],
    ];
    for (const [body, path, message] of cases) {
      const answer = await call('POST', '/api/jobs', body);
      conforms('submitJob', answer);
      expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(answer.body.problems).toContainEqual({ in: 'body', path, message });
      expect(answer.body.error).toContain(path === '$' ? 'must be object' : path);
    }
  });

  it('answers 400 for a missing body, 415 for another content type, 413 beyond 5 MB', async () => {
    const missing = await call('POST', '/api/jobs');
    conforms('submitJob', missing);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/request body is required/);

    const text = await call('POST', '/api/jobs', 'name=x', { 'content-type': 'text/plain' });
    conforms('submitJob', text);
    expect(text.status).toBe(415);
    expect(text.body.error).toBe("unsupported content type 'text/plain': send application/json");

    const huge = JSON.stringify({ graph: { ...bounded(), description: 'x'.repeat(5 * 1024 * 1024) } });
    const tooLarge = await call('POST', '/api/jobs', huge);
    conforms('submitJob', tooLarge);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error).toBe('the request body is larger than the limit of 5 MB (5242880 bytes)');
  });

  it('answers 404 naming the id on every job endpoint', async () => {
    const id = 'no-such-job';
    const endpoints: Array<[string, string, string, unknown?]> = [
      ['getJob', 'GET', `/api/jobs/${id}`],
      ['cancelJob', 'POST', `/api/jobs/${id}/cancel`],
      ['getJobResults', 'GET', `/api/jobs/${id}/results/out`],
      ['getJobExceptions', 'GET', `/api/jobs/${id}/exceptions`],
      ['queryState', 'GET', `/api/jobs/${id}/state?node=w&key=a`],
      ['triggerSavepoint', 'POST', `/api/jobs/${id}/savepoints`],
      ['getSavepoint', 'GET', `/api/jobs/${id}/savepoints/r1`],
      ['stopWithSavepoint', 'POST', `/api/jobs/${id}/stop`, { drain: true }],
      ['redeployJob', 'POST', `/api/jobs/${id}/redeploy`, { pipeline: 'p' }],
      ['getCheckpoints', 'GET', `/api/jobs/${id}/checkpoints`],
      ['getCheckpoint', 'GET', `/api/jobs/${id}/checkpoints/1`],
    ];
    for (const [operation, method, path, body] of endpoints) {
      const answer = await call(method, path, body);
      conforms(operation, answer);
      expect(answer.status, operation).toBe(404);
      expect(answer.body).toEqual({ error: `no job with id '${id}'` });
    }
  });

  it('cancels a running job (202), then answers 409', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: unbounded() });
    const cancel = await call('POST', `/api/jobs/${submitted.body.id}/cancel`);
    conforms('cancelJob', cancel);
    expect(cancel.status).toBe(202);
    expect(cancel.body).toEqual({ id: submitted.body.id, status: 'cancelled' });
    const again = await call('POST', `/api/jobs/${submitted.body.id}/cancel`);
    conforms('cancelJob', again);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe(`job '${submitted.body.id}' is not running: it was already cancelled`);
  });

  it('checks limit, offset and the sink name of results', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: bounded(10) });
    const id = submitted.body.id as string;
    for (const [query, path, message] of [
      ['limit=0', 'limit', 'must be >= 1'],
      ['limit=10001', 'limit', 'must be <= 10000'],
      ['limit=ten', 'limit', 'must be integer'],
      ['offset=-1', 'offset', 'must be >= 0'],
      ['page=2', 'page', 'is not a known parameter'],
    ] as const) {
      const answer = await call('GET', `/api/jobs/${id}/results/counts?${query}`);
      conforms('getJobResults', answer);
      expect(answer.status, query).toBe(400);
      expect(answer.body.problems).toEqual([{ in: 'query', path, message }]);
    }
    const unknown = await call('GET', `/api/jobs/${id}/results/nope`);
    conforms('getJobResults', unknown);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe(`job '${id}' has no collect sink named 'nope'; its collect sinks: 'counts'`);
    await finished(id);
  });

  it('shows a failure with operator, subtask, key and record, in the job and its exception history', async () => {
    const graph: JobGraphDocument = {
      schemaVersion: 1,
      name: 'failing',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 5000, ratePerSecond: 0, keys: 10 } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        {
          id: 'boom',
          type: 'tumbling-window',
          config: { sizeMs: 1000, function: { kind: 'aggregate', aggregate: "({ createAccumulator: () => 0, add: (v, acc) => { if (v.key === 'key-3') throw new Error('no key-3'); return acc + 1; }, getResult: (a) => a })" } },
        },
        { id: 'out', type: 'collect-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'k' },
        { id: 'e2', source: 'k', target: 'boom' },
        { id: 'e3', source: 'boom', target: 'out' },
      ],
    };
    const submitted = await call('POST', '/api/jobs', { graph });
    const detail = await finished(submitted.body.id);
    conforms('getJob', detail);
    expect(detail.body.status).toBe('failed');
    expect(detail.body.failure).toMatchObject({ nodeId: 'boom', subtaskIndex: 0, key: 'key-3', record: expect.stringContaining('"key":"key-3"'), message: expect.stringMatching(/^no key-3 \(/) });
    expect(detail.body.failure.taskName).toContain('boom');
    const history = await call('GET', `/api/jobs/${submitted.body.id}/exceptions`);
    conforms('getJobExceptions', history);
    expect(history.body.entries).toEqual([detail.body.failure]);
  });

  /** Window state of one key as the state query shows it: one accumulator and the window's end-of-window timer. */
  async function windowStateOf(id: string, key: string, extra = ''): Promise<Answer> {
    return waitFor(async () => {
      const answer = await call('GET', `/api/jobs/${id}/state?node=w&key=${encodeURIComponent(key)}${extra}`);
      return answer.status !== 200 || answer.body.states.length > 0 ? answer : undefined;
    });
  }

  it('answers the state query of a key with every state value and pending timer, from the subtask owning its key group (heap and RocksDB)', async () => {
    for (const backend of [{ type: 'heap' }, { type: 'rocksdb' }] as const) {
      const submitted = await call('POST', '/api/jobs', { graph: hourWindows(`state ${backend.type}`, { kind: 'field', field: 'key' }, backend) });
      expect(submitted.status).toBe(201);
      const id = submitted.body.id as string;
      const first = await windowStateOf(id, 'key-3');
      conforms('queryState', first);
      expect(first.status).toBe(200);
      const detail = await call('GET', `/api/jobs/${id}`);
      const ranges = detail.body.plan.tasks.find((t: { operators: Array<{ nodeId: string }> }) => t.operators[0]?.nodeId === 'w').subtasks as Array<{ index: number; keyGroupRange: { start: number; end: number } }>;
      const owner = ranges.find((r) => first.body.keyGroup >= r.keyGroupRange.start && first.body.keyGroup <= r.keyGroupRange.end);
      expect(first.body).toMatchObject({ nodeId: 'w', key: 'key-3', subtask: owner?.index, attempt: 0 });
      expect(first.body.states).toHaveLength(1);
      expect(first.body.states[0].kind, backend.type).not.toBeNull();
      expect(first.body.states[0].namespace, 'window state lives in a window namespace').not.toBeNull();
      // The window [0 h, 1 h) of 1_700_000_000_000 + n ms fires at its last millisecond.
      const windowEnd = Math.ceil((1_700_000_000_000 + 1) / 3_600_000) * 3_600_000;
      expect(first.body.timers.event).toEqual([{ timestamp: windowEnd - 1, namespace: first.body.states[0].namespace }]);
      // State is read live: the count of the key grows while the job runs.
      const later = await waitFor(async () => {
        const answer = await call('GET', `/api/jobs/${id}/state?node=w&key=key-3`);
        return JSON.stringify(answer.body.states[0]?.value) !== JSON.stringify(first.body.states[0].value) ? answer : undefined;
      });
      conforms('queryState', later);

      const none = await call('GET', `/api/jobs/${id}/state?node=w&key=no-such-key`);
      conforms('queryState', none);
      expect(none.status).toBe(200);
      expect(none.body).toMatchObject({ key: 'no-such-key', states: [], timers: { event: [], processing: [] } });
      expect((await call('POST', `/api/jobs/${id}/cancel`)).status).toBe(202);
    }
  });

  it('reads numeric keys as numbers when the key-by yields numbers (keyType auto), or as text when asked', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: hourWindows('numeric keys', { kind: 'function', fn: '(r) => r.id % 4' }) });
    const id = submitted.body.id as string;
    const auto = await windowStateOf(id, '2');
    conforms('queryState', auto);
    expect(auto.body.key).toBe(2);
    const asText = await call('GET', `/api/jobs/${id}/state?node=w&key=2&keyType=string`);
    conforms('queryState', asText);
    expect(asText.body).toMatchObject({ key: '2', states: [] });
    const notNumber = await call('GET', `/api/jobs/${id}/state?node=w&key=two&keyType=number`);
    conforms('queryState', notNumber);
    expect(notNumber.status).toBe(400);
    expect(notNumber.body.error).toBe("key 'two' is not a number (keyType 'number')");
    expect((await call('POST', `/api/jobs/${id}/cancel`)).status).toBe(202);
  });

  it('rejects state queries that cannot be answered, saying why: 400 without node and key or on a node without keyed state, 404 for an unknown node, 409 once the job ended', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: hourWindows('state errors', { kind: 'field', field: 'key' }) });
    const id = submitted.body.id as string;
    const missing = await call('GET', `/api/jobs/${id}/state`);
    conforms('queryState', missing);
    expect(missing.status).toBe(400);
    expect(missing.body.problems).toEqual([
      { in: 'query', path: 'node', message: 'is required' },
      { in: 'query', path: 'key', message: 'is required' },
    ]);
    const unknownNode = await call('GET', `/api/jobs/${id}/state?node=nope&key=a`);
    conforms('queryState', unknownNode);
    expect(unknownNode.status).toBe(404);
    expect(unknownNode.body.error).toBe(`job '${id}' has no node 'nope'; its nodes: 'gen', 'k', 'w' or 'out'`);
    const notKeyed = await call('GET', `/api/jobs/${id}/state?node=gen&key=a`);
    conforms('queryState', notKeyed);
    expect(notKeyed.status).toBe(400);
    expect(notKeyed.body.error).toBe("node 'gen' (generator) has no keyed state: only an operator right after a key-by keeps state per key; keyed operators of this job: 'w'");
    expect((await call('POST', `/api/jobs/${id}/cancel`)).status).toBe(202);
    const ended = await call('GET', `/api/jobs/${id}/state?node=w&key=key-1`);
    conforms('queryState', ended);
    expect(ended.status).toBe(409);
    expect(ended.body.error).toBe(`job '${id}' is cancelled; state is read from running subtasks`);
  });

  it('keeps every failure in the exception history, with the attempt and whether the job restarted', async () => {
    const graph: JobGraphDocument = {
      schemaVersion: 1,
      name: 'restarting',
      job: { restartStrategy: { type: 'fixed-delay', attempts: 2, delayMs: 50 } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 5000, ratePerSecond: 0 } },
        { id: 'boom', type: 'map', config: { fn: "(v) => { if (v.value === 1234) throw new Error('bad value'); return v; }" } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'boom' },
        { id: 'e2', source: 'boom', target: 'out' },
      ],
    };
    const submitted = await call('POST', '/api/jobs', { graph });
    const detail = await finished(submitted.body.id);
    conforms('getJob', detail);
    expect(detail.body).toMatchObject({ status: 'failed', restarts: 2, failure: { attempt: 2, restarted: false, nodeId: 'boom' } });
    const history = await call('GET', `/api/jobs/${submitted.body.id}/exceptions`);
    conforms('getJobExceptions', history);
    expect(history.body.entries.map((e: { attempt: number; restarted: boolean }) => [e.attempt, e.restarted])).toEqual([
      [2, false],
      [1, true],
      [0, true],
    ]);
    expect(history.body.entries[0]).toEqual(detail.body.failure);
  });
});

describe('checkpoints, savepoints and redeploy', () => {
  /** An unbounded keyed count; checkpoints every 200 ms when enabled. */
  function counting(checkpointing: boolean, extraMap = false): JobGraphDocument {
    return {
      schemaVersion: 1,
      name: extraMap ? 'counting v2' : 'counting',
      job: { defaultParallelism: 2, checkpointing: { enabled: checkpointing, intervalMs: 200 } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 500, keys: 10 } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'w', type: 'tumbling-window', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
        ...(extraMap ? [{ id: 'tag', type: 'map', config: { fn: '(v) => ({ ...v, v2: true })' } }] : []),
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'k' },
        { id: 'e2', source: 'k', target: 'w' },
        ...(extraMap
          ? [
              { id: 'e3', source: 'w', target: 'tag' },
              { id: 'e4', source: 'tag', target: 'out' },
            ]
          : [{ id: 'e3', source: 'w', target: 'out' }]),
      ],
    };
  }

  const savepointDone = (jobId: string, requestId: string) =>
    waitFor(async () => {
      const answer = await call('GET', `/api/jobs/${jobId}/savepoints/${requestId}`);
      return answer.body.status === 'in-progress' ? undefined : answer;
    }, 20_000);

  it('answers 409 naming why when the job does not checkpoint, and shows an empty history', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: counting(false) });
    const id = submitted.body.id as string;
    try {
      for (const [operation, path, body] of [
        ['triggerSavepoint', `/api/jobs/${id}/savepoints`, undefined],
        ['stopWithSavepoint', `/api/jobs/${id}/stop`, {}],
        ['redeployJob', `/api/jobs/${id}/redeploy`, { graph: counting(false) }],
      ] as const) {
        const answer = await call('POST', path, body);
        conforms(operation, answer);
        expect(answer.status, operation).toBe(409);
        expect(answer.body.error).toContain(`job '${id}' does not enable checkpointing`);
      }
      const history = await call('GET', `/api/jobs/${id}/checkpoints`);
      conforms('getCheckpoints', history);
      expect(history.body).toEqual({ counts: { completed: 0, failed: 0, inProgress: 0 }, history: [] });
      const dryRun = await call('POST', `/api/jobs/${id}/redeploy`, { graph: counting(false), dryRun: true });
      conforms('redeployJob', dryRun);
      expect(dryRun.status).toBe(409);
      expect(dryRun.body.error).toBe(`job '${id}' has no completed checkpoint or savepoint yet; give 'savepoint' to plan from`);
      const unknown = await call('GET', `/api/jobs/${id}/savepoints/nope`);
      conforms('getSavepoint', unknown);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toBe(`job '${id}' has no savepoint request 'nope'`);
    } finally {
      await call('POST', `/api/jobs/${id}/cancel`);
    }
  });

  it('shows checkpoint history, takes a savepoint, plans a restore, redeploys an edited graph and stops it with a savepoint', async () => {
    const submitted = await call('POST', '/api/jobs', { graph: counting(true) });
    const id = submitted.body.id as string;
    const history = await waitFor(async () => {
      const answer = await call('GET', `/api/jobs/${id}/checkpoints`);
      return answer.body.counts.completed > 0 ? answer : undefined;
    }, 20_000);
    conforms('getCheckpoints', history);
    expect(history.body.history.find((c: { status: string }) => c.status === 'completed')).toMatchObject({ savepoint: false, location: expect.any(String), stateSizeBytes: expect.any(Number) });
    const completedId = (history.body.history.find((c: { status: string }) => c.status === 'completed') as { id: number }).id;
    const detail = await call('GET', `/api/jobs/${id}/checkpoints/${completedId}`);
    conforms('getCheckpoint', detail);
    expect(detail.status).toBe(200);
    expect(detail.body.acknowledged).toBe(detail.body.expected);
    const notKept = await call('GET', `/api/jobs/${id}/checkpoints/99999`);
    conforms('getCheckpoint', notKept);
    expect(notKept.status).toBe(404);
    expect(notKept.body.error).toContain(`job '${id}' has no checkpoint 99999 in its history`);
    const malformed = await call('GET', `/api/jobs/${id}/checkpoints/first`);
    conforms('getCheckpoint', malformed);
    expect(malformed.status).toBe(400);

    const accepted = await call('POST', `/api/jobs/${id}/savepoints`);
    conforms('triggerSavepoint', accepted);
    expect(accepted.status).toBe(202);
    const savepoint = await savepointDone(id, accepted.body.requestId as string);
    conforms('getSavepoint', savepoint);
    expect(savepoint.body).toMatchObject({ jobId: id, kind: 'savepoint', status: 'completed', failure: null, location: expect.any(String) });

    // The restore plan of an edited graph: the window's state is restored, the new map starts empty.
    const dryRun = await call('POST', `/api/jobs/${id}/redeploy`, { graph: counting(true, true), savepoint: savepoint.body.location, dryRun: true });
    conforms('redeployJob', dryRun);
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.job).toBeNull();
    const statusOf = (nodeId: string) => dryRun.body.restorePlan.entries.find((e: { nodeId: string }) => e.nodeId === nodeId)?.status as string | undefined;
    expect(statusOf('w')).toBe('restored');
    expect(statusOf('tag')).toBe('new');
    expect(dryRun.body.restorePlan.problems).toEqual([]);
    expect((await call('GET', `/api/jobs/${id}`)).body.status).toBe('running');

    // Redeploy for real: stop with a savepoint, start the edited graph from it.
    const redeployed = await call('POST', `/api/jobs/${id}/redeploy`, { graph: counting(true, true) });
    conforms('redeployJob', redeployed);
    expect(redeployed.status).toBe(201);
    expect(redeployed.headers.get('location')).toBe(`/api/jobs/${redeployed.body.job.id}`);
    expect(redeployed.body.job).toMatchObject({ name: 'counting v2', status: 'running' });
    expect(redeployed.body.restorePlan.entries.find((e: { nodeId: string }) => e.nodeId === 'tag')?.status).toBe('new');
    expect((await call('GET', `/api/jobs/${id}`)).body.status).toBe('cancelled');
    const next = await call('GET', `/api/jobs/${redeployed.body.job.id}`);
    conforms('getJob', next);
    expect(next.body.restorePlan).toEqual(redeployed.body.restorePlan);

    const stop = await call('POST', `/api/jobs/${redeployed.body.job.id}/stop`);
    conforms('stopWithSavepoint', stop);
    expect(stop.status).toBe(202);
    const stopped = await savepointDone(redeployed.body.job.id, stop.body.requestId);
    expect(stopped.body).toMatchObject({ kind: 'stop-with-savepoint', status: 'completed' });
    expect((await finished(redeployed.body.job.id)).body.status).toBe('cancelled');

    const badBody = await call('POST', `/api/jobs/${redeployed.body.job.id}/stop`, { drain: 'yes' });
    conforms('stopWithSavepoint', badBody);
    expect(badBody.status).toBe(400);
    expect(badBody.body.problems).toEqual([{ in: 'body', path: 'drain', message: 'must be boolean' }]);
  });
});

describe('stop with drain', () => {
  async function stopAfterRecords(drain: boolean): Promise<Array<{ value: { key: string; count: number } }>> {
    const submitted = await call('POST', '/api/jobs', { graph: hourWindows('hourly', { kind: 'field', field: 'key' }) });
    const id = submitted.body.id as string;
    // Let records of every key into the hour-long windows.
    for (let k = 0; k < 8; k++) {
      await waitFor(async () => {
        const state = await call('GET', `/api/jobs/${id}/state?node=w&key=key-${k}`);
        return state.status === 200 && state.body.states.length > 0 ? true : undefined;
      });
    }
    const stop = await call('POST', `/api/jobs/${id}/stop`, drain ? { drain: true } : {});
    conforms('stopWithSavepoint', stop);
    expect(stop.status).toBe(202);
    const done = await waitFor(async () => {
      const answer = await call('GET', `/api/jobs/${id}/savepoints/${stop.body.requestId}`);
      return answer.body.status === 'in-progress' ? undefined : answer;
    }, 20_000);
    expect(done.body).toMatchObject({ kind: 'stop-with-savepoint', status: 'completed' });
    expect((await finished(id)).body.status).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 300));
    const results = await call('GET', `/api/jobs/${id}/results/hours?limit=1000`);
    conforms('getJobResults', results);
    return results.body.rows as Array<{ value: { key: string; count: number } }>;
  }

  it('without drain, the savepoint keeps open windows in state and nothing fires', async () => {
    const rows = await stopAfterRecords(false);
    expect(rows).toEqual([]);
  });

  it('with drain, the final watermark fires every event-time window before the savepoint, and the results are committed (Flink stop --drain)', async () => {
    const rows = await stopAfterRecords(true);
    expect(rows.map((r) => r.value.key).sort()).toEqual(['key-0', 'key-1', 'key-2', 'key-3', 'key-4', 'key-5', 'key-6', 'key-7']);
    for (const row of rows) expect(row.value.count).toBeGreaterThan(0);
  });
});

describe('pipelines', () => {
  it('stores versions (201, Location), keeps an unchanged graph as the same version (200), lists and reads them', async () => {
    const v1 = await call('POST', '/api/pipelines', { name: 'clicks', graph: bounded(100, 'clicks v1'), description: 'first' });
    conforms('savePipeline', v1);
    expect(v1.status).toBe(201);
    expect(v1.headers.get('location')).toBe('/api/pipelines/clicks/versions/1');
    expect(v1.body).toMatchObject({ name: 'clicks', version: 1, created: true, description: 'first', warnings: [] });

    const same = await call('POST', '/api/pipelines', { name: 'clicks', graph: bounded(100, 'clicks v1') });
    conforms('savePipeline', same);
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ version: 1, created: false, sha256: v1.body.sha256 });

    const v2 = await call('POST', '/api/pipelines', { name: 'clicks', graph: bounded(200, 'clicks v2') });
    conforms('savePipeline', v2);
    expect(v2.body).toMatchObject({ version: 2, created: true, description: null });

    const list = await call('GET', '/api/pipelines');
    conforms('listPipelines', list);
    expect(list.body.pipelines).toContainEqual({ name: 'clicks', latestVersion: 2, versions: 2, updatedAt: v2.body.createdAt });

    const detail = await call('GET', '/api/pipelines/clicks');
    conforms('getPipeline', detail);
    expect(detail.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);

    const version = await call('GET', '/api/pipelines/clicks/versions/1');
    conforms('getPipelineVersion', version);
    expect(version.body.graph.name).toBe('clicks v1');
    expect(version.body.graph.nodes[0].config.count).toBe(100);

    // Stored as one file per version, written atomically: no temporary file remains.
    const files = readdirSync(join(dataDir, 'pipelines', 'clicks'));
    expect(files.sort()).toEqual(['000001.json', '000002.json']);
  });

  it('answers 404 naming the pipeline or the version, and 400 for bad names, versions and graphs', async () => {
    await call('POST', '/api/pipelines', { name: 'known', graph: bounded(10) });
    const unknown = await call('GET', '/api/pipelines/unknown');
    conforms('getPipeline', unknown);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe("no pipeline named 'unknown'");
    const noVersion = await call('GET', '/api/pipelines/known/versions/7');
    conforms('getPipelineVersion', noVersion);
    expect(noVersion.status).toBe(404);
    expect(noVersion.body.error).toBe("pipeline 'known' has no version 7 (latest: 1)");
    const badVersion = await call('GET', '/api/pipelines/known/versions/latest');
    conforms('getPipelineVersion', badVersion);
    expect(badVersion.status).toBe(400);
    expect(badVersion.body.problems).toEqual([{ in: 'path', path: 'version', message: 'must be integer' }]);

    const badName = await call('POST', '/api/pipelines', { name: '../escape', graph: bounded(10) });
    conforms('savePipeline', badName);
    expect(badName.status).toBe(400);
    expect(badName.body.problems[0]).toMatchObject({ in: 'body', path: 'name' });
    const noGraph = await call('POST', '/api/pipelines', { name: 'x' });
    conforms('savePipeline', noGraph);
    expect(noGraph.body.problems).toEqual([{ in: 'body', path: 'graph', message: 'is required' }]);
    const invalid = bounded(10);
    invalid.edges.pop();
    const badGraph = await call('POST', '/api/pipelines', { name: 'x', graph: invalid });
    conforms('savePipeline', badGraph);
    expect(badGraph.status).toBe(400);
    expect(badGraph.body.problems.every((p: { in: string }) => p.in === 'graph')).toBe(true);
    expect(badGraph.body.problems.length).toBeGreaterThan(0);
  });

  it('gives concurrent saves distinct versions', async () => {
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => call('POST', '/api/pipelines', { name: 'racy', graph: bounded(n * 10, `racy ${n}`) })));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(answers.map((a) => a.body.version as number).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('submits a stored pipeline version as a job, and keeps pipelines across restarts of the service', async () => {
    await call('POST', '/api/pipelines', { name: 'deployable', graph: bounded(30, 'deployable v1') });
    await call('POST', '/api/pipelines', { name: 'deployable', graph: bounded(40, 'deployable v2') });
    const latest = await call('POST', '/api/jobs', { pipeline: 'deployable' });
    conforms('submitJob', latest);
    expect(latest.body).toMatchObject({ name: 'deployable v2', pipeline: { name: 'deployable', version: 2 } });
    const first = await call('POST', '/api/jobs', { pipeline: 'deployable', version: 1 });
    expect(first.body).toMatchObject({ name: 'deployable v1', pipeline: { name: 'deployable', version: 1 } });
    const missing = await call('POST', '/api/jobs', { pipeline: 'deployable', version: 9 });
    conforms('submitJob', missing);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe("pipeline 'deployable' has no version 9 (latest: 2)");
    await finished(latest.body.id);
    await finished(first.body.id);

    const second = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, taskManager });
    try {
      const answer = await call('GET', '/api/pipelines/deployable', undefined, {}, second.url);
      expect(answer.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    } finally {
      await second.close();
    }
  });
});

describe('access', () => {
  it('needs a token exactly when bound to a non-loopback address or given one', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.org', '::ffff:10.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
    expect(authRequiredFor('127.0.0.1', undefined)).toBe(false);
    expect(authRequiredFor('0.0.0.0', undefined)).toBe(true);
    expect(authRequiredFor('192.168.1.2', undefined)).toBe(true);
    expect(authRequiredFor('127.0.0.1', 'configured-token-123')).toBe(true);
  });

  it('allows the web app origins (CORS) and refuses other origins and non-loopback Host headers', async () => {
    const preflight = await call('OPTIONS', '/api/jobs', undefined, { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    const allowed = await call('GET', '/api/jobs', undefined, { origin: 'http://127.0.0.1:3000' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:3000');
    const evil = await call('GET', '/api/jobs', undefined, { origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.body.error).toBe("origin 'http://evil.example' is not allowed; allowed origins: http://127.0.0.1:3000, http://localhost:3000");
    // DNS rebinding: a page on another name that resolves to 127.0.0.1.
    const rebound = await rawGet(service.url, '/api/jobs', { host: 'rebound.example:8081' });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error).toMatch(/^host 'rebound.example:8081' is not allowed/);
  });

  describe('with a token required', () => {
    let secured: EngineService;
    let securedDir: string;

    beforeAll(async () => {
      // Tests bind only to loopback: requireToken gives the policy of a network-facing bind.
      securedDir = mkdtempSync(join(tmpdir(), 'sluice-service-auth-'));
      secured = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: securedDir, taskManager, requireToken: true });
    });
    afterAll(async () => {
      await secured.close();
      rmSync(securedDir, { recursive: true, force: true });
    });

    it('generates a token at first start, keeps it in <dataDir>/token (mode 0600), and reuses it', async () => {
      expect(secured.authRequired).toBe(true);
      expect(secured.tokenGenerated).toBe(true);
      expect(secured.tokenFile).toBe(join(securedDir, 'token'));
      expect(readFileSync(join(securedDir, 'token'), 'utf8').trim()).toBe(secured.token);
      expect(statSync(join(securedDir, 'token')).mode & 0o777).toBe(0o600);
      expect(secured.token?.length).toBeGreaterThanOrEqual(40);
      const again = await createEngineService({ host: '127.0.0.1', port: 0, dataDir: securedDir, taskManager, requireToken: true });
      try {
        expect(again.token).toBe(secured.token);
        expect(again.tokenGenerated).toBe(false);
      } finally {
        await again.close();
      }
    });

    it('answers 401 without or with a wrong token on REST and /metrics, and serves public endpoints without one', async () => {
      for (const path of ['/api/jobs', '/api/overview', '/metrics', '/api/pipelines', '/api/unknown']) {
        const none = await call('GET', path, undefined, {}, secured.url);
        expect(none.status, path).toBe(401);
        expect(none.headers.get('www-authenticate')).toBe('Bearer realm="sluice"');
        expect(none.body.error).toMatch(/^a bearer token is required/);
        const wrong = await call('GET', path, undefined, { authorization: 'Bearer not-the-token' }, secured.url);
        expect(wrong.status, path).toBe(401);
        expect(wrong.body).toEqual({ error: 'the bearer token is not valid' });
      }
      const withToken = await call('GET', '/api/overview', undefined, { authorization: `Bearer ${secured.token ?? ''}` }, secured.url);
      conforms('getOverview', withToken);
      expect(withToken.body.authRequired).toBe(true);
      const submit = await call('POST', '/api/jobs', { graph: bounded(10) }, { authorization: `Bearer ${secured.token ?? ''}` }, secured.url);
      expect(submit.status).toBe(201);
      for (const path of ['/api/health', '/api/openapi.json', '/api/schema/job-graph.json']) {
        expect((await call('GET', path, undefined, {}, secured.url)).status, path).toBe(200);
      }
      // With a token the Host check is not needed (a rebinding page has no token).
      const proxied = await rawGet(secured.url, '/api/overview', { host: 'engine.internal:8081', authorization: `Bearer ${secured.token ?? ''}` });
      expect(proxied.status).toBe(200);
    });

    it('refuses Socket.IO connections without or with a wrong token, and accepts the right one', async () => {
      const attempt = (auth: Record<string, string>) =>
        new Promise<string>((resolve) => {
          const socket = connect(secured.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
          socket.on('connect', () => {
            socket.close();
            resolve('connected');
          });
          socket.on('connect_error', (error) => {
            socket.close();
            resolve(error.message);
          });
        });
      expect(await attempt({})).toMatch(/^a bearer token is required/);
      expect(await attempt({ token: 'wrong' })).toBe('the bearer token is not valid');
      expect(await attempt({ token: secured.token ?? '' })).toBe('connected');
    });
  });
});

/** GET with headers fetch does not let us set (Host). */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
