/**
 * JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every payload in
 * @sluice/protocol. Request schemas also validate requests (Fastify's ajv); response
 * schemas are what the contract tests check every real response against, so the
 * types, these schemas and the running service cannot drift apart unnoticed.
 *
 * Objects are closed (`additionalProperties: false`): a field added to a payload
 * without its schema fails the contract tests.
 */
import { JSON_SCHEMA_ID } from '@sluice/graph-model';
import { PIPELINE_NAME_PATTERN } from './pipeline-store.js';
import { TENANT_NAME_PATTERN, TOKEN_ID_PATTERN } from './tenants.js';

export type Schema = Readonly<Record<string, unknown>>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] });
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const num: Schema = { type: 'number' };
const bool: Schema = { type: 'boolean' };
const array = (items: Schema): Schema => ({ type: 'array', items });

/** A closed object; every property is required unless listed in `optional`. */
function object(properties: Record<string, Schema>, options: { optional?: readonly string[]; description?: string } = {}): Schema {
  const optional = new Set(options.optional ?? []);
  return {
    type: 'object',
    ...(options.description !== undefined ? { description: options.description } : {}),
    properties,
    required: Object.keys(properties).filter((k) => !optional.has(k)),
    additionalProperties: false,
  };
}

/** Stands for a job graph inside request bodies: Fastify checks only that it is an object (validateGraph does the rest); the OpenAPI document shows a $ref to JobGraph instead. */
export const GRAPH_IN_REQUEST: Schema = { type: 'object', description: 'A job graph (schemaVersion 1); see JobGraph.' };

export const PIPELINE_NAME: Schema = { type: 'string', pattern: PIPELINE_NAME_PATTERN, description: 'Letters, digits, _ . - ; at most 64 characters, starting with a letter or digit.' };

// ─── Request schemas (inline: Fastify compiles them as they are) ─────────────

export const requests = {
  createToken: {
    type: 'object',
    properties: { tenant: { type: 'string', pattern: TENANT_NAME_PATTERN, description: "The tenant the token acts for: 1 to 63 of a-z, 0-9 and '-' (a DNS label)." } },
    required: ['tenant'],
    additionalProperties: false,
  },
  submitJob: {
    type: 'object',
    description: "Either 'graph' or 'pipeline' (with an optional 'version'; the latest when left out).",
    properties: {
      graph: GRAPH_IN_REQUEST,
      pipeline: PIPELINE_NAME,
      version: { type: 'integer', minimum: 1 },
    },
    additionalProperties: false,
  },
  savePipeline: {
    type: 'object',
    properties: {
      name: PIPELINE_NAME,
      graph: GRAPH_IN_REQUEST,
      description: { type: 'string', maxLength: 2000, description: 'What changed in this version.' },
    },
    required: ['name', 'graph'],
    additionalProperties: false,
  },
  stopWithSavepoint: {
    type: 'object',
    properties: { drain: { type: 'boolean', description: 'Emit the final watermark first, firing every event-time window (Flink --drain).' } },
    additionalProperties: false,
  },
  redeploy: {
    type: 'object',
    properties: {
      graph: GRAPH_IN_REQUEST,
      pipeline: PIPELINE_NAME,
      version: { type: 'integer', minimum: 1 },
      savepoint: { type: 'string', minLength: 1, description: 'Savepoint or checkpoint directory to restore from; left out: stop the job with a new savepoint.' },
      allowNonRestoredState: { type: 'boolean', description: 'Drop state of nodes the new graph no longer has.' },
      dryRun: { type: 'boolean', description: 'Only compute the restore plan; nothing stops or starts.' },
    },
    additionalProperties: false,
  },
} as const satisfies Record<string, Schema>;

