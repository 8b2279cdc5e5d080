/**
 * What the live view shows, computed from the engine's telemetry frames. Framework-
 * free and pure, so that it is unit-tested without a browser or an engine.
 *
 * A frame carries a whole job once a second. The canvas shows one small overlay per
 * node; with 300 nodes, re-rendering all of them every second would be wasteful, so
 * `applyFrame` keeps the previous overlay object of a node whenever what it shows
 * (rounded as it is shown) has not changed: memoized node components then skip.
 */
import type { ChannelTelemetry, HoldingBack, InputTelemetry, MetricsFrame, OperatorTelemetry, SplitTelemetry, Spread, SubtaskTelemetry, TaskTelemetry, TransactionTelemetry, WireTime } from '@sluice/protocol';

/**
 * Flink's backpressure levels by the share of time a task was backpressured
 * (backPressuredTimeMsPerSecond / 1000): OK ≤ 10 %, LOW ≤ 50 %, HIGH above.
 */
export type BackpressureLevel = 'ok' | 'low' | 'high';

export function backpressureLevel(ratio: number): BackpressureLevel {
  if (ratio <= 0.1) return 'ok';
  if (ratio <= 0.5) return 'low';
  return 'high';
}

/** One node's figures as the canvas shows them; equal figures keep the same object. */
export interface NodeOverlay {
  readonly nodeId: string;
  /** Null before the engine has two samples (rates need an interval). */
  readonly inPerSecond: number | null;
  readonly outPerSecond: number | null;
  /** Share of time, 0…1; of the task (chain) for backpressure, of the operator alone for busy. */
  readonly backpressured: number | null;
  readonly level: BackpressureLevel | null;
  readonly busy: number | null;
  /** The watermark shown on the node: the input watermark, or the output watermark of a source. */
  readonly watermark: WireTime | null;
  readonly eventTimeLagMs: number | null;
  /** Null: the operator does not report late records (it has no event-time logic). */
  readonly late: number | null;
  readonly idle: boolean;
  readonly holdingBack: string | null;
  readonly parallelism: number;
}

function ratioOf(spread: Spread | null, pick: 'avg' | 'max'): number | null {
  return spread === null ? null : spread[pick] / 1000;
}

export function overlayOf(op: OperatorTelemetry): NodeOverlay {
  // Backpressure is judged at the worst subtask, as Flink's web UI colours a vertex by its worst subtask.
  const backpressured = ratioOf(op.backpressuredMsPerSecond, 'max');
  const late = op.lateRecordsDropped === null && op.lateRecordsRouted === null ? null : (op.lateRecordsDropped ?? 0) + (op.lateRecordsRouted ?? 0);
  return {
    nodeId: op.nodeId,
    inPerSecond: op.recordsInPerSecond,
    outPerSecond: op.recordsOutPerSecond,
    backpressured,
    level: backpressured === null ? null : backpressureLevel(backpressured),
    busy: ratioOf(op.busyMsPerSecond, 'max'),
    watermark: op.inputWatermark ?? op.outputWatermark,
    eventTimeLagMs: op.eventTimeLagMs,
    late,
    idle: op.idle,
    holdingBack: op.holdingBack?.description ?? null,
    parallelism: op.parallelism,
  };
}

/** Whether two overlays look the same on the canvas (figures compared as they are printed). */
export function sameOverlay(a: NodeOverlay, b: NodeOverlay): boolean {
  return (
    formatRate(a.inPerSecond) === formatRate(b.inPerSecond) &&
    formatRate(a.outPerSecond) === formatRate(b.outPerSecond) &&
    formatPercent(a.backpressured) === formatPercent(b.backpressured) &&
    a.level === b.level &&
    formatPercent(a.busy) === formatPercent(b.busy) &&
    a.watermark === b.watermark &&
    formatDuration(a.eventTimeLagMs) === formatDuration(b.eventTimeLagMs) &&
    a.late === b.late &&
    a.idle === b.idle &&
    a.holdingBack === b.holdingBack &&
    a.parallelism === b.parallelism
  );
}

/** Series kept per node for the detail charts: the last HISTORY_LENGTH frames. */
export const HISTORY_LENGTH = 60;

export interface NodeHistory {
  readonly at: readonly number[];
  readonly inPerSecond: readonly (number | null)[];
  readonly outPerSecond: readonly (number | null)[];
  readonly busy: readonly (number | null)[];
  readonly backpressured: readonly (number | null)[];
  readonly lagMs: readonly (number | null)[];
}

