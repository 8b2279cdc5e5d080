/**
 * Live debugging over a real service (127.0.0.1, a real socket.io-client, a task manager
 * with two slots): record taps on chained and exchanged edges, window and late
 * annotations, hot keys naming a skewed key, per-channel and per-split watermarks, and
 * the per-subtask checkpoint endpoint. Payloads are checked against the OpenAPI document.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { TaskManager } from '@sluice/engine';
import type { Ack, ClientToServerEvents, HotKeysEvent, MetricsFrame, ServerToClientEvents, TapRecordsEvent, TapReply } from '@sluice/protocol';
import { buildOpenApiDocument, createEngineService, type EngineService } from '../dist/service/index.js';

const TAP_CAP = 50;

let taskManager: TaskManager;
let service: EngineService;
let dataDir: string;
let socket: Socket<ServerToClientEvents, ClientToServerEvents>;
let ajv: Ajv2020;
const validators = new Map<string, ValidateFunction>();

function valid(component: string, value: unknown): void {
  let validate = validators.get(component);
  if (!validate) validators.set(component, (validate = ajv.compile({ $ref: `https://sluice.test/openapi.json#/components/schemas/${component}` })));
  expect(validate(value), `${component}: ${JSON.stringify(validate.errors)}`).toBe(true);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-live-debug-'));
  taskManager = new TaskManager({ slots: 2 });
  service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, taskManager, limits: { maxTapRecordsPerSecond: TAP_CAP } });
  socket = connect(service.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.on('connect', resolve);
    socket.on('connect_error', reject);
  });
  ajv = new Ajv2020({ allErrors: true, strict: false });
  ajv.addSchema({ ...buildOpenApiDocument(), $id: 'https://sluice.test/openapi.json' });
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

function until<T>(what: string, timeoutMs: number, poll: () => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      const value = poll();
      if (value !== undefined) {
        clearInterval(timer);
        resolve(value);
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

/** Starts a tap and collects its events until `ended`. */
async function tap(jobId: string, edgeId: string, options: { maxRecordsPerSecond?: number; limit?: number } = {}) {
  const events: TapRecordsEvent[] = [];
  let tapId = '';
  const onRecords = (event: TapRecordsEvent) => {
    if (event.tapId !== tapId) return;
    valid('TapRecordsEvent', event);
    events.push(event);
  };
  socket.on('tap-records', onRecords);
  const reply = await new Promise<TapReply>((resolve) => socket.emit('tap-start', { jobId, edgeId, ...options }, resolve));
  if (!reply.ok) throw new Error(reply.error);
  tapId = reply.tapId;
  return {
    tapId,
    events,
    records: () => events.flatMap((e) => e.records),
    ended: () => until(`tap ${edgeId} to end`, 20_000, () => events.find((e) => e.ended !== undefined)?.ended),
    off: () => socket.off('tap-records', onRecords),
  };
}

/** Frames of one job from now on. */
async function frames(jobId: string) {
  const list: MetricsFrame[] = [];
  const onFrame = (frame: MetricsFrame) => {
    if (frame.jobId === jobId) list.push(frame);
  };
  socket.on('metrics', onFrame);
  await new Promise((resolve) => socket.emit('subscribe', { jobId }, resolve));
  return {
    next: (what: string, timeoutMs: number, predicate: (f: MetricsFrame) => boolean) => until(what, timeoutMs, () => list.find(predicate)),
    stop: () => {
      socket.off('metrics', onFrame);
      socket.emit('unsubscribe', { jobId });
    },
  };
}

