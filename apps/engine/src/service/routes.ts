/**
 * Every HTTP endpoint, as data: method, path, request schemas and documented
 * responses. The service registers a handler for each (by operationId, refusing to
 * start when one is missing), Fastify validates requests with the same schemas, and
 * the OpenAPI document is generated from this table alone.
 */
import { params, queries, requests, type Schema } from './schemas.js';

export type Tag = 'service' | 'jobs' | 'pipelines' | 'checkpointing' | 'access';

export interface ResponseDoc {
  readonly description: string;
  /** A component name, or an inline schema. */
  readonly schema?: string | Schema;
  /** Default application/json. */
  readonly contentType?: string;
}

export interface RouteDoc {
  readonly operationId: string;
  readonly method: 'GET' | 'POST';
  /** Fastify syntax: `/api/jobs/:id`. */
  readonly url: string;
  readonly tag: Tag;
  readonly summary: string;
  readonly description?: string;
  /** Needs no token even when the service requires one. */
  readonly public?: boolean;
  /** Only the admin token may call it (a tenant token gets 403). */
  readonly adminOnly?: boolean;
  readonly params?: Schema;
  readonly query?: Schema;
  readonly body?: { readonly schema: Schema; readonly component: string; readonly required: boolean };
  readonly responses: Readonly<Record<number, ResponseDoc>>;
}

const invalid: ResponseDoc = { description: 'The request is invalid; `problems` names each field.', schema: 'ApiError' };
const noJob: ResponseDoc = { description: "No job with this id, or another tenant's (the message names the id).", schema: 'ApiError' };

