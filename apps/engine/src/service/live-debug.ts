/**
 * Record taps and hot keys over Socket.IO: what a socket started, it owns. A tap's
 * samples go to the socket that started it (no room: two people tapping the same
 * edge get two taps, each with its own limit); hot keys are sent to each subscribed
 * socket once a second. A disconnect stops everything the socket started, so a closed
 * browser tab leaves no subtask sampling or counting.
 */
import type { Socket } from 'socket.io';
import type { ClientToServerEvents, HotKeysEvent, ServerToClientEvents, TapRecordsEvent } from '@sluice/protocol';
import type { Job, JobManager } from '../cluster/job-manager.js';
import { LiveDebugError, TAP_DEFAULTS, type TapBatch } from '../cluster/live-debug.js';
import { rowKindName, wireTime, wireTimestamp } from './wire.js';

type SluiceSocket = Socket<ClientToServerEvents, ServerToClientEvents>;
type Reply = (ack: unknown, value: unknown) => void;

export interface LiveDebugOptions {
  /** The most records per second one tap may ask for; undefined: no cap. */
  readonly maxTapRecordsPerSecond: number | undefined;
  /** How often hot keys are published (the telemetry frame interval). */
  readonly hotKeysEveryMs: number;
}

interface HotKeysSubscription {
  readonly job: Job;
  readonly nodeId: string;
  readonly exchanges: number[];
  readonly k: number;
}

