/**
 * Sliding windows that share work between overlapping windows (the "slicing" of Flink
 * SQL's window aggregation, and what Arroyo and Feldera do): time is cut into panes
 * of gcd(size, slide); an element updates the one accumulator of its pane, and a
 * window, when it fires, merges the accumulators of its panes. An element thus costs
 * one state update instead of size / slide, whatever the overlap.
 *
 * It produces exactly what the general WindowOperator produces for the same config
 * (a seeded test compares them), and the registry only uses it where that holds: event
 * time, an incremental function (built-in aggregations, reduce, or an aggregate with
 * merge), the default trigger, and no allowed lateness. Anything else uses
 * WindowOperator. (Processing time is excluded: there a window that already fired is
 * created afresh by an element arriving at its last millisecond, which shared panes
 * cannot reproduce.)
 *
 * Per key, one timer is pending at a time: at the end of the next window to fire.
 * Firing a window clears the pane no later window needs and registers the next end
 * while panes remain.
 */
import type { Aggregation } from '@sluice/graph-model';
import { NO_TIMESTAMP, RowKind } from '../api/elements.js';
import type { CodeLoader } from '../api/functions.js';
import { AbstractOperator } from '../api/operator.js';
import type { AggregateFunction, ValueState } from '../api/state.js';
import type { InternalTimer } from '../api/time.js';
import { createAggregator } from '../functions/aggregations.js';
import { windowStart } from './assigners.js';

export interface PaneWindowConfig {
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly offsetMs: number;
  readonly timeCharacteristic: 'event-time' | 'processing-time';
  readonly function:
    | { readonly kind: 'aggregations'; readonly aggregations: readonly Aggregation[] }
    | { readonly kind: 'reduce'; readonly reduce: string; readonly process?: string | undefined }
    | { readonly kind: 'aggregate'; readonly aggregate: string; readonly process?: string | undefined };
}

type ResultFn = (key: unknown, window: unknown, result: unknown, out: { collect(value: unknown): void }) => void;

interface Combiner {
  create(): unknown;
  add(acc: unknown, value: unknown, timestamp: number): unknown;
  merge(a: unknown, b: unknown): unknown;
  result(acc: unknown): unknown;
}

const PANE = 'pane-accumulator';
/** Marks accumulators of reduce functions that have not seen a value yet. */
const EMPTY = Symbol('empty');

/** Whether a sliding-window config can run on panes with identical results. */
export function panesApply(config: {
  timeCharacteristic: 'event-time' | 'processing-time';
  allowedLatenessMs: number;
  trigger: { kind: string };
  function: { kind: string; aggregate?: string };
}): boolean {
  if (config.timeCharacteristic !== 'event-time' || config.allowedLatenessMs !== 0 || config.trigger.kind !== 'default') return false;
  const f = config.function;
  if (f.kind === 'aggregations' || f.kind === 'reduce') return true;
  return f.kind === 'aggregate' && typeof f.aggregate === 'string' && /\bmerge\b/.test(f.aggregate);
}

export class PaneWindowOperator extends AbstractOperator<unknown> {
  private readonly pane: number;
  private readonly eventTime: boolean;
  private readonly combiner: Combiner;
  private readonly aggregations: boolean;
  private readonly resultFn: ResultFn | undefined;
  private state!: ValueState<unknown>;

  constructor(
    private readonly config: PaneWindowConfig,
    fn: CodeLoader,
  ) {
    super();
    this.pane = gcd(config.sizeMs, config.slideMs);
    this.eventTime = config.timeCharacteristic === 'event-time';
    const f = config.function;
    this.aggregations = f.kind === 'aggregations';
    if (f.kind === 'aggregations') {
      const aggregator = createAggregator(f.aggregations);
      this.combiner = {
        create: () => aggregator.createAccumulator(),
        add: (acc, value, timestamp) => aggregator.add(acc, value, timestamp),
        merge: (a, b) => aggregator.merge(a, b),
        result: (acc) => aggregator.getResult(acc),
      };
    } else if (f.kind === 'reduce') {
      const reduce = fn(f.reduce) as (a: unknown, b: unknown) => unknown;
      this.combiner = {
        create: () => EMPTY,
        add: (acc, value) => (acc === EMPTY ? value : reduce(acc, value)),
        // A user's reduce may change its first argument: never hand it a stored value.
        merge: (a, b) => (a === EMPTY ? structuredClone(b) : b === EMPTY ? a : reduce(a, b)),
        result: (acc) => acc,
      };
      this.resultFn = f.process !== undefined ? (fn(f.process) as ResultFn) : undefined;
    } else {
      const aggregate = fn(f.aggregate) as AggregateFunction<unknown, unknown, unknown>;
      if (typeof aggregate.merge !== 'function') throw new Error('sliding windows on panes need an aggregate function with merge');
      const merging = aggregate as Required<AggregateFunction<unknown, unknown, unknown>>;
      this.combiner = {
        create: () => merging.createAccumulator(),
        add: (acc, value) => merging.add(value, acc),
        merge: (a, b) => merging.merge(a, b),
        result: (acc) => merging.getResult(acc),
      };
      this.resultFn = f.process !== undefined ? (fn(f.process) as ResultFn) : undefined;
    }
  }

