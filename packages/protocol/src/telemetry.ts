/**
 * Live telemetry over Socket.IO, on the same port as the REST API (path `/socket.io`).
 *
 *   client ──subscribe { jobId }──────────────▶ server   ack: { ok, job } or { ok: false, error }
 *   client ◀──metrics (MetricsFrame)─────────── server   at least once a second per subscribed job,
 *                                                        and once more when the job ends
 *   client ◀──job-status / job-exception──────── server   as they happen
 *   client ──subscribe-jobs──────────────────▶ server   job-status of every job (a job list)
 *
 * One `metrics` event carries a whole job: every operator and every subtask, built
 * once per tick and encoded once per room, however many clients watch.
 *
 * Rates are per second between the last two samples of each subtask (the engine
 * samples once a second). Times in `…MsPerSecond` follow Flink's definitions:
 * busy + idle + backpressured ≈ 1000 for a running subtask.
 *
 * With a bearer token configured, connect with `io(url, { auth: { token } })`.
 */
import type { ExceptionEntry, JobSummary } from './rest.js';
import type { JobStatus, RowKindName, WireTime } from './common.js';

// ─── Event names and signatures (for socket.io's typed Server and Socket) ────

export interface ServerToClientEvents {
  metrics: (frame: MetricsFrame) => void;
  'job-status': (event: JobStatusEvent) => void;
  'job-exception': (event: JobExceptionEvent) => void;
  /** Samples of a record tap, in batches as they arrive from the producing subtasks; the last one has `ended`. */
  'tap-records': (event: TapRecordsEvent) => void;
  /** Once a second per hot-keys subscription. */
  'hot-keys': (event: HotKeysEvent) => void;
}

export interface ClientToServerEvents {
  subscribe: (request: SubscribeRequest, ack: (reply: SubscribeReply) => void) => void;
  unsubscribe: (request: { readonly jobId: string }, ack?: (reply: Ack) => void) => void;
  'subscribe-jobs': (ack?: (reply: Ack) => void) => void;
  'unsubscribe-jobs': (ack?: (reply: Ack) => void) => void;
  /** Starts sampling records on an edge of a running job (see TapRequest). A tap ends at its limit, with the job, with tap-stop, or when the socket disconnects. */
  'tap-start': (request: TapRequest, ack: (reply: TapReply) => void) => void;
  'tap-stop': (request: { readonly tapId: string }, ack?: (reply: Ack) => void) => void;
  /** Top-K keys of a keyed exchange once a second, until hot-keys-unsubscribe or disconnect. Keys are counted only while someone subscribes. */
  'hot-keys-subscribe': (request: HotKeysRequest, ack: (reply: Ack) => void) => void;
  'hot-keys-unsubscribe': (request: { readonly jobId: string; readonly nodeId: string }, ack?: (reply: Ack) => void) => void;
}

/** The Socket.IO handshake's `auth` field. */
export interface HandshakeAuth {
  readonly token?: string;
}

export type Ack = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface SubscribeRequest {
  readonly jobId: string;
  /** 'full' (default): operators and subtasks; 'operators': per-operator figures only (smaller frames). */
  readonly detail?: 'full' | 'operators';
}

export type SubscribeReply = { readonly ok: true; readonly job: JobSummary } | { readonly ok: false; readonly error: string };

// ─── Metrics ─────────────────────────────────────────────────────────────────

export interface MetricsFrame {
  readonly jobId: string;
  readonly status: JobStatus;
  /** When the frame was built, epoch ms. Event-time lags are measured against it. */
  readonly at: number;
  /** Per graph node that runs as an operator (key-by nodes become exchanges and have none). */
  readonly operators: readonly OperatorTelemetry[];
  /** Per task and subtask; empty when subscribed with detail 'operators'. */
  readonly tasks: readonly TaskTelemetry[];
}

/** An average and a maximum over an operator's subtasks; null until two samples exist. */
export interface Spread {
  readonly avg: number;
  readonly max: number;
}

