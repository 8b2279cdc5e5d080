/**
 * Live telemetry (Socket.IO) and Prometheus metrics of the engine service, on real
 * jobs: a real service on 127.0.0.1, a real socket.io-client, a task manager with two
 * slots. Frames are checked against the MetricsFrame schema of the OpenAPI document.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { TaskManager } from '@sluice/engine';
import type { ClientToServerEvents, JobStatusEvent, MetricsFrame, OperatorTelemetry, ServerToClientEvents, SubscribeReply } from '@sluice/protocol';
import { buildOpenApiDocument, createEngineService, JobTelemetry, type EngineService } from '../dist/service/index.js';

const GRAFANA = fileURLToPath(new URL('../grafana/sluice.json', import.meta.url));

let taskManager: TaskManager;
let service: EngineService;
let dataDir: string;
let socket: Socket<ServerToClientEvents, ClientToServerEvents>;
let validFrame: ValidateFunction;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-service-telemetry-'));
  taskManager = new TaskManager({ slots: 2 });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, taskManager });
  socket = connect(service.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.on('connect', resolve);
    socket.on('connect_error', reject);
  });
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  ajv.addSchema({ ...buildOpenApiDocument(), $id: 'https://sluice.test/openapi.json' });
  validFrame = ajv.compile({ $ref: 'https://sluice.test/openapi.json#/components/schemas/MetricsFrame' });
});

afterAll(async () => {
  socket.close();
  await service.close();
  await taskManager.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

async function submit(graph: JobGraphDocument): Promise<string> {
  const response = await fetch(`${service.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ graph }) });
  const body = (await response.json()) as { id?: string; error?: string };
  if (response.status !== 201 || body.id === undefined) throw new Error(`submit failed: ${response.status} ${body.error ?? ''}`);
  return body.id;
}

async function cancel(id: string): Promise<void> {
  await fetch(`${service.url}/api/jobs/${id}/cancel`, { method: 'POST' });
}

/** Everything the socket receives about one job, from its subscription on. */
interface Watch {
  readonly frames: MetricsFrame[];
  readonly statuses: JobStatusEvent[];
  /** Resolves with the first frame (from now on) that satisfies the predicate. */
  next(predicate: (frame: MetricsFrame) => boolean, timeoutMs: number, what: string): Promise<MetricsFrame>;
  stop(): void;
}

async function watch(jobId: string): Promise<Watch> {
  const frames: MetricsFrame[] = [];
  const statuses: JobStatusEvent[] = [];
  const waiters = new Set<(frame: MetricsFrame) => void>();
  const onFrame = (frame: MetricsFrame) => {
    if (frame.jobId !== jobId) return;
    expect(validFrame(frame), JSON.stringify(validFrame.errors)).toBe(true);
    frames.push(frame);
    for (const waiter of waiters) waiter(frame);
  };
  const onStatus = (event: JobStatusEvent) => {
    if (event.jobId === jobId) statuses.push(event);
  };
  socket.on('metrics', onFrame);
  socket.on('job-status', onStatus);
  const reply = await new Promise<SubscribeReply>((resolve) => socket.emit('subscribe', { jobId }, resolve));
  expect(reply).toMatchObject({ ok: true, job: { id: jobId } });
  return {
    frames,
    statuses,
    next: (predicate, timeoutMs, what) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          const last = frames.at(-1);
          reject(new Error(`no frame with ${what} within ${timeoutMs} ms; last frame: ${JSON.stringify(last?.operators).slice(0, 2000)}`));
        }, timeoutMs);
        const check = (frame: MetricsFrame) => {
          if (!predicate(frame)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(frame);
        };
        waiters.add(check);
      }),
    stop: () => {
      socket.off('metrics', onFrame);
      socket.off('job-status', onStatus);
      socket.emit('unsubscribe', { jobId });
    },
  };
}

const op = (frame: MetricsFrame, nodeId: string): OperatorTelemetry => {
  const found = frame.operators.find((o) => o.nodeId === nodeId);
  if (!found) throw new Error(`no operator ${nodeId} in the frame`);
  return found;
};

