/**
 * Keyed windows, after Flink's WindowOperator.
 *
 * For each element: assign windows (by event time, or by the clock for processing
 * time); skip windows that are already late; add the element to each window's state
 * (only an accumulator for incremental functions); ask the trigger; register a
 * cleanup timer at the window's end plus the allowed lateness. An element whose every
 * window was skipped and that is itself late goes to the `late` output, or is counted
 * as dropped when nothing is connected there: never lost without a trace.
 *
 * A window's first result is an INSERT. A window that can fire again with the same
 * contents (a late element within the allowed lateness, an early-firing trigger; see
 * windowEmitsUpdates in the catalog) emits a changelog, as Flink SQL's window
 * aggregation does with early or late firing (AggregateWindowOperator, produceUpdates):
 * it keeps the results it emitted last in window state (`window-emitted`), and a
 * re-fire retracts them (UPDATE_BEFORE) before the new ones (UPDATE_AFTER); a re-fire
 * whose results equal the previous ones emits nothing; one that yields no result (a
 * process function that collects nothing) deletes the previous ones (DELETE). So a
 * downstream group aggregation, regular join or upsert sink counts the window once.
 * That state lives until the window's cleanup at its end plus the allowed lateness;
 * windows that fire once keep nothing. After a purge the window starts afresh, so its
 * next result is an INSERT again: purging windows are append-only.
 *
 * Session windows merge: each key keeps its sessions as a list of (window, state
 * namespace); a new element's window merges with every session it touches, their
 * states merge into one namespace, timers move to the merged window's end, and the
 * triggers' own values (a count, the next early firing) fold into the merged window's.
 * As in Flink, a trigger that cannot merge (a custom one) is refused for sessions.
 */
import { NO_TIMESTAMP, RowKind, type Key } from '../api/elements.js';
import type { CodeLoader } from '../api/functions.js';
import { AbstractOperator } from '../api/operator.js';
import type { AggregateFunction, AggregatingState, ListState, MapState, Namespace, ReducingState, ValueState } from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { InternalTimer } from '../api/time.js';
import { createAggregator, type BuiltinAggregator } from '../functions/aggregations.js';
import { sameValue } from '../process/group-aggregate.js';
import { windowEmitsUpdates, type Aggregation } from '@sluice/graph-model';
import { cover, GLOBAL_WINDOW, intersects, maxTimestamp, slidingStarts, windowStart, type TimeWindow } from './assigners.js';
import {
  ContinuousEventTimeTrigger,
  ContinuousProcessingTimeTrigger,
  CountTrigger,
  EventTimeTrigger,
  fires,
  ProcessingTimeTrigger,
  purges,
  PurgingTrigger,
  UserCodeTrigger,
  type Trigger,
  type TriggerContext,
  type TriggerValues,
} from './triggers.js';

export type WindowAssignerConfig =
  | { readonly kind: 'tumbling'; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly kind: 'sliding'; readonly sizeMs: number; readonly slideMs: number; readonly offsetMs: number }
  | { readonly kind: 'session'; readonly gapMs?: number | undefined; readonly dynamicGap?: string | undefined }
  | { readonly kind: 'global' };

export type TriggerConfig =
  | { readonly kind: 'default'; readonly purging: boolean }
  | { readonly kind: 'count'; readonly count: number; readonly purging: boolean }
  | { readonly kind: 'continuous-event-time'; readonly intervalMs: number; readonly purging: boolean }
  | { readonly kind: 'continuous-processing-time'; readonly intervalMs: number; readonly purging: boolean }
  | { readonly kind: 'custom'; readonly trigger: string; readonly purging: boolean };

export type WindowFunctionConfig =
  | { readonly kind: 'aggregations'; readonly aggregations: readonly Aggregation[] }
  | { readonly kind: 'reduce'; readonly reduce: string; readonly process?: string | undefined }
  | { readonly kind: 'aggregate'; readonly aggregate: string; readonly process?: string | undefined }
  | { readonly kind: 'process'; readonly process: string };

export interface WindowOperatorConfig {
  readonly assigner: WindowAssignerConfig;
  readonly timeCharacteristic: 'event-time' | 'processing-time';
  readonly allowedLatenessMs: number;
  readonly trigger: TriggerConfig;
  readonly function: WindowFunctionConfig;
}

