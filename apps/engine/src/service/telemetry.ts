/**
 * Live figures of a job, computed from the cumulative counters the workers report.
 *
 *   worker: TaskMetrics per subtask, cumulative, once a second
 *      │  (the job manager keeps the newest per subtask)
 *      ▼
 *   observe(): every 100 ms, a subtask whose report object changed gets a new sample
 *      │  (time of arrival, counters); the two newest are kept
 *      ▼
 *   frame(): rates and ratios from the two newest samples of each subtask, per
 *            operator summed over subtasks; watermarks with the channel holding them
 *            back named by upstream node and subtask
 *
 * Elapsed time between two samples: the worker's own accounting (busy + idle +
 * backpressured ms grow with its loop's wall time) when it agrees with the observed
 * arrival times within 25 %; the observed time otherwise (a task stuck in one long
 * wait accounts it only when the wait ends). Figures follow Flink: busy, idle and
 * backpressured are ms per second and add up to about 1000.
 *
 * Everything here is a pure function of the job's state and an injected clock, so
 * tests feed it fake jobs.
 */
import type {
  ChannelTelemetry,
  HoldingBack,
  InputTelemetry,
  JobStatus,
  MetricsFrame,
  OperatorTelemetry,
  Spread,
  SubtaskOperatorTelemetry,
  SplitTelemetry,
  TransactionTelemetry,
  SubtaskTelemetry,
  TaskTelemetry,
  WireTime,
} from '@sluice/protocol';
import type { ExchangePlan, ExecutionPlan, TaskPlan } from '../compile/plan.js';
import type { TaskMetrics } from '../runtime/task.js';
import { wireTime } from './wire.js';

/** What telemetry needs of a job (the engine's Job has it). */
export interface JobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly plan: ExecutionPlan;
  readonly graph: { readonly nodes: readonly { readonly id: string; readonly definition: { readonly inputs: readonly { readonly name: string }[] } }[] };
  readonly metrics: ReadonlyMap<string, { readonly taskId: number; readonly subtaskIndex: number; readonly metrics: TaskMetrics }>;
}

/** Counters a newer engine may add to OperatorCounters; read when present. */
interface OptionalCounters {
  readonly outputWatermark?: number;
  readonly lateRecordsDropped?: number;
  readonly lateRecordsRouted?: number;
}

interface Sample {
  readonly at: number;
  readonly metrics: TaskMetrics;
}

interface History {
  prev: Sample | undefined;
  last: Sample;
}

interface Interval {
  readonly prev: TaskMetrics;
  readonly last: TaskMetrics;
  readonly elapsedMs: number;
}

/** A subtask whose newest sample is older than this has ended (or its worker is stuck): no rates. */
export const STALE_AFTER_MS = 2500;

/**
 * An input with up to this many channels lists them all; a wider one (an all-to-all
 * exchange) lists only WIDE_CHANNELS_LISTED and counts the rest in `channelsOmitted`, so
 * a frame grows with the parallelism, not its square.
 */
export const MAX_CHANNELS_PER_INPUT = 8;
export const WIDE_CHANNELS_LISTED = 3;

export class JobTelemetry {
  private readonly histories = new Map<string, History>();
  private readonly exchanges: ReadonlyMap<number, ExchangePlan>;
  private readonly inputNames = new Map<string, readonly string[]>();
  private readonly tasks: readonly TaskPlan[];

  constructor(job: JobView) {
    this.tasks = job.plan.tasks;
    this.exchanges = new Map(job.plan.exchanges.map((x) => [x.id, x]));
    for (const node of job.graph.nodes) this.inputNames.set(node.id, node.definition.inputs.map((i) => i.name));
  }

  /** Takes the job's newest reports as samples; returns whether any was new. */
  observe(job: JobView, now: number): boolean {
    let changed = false;
    for (const [key, entry] of job.metrics) {
      const history = this.histories.get(key);
      if (history?.last.metrics === entry.metrics) continue;
      changed = true;
      if (history) {
        history.prev = history.last;
        history.last = { at: now, metrics: entry.metrics };
      } else {
        this.histories.set(key, { prev: undefined, last: { at: now, metrics: entry.metrics } });
      }
    }
    return changed;
  }