const EMPTY_HISTORY: NodeHistory = { at: [], inPerSecond: [], outPerSecond: [], busy: [], backpressured: [], lagMs: [] };

function push<T>(list: readonly T[], value: T): T[] {
  const next = list.length >= HISTORY_LENGTH ? list.slice(list.length - HISTORY_LENGTH + 1) : list.slice();
  next.push(value);
  return next;
}

export function appendHistory(history: NodeHistory | undefined, at: number, overlay: NodeOverlay): NodeHistory {
  const h = history ?? EMPTY_HISTORY;
  return {
    at: push(h.at, at),
    inPerSecond: push(h.inPerSecond, overlay.inPerSecond),
    outPerSecond: push(h.outPerSecond, overlay.outPerSecond),
    busy: push(h.busy, overlay.busy),
    backpressured: push(h.backpressured, overlay.backpressured),
    lagMs: push(h.lagMs, overlay.eventTimeLagMs),
  };
}

export interface LiveFigures {
  readonly overlays: ReadonlyMap<string, NodeOverlay>;
  readonly history: ReadonlyMap<string, NodeHistory>;
}

export const NO_FIGURES: LiveFigures = { overlays: new Map(), history: new Map() };

/**
 * The figures after one frame: one pass over the frame's operators. Unchanged
 * overlays are the previous objects; the map itself is new when any changed.
 */
export function applyFrame(previous: LiveFigures, frame: MetricsFrame): LiveFigures {
  const overlays = new Map<string, NodeOverlay>();
  const history = new Map<string, NodeHistory>();
  let changed = previous.overlays.size !== frame.operators.length;
  for (const op of frame.operators) {
    const fresh = overlayOf(op);
    const old = previous.overlays.get(op.nodeId);
    const overlay = old !== undefined && sameOverlay(old, fresh) ? old : fresh;
    if (overlay !== old) changed = true;
    overlays.set(op.nodeId, overlay);
    history.set(op.nodeId, appendHistory(previous.history.get(op.nodeId), frame.at, fresh));
  }
  return { overlays: changed ? overlays : previous.overlays, history };
}

// ─── Per-subtask detail and the watermark debugger ─────────────────────────

export interface SubtaskRow {
  readonly subtask: number;
  readonly inPerSecond: number | null;
  readonly outPerSecond: number | null;
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** Of the operator alone (inside its chain). */
  readonly busy: number | null;
  /** Of the task: idleness and backpressure belong to the chain. */
  readonly idle: number | null;
  readonly backpressured: number | null;
  readonly level: BackpressureLevel | null;
  readonly inputWatermark: WireTime | null;
  readonly outputWatermark: WireTime | null;
  readonly eventTimeLagMs: number | null;
  readonly late: number | null;
  readonly sampleAgeMs: number | null;
}

/** The task a node runs in, and where in its chain. */
export function taskOf(frame: MetricsFrame, nodeId: string): { task: TaskTelemetry; position: number } | undefined {
  for (const task of frame.tasks) {
    const position = task.nodeIds.indexOf(nodeId);
    if (position >= 0) return { task, position };
  }
  return undefined;
}

export function subtaskRows(frame: MetricsFrame, nodeId: string): SubtaskRow[] {
  const found = taskOf(frame, nodeId);
  if (!found) return [];
  return found.task.subtasks.map((s) => {
    const op = s.operators.find((o) => o.nodeId === nodeId);
    const backpressured = s.backpressuredMsPerSecond === null ? null : s.backpressuredMsPerSecond / 1000;
    return {
      subtask: s.subtask,
      inPerSecond: op?.recordsInPerSecond ?? null,
      outPerSecond: op?.recordsOutPerSecond ?? null,
      recordsIn: op?.recordsIn ?? 0,
      recordsOut: op?.recordsOut ?? 0,
      busy: op?.busyMsPerSecond == null ? null : op.busyMsPerSecond / 1000,
      idle: s.idleMsPerSecond === null ? null : s.idleMsPerSecond / 1000,
      backpressured,
      level: backpressured === null ? null : backpressureLevel(backpressured),
      inputWatermark: op?.inputWatermark ?? null,
      outputWatermark: op?.outputWatermark ?? null,
      eventTimeLagMs: op?.eventTimeLagMs ?? null,
      late: op === undefined || (op.lateRecordsDropped === null && op.lateRecordsRouted === null) ? null : (op.lateRecordsDropped ?? 0) + (op.lateRecordsRouted ?? 0),
      sampleAgeMs: s.sampleAgeMs,
    };
  });
}