/** What window functions see of the window that fires. */
export interface WindowContext {
  readonly start: number;
  readonly end: number;
  readonly maxTimestamp: number;
  readonly currentWatermark: number;
}

type ProcessFn = (key: Key, window: WindowContext, elements: readonly unknown[], out: { collect(value: unknown): void }) => void;
type ResultFn = (key: Key, window: WindowContext, result: unknown, out: { collect(value: unknown): void }) => void;

interface Session {
  start: number;
  end: number;
  readonly ns: string;
}

const CONTENTS = 'window-contents';
const TRIGGER_STATE = 'window-trigger';
const EMITTED = 'window-emitted';
const SESSIONS = 'window-sessions';

export class WindowOperator extends AbstractOperator<unknown> {
  private readonly eventTime: boolean;
  private readonly lateness: number;
  private readonly trigger: Trigger;
  private readonly aggregator: BuiltinAggregator | undefined;
  private readonly process: ProcessFn | undefined;
  private readonly result: ResultFn | undefined;
  private readonly gapOf: ((value: unknown) => number) | undefined;
  private contents!: AggregatingState<unknown, unknown> | ReducingState<unknown> | ListState<unknown>;
  private triggerState!: MapState<string, unknown>;
  /** The results a window emitted last, for retracting them on a re-fire; only when `updates`. */
  private emitted!: ValueState<unknown[]>;
  /** Whether a window can fire more than once, so that its re-fires retract (windowEmitsUpdates). */
  private readonly updates: boolean;
  /** The current firing's results, when `updates`: collected first, compared with the previous ones, then emitted. */
  private readonly pending: unknown[] = [];
  private sessions!: ValueState<Session[]>;
  /** Timestamp of the element being added, read by the built-in aggregator (first/last). */
  private currentTimestamp = 0;
  /** Reused for fixed-size windows: no allocation per element. Triggers never keep it. */
  private readonly scratch = { start: 0, end: 0 };
  /** The default event-time trigger's timer is the cleanup timer when lateness is 0: register it once. */
  private readonly cleanupIsTriggerTimer: boolean;
  private readonly triggerKeepsState: boolean;
  private readonly triggerCtx: TriggerContext;
  private readonly contentsDescriptor:
    | { kind: 'aggregating'; name: string; aggregate: AggregateFunction<unknown, unknown, unknown> }
    | { kind: 'reducing'; name: string; reduce: (a: unknown, b: unknown) => unknown }
    | { kind: 'list'; name: string };