  frame(job: JobView, now: number, detail: 'full' | 'operators' = 'full'): MetricsFrame {
    const running = job.status === 'running';
    const tasks = job.plan.tasks.map((task) => this.taskTelemetry(task, now, running));
    const operators = job.plan.tasks.flatMap((task, t) => task.operators.map((_, i) => this.operatorTelemetry(task, i, tasks[t] as TaskTelemetry, now)));
    return { jobId: job.id, status: job.status, at: now, operators, tasks: detail === 'full' ? tasks : [] };
  }

  private taskTelemetry(task: TaskPlan, now: number, running: boolean): TaskTelemetry {
    return {
      taskId: task.id,
      name: task.name,
      nodeIds: task.operators.map((o) => o.nodeId),
      subtasks: task.subtasks.map((s) => this.subtaskTelemetry(task, s.index, now, running)),
    };
  }

  private subtaskTelemetry(task: TaskPlan, subtask: number, now: number, running: boolean): SubtaskTelemetry {
    const history = this.histories.get(`${task.id}/${subtask}`);
    const isSource = task.inputs.length === 0;
    if (!history) {
      return {
        subtask,
        sampleAgeMs: null,
        busyMsPerSecond: null,
        idleMsPerSecond: null,
        backpressuredMsPerSecond: null,
        inputs: isSource ? [] : this.inputs(task, []),
        operators: task.operators.map((o) => ({
          nodeId: o.nodeId,
          recordsIn: 0,
          recordsOut: 0,
          recordsInPerSecond: null,
          recordsOutPerSecond: null,
          busyMsPerSecond: null,
          inputWatermark: isSource ? null : '-Infinity',
          outputWatermark: null,
          eventTimeLagMs: null,
          lateRecordsDropped: null,
          lateRecordsRouted: null,
        })),
      };
    }
    const last = history.last.metrics;
    const age = now - history.last.at;
    const fresh = running && age <= STALE_AFTER_MS;
    const interval = fresh ? intervalOf(history) : undefined;
    const perSecond = (delta: number): number | null => (interval ? round(Math.max(0, (delta * 1000) / interval.elapsedMs)) : fresh ? null : 0);
    const msPerSecond = (delta: number): number | null => (interval ? round(clamp((delta * 1000) / interval.elapsedMs, 0, 1000)) : null);
    const prev = interval?.prev;
    const chainedChild = chainedChildren(task);
    const operators = task.operators.map((o, i): SubtaskOperatorTelemetry => {
      const c = last.operators[i];
      const p = prev?.operators[i];
      if (!c) throw new Error(`internal: task ${task.id} reported no counters for operator ${i}`);
      const extra = optionalCounters(c);
      const inputWatermark = i === 0 && isSource ? null : wireTime(c.watermark);
      const child = chainedChild[i];
      const measured = typeof extra.outputWatermark === 'number' ? extra.outputWatermark : child !== undefined ? last.operators[child]?.watermark : undefined;
      const outputWatermark = measured === undefined ? null : wireTime(measured);
      return {
        nodeId: o.nodeId,
        recordsIn: c.recordsIn,
        recordsOut: c.recordsOut,
        recordsInPerSecond: perSecond(c.recordsIn - (p?.recordsIn ?? 0)),
        recordsOutPerSecond: perSecond(c.recordsOut - (p?.recordsOut ?? 0)),
        busyMsPerSecond: msPerSecond(c.busyMs - (p?.busyMs ?? 0)),
        inputWatermark,
        outputWatermark,
        eventTimeLagMs: lag(inputWatermark ?? outputWatermark, now),
        lateRecordsDropped: typeof extra.lateRecordsDropped === 'number' ? extra.lateRecordsDropped : null,
        lateRecordsRouted: typeof extra.lateRecordsRouted === 'number' ? extra.lateRecordsRouted : null,
      };
    });
    // Ages were measured when the subtask reported; a running subtask's channels have aged since.
    const since = running ? Math.max(0, age) : 0;
    const splits = last.splits?.map(
      (s): SplitTelemetry => ({
        split: s.split,
        watermark: wireTime(s.watermark),
        idle: s.idle,
        lastRecordAgeMs: s.lastRecordAgeMs === null ? null : Math.round(s.lastRecordAgeMs + since),
        ...(s.lag !== undefined ? { lag: s.lag } : {}),
      }),
    );
    const transactions = last.transactions?.map((t): TransactionTelemetry => ({ ...t, ageMs: Math.round(t.ageMs + since) }));
    return {
      subtask,
      sampleAgeMs: Math.max(0, Math.round(age)),
      busyMsPerSecond: msPerSecond(last.busyMs - (prev?.busyMs ?? 0)),
      idleMsPerSecond: msPerSecond(last.idleMs - (prev?.idleMs ?? 0)),
      backpressuredMsPerSecond: msPerSecond(last.backpressuredMs - (prev?.backpressuredMs ?? 0)),
      inputs: isSource ? [] : this.inputs(task, last.inputWatermarks, last.channels, since),
      ...(splits ? { splits } : {}),
      ...(transactions ? { transactions } : {}),
      operators,
    };
  }

