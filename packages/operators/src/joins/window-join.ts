/**
 * Window join, after Flink's DataStream `join(...).where(...).equalTo(...).window(...)`
 * (JoinedStreams: a coGroup over a keyed, windowed union of both inputs with the
 * default event-time trigger).
 *
 * Each element goes into the windows of its timestamp (tumbling, sliding or
 * session), into its side's list for that window. When the watermark reaches the
 * window's maxTimestamp (end - 1), the window emits the cross product of its left
 * and right elements, each pair once, with the window's maxTimestamp as timestamp,
 * and is cleared. An inner join: a window with elements on one side only emits
 * nothing.
 *
 * Session windows merge per key across both sides, as in Flink where both inputs
 * share one WindowOperator: an element of either side that bridges two sessions
 * merges them, and both sides' lists merge into the surviving session's namespace.
 *
 * Lateness is the WindowOperator's with zero allowed lateness: a window whose
 * maxTimestamp is at or before the watermark has fired, so an element for it is
 * skipped; an element skipped by all its windows is dropped and counted in
 * `lateRecordsDropped` (the join has no `late` output).
 */
import { NO_TIMESTAMP, RowKind } from '../api/elements.js';
import type { FunctionContext } from '../api/functions.js';
import { AbstractTwoInputOperator, type InternalTimerService, type OperatorContext } from '../api/operator.js';
import type { Output } from '../api/output.js';
import type { ListState, Namespace, ValueState } from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { InternalTimer } from '../api/time.js';
import type { OperatorEnv } from '../registry.js';
import { cover, intersects, maxTimestamp, windowStart, type TimeWindow } from '../windows/assigners.js';
import type { WindowAssignerConfig } from '../windows/window-operator.js';

export type WindowJoinAssigner = Exclude<WindowAssignerConfig, { readonly kind: 'global' }>;

export interface WindowJoinConfig {
  readonly assigner: WindowJoinAssigner;
  /** Source of `(left, right, ctx) => output`; without it the output is `{ left, right }`. */
  readonly fn?: string | undefined;
}

/** What the join function sees besides the pair. */
export interface WindowJoinContext extends FunctionContext {
  windowStart: number;
  windowEnd: number;
}

type JoinFn = (left: unknown, right: unknown, ctx: WindowJoinContext) => unknown;

interface Session {
  start: number;
  end: number;
  /** The state namespace of the session: the timestamp of its first element, which it always contains. */
  readonly ns: number;
}

const LEFT_CONTENTS = 'window-join-left';
const RIGHT_CONTENTS = 'window-join-right';
const SESSIONS = 'window-join-sessions';

export class WindowJoinOperator extends AbstractTwoInputOperator<unknown, unknown> {
  private readonly assigner: WindowJoinAssigner;
  private readonly join: JoinFn | undefined;
  private readonly gapOf: ((value: unknown) => number) | undefined;
  private left!: ListState<unknown>;
  private right!: ListState<unknown>;
  private sessions!: ValueState<Session[]>;
  private windowTimers!: InternalTimerService;
  private fctx!: WindowJoinContext;

  constructor(config: WindowJoinConfig, env: OperatorEnv) {
    super();
    const assigner = config.assigner;
    this.assigner = assigner;
    switch (assigner.kind) {
      case 'tumbling':
        if (!(assigner.sizeMs > 0)) throw new Error(`window join: the window size must be positive, got ${assigner.sizeMs}`);
        break;
      case 'sliding':
        if (!(assigner.sizeMs > 0) || !(assigner.slideMs > 0)) {
          throw new Error(`window join: size and slide must be positive, got size ${assigner.sizeMs} and slide ${assigner.slideMs}`);
        }
        break;
      case 'session': {
        const dynamic = assigner.dynamicGap !== undefined ? (env.fn(assigner.dynamicGap) as (value: unknown) => unknown) : undefined;
        const fixed = assigner.gapMs;
        if (!dynamic && !(fixed !== undefined && fixed > 0)) throw new Error('window join: a session window needs a positive gapMs or a dynamicGap function');
        this.gapOf = dynamic
          ? (value) => {
              const gap = dynamic(value);
              if (typeof gap !== 'number' || !(gap > 0)) throw new TypeError(`the session gap function returned ${JSON.stringify(gap)}; it must return a positive number of milliseconds`);
              return gap;
            }
          : () => fixed as number;
        break;
      }
    }
    this.join = config.fn !== undefined ? (env.fn(config.fn) as JoinFn) : undefined;
  }

  override setup(ctx: OperatorContext, output: Output<unknown>): void {
    super.setup(ctx, output);
    this.fctx = { timestamp: 0, windowStart: 0, windowEnd: 0, nodeId: ctx.nodeId, subtaskIndex: ctx.subtaskIndex, parallelism: ctx.parallelism, attemptNumber: ctx.attemptNumber };
  }

  override open(): void {
    const backend = this.backend;
    this.left = backend.getState({ kind: 'list', name: LEFT_CONTENTS });
    this.right = backend.getState({ kind: 'list', name: RIGHT_CONTENTS });
    this.sessions = backend.getState({ kind: 'value', name: SESSIONS }) as ValueState<Session[]>;
    this.windowTimers = this.useTimers();
  }