describe('record taps', () => {
  const N = 6000;
  const bounded: JobGraphDocument = {
    schemaVersion: 1,
    name: 'tapped',
    job: { defaultParallelism: 2 },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: N, ratePerSecond: 2000, keys: 10, eventIntervalMs: 10 } },
      { id: 'double', type: 'map', config: { fn: '(v) => ({ ...v, value: v.value * 2 })' } },
      { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
      { id: 'out', type: 'blackhole-sink', config: {} },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'double' },
      { id: 'e2', source: 'double', target: 'k' },
      { id: 'e3', source: 'k', target: 'count' },
      { id: 'e4', source: 'count', target: 'out' },
    ],
  };

  it('samples a bounded job of exactly N records on a chained edge and across a keyed exchange, rate-limited, until the limit', async () => {
    const id = await submit(bounded);
    try {
      const chained = await tap(id, 'e1', { maxRecordsPerSecond: 40, limit: 12 });
      const exchanged = await tap(id, 'e3', { maxRecordsPerSecond: 40, limit: 12 });
      expect(await chained.ended()).toBe('limit');
      expect(await exchanged.ended()).toBe('limit');
      for (const t of [chained, exchanged]) {
        const records = t.records();
        expect(records).toHaveLength(12);
        for (const r of records) {
          expect(r.kind).toBe('+I');
          expect([0, 1]).toContain(r.subtask);
          expect(typeof r.timestamp).toBe('number');
          expect(r.window).toBeNull();
          // The watermark the producer had emitted before the record: never ahead of what it emits later.
          expect(r.watermark === '-Infinity' || typeof r.watermark === 'number').toBe(true);
        }
        t.off();
      }
      const values = chained.records().map((r) => r.value as { id: number; value: number });
      const doubled = exchanged.records().map((r) => r.value as { id: number; value: number });
      expect(values.every((v) => Number.isInteger(v.id) && v.id >= 0 && v.id < N)).toBe(true);
      // e1 carries generator records, e2/e3 the doubled ones (across the exchange).
      for (const v of doubled) expect(v.value % 2).toBe(0);
      // Rate-limited: 40/s over 2 subtasks means the 12 samples are not the first 12 records.
      expect(Math.max(...values.map((v) => v.id))).toBeGreaterThan(100);
    } finally {
      await cancel(id);
    }
  });

  it('ends taps with the job, and tap-stop ends one early', async () => {
    const id = await submit({ ...bounded, nodes: bounded.nodes.map((n) => (n.id === 'gen' ? { ...n, config: { ...(n.config as object), count: 3000, ratePerSecond: 3000 } } : n)) });
    try {
      const stopped = await tap(id, 'e2', { maxRecordsPerSecond: 5, limit: 10_000 });
      const running = await tap(id, 'e4', { maxRecordsPerSecond: 5, limit: 10_000 });
      const ack = await new Promise<Ack>((resolve) => socket.emit('tap-stop', { tapId: stopped.tapId }, resolve));
      expect(ack).toEqual({ ok: true });
      expect(await stopped.ended()).toBe('stopped');
      expect(await running.ended()).toBe('job-ended');
      // The job ran to its end (count: 3000): the tap saw the aggregate's changelog.
      expect(running.records().length).toBeGreaterThan(0);
      expect(running.records().every((r) => ['+I', '-U', '+U'].includes(r.kind))).toBe(true);
      const again = await new Promise<Ack>((resolve) => socket.emit('tap-stop', { tapId: stopped.tapId }, resolve));
      expect(again.ok).toBe(false);
      stopped.off();
      running.off();
    } finally {
      await cancel(id);
    }
  });

  it('refuses an unknown job or edge, a rate above the engine cap, and a bad limit, naming each', async () => {
    const id = await submit({ ...bounded, nodes: bounded.nodes.map((n) => (n.id === 'gen' ? { ...n, config: { ...(n.config as object), count: null, ratePerSecond: 100 } } : n)) });
    try {
      const ask = (request: Record<string, unknown>) => new Promise<TapReply>((resolve) => socket.emit('tap-start', request as never, resolve));
      expect(await ask({ jobId: 'nope', edgeId: 'e1' })).toEqual({ ok: false, error: "no job with id 'nope'" });
      expect(await ask({ jobId: id, edgeId: 'e9' })).toMatchObject({ ok: false, error: expect.stringContaining("the job has no edge 'e9'; its edges: 'e1', 'e2', 'e3', 'e4'") });
      expect(await ask({ jobId: id, edgeId: 'e1', maxRecordsPerSecond: TAP_CAP + 1 })).toMatchObject({ ok: false, error: expect.stringContaining(`above this engine's cap of ${TAP_CAP} records per second per tap`) });
      expect(await ask({ jobId: id, edgeId: 'e1', limit: 0 })).toMatchObject({ ok: false, error: expect.stringContaining('limit must be an integer from 1 to 10000') });
    } finally {
      await cancel(id);
    }
  });
});

