/**
 * Payloads of the engine's REST API (documented by `GET /api/openapi.json`, checked
 * in at apps/engine/openapi.json). Every response with a 4xx or 5xx status has the
 * body `ApiError`.
 */
import type { JobGraphDocument, Partitioning } from '@sluice/graph-model';
import type { JobStatus, RowKindName } from './common.js';

// ─── Errors ──────────────────────────────────────────────────────────────────

/** Where a problem's `path` points. */
export type ProblemLocation =
  /** Into the submitted job graph, as the validator and the editor write paths: `nodes[3].config.sizeMs`. */
  | 'graph'
  /** Into the JSON request body: `name`, `graph`. */
  | 'body'
  /** A query parameter: `limit`. */
  | 'query'
  /** A path parameter: `version`. */
  | 'path';

export interface ApiProblem {
  readonly in: ProblemLocation;
  /** `$` stands for the whole graph or body. */
  readonly path: string;
  readonly message: string;
  /** The validator's stable problem code (`invalid-config`, `cycle`…), for graph problems. */
  readonly code?: string;
  readonly nodeId?: string;
  readonly edgeId?: string;
}

/** The body of every error response. */
export interface ApiError {
  /** One sentence a person can act on; names the field, id or limit concerned. */
  readonly error: string;
  /** Every problem found (a rejected graph lists all its errors). */
  readonly problems?: readonly ApiProblem[];
  /** For malformed JSON: where the parser stopped (1-based line and column). */
  readonly position?: { readonly line: number; readonly column: number; readonly offset: number };
}

// ─── Service ─────────────────────────────────────────────────────────────────

export interface Health {
  readonly status: 'ok';
  readonly version: string;
  readonly uptimeMs: number;
}

/** GET /api/kafka/topics: a Kafka cluster's topics, for the editor's topic picker. */
export interface KafkaTopics {
  readonly bootstrapServers: string;
  /** Sorted by name; internal topics (`__…`) left out. */
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: number }>;
}

export interface Overview {
  readonly version: string;
  /** Worker-thread slots of the embedded task manager; null when the service was given only a job manager. */
  readonly slots: number | null;
  readonly jobs: Readonly<Record<JobStatus, number>>;
  /** Whether REST and Socket.IO calls need `Authorization: Bearer <token>`. */
  readonly authRequired: boolean;
  /** The tenant the caller acts for (its token's, or X-Sluice-Tenant); null for the admin. Job counts are of the jobs it can see. */
  readonly tenant: string | null;
}

// ─── Tenant tokens (admin only) ──────────────────────────────────────────────