export class LiveDebugSockets {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly jobManager: JobManager,
    private readonly options: LiveDebugOptions,
  ) {}

  /**
   * `jobFor` is the socket's view of the jobs: the job, or the refusal for an id it may
   * not see (another tenant's job reads exactly like an unknown one).
   */
  connect(socket: SluiceSocket, reply: Reply, jobFor: (jobId: string) => Job | string = (jobId) => this.jobManager.get(jobId) ?? `no job with id '${jobId}'`): void {
    const taps = new Map<string, Job>();
    const hotKeys = new Map<string, HotKeysSubscription>();
    const runningJob = (request: unknown, what: string): Job => {
      const jobId = (request as { jobId?: unknown } | null)?.jobId;
      if (typeof jobId !== 'string') throw new LiveDebugError('bad-request', `${what} needs { jobId: string, … }`);
      const job = jobFor(jobId);
      if (typeof job === 'string') throw new LiveDebugError('not-found', job);
      if (job.status !== 'running') throw new LiveDebugError('not-running', `job '${jobId}' is ${job.status}; ${what} works on running jobs`);
      return job;
    };
    const failed = (ack: unknown, error: unknown) => reply(ack, { ok: false, error: error instanceof Error ? error.message : String(error) });

    socket.on('tap-start', (request, ack) => {
      try {
        const job = runningJob(request, 'tap-start');
        const { edgeId, maxRecordsPerSecond, limit } = request as { edgeId?: unknown; maxRecordsPerSecond?: unknown; limit?: unknown };
        if (typeof edgeId !== 'string') throw new LiveDebugError('bad-request', 'tap-start needs { jobId: string, edgeId: string }');
        if (maxRecordsPerSecond !== undefined && typeof maxRecordsPerSecond !== 'number') throw new LiveDebugError('bad-request', 'maxRecordsPerSecond must be a number');
        if (limit !== undefined && typeof limit !== 'number') throw new LiveDebugError('bad-request', 'limit must be a number');
        const rate = maxRecordsPerSecond ?? TAP_DEFAULTS.maxRecordsPerSecond;
        const cap = this.options.maxTapRecordsPerSecond;
        if (cap !== undefined && rate > cap) {
          throw new LiveDebugError('bad-request', `maxRecordsPerSecond ${rate} is above this engine's cap of ${cap} records per second per tap (limits.maxTapRecordsPerSecond)`);
        }
        let tapId = '';
        const pending: TapBatch[] = [];
        const send = (batch: TapBatch) => {
          const event: TapRecordsEvent = {
            tapId,
            jobId: job.id,
            edgeId,
            records: batch.records.map((r) => ({
              value: r.value,
              timestamp: wireTimestamp(r.timestamp),
              kind: rowKindName(r.kind),
              subtask: r.subtask,
              watermark: wireTime(r.watermark),
              window: r.window,
            })),
            skipped: batch.skipped,
            ...(batch.ended !== undefined ? { ended: batch.ended } : {}),
          };
          socket.emit('tap-records', event);
          if (batch.ended !== undefined) taps.delete(tapId);
        };
        // Batches can only arrive after start() returned, but keep the order if one did.
        tapId = job.taps.start(edgeId, { maxRecordsPerSecond: rate, limit }, (batch) => (tapId === '' ? pending.push(batch) : send(batch)));
        taps.set(tapId, job);
        reply(ack, { ok: true, tapId });
        for (const batch of pending.splice(0)) send(batch);
      } catch (error) {
        failed(ack, error);
      }
    });

    socket.on('tap-stop', (request, ack) => {
      const tapId = (request as { tapId?: unknown } | null)?.tapId;
      const job = typeof tapId === 'string' ? taps.get(tapId) : undefined;
      if (typeof tapId !== 'string') reply(ack, { ok: false, error: 'tap-stop needs { tapId: string }' });
      else if (!job) reply(ack, { ok: false, error: `no tap '${tapId}' of this connection is running (it may have reached its limit or its job ended)` });
      else {
        job.taps.stop(tapId);
        reply(ack, { ok: true });
      }
    });

    socket.on('hot-keys-subscribe', (request, ack) => {
      try {
        const job = runningJob(request, 'hot-keys-subscribe');
        const { nodeId, k } = request as { nodeId?: unknown; k?: unknown };
        if (typeof nodeId !== 'string') throw new LiveDebugError('bad-request', 'hot-keys-subscribe needs { jobId: string, nodeId: string }');
        if (k !== undefined && (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 100)) throw new LiveDebugError('bad-request', `k must be an integer from 1 to 100, not ${JSON.stringify(k)}`);
        const key = `${job.id}/${nodeId}`;
        const previous = hotKeys.get(key);
        const exchanges = job.hotKeys.exchangesOf(nodeId);
        job.hotKeys.subscribe(exchanges);
        if (previous) previous.job.hotKeys.unsubscribe(previous.exchanges);
        hotKeys.set(key, { job, nodeId, exchanges, k: k ?? 10 });
        reply(ack, { ok: true });
      } catch (error) {
        failed(ack, error);
      }
    });

    socket.on('hot-keys-unsubscribe', (request, ack) => {
      const { jobId, nodeId } = fieldsOf(request);
      const key = `${String(jobId)}/${String(nodeId)}`;
      const subscription = hotKeys.get(key);
      if (typeof jobId !== 'string' || typeof nodeId !== 'string') reply(ack, { ok: false, error: 'hot-keys-unsubscribe needs { jobId: string, nodeId: string }' });
      else if (!subscription) reply(ack, { ok: false, error: `this connection does not subscribe to hot keys of node '${nodeId}' of job '${jobId}'` });
      else {
        hotKeys.delete(key);
        subscription.job.hotKeys.unsubscribe(subscription.exchanges);
        reply(ack, { ok: true });
      }
    });

    const timer = setInterval(() => {
      for (const [key, s] of hotKeys) {
        if (s.job.status !== 'running' && s.job.status !== 'restarting') {
          hotKeys.delete(key);
          continue;
        }
        const answer = s.job.hotKeys.top(s.exchanges, s.k);
        if (answer.windowMs === 0) continue; // no report yet
        const event: HotKeysEvent = { jobId: s.job.id, nodeId: s.nodeId, ...answer };
        socket.emit('hot-keys', event);
      }
    }, this.options.hotKeysEveryMs);
    timer.unref();
    this.timers.add(timer);

    socket.on('disconnect', () => {
      clearInterval(timer);
      this.timers.delete(timer);
      for (const [tapId, job] of taps) job.taps.stop(tapId);
      taps.clear();
      for (const s of hotKeys.values()) s.job.hotKeys.unsubscribe(s.exchanges);
      hotKeys.clear();
    });
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
  }
}

/** A request's fields, whatever a client sent (null, a number…): the checks that follow name what is missing. */
function fieldsOf(request: unknown): { jobId?: unknown; nodeId?: unknown } {
  return typeof request === 'object' && request !== null ? request : {};
}