describe('subscribing', () => {
  it('acks an unknown job or a malformed request with an error', async () => {
    const unknown = await new Promise<SubscribeReply>((resolve) => socket.emit('subscribe', { jobId: 'nope' }, resolve));
    expect(unknown).toEqual({ ok: false, error: "no job with id 'nope'" });
    const malformed = await new Promise<SubscribeReply>((resolve) => socket.emit('subscribe', 42 as never, resolve));
    expect(malformed).toEqual({ ok: false, error: 'subscribe needs { jobId: string }' });
  });

  it('refuses record taps and hot keys of an unknown job, naming it (service-live-debug.test.ts covers them on real jobs)', async () => {
    const tap = await new Promise((resolve) => socket.emit('tap-start', { jobId: 'x', edgeId: 'e1' }, resolve));
    expect(tap).toEqual({ ok: false, error: "no job with id 'x'" });
    const hot = await new Promise((resolve) => socket.emit('hot-keys-subscribe', { jobId: 'x', nodeId: 'k' }, resolve));
    expect(hot).toEqual({ ok: false, error: "no job with id 'x'" });
  });
});

describe('a bounded job of exactly N records', () => {
  const N = 5000;
  const graph: JobGraphDocument = {
    schemaVersion: 1,
    name: 'bounded telemetry',
    job: { defaultParallelism: 2, watermarks: { emit: { mode: 'periodic', intervalMs: 100 } } },
    nodes: [
      { id: 'gen', type: 'generator', parallelism: 1, config: { profile: 'sequence', count: N, ratePerSecond: 1250, eventIntervalMs: 10 } },
      { id: 'double', type: 'map', config: { fn: '(v) => ({ ...v, value: v.value * 2 })' } },
      { id: 'out', type: 'collect-sink', config: { name: 'out' } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'double' },
      { id: 'e2', source: 'double', target: 'out' },
    ],
  };

  it('streams frames at least once a second with rates, the holding-back channel and advancing watermarks, and ends with N records and +Infinity', async () => {
    const id = await submit(graph);
    const w = await watch(id);
    const last = await w.next((f) => f.status === 'finished', 20_000, 'status finished');
    w.stop();

    const running = w.frames.filter((f) => f.status === 'running');
    expect(running.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < running.length; i++) expect(running[i]!.at - running[i - 1]!.at).toBeLessThanOrEqual(1600);
    expect(w.statuses).toContainEqual(expect.objectContaining({ status: 'finished', previous: 'running' }));

    // Rates from the cumulative counters: the source is limited to 1250 records per second (4 s).
    const rates = running.map((f) => op(f, 'gen').recordsOutPerSecond).filter((r): r is number => r !== null && r > 0);
    expect(rates.length).toBeGreaterThan(0);
    expect(Math.max(...rates)).toBeGreaterThan(600);
    expect(Math.max(...rates)).toBeLessThan(2500);

    // The map's only input channel comes from the generator's single subtask, over edge e1.
    const named = running.map((f) => op(f, 'double').holdingBack).find((h) => h !== null);
    expect(named).toEqual({ nodeId: 'gen', subtask: 0, parallelism: 1, edgeIds: ['e1'], exchange: expect.any(Number), description: "subtask 1/1 of 'gen' (edge e1)" });

    // Watermarks advance while the job runs; the lag is measured against the frame's time.
    const marks = running.map((f) => op(f, 'out').inputWatermark).filter((m): m is number => typeof m === 'number');
    expect(marks.length).toBeGreaterThan(0);
    for (let i = 1; i < marks.length; i++) expect(marks[i]).toBeGreaterThanOrEqual(marks[i - 1]!);
    const withLag = running.find((f) => typeof op(f, 'out').inputWatermark === 'number');
    expect(op(withLag!, 'out').eventTimeLagMs).toBe(Math.round(withLag!.at - (op(withLag!, 'out').inputWatermark as number)));

    // The end: every record counted once, and the final watermark is the end of input.
    expect(op(last, 'gen').recordsOut).toBe(N);
    expect(op(last, 'double').recordsIn).toBe(N);
    expect(op(last, 'double').recordsOut).toBe(N);
    expect(op(last, 'out').recordsIn).toBe(N);
    expect(op(last, 'out').inputWatermark).toBe('+Infinity');
    expect(op(last, 'out').eventTimeLagMs).toBeNull();
    const sinkTask = last.tasks.find((t) => t.nodeIds.includes('out'));
    expect(sinkTask?.subtasks.map((s) => s.inputs[0]?.watermark)).toEqual(['+Infinity', '+Infinity']);
    expect(sinkTask?.subtasks.reduce((n, s) => n + (s.operators.find((o) => o.nodeId === 'out')?.recordsIn ?? 0), 0)).toBe(N);
    expect(op(last, 'gen').recordsOutPerSecond).toBe(0);

    // Prometheus shows the same counts.
    const metrics = parseExposition(await (await fetch(`${service.url}/metrics`)).text());
    const outIn = metrics.samples.filter((s) => s.name === 'sluice_records_in_total' && s.labels['job'] === id && s.labels['operator'] === 'out');
    expect(outIn.map((s) => s.labels['subtask']).sort()).toEqual(['0', '1']);
    expect(outIn.reduce((n, s) => n + s.value, 0)).toBe(N);
    expect(metrics.samples.find((s) => s.name === 'sluice_job_status' && s.labels['job'] === id && s.labels['status'] === 'finished')?.value).toBe(1);
    expect(metrics.samples.find((s) => s.name === 'sluice_operator_input_watermark_seconds' && s.labels['job'] === id && s.labels['operator'] === 'out')?.value).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('backpressure', () => {
  it('shows a high backpressured ratio upstream and a high busy ratio at the throttled operator', async () => {
    const id = await submit({
      schemaVersion: 1,
      name: 'backpressure telemetry',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 0 } },
        { id: 'slow', type: 'map', chaining: 'never', config: { fn: '(v) => { const end = performance.now() + 1; while (performance.now() < end) {} return v; }' } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'slow' },
        { id: 'e2', source: 'slow', target: 'out' },
      ],
    });
    const w = await watch(id);
    try {
      const frame = await w.next(
        (f) =>
          (op(f, 'gen').backpressuredMsPerSecond?.max ?? 0) > 500 &&
          (op(f, 'slow').busyMsPerSecond?.max ?? 0) > 500 &&
          (op(f, 'slow').taskBusyMsPerSecond?.max ?? 0) > 700,
        20_000,
        'gen backpressured > 500 ms/s and slow busy > 500 ms/s',
      );
      const slow = op(frame, 'slow');
      expect(slow.idleMsPerSecond?.max ?? 1000).toBeLessThan(300);
      // Records still flow: bounded by the slow operator's pace (about 1000 per second).
      expect(slow.recordsInPerSecond).toBeGreaterThan(100);
      expect(slow.recordsInPerSecond).toBeLessThan(2000);

      const metrics = parseExposition(await (await fetch(`${service.url}/metrics`)).text());
      const ratio = (name: string, labels: Record<string, string>) =>
        metrics.samples.find((s) => s.name === name && s.labels['job'] === id && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      expect(ratio('sluice_task_backpressured_ratio', { task: 'gen', subtask: '0' })).toBeGreaterThan(0.3);
      expect(ratio('sluice_operator_busy_ratio', { operator: 'slow', subtask: '0' })).toBeGreaterThan(0.3);
    } finally {
      w.stop();
      await cancel(id);
    }
  });
});

describe('idle inputs', () => {
  /** A busy and an almost silent generator, unioned; the silent one also feeds a tap of its own. */
  function twoSources(idleTimeoutMs: number): JobGraphDocument {
    const source = (rate: number, idle: number) => ({ profile: 'sequence' as const, ratePerSecond: rate, keys: 3, eventIntervalMs: 10, watermarks: { idleTimeoutMs: idle } });
    return {
      schemaVersion: 1,
      name: `idle input ${idleTimeoutMs}`,
      job: { watermarks: { emit: { mode: 'periodic', intervalMs: 50 } } },
      nodes: [
        { id: 'busy', type: 'generator', config: source(2000, 0) },
        { id: 'quiet', type: 'generator', config: { ...source(0.1, idleTimeoutMs), seed: 7 } },
        { id: 'u', type: 'union', config: {} },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'w', type: 'tumbling-window', config: { sizeMs: 500, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
        { id: 'out', type: 'blackhole-sink', config: {} },
        { id: 'tap', type: 'map', chaining: 'never', config: { fn: '(v) => v' } },
        { id: 'tap-out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'busy', target: 'u' },
        { id: 'e2', source: 'quiet', target: 'u' },
        { id: 'e3', source: 'u', target: 'k' },
        { id: 'e4', source: 'k', target: 'w' },
        { id: 'e5', source: 'w', target: 'out' },
        { id: 'e6', source: 'quiet', target: 'tap' },
        { id: 'e7', source: 'tap', target: 'tap-out' },
      ],
    };
  }

  const heldBy = (f: MetricsFrame) => op(f, 'u').holdingBack?.nodeId;

  it('without an idleness timeout, names the silent source as holding the watermark back, and no window fires', async () => {
    const id = await submit(twoSources(0));
    const w = await watch(id);
    try {
      const first = await w.next((f) => heldBy(f) === 'quiet', 10_000, "'quiet' holding back the union");
      expect(op(first, 'u').holdingBack).toMatchObject({ nodeId: 'quiet', subtask: 0, edgeIds: ['e2'], description: "subtask 1/1 of 'quiet' (edge e2)" });
      const later = await w.next((f) => f.at - first.at >= 2500, 10_000, 'a frame 2.5 s later');
      expect(heldBy(later)).toBe('quiet');
      expect(op(later, 'u').inputWatermark).toEqual(op(first, 'u').inputWatermark);
      expect(op(later, 'u').idle).toBe(false);
      expect(op(later, 'tap').idle).toBe(false);
      expect(op(later, 'w').recordsOut).toBe(0);
      expect(op(later, 'busy').recordsOut).toBeGreaterThan(1000);

      const metrics = parseExposition(await (await fetch(`${service.url}/metrics`)).text());
      expect(metrics.samples).toContainEqual(
        expect.objectContaining({ name: 'sluice_input_holding_back', value: 1, labels: expect.objectContaining({ job: id, operator: 'u', upstream_operator: 'quiet', upstream_subtask: '0' }) }),
      );
    } finally {
      w.stop();
      await cancel(id);
    }
  });

  it('with an idleness timeout, names the silent source until idleness kicks in, then the watermark advances and windows fire', async () => {
    const id = await submit(twoSources(3000));
    const w = await watch(id);
    try {
      // Within the first 3 s the silent source still holds the watermark back…
      const held = await w.next((f) => heldBy(f) === 'quiet', 10_000, "'quiet' holding back the union");
      // …then it is idle: it no longer counts, the busy source alone sets the pace.
      const released = await w.next((f) => heldBy(f) === 'busy', 8_000, "'busy' setting the union's watermark");
      expect(Number(op(released, 'u').inputWatermark)).toBeGreaterThan(Number(op(held, 'u').inputWatermark));
      expect(op(released, 'u').idle).toBe(false);
      const idleTap = await w.next((f) => op(f, 'tap').idle, 5_000, "the tap's only input idle");
      expect(idleTap.tasks.find((t) => t.nodeIds[0] === 'tap')?.subtasks[0]?.inputs[0]).toMatchObject({ idle: true, inputName: 'in' });
      const advancing = await w.next((f) => Number(op(f, 'u').inputWatermark) > Number(op(released, 'u').inputWatermark), 5_000, 'a later watermark');
      expect(heldBy(advancing)).toBe('busy');
      await w.next((f) => op(f, 'w').recordsOut > 0, 5_000, 'windows firing');
    } finally {
      w.stop();
      await cancel(id);
    }
  });
});

describe('payload size', () => {
  it('keeps a frame of 100 subtasks small and cheap to build', () => {
    const subtasks = 100;
    const operators = ['map', 'filter', 'window'];
    const counters = (t: number) => ({
      busyMs: 500 * t,
      idleMs: 300 * t,
      backpressuredMs: 200 * t,
      operators: operators.map((nodeId, i) => ({ nodeId, recordsIn: 1000 * t, recordsOut: 900 * t, watermark: 1_700_000_000_000 + 1000 * t, inclusiveMs: 100 * t * (3 - i), busyMs: 100 * t })),
      inputWatermarks: [{ watermark: 1_700_000_000_000 + 1000 * t, idle: false, holdingBack: { exchange: 0, producerSubtask: 7 } }],
      // All-to-all: each subtask reads from all 100 producers; frames list only the channels that matter.
      channels: Array.from({ length: subtasks }, (_, p) => ({ input: 0, exchange: 0, producerSubtask: p, watermark: 1_700_000_000_000 + 1000 * t + p, idle: p % 10 === 9, ended: false, lastRecordAgeMs: 12 })),
    });
    const job = {
      id: 'synthetic',
      status: 'running' as const,
      graph: { nodes: ['src', ...operators].map((id) => ({ id, definition: { inputs: id === 'src' ? [] : [{ name: 'in' }] } })) },
      plan: {
        tasks: [
          { id: 0, name: 'src', parallelism: subtasks, operators: [{ nodeId: 'src', type: 'generator', name: 'src', outputs: {} }], inputs: [], keys: [], subtasks: Array.from({ length: subtasks }, (_, index) => ({ index, keyGroupRange: undefined })) },
          {
            id: 1,
            name: 'map → filter → window',
            parallelism: subtasks,
            operators: operators.map((nodeId, i) => ({ nodeId, type: nodeId, name: nodeId, outputs: i < 2 ? { main: [{ kind: 'chained', operator: i + 1, edgeIds: [] }] } : {} })),
            inputs: [0],
            keys: [],
            subtasks: Array.from({ length: subtasks }, (_, index) => ({ index, keyGroupRange: { start: index, end: index } })),
          },
        ],
        exchanges: [{ id: 0, edgeIds: ['e1'], fromTask: 0, fromOperator: 0, fromOutput: 'main', toTask: 1, toInput: 0, partitioning: 'rebalance', key: undefined }],
      },
      metrics: new Map<string, { taskId: number; subtaskIndex: number; metrics: ReturnType<typeof counters> }>(),
    };
    const telemetry = new JobTelemetry(job as never);
    for (const t of [1, 2]) {
      for (let s = 0; s < subtasks; s++) job.metrics.set(`1/${s}`, { taskId: 1, subtaskIndex: s, metrics: counters(t) });
      telemetry.observe(job as never, 1000 * t);
    }
    const full = telemetry.frame(job as never, 2000, 'full');
    const summary = telemetry.frame(job as never, 2000, 'operators');
    // The fastest of ten builds: what a build costs, not what the other tests running beside it cost.
    let elapsed = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      JSON.stringify(telemetry.frame(job as never, 2000, 'full'));
      elapsed = Math.min(elapsed, performance.now() - started);
    }
    const fullBytes = JSON.stringify(full).length;
    const summaryBytes = JSON.stringify(summary).length;
    expect(validFrame(full), JSON.stringify(validFrame.errors)).toBe(true);
    expect(op(full, 'map').recordsInPerSecond).toBe(100 * 1000);
    expect(op(full, 'map').taskBusyMsPerSecond).toEqual({ avg: 500, max: 500 });
    expect(op(full, 'map').holdingBack?.description).toBe("subtask 8/100 of 'src' (edge e1)");
    const input = full.tasks[1]?.subtasks[0]?.inputs[0];
    expect(input?.channels?.map((c) => c.subtask)).toEqual([0, 1, 2]);
    expect(input?.channelsOmitted).toBe(97);
    expect(fullBytes).toBeLessThan(200_000);
    expect(summaryBytes).toBeLessThan(8_000);
    expect(elapsed).toBeLessThan(20);
  });
});

describe('Prometheus /metrics', () => {
  it('parses as the text exposition format, with conventional names, and the Grafana dashboard uses only exported metrics', async () => {
    const id = await submit({
      schemaVersion: 1,
      name: 'prometheus "quoted" \\ name',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 500 } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [{ id: 'e1', source: 'gen', target: 'out' }],
    });
    try {
      const w = await watch(id);
      await w.next((f) => op(f, 'gen').recordsOutPerSecond !== null, 10_000, 'rates');
      w.stop();
      const response = await fetch(`${service.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const metrics = parseExposition(await response.text());

      for (const [name, type] of Object.entries(metrics.types)) {
        if (!name.startsWith('sluice_')) continue;
        if (type === 'counter') expect(name, name).toMatch(/_total$/);
        if (name.endsWith('_ratio')) {
          for (const s of metrics.samples.filter((x) => x.name === name)) expect(s.value, `${name} ${JSON.stringify(s.labels)}`).toBeGreaterThanOrEqual(0);
          for (const s of metrics.samples.filter((x) => x.name === name)) expect(s.value, `${name} ${JSON.stringify(s.labels)}`).toBeLessThanOrEqual(1);
        }
      }
      expect(metrics.types).toMatchObject({
        sluice_records_in_total: 'counter',
        sluice_records_out_total: 'counter',
        sluice_operator_busy_ratio: 'gauge',
        sluice_task_busy_ratio: 'gauge',
        sluice_task_idle_ratio: 'gauge',
        sluice_task_backpressured_ratio: 'gauge',
        sluice_operator_input_watermark_seconds: 'gauge',
        sluice_operator_watermark_lag_seconds: 'gauge',
        sluice_job_status: 'gauge',
        process_cpu_seconds_total: 'counter',
      });
      const out = metrics.samples.find((s) => s.name === 'sluice_records_out_total' && s.labels['job'] === id && s.labels['operator'] === 'gen');
      expect(out?.labels).toEqual({ job: id, job_name: 'prometheus "quoted" \\ name', operator: 'gen', subtask: '0' });
      expect(out?.value).toBeGreaterThan(0);
      const lag = metrics.samples.find((s) => s.name === 'sluice_operator_watermark_lag_seconds' && s.labels['job'] === id && s.labels['operator'] === 'out');
      expect(lag?.value).toBeGreaterThan(0);

      const dashboard = JSON.parse(readFileSync(GRAFANA, 'utf8')) as { uid: string; title: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>; templating: { list: Array<{ name: string }> } };
      expect(dashboard.uid).toBe('sluice-engine');
      expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'job_name']);
      const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
      expect(exprs.length).toBeGreaterThan(10);
      const known = new Set([...Object.keys(metrics.types), 'sluice_late_records_dropped_total', 'sluice_late_records_routed_total', 'sluice_operator_output_watermark_seconds']);
      for (const expr of exprs) {
        for (const name of expr.match(/\b(?:sluice|process|nodejs)_[a-z0-9_]+/g) ?? []) expect(known.has(name), `${name} in ${expr}`).toBe(true);
      }
      for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    } finally {
      await cancel(id);
    }
  });
});

// ─── A small strict parser of the Prometheus text format 0.0.4 ───────────────

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseExposition(text: string): { types: Record<string, string>; samples: Sample[] } {
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const types: Record<string, string> = {};
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const familyOf = (name: string): string | undefined => {
    if (types[name] !== undefined) return name;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
      if (base !== undefined && (types[base] === 'histogram' || types[base] === 'summary')) return base;
    }
    return undefined;
  };
  expect(text.endsWith('\n'), 'ends with a newline').toBe(true);
  text.split('\n').forEach((line, index) => {
    const where = `line ${index + 1}: ${line}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const help = /^# HELP ([^ ]+) (.*)$/.exec(line);
      const type = /^# TYPE ([^ ]+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (help) {
        expect(help[1], where).toMatch(NAME);
        expect(helps.has(help[1]!), `duplicate HELP, ${where}`).toBe(false);
        helps.add(help[1]!);
      } else if (type) {
        expect(type[1], where).toMatch(NAME);
        expect(types[type[1]!], `duplicate TYPE, ${where}`).toBeUndefined();
        types[type[1]!] = type[2]!;
      } else {
        expect(line, `a comment that is neither HELP nor TYPE, ${where}`).toMatch(/^# (?!HELP|TYPE)/);
      }
      return;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    expect(match, `not a sample, ${where}`).not.toBeNull();
    const [, name, , rawLabels, rawValue] = match as RegExpExecArray;
    expect(familyOf(name!), `sample before its TYPE, ${where}`).toBeDefined();
    const labels: Record<string, string> = {};
    if (rawLabels !== undefined && rawLabels !== '') {
      const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/y;
      let at = 0;
      while (at < rawLabels.length) {
        LABEL.lastIndex = at;
        const label = LABEL.exec(rawLabels);
        expect(label, `bad label syntax at ${at}, ${where}`).not.toBeNull();
        const [, key, value] = label as RegExpExecArray;
        expect(labels[key!], `duplicate label ${key}, ${where}`).toBeUndefined();
        labels[key!] = value!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
        at = LABEL.lastIndex;
      }
    }
    const value = rawValue === '+Inf' ? Number.POSITIVE_INFINITY : rawValue === '-Inf' ? Number.NEGATIVE_INFINITY : rawValue === 'NaN' ? Number.NaN : Number(rawValue);
    expect(rawValue === 'NaN' || !Number.isNaN(value), `bad value, ${where}`).toBe(true);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    expect(seen.has(key), `duplicate series, ${where}`).toBe(false);
    seen.add(key);
    samples.push({ name: name!, labels, value });
  });
  for (const name of Object.keys(types)) expect(helps.has(name), `no HELP for ${name}`).toBe(true);
  return { types, samples };
}