export const params = {
  jobId: { type: 'object', properties: { id: { type: 'string', description: 'Job id (a UUID).' } }, required: ['id'], additionalProperties: false },
  jobSink: {
    type: 'object',
    properties: { id: { type: 'string', description: 'Job id.' }, sink: { type: 'string', description: "A collect sink's name." } },
    required: ['id', 'sink'],
    additionalProperties: false,
  },
  jobSavepoint: {
    type: 'object',
    properties: { id: { type: 'string', description: 'Job id.' }, requestId: { type: 'string', description: 'From the savepoint request.' } },
    required: ['id', 'requestId'],
    additionalProperties: false,
  },
  jobCheckpoint: {
    type: 'object',
    properties: { id: { type: 'string', description: 'Job id.' }, checkpointId: { type: 'integer', minimum: 1, description: 'Checkpoint id, from the history.' } },
    required: ['id', 'checkpointId'],
    additionalProperties: false,
  },
  tokenId: { type: 'object', properties: { tokenId: { type: 'string', pattern: TOKEN_ID_PATTERN, description: 'Token id (12 hex digits), from the token list.' } }, required: ['tokenId'], additionalProperties: false },
  tenant: { type: 'object', properties: { tenant: { type: 'string', pattern: TENANT_NAME_PATTERN, description: 'Tenant name.' } }, required: ['tenant'], additionalProperties: false },
  pipelineName: { type: 'object', properties: { name: { type: 'string', description: 'Pipeline name.' } }, required: ['name'], additionalProperties: false },
  pipelineVersion: {
    type: 'object',
    properties: { name: { type: 'string', description: 'Pipeline name.' }, version: { type: 'integer', minimum: 1, description: 'Version, from 1.' } },
    required: ['name', 'version'],
    additionalProperties: false,
  },
} as const satisfies Record<string, Schema>;

export const queries = {
  kafkaTopics: {
    type: 'object',
    properties: {
      bootstrapServers: { type: 'string', minLength: 1, maxLength: 2000, default: '127.0.0.1:9092', description: 'Comma-separated host:port list of the cluster.' },
    },
    additionalProperties: false,
  },
  results: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100, description: 'Rows to return (1–10000).' },
      offset: { type: 'integer', minimum: 0, default: 0, description: 'Rows to skip, oldest first.' },
    },
    additionalProperties: false,
  },
  state: {
    type: 'object',
    properties: {
      node: { type: 'string', minLength: 1, description: 'Id of a keyed operator node.' },
      key: { type: 'string', description: 'The key, as text (numbers too).' },
      keyType: {
        type: 'string',
        enum: ['auto', 'string', 'number'],
        default: 'auto',
        description: "How to read `key`: 'auto' tries the text and, if it is a number, the number; the first with any state wins.",
      },
    },
    required: ['node', 'key'],
    additionalProperties: false,
  },
} as const satisfies Record<string, Schema>;

// ─── Components (responses, and the request bodies again for the document) ───

const wireTime: Schema = {
  description: "Epoch milliseconds; '-Infinity': no watermark yet; '+Infinity': end of input. Number(value) decodes all three.",
  oneOf: [{ type: 'number' }, { type: 'string', enum: ['-Infinity', '+Infinity'] }],
};

const jobStatus: Schema = { type: 'string', enum: ['running', 'restarting', 'finished', 'failed', 'cancelled'] };

const summaryProperties = {
  id: str,
  name: str,
  status: ref('JobStatus'),
  startTime: { type: 'number', description: 'Epoch ms.' },
  endTime: nullable(num),
  durationMs: num,
  pipeline: nullable(ref('PipelineRef')),
  tenant: nullable(str),
};

const pipelineVersionInfo = {
  name: str,
  version: int,
  createdAt: { type: 'number', description: 'Epoch ms.' },
  description: nullable(str),
  sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: "SHA-256 of the graph's canonical JSON." },
};

const spread = nullable(ref('Spread'));