  processElement1(value: unknown, timestamp: number, kind: RowKind): void {
    this.add(value, timestamp, kind, this.left);
  }

  processElement2(value: unknown, timestamp: number, kind: RowKind): void {
    this.add(value, timestamp, kind, this.right);
  }

  override onEventTime(timer: InternalTimer): void {
    const ns = timer.namespace as number;
    const assigner = this.assigner;
    if (assigner.kind !== 'session') {
      this.fire(ns, ns, ns + assigner.sizeMs);
      return;
    }
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    const sessions = this.sessions.value() ?? [];
    const session = sessions.find((s) => s.ns === ns);
    // A timer of a session that has since merged into a later one is deleted, so this is defensive.
    if (!session || maxTimestamp(session) !== timer.timestamp) return;
    const rest = sessions.filter((s) => s !== session);
    if (rest.length > 0) this.sessions.update(rest);
    else this.sessions.clear();
    this.fire(ns, session.start, session.end);
  }

  private add(value: unknown, timestamp: number, kind: RowKind, side: ListState<unknown>): void {
    if (kind === RowKind.UPDATE_BEFORE || kind === RowKind.DELETE) {
      throw new Error('window join: cannot consume retractions (update-before or delete records); use a regular join for changelog inputs');
    }
    if (timestamp === NO_TIMESTAMP) {
      throw new Error('window join: the record has no event-time timestamp; window joins need event time, so give both sources a timestamp field or assigner');
    }
    const assigner = this.assigner;
    let added = false;
    switch (assigner.kind) {
      case 'tumbling': {
        const start = windowStart(timestamp, assigner.offsetMs, assigner.sizeMs);
        added = this.addToWindow(side, value, start, start + assigner.sizeMs);
        break;
      }
      case 'sliding': {
        // The starts of assigners.slidingStarts, walked without building the list.
        const { sizeMs, slideMs, offsetMs } = assigner;
        for (let start = windowStart(timestamp, offsetMs, slideMs); start > timestamp - sizeMs; start -= slideMs) {
          if (this.addToWindow(side, value, start, start + sizeMs)) added = true;
        }
        break;
      }
      case 'session':
        added = this.addToSession(side, value, timestamp);
        break;
    }
    if (!added) this.ctx.metrics.lateRecordsDropped++;
  }

  /** Returns false when the window has fired already (it is late) and the element was not added. */
  private addToWindow(side: ListState<unknown>, value: unknown, start: number, end: number): boolean {
    const fireAt = end - 1;
    if (fireAt <= this.currentWatermark) return false;
    this.backend.setCurrentNamespace(start);
    side.add(value);
    this.windowTimers.registerEventTimeTimer(start, fireAt);
    return true;
  }

  private addToSession(side: ListState<unknown>, value: unknown, timestamp: number): boolean {
    const gap = (this.gapOf as (value: unknown) => number)(value);
    const backend = this.backend;
    backend.setCurrentNamespace(VOID_NAMESPACE);
    const sessions = this.sessions.value() ?? [];
    let merged: TimeWindow = { start: timestamp, end: timestamp + gap };
    const touching = sessions.filter((s) => intersects(s, merged));
    for (const s of touching) merged = cover(merged, s);
    if (maxTimestamp(merged) <= this.currentWatermark) return false;
    const first = touching[0];
    const keep = first ? first.ns : timestamp;
    const merging: Namespace[] = [];
    for (const s of touching) {
      // The merged-away sessions' timers would fire at their old ends: remove them.
      this.windowTimers.deleteEventTimeTimer(s.ns, maxTimestamp(s));
      if (s.ns !== keep) merging.push(s.ns);
    }
    if (merging.length > 0) {
      backend.setCurrentNamespace(keep);
      backend.mergeNamespaces(LEFT_CONTENTS, keep, merging);
      backend.mergeNamespaces(RIGHT_CONTENTS, keep, merging);
    }
    if (touching.length === 1 && first && first.start === merged.start && first.end === merged.end) {
      // Inside an existing session: the session list does not change.
    } else {
      const next = touching.length === 0 ? sessions : sessions.filter((s) => !touching.includes(s));
      next.push({ start: merged.start, end: merged.end, ns: keep });
      backend.setCurrentNamespace(VOID_NAMESPACE);
      this.sessions.update(next);
    }
    backend.setCurrentNamespace(keep);
    side.add(value);
    this.windowTimers.registerEventTimeTimer(keep, maxTimestamp(merged));
    return true;
  }

  /** Emits left × right of the window in namespace `ns` and clears it. */
  private fire(ns: number, start: number, end: number): void {
    this.backend.setCurrentNamespace(ns);
    const lefts = this.left.get();
    const rights = this.right.get();
    if (lefts.length > 0 && rights.length > 0) {
      const timestamp = end - 1;
      const fctx = this.fctx;
      fctx.timestamp = timestamp;
      fctx.windowStart = start;
      fctx.windowEnd = end;
      const join = this.join;
      for (const l of lefts) {
        for (const r of rights) this.output.collect(join ? join(l, r, fctx) : { left: l, right: r }, timestamp, RowKind.INSERT);
      }
    }
    this.left.clear();
    this.right.clear();
  }
}