export interface WatermarkInputRow {
  readonly input: number;
  readonly inputName: string;
  readonly watermark: WireTime;
  readonly idle: boolean;
  readonly holdingBack: HoldingBack | null;
  /** This input sets the subtask's watermark (the smallest among inputs that are not idle). */
  readonly limiting: boolean;
  /** Its channels (per producer subtask), as the engine lists them; wide inputs list the few that matter. */
  readonly channels: readonly ChannelTelemetry[];
  readonly channelsOmitted: number;
}

export interface WatermarkSubtaskRow {
  readonly subtask: number;
  /** The minimum over the inputs that are not idle; what the operator sees. */
  readonly watermark: WireTime | null;
  readonly inputs: readonly WatermarkInputRow[];
  /** Every input is idle: this subtask holds nothing back downstream. */
  readonly idle: boolean;
}

/** How a node's watermark comes about. */
export type WatermarkExplanation =
  | { readonly kind: 'unknown' }
  /** A source makes watermarks from its records: there is no input to take a minimum over. */
  | {
      readonly kind: 'source';
      readonly watermark: WireTime | null;
      readonly lagMs: number | null;
      readonly subtasks: readonly { subtask: number; watermark: WireTime | null; splits: readonly SplitTelemetry[] }[];
    }
  /** Chained behind another operator in the same thread: its input watermark is that operator's output. */
  | { readonly kind: 'chained'; readonly upstream: string; readonly watermark: WireTime | null; readonly lagMs: number | null }
  | {
      readonly kind: 'inputs';
      readonly watermark: WireTime | null;
      readonly lagMs: number | null;
      readonly idle: boolean;
      readonly holdingBack: HoldingBack | null;
      /** The subtask with the smallest watermark (the operator's watermark is the minimum over subtasks). */
      readonly slowestSubtask: number | null;
      readonly subtasks: readonly WatermarkSubtaskRow[];
    };

function wireNumber(w: WireTime | null): number | null {
  return w === null ? null : Number(w);
}

function minimumOf(inputs: readonly InputTelemetry[]): WireTime | null {
  let best: InputTelemetry | undefined;
  for (const input of inputs) {
    if (input.idle) continue;
    if (best === undefined || Number(input.watermark) < Number(best.watermark)) best = input;
  }
  return best?.watermark ?? null;
}

function watermarkRow(s: SubtaskTelemetry): WatermarkSubtaskRow {
  const watermark = minimumOf(s.inputs);
  let limitingSeen = false;
  const inputs = s.inputs.map((input) => {
    // Ties: the first input at the minimum is named, as the engine names one channel.
    const limiting = !limitingSeen && !input.idle && watermark !== null && Number(input.watermark) === Number(watermark);
    if (limiting) limitingSeen = true;
    return {
      input: input.input,
      inputName: input.inputName,
      watermark: input.watermark,
      idle: input.idle,
      holdingBack: input.holdingBack,
      limiting,
      channels: input.channels ?? [],
      channelsOmitted: input.channelsOmitted ?? 0,
    };
  });
  return { subtask: s.subtask, watermark, inputs, idle: s.inputs.length > 0 && s.inputs.every((i) => i.idle) };
}

export function explainWatermark(frame: MetricsFrame, nodeId: string): WatermarkExplanation {
  const op = frame.operators.find((o) => o.nodeId === nodeId);
  const found = taskOf(frame, nodeId);
  if (!op) return { kind: 'unknown' };
  if (op.inputWatermark === null) {
    const subtasks = found ? found.task.subtasks.map((s) => ({ subtask: s.subtask, watermark: s.operators.find((o) => o.nodeId === nodeId)?.outputWatermark ?? null, splits: s.splits ?? [] })) : [];
    return { kind: 'source', watermark: op.outputWatermark, lagMs: op.eventTimeLagMs, subtasks };
  }
  if (found && found.position > 0) {
    return { kind: 'chained', upstream: found.task.nodeIds[found.position - 1] ?? '?', watermark: op.inputWatermark, lagMs: op.eventTimeLagMs };
  }
  const subtasks = found ? found.task.subtasks.map(watermarkRow) : [];
  let slowest: WatermarkSubtaskRow | undefined;
  for (const row of subtasks) {
    if (row.idle || row.watermark === null) continue;
    if (slowest?.watermark == null || Number(row.watermark) < Number(slowest.watermark)) slowest = row;
  }
  return {
    kind: 'inputs',
    watermark: op.inputWatermark,
    lagMs: op.eventTimeLagMs,
    idle: op.idle,
    holdingBack: op.holdingBack,
    slowestSubtask: slowest?.subtask ?? null,
    subtasks,
  };
}

