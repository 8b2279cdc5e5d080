/**
 * The OpenAPI 3.1 document, generated from the route table and the schemas; served
 * at /api/openapi.json and checked in at apps/engine/openapi.json (a test fails
 * while the checked-in copy is stale; `node apps/engine/dist/service/write-openapi.js`
 * rewrites it after a build).
 */
import { components, GRAPH_IN_REQUEST, type Schema } from './schemas.js';
import { ROUTES, type ResponseDoc, type RouteDoc } from './routes.js';

export const SERVICE_VERSION = '0.1.0';
export const DEFAULT_PORT = 8081;

const GRAPH_REF: Schema = { $ref: '#/components/schemas/JobGraph' };

export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice engine',
      version: SERVICE_VERSION,
      description: [
        'The Sluice engine as a service: submit and follow jobs, store pipelines, scrape metrics.',
        '',
        '**Errors.** Every 4xx and 5xx answer has the body `ApiError`: `error` is a sentence naming the field, id or limit; `problems` lists every problem with `in` (graph, body, query, path) and `path`. Request bodies are limited to 5 MB (413) and must be `application/json` (415); malformed JSON answers 400 with `position`.',
        '',
        '**Security.** Bound to a loopback address (the default) no token is needed, but the Host header must name a loopback address. Bound to any other address, every operation except health, this document and the graph schema needs `Authorization: Bearer <token>`. Browsers may call from the configured origins only (default http://127.0.0.1:3000 and http://localhost:3000).',
        '',
        "**Tenants.** The engine's own token is the admin's: every job, and token management (`access`). A tenant token (`POST /api/tokens`, `sluice token create <tenant>`) reaches only its tenant's jobs and pipelines; another tenant's job answers 404 exactly like a job that does not exist. The admin acts as one tenant with the header `X-Sluice-Tenant: <tenant>`.",
        '',
        '**Kafka allow-list.** A hosted engine connects only to the Kafka bootstrap servers of its allow-list (`--kafka-allow`): the topic list and graphs naming another address answer 400, naming the address, the setting and the config field.',
        '',
        "**File allow-list.** A hosted engine's file sources and sinks use only paths inside the directories of `--file-allow` (a tenant: `<dir>/<tenant>/`), never the engine's data directory: a graph naming another path answers 400 with the config field's path.",
        '',
        "**Watermarks and times** in payloads are epoch milliseconds; JSON has no Infinity, so a watermark is a number, '-Infinity' (none yet) or '+Infinity' (end of input).",
        '',
        '**Live telemetry** is Socket.IO on the same port; see `x-socket-io`.',
      ].join('\n'),
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: `http://127.0.0.1:${DEFAULT_PORT}`, description: 'sluice serve (default)' }],
    tags: [
      { name: 'service', description: 'Health, overview, this document, metrics.' },
      { name: 'jobs', description: 'Submit, follow and cancel jobs; results and exceptions.' },
      { name: 'pipelines', description: 'Named pipelines with versions.' },
      { name: 'checkpointing', description: 'Savepoints, stop-with-savepoint, redeploy with a restore plan, checkpoint history.' },
      { name: 'access', description: 'Tenant tokens (admin only).' },
    ],
    security: [{ bearer: [] }, {}],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).map(([name, schema]) => [name, withGraphRefs(schema)])),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: "Required when the service is bound to a non-loopback address. The admin token is printed at start and kept in <dataDir>/token; tenant tokens come from POST /api/tokens or `sluice token create`.",
        },
      },
    },
    'x-socket-io': socketIoDescription(),
  };
}