  private inputs(task: TaskPlan, marks: TaskMetrics['inputWatermarks'], channels?: TaskMetrics['channels'], agedMs = 0): InputTelemetry[] {
    const head = task.operators[0];
    const names = (head && this.inputNames.get(head.nodeId)) ?? [];
    let count = marks.length;
    for (const id of task.inputs) count = Math.max(count, (this.exchanges.get(id)?.toInput ?? 0) + 1);
    return Array.from({ length: count }, (_, input): InputTelemetry => {
      const mark = marks[input];
      return {
        input,
        inputName: names[input] ?? names[0] ?? 'in',
        watermark: wireTime(mark?.watermark ?? Number.NEGATIVE_INFINITY),
        idle: mark?.idle ?? false,
        holdingBack: mark?.holdingBack ? this.resolve(mark.holdingBack) : null,
        ...(channels ? this.channels(channels, input, agedMs) : {}),
      };
    });
  }

  /**
   * One input's channels, named by producer node and subtask. Beyond MAX_CHANNELS_PER_INPUT
   * only the channels that matter most are listed (active ones with the smallest
   * watermarks first, then idle, then ended).
   */
  private channels(channels: NonNullable<TaskMetrics['channels']>, input: number, agedMs: number): { channels: ChannelTelemetry[]; channelsOmitted?: number } {
    const out: ChannelTelemetry[] = [];
    for (const c of channels) {
      if (c.input !== input) continue;
      const named = this.resolve(c);
      if (!named) continue;
      out.push({
        nodeId: named.nodeId,
        subtask: c.producerSubtask,
        edgeIds: named.edgeIds,
        exchange: c.exchange,
        watermark: wireTime(c.watermark),
        idle: c.idle,
        ended: c.ended,
        lastRecordAgeMs: c.lastRecordAgeMs === null ? null : Math.round(c.lastRecordAgeMs + agedMs),
      });
    }
    if (out.length <= MAX_CHANNELS_PER_INPUT) return { channels: out };
    const rank = (c: ChannelTelemetry) => (c.ended ? 2 : c.idle ? 1 : 0);
    const kept = [...out].sort((a, b) => rank(a) - rank(b) || Number(a.watermark) - Number(b.watermark)).slice(0, WIDE_CHANNELS_LISTED);
    return { channels: kept, channelsOmitted: out.length - kept.length };
  }

  /** Names a channel the way a person finds it: the upstream node and its subtask, and the edges. */
  private resolve(channel: { readonly exchange: number; readonly producerSubtask: number }): HoldingBack | null {
    const exchange = this.exchanges.get(channel.exchange);
    if (!exchange) return null;
    return holdingBackOf(exchange, channel.producerSubtask, this.tasks);
  }