// ─── Source splits (Kafka partitions) and open sink transactions ───────────

export interface SplitRow {
  readonly subtask: number;
  /** The source's name for it: `orders-3` for partition 3 of topic orders. */
  readonly split: string;
  readonly watermark: WireTime;
  readonly idle: boolean;
  readonly lastRecordAgeMs: number | null;
  /** Consumer lag in records; null while the subtask has not learnt the partition's end (or the source has none). */
  readonly lag: number | null;
}

/**
 * The splits a source reads, per subtask, from the newest frame. Splits belong to
 * the task's head (a source is always first in its chain): another node of the
 * chain has none. Ordered by subtask, then as the source lists them.
 */
export function splitRows(frame: MetricsFrame, nodeId: string): SplitRow[] {
  const found = taskOf(frame, nodeId);
  if (!found || found.position !== 0) return [];
  const rows: SplitRow[] = [];
  for (const s of [...found.task.subtasks].sort((a, b) => a.subtask - b.subtask)) {
    for (const split of s.splits ?? []) {
      rows.push({ subtask: s.subtask, split: split.split, watermark: split.watermark, idle: split.idle, lastRecordAgeMs: split.lastRecordAgeMs, lag: split.lag ?? null });
    }
  }
  return rows;
}

/** The consumer lag over all splits; null when no split's lag is known yet. */
export function totalLag(rows: readonly SplitRow[]): number | null {
  let total: number | null = null;
  for (const row of rows) if (row.lag !== null) total = (total ?? 0) + row.lag;
  return total;
}

export interface TransactionRow {
  readonly subtask: number;
  readonly transactionalId: string;
  readonly records: number;
  readonly ageMs: number;
  readonly phase: TransactionTelemetry['phase'];
}

/**
 * A sink's transactions that readers cannot see yet, oldest first: a transaction
 * that stays open blocks every read_committed reader of its partitions, so the
 * oldest is the one to look at. A chain may hold several transactional sinks; only
 * this node's are listed.
 */
export function transactionRows(frame: MetricsFrame, nodeId: string): TransactionRow[] {
  const found = taskOf(frame, nodeId);
  if (!found) return [];
  const rows: TransactionRow[] = [];
  for (const s of found.task.subtasks) {
    for (const t of s.transactions ?? []) {
      if (t.nodeId === nodeId) rows.push({ subtask: s.subtask, transactionalId: t.transactionalId, records: t.records, ageMs: t.ageMs, phase: t.phase });
    }
  }
  return rows.sort((a, b) => b.ageMs - a.ageMs || a.subtask - b.subtask || (a.transactionalId < b.transactionalId ? -1 : a.transactionalId > b.transactionalId ? 1 : 0));
}

// ─── Formatting, shared by the canvas and the panels ────────────────────────

export function formatRate(perSecond: number | null): string {
  if (perSecond === null) return '–';
  if (perSecond >= 1_000_000) return `${(perSecond / 1_000_000).toFixed(1)}M`;
  if (perSecond >= 10_000) return `${Math.round(perSecond / 1000)}k`;
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k`;
  if (perSecond >= 10 || perSecond === 0) return String(Math.round(perSecond));
  return perSecond.toFixed(1);
}

export function formatPercent(ratio: number | null): string {
  return ratio === null ? '–' : `${Math.round(ratio * 100)}%`;
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '–';
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '−' : '';
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)} min ${Math.round((abs % 60_000) / 1000)} s`;
  return `${sign}${(abs / 3_600_000).toFixed(1)} h`;
}

/** A watermark as a person reads it: never a bare number (Flink's "No Watermark" for −∞). */
export function formatWatermark(w: WireTime | null): string {
  const n = wireNumber(w);
  if (n === null) return 'not measured';
  if (n === -Infinity) return 'No watermark';
  if (n === Infinity) return 'end of input';
  return new Date(n).toISOString().replace('T', ' ').replace('Z', ' UTC');
}

export function formatCount(n: number | null): string {
  return n === null ? '–' : n.toLocaleString('en-US');
}