  override open(): void {
    this.state = this.backend.getState({ kind: 'value', name: PANE });
    this.useTimers();
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (kind === RowKind.UPDATE_BEFORE || kind === RowKind.DELETE) {
      throw new Error('a window cannot consume retractions (update-before or delete records); put windows before group aggregations, not after');
    }
    let time: number;
    if (this.eventTime) {
      if (timestamp === NO_TIMESTAMP) throw new Error('the record has no event-time timestamp; give the source a timestamp field, or use a processing-time window');
      time = timestamp;
    } else {
      time = this.ctx.processingTime.now();
    }
    const { sizeMs, slideMs, offsetMs } = this.config;
    // The last window holding the element ends here; if even that one fired, it is late.
    const lastEnd = windowStart(time, offsetMs, slideMs) + sizeMs;
    if (this.eventTime && lastEnd - 1 <= this.currentWatermark) {
      this.late(value, timestamp);
      return;
    }
    const paneStart = windowStart(time, offsetMs, this.pane);
    const backend = this.backend;
    backend.setCurrentNamespace(paneStart);
    const acc = this.state.value();
    this.state.update(this.combiner.add(acc === undefined ? this.combiner.create() : acc, value, time));
    // A pane the key already has was counted when it was created: the timer registered then,
    // or the one each firing registers for the next end while panes remain, covers it.
    if (acc !== undefined) return;
    // Windows holding the pane start on the slide grid in (paneStart - size, paneStart];
    // the earliest of them ends first. Window ends lie on the slide grid shifted by the size.
    let firstEnd = windowStart(paneStart - sizeMs, offsetMs, slideMs) + slideMs + sizeMs;
    if (this.eventTime) {
      // Windows ending at or before watermark + 1 have fired already.
      const due = windowStart(this.currentWatermark + 1, offsetMs + sizeMs, slideMs) + slideMs;
      if (Number.isFinite(due) && due > firstEnd) firstEnd = due;
      this.useTimers().registerEventTimeTimer('', firstEnd - 1);
    } else {
      this.useTimers().registerProcessingTimeTimer('', firstEnd - 1);
    }
  }

  override onEventTime(timer: InternalTimer): void {
    this.fire(timer.timestamp + 1);
  }

  override onProcessingTime(timer: InternalTimer): void {
    this.fire(timer.timestamp + 1);
  }

  /** Emits the window ending at `end`, drops the pane no later window needs, and schedules the next end. */
  private fire(end: number): void {
    const { sizeMs, slideMs } = this.config;
    const backend = this.backend;
    const start = end - sizeMs;
    let merged: unknown = undefined;
    let any = false;
    let later = false;
    const namespaces = backend.namespacesOfCurrentKey(PANE);
    for (const ns of namespaces) {
      const paneStart = ns as number;
      if (paneStart >= end) {
        later = true;
        continue;
      }
      backend.setCurrentNamespace(paneStart);
      if (paneStart < start) {
        // Only windows that fired already held it.
        this.state.clear();
        continue;
      }
      const acc = this.state.value();
      // merge may change its first argument, and panes are shared by several windows:
      // merge into a fresh accumulator, never into a stored one.
      merged = this.combiner.merge(any ? merged : this.combiner.create(), acc);
      any = true;
      // Windows that fire later start at start + slide or after: they no longer need this pane.
      if (paneStart < start + slideMs) this.state.clear();
      else later = true;
    }
    if (any && merged !== EMPTY) this.emit(start, end, merged);
    if (later) {
      backend.setCurrentNamespace('');
      if (this.eventTime) this.useTimers().registerEventTimeTimer('', end + slideMs - 1);
      else this.useTimers().registerProcessingTimeTimer('', end + slideMs - 1);
    }
  }

  private emit(start: number, end: number, acc: unknown): void {
    const firing = this.ctx.firing;
    firing.start = start;
    firing.end = end;
    try {
      this.emitResult(start, end, acc);
    } finally {
      firing.start = Number.NaN;
      firing.end = Number.NaN;
    }
  }

  private emitResult(start: number, end: number, acc: unknown): void {
    const key = this.backend.getCurrentKey();
    const result = this.combiner.result(acc);
    const timestamp = end - 1;
    if (this.aggregations) {
      const record: Record<string, unknown> = { key, windowStart: start, windowEnd: end };
      for (const field in result as Record<string, unknown>) record[field] = (result as Record<string, unknown>)[field];
      this.output.collect(record, timestamp, RowKind.INSERT);
    } else if (this.resultFn) {
      const window = { start, end, maxTimestamp: end - 1, currentWatermark: this.currentWatermark };
      this.resultFn(key, window, result, { collect: (value) => this.output.collect(value, timestamp, RowKind.INSERT) });
    } else {
      this.output.collect(result, timestamp, RowKind.INSERT);
    }
  }

  private late(value: unknown, timestamp: number): void {
    if (this.ctx.connectedOutputs.has('late')) {
      this.output.collectSide('late', value, timestamp);
      this.ctx.metrics.lateRecordsRouted++;
    } else {
      this.ctx.metrics.lateRecordsDropped++;
    }
  }
}

function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}