export const ROUTES: readonly RouteDoc[] = [
  {
    operationId: 'getHealth',
    method: 'GET',
    url: '/api/health',
    tag: 'service',
    summary: 'Liveness: the service answers.',
    public: true,
    responses: { 200: { description: 'Up.', schema: 'Health' } },
  },
  {
    operationId: 'getOpenApi',
    method: 'GET',
    url: '/api/openapi.json',
    tag: 'service',
    summary: 'This document.',
    public: true,
    responses: { 200: { description: 'The OpenAPI 3.1 document.', schema: { type: 'object' } } },
  },
  {
    operationId: 'getGraphSchema',
    method: 'GET',
    url: '/api/schema/job-graph.json',
    tag: 'service',
    summary: 'The JSON Schema of job graphs (referenced as JobGraph).',
    public: true,
    responses: { 200: { description: 'JSON Schema 2020-12.', schema: { type: 'object' } } },
  },
  {
    operationId: 'listKafkaTopics',
    method: 'GET',
    url: '/api/kafka/topics',
    tag: 'service',
    summary: "The topics of a Kafka cluster, with their partition counts (the editor's topic picker).",
    description:
      'The engine connects to the cluster itself, so the list is what its jobs will see. Internal topics (`__…`) are left out. A hosted engine connects only to the bootstrap servers of its allow-list (`--kafka-allow`).',
    query: queries.kafkaTopics,
    responses: {
      200: { description: 'Topics, sorted by name.', schema: 'KafkaTopics' },
      400: { description: "The list is malformed, or names a server not on the engine's Kafka allow-list (the message names it and the setting); nothing was connected to.", schema: 'ApiError' },
      502: { description: 'The cluster could not be reached or answered with an error (the message says which and why).', schema: 'ApiError' },
    },
  },
  {
    operationId: 'getOverview',
    method: 'GET',
    url: '/api/overview',
    tag: 'service',
    summary: 'Slots, job counts per status, and whether calls need a token.',
    responses: { 200: { description: 'Overview.', schema: 'Overview' } },
  },
  {
    operationId: 'getMetrics',
    method: 'GET',
    url: '/metrics',
    tag: 'service',
    summary: 'Prometheus metrics (text exposition format 0.0.4).',
    description:
      'Per operator and subtask: sluice_records_in_total, sluice_records_out_total, sluice_operator_busy_ratio, sluice_task_{busy,idle,backpressured}_ratio, watermarks in seconds (sluice_operator_input_watermark_seconds, sluice_input_watermark_seconds, sluice_operator_watermark_lag_seconds), sluice_input_idle, sluice_input_holding_back; per job: sluice_job_status, sluice_job_info; and, for the admin token (or without tokens), the Node.js process metrics of the engine. A tenant token sees its own jobs only. Jobs stay exported for 10 minutes after they end.',
    responses: { 200: { description: 'Metrics.', contentType: 'text/plain; version=0.0.4; charset=utf-8', schema: { type: 'string' } } },
  },
  {
    operationId: 'submitJob',
    method: 'POST',
    url: '/api/jobs',
    tag: 'jobs',
    summary: 'Validate and start a job graph, or a stored pipeline version.',
    description:
      "The graph is validated first; a rejected graph answers 400 with every error in `problems` (`in: graph`, paths as the validator writes them: `nodes[3].config.sizeMs`), including a Kafka source or sink naming a broker outside the engine's allow-list (`nodes[i].config.bootstrapServers`). Warnings come back with the accepted job. The job belongs to the caller's tenant.",
    body: { schema: requests.submitJob, component: 'SubmitJobRequest', required: true },
    responses: {
      201: { description: 'Started. `Location` names the job.', schema: 'JobSubmitted' },
      400: invalid,
      404: { description: 'No stored pipeline (version) with this name.', schema: 'ApiError' },
    },
  },
  {
    operationId: 'listJobs',
    method: 'GET',
    url: '/api/jobs',
    tag: 'jobs',
    summary: 'Every job, newest first.',
    responses: { 200: { description: 'Jobs.', schema: 'JobList' } },
  },
  {
    operationId: 'getJob',
    method: 'GET',
    url: '/api/jobs/:id',
    tag: 'jobs',
    summary: 'Status, graph, execution plan (tasks, subtasks, key-group ranges), times, restarts and failure of a job.',
    params: params.jobId,
    responses: { 200: { description: 'The job.', schema: 'JobDetail' }, 404: noJob },
  },
  {
    operationId: 'cancelJob',
    method: 'POST',
    url: '/api/jobs/:id/cancel',
    tag: 'jobs',
    summary: 'Cancel a running job.',
    params: params.jobId,
    responses: {
      202: { description: 'Cancelled; the subtasks stop in the background.', schema: 'CancelAccepted' },
      404: noJob,
      409: { description: 'The job already ended (the message says how).', schema: 'ApiError' },
    },
  },
  {
    operationId: 'getJobResults',
    method: 'GET',
    url: '/api/jobs/:id/results/:sink',
    tag: 'jobs',
    summary: 'Rows a collect sink holds, oldest first, with limit and offset.',
    params: params.jobSink,
    query: queries.results,
    responses: {
      200: { description: 'Rows.', schema: 'SinkResults' },
      400: invalid,
      404: { description: 'No such job, or the job has no collect sink with this name (the message lists its sinks).', schema: 'ApiError' },
    },
  },
  {
    operationId: 'getJobExceptions',
    method: 'GET',
    url: '/api/jobs/:id/exceptions',
    tag: 'jobs',
    summary: 'Exception history: each failure with job, operator, task, subtask, key and record.',
    params: params.jobId,
    responses: { 200: { description: 'Newest first; empty when the job never failed.', schema: 'ExceptionHistory' }, 404: noJob },
  },
  {
    operationId: 'queryState',
    method: 'GET',
    url: '/api/jobs/:id/state',
    tag: 'jobs',
    summary: 'Keyed state of one key of one operator (queryable state).',
    description:
      'Reads every state value and pending timer of one key from the running subtask that owns its key group, between two of its records (read-only; heap and RocksDB). A key without state answers 200 with empty lists.',
    params: params.jobId,
    query: queries.state,
    responses: {
      200: { description: 'The state of the key.', schema: 'StateQueryResult' },
      400: { description: 'The query is invalid, or the node keeps no keyed state (the message lists the keyed nodes).', schema: 'ApiError' },
      404: { description: 'No such job, or no such node in it.', schema: 'ApiError' },
      409: { description: 'The job, or the subtask owning the key, is not running.', schema: 'ApiError' },
    },
  },
  {
    operationId: 'triggerSavepoint',
    method: 'POST',
    url: '/api/jobs/:id/savepoints',
    tag: 'checkpointing',
    summary: 'Take a savepoint of a running job (its graph must enable checkpointing).',
    description: 'Answers at once with a request id; poll GET /api/jobs/{id}/savepoints/{requestId} for the location.',
    params: params.jobId,
    responses: {
      202: { description: 'Started.', schema: 'SavepointAccepted' },
      404: noJob,
      409: { description: 'The job is not running, or its graph does not enable checkpointing.', schema: 'ApiError' },
    },
  },
  {
    operationId: 'getSavepoint',
    method: 'GET',
    url: '/api/jobs/:id/savepoints/:requestId',
    tag: 'checkpointing',
    summary: 'Status and location of a savepoint request (savepoint or stop).',
    params: params.jobSavepoint,
    responses: { 200: { description: 'Status.', schema: 'SavepointStatus' }, 404: { description: 'No such job, or no such request for it.', schema: 'ApiError' } },
  },
  {
    operationId: 'stopWithSavepoint',
    method: 'POST',
    url: '/api/jobs/:id/stop',
    tag: 'checkpointing',
    summary: 'Stop a job with a savepoint: sources stop at its barrier, sinks commit up to it, then the job is cancelled.',
    description:
      'Answers at once with a request id, like a savepoint. `drain: true` emits the final watermark before the savepoint, so every event-time window fires and its results are committed (Flink --drain): for retiring a pipeline, not for upgrading it.',
    params: params.jobId,
    body: { schema: requests.stopWithSavepoint, component: 'StopWithSavepointRequest', required: false },
    responses: {
      202: { description: 'Stopping.', schema: 'SavepointAccepted' },
      400: invalid,
      404: noJob,
      409: { description: 'The job is not running, or its graph does not enable checkpointing.', schema: 'ApiError' },
    },
  },
  {
    operationId: 'redeployJob',
    method: 'POST',
    url: '/api/jobs/:id/redeploy',
    tag: 'checkpointing',
    summary: 'Replace a job by an edited graph, restoring its state by node id (the operator uid).',
    description:
      'Without `savepoint`, the running job is stopped with a new savepoint; with one, the job (if running) is cancelled and the new graph restores from it. `dryRun: true` only returns the restore plan (restored, new, dropped, incompatible per node), from `savepoint` or the latest completed checkpoint. The new graph is validated before anything stops.',
    params: params.jobId,
    body: { schema: requests.redeploy, component: 'RedeployRequest', required: true },
    responses: {
      200: { description: 'Dry run: the restore plan; nothing stopped or started.', schema: 'RedeployResult' },
      201: { description: 'The new job. `Location` names it.', schema: 'RedeployResult' },
      400: { description: 'The request or the graph is invalid, or the state does not fit the new graph (problems name the nodes).', schema: 'ApiError' },
      404: { description: 'No such job, or no such stored pipeline (version).', schema: 'ApiError' },
      409: { description: 'The job is not running (to be stopped), has no checkpoint to plan from, or does not enable checkpointing.', schema: 'ApiError' },
    },
  },
  {
    operationId: 'getCheckpoints',
    method: 'GET',
    url: '/api/jobs/:id/checkpoints',
    tag: 'checkpointing',
    summary: 'Checkpoint and savepoint counts and history (newest first).',
    params: params.jobId,
    responses: { 200: { description: 'History; empty when the job does not checkpoint.', schema: 'CheckpointHistory' }, 404: noJob },
  },
  {
    operationId: 'getCheckpoint',
    method: 'GET',
    url: '/api/jobs/:id/checkpoints/:checkpointId',
    tag: 'checkpointing',
    summary: "One checkpoint with every subtask's acknowledgement: time to acknowledge, synchronous and asynchronous parts, alignment, state size.",
    description: 'Per task (operator chain) and subtask, as Flink\'s checkpoint details show them. Subtasks that have not acknowledged (in progress, or failed before) are absent. The engine keeps the last 50 checkpoints of a job.',
    params: params.jobCheckpoint,
    responses: {
      200: { description: 'The checkpoint.', schema: 'CheckpointDetail' },
      400: invalid,
      404: { description: 'No job with this id, or no such checkpoint in its history (the message says which).', schema: 'ApiError' },
    },
  },
  {
    operationId: 'listTokens',
    method: 'GET',
    url: '/api/tokens',
    tag: 'access',
    summary: 'Tenant tokens: id, tenant and creation time (never the tokens: only their SHA-256 is kept). Admin only.',
    adminOnly: true,
    responses: { 200: { description: 'Tokens, by tenant.', schema: 'TenantTokenList' } },
  },
  {
    operationId: 'createToken',
    method: 'POST',
    url: '/api/tokens',
    tag: 'access',
    summary: "Create a token for a tenant; the answer is the only place the token appears. Admin only.",
    description:
      "A tenant token reaches only its tenant's jobs and pipelines: another tenant's job answers 404 as if it did not exist, and its Socket.IO room cannot be joined. A tenant exists once it has a token; a tenant may have several (to rotate them).",
    adminOnly: true,
    body: { schema: requests.createToken, component: 'CreateTokenRequest', required: true },
    responses: { 201: { description: 'The new token.', schema: 'TenantTokenCreated' }, 400: invalid },
  },
  {
    operationId: 'revokeToken',
    method: 'POST',
    url: '/api/tokens/:tokenId/revoke',
    tag: 'access',
    summary: 'Revoke a tenant token: its next request answers 401. Admin only.',
    description: 'Open Socket.IO connections made with it stay until they disconnect; no new one can be made.',
    adminOnly: true,
    params: params.tokenId,
    responses: { 200: { description: 'Revoked.', schema: 'TenantTokensRevoked' }, 400: invalid, 404: { description: 'No token with this id.', schema: 'ApiError' } },
  },
  {
    operationId: 'revokeTenant',
    method: 'POST',
    url: '/api/tenants/:tenant/revoke',
    tag: 'access',
    summary: "Revoke every token of a tenant (its jobs keep running; cancel them first to retire the tenant). Admin only.",
    adminOnly: true,
    params: params.tenant,
    responses: { 200: { description: 'Revoked (possibly none).', schema: 'TenantTokensRevoked' }, 400: invalid },
  },
  {
    operationId: 'savePipeline',
    method: 'POST',
    url: '/api/pipelines',
    tag: 'pipelines',
    summary: 'Store a new version of a named pipeline.',
    description: 'The graph is validated first (400 lists every error). A graph equal to the latest version (same canonical JSON) creates no version: 200 with created: false.',
    body: { schema: requests.savePipeline, component: 'SavePipelineRequest', required: true },
    responses: {
      200: { description: 'Unchanged: the latest version already holds this graph.', schema: 'PipelineSaved' },
      201: { description: 'A new version. `Location` names it.', schema: 'PipelineSaved' },
      400: invalid,
    },
  },
  {
    operationId: 'listPipelines',
    method: 'GET',
    url: '/api/pipelines',
    tag: 'pipelines',
    summary: 'Every stored pipeline with its latest version.',
    responses: { 200: { description: 'Pipelines, by name.', schema: 'PipelineList' } },
  },
  {
    operationId: 'getPipeline',
    method: 'GET',
    url: '/api/pipelines/:name',
    tag: 'pipelines',
    summary: "A pipeline's versions.",
    params: params.pipelineName,
    responses: { 200: { description: 'Versions, oldest first.', schema: 'PipelineDetail' }, 404: { description: 'No pipeline with this name.', schema: 'ApiError' } },
  },
  {
    operationId: 'getPipelineVersion',
    method: 'GET',
    url: '/api/pipelines/:name/versions/:version',
    tag: 'pipelines',
    summary: 'One version of a pipeline, with its graph.',
    params: params.pipelineVersion,
    responses: {
      200: { description: 'The version.', schema: 'PipelineVersion' },
      400: invalid,
      404: { description: 'No such pipeline or version.', schema: 'ApiError' },
    },
  },
];
