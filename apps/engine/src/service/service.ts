/**
 * The engine as a long-lived service: REST API, Socket.IO telemetry and Prometheus
 * metrics on one HTTP port.
 *
 *   HTTP request ─▶ CORS (allow-list) ─▶ access (Origin, Host, bearer token)
 *                ─▶ JSON body (5 MB limit, positions for malformed JSON)
 *                ─▶ schema validation (ajv, every error named) ─▶ route handler
 *                ─▶ JSON answer; every error as ApiError { error, problems? }
 *   Socket.IO   ─▶ same Origin/Host check at the handshake, token in auth.token
 *                ─▶ subscribe to a job's room ─▶ metrics / job-status / job-exception
 *
 * Who the caller is (the admin, or one tenant: tenants.ts) is settled with the token;
 * every handler that touches a job or pipeline looks it up through the caller's view,
 * so another tenant's job is "no job with id …" everywhere, REST and Socket.IO alike.
 *   /metrics    ─▶ prom-client text from the same telemetry
 *
 * Why Fastify: it validates requests with JSON Schema out of the box (the same
 * schemas the OpenAPI document shows), limits bodies, has first-class hooks for the
 * access checks, runs on Node 20, and exposes its Node http.Server, which Socket.IO
 * attaches to. Node's bare http module would need all of that written by hand.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, relative as relativePath, resolve as resolvePath, sep as pathSeparator } from 'node:path';
import cors from '@fastify/cors';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { Server } from 'socket.io';
import { listKafkaTopics, parseBootstrapServers, type Key } from '@sluice/operators';
import { graphJsonSchema, parseJsonText, validateGraph, type GraphProblem, type JobGraphDocument } from '@sluice/graph-model';
import type {
  ApiProblem,
  ClientToServerEvents,
  CancelAccepted,
  CheckpointDetail,
  CheckpointHistory,
  RedeployResult,
  SavepointAccepted,
  SavepointStatus,
  ExceptionHistory,
  Health,
  JobDetail,
  JobList,
  JobSubmitted,
  KafkaTopics,
  Overview,
  TenantTokenCreated,
  TenantTokenList,
  TenantTokensRevoked,
  PipelineDetail,
  PipelineList,
  PipelineRef,
  PipelineSaved,
  PipelineVersion,
  ProblemLocation,
  SinkResults,
  StateQueryResult,
} from '@sluice/protocol';
import { JobManager, StateQueryError, type Job, type StateQueryAnswer } from '../cluster/job-manager.js';
import type { JobLimits } from '../cluster/limits.js';
import { TaskManager, type TaskExecutor } from '../cluster/task-manager.js';
import { authRequiredFor, bearerToken, checkAccess, DEFAULT_CORS_ORIGINS, loadOrCreateToken, type AccessPolicy } from './auth.js';
import { badRequest, conflict, HttpError, notFound, quotedList } from './errors.js';
import { fileAllowFor, fileGraphProblems, type FileAllowList } from './file-allow.js';
import { kafkaAllowFor, kafkaGraphProblems, refusalMessage, refusedAddresses, type KafkaAllowList } from './kafka-allow.js';
import { ADMIN, mayAccess, tenantOf, TenantTokens, type Principal } from './tenants.js';
import { roomOf, TelemetryHub, type SluiceServer } from './hub.js';
import { MAX_JSON_DEPTH, tooDeepAt } from './json-depth.js';
import { LiveDebugSockets } from './live-debug.js';
import { buildOpenApiDocument, SERVICE_VERSION } from './openapi.js';
import { PipelineStore } from './pipeline-store.js';
import { PrometheusExporter } from './prometheus.js';
import { ROUTES } from './routes.js';
import { checkpointDetail, checkpointHistory, collectSinks, executionGraph, exceptionHistory, graphDocument, jobException, jobSummary, restorePlanView, sinkInfos, stateQueryView } from './views.js';
import { rowKindName, safeStringify, wireTimestamp } from './wire.js';

export const DEFAULT_BODY_LIMIT = 5 * 1024 * 1024;

export interface EngineServiceOptions {
  /** Address to bind; default 127.0.0.1. Any non-loopback address requires a token. */
  readonly host?: string;
  /** Default 8081 (Flink's REST port); 0 picks a free port. */
  readonly port?: number;
  /** Pipelines and the generated token live here. */
  readonly dataDir: string;
  /** Default: a job manager on `taskManager`, keeping checkpoints and savepoints under `<dataDir>/checkpoints`. */
  readonly jobManager?: JobManager;
  /** Default: a task manager with one slot per core, shut down by close(). */
  readonly taskManager?: TaskExecutor;
  /** The admin's bearer token; when set a token is always required. Tenant tokens come from `<dataDir>/tokens.json` (tenants.ts). */
  readonly token?: string;
  /**
   * Require a token although bound to a loopback address (for a service behind a
   * proxy, and for tests of a network-exposed service). Default: required exactly
   * when bound to a non-loopback address or a token is configured.
   */
  readonly requireToken?: boolean;
  /** Exact origins browsers may call from; default the web app's (http://127.0.0.1:3000, http://localhost:3000). */
  readonly corsOrigins?: readonly string[];
  /** Largest request body in bytes; default 5 MB. */
  readonly bodyLimitBytes?: number;
  /** Wall clock (epoch ms); injected by tests. */
  readonly clock?: () => number;
  /** Sampling and frame intervals of the telemetry; defaults 100 ms and 1000 ms. */
  readonly telemetry?: { readonly sampleMs?: number; readonly frameMs?: number };
  /**
   * What one job may take (cluster/limits.ts). The job manager enforces parallelism and
   * state, the task manager record sizes; the service caps record taps by
   * maxTapRecordsPerSecond. Default: the job manager's own limits.
   */
  readonly limits?: JobLimits;
  /**
   * Kafka bootstrap servers the topic list and jobs may name (kafka-allow.ts): host:port
   * entries, or `*` for any. Default: any when no token is required (a single-user
   * engine on loopback), none when one is (a hosted engine allows only what it lists).
   */
  readonly kafkaAllow?: readonly string[];
  /**
   * Directories file sources and sinks may use (file-allow.ts), or `*` for any; a tenant
   * only `<dir>/<tenant>/`, and never the data directory. Default: any when no token is
   * required, none when one is.
   */
  readonly fileAllow?: readonly string[];
}