function operation(route: RouteDoc): Record<string, unknown> {
  const parameters = [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')];
  const responses: Record<string, ResponseDoc> = { ...route.responses };
  if (route.body) {
    if (!(400 in responses)) responses[400] = { description: 'The request is invalid; `problems` names each field.', schema: 'ApiError' };
    responses[413] = { description: 'The body is larger than the limit (5 MB by default).', schema: 'ApiError' };
    responses[415] = { description: 'The body is not application/json.', schema: 'ApiError' };
  }
  if (route.public !== true) {
    responses[401] = { description: 'A bearer token is required and was missing or wrong.', schema: 'ApiError' };
    if (!(400 in responses)) responses[400] = { description: 'The X-Sluice-Tenant header is not a valid tenant name.', schema: 'ApiError' };
  }
  responses[403] = {
    description:
      route.adminOnly === true
        ? 'A tenant token called an admin-only operation, or the Origin is not on the allow-list, or (loopback-only) the Host is not a loopback address.'
        : 'The Origin is not on the allow-list, (loopback-only) the Host is not a loopback address, or X-Sluice-Tenant names another tenant than the token\'s.',
    schema: 'ApiError',
  };
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description !== undefined ? { description: route.description } : {}),
    ...(route.public === true ? { security: [] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? { requestBody: { required: route.body.required, content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.body.component}` } } } } }
      : {}),
    responses: Object.fromEntries(
      Object.entries(responses)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, doc]) => [status, responseObject(doc)]),
    ),
  };
}

function parametersOf(schema: Schema | undefined, where: 'path' | 'query'): Record<string, unknown>[] {
  if (!schema) return [];
  const properties = (schema['properties'] ?? {}) as Record<string, Schema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property as { description?: string };
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description !== undefined ? { description } : {}),
      schema: rest,
    };
  });
}

function responseObject(doc: ResponseDoc): Record<string, unknown> {
  if (doc.schema === undefined) return { description: doc.description };
  const schema = typeof doc.schema === 'string' ? { $ref: `#/components/schemas/${doc.schema}` } : doc.schema;
  return { description: doc.description, content: { [doc.contentType ?? 'application/json']: { schema } } };
}

/** Request schemas carry a plain object schema for graphs (what Fastify checks); the document shows the JobGraph reference. */
function withGraphRefs(schema: Schema): Schema {
  if (schema === GRAPH_IN_REQUEST) return GRAPH_REF;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (Array.isArray(value)) out[key] = value.map((v: unknown) => (isSchema(v) ? withGraphRefs(v) : v));
    else if (isSchema(value)) out[key] = withGraphRefs(value);
    else out[key] = value;
  }
  return out;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function socketIoDescription(): Record<string, unknown> {
  const schema = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  return {
    path: '/socket.io',
    description:
      "Socket.IO 4 on the same port. With a token required, pass it as the handshake auth: io(url, { auth: { token } }). A tenant token joins only its own tenant's jobs (subscribe, taps and hot keys of another tenant's job are refused as 'no job with id …'), and subscribe-jobs brings job-status of its own jobs only. A frame carries a whole job and is sent at least once a second to subscribers of a running job, and once more when it ends.",
    clientToServer: {
      subscribe: {
        payload: { type: 'object', properties: { jobId: { type: 'string' }, detail: { type: 'string', enum: ['full', 'operators'] } }, required: ['jobId'] },
        ack: 'ok: true with job (JobSummary), or ok: false with error (unknown job)',
      },
      unsubscribe: { payload: { type: 'object', properties: { jobId: { type: 'string' } }, required: ['jobId'] } },
      'subscribe-jobs': { description: "Receive job-status of every job the token may see (a tenant's: its own)." },
      'unsubscribe-jobs': {},
      'tap-start': {
        payload: schema('TapRequest'),
        ack: 'ok: true with tapId, or ok: false with error (unknown job or edge, job not running, maxRecordsPerSecond above the engine\'s cap, limit out of range). Samples come as tap-records until the limit, tap-stop, the end of the job, or a disconnect.',
      },
      'tap-stop': { payload: { type: 'object', properties: { tapId: { type: 'string' } }, required: ['tapId'] } },
      'hot-keys-subscribe': {
        payload: schema('HotKeysRequest'),
        ack: 'ok: true, or ok: false with error (unknown job or node, a node with no keyed exchange, job not running). hot-keys once a second until hot-keys-unsubscribe or a disconnect; keys are counted only while someone subscribes.',
      },
      'hot-keys-unsubscribe': { payload: { type: 'object', properties: { jobId: { type: 'string' }, nodeId: { type: 'string' } }, required: ['jobId', 'nodeId'] } },
    },
    serverToClient: {
      metrics: { payload: schema('MetricsFrame') },
      'job-status': { payload: schema('JobStatusEvent') },
      'job-exception': { payload: schema('JobExceptionEvent') },
      'tap-records': { payload: schema('TapRecordsEvent') },
      'hot-keys': { payload: schema('HotKeysEvent') },
    },
  };
}