  constructor(
    private readonly config: WindowOperatorConfig,
    fn: CodeLoader,
  ) {
    super();
    this.eventTime = config.timeCharacteristic === 'event-time' && config.assigner.kind !== 'global';
    this.lateness = this.eventTime ? config.allowedLatenessMs : 0;
    this.trigger = makeTrigger(config, fn);
    this.cleanupIsTriggerTimer = this.eventTime && this.lateness === 0 && this.trigger instanceof EventTimeTrigger;
    this.triggerKeepsState = !(this.trigger instanceof EventTimeTrigger || this.trigger instanceof ProcessingTimeTrigger);
    // Processing-time and global windows have no lateness: only early-firing triggers re-fire them.
    this.updates = windowEmitsUpdates({ timeCharacteristic: this.eventTime ? 'event-time' : 'processing-time', allowedLatenessMs: this.lateness, trigger: config.trigger });
    const f = config.function;
    switch (f.kind) {
      case 'aggregations': {
        const aggregator = createAggregator(f.aggregations);
        this.aggregator = aggregator;
        this.contentsDescriptor = {
          kind: 'aggregating',
          name: CONTENTS,
          aggregate: {
            createAccumulator: () => aggregator.createAccumulator(),
            add: (value, acc) => aggregator.add(acc, value, this.currentTimestamp),
            getResult: (acc) => aggregator.getResult(acc),
            merge: (a, b) => aggregator.merge(a, b),
          },
        };
        break;
      }
      case 'reduce':
        this.contentsDescriptor = { kind: 'reducing', name: CONTENTS, reduce: fn(f.reduce) as (a: unknown, b: unknown) => unknown };
        this.result = f.process !== undefined ? (fn(f.process) as ResultFn) : undefined;
        break;
      case 'aggregate':
        this.contentsDescriptor = { kind: 'aggregating', name: CONTENTS, aggregate: fn(f.aggregate) as AggregateFunction<unknown, unknown, unknown> };
        this.result = f.process !== undefined ? (fn(f.process) as ResultFn) : undefined;
        break;
      case 'process':
        this.contentsDescriptor = { kind: 'list', name: CONTENTS };
        this.process = fn(f.process) as ProcessFn;
        break;
    }
    const assigner = config.assigner;
    if (assigner.kind === 'session') {
      const dynamic = assigner.dynamicGap !== undefined ? (fn(assigner.dynamicGap) as (value: unknown) => unknown) : undefined;
      const fixed = assigner.gapMs ?? 0;
      this.gapOf = dynamic
        ? (value) => {
            const gap = dynamic(value);
            if (typeof gap !== 'number' || !(gap > 0)) throw new TypeError(`the session gap function returned ${JSON.stringify(gap)}; it must return a positive number of milliseconds`);
            return gap;
          }
        : () => fixed;
    }
    this.triggerCtx = {
      currentWatermark: () => this.currentWatermark,
      currentProcessingTime: () => this.ctx.processingTime.now(),
      registerEventTimeTimer: (time) => this.timerService.registerEventTimeTimer(this.backend.getCurrentNamespace(), time),
      registerProcessingTimeTimer: (time) => this.timerService.registerProcessingTimeTimer(this.backend.getCurrentNamespace(), time),
      deleteEventTimeTimer: (time) => this.timerService.deleteEventTimeTimer(this.backend.getCurrentNamespace(), time),
      deleteProcessingTimeTimer: (time) => this.timerService.deleteProcessingTimeTimer(this.backend.getCurrentNamespace(), time),
      getValue: (name) => this.triggerState.get(name),
      setValue: (name, value) => (value === undefined ? this.triggerState.remove(name) : this.triggerState.put(name, value)),
    };
  }

  private get timerService() {
    return this.useTimers();
  }

  override open(): void {
    const backend = this.backend;
    this.contents = backend.getState(this.contentsDescriptor);
    this.triggerState = backend.getState({ kind: 'map', name: TRIGGER_STATE }) as MapState<string, unknown>;
    this.emitted = backend.getState({ kind: 'value', name: EMITTED }) as ValueState<unknown[]>;
    this.sessions = backend.getState({ kind: 'value', name: SESSIONS }) as ValueState<Session[]>;
    this.useTimers();
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (kind === RowKind.UPDATE_BEFORE || kind === RowKind.DELETE) {
      throw new Error('a window cannot consume retractions (update-before or delete records); put windows before group aggregations, not after');
    }
    let time: number;
    if (this.eventTime) {
      if (timestamp === NO_TIMESTAMP) {
        throw new Error('the record has no event-time timestamp; give the source a timestamp field, or use a processing-time window');
      }
      time = timestamp;
    } else {
      time = this.ctx.processingTime.now();
    }
    this.currentTimestamp = time;
    if (this.config.assigner.kind === 'session') {
      this.processSession(value, time);
      return;
    }
    let skipped = true;
    const assigner = this.config.assigner;
    const window = this.scratch;
    if (assigner.kind === 'tumbling') {
      window.start = windowStart(time, assigner.offsetMs, assigner.sizeMs);
      window.end = window.start + assigner.sizeMs;
      skipped = !this.addToWindow(value, time, window.start, window);
    } else if (assigner.kind === 'sliding') {
      for (const start of slidingStarts(time, assigner.sizeMs, assigner.slideMs, assigner.offsetMs)) {
        window.start = start;
        window.end = start + assigner.sizeMs;
        if (this.addToWindow(value, time, start, window)) skipped = false;
      }
    } else {
      skipped = !this.addToWindow(value, time, 'global', GLOBAL_WINDOW);
    }
    if (skipped && this.isElementLate(time)) this.late(value, timestamp);
  }

