/**
 * The job manager's side of record taps and hot keys (the subtask side is
 * runtime/taps.ts). Both follow the state query's pattern: a request goes to the slots
 * of exactly the subtasks concerned, which act on it from their mailbox.
 *
 *   record tap:  edge ─▶ its producer (task, operator, output, target) ─▶ tap-start to
 *                every subtask of that task, each with rate / parallelism; samples come
 *                back in batches; the limit is enforced here over all subtasks.
 *   hot keys:    node ─▶ the hash exchange(s) of its key-by ─▶ count-keys on every
 *                producer subtask while anyone subscribes; each reports its sketch once a
 *                second; top() merges the newest report of each producer.
 *
 * After a restart, active taps and counted exchanges are switched on again in the new
 * attempt. Taps end with the job.
 */
import { randomUUID } from 'node:crypto';
import type { ValidatedGraph } from '@sluice/graph-model';
import { inRange, keyGroupOf, subtaskForKeyGroup, type Key } from '@sluice/operators';
import type { ExecutionPlan } from '../compile/plan.js';
import type { ToWorker } from '../runtime/protocol.js';
import type { HotKeyReport, TapDrain, TapSpec } from '../runtime/taps.js';

/** Default and largest figures of a tap request. */
export const TAP_DEFAULTS = { maxRecordsPerSecond: 10, limit: 100, maxLimit: 10_000 } as const;

export type TapEnd = 'limit' | 'job-ended' | 'stopped';

export interface TappedRecord {
  readonly value: unknown;
  readonly timestamp: number;
  readonly kind: number;
  readonly subtask: number;
  readonly watermark: number;
  readonly window: { readonly start: number; readonly end: number } | 'late' | null;
}

export interface TapBatch {
  readonly records: readonly TappedRecord[];
  readonly skipped: number;
  readonly ended?: TapEnd | undefined;
}

export class LiveDebugError extends Error {
  constructor(
    readonly reason: 'not-found' | 'bad-request' | 'not-running',
    message: string,
  ) {
    super(message);
    this.name = 'LiveDebugError';
  }
}

/** How the job reaches its subtasks (the task manager, for the current attempt). */
export type SendToSubtasks = (subtasks: ReadonlyArray<{ taskId: number; subtaskIndex: number }>, message: (where: { jobId: string; attempt: number; taskId: number; subtaskIndex: number }) => ToWorker) => void;

interface TapPoint {
  readonly taskId: number;
  readonly operator: number;
  readonly output: string;
  readonly target: number;
}

interface ActiveTap {
  readonly id: string;
  readonly edgeId: string;
  readonly point: TapPoint;
  readonly perSecond: number;
  readonly limit: number;
  delivered: number;
  readonly listener: (batch: TapBatch) => void;
}

/** Where the records of an edge leave their producer in the plan. */
export function tapPoint(plan: ExecutionPlan, edgeId: string): TapPoint | undefined {
  const exchanges = new Map(plan.exchanges.map((x) => [x.id, x]));
  for (const task of plan.tasks) {
    for (const [operator, op] of task.operators.entries()) {
      for (const [output, targets] of Object.entries(op.outputs)) {
        const target = targets.findIndex((t) => (t.kind === 'chained' ? t.edgeIds.includes(edgeId) : (exchanges.get(t.exchange)?.edgeIds.includes(edgeId) ?? false)));
        if (target >= 0) return { taskId: task.id, operator, output, target };
      }
    }
  }
  return undefined;
}

export class JobTaps {
  private readonly active = new Map<string, ActiveTap>();

  constructor(
    private readonly plan: ExecutionPlan,
    private readonly graph: ValidatedGraph,
    private readonly send: SendToSubtasks,
  ) {}

  get size(): number {
    return this.active.size;
  }

  /** Starts a tap on a running job; returns its id. The listener gets batches, the last with `ended`. */
  start(edgeId: string, options: { maxRecordsPerSecond?: number | undefined; limit?: number | undefined }, listener: (batch: TapBatch) => void): string {
    const rate = options.maxRecordsPerSecond ?? TAP_DEFAULTS.maxRecordsPerSecond;
    const limit = options.limit ?? TAP_DEFAULTS.limit;
    if (!(rate > 0) || !Number.isFinite(rate)) throw new LiveDebugError('bad-request', `maxRecordsPerSecond must be a positive number, not ${String(rate)}`);
    if (!Number.isInteger(limit) || limit < 1 || limit > TAP_DEFAULTS.maxLimit) throw new LiveDebugError('bad-request', `limit must be an integer from 1 to ${TAP_DEFAULTS.maxLimit}, not ${String(limit)}`);
    const point = tapPoint(this.plan, edgeId);
    if (!point) {
      const known = this.graph.edges.some((e) => e.id === edgeId);
      throw new LiveDebugError('not-found', known ? `edge '${edgeId}' carries no records in the running job` : `the job has no edge '${edgeId}'; its edges: ${this.graph.edges.map((e) => `'${e.id}'`).join(', ')}`);
    }
    const task = this.plan.tasks[point.taskId];
    if (!task) throw new Error('internal: tap point outside the plan');
    const tap: ActiveTap = { id: `tap-${randomUUID()}`, edgeId, point, perSecond: rate / task.parallelism, limit, delivered: 0, listener };
    this.active.set(tap.id, tap);
    this.switchOn(tap);
    return tap.id;
  }