  private operatorTelemetry(task: TaskPlan, index: number, telemetry: TaskTelemetry, now: number): OperatorTelemetry {
    const plan = task.operators[index];
    if (!plan) throw new Error('internal: operator index out of range');
    const subtasks = telemetry.subtasks;
    const ops = subtasks.map((s) => s.operators[index] as SubtaskOperatorTelemetry);
    const sum = (pick: (o: SubtaskOperatorTelemetry) => number) => ops.reduce((total, o) => total + pick(o), 0);
    const sumOrNull = (pick: (o: SubtaskOperatorTelemetry) => number | null) => {
      const values = ops.map(pick).filter((v): v is number => v !== null);
      return values.length === 0 ? null : round(values.reduce((a, b) => a + b, 0));
    };
    const inputWatermark = minTime(ops.map((o) => o.inputWatermark));
    const outputWatermark = minTime(ops.map((o) => o.outputWatermark));
    let holdingBack: HoldingBack | null = null;
    let idle = false;
    if (index === 0 && task.inputs.length > 0) {
      const inputs = subtasks.flatMap((s) => s.inputs);
      idle = inputs.length > 0 && inputs.every((i) => i.idle);
      let slowest: InputTelemetry | undefined;
      for (const input of inputs) {
        if (input.idle || input.holdingBack === null) continue;
        if (!slowest || Number(input.watermark) < Number(slowest.watermark)) slowest = input;
      }
      holdingBack = slowest?.holdingBack ?? null;
    }
    return {
      nodeId: plan.nodeId,
      name: plan.name,
      type: plan.type,
      taskId: task.id,
      parallelism: task.parallelism,
      recordsIn: sum((o) => o.recordsIn),
      recordsOut: sum((o) => o.recordsOut),
      recordsInPerSecond: sumOrNull((o) => o.recordsInPerSecond),
      recordsOutPerSecond: sumOrNull((o) => o.recordsOutPerSecond),
      busyMsPerSecond: spread(ops.map((o) => o.busyMsPerSecond)),
      taskBusyMsPerSecond: spread(subtasks.map((s) => s.busyMsPerSecond)),
      idleMsPerSecond: spread(subtasks.map((s) => s.idleMsPerSecond)),
      backpressuredMsPerSecond: spread(subtasks.map((s) => s.backpressuredMsPerSecond)),
      inputWatermark,
      outputWatermark,
      eventTimeLagMs: lag(inputWatermark ?? outputWatermark, now),
      holdingBack,
      idle,
      lateRecordsDropped: sumOfAll(ops.map((o) => o.lateRecordsDropped)),
      lateRecordsRouted: sumOfAll(ops.map((o) => o.lateRecordsRouted)),
    };
  }
}

export function holdingBackOf(exchange: ExchangePlan, producerSubtask: number, tasks: readonly TaskPlan[]): HoldingBack | null {
  const from = tasks[exchange.fromTask];
  const nodeId = from?.operators[exchange.fromOperator]?.nodeId;
  if (!from || nodeId === undefined) return null;
  const edges = exchange.edgeIds.length === 1 ? `edge ${exchange.edgeIds[0] ?? ''}` : `edges ${exchange.edgeIds.join(', ')}`;
  return {
    nodeId,
    subtask: producerSubtask,
    parallelism: from.parallelism,
    edgeIds: [...exchange.edgeIds],
    exchange: exchange.id,
    description: `subtask ${producerSubtask + 1}/${from.parallelism} of '${nodeId}' (${edges})`,
  };
}

function intervalOf(history: History): Interval | undefined {
  const prev = history.prev;
  if (!prev) return undefined;
  const last = history.last;
  const observed = last.at - prev.at;
  const accounted = total(last.metrics) - total(prev.metrics);
  const elapsedMs = accounted > 0 && observed > 0 && Math.abs(accounted - observed) <= 0.25 * observed ? accounted : observed;
  return elapsedMs > 0 ? { prev: prev.metrics, last: last.metrics, elapsedMs } : undefined;
}

function total(m: TaskMetrics): number {
  return m.busyMs + m.idleMs + m.backpressuredMs;
}

/** For each operator of a chain, the chained operator it feeds directly (whose input watermark is its output). */
function chainedChildren(task: TaskPlan): (number | undefined)[] {
  return task.operators.map((o) => {
    for (const targets of Object.values(o.outputs)) {
      for (const t of targets) if (t.kind === 'chained') return t.operator;
    }
    return undefined;
  });
}

/** Counters a newer engine reports beside OperatorCounters' own. */
function optionalCounters(counters: object): OptionalCounters {
  return counters;
}

/** The sum, or null when any value is missing (not reported by the engine). */
function sumOfAll(values: readonly (number | null)[]): number | null {
  let total = 0;
  for (const v of values) {
    if (v === null) return null;
    total += v;
  }
  return total;
}

function spread(values: readonly (number | null)[]): Spread | null {
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return null;
  return { avg: round(present.reduce((a, b) => a + b, 0) / present.length), max: round(Math.max(...present)) };
}

/** Minimum of wire times; null when any is null (not measured somewhere). */
function minTime(values: readonly (WireTime | null)[]): WireTime | null {
  let min = Number.POSITIVE_INFINITY;
  for (const v of values) {
    if (v === null) return null;
    min = Math.min(min, Number(v));
  }
  return values.length === 0 ? null : wireTime(min);
}

function lag(watermark: WireTime | null, now: number): number | null {
  return typeof watermark === 'number' ? Math.round(now - watermark) : null;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