  /** Returns false when the window is already late and the element was not added. */
  private addToWindow(value: unknown, time: number, ns: Namespace, window: TimeWindow): boolean {
    if (this.isWindowLate(window)) return false;
    this.backend.setCurrentNamespace(ns);
    this.contents.add(value);
    const result = this.trigger.onElement(time, window, this.triggerCtx, value);
    if (fires(result)) this.emit(window);
    if (purges(result)) this.purge();
    this.registerCleanupTimer(window);
    return true;
  }

  private processSession(value: unknown, time: number): void {
    const gap = (this.gapOf as (value: unknown) => number)(value);
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    const sessions = this.sessions.value() ?? [];
    const fresh: TimeWindow = { start: time, end: time + gap };
    const touching = sessions.filter((s) => intersects(s, fresh));
    let merged = fresh;
    for (const s of touching) merged = cover(merged, s);
    if (this.isWindowLate(merged)) {
      if (this.isElementLate(time)) this.late(value, time);
      return;
    }
    const first = touching[0];
    let ns: string;
    if (first !== undefined && touching.length === 1 && first.start === merged.start && first.end === merged.end) {
      // Inside an existing session: nothing merges, so its trigger keeps its state and timers (Flink calls no merge then).
      ns = first.ns;
    } else {
      ns = first?.ns ?? String(time);
      this.mergeSessions(sessions, touching, merged, ns);
    }
    this.backend.setCurrentNamespace(ns);
    this.contents.add(value);
    const result = this.trigger.onElement(time, merged, this.triggerCtx, value);
    if (fires(result)) this.emit(merged);
    if (purges(result)) this.purge();
    this.registerCleanupTimer(merged);
  }

  /**
   * Replaces the `touching` sessions by `merged`, whose state lives in namespace `keep`:
   * their contents merge into it, their triggers are cleared and then folded into the
   * merged window's (onMerge), and their cleanup timers go.
   */
  private mergeSessions(sessions: readonly Session[], touching: readonly Session[], merged: TimeWindow, keep: string): void {
    // Every merged session's last results stand downstream until the merged window fires and retracts them.
    let emitted: unknown[] | undefined;
    const triggerValues: TriggerValues[] = [];
    for (const s of touching) {
      this.backend.setCurrentNamespace(s.ns);
      if (this.updates) {
        const previous = this.emitted.value();
        if (previous !== undefined) emitted = emitted === undefined ? previous : emitted.concat(previous);
      }
      if (this.triggerKeepsState) triggerValues.push(new Map(this.triggerState.entries()));
      // The old windows' timers would fire at their old ends: remove them.
      this.trigger.clear(s, this.triggerCtx);
      if (this.triggerKeepsState) this.triggerState.clear();
      this.deleteCleanupTimer(s);
      if (this.updates) this.emitted.clear();
    }
    const merging = touching.filter((s) => s.ns !== keep).map((s) => s.ns);
    if (merging.length > 0) {
      this.backend.setCurrentNamespace(keep);
      this.backend.mergeNamespaces(CONTENTS, keep, merging);
    }
    const remaining = sessions.filter((s) => !touching.includes(s));
    remaining.push({ start: merged.start, end: merged.end, ns: keep });
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    this.sessions.update(remaining);
    this.backend.setCurrentNamespace(keep);
    if (emitted !== undefined) this.emitted.update(emitted);
    if (touching.length > 0) this.trigger.onMerge(merged, this.triggerCtx, triggerValues);
  }

  override onEventTime(timer: InternalTimer): void {
    const window = this.windowOf(timer.namespace);
    if (!window) return;
    this.backend.setCurrentNamespace(timer.namespace);
    const result = this.trigger.onEventTime(timer.timestamp, window, this.triggerCtx);
    const cleanup = this.eventTime && timer.timestamp === this.cleanupTime(window);
    if (fires(result)) this.emit(window, !cleanup);
    if (purges(result)) this.purge();
    if (cleanup) this.clearWindow(window, timer.namespace, true);
  }