  /** Stops a tap; false when there is no such tap (it may have ended already). */
  stop(tapId: string, reason: TapEnd = 'stopped'): boolean {
    const tap = this.active.get(tapId);
    if (!tap) return false;
    this.active.delete(tapId);
    const task = this.plan.tasks[tap.point.taskId];
    if (task) this.send(task.subtasks.map((s) => ({ taskId: task.id, subtaskIndex: s.index })), (where) => ({ type: 'tap-stop', tapId, ...where }));
    tap.listener({ records: [], skipped: 0, ended: reason });
    return true;
  }

  /** Ends every tap (the job ended). */
  endAll(reason: TapEnd): void {
    for (const id of [...this.active.keys()]) this.stop(id, reason);
  }

  /** A new attempt was deployed: its subtasks start sampling again. */
  redeploy(): void {
    for (const tap of this.active.values()) this.switchOn(tap);
  }

  receive(subtask: number, drains: readonly TapDrain[]): void {
    for (const drain of drains) {
      const tap = this.active.get(drain.tapId);
      if (!tap) continue;
      const room = tap.limit - tap.delivered;
      const taken = drain.records.slice(0, room);
      tap.delivered += taken.length;
      const records = taken.map((r): TappedRecord => ({ value: r.value, timestamp: r.timestamp, kind: r.kind, subtask, watermark: r.watermark, window: r.window }));
      if (records.length > 0 || drain.skipped > 0) tap.listener({ records, skipped: drain.skipped + (drain.records.length - taken.length) });
      if (tap.delivered >= tap.limit) this.stop(tap.id, 'limit');
    }
  }

  private switchOn(tap: ActiveTap): void {
    const task = this.plan.tasks[tap.point.taskId];
    if (!task) return;
    const spec: TapSpec = { tapId: tap.id, operator: tap.point.operator, output: tap.point.output, target: tap.point.target, perSecond: tap.perSecond, limit: tap.limit };
    this.send(task.subtasks.map((s) => ({ taskId: task.id, subtaskIndex: s.index })), (where) => ({ type: 'tap-start', spec, ...where }));
  }
}

// ─── Hot keys ────────────────────────────────────────────────────────────────

/** A producer's report older than this is ignored (it ended, or the sketch was switched off). */
const REPORT_STALE_MS = 2500;

export interface HotKeysAnswer {
  readonly edgeIds: readonly string[];
  readonly windowMs: number;
  readonly totalPerSecond: number;
  readonly keys: ReadonlyArray<{ key: Key; perSecond: number; share: number; keyGroup: number; subtask: number; errorPerSecond: number }>;
}

export class JobHotKeys {
  /** Exchange id → subscribers counting on it. */
  private readonly counted = new Map<number, number>();
  /** Exchange id → `${taskId}/${subtask}` of the producer → its newest report. */
  private readonly reports = new Map<number, Map<string, { report: HotKeyReport; at: number }>>();

  constructor(
    private readonly plan: ExecutionPlan,
    private readonly graph: ValidatedGraph,
    private readonly send: SendToSubtasks,
    private readonly now: () => number,
  ) {}

  /** The keyed (hash) exchanges a node names: a key-by's, or those into a keyed operator. */
  exchangesOf(nodeId: string): number[] {
    const node = this.graph.nodes.find((n) => n.id === nodeId);
    if (!node) throw new LiveDebugError('not-found', `the job has no node '${nodeId}'`);
    const hash = this.plan.exchanges.filter((x) => x.partitioning === 'hash');
    let found: number[];
    if (node.definition.keysStream === true) {
      const edges = new Set(this.graph.edges.filter((e) => e.source === nodeId || e.target === nodeId).map((e) => e.id));
      found = hash.filter((x) => x.edgeIds.some((e) => edges.has(e))).map((x) => x.id);
    } else {
      const task = this.plan.tasks.find((t) => t.operators[0]?.nodeId === nodeId);
      found = task ? hash.filter((x) => x.toTask === task.id).map((x) => x.id) : [];
    }
    if (found.length === 0) {
      const keyed = hash.map((x) => `'${this.plan.tasks[x.toTask]?.operators[0]?.nodeId ?? '?'}'`);
      throw new LiveDebugError(
        'bad-request',
        `node '${nodeId}' is neither a key-by nor an operator right after one, so no keyed exchange to count` + (keyed.length > 0 ? `; keyed operators of this job: ${[...new Set(keyed)].join(', ')}` : '; this job has no keyed exchange'),
      );
    }
    return found;
  }