describe('taps after a window', () => {
  it('annotate window results with their window and mark records on the late output as late', async () => {
    const id = await submit({
      schemaVersion: 1,
      name: 'windows and late records',
      job: { watermarks: { emit: { mode: 'periodic', intervalMs: 20 } } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 2000, keys: 4, eventIntervalMs: 10, lateFraction: 0.05, lateByMs: 2000, watermarks: { maxOutOfOrdernessMs: 0 } } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'w', type: 'tumbling-window', config: { sizeMs: 500, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
        { id: 'out', type: 'blackhole-sink', config: {} },
        { id: 'late-out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'k' },
        { id: 'e2', source: 'k', target: 'w' },
        { id: 'e3', source: 'w', target: 'out' },
        { id: 'e4', source: 'w', sourceOutput: 'late', target: 'late-out' },
      ],
    });
    try {
      const results = await tap(id, 'e3', { maxRecordsPerSecond: 20, limit: 6 });
      const late = await tap(id, 'e4', { maxRecordsPerSecond: 20, limit: 6 });
      expect(await results.ended()).toBe('limit');
      expect(await late.ended()).toBe('limit');
      for (const r of results.records()) {
        const window = r.window as { start: number; end: number };
        expect(window.end - window.start).toBe(500);
        // Flink's window result timestamp: the window's last millisecond.
        expect(r.timestamp).toBe(window.end - 1);
        expect(r.value).toMatchObject({ windowStart: window.start, windowEnd: window.end });
        // The window fired on a watermark at or past its end; the record left before that watermark was forwarded.
        expect(Number(r.watermark)).toBeLessThan(window.end);
      }
      for (const r of late.records()) {
        expect(r.window).toBe('late');
        expect(r.timestamp as number).toBeLessThanOrEqual(Number(r.watermark));
      }
      results.off();
      late.off();
    } finally {
      await cancel(id);
    }
  });
});

describe('hot keys', () => {
  it('names a skewed key on a keyed exchange, once a second, until unsubscribed', async () => {
    const id = await submit({
      schemaVersion: 1,
      name: 'skewed',
      job: { defaultParallelism: 2 },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 20_000, keys: 1000 } },
        { id: 'skew', type: 'map', config: { fn: "(v) => ({ ...v, key: v.id % 2 === 0 ? 'hot' : 'k' + v.key })" } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'skew' },
        { id: 'e2', source: 'skew', target: 'k' },
        { id: 'e3', source: 'k', target: 'count' },
        { id: 'e4', source: 'count', target: 'out' },
      ],
    });
    const events: HotKeysEvent[] = [];
    const onHot = (event: HotKeysEvent) => {
      if (event.jobId !== id) return;
      valid('HotKeysEvent', event);
      events.push(event);
    };
    socket.on('hot-keys', onHot);
    try {
      const refused = await new Promise<Ack>((resolve) => socket.emit('hot-keys-subscribe', { jobId: id, nodeId: 'out' }, resolve));
      expect(refused).toMatchObject({ ok: false, error: expect.stringContaining("node 'out' is neither a key-by nor an operator right after one") });
      const ack = await new Promise<Ack>((resolve) => socket.emit('hot-keys-subscribe', { jobId: id, nodeId: 'k', k: 5 }, resolve));
      expect(ack).toEqual({ ok: true });
      const event = await until('a hot-keys event with traffic', 10_000, () => events.find((e) => e.totalPerSecond > 1000 && e.keys.length > 0));
      expect(event.nodeId).toBe('k');
      expect(event.edgeIds).toEqual(['e2', 'e3']);
      expect(event.keys.length).toBeLessThanOrEqual(5);
      const top = event.keys[0];
      expect(top?.key).toBe('hot');
      expect(top?.share).toBeGreaterThan(0.35);
      expect(top?.share).toBeLessThan(0.65);
      expect([0, 1]).toContain(top?.subtask);
      // Every other key is a thousand times colder.
      expect(event.keys[1]?.share ?? 0).toBeLessThan(0.05);

      const off = await new Promise<Ack>((resolve) => socket.emit('hot-keys-unsubscribe', { jobId: id, nodeId: 'k' }, resolve));
      expect(off).toEqual({ ok: true });
      const count = events.length;
      await new Promise((r) => setTimeout(r, 2500));
      expect(events.length).toBeLessThanOrEqual(count + 1);
    } finally {
      socket.off('hot-keys', onHot);
      await cancel(id);
    }
  });
});