  override onProcessingTime(timer: InternalTimer): void {
    const window = this.windowOf(timer.namespace);
    if (!window) return;
    this.backend.setCurrentNamespace(timer.namespace);
    const result = this.trigger.onProcessingTime(timer.timestamp, window, this.triggerCtx);
    const cleanup = !this.eventTime && window.end !== Number.POSITIVE_INFINITY && timer.timestamp === this.cleanupTime(window);
    if (fires(result)) this.emit(window, !cleanup);
    if (purges(result)) this.purge();
    if (cleanup) this.clearWindow(window, timer.namespace, false);
  }

  private windowOf(ns: Namespace): TimeWindow | undefined {
    const assigner = this.config.assigner;
    switch (assigner.kind) {
      case 'tumbling':
      case 'sliding':
        return { start: ns as number, end: (ns as number) + assigner.sizeMs };
      case 'global':
        return GLOBAL_WINDOW;
      case 'session': {
        this.backend.setCurrentNamespace(VOID_NAMESPACE);
        const session = (this.sessions.value() ?? []).find((s) => s.ns === ns);
        this.backend.setCurrentNamespace(ns);
        return session;
      }
    }
  }

  /** `timerFired`: the window's own event-time timer is the one firing now, so it needs no deleting. */
  private clearWindow(window: TimeWindow, ns: Namespace, timerFired: boolean): void {
    this.backend.setCurrentNamespace(ns);
    this.contents.clear();
    if (!(timerFired && this.cleanupIsTriggerTimer)) this.trigger.clear(window, this.triggerCtx);
    if (this.triggerKeepsState) this.triggerState.clear();
    if (this.updates) this.emitted.clear();
    if (this.config.assigner.kind === 'session') {
      this.backend.setCurrentNamespace(VOID_NAMESPACE);
      const rest = (this.sessions.value() ?? []).filter((s) => s.ns !== ns);
      if (rest.length > 0) this.sessions.update(rest);
      else this.sessions.clear();
      this.backend.setCurrentNamespace(ns);
    }
  }

  /**
   * A purge empties the window: its next result covers only what arrives after, so it
   * is a new result (INSERT), not an update of the one emitted before.
   */
  private purge(): void {
    this.contents.clear();
    if (this.updates) this.emitted.clear();
  }

  /** `remember`: the window may fire again, so what it emits now must be retractable later. */
  private emit(window: TimeWindow, remember = true): void {
    const firing = this.ctx.firing;
    firing.start = window.start;
    firing.end = window.end;
    try {
      this.emitResult(window, remember);
    } finally {
      firing.start = Number.NaN;
      firing.end = Number.NaN;
      this.pending.length = 0;
    }
  }

  private emitResult(window: TimeWindow, remember: boolean): void {
    const key = this.backend.getCurrentKey();
    const max = maxTimestamp(window);
    const timestamp = max === Number.POSITIVE_INFINITY ? this.currentTimestamp : max;
    const f = this.config.function;
    if (this.aggregator) {
      // The common case, kept free of closures: one result record per firing.
      const result = (this.contents as AggregatingState<unknown, unknown>).get() as Record<string, unknown> | undefined;
      if (result === undefined) return;
      const record: Record<string, unknown> = window === GLOBAL_WINDOW ? { key } : { key, windowStart: window.start, windowEnd: window.end };
      for (const field in result) record[field] = result[field];
      if (!this.updates) {
        this.output.collect(record, timestamp, RowKind.INSERT);
        return;
      }
      this.pending.push(record);
    } else {
      const pending = this.pending;
      const out = this.updates
        ? { collect: (value: unknown) => void pending.push(value) }
        : { collect: (value: unknown) => this.output.collect(value, timestamp, RowKind.INSERT) };
      const view: WindowContext = { start: window.start, end: window.end, maxTimestamp: max, currentWatermark: this.currentWatermark };
      if (f.kind === 'process') {
        const elements = (this.contents as ListState<unknown>).get();
        if (elements.length === 0) return;
        (this.process as ProcessFn)(key, view, elements, out);
      } else {
        const result = this.contents.get();
        if (result === undefined) return;
        if (this.result) this.result(key, view, result, out);
        else out.collect(result);
      }
      if (!this.updates) return;
    }
    this.emitUpdates(timestamp, remember);
  }