export interface OperatorTelemetry {
  readonly nodeId: string;
  readonly name: string;
  readonly type: string;
  readonly taskId: number;
  readonly parallelism: number;
  /** Cumulative, summed over subtasks. */
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** Summed over subtasks; null before two samples. */
  readonly recordsInPerSecond: number | null;
  readonly recordsOutPerSecond: number | null;
  /** This operator alone, inside its chain (estimated from sampled records). */
  readonly busyMsPerSecond: Spread | null;
  /** Of the task (chain) the operator runs in: idleness and backpressure belong to the whole chain. */
  readonly taskBusyMsPerSecond: Spread | null;
  readonly idleMsPerSecond: Spread | null;
  readonly backpressuredMsPerSecond: Spread | null;
  /** Minimum over subtasks of the watermark the operator has received; null for sources. */
  readonly inputWatermark: WireTime | null;
  /** Minimum over subtasks of the watermark the operator has emitted; null where the engine does not measure it. */
  readonly outputWatermark: WireTime | null;
  /** Frame time minus the operator's watermark (input, or output for sources); null when that is not finite. */
  readonly eventTimeLagMs: number | null;
  /** What holds the operator's input watermark back (at its slowest subtask); null when nothing does. */
  readonly holdingBack: HoldingBack | null;
  /** Every input of every subtask is idle. */
  readonly idle: boolean;
  /** Null: the engine does not report it yet. */
  readonly lateRecordsDropped: number | null;
  readonly lateRecordsRouted: number | null;
}

export interface TaskTelemetry {
  readonly taskId: number;
  readonly name: string;
  /** Chain order, as `operators` of each subtask. */
  readonly nodeIds: readonly string[];
  readonly subtasks: readonly SubtaskTelemetry[];
}

export interface SubtaskTelemetry {
  /** 0-based. */
  readonly subtask: number;
  /** Age of the newest sample; null before the first. A subtask that ended stops being sampled. */
  readonly sampleAgeMs: number | null;
  readonly busyMsPerSecond: number | null;
  readonly idleMsPerSecond: number | null;
  readonly backpressuredMsPerSecond: number | null;
  /** Per input of the head operator (two for joins); empty for sources. */
  readonly inputs: readonly InputTelemetry[];
  /** For source subtasks whose source reports its splits; absent otherwise. */
  readonly splits?: readonly SplitTelemetry[];
  /** For subtasks with a transactional sink (Kafka exactly-once): its transactions not visible yet; absent otherwise. */
  readonly transactions?: readonly TransactionTelemetry[];
  readonly operators: readonly SubtaskOperatorTelemetry[];
}

export interface SubtaskOperatorTelemetry {
  readonly nodeId: string;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly recordsInPerSecond: number | null;
  readonly recordsOutPerSecond: number | null;
  readonly busyMsPerSecond: number | null;
  readonly inputWatermark: WireTime | null;
  readonly outputWatermark: WireTime | null;
  readonly eventTimeLagMs: number | null;
  readonly lateRecordsDropped: number | null;
  readonly lateRecordsRouted: number | null;
}

export interface InputTelemetry {
  /** 0, or 1 for the second input of a two-input operator. */
  readonly input: number;
  /** The input's name in the graph: 'main', 'left', 'right'… */
  readonly inputName: string;
  /** The minimum over the input's channels that are neither idle nor ended. */
  readonly watermark: WireTime;
  /** Every channel of the input is idle: it holds nothing back. */
  readonly idle: boolean;
  readonly holdingBack: HoldingBack | null;
  /**
   * The input's channels (one per producer subtask feeding it). An input with more than 8
   * lists only the 3 that matter most (active with the smallest watermarks, then idle,
   * then ended), and `channelsOmitted` counts the rest: frames grow with the parallelism,
   * not its square. Absent from engines that do not report channels.
   */
  readonly channels?: readonly ChannelTelemetry[];
  readonly channelsOmitted?: number;
}

/** One input channel of a subtask: what one producer subtask delivered. */
export interface ChannelTelemetry {
  /** The upstream operator whose output feeds the channel. */
  readonly nodeId: string;
  /** 0-based subtask of that operator. */
  readonly subtask: number;
  readonly edgeIds: readonly string[];
  readonly exchange: number;
  /** The last watermark the channel delivered ('+Infinity' once it ended). */
  readonly watermark: WireTime;
  /** The producer announced idleness: the channel holds nothing back. */
  readonly idle: boolean;
  /** The producer ended (end of partition). */
  readonly ended: boolean;
  /** Processing time since the channel last delivered records, at frame time; null before the first. */
  readonly lastRecordAgeMs: number | null;
}

/** A sink transaction that readers cannot see yet. A long-open one blocks read_committed readers of its topic. */
export interface TransactionTelemetry {
  readonly nodeId: string;
  readonly transactionalId: string;
  readonly records: number;
  /** Since its first record, at frame time. */
  readonly ageMs: number;
  /** 'open' until the barrier, 'pre-committed' until its checkpoint completes, then 'committing'. */
  readonly phase: 'open' | 'pre-committed' | 'committing';
}

