/**
 * `cep`: complex event processing per key, after Flink CEP's CepOperator in event
 * time. The pattern automaton itself is in cep/nfa.ts (compilation, contiguity,
 * quantifiers, after-match skip, `within`); this file is the operator around it.
 *
 * ## Event time, as Flink's CepOperator
 *
 * A record is not matched when it arrives: records of one timestamp may still be
 * ahead of records of an earlier one. It is buffered per key by timestamp, and a
 * key's buffered records are matched when the watermark passes them, in timestamp
 * order (records with the same timestamp in arrival order):
 *
 *   processElement: timestamp <= watermark? late: count in lateRecordsDropped, drop
 *                   otherwise buffer[timestamp].push(record); wake-up timer <= timestamp
 *   onEventTime:    for each buffered timestamp t <= watermark, ascending:
 *                     advanceTime(t)      (time out partial matches older than within)
 *                     match t's records   (emit completed matches)
 *                   advanceTime(watermark)
 *                   wake-up timer := min(next buffered timestamp, next timeout)
 *
 * Flink re-registers a timer at `watermark + 1` whenever a key has buffered records or
 * partial matches; one timer per key at the next time anything can happen fires on the
 * same watermarks with the same effect, and wakes fewer keys. A record without an
 * event-time timestamp fails the task (CEP here runs in event time only). Retractions
 * fail it too: the catalog declares that `cep` does not consume changelogs.
 *
 * ## Outputs
 *
 * A match is emitted as `select(match)` when a select function is configured, else as
 * the match itself: `{ stepName: records[] }` for the steps that matched records, in
 * step order. Its timestamp is that of the record that completed it (Flink's
 * `processMatchedSequences(…, timestamp)`), so the last matched record's. A match
 * that a skip strategy held back and that is released only when a partial match times
 * out carries the time it is released at, as in Flink (at the end of input, whose
 * final watermark is no time, the time those partial matches timed out); that time
 * is never below the watermark already forwarded, so the match is never late
 * downstream.
 *
 * A partial match that times out goes to the `timed-out` side output as
 * `{ key, matched: { stepName: records[] } }` with timestamp `first + within` (Flink's
 * TimedOutPartialMatchHandler), when that output is connected; otherwise it is
 * dropped. At the end of a bounded input (the final watermark) every partial match of
 * a pattern with `within` times out; without `within` they are dropped silently, as
 * Flink does.
 *
 * ## State
 *
 * All per-key data is keyed state of plain JSON, so snapshots and restores (also at
 * another parallelism) carry it: `cep-buffer` (map: timestamp → records),
 * `cep-nfa` (partial matches, held-back completed matches, record counter) and
 * `cep-wake-up` (the time of the key's registered timer); the timer itself is
 * snapshotted with the keyed state.
 */
import { NO_TIMESTAMP, RowKind } from '../api/elements.js';
import { AbstractOperator } from '../api/operator.js';
import type { MapState, ValueState } from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { InternalTimer } from '../api/time.js';
import { compileConditions, type ConditionSpec } from '../functions/conditions.js';
import type { OperatorEnv } from '../registry.js';
import {
  compilePattern,
  emptyNfaState,
  Nfa,
  type AfterMatchSkip,
  type Contiguity,
  type NfaState,
  type PartialMatch,
  type PatternContext,
  type Quantifier,
  type StepCondition,
} from './cep/nfa.js';

/** One step of the `cep` catalog entry's config, after defaults. */
export interface PatternStepConfig {
  readonly name: string;
  /** User code `(value, ctx) => boolean`; `ctx.events(step)` gives the records already matched for a step. */
  readonly where?: string | undefined;
  /** Field conditions that must all hold; used when there is no `where`. */
  readonly conditions?: readonly ConditionSpec[] | undefined;
  readonly quantifier: Quantifier;
  readonly optional: boolean;
  readonly contiguity: Contiguity;
}

/** The `cep` catalog entry's config, after defaults. */
export interface CepOperatorConfig {
  readonly steps: readonly PatternStepConfig[];
  readonly withinMs?: number | undefined;
  readonly afterMatchSkip: AfterMatchSkip;
  /** User code `(match) => output`; without it the match object is emitted. */
  readonly select?: string | undefined;
}

type SelectFn = (match: Readonly<Record<string, readonly unknown[]>>) => unknown;

const BUFFER = 'cep-buffer';
const NFA_STATE = 'cep-nfa';
const WAKE_UP = 'cep-wake-up';
export const TIMED_OUT_OUTPUT = 'timed-out';

export class CepOperator extends AbstractOperator<unknown> {
  private readonly nfa: Nfa;
  private readonly withinMs: number | undefined;
  private readonly select: SelectFn | undefined;
  private buffer!: MapState<number, unknown[]>;
  private nfaState!: ValueState<NfaState>;
  private wakeUp!: ValueState<number>;
  private handleTimeout = false;