  /**
   * Emits the firing's results (`pending`) against the ones the window emitted last:
   * the first results are INSERTs; later ones retract the previous results first
   * (UPDATE_BEFORE, or DELETE when nothing replaces them) and follow as UPDATE_AFTER,
   * unless they are the same, when nothing changed downstream (Flink compares too).
   */
  private emitUpdates(timestamp: number, remember: boolean): void {
    const next = this.pending;
    const previous = this.emitted.value();
    if (previous === undefined) {
      for (const value of next) this.output.collect(value, timestamp, RowKind.INSERT);
    } else {
      if (sameValue(previous, next)) return;
      const retraction = next.length === 0 ? RowKind.DELETE : RowKind.UPDATE_BEFORE;
      for (const value of previous) this.output.collect(value, timestamp, retraction);
      for (const value of next) this.output.collect(value, timestamp, RowKind.UPDATE_AFTER);
    }
    if (!remember) return;
    // A copy: downstream functions chained to this one might change the records they got.
    if (next.length > 0) this.emitted.update(next.map(copyRecord));
    else if (previous !== undefined) this.emitted.clear();
  }

  private late(value: unknown, timestamp: number): void {
    if (this.ctx.connectedOutputs.has('late')) {
      this.output.collectSide('late', value, timestamp);
      this.ctx.metrics.lateRecordsRouted++;
    } else {
      this.ctx.metrics.lateRecordsDropped++;
    }
  }

  private isWindowLate(window: TimeWindow): boolean {
    return this.eventTime && this.cleanupTime(window) <= this.currentWatermark;
  }

  private isElementLate(time: number): boolean {
    return this.eventTime && time + this.lateness <= this.currentWatermark;
  }

  private cleanupTime(window: TimeWindow): number {
    const max = maxTimestamp(window);
    return this.eventTime ? max + this.lateness : max;
  }

  private registerCleanupTimer(window: TimeWindow): void {
    if (window.end === Number.POSITIVE_INFINITY || this.cleanupIsTriggerTimer) return;
    const time = this.cleanupTime(window);
    if (this.eventTime) this.timerService.registerEventTimeTimer(this.backend.getCurrentNamespace(), time);
    else this.timerService.registerProcessingTimeTimer(this.backend.getCurrentNamespace(), time);
  }

  private deleteCleanupTimer(session: Session): void {
    const time = this.cleanupTime(session);
    this.backend.setCurrentNamespace(session.ns);
    if (this.eventTime) this.timerService.deleteEventTimeTimer(session.ns, time);
    else this.timerService.deleteProcessingTimeTimer(session.ns, time);
  }
}

/**
 * A deep copy of a plain record (objects, arrays, primitives), some 50 times cheaper than
 * structuredClone for the small records windows emit; anything else, or anything
 * deeper than a record usually is, goes to structuredClone.
 */
function copyRecord(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > 16) return structuredClone(value);
  if (Array.isArray(value)) return value.map((item) => copyRecord(item, depth + 1));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const field in value) copy[field] = copyRecord((value as Record<string, unknown>)[field], depth + 1);
  return copy;
}

function makeTrigger(config: WindowOperatorConfig, fn: CodeLoader): Trigger {
  const t = config.trigger;
  let trigger: Trigger;
  switch (t.kind) {
    case 'default':
      trigger = config.timeCharacteristic === 'event-time' ? new EventTimeTrigger() : new ProcessingTimeTrigger();
      break;
    case 'count':
      trigger = new CountTrigger(t.count);
      break;
    case 'continuous-event-time':
      trigger = new ContinuousEventTimeTrigger(t.intervalMs);
      break;
    case 'continuous-processing-time':
      trigger = new ContinuousProcessingTimeTrigger(t.intervalMs);
      break;
    case 'custom':
      if (config.assigner.kind === 'session') {
        // Flink's WindowedStream.trigger: "A merging window assigner cannot be used with a trigger that does not support merging."
        throw new Error('session windows merge, and a custom trigger cannot merge its state; use the default, count or continuous trigger with session windows');
      }
      trigger = new UserCodeTrigger(fn(t.trigger) as ConstructorParameters<typeof UserCodeTrigger>[0]);
      break;
  }
  return t.purging ? new PurgingTrigger(trigger) : trigger;
}