describe('channels and splits', () => {
  it('lists every input channel with its watermark, idle flag and last-record age, and each source split; the silent channel turns idle after the timeout', async () => {
    const source = (rate: number) => ({ profile: 'sequence' as const, ratePerSecond: rate, keys: 3, eventIntervalMs: 10, watermarks: { idleTimeoutMs: 2000 } });
    const id = await submit({
      schemaVersion: 1,
      name: 'channels',
      job: { watermarks: { emit: { mode: 'periodic', intervalMs: 50 } } },
      nodes: [
        { id: 'busy', type: 'generator', config: source(1000) },
        { id: 'quiet', type: 'generator', config: { ...source(0.1), seed: 7 } },
        { id: 'u', type: 'union', config: {} },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'busy', target: 'u' },
        { id: 'e2', source: 'quiet', target: 'u' },
        { id: 'e3', source: 'u', target: 'out' },
      ],
    });
    const f = await frames(id);
    const channelsOf = (frame: MetricsFrame) => frame.tasks.find((t) => t.nodeIds[0] === 'u')?.subtasks[0]?.inputs[0]?.channels ?? [];
    const channel = (frame: MetricsFrame, nodeId: string) => channelsOf(frame).find((c) => c.nodeId === nodeId);
    try {
      const early = await f.next('both channels reported', 10_000, (frame) => channel(frame, 'busy')?.lastRecordAgeMs != null && channel(frame, 'quiet') !== undefined);
      expect(channel(early, 'busy')).toMatchObject({ subtask: 0, edgeIds: ['e1'], idle: false, ended: false });
      expect(channel(early, 'busy')?.lastRecordAgeMs).toBeLessThan(1500);
      expect(channel(early, 'quiet')).toMatchObject({ edgeIds: ['e2'], ended: false });
      const beforeTimeout = await f.next('quiet holding back, not idle', 10_000, (frame) => channel(frame, 'quiet')?.idle === false && frame.operators.find((o) => o.nodeId === 'u')?.holdingBack?.nodeId === 'quiet');
      expect(beforeTimeout.operators.find((o) => o.nodeId === 'u')?.holdingBack?.description).toBe("subtask 1/1 of 'quiet' (edge e2)");
      // The generator's split: its watermark and last record, per subtask. The source and the
      // union report their metrics each on its own second: wait for a frame with both idle.
      const quietSplit = (frame: MetricsFrame) => frame.tasks.find((t) => t.nodeIds[0] === 'quiet')?.subtasks[0]?.splits?.[0];
      const idle = await f.next('quiet idle', 10_000, (frame) => channel(frame, 'quiet')?.idle === true && quietSplit(frame)?.idle === true);
      expect(channel(idle, 'busy')?.idle).toBe(false);
      expect(idle.operators.find((o) => o.nodeId === 'u')?.holdingBack?.nodeId).toBe('busy');
      expect(quietSplit(idle)).toMatchObject({ split: '0', idle: true });
      const busySplit = idle.tasks.find((t) => t.nodeIds[0] === 'busy')?.subtasks[0]?.splits?.[0];
      expect(busySplit?.idle).toBe(false);
      expect(typeof busySplit?.watermark).toBe('number');
      expect(busySplit?.lastRecordAgeMs).toBeLessThan(1500);
    } finally {
      f.stop();
      await cancel(id);
    }
  });
});

describe('GET /api/jobs/:id/checkpoints/:checkpointId', () => {
  it("gives every subtask's acknowledgement of a checkpoint, and names a missing job or checkpoint", async () => {
    const id = await submit({
      schemaVersion: 1,
      name: 'checkpointed',
      job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 200 } },
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 1000, keys: 10 } },
        { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
        { id: 'count', type: 'aggregate', config: { aggregations: [{ op: 'count' }] } },
        { id: 'out', type: 'blackhole-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'k' },
        { id: 'e2', source: 'k', target: 'count' },
        { id: 'e3', source: 'count', target: 'out' },
      ],
    });
    try {
      const completed = await until('a completed checkpoint', 15_000, () => service.jobManager.get(id)?.checkpoints().find((c) => c.status === 'completed'));
      const response = await fetch(`${service.url}/api/jobs/${id}/checkpoints/${completed.id}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { id: number; expected: number; acknowledged: number; tasks: Array<{ nodeIds: string[]; subtasks: Array<Record<string, number>> }> };
      valid('CheckpointDetail', body);
      expect(body).toMatchObject({ id: completed.id, status: 'completed', expected: 4, acknowledged: 4 });
      expect(body.tasks.map((t) => t.nodeIds)).toEqual([['gen'], ['count', 'out']]);
      for (const task of body.tasks) {
        expect(task.subtasks.map((s) => s.subtask)).toEqual([0, 1]);
        for (const s of task.subtasks) {
          expect(s.acknowledgedAfterMs).toBeGreaterThanOrEqual(0);
          expect(s.syncMs).toBeGreaterThanOrEqual(0);
          expect(s.asyncMs).toBeGreaterThanOrEqual(0);
          expect(s.alignmentMs).toBeGreaterThanOrEqual(0);
          expect(s.stateSizeBytes).toBeGreaterThan(0);
        }
      }

      const missing = await fetch(`${service.url}/api/jobs/${id}/checkpoints/999999`);
      expect(missing.status).toBe(404);
      const missingBody = await missing.json();
      valid('ApiError', missingBody);
      expect((missingBody as { error: string }).error).toContain(`job '${id}' has no checkpoint 999999 in its history`);
      const noJob = await fetch(`${service.url}/api/jobs/nope/checkpoints/1`);
      expect(noJob.status).toBe(404);
      valid('ApiError', await noJob.json());
      const bad = await fetch(`${service.url}/api/jobs/${id}/checkpoints/zero`);
      expect(bad.status).toBe(400);
      valid('ApiError', await bad.json());
    } finally {
      await cancel(id);
    }
  });
});