  constructor(config: CepOperatorConfig, env: Pick<OperatorEnv, 'fn'>) {
    super();
    const pattern = compilePattern(config.steps);
    const conditions = config.steps.map((step) => stepCondition(step, env));
    this.withinMs = config.withinMs !== undefined && config.withinMs > 0 ? config.withinMs : undefined;
    this.nfa = new Nfa(pattern, conditions, this.withinMs, config.afterMatchSkip);
    this.select = config.select !== undefined ? (env.fn(config.select) as SelectFn) : undefined;
  }

  override open(): void {
    const backend = this.backend;
    this.buffer = backend.getState({ kind: 'map', name: BUFFER }) as MapState<number, unknown[]>;
    this.nfaState = backend.getState({ kind: 'value', name: NFA_STATE }) as ValueState<NfaState>;
    this.wakeUp = backend.getState({ kind: 'value', name: WAKE_UP }) as ValueState<number>;
    this.handleTimeout = this.ctx.connectedOutputs.has(TIMED_OUT_OUTPUT);
    this.useTimers();
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    if (kind === RowKind.UPDATE_BEFORE || kind === RowKind.DELETE) {
      throw new Error('a pattern (cep) cannot consume retractions (update-before or delete records); match on an append-only stream');
    }
    if (timestamp === NO_TIMESTAMP) {
      throw new Error('the record has no event-time timestamp; a pattern (cep) matches in event time: give the source a timestamp field');
    }
    // Flink: events with a timestamp at or behind the last seen watermark are late.
    if (timestamp <= this.currentWatermark) {
      this.ctx.metrics.lateRecordsDropped++;
      return;
    }
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    const list = this.buffer.get(timestamp);
    if (list) {
      list.push(value);
      this.buffer.put(timestamp, list);
    } else {
      this.buffer.put(timestamp, [value]);
    }
    this.wakeUpBy(timestamp);
  }

  override onEventTime(timer: InternalTimer): void {
    this.backend.setCurrentNamespace(VOID_NAMESPACE);
    if (this.wakeUp.value() === timer.timestamp) this.wakeUp.clear();
    const watermark = this.currentWatermark;
    const state = this.nfaState.value() ?? emptyNfaState();
    const due = this.buffer
      .keys()
      .filter((t) => t <= watermark)
      .sort((a, b) => a - b);
    for (const t of due) {
      this.advanceTime(state, t);
      const records = this.buffer.get(t) ?? [];
      this.buffer.remove(t);
      for (const record of records) this.emitMatches(this.nfa.process(state, record, t), t);
    }
    this.advanceTime(state, watermark);
    if (state.p.length === 0 && state.c.length === 0) this.nfaState.clear();
    else this.nfaState.update(state);
    this.wakeUpBy(this.nextWakeUp(state));
  }

  private advanceTime(state: NfaState, timestamp: number): void {
    const { matches, timedOut } = this.nfa.advanceTime(state, timestamp);
    const within = this.withinMs ?? 0;
    if (matches.length > 0) {
      // Released because partial matches holding them back timed out. Flink stamps them with the time
      // being advanced to; the final watermark (+Infinity) is no record time, so then: when those timed out.
      let released = timestamp;
      if (released === Number.POSITIVE_INFINITY) released = Math.max(...timedOut.map((pm) => pm.t + within));
      this.emitMatches(matches, released);
    }
    if (timedOut.length === 0 || !this.handleTimeout) return;
    const key = this.backend.getCurrentKey();
    for (const pm of timedOut) {
      this.output.collectSide(TIMED_OUT_OUTPUT, { key, matched: this.nfa.materialize(pm) }, pm.t + within);
    }
  }

  private emitMatches(matches: readonly PartialMatch[], timestamp: number): void {
    for (const pm of matches) {
      const match = this.nfa.materialize(pm);
      this.output.collect(this.select ? this.select(match) : match, timestamp);
    }
  }

  /** The earliest time the key needs its timer: its next buffered timestamp, or its first partial match's timeout. */
  private nextWakeUp(state: NfaState): number {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.buffer.keys()) if (t < next) next = t;
    if (this.withinMs !== undefined) for (const pm of state.p) next = Math.min(next, pm.t + this.withinMs);
    return next;
  }

  /** Makes sure the key's single timer fires no later than `time` (Infinity: no timer needed). */
  private wakeUpBy(time: number): void {
    if (time === Number.POSITIVE_INFINITY) return;
    const timers = this.useTimers();
    const current = this.wakeUp.value();
    if (current !== undefined && current <= time) return;
    if (current !== undefined) timers.deleteEventTimeTimer(VOID_NAMESPACE, current);
    timers.registerEventTimeTimer(VOID_NAMESPACE, time);
    this.wakeUp.update(time);
  }
}

function stepCondition(step: PatternStepConfig, env: Pick<OperatorEnv, 'fn'>): StepCondition {
  if (step.where !== undefined) {
    const where = env.fn(step.where) as (value: unknown, ctx: PatternContext) => unknown;
    return (value, ctx) => {
      try {
        return where(value, ctx) === true;
      } catch (error) {
        // As Flink's "Failure happened in filter function.", naming the step.
        throw new Error(`the condition of pattern step '${step.name}' failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    };
  }
  if (step.conditions !== undefined) {
    const test = compileConditions({ match: 'all', conditions: step.conditions });
    return (value) => test(value);
  }
  return () => true;
}