export interface EngineService {
  /** `http://127.0.0.1:8081`: where clients connect (a wildcard bind is reached on 127.0.0.1). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly authRequired: boolean;
  /** The token calls need, when authRequired. */
  readonly token: string | undefined;
  /** Where a generated token is kept. */
  readonly tokenFile: string | undefined;
  /** Whether the token was generated at this start (print it). */
  readonly tokenGenerated: boolean;
  readonly jobManager: JobManager;
  /** The limits in force (for record taps: maxTapRecordsPerSecond). */
  readonly limits: JobLimits;
  /** The Kafka clusters jobs and the topic list may reach. */
  readonly kafkaAllow: KafkaAllowList;
  /** The directories file sources and sinks may use. */
  readonly fileAllow: FileAllowList;
  /** Tenant tokens (`<dataDir>/tokens.json`); used when a token is required. */
  readonly tenants: TenantTokens;
  /**
   * Sends one request through the whole HTTP pipeline (access checks, body parsing,
   * validation, handler, error answers) without a socket: Fastify's inject, for tests
   * and the API fuzzer. Its Host is `localhost:80` unless the headers say otherwise.
   */
  inject(request: InjectRequest): Promise<InjectResponse>;
  /** Stops listening, disconnects clients, and shuts down a task manager the service created. */
  close(): Promise<void>;
}

export interface InjectRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly payload?: string | Buffer;
}

export interface InjectResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  readonly body: string;
}

/** Returns the answer's body (or a promise of it); throws HttpError for error answers. */
type Handler = (request: FastifyRequest, reply: FastifyReply) => unknown;