/** A tenant token as listed: never the token itself, which only its creation shows. */
export interface TenantTokenInfo {
  /** 12 hex digits; names the token for revocation. */
  readonly id: string;
  readonly tenant: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

export interface CreateTokenRequest {
  readonly tenant: string;
}

/** POST /api/tokens: the new token, shown this once (the engine keeps only its SHA-256). */
export interface TenantTokenCreated extends TenantTokenInfo {
  readonly token: string;
}

export interface TenantTokenList {
  /** By tenant, then oldest first. */
  readonly tokens: readonly TenantTokenInfo[];
}

export interface TenantTokensRevoked {
  readonly revoked: readonly TenantTokenInfo[];
}

// ─── Jobs ────────────────────────────────────────────────────────────────────

/** Submit either a graph or a stored pipeline version (the latest if `version` is left out). */
export type SubmitJobRequest =
  | { readonly graph: JobGraphDocument }
  | { readonly pipeline: string; readonly version?: number };

export interface PipelineRef {
  readonly name: string;
  readonly version: number;
}

export interface JobSummary {
  readonly id: string;
  readonly name: string;
  readonly status: JobStatus;
  /** Epoch ms. */
  readonly startTime: number;
  readonly endTime: number | null;
  /** Until now while running. */
  readonly durationMs: number;
  /** The stored pipeline version the job was submitted from, if any. */
  readonly pipeline: PipelineRef | null;
  /** The tenant that owns the job (hosted engines); null: the admin's. */
  readonly tenant: string | null;
}

export interface JobSubmitted extends JobSummary {
  /** Validator warnings (the job runs anyway). */
  readonly warnings: readonly ApiProblem[];
}

export interface JobList {
  /** Newest first. */
  readonly jobs: readonly JobSummary[];
}

export interface KeyGroupRange {
  /** Inclusive. */
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
}

/** The execution graph: what the job graph compiled into. */
export interface ExecutionGraph {
  /** Number of key groups (the job's maxParallelism). */
  readonly maxParallelism: number;
  readonly tasks: readonly ExecutionTask[];
  readonly exchanges: readonly ExecutionExchange[];
}

/** A chain of operators running in one thread, times its parallelism. */
export interface ExecutionTask {
  readonly id: number;
  /** "gen → map → filter" */
  readonly name: string;
  readonly parallelism: number;
  /** Chain order: the head first. */
  readonly operators: readonly { readonly nodeId: string; readonly type: string; readonly name: string }[];
  /** Exchanges feeding the head. */
  readonly inputs: readonly number[];
  readonly subtasks: readonly { readonly index: number; readonly keyGroupRange: KeyGroupRange | null }[];
}

/** Records travelling between two tasks, split into one channel per producer/consumer pair. */
export interface ExecutionExchange {
  readonly id: number;
  /** Graph edges carried (two when the exchange bridges a key-by). */
  readonly edgeIds: readonly string[];
  readonly from: { readonly taskId: number; readonly nodeId: string; readonly output: string };
  readonly to: { readonly taskId: number; readonly nodeId: string; readonly input: number };
  readonly partitioning: Partitioning;
  readonly keyed: boolean;
}

export interface CollectSinkInfo {
  readonly name: string;
  readonly nodeId: string;
  /** Rows held now. */
  readonly rows: number;
  /** Oldest rows dropped beyond the sink's maxRecords. */
  readonly dropped: number;
}

export interface JobDetail extends JobSummary {
  /** The job graph as validated: defaults applied, effective partitioning on every edge. */
  readonly graph: JobGraphDocument;
  readonly plan: ExecutionGraph;
  /** Restarts after failures (by the job's restart strategy). */
  readonly restarts: number;
  /** The failure that ended the job; earlier ones it restarted after are in the exception history. */
  readonly failure: ExceptionEntry | null;
  readonly sinks: readonly CollectSinkInfo[];
  /** How state was matched to nodes when the job started from a checkpoint or savepoint. */
  readonly restorePlan: RestorePlanView | null;
}

/** A failure, attributed where it happened. */
export interface ExceptionEntry {
  /** When the job manager recorded it, epoch ms. */
  readonly timestamp: number;
  /** The attempt that failed: 0 for the first run, +1 per restart. */
  readonly attempt: number;
  /** Whether the job restarted after it. */
  readonly restarted: boolean;
  readonly message: string;
  readonly nodeId: string | null;
  readonly taskId: number | null;
  readonly taskName: string | null;
  /** 0-based. */
  readonly subtaskIndex: number | null;
  /** The key being processed, for keyed operators. */
  readonly key: string | number | null;
  /** The input record, as JSON text (cut at 1000 characters). */
  readonly record: string | null;
  readonly stack: string | null;
}

export interface ExceptionHistory {
  /** Newest first. */
  readonly entries: readonly ExceptionEntry[];
}

export interface ResultRow {
  readonly value: unknown;
  /** Event time, epoch ms; null for records without one. */
  readonly timestamp: number | null;
  readonly kind: RowKindName;
}

export interface SinkResults {
  readonly sink: string;
  /** Rows held now (the sink keeps its newest maxRecords). */
  readonly total: number;
  readonly dropped: number;
  readonly offset: number;
  readonly limit: number;
  readonly rows: readonly ResultRow[];
}

export interface CancelAccepted {
  readonly id: string;
  /** The status right after the request: 'cancelled'. */
  readonly status: JobStatus;
}

// ─── State queries ──────────────────────────────────────────────────────────

/** A namespace of keyed state: a window (opaque, as the window operator encodes it), or null for state that is not per window. */
export type StateNamespace = string | number | null;

/**
 * `GET /api/jobs/{id}/state?node=&key=[&keyType=]`: every state value and pending timer of
 * one key of a keyed operator, read from the running subtask that owns the key (Flink's
 * queryable state, read-only; heap and RocksDB backends alike).
 */
export interface StateQueryResult {
  readonly nodeId: string;
  /** The key as the job sees it: a number when the key-by yields numbers. */
  readonly key: string | number;
  readonly keyGroup: number;
  /** The subtask owning the key group. */
  readonly subtask: number;
  /** The job's restart attempt the state was read from. */
  readonly attempt: number;
  readonly states: readonly {
    readonly name: string;
    /** null: state restored from a checkpoint that the operator has not touched again yet. */
    readonly kind: 'value' | 'list' | 'map' | 'reducing' | 'aggregating' | null;
    readonly namespace: StateNamespace;
    readonly value: unknown;
  }[];
  readonly timers: {
    readonly event: readonly { readonly timestamp: number; readonly namespace: StateNamespace }[];
    readonly processing: readonly { readonly timestamp: number; readonly namespace: StateNamespace }[];
  };
}

// ─── Checkpoints, savepoints, redeploy ───────────────────────────────────────

export interface StopWithSavepointRequest {
  /** Emit the final watermark (+Infinity) before stopping, firing every window (Flink's --drain). */
  readonly drain?: boolean;
}

/** 202 for `POST …/savepoints` and `POST …/stop`: poll `GET …/savepoints/{requestId}`. */
export interface SavepointAccepted {
  readonly requestId: string;
}

export interface SavepointStatus {
  readonly requestId: string;
  readonly jobId: string;
  readonly kind: 'savepoint' | 'stop-with-savepoint';
  readonly status: 'in-progress' | 'completed' | 'failed';
  readonly checkpointId: number | null;
  /** Directory of the savepoint: give it to redeploy, or to a submit that restores. */
  readonly location: string | null;
  readonly failure: string | null;
}

export interface RedeployRequest {
  readonly graph?: JobGraphDocument;
  readonly pipeline?: string;
  readonly version?: number;
  /** Restore from this savepoint or checkpoint directory (the running job is cancelled); left out: the job is stopped with a new savepoint. */
  readonly savepoint?: string;
  /** Drop state of nodes the new graph no longer has (Flink's --allowNonRestoredState). */
  readonly allowNonRestoredState?: boolean;
  /** Only compute the restore plan (from `savepoint`, else the job's latest completed checkpoint); nothing stops or starts. */
  readonly dryRun?: boolean;
}

export interface RestorePlanView {
  readonly checkpointId: number;
  readonly savepoint: boolean;
  /** Per node: restored, new (no state in the checkpoint), dropped, or incompatible. */
  readonly entries: readonly {
    readonly nodeId: string;
    readonly status: 'restored' | 'new' | 'dropped' | 'incompatible';
    readonly states: readonly string[];
    readonly reason: string | null;
  }[];
  /** What stops the restore; empty when it can go ahead. */
  readonly problems: readonly string[];
}

export interface RedeployResult {
  /** The new job; null for a dry run. */
  readonly job: JobSubmitted | null;
  /** The savepoint or checkpoint the new job restores from. */
  readonly savepoint: string;
  readonly restorePlan: RestorePlanView;
}

export interface CheckpointHistory {
  readonly counts: { readonly completed: number; readonly failed: number; readonly inProgress: number };
  /** Newest first (the engine keeps the last 50). */
  readonly history: readonly {
    readonly id: number;
    readonly savepoint: boolean;
    readonly status: 'in-progress' | 'completed' | 'failed';
    readonly triggeredAt: number;
    readonly completedAt: number | null;
    readonly durationMs: number | null;
    readonly stateSizeBytes: number;
    readonly location: string;
    readonly failure: string | null;
  }[];
}

/** One checkpoint with every subtask's acknowledgement (GET /api/jobs/:id/checkpoints/:checkpointId). */
export interface CheckpointDetail {
  readonly id: number;
  readonly savepoint: boolean;
  readonly status: 'in-progress' | 'completed' | 'failed';
  readonly triggeredAt: number;
  readonly completedAt: number | null;
  readonly durationMs: number | null;
  readonly stateSizeBytes: number;
  readonly location: string;
  readonly failure: string | null;
  /** Subtasks that must acknowledge. */
  readonly expected: number;
  readonly acknowledged: number;
  /** Per task (operator chain), in plan order; subtasks that did not acknowledge are absent. */
  readonly tasks: readonly {
    readonly taskId: number;
    readonly name: string;
    readonly nodeIds: readonly string[];
    readonly parallelism: number;
    readonly subtasks: readonly {
      readonly subtask: number;
      /** From the trigger to this subtask's acknowledgement. */
      readonly acknowledgedAfterMs: number;
      /** Synchronous part of the snapshot (the task held its input). */
      readonly syncMs: number;
      /** Writing the state off the task's loop. */
      readonly asyncMs: number;
      /** From the first to the last barrier at this subtask (0 for sources). */
      readonly alignmentMs: number;
      readonly stateSizeBytes: number;
    }[];
  }[];
}

// ─── Pipelines ───────────────────────────────────────────────────────────────

export interface SavePipelineRequest {
  /** `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`; the graph keeps its own display name. */
  readonly name: string;
  readonly graph: JobGraphDocument;
  /** What changed in this version. */
  readonly description?: string;
}

export interface PipelineVersionInfo {
  readonly name: string;
  readonly version: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly description: string | null;
  /** SHA-256 of the graph's canonical JSON: equal graphs, equal digests. */
  readonly sha256: string;
}

/** `POST /api/pipelines`: 201 with `created: true`, or 200 with `created: false` when the graph equals the latest version. */
export interface PipelineSaved extends PipelineVersionInfo {
  readonly created: boolean;
  readonly warnings: readonly ApiProblem[];
}

export interface PipelineVersion extends PipelineVersionInfo {
  readonly graph: JobGraphDocument;
}

export interface PipelineSummary {
  readonly name: string;
  readonly latestVersion: number;
  readonly versions: number;
  readonly updatedAt: number;
}

export interface PipelineList {
  readonly pipelines: readonly PipelineSummary[];
}

export interface PipelineDetail {
  readonly name: string;
  /** Oldest first. */
  readonly versions: readonly PipelineVersionInfo[];
}