export const components: Record<string, Schema> = {
  JobGraph: {
    $ref: JSON_SCHEMA_ID,
    description: 'A Sluice job graph. Its JSON Schema is served at /api/schema/job-graph.json and checked in at packages/graph-model/schema/job-graph.schema.json.',
  },
  WireTime: wireTime,
  JobStatus: jobStatus,
  RowKindName: { type: 'string', enum: ['+I', '-U', '+U', '-D'], description: 'Insert, update-before, update-after, delete (Flink RowKind).' },
  ApiProblem: object(
    {
      in: { type: 'string', enum: ['graph', 'body', 'query', 'path'], description: "What 'path' points into." },
      path: { type: 'string', description: "'$' is the whole graph or body." },
      message: str,
      code: { type: 'string', description: "The validator's problem code, for graph problems." },
      nodeId: str,
      edgeId: str,
    },
    { optional: ['code', 'nodeId', 'edgeId'] },
  ),
  ApiError: object(
    {
      error: str,
      problems: array(ref('ApiProblem')),
      position: object({ line: int, column: int, offset: int }, { description: 'Where a malformed JSON body stopped parsing (1-based).' }),
    },
    { optional: ['problems', 'position'] },
  ),
  Health: object({ status: { type: 'string', enum: ['ok'] }, version: str, uptimeMs: num }),
  KafkaTopics: object({ bootstrapServers: str, topics: array(object({ name: str, partitions: int })) }),
  Overview: object({
    version: str,
    slots: nullable(int),
    jobs: object({ running: int, restarting: int, finished: int, failed: int, cancelled: int }),
    authRequired: bool,
    tenant: nullable(str),
  }),
  TenantTokenInfo: object({ id: str, tenant: str, createdAt: num }, { description: 'A tenant token, without the token (only its SHA-256 is kept).' }),
  CreateTokenRequest: requests.createToken,
  TenantTokenCreated: object({ id: str, tenant: str, createdAt: num, token: str }, { description: 'The new token, shown this once.' }),
  TenantTokenList: object({ tokens: array(ref('TenantTokenInfo')) }),
  TenantTokensRevoked: object({ revoked: array(ref('TenantTokenInfo')) }),
  SubmitJobRequest: requests.submitJob,
  PipelineRef: object({ name: str, version: int }),
  JobSummary: object(summaryProperties),
  JobSubmitted: object({ ...summaryProperties, warnings: array(ref('ApiProblem')) }),
  JobList: object({ jobs: array(ref('JobSummary')) }),
  KeyGroupRange: object({ start: int, end: int }, { description: 'Inclusive range of key groups.' }),
  ExecutionTask: object({
    id: int,
    name: str,
    parallelism: int,
    operators: array(object({ nodeId: str, type: str, name: str })),
    inputs: array(int),
    subtasks: array(object({ index: int, keyGroupRange: nullable(ref('KeyGroupRange')) })),
  }),
  ExecutionExchange: object({
    id: int,
    edgeIds: array(str),
    from: object({ taskId: int, nodeId: str, output: str }),
    to: object({ taskId: int, nodeId: str, input: int }),
    partitioning: { type: 'string', enum: ['forward', 'hash', 'rebalance', 'rescale', 'broadcast'] },
    keyed: bool,
  }),
  ExecutionGraph: object({ maxParallelism: int, tasks: array(ref('ExecutionTask')), exchanges: array(ref('ExecutionExchange')) }),
  CollectSinkInfo: object({ name: str, nodeId: str, rows: int, dropped: int }),
  ExceptionEntry: object({
    timestamp: num,
    attempt: int,
    restarted: bool,
    message: str,
    nodeId: nullable(str),
    taskId: nullable(int),
    taskName: nullable(str),
    subtaskIndex: nullable(int),
    key: nullable({ type: ['string', 'number'] }),
    record: nullable(str),
    stack: nullable(str),
  }),
  JobDetail: object({
    ...summaryProperties,
    graph: ref('JobGraph'),
    plan: ref('ExecutionGraph'),
    restarts: int,
    failure: nullable(ref('ExceptionEntry')),
    sinks: array(ref('CollectSinkInfo')),
    restorePlan: nullable(ref('RestorePlanView')),
  }),
  ExceptionHistory: object({ entries: array(ref('ExceptionEntry')) }),
  ResultRow: object({ value: {}, timestamp: nullable(num), kind: ref('RowKindName') }),
  SinkResults: object({ sink: str, total: int, dropped: int, offset: int, limit: int, rows: array(ref('ResultRow')) }),
  CancelAccepted: object({ id: str, status: ref('JobStatus') }),
  StateQueryResult: object({
    nodeId: str,
    key: { type: ['string', 'number'] },
    keyGroup: int,
    subtask: int,
    attempt: int,
    states: array(
      object({
        name: str,
        kind: nullable({ type: 'string', enum: ['value', 'list', 'map', 'reducing', 'aggregating'] }),
        namespace: { type: ['string', 'number', 'null'] },
        value: {},
      }),
    ),
    timers: object({
      event: array(object({ timestamp: { type: 'number' }, namespace: { type: ['string', 'number', 'null'] } })),
      processing: array(object({ timestamp: { type: 'number' }, namespace: { type: ['string', 'number', 'null'] } })),
    }),
  }),
  StopWithSavepointRequest: requests.stopWithSavepoint,
  SavepointAccepted: object({ requestId: str }),
  SavepointStatus: object({
    requestId: str,
    jobId: str,
    kind: { type: 'string', enum: ['savepoint', 'stop-with-savepoint'] },
    status: { type: 'string', enum: ['in-progress', 'completed', 'failed'] },
    checkpointId: nullable(int),
    location: nullable(str),
    failure: nullable(str),
  }),
  RedeployRequest: requests.redeploy,
  RestorePlanView: object({
    checkpointId: int,
    savepoint: bool,
    entries: array(
      object({
        nodeId: str,
        status: { type: 'string', enum: ['restored', 'new', 'dropped', 'incompatible'] },
        states: array(str),
        reason: nullable(str),
      }),
    ),
    problems: array(str),
  }),
  RedeployResult: object({ job: nullable(ref('JobSubmitted')), savepoint: str, restorePlan: ref('RestorePlanView') }),
  CheckpointHistory: object({
    counts: object({ completed: int, failed: int, inProgress: int }),
    history: array(
      object({
        id: int,
        savepoint: bool,
        status: { type: 'string', enum: ['in-progress', 'completed', 'failed'] },
        triggeredAt: num,
        completedAt: nullable(num),
        durationMs: nullable(num),
        stateSizeBytes: int,
        location: str,
        failure: nullable(str),
      }),
    ),
  }),
  CheckpointDetail: object({
    id: int,
    savepoint: bool,
    status: { type: 'string', enum: ['in-progress', 'completed', 'failed'] },
    triggeredAt: num,
    completedAt: nullable(num),
    durationMs: nullable(num),
    stateSizeBytes: int,
    location: str,
    failure: nullable(str),
    expected: int,
    acknowledged: int,
    tasks: array(
      object({
        taskId: int,
        name: str,
        nodeIds: array(str),
        parallelism: int,
        subtasks: array(object({ subtask: int, acknowledgedAfterMs: num, syncMs: num, asyncMs: num, alignmentMs: num, stateSizeBytes: int })),
      }),
    ),
  }),
  SavePipelineRequest: requests.savePipeline,
  PipelineVersionInfo: object(pipelineVersionInfo),
  PipelineSaved: object({ ...pipelineVersionInfo, created: bool, warnings: array(ref('ApiProblem')) }),
  PipelineVersion: object({ ...pipelineVersionInfo, graph: ref('JobGraph') }),
  PipelineSummary: object({ name: str, latestVersion: int, versions: int, updatedAt: num }),
  PipelineList: object({ pipelines: array(ref('PipelineSummary')) }),
  PipelineDetail: object({ name: str, versions: array(ref('PipelineVersionInfo')) }),

  // Socket.IO payloads (see x-socket-io in the document).
  Spread: object({ avg: num, max: num }, { description: 'Average and maximum over subtasks.' }),
  HoldingBack: object({ nodeId: str, subtask: int, parallelism: int, edgeIds: array(str), exchange: int, description: str }),
  ChannelTelemetry: object({ nodeId: str, subtask: int, edgeIds: array(str), exchange: int, watermark: ref('WireTime'), idle: bool, ended: bool, lastRecordAgeMs: nullable(num) }),
  SplitTelemetry: object({ split: str, watermark: ref('WireTime'), idle: bool, lastRecordAgeMs: nullable(num), lag: nullable(int) }, { optional: ['lag'] }),
  InputTelemetry: object(
    { input: int, inputName: str, watermark: ref('WireTime'), idle: bool, holdingBack: nullable(ref('HoldingBack')), channels: array(ref('ChannelTelemetry')), channelsOmitted: int },
    { optional: ['channels', 'channelsOmitted'] },
  ),
  SubtaskOperatorTelemetry: object({
    nodeId: str,
    recordsIn: int,
    recordsOut: int,
    recordsInPerSecond: nullable(num),
    recordsOutPerSecond: nullable(num),
    busyMsPerSecond: nullable(num),
    inputWatermark: nullable(ref('WireTime')),
    outputWatermark: nullable(ref('WireTime')),
    eventTimeLagMs: nullable(num),
    lateRecordsDropped: nullable(int),
    lateRecordsRouted: nullable(int),
  }),
  SubtaskTelemetry: object({
    subtask: int,
    sampleAgeMs: nullable(num),
    busyMsPerSecond: nullable(num),
    idleMsPerSecond: nullable(num),
    backpressuredMsPerSecond: nullable(num),
    inputs: array(ref('InputTelemetry')),
    splits: array(ref('SplitTelemetry')),
    transactions: array(ref('TransactionTelemetry')),
    operators: array(ref('SubtaskOperatorTelemetry')),
  }, { optional: ['splits', 'transactions'] }),
  TransactionTelemetry: object({ nodeId: str, transactionalId: str, records: int, ageMs: num, phase: { type: 'string', enum: ['open', 'pre-committed', 'committing'] } }),
  TaskTelemetry: object({ taskId: int, name: str, nodeIds: array(str), subtasks: array(ref('SubtaskTelemetry')) }),
  OperatorTelemetry: object({
    nodeId: str,
    name: str,
    type: str,
    taskId: int,
    parallelism: int,
    recordsIn: int,
    recordsOut: int,
    recordsInPerSecond: nullable(num),
    recordsOutPerSecond: nullable(num),
    busyMsPerSecond: spread,
    taskBusyMsPerSecond: spread,
    idleMsPerSecond: spread,
    backpressuredMsPerSecond: spread,
    inputWatermark: nullable(ref('WireTime')),
    outputWatermark: nullable(ref('WireTime')),
    eventTimeLagMs: nullable(num),
    holdingBack: nullable(ref('HoldingBack')),
    idle: bool,
    lateRecordsDropped: nullable(int),
    lateRecordsRouted: nullable(int),
  }),
  MetricsFrame: object({
    jobId: str,
    status: ref('JobStatus'),
    at: num,
    operators: array(ref('OperatorTelemetry')),
    tasks: array(ref('TaskTelemetry')),
  }),
  JobStatusEvent: object({ jobId: str, name: str, status: ref('JobStatus'), previous: nullable(ref('JobStatus')), at: num }),
  JobExceptionEvent: object({ jobId: str, exception: ref('ExceptionEntry') }),
  TapRequest: object({ jobId: str, edgeId: str, maxRecordsPerSecond: { type: 'number', exclusiveMinimum: 0 }, limit: { type: 'integer', minimum: 1, maximum: 10_000 } }, { optional: ['maxRecordsPerSecond', 'limit'] }),
  TapRecordsEvent: object(
    {
      tapId: str,
      jobId: str,
      edgeId: str,
      records: array(
        object({
          value: {},
          timestamp: nullable(num),
          kind: { type: 'string', enum: ['+I', '-U', '+U', '-D'] },
          subtask: int,
          watermark: ref('WireTime'),
          window: { oneOf: [object({ start: num, end: num }), { const: 'late' }, { type: 'null' }] },
        }),
      ),
      skipped: int,
      ended: { type: 'string', enum: ['limit', 'job-ended', 'stopped'] },
    },
    { optional: ['ended'] },
  ),
  HotKeysRequest: object({ jobId: str, nodeId: str, k: { type: 'integer', minimum: 1, maximum: 100 } }, { optional: ['k'] }),
  HotKeysEvent: object(
    {
      jobId: str,
      nodeId: str,
      edgeIds: array(str),
      windowMs: num,
      totalPerSecond: num,
      keys: array(object({ key: { type: ['string', 'number'] }, perSecond: num, share: num, keyGroup: int, subtask: int, errorPerSecond: num }, { optional: ['errorPerSecond'] })),
    },
    { optional: ['edgeIds'] },
  ),
};