export async function createEngineService(options: EngineServiceOptions): Promise<EngineService> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? Date.now;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const corsOrigins = [...(options.corsOrigins ?? DEFAULT_CORS_ORIGINS)];
  await mkdir(options.dataDir, { recursive: true });

  const authRequired = options.requireToken ?? authRequiredFor(host, options.token);
  const tokenSource = authRequired
    ? options.token !== undefined
      ? { token: options.token, file: undefined, generated: false }
      : await loadOrCreateToken(options.dataDir)
    : undefined;
  const tenants = TenantTokens.inDataDir(options.dataDir);
  const policy: AccessPolicy = { token: tokenSource?.token, tenants: tokenSource === undefined ? undefined : tenants, corsOrigins, loopbackOnly: tokenSource === undefined };
  const kafkaAllow: KafkaAllowList = kafkaAllowFor(options.kafkaAllow, authRequired);
  const fileAllow: FileAllowList = fileAllowFor(options.fileAllow, authRequired);

  const ownedTaskManager = options.jobManager || options.taskManager ? undefined : new TaskManager();
  const taskManager = options.taskManager ?? ownedTaskManager;
  const jobManager = options.jobManager ?? new JobManager(taskManager as TaskExecutor, { dataDir: options.dataDir, ...(options.limits ? { limits: options.limits } : {}) });
  const limits: JobLimits = options.limits ?? jobManager.limits;
  const savepoints = new Map<string, SavepointStatus>();
  /** Pipelines are per tenant (each tenant names its own); the admin's are the engine's own `<dataDir>/pipelines`. */
  const stores = new Map<string | undefined, PipelineStore>();
  const storeOf = (principal: Principal): PipelineStore => {
    const tenant = tenantOf(principal);
    let store = stores.get(tenant);
    if (!store) {
      store = new PipelineStore(tenant === undefined ? options.dataDir : join(options.dataDir, 'tenants', tenant));
      stores.set(tenant, store);
    }
    return store;
  };
  /** Who each request acts as, settled by the access hook. */
  const principals = new WeakMap<FastifyRequest, Principal>();
  const pipelineOf = new Map<string, PipelineRef>();
  const exporter = new PrometheusExporter();
  const openApi = buildOpenApiDocument();
  const startedAt = clock();

  const app = Fastify({
    logger: false,
    bodyLimit,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  const io: SluiceServer = new Server(app.server, {
    path: '/socket.io',
    serveClient: false,
    maxHttpBufferSize: 1_000_000,
    cors: { origin: corsOrigins, methods: ['GET', 'POST'], allowedHeaders: ['authorization'] },
    allowRequest: (request, callback) => {
      void checkAccess(policy, { origin: request.headers.origin, host: request.headers.host, token: undefined }, false).then(
        (decision) => callback(decision.ok ? null : decision.error, decision.ok),
        (error: unknown) => callback(error instanceof Error ? error.message : String(error), false),
      );
    },
  });
  const hub = new TelemetryHub(jobManager, io, { clock, sampleMs: options.telemetry?.sampleMs ?? 100, frameMs: options.telemetry?.frameMs ?? 1000 });
  const live = new LiveDebugSockets(jobManager, { maxTapRecordsPerSecond: limits.maxTapRecordsPerSecond, hotKeysEveryMs: options.telemetry?.frameMs ?? 1000 });

  // ─── HTTP plumbing ─────────────────────────────────────────────────────────

  // strictPreflight off: an OPTIONS request that is no CORS preflight (no Origin or no
  // Access-Control-Request-Method) gets the plain 204, not a text/plain 400.
  await app.register(cors, { origin: corsOrigins, methods: ['GET', 'POST'], allowedHeaders: ['Content-Type', 'Authorization', 'X-Sluice-Tenant'], maxAge: 600, strictPreflight: false });

  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    const config = request.routeOptions.config as { public?: boolean; adminOnly?: boolean } | undefined;
    const actAs = request.headers['x-sluice-tenant'];
    const decision = await checkAccess(
      policy,
      { origin: request.headers.origin, host: request.headers.host, token: bearerToken(request.headers.authorization), actAs: Array.isArray(actAs) ? actAs.join(',') : actAs },
      config?.public !== true,
    );
    if (!decision.ok) {
      if (decision.status === 401) void reply.header('www-authenticate', 'Bearer realm="sluice"');
      return reply.code(decision.status).send({ error: decision.error });
    }
    if (decision.principal !== undefined) principals.set(request, decision.principal);
    if (config?.adminOnly === true && decision.principal?.kind !== 'admin') {
      return reply.code(403).send({ error: `only the admin token may ${request.method} ${request.url.split('?')[0] ?? ''}; this token acts for tenant '${decision.principal ? tenantOf(decision.principal) ?? '' : ''}'` });
    }
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    const deepAt = tooDeepAt(text);
    if (deepAt >= 0) {
      done(new HttpError(400, { error: `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels (at offset ${deepAt}); job graphs and requests need far fewer` }), undefined);
      return;
    }
    const parsed = parseJsonText(text);
    if (parsed.ok) {
      done(null, parsed.value);
      return;
    }
    const { line, column, offset, message } = parsed.error;
    done(new HttpError(400, { error: `malformed JSON at line ${line}, column ${column}: ${message}`, position: { line, column, offset } }), undefined);
  });

  app.setReplySerializer((payload) => safeStringify(payload));

  app.setNotFoundHandler(async (request, reply) => {
    return reply.code(404).send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0] ?? ''}` });
  });

  app.setErrorHandler(async (error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) {
      return reply.code(error.status).headers(error.headers).send(error.body);
    }
    if (error.validation) {
      const where = locationOf(error.validationContext);
      const problems = error.validation.map((v) => requestProblem(where, v));
      const listed = problems.map((p) => `${p.path} ${p.message}`).join('; ');
      return reply.code(400).send({ error: `invalid ${describeLocation(where)}: ${listed.length > 300 ? `${listed.slice(0, 300)}…` : listed}`, problems });
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({ error: `the request body is larger than the limit of ${formatBytes(bodyLimit)}` });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({ error: `unsupported content type '${request.headers['content-type'] ?? ''}': send application/json` });
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return reply.code(400).send({ error: 'the request body length does not match its Content-Length header' });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: error.message });
    return reply.code(500).send({ error: `internal error: ${error.message}` });
  });

  // ─── Helpers ───────────────────────────────────────────────────────────────

  const principalOf = (request: FastifyRequest): Principal => principals.get(request) ?? ADMIN;

  /** A job the caller may see, or why not: another tenant's job reads exactly like one that does not exist. */
  const visibleJob = (principal: Principal, id: string): Job | string => {
    const job = jobManager.get(id);
    if (job && mayAccess(principal, job.tenant)) return job;
    return principal.kind === 'tenant' ? `no job with id '${id}' in tenant '${principal.tenant}'` : `no job with id '${id}'`;
  };

  const jobOr404 = (request: FastifyRequest, id: string): Job => {
    const job = visibleJob(principalOf(request), id);
    if (typeof job === 'string') throw notFound(job);
    return job;
  };

  const visibleJobs = (principal: Principal): Job[] => jobManager.list().filter((job) => mayAccess(principal, job.tenant));

  const graphOfPipeline = async (store: PipelineStore, name: string, version: number | undefined): Promise<{ graph: JobGraphDocument; ref: PipelineRef }> => {
    const latest = await store.latestVersion(name);
    if (latest === undefined) throw notFound(`no pipeline named '${name}'`);
    const wanted = version ?? latest;
    const stored = await store.get(name, wanted);
    if (!stored) throw notFound(`pipeline '${name}' has no version ${wanted} (latest: ${latest})`);
    return { graph: stored.graph, ref: { name, version: wanted } };
  };

  /**
   * Validates a graph; throws 400 with every error, returns the warnings. A graph about to
   * run for a tenant (`toRun`; undefined tenant: the admin's) is also checked against the
   * Kafka and file allow-lists; a stored pipeline is not, since storing one opens nothing.
   */
  const validated = (graph: unknown, toRun: { tenant: string | undefined } | false): ApiProblem[] => {
    const result = validateGraph(graph);
    const errors = result.problems.filter((p) => p.severity === 'error').map(graphProblem);
    if (result.ok && toRun !== false) {
      errors.push(...kafkaGraphProblems(kafkaAllow, result.graph), ...fileGraphProblems(fileAllow, [options.dataDir, jobManager.storage.root], result.graph, toRun.tenant));
    }
    if (!result.ok || errors.length > 0) {
      throw badRequest(`the job graph has ${errors.length} error${errors.length === 1 ? '' : 's'}: ${errors[0]?.path ?? '$'}: ${errors[0]?.message ?? 'invalid'}`, errors);
    }
    return result.problems.filter((p) => p.severity === 'warning').map(graphProblem);
  };

  const missingBody = () => badRequest('a JSON request body is required (Content-Type: application/json)', [{ in: 'body', path: '$', message: 'is required' }]);

  // ─── Routes ────────────────────────────────────────────────────────────────

  const handlers: Record<string, Handler> = {
    getHealth: (): Health => ({ status: 'ok', version: SERVICE_VERSION, uptimeMs: clock() - startedAt }),

    getOpenApi: () => openApi,

    getGraphSchema: () => graphJsonSchema(),

    listKafkaTopics: async (request): Promise<KafkaTopics> => {
      const { bootstrapServers } = request.query as { bootstrapServers: string };
      try {
        parseBootstrapServers(bootstrapServers, 'bootstrapServers');
      } catch (error) {
        throw badRequest(error instanceof Error ? error.message : String(error), [{ in: 'query', path: 'bootstrapServers', message: 'expected host:port[,host:port…]' }]);
      }
      const refused = refusedAddresses(kafkaAllow, bootstrapServers);
      if (refused.length > 0) {
        const message = refusalMessage(kafkaAllow, refused);
        throw badRequest(message, [{ in: 'query', path: 'bootstrapServers', message }]);
      }
      try {
        return { bootstrapServers, topics: await listKafkaTopics(bootstrapServers) };
      } catch (error) {
        throw new HttpError(502, { error: `cannot list the topics of the Kafka cluster at ${bootstrapServers}: ${error instanceof Error ? error.message : String(error)}` });
      }
    },

    getOverview: (request): Overview => {
      const principal = principalOf(request);
      const jobs = { running: 0, restarting: 0, finished: 0, failed: 0, cancelled: 0 };
      for (const job of visibleJobs(principal)) jobs[job.status]++;
      return { version: SERVICE_VERSION, slots: taskManager?.slots ?? null, jobs, authRequired, tenant: tenantOf(principal) ?? null };
    },

    getMetrics: async (request, reply) => {
      const principal = principalOf(request);
      const text = await exporter.render(
        hub.exported().filter((job) => mayAccess(principal, jobManager.get(job.id)?.tenant)),
        principal.kind === 'admin',
      );
      return reply.type(exporter.contentType).send(text);
    },

    submitJob: async (request, reply): Promise<JobSubmitted> => {
      const principal = principalOf(request);
      const source = await graphOf(storeOf(principal), request.body as { graph?: JobGraphDocument; pipeline?: string; version?: number });
      const warnings = validated(source.graph, { tenant: tenantOf(principal) });
      const job = await submitOrReject(source.graph, { tenant: tenantOf(principal) });
      if (source.ref) pipelineOf.set(job.id, source.ref);
      hub.poll();
      void reply.code(201).header('location', `/api/jobs/${job.id}`);
      return { ...jobSummary(job, source.ref, clock()), warnings };
    },

    listJobs: (request): JobList => {
      const now = clock();
      return { jobs: visibleJobs(principalOf(request)).map((job) => jobSummary(job, pipelineOf.get(job.id), now)).reverse() };
    },

    getJob: (request): JobDetail => {
      const job = jobOr404(request, (request.params as { id: string }).id);
      return {
        ...jobSummary(job, pipelineOf.get(job.id), clock()),
        graph: graphDocument(job.graph),
        plan: executionGraph(job.plan),
        restarts: job.restarts,
        failure: jobException(job),
        sinks: sinkInfos(job),
        restorePlan: job.restorePlan ? restorePlanView(job.restorePlan) : null,
      };
    },

    cancelJob: (request, reply): CancelAccepted => {
      const job = jobOr404(request, (request.params as { id: string }).id);
      if (job.status !== 'running' && job.status !== 'restarting') throw conflict(`job '${job.id}' is not running: it ${job.status === 'finished' ? 'already finished' : `was already ${job.status}`}`);
      job.cancel();
      hub.poll();
      void reply.code(202);
      return { id: job.id, status: job.status };
    },

    getJobResults: (request): SinkResults => {
      const { id, sink } = request.params as { id: string; sink: string };
      const { limit, offset } = request.query as { limit: number; offset: number };
      const job = jobOr404(request, id);
      const sinks = collectSinks(job);
      if (!sinks.has(sink)) {
        throw notFound(sinks.size === 0 ? `job '${id}' has no collect sink` : `job '${id}' has no collect sink named '${sink}'; its collect sinks: ${quotedList([...sinks.keys()])}`);
      }
      const rows = job.results(sink);
      return {
        sink,
        total: rows.length,
        dropped: job.droppedCollected.get(sink) ?? 0,
        offset,
        limit,
        rows: rows.slice(offset, offset + limit).map((r) => ({ value: r.value, timestamp: wireTimestamp(r.timestamp), kind: rowKindName(r.kind) })),
      };
    },

    getJobExceptions: (request): ExceptionHistory => {
      const job = jobOr404(request, (request.params as { id: string }).id);
      return { entries: exceptionHistory(job) };
    },

    queryState: async (request): Promise<StateQueryResult> => {
      const job = jobOr404(request, (request.params as { id: string }).id);
      const { node, key, keyType = 'auto' } = request.query as { node: string; key: string; keyType?: 'auto' | 'string' | 'number' };
      if (!job.graph.nodes.some((n) => n.id === node)) {
        throw notFound(`job '${job.id}' has no node '${node}'; its nodes: ${quotedList(job.graph.nodes.map((n) => n.id))}`);
      }
      const asNumber = Number(key);
      const numeric = key.trim() !== '' && Number.isFinite(asNumber);
      if (keyType === 'number' && !numeric) throw badRequest(`key '${key}' is not a number (keyType 'number')`, [{ in: 'query', path: '/key', message: 'not a number' }]);
      // A key-by on a numeric field keys by numbers, which hash differently from their text.
      const candidates: Key[] = keyType === 'string' ? [key] : keyType === 'number' ? [asNumber] : numeric ? [key, asNumber] : [key];
      try {
        let first: StateQueryAnswer | undefined;
        for (const candidate of candidates) {
          const answer = await job.queryState(node, candidate);
          if (answer.states.length > 0 || answer.timers.event.length > 0 || answer.timers.processing.length > 0) return stateQueryView(answer);
          first ??= answer;
        }
        return stateQueryView(first as StateQueryAnswer);
      } catch (error) {
        if (!(error instanceof StateQueryError)) throw error;
        if (error.reason === 'no-node') throw notFound(error.message);
        if (error.reason === 'not-keyed') throw badRequest(error.message, [{ in: 'query', path: '/node', message: 'not a keyed operator' }]);
        throw conflict(error.message);
      }
    },

    triggerSavepoint: (request, reply): SavepointAccepted => {
      const job = savepointable(request, 'savepoints are taken');
      void reply.code(202);
      return { requestId: track(job, 'savepoint', job.triggerSavepoint()) };
    },

    getSavepoint: (request): SavepointStatus => {
      const { id, requestId } = request.params as { id: string; requestId: string };
      jobOr404(request, id);
      const status = savepoints.get(requestId);
      if (status?.jobId !== id) throw notFound(`job '${id}' has no savepoint request '${requestId}'`);
      return status;
    },

    stopWithSavepoint: (request, reply): SavepointAccepted => {
      const { drain } = request.body as { drain?: boolean };
      const job = savepointable(request, 'only a running job can be stopped with a savepoint');
      void reply.code(202);
      return { requestId: track(job, 'stop-with-savepoint', job.stopWithSavepoint({ drain: drain === true })) };
    },

    redeployJob: async (request, reply): Promise<RedeployResult> => {
      const job = jobOr404(request, (request.params as { id: string }).id);
      const body = request.body as { graph?: JobGraphDocument; pipeline?: string; version?: number; savepoint?: string; allowNonRestoredState?: boolean; dryRun?: boolean };
      const principal = principalOf(request);
      const source = await graphOf(storeOf(principal), body);
      // The new job is the old job's tenant's, so its files are checked as that tenant's.
      const warnings = validated(source.graph, { tenant: job.tenant });
      const allow = body.allowNonRestoredState === true;
      const given = body.savepoint === undefined ? undefined : savepointDirectory(body.savepoint, principal);
      if (body.dryRun === true) {
        const from = given ?? latestCheckpoint(job);
        const plan = await engineCall(() => jobManager.dryRunRestore(source.graph, from, allow));
        return { job: null, savepoint: from, restorePlan: restorePlanView(plan) };
      }
      let from = given;
      if (from === undefined) {
        if (job.status !== 'running') throw conflict(`job '${job.id}' is ${job.status}: give 'savepoint' to redeploy from, or redeploy a running job (it is stopped with a savepoint)`);
        if (!job.graph.job.checkpointing.enabled) throw conflict(`job '${job.id}' does not enable checkpointing (job.checkpointing.enabled), so it cannot be stopped with a savepoint; give 'savepoint'`);
        // Everything that can be checked before the job stops is: a graph the engine cannot run leaves it running.
        await engineCall(() => jobManager.check(source.graph));
        from = (await engineCall(() => job.stopWithSavepoint(), 409)).directory;
      } else {
        // The new graph must start from this state before the old job is cancelled.
        const plan = await engineCall(() => jobManager.dryRunRestore(source.graph, from as string, allow));
        if (plan.problems.length > 0) {
          throw badRequest(
            `the checkpoint does not fit the graph: ${plan.problems.join('; ')} (nothing was stopped)`,
            plan.entries.filter((e) => e.status === 'incompatible' || e.status === 'dropped').map((e) => ({ in: 'graph', path: '$', message: e.reason ?? e.status, nodeId: e.nodeId })),
          );
        }
        job.cancel();
      }
      // The new job stays the tenant's whose job it replaces (also when the admin redeploys it).
      const next = await submitOrReject(source.graph, { restoreFrom: from, allowNonRestoredState: allow, tenant: job.tenant }, `the job was stopped; its state is at ${from}`);
      if (source.ref) pipelineOf.set(next.id, source.ref);
      hub.poll();
      void reply.code(201).header('location', `/api/jobs/${next.id}`);
      return {
        job: { ...jobSummary(next, source.ref, clock()), warnings },
        savepoint: from,
        restorePlan: next.restorePlan ? restorePlanView(next.restorePlan) : { checkpointId: -1, savepoint: false, entries: [], problems: [] },
      };
    },

    getCheckpoints: (request): CheckpointHistory => checkpointHistory(jobOr404(request, (request.params as { id: string }).id).checkpoints()),

    getCheckpoint: (request): CheckpointDetail => {
      const { id, checkpointId } = request.params as { id: string; checkpointId: number };
      const job = jobOr404(request, id);
      const stats = job.checkpoints().find((c) => c.id === checkpointId);
      if (!stats) {
        const ids = job.checkpoints().map((c) => c.id);
        throw notFound(`job '${job.id}' has no checkpoint ${checkpointId} in its history` + (ids.length > 0 ? ` (it keeps checkpoints ${ids[0] ?? ''} to ${ids.at(-1) ?? ''})` : ' (it has taken none)'));
      }
      return checkpointDetail(stats, job.plan);
    },

    savePipeline: async (request, reply): Promise<PipelineSaved> => {
      const body = request.body as { name: string; graph: JobGraphDocument; description?: string };
      const warnings = validated(body.graph, false);
      const saved = await storeOf(principalOf(request)).save(body.name, body.graph, body.description, clock());
      void reply.code(saved.created ? 201 : 200);
      if (saved.created) void reply.header('location', `/api/pipelines/${saved.name}/versions/${saved.version}`);
      return { ...saved, warnings };
    },

    listPipelines: async (request): Promise<PipelineList> => ({ pipelines: await storeOf(principalOf(request)).list() }),

    getPipeline: async (request): Promise<PipelineDetail> => {
      const { name } = request.params as { name: string };
      const versions = await storeOf(principalOf(request)).versions(name);
      if (!versions) throw notFound(`no pipeline named '${name}'`);
      return { name, versions };
    },

    getPipelineVersion: async (request): Promise<PipelineVersion> => {
      const { name, version } = request.params as { name: string; version: number };
      const store = storeOf(principalOf(request));
      const latest = await store.latestVersion(name);
      if (latest === undefined) throw notFound(`no pipeline named '${name}'`);
      const stored = await store.get(name, version);
      if (!stored) throw notFound(`pipeline '${name}' has no version ${version} (latest: ${latest})`);
      return stored;
    },

    listTokens: async (): Promise<TenantTokenList> => ({ tokens: await tenants.list() }),

    createToken: async (request, reply): Promise<TenantTokenCreated> => {
      const { tenant } = request.body as { tenant: string };
      const created = await tenants.create(tenant, clock());
      void reply.code(201).header('cache-control', 'no-store');
      return created;
    },

    revokeToken: async (request): Promise<TenantTokensRevoked> => {
      const { tokenId } = request.params as { tokenId: string };
      const revoked = await tenants.revoke(tokenId);
      if (!revoked) throw notFound(`no tenant token with id '${tokenId}'`);
      return { revoked: [revoked] };
    },

    revokeTenant: async (request): Promise<TenantTokensRevoked> => ({ revoked: await tenants.revokeTenant((request.params as { tenant: string }).tenant) }),
  };

  /**
   * A redeploy's `savepoint`, as a directory inside this engine's checkpoint storage: a
   * request cannot make the engine read checkpoint files from anywhere else on its disk.
   * Relative paths are taken from the storage root.
   */
  function savepointDirectory(given: string, principal: Principal): string {
    const root = resolvePath(jobManager.storage.root);
    const directory = resolvePath(root, given);
    const shown = given.length > 200 ? `${given.slice(0, 200)}…` : given;
    if (given.includes('\0') || !directory.startsWith(root + pathSeparator)) {
      throw badRequest(`'savepoint' must be a checkpoint or savepoint directory of this engine (under ${root}); got '${shown}'`, [{ in: 'body', path: 'savepoint', message: `is not under ${root}` }]);
    }
    if (principal.kind === 'tenant') {
      // A tenant restores only state its own jobs wrote: <root>/checkpoints|savepoints/<job id>/….
      const [kind, jobId] = relativePath(root, directory).split(pathSeparator);
      const owner = jobId === undefined ? undefined : (jobManager.get(jobId) ?? jobManager.record(jobId));
      if ((kind !== 'checkpoints' && kind !== 'savepoints') || owner?.tenant !== principal.tenant) {
        throw badRequest(`'savepoint' must be a checkpoint or savepoint of one of tenant '${principal.tenant}''s jobs (checkpoints/<job id>/… or savepoints/<job id>/…); got '${shown}'`, [
          { in: 'body', path: 'savepoint', message: `is not a checkpoint or savepoint of tenant '${principal.tenant}'` },
        ]);
      }
    }
    return directory;
  }

  /** The job of a savepoint request, if it can take one now (409 otherwise, naming why). */
  function savepointable(request: FastifyRequest, what: string): Job {
    const job = jobOr404(request, (request.params as { id: string }).id);
    if (job.status !== 'running') throw conflict(`job '${job.id}' is ${job.status}; ${what} of running jobs`);
    if (!job.graph.job.checkpointing.enabled) throw conflict(`job '${job.id}' does not enable checkpointing (job.checkpointing.enabled in its graph), which savepoints need`);
    return job;
  }

  /** Follows a savepoint in the background; its status is read by request id. */
  function track(job: Job, kind: SavepointStatus['kind'], savepoint: Promise<{ id: number; directory: string }>): string {
    const requestId = randomUUID();
    const base = { requestId, jobId: job.id, kind };
    savepoints.set(requestId, { ...base, status: 'in-progress', checkpointId: null, location: null, failure: null });
    savepoint.then(
      (stats) => savepoints.set(requestId, { ...base, status: 'completed', checkpointId: stats.id, location: stats.directory, failure: null }),
      (error: unknown) => savepoints.set(requestId, { ...base, status: 'failed', checkpointId: null, location: null, failure: error instanceof Error ? error.message : String(error) }),
    );
    return requestId;
  }

  function latestCheckpoint(job: Job): string {
    const latest = job.checkpoints().findLast((c) => c.status === 'completed');
    if (!latest) throw conflict(`job '${job.id}' has no completed checkpoint or savepoint yet; give 'savepoint' to plan from`);
    return latest.directory;
  }

  /** Runs an engine call whose errors are the caller's to fix (a 400 by default). */
  async function engineCall<T>(call: () => Promise<T>, status = 400): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (isSubmissionError(error)) throw badRequest(error.message, error.problems.map(submissionProblem));
      throw new HttpError(status, { error: error instanceof Error ? error.message : String(error) });
    }
  }

  async function submitOrReject(graph: unknown, submitOptions: { restoreFrom?: string; allowNonRestoredState?: boolean; tenant: string | undefined }, context?: string): Promise<Job> {
    try {
      return await jobManager.submit(graph, submitOptions);
    } catch (error) {
      if (isSubmissionError(error)) throw badRequest(context === undefined ? error.message : `${error.message} (${context})`, error.problems.map(submissionProblem));
      throw error;
    }
  }

  /** The graph of a submit or redeploy body: given, or a stored pipeline version. */
  async function graphOf(store: PipelineStore, body: { graph?: JobGraphDocument; pipeline?: string; version?: number }): Promise<{ graph: JobGraphDocument | undefined; ref: PipelineRef | undefined }> {
    if ((body.graph === undefined) === (body.pipeline === undefined)) {
      throw badRequest("give either 'graph' (a job graph) or 'pipeline' (a stored pipeline's name), not both or neither", [
        { in: 'body', path: body.graph === undefined ? 'graph' : 'pipeline', message: body.graph === undefined ? "is required (or 'pipeline')" : "cannot be given together with 'graph'" },
      ]);
    }
    if (body.graph !== undefined && body.version !== undefined) {
      throw badRequest("'version' only goes with 'pipeline'", [{ in: 'body', path: 'version', message: "only goes with 'pipeline'" }]);
    }
    return body.pipeline !== undefined ? graphOfPipeline(store, body.pipeline, body.version) : { graph: body.graph, ref: undefined };
  }

  for (const route of ROUTES) {
    const handler = handlers[route.operationId];
    if (!handler) throw new Error(`internal: no handler for ${route.operationId}`);
    app.route({
      method: route.method,
      url: route.url,
      config: { public: route.public === true, adminOnly: route.adminOnly === true },
      schema: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.query ? { querystring: route.query } : {}),
        ...(route.body ? { body: route.body.schema } : {}),
      },
      // A body left out: validated as {} where it is optional, a clear 400 where it is required.
      ...(route.body
        ? {
            preValidation: (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
              if (request.body !== undefined) done();
              else if (route.body?.required === true) done(missingBody());
              else {
                request.body = {};
                done();
              }
            },
          }
        : {}),
      // Handlers may answer synchronously; a synchronous throw becomes the error answer too.
      handler: (request, reply) => Promise.resolve().then(() => handler(request, reply)),
    });
  }

  // ─── Socket.IO ─────────────────────────────────────────────────────────────

  /** Who each connection acts as, settled at the handshake (a socket lives as long as its token was valid when it connected). */
  const socketPrincipals = new WeakMap<object, Principal>();
  io.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown };
    const token = typeof auth.token === 'string' ? auth.token : bearerToken(socket.handshake.headers.authorization);
    checkAccess(policy, { origin: socket.handshake.headers.origin, host: socket.handshake.headers.host, token }, true).then(
      (decision) => {
        if (decision.ok) {
          socketPrincipals.set(socket, decision.principal ?? ADMIN);
          next();
        } else {
          next(Object.assign(new Error(decision.error), { data: { status: decision.status } }));
        }
      },
      (error: unknown) => next(Object.assign(new Error(error instanceof Error ? error.message : String(error)), { data: { status: 500 } })),
    );
  });

  // A revoked tenant token also ends the connections it opened: they would otherwise keep
  // receiving telemetry. Checked once a second; the file is re-read only when it changed.
  const revocations = setInterval(() => {
    const open = [...io.sockets.sockets.values()].filter((socket) => socketPrincipals.get(socket)?.kind === 'tenant');
    if (open.length === 0) return;
    tenants.activeIds().then(
      (active) => {
        for (const socket of open) {
          const principal = socketPrincipals.get(socket);
          if (principal?.kind === 'tenant' && !active.has(principal.tokenId)) socket.disconnect(true);
        }
      },
      () => undefined, // an unreadable tokens.json refuses new calls (checkAccess); open sockets wait for a readable one
    );
  }, 1000).unref();

  io.on('connection', (socket) => {
    // Socket.IO hands a handler the client's arguments as they came, with the ack function
    // last: a client that sends one argument too many or too few would otherwise put the
    // ack where the request belongs and never hear back. Each known event gets exactly its
    // arguments (missing ones undefined) and the ack in its place.
    socket.use((packet, next) => {
      const event = packet[0];
      const arity = typeof event === 'string' && Object.hasOwn(EVENT_ARGUMENTS, event) ? EVENT_ARGUMENTS[event as keyof typeof EVENT_ARGUMENTS] : undefined;
      if (arity !== undefined) {
        const last: unknown = packet[packet.length - 1];
        const ack = packet.length > 1 && typeof last === 'function' ? last : undefined;
        const args: unknown[] = packet.slice(1, ack === undefined ? undefined : -1).slice(0, arity);
        while (args.length < arity) args.push(undefined);
        packet.splice(1, packet.length - 1, ...args, ...(ack === undefined ? [] : [ack]));
      }
      next();
    });
    const reply = (ack: unknown, value: unknown) => {
      if (typeof ack === 'function') (ack as (v: unknown) => void)(value);
    };
    const principal = socketPrincipals.get(socket) ?? ADMIN;
    const jobFor = (jobId: string): Job | string => visibleJob(principal, jobId);
    const jobIdOf = (request: unknown): string | undefined => {
      const id = (request as { jobId?: unknown } | null)?.jobId;
      return typeof id === 'string' ? id : undefined;
    };
    socket.on('subscribe', (request, ack) => {
      const jobId = jobIdOf(request);
      if (jobId === undefined) {
        reply(ack, { ok: false, error: "subscribe needs { jobId: string }" });
        return;
      }
      const job = jobFor(jobId);
      if (typeof job === 'string') {
        reply(ack, { ok: false, error: job });
        return;
      }
      const detail = (request as { detail?: unknown }).detail === 'operators' ? 'operators' : 'full';
      void socket.leave(detail === 'full' ? roomOf.operators(jobId) : roomOf.full(jobId));
      void socket.join(detail === 'full' ? roomOf.full(jobId) : roomOf.operators(jobId));
      reply(ack, { ok: true, job: jobSummary(job, pipelineOf.get(jobId), clock()) });
      const frame = hub.frame(jobId, detail);
      if (frame) socket.emit('metrics', frame);
    });
    socket.on('unsubscribe', (request, ack) => {
      const jobId = jobIdOf(request);
      if (jobId !== undefined) {
        void socket.leave(roomOf.full(jobId));
        void socket.leave(roomOf.operators(jobId));
      }
      reply(ack, jobId === undefined ? { ok: false, error: 'unsubscribe needs { jobId: string }' } : { ok: true });
    });
    const jobsRoom = principal.kind === 'tenant' ? roomOf.tenantJobs(principal.tenant) : roomOf.jobs;
    socket.on('subscribe-jobs', (ack) => {
      void socket.join(jobsRoom);
      reply(ack, { ok: true });
    });
    socket.on('unsubscribe-jobs', (ack) => {
      void socket.leave(jobsRoom);
      reply(ack, { ok: true });
    });
    live.connect(socket, reply, jobFor);
  });

  // ─── Start ─────────────────────────────────────────────────────────────────

  try {
    await app.listen({ host, port: options.port ?? 8081 });
  } catch (error) {
    await ownedTaskManager?.shutdown();
    throw error;
  }
  hub.start();
  const address = app.server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${address.port}`,
    host,
    port: address.port,
    authRequired,
    token: tokenSource?.token,
    tokenFile: tokenSource?.file,
    tokenGenerated: tokenSource?.generated ?? false,
    jobManager,
    limits,
    kafkaAllow,
    fileAllow,
    tenants,
    inject: async (request) => {
      const response = await app.inject({ method: request.method, url: request.url, headers: { ...request.headers }, ...(request.payload !== undefined ? { payload: request.payload } : {}) });
      return { statusCode: response.statusCode, headers: response.headers, body: response.body };
    },
    close: () =>
      (closed ??= (async () => {
        hub.close();
        live.close();
        clearInterval(revocations);
        io.disconnectSockets(true);
        io.engine.close();
        await app.close();
        await ownedTaskManager?.shutdown();
      })()),
  };
}

/** How many arguments before the ack each client event takes (ClientToServerEvents). */
const EVENT_ARGUMENTS = {
  subscribe: 1,
  unsubscribe: 1,
  'subscribe-jobs': 0,
  'unsubscribe-jobs': 0,
  'tap-start': 1,
  'tap-stop': 1,
  'hot-keys-subscribe': 1,
  'hot-keys-unsubscribe': 1,
} as const satisfies Record<keyof ClientToServerEvents, number>;

function isSubmissionError(error: unknown): error is Error & { problems: readonly Pick<GraphProblem, 'path' | 'message' | 'nodeId'>[] } {
  return error instanceof Error && error.name === 'SubmissionError' && Array.isArray((error as { problems?: unknown }).problems);
}

function submissionProblem(p: Pick<GraphProblem, 'path' | 'message' | 'nodeId'>): ApiProblem {
  return { in: 'graph', path: p.path, message: p.message, ...(p.nodeId !== undefined ? { nodeId: p.nodeId } : {}) };
}

function graphProblem(p: GraphProblem): ApiProblem {
  return {
    in: 'graph',
    path: p.path,
    message: p.message,
    code: p.code,
    ...(p.nodeId !== undefined ? { nodeId: p.nodeId } : {}),
    ...(p.edgeId !== undefined ? { edgeId: p.edgeId } : {}),
  };
}

function locationOf(context: string | undefined): ProblemLocation {
  if (context === 'querystring') return 'query';
  if (context === 'params') return 'path';
  return 'body';
}

function describeLocation(where: ProblemLocation): string {
  return where === 'query' ? 'query parameters' : where === 'path' ? 'path parameters' : 'request body';
}

interface AjvError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
  readonly message?: string | undefined;
}

/** An ajv error as a problem naming its field: `name must match pattern …`, `graph is required`, `foo is not a known field`. */
function requestProblem(where: ProblemLocation, error: AjvError): ApiProblem {
  const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'required' && typeof error.params['missingProperty'] === 'string') {
    segments.push(error.params['missingProperty']);
    message = 'is required';
  } else if (error.keyword === 'additionalProperties' && typeof error.params['additionalProperty'] === 'string') {
    segments.push(error.params['additionalProperty']);
    message = where === 'body' ? 'is not a known field' : 'is not a known parameter';
  }
  const path = segments.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc === '' ? s : `${acc}.${s}`), '');
  return { in: where, path: path === '' ? '$' : path, message };
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB (${bytes} bytes)` : `${bytes} bytes`;
}
