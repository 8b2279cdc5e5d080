/**
 * Follows every job of the job manager and pushes what changes to Socket.IO rooms.
 *
 *   every 100 ms (sampleMs):  new worker reports → samples; status changes → job-status
 *                             (and job-exception, and a final metrics frame)
 *   every 1000 ms (frameMs):  one metrics frame per running job with subscribers,
 *                             built once and broadcast once per room
 *
 * Rooms: `job:<id>` (full frames), `job:<id>:operators` (per-operator figures only),
 * `jobs` (job-status of every job, for the admin) and `jobs:tenant:<tenant>` (of one
 * tenant's jobs). Only the service decides who joins a room (tenants.ts).
 *
 * It reads the job manager's public state (Job.status, Job.metrics, Job.failure):
 * nothing in the engine calls it back, so it polls. Polling a job costs one identity
 * check per subtask.
 */
import type { Server } from 'socket.io';
import type { ClientToServerEvents, JobStatus, MetricsFrame, ServerToClientEvents } from '@sluice/protocol';
import type { Job, JobManager } from '../cluster/job-manager.js';
import type { ExportedJob } from './prometheus.js';
import { RETAIN_ENDED_MS } from './prometheus.js';
import { JobTelemetry } from './telemetry.js';
import { checkpointHistory, exceptionEntry } from './views.js';

export type SluiceServer = Server<ClientToServerEvents, ServerToClientEvents>;

interface Tracked {
  readonly job: Job;
  readonly telemetry: JobTelemetry;
  status: JobStatus;
  /** The newest exception already announced. */
  lastException: Job['exceptions'][number] | undefined;
}

export const roomOf = {
  full: (jobId: string) => `job:${jobId}`,
  operators: (jobId: string) => `job:${jobId}:operators`,
  jobs: 'jobs',
  tenantJobs: (tenant: string) => `jobs:tenant:${tenant}`,
} as const;

export interface HubOptions {
  readonly clock: () => number;
  readonly sampleMs: number;
  readonly frameMs: number;
}

export class TelemetryHub {
  private readonly tracked = new Map<string, Tracked>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly jobManager: JobManager,
    private readonly io: SluiceServer,
    private readonly options: HubOptions,
  ) {}

  start(): void {
    this.poll();
    this.timers.push(setInterval(() => this.poll(), this.options.sampleMs).unref());
    this.timers.push(setInterval(() => this.broadcast(), this.options.frameMs).unref());
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }

  /** Takes new samples and announces status changes. */
  poll(): void {
    const now = this.options.clock();
    for (const job of this.jobManager.list()) {
      let tracked = this.tracked.get(job.id);
      const isNew = tracked === undefined;
      tracked ??= this.track(job);
      tracked.telemetry.observe(job, now);
      if (isNew || tracked.status !== job.status) {
        const previous = isNew ? null : tracked.status;
        tracked.status = job.status;
        const event = { jobId: job.id, name: job.name, status: job.status, previous, at: now };
        const rooms = [roomOf.full(job.id), roomOf.operators(job.id), roomOf.jobs];
        if (job.tenant !== undefined) rooms.push(roomOf.tenantJobs(job.tenant));
        this.io.to(rooms).emit('job-status', event);
        if (job.status !== 'running' && job.status !== 'restarting') this.emitFrame(tracked, now);
      }
      const newest = job.exceptions.at(-1);
      if (newest !== tracked.lastException) {
        // The engine keeps the last 100, oldest first: announce those after the last one announced.
        const from = tracked.lastException === undefined ? 0 : job.exceptions.indexOf(tracked.lastException) + 1;
        tracked.lastException = newest;
        for (const e of job.exceptions.slice(from)) {
          const exception = exceptionEntry(job.plan, e.failure, e.at, e.attempt, e.restarted);
          this.io.to([roomOf.full(job.id), roomOf.operators(job.id)]).emit('job-exception', { jobId: job.id, exception });
        }
      }
    }
  }

  /** The current frame of a job (after taking any new samples); undefined for an unknown job. */
  frame(jobId: string, detail: 'full' | 'operators' = 'full'): MetricsFrame | undefined {
    const job = this.jobManager.get(jobId);
    if (!job) return undefined;
    const tracked = this.tracked.get(jobId) ?? this.track(job);
    const now = this.options.clock();
    tracked.telemetry.observe(job, now);
    return tracked.telemetry.frame(job, now, detail);
  }

  /** Jobs for /metrics: running ones and those that ended within RETAIN_ENDED_MS. */
  exported(): ExportedJob[] {
    const now = this.options.clock();
    const out: ExportedJob[] = [];
    for (const job of this.jobManager.list()) {
      if (job.endedAt !== undefined && now - job.endedAt > RETAIN_ENDED_MS) continue;
      const frame = this.frame(job.id);
      if (frame) out.push({ id: job.id, name: job.name, status: job.status, startedAt: job.startedAt, endedAt: job.endedAt, restarts: job.restarts, checkpoints: checkpointHistory(job.checkpoints()), frame });
    }
    return out;
  }

  private track(job: Job): Tracked {
    const tracked: Tracked = { job, telemetry: new JobTelemetry(job), status: job.status, lastException: undefined };
    this.tracked.set(job.id, tracked);
    return tracked;
  }

  private broadcast(): void {
    const now = this.options.clock();
    for (const tracked of this.tracked.values()) {
      if (tracked.job.status === 'running' || tracked.job.status === 'restarting') this.emitFrame(tracked, now);
    }
  }

  private emitFrame(tracked: Tracked, now: number): void {
    const id = tracked.job.id;
    const full = this.members(roomOf.full(id));
    const operators = this.members(roomOf.operators(id));
    if (full === 0 && operators === 0) return;
    const frame = tracked.telemetry.frame(tracked.job, now, full > 0 ? 'full' : 'operators');
    if (full > 0) this.io.to(roomOf.full(id)).emit('metrics', frame);
    if (operators > 0) this.io.to(roomOf.operators(id)).emit('metrics', full > 0 ? { ...frame, tasks: [] } : frame);
  }

  private members(room: string): number {
    return this.io.sockets.adapter.rooms.get(room)?.size ?? 0;
  }
}
