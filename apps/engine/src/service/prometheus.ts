/**
 * `/metrics` in Prometheus's text format (prom-client), from the same figures as the
 * live telemetry, named after Prometheus's conventions: `_total` counters, `_seconds`
 * units, `_ratio` gauges (0..1), and labels `job` (id), `job_name`, `operator` (node
 * id), `task`, `subtask` (0-based), `input`.
 *
 * Jobs are exported while they run and for RETAIN_ENDED_MS after they end, so the
 * last values get scraped. Watermarks: a subtask without a watermark yet has no
 * watermark series; the end of input is +Inf.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { CheckpointHistory, JobStatus, MetricsFrame } from '@sluice/protocol';

export const RETAIN_ENDED_MS = 10 * 60_000;

const STATUSES: readonly JobStatus[] = ['running', 'restarting', 'finished', 'failed', 'cancelled'];

export interface ExportedJob {
  readonly id: string;
  readonly name: string;
  readonly status: JobStatus;
  readonly startedAt: number;
  readonly endedAt: number | undefined;
  readonly restarts: number;
  readonly checkpoints: CheckpointHistory;
  readonly frame: MetricsFrame;
}

type Labels<K extends string> = Record<K, string>;

export class PrometheusExporter {
  readonly registry = new Registry();
  /**
   * The engine process's own metrics (CPU, memory, event loop): the admin's alone. They
   * describe the engine every tenant shares, not a tenant's jobs.
   */
  private readonly processRegistry = new Registry();
  /** Our metrics (not the process defaults), reset before each scrape. Declared before them: field order matters. */
  private readonly all: Array<{ reset(): void }> = [];
  private queue: Promise<unknown> = Promise.resolve();

  private readonly jobInfo = this.gauge('sluice_job_info', 'A job known to the engine (value 1).', ['job', 'job_name']);
  private readonly jobStatus = this.gauge('sluice_job_status', 'Job status as a state set: 1 for the current status, 0 for the others.', ['job', 'job_name', 'status']);
  private readonly jobStart = this.gauge('sluice_job_start_time_seconds', 'When the job started, seconds since the epoch.', ['job', 'job_name']);
  private readonly jobEnd = this.gauge('sluice_job_end_time_seconds', 'When the job ended, seconds since the epoch.', ['job', 'job_name']);
  private readonly jobRestarts = this.counter('sluice_job_restarts_total', 'Restarts after failures, by the job restart strategy.', ['job', 'job_name']);
  private readonly checkpoints = this.counter('sluice_checkpoints_total', 'Checkpoints and savepoints by outcome (of the last 50 the engine keeps).', ['job', 'job_name', 'status']);
  private readonly checkpointBytes = this.gauge('sluice_last_checkpoint_size_bytes', 'State size of the latest completed checkpoint.', ['job', 'job_name']);
  private readonly checkpointDuration = this.gauge('sluice_last_checkpoint_duration_seconds', 'Duration of the latest completed checkpoint.', ['job', 'job_name']);

  private readonly recordsIn = this.counter('sluice_records_in_total', 'Records an operator received.', ['job', 'job_name', 'operator', 'subtask']);
  private readonly recordsOut = this.counter('sluice_records_out_total', 'Records an operator emitted on its main output.', ['job', 'job_name', 'operator', 'subtask']);
  private readonly lateDropped = this.counter('sluice_late_records_dropped_total', 'Records dropped for arriving after the watermark (beyond allowed lateness).', ['job', 'job_name', 'operator', 'subtask']);
  private readonly lateRouted = this.counter('sluice_late_records_routed_total', 'Late records sent to the late output.', ['job', 'job_name', 'operator', 'subtask']);
  private readonly operatorBusy = this.gauge('sluice_operator_busy_ratio', 'Share of time spent in this operator alone, inside its chain (0..1).', ['job', 'job_name', 'operator', 'subtask']);

  private readonly taskBusy = this.gauge('sluice_task_busy_ratio', 'Share of time the subtask was busy (0..1), Flink busyTimeMsPerSecond / 1000.', ['job', 'job_name', 'task', 'subtask']);
  private readonly taskIdle = this.gauge('sluice_task_idle_ratio', 'Share of time the subtask waited for input (0..1).', ['job', 'job_name', 'task', 'subtask']);
  private readonly taskBackpressured = this.gauge('sluice_task_backpressured_ratio', 'Share of time the subtask waited for downstream credit (0..1).', ['job', 'job_name', 'task', 'subtask']);

  private readonly inputWatermark = this.gauge('sluice_operator_input_watermark_seconds', 'Watermark the operator received, seconds since the epoch (+Inf at end of input).', ['job', 'job_name', 'operator', 'subtask']);
  private readonly outputWatermark = this.gauge('sluice_operator_output_watermark_seconds', 'Watermark the operator emitted, seconds since the epoch (+Inf at end of input), where measured.', ['job', 'job_name', 'operator', 'subtask']);
  private readonly watermarkLag = this.gauge('sluice_operator_watermark_lag_seconds', 'Wall-clock time minus the operator watermark (event-time lag).', ['job', 'job_name', 'operator', 'subtask']);
  private readonly channelWatermark = this.gauge('sluice_input_watermark_seconds', 'Watermark of one input of a task head: minimum over its non-idle channels.', ['job', 'job_name', 'operator', 'subtask', 'input']);
  private readonly inputIdle = this.gauge('sluice_input_idle', '1 when every channel of the input is idle.', ['job', 'job_name', 'operator', 'subtask', 'input']);
  private readonly holdingBack = this.gauge(
    'sluice_input_holding_back',
    'Names the upstream operator subtask whose channel holds an input watermark back (value 1).',
    ['job', 'job_name', 'operator', 'subtask', 'input', 'upstream_operator', 'upstream_subtask'],
  );

  constructor() {
    collectDefaultMetrics({ register: this.processRegistry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Sets every series from the jobs' frames and renders the exposition text, with the
   * process's metrics when `withProcess`. Scrapes run one at a time.
   */
  render(jobs: readonly ExportedJob[], withProcess: boolean): Promise<string> {
    const next = this.queue.catch(() => undefined).then(async () => {
      this.fill(jobs);
      const text = await this.registry.metrics();
      return withProcess ? `${text}${await this.processRegistry.metrics()}` : text;
    });
    this.queue = next;
    return next;
  }

  private fill(jobs: readonly ExportedJob[]): void {
    for (const metric of this.all) metric.reset();
    for (const job of jobs) {
      const base = { job: job.id, job_name: job.name };
      this.jobInfo.set(base, 1);
      for (const status of STATUSES) this.jobStatus.set({ ...base, status }, status === job.status ? 1 : 0);
      this.jobStart.set(base, job.startedAt / 1000);
      if (job.endedAt !== undefined) this.jobEnd.set(base, job.endedAt / 1000);
      this.jobRestarts.inc(base, job.restarts);
      this.checkpoints.inc({ ...base, status: 'completed' }, job.checkpoints.counts.completed);
      this.checkpoints.inc({ ...base, status: 'failed' }, job.checkpoints.counts.failed);
      const latest = job.checkpoints.history.find((c) => c.status === 'completed');
      if (latest) {
        this.checkpointBytes.set(base, latest.stateSizeBytes);
        if (latest.durationMs !== null) this.checkpointDuration.set(base, latest.durationMs / 1000);
      }
      for (const task of job.frame.tasks) {
        for (const s of task.subtasks) {
          const subtask = String(s.subtask);
          const t = { ...base, task: task.name, subtask };
          if (s.busyMsPerSecond !== null) this.taskBusy.set(t, s.busyMsPerSecond / 1000);
          if (s.idleMsPerSecond !== null) this.taskIdle.set(t, s.idleMsPerSecond / 1000);
          if (s.backpressuredMsPerSecond !== null) this.taskBackpressured.set(t, s.backpressuredMsPerSecond / 1000);
          for (const o of s.operators) {
            const l = { ...base, operator: o.nodeId, subtask };
            this.recordsIn.inc(l, o.recordsIn);
            this.recordsOut.inc(l, o.recordsOut);
            if (o.lateRecordsDropped !== null) this.lateDropped.inc(l, o.lateRecordsDropped);
            if (o.lateRecordsRouted !== null) this.lateRouted.inc(l, o.lateRecordsRouted);
            if (o.busyMsPerSecond !== null) this.operatorBusy.set(l, o.busyMsPerSecond / 1000);
            setWatermark(this.inputWatermark, l, o.inputWatermark);
            setWatermark(this.outputWatermark, l, o.outputWatermark);
            if (o.eventTimeLagMs !== null) this.watermarkLag.set(l, o.eventTimeLagMs / 1000);
          }
          const head = task.nodeIds[0] ?? '';
          for (const input of s.inputs) {
            const l = { ...base, operator: head, subtask, input: input.inputName };
            setWatermark(this.channelWatermark, l, input.watermark);
            this.inputIdle.set(l, input.idle ? 1 : 0);
            if (input.holdingBack) {
              this.holdingBack.set({ ...l, upstream_operator: input.holdingBack.nodeId, upstream_subtask: String(input.holdingBack.subtask) }, 1);
            }
          }
        }
      }
    }
  }

  private gauge<K extends string>(name: string, help: string, labelNames: readonly K[]): Gauge<K> {
    const metric = new Gauge<K>({ name, help, labelNames, registers: [this.registry] });
    this.all.push(metric);
    return metric;
  }

  private counter<K extends string>(name: string, help: string, labelNames: readonly K[]): Counter<K> {
    const metric = new Counter<K>({ name, help, labelNames, registers: [this.registry] });
    this.all.push(metric);
    return metric;
  }
}

function setWatermark<K extends string>(gauge: Gauge<K>, labels: Labels<K>, value: number | string | null): void {
  if (value === null || value === '-Infinity') return;
  gauge.set(labels, Number(value) / 1000);
}