  subscribe(exchanges: readonly number[]): void {
    for (const x of exchanges) {
      const n = this.counted.get(x) ?? 0;
      this.counted.set(x, n + 1);
      if (n === 0) this.switchTo(x, true);
    }
  }

  unsubscribe(exchanges: readonly number[]): void {
    for (const x of exchanges) {
      const n = this.counted.get(x) ?? 0;
      if (n <= 1) {
        this.counted.delete(x);
        this.reports.delete(x);
        if (n === 1) this.switchTo(x, false);
      } else this.counted.set(x, n - 1);
    }
  }

  redeploy(): void {
    this.reports.clear();
    for (const x of this.counted.keys()) this.switchTo(x, true);
  }

  receive(taskId: number, subtask: number, reports: readonly HotKeyReport[]): void {
    const at = this.now();
    for (const report of reports) {
      if (!this.counted.has(report.exchange)) continue;
      let byProducer = this.reports.get(report.exchange);
      if (!byProducer) this.reports.set(report.exchange, (byProducer = new Map<string, { report: HotKeyReport; at: number }>()));
      byProducer.set(`${taskId}/${subtask}`, { report, at });
    }
  }

  /** The top `k` keys over the exchanges, from each producer's newest report. */
  top(exchanges: readonly number[], k: number): HotKeysAnswer {
    const now = this.now();
    const maxParallelism = this.graph.job.maxParallelism;
    const perKey = new Map<Key, { perSecond: number; errorPerSecond: number; exchange: number }>();
    let totalPerSecond = 0;
    let windowMs = 0;
    let reports = 0;
    for (const x of exchanges) {
      for (const { report, at } of this.reports.get(x)?.values() ?? []) {
        if (now - at > REPORT_STALE_MS || report.intervalMs <= 0) continue;
        const scale = 1000 / report.intervalMs;
        totalPerSecond += report.total * scale;
        windowMs += report.intervalMs;
        reports++;
        for (const e of report.entries) {
          const entry = perKey.get(e.key) ?? { perSecond: 0, errorPerSecond: 0, exchange: x };
          entry.perSecond += e.count * scale;
          entry.errorPerSecond += e.error * scale;
          perKey.set(e.key, entry);
        }
      }
    }
    const keys = [...perKey.entries()]
      .sort((a, b) => b[1].perSecond - a[1].perSecond)
      .slice(0, k)
      .map(([key, e]) => {
        const keyGroup = keyGroupOf(key, maxParallelism);
        const exchange = this.plan.exchanges.find((x) => x.id === e.exchange);
        const consumer = exchange ? this.plan.tasks[exchange.toTask] : undefined;
        const subtask = consumer?.subtasks.find((s) => s.keyGroupRange && inRange(s.keyGroupRange, keyGroup))?.index ?? subtaskForKeyGroup(keyGroup, maxParallelism, consumer?.parallelism ?? 1);
        // Sampled counts can exceed the exact total for a key that is nearly all the traffic.
        const perSecond = round(totalPerSecond > 0 ? Math.min(e.perSecond, totalPerSecond) : e.perSecond);
        return { key, perSecond, share: totalPerSecond > 0 ? Math.min(1, round(e.perSecond / totalPerSecond, 4)) : 0, keyGroup, subtask, errorPerSecond: round(e.errorPerSecond) };
      });
    const edgeIds = [...new Set(exchanges.flatMap((x) => this.plan.exchanges.find((e) => e.id === x)?.edgeIds ?? []))];
    return { edgeIds, windowMs: reports > 0 ? Math.round(windowMs / reports) : 0, totalPerSecond: round(totalPerSecond), keys };
  }

  private switchTo(exchangeId: number, on: boolean): void {
    const exchange = this.plan.exchanges.find((x) => x.id === exchangeId);
    const producer = exchange ? this.plan.tasks[exchange.fromTask] : undefined;
    if (!exchange || !producer) return;
    this.send(producer.subtasks.map((s) => ({ taskId: producer.id, subtaskIndex: s.index })), (where) => ({ type: 'count-keys', exchange: exchangeId, on, ...where }));
  }
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