/** One split of a source subtask (a generator split, a Kafka partition, a file). */
export interface SplitTelemetry {
  /** The source's own name for it: '0', 'orders-3'. */
  readonly split: string;
  /** The split's watermark (its largest timestamp minus the out-of-orderness bound, minus 1). */
  readonly watermark: WireTime;
  /** No record for the idleness timeout: the split holds nothing back. */
  readonly idle: boolean;
  /** Processing time since the split's last record, at frame time; null before the first. */
  readonly lastRecordAgeMs: number | null;
  /** Records between the split's position and its end (a Kafka partition's consumer lag) as the subtask last saw it; null while unknown; absent for sources without an end. */
  readonly lag?: number | null;
}

/** The channel with the smallest watermark, named the way a person finds it on the canvas. */
export interface HoldingBack {
  /** The upstream operator whose output feeds the channel. */
  readonly nodeId: string;
  /** 0-based subtask of that operator. */
  readonly subtask: number;
  readonly parallelism: number;
  readonly edgeIds: readonly string[];
  readonly exchange: number;
  /** "subtask 1/2 of 'quiet' (edge e2)" */
  readonly description: string;
}

// ─── Status and exceptions ───────────────────────────────────────────────────

export interface JobStatusEvent {
  readonly jobId: string;
  readonly name: string;
  readonly status: JobStatus;
  /** Null for a job the service sees for the first time. */
  readonly previous: JobStatus | null;
  /** Epoch ms. */
  readonly at: number;
}

export interface JobExceptionEvent {
  readonly jobId: string;
  readonly exception: ExceptionEntry;
}

// ─── Record taps and hot keys ────────────────────────────────────────────────

/**
 * Watch records on one graph edge, sampled and rate-limited on the producer's side
 * (every subtask of the operator that emits into the edge, chained or across an
 * exchange). A hosted engine may cap maxRecordsPerSecond; a request above its cap is
 * refused with the cap in the error.
 */
export interface TapRequest {
  readonly jobId: string;
  readonly edgeId: string;
  /** At most this many records per second over all subtasks (default 10). */
  readonly maxRecordsPerSecond?: number;
  /** Stop after this many records (default 100, at most 10000). */
  readonly limit?: number;
}

/** The window a record leaving a window operator belongs to: [start, end). */
export interface TapWindow {
  readonly start: number;
  readonly end: number;
}

export type TapReply = { readonly ok: true; readonly tapId: string } | { readonly ok: false; readonly error: string };

export interface TapRecordsEvent {
  readonly tapId: string;
  readonly jobId: string;
  readonly edgeId: string;
  readonly records: readonly {
    readonly value: unknown;
    readonly timestamp: number | null;
    readonly kind: RowKindName;
    /** Producer subtask. */
    readonly subtask: number;
    /** The watermark the producer had emitted into the edge when the record crossed it (what the consumer's channel holds at arrival). */
    readonly watermark: WireTime;
    /** After a window operator: the window the record is a result of; 'late' on a late side output; null otherwise. */
    readonly window: TapWindow | 'late' | null;
  }[];
  /** Records skipped by the rate limit since the last event. */
  readonly skipped: number;
  /** Set on the tap's last event: it reached its limit, the job ended, or it was stopped. */
  readonly ended?: 'limit' | 'job-ended' | 'stopped';
}

/** Top-K keys by rate on a keyed exchange (the edge out of a key-by). */
export interface HotKeysRequest {
  readonly jobId: string;
  /** The key-by node, or the keyed operator after it. */
  readonly nodeId: string;
  /** Default 10, at most 100. */
  readonly k?: number;
}

export interface HotKeysEvent {
  readonly jobId: string;
  readonly nodeId: string;
  /** The keyed exchange(s) counted, by edge ids. */
  readonly edgeIds?: readonly string[];
  /** Counting window, ms. */
  readonly windowMs: number;
  readonly totalPerSecond: number;
  readonly keys: readonly {
    readonly key: string | number;
    readonly perSecond: number;
    /** Fraction of all records in the window. */
    readonly share: number;
    readonly keyGroup: number;
    /** The consumer subtask that owns the key's key group. */
    readonly subtask: number;
    /** Upper bound of the over-count of a Space-Saving sketch, per second (0: exact). */
    readonly errorPerSecond?: number;
  }[];
}
