/**
 * Fused chains of sandboxed functions. Where consecutive map, filter and flat-map operators
 * of a task's chain all run in its sandbox, and each hands its main output to the next one
 * only, the first of them runs the whole run of functions in one batch call
 * (FusedBatch, TaskSandbox.fuse): records cross into the isolate once and only what the
 * last function emits crosses back. Record for record, the functions are applied depth
 * first, as chained calls in the task would apply them.
 *
 * What the operators between would have counted (records in and out) is added from the
 * counts the isolate returns. A record tap on an output inside a fused run needs those
 * records on the host: while one is attached there, the run is split back into one batch
 * call per operator (`tapped`), and fused again when the last such tap goes.
 *
 * Busy time: the task times the head's batch in full (its runBatch) and counts it for the
 * head, whose time includes the run's later operators; each later operator is given its
 * part of the call (its function's share of the times the isolate measures on some
 * batches, StageShares) and the emitting after it.
 */
import { isFusableBatchOperator, type AnyOperator, type FunctionContext, type FusableBatchOperator, type Output } from '@sluice/operators';
import type { ChainedOperatorPlan, OutputTarget } from '../compile/plan.js';
import type { TaskSandbox } from './sandbox.js';

interface Counters {
  recordsIn: number;
  recordsOut: number;
  /** Busy time including the operators it is chained to (the task's OperatorCounters). */
  inclusiveMs: number;
}

interface FusedRun {
  readonly first: number;
  readonly last: number;
  readonly head: FusableBatchOperator;
  readonly fused: Parameters<FusableBatchOperator['fuse']>[0];
  /** Operators of the run whose main output has a tap attached. */
  readonly tapped: Set<number>;
}

export class ChainFusion {
  private readonly runs: FusedRun[] = [];

  constructor(
    sandbox: TaskSandbox,
    plans: readonly ChainedOperatorPlan[],
    operators: readonly AnyOperator[],
    outputs: readonly Output<unknown>[],
    counters: readonly Counters[],
  ) {
    let first = 0;
    while (first < operators.length) {
      let last = first;
      while (last + 1 < operators.length && fusableAt(plans, operators, last) && handsOnlyTo(plans[last] as ChainedOperatorPlan, last + 1)) last++;
      if (last > first) this.fuseRun(sandbox, plans, operators, outputs, counters, first, last);
      first = last + 1;
    }
  }

  private fuseRun(
    sandbox: TaskSandbox,
    plans: readonly ChainedOperatorPlan[],
    operators: readonly AnyOperator[],
    outputs: readonly Output<unknown>[],
    counters: readonly Counters[],
    first: number,
    last: number,
  ): void {
    const members = operators.slice(first, last + 1) as unknown as FusableBatchOperator[];
    const run = sandbox.fuse(members.map((op, i) => ({ fn: op.batchFunction as NonNullable<FusableBatchOperator['batchFunction']>, nodeId: (plans[first + i] as ChainedOperatorPlan).nodeId })));
    if (!run) return;
    const shares = new StageShares(members.length);
    let callMs = 0;
    let returned = 0;
    const fused = {
      run: (values: unknown[], timestamps: number[], ctx: FunctionContext) => {
        const started = performance.now();
        const result = run(values, timestamps, ctx, shares.due());
        returned = performance.now();
        callMs = returned - started;
        if (result.stageMs) shares.add(result.stageMs, callMs, values.length);
        else shares.untimed(callMs, values.length);
        return result;
      },
      output: outputs[last] as Output<unknown>,
      counted: (stageOutputs: readonly number[]) => {
        // The last operator's records out are counted by its output.
        for (let s = 0; s < stageOutputs.length - 1; s++) {
          const n = stageOutputs[s] as number;
          (counters[first + s] as Counters).recordsOut += n;
          (counters[first + s + 1] as Counters).recordsIn += n;
        }
        // Called once the batch's outputs went on: the time since the call returned is theirs.
        const emitMs = performance.now() - returned;
        for (let s = 1; s < members.length; s++) (counters[first + s] as Counters).inclusiveMs += callMs * shares.from(s) + emitMs;
      },
    };
    const head = members[0] as FusableBatchOperator;
    head.fuse(fused);
    this.runs.push({ first, last, head, fused, tapped: new Set() });
  }

  /** A tap on an operator's main output was attached (true) or removed (false). */
  tapped(operator: number, output: string, attached: boolean): void {
    if (output !== 'main') return;
    const run = this.runs.find((r) => operator >= r.first && operator < r.last);
    if (!run) return;
    if (attached) run.tapped.add(operator);
    else run.tapped.delete(operator);
    run.head.fuse(run.tapped.size === 0 ? run.fused : undefined);
  }
}

/**
 * Each function's share of a fused run's time, from the times measured in the isolate
 * (FusedBatchResult.stageMs), halved now and then so that a change shows within seconds.
 * Nothing measured yet (fast functions take a while to cover a millisecond): the head
 * keeps it all, as it would unsplit.
 *
 * It also says which batches to time. Reading the isolate's clock costs about 150 ns, two
 * or three times per record: a timed batch of cheap functions takes three times as long
 * as an untimed one. One batch in 16 cost the chained benchmark 7 % of its rate. So a
 * batch is timed once the untimed calls since the last timed one took TIMED_EVERY times
 * what timing that one cost (its time beyond what its records took untimed), which keeps
 * the cost near 2 % whatever the functions do. Slow functions, where the clock costs next
 * to nothing, are then timed nearly every batch: a share measured on a few batches only
 * was at the mercy of the scheduler (a thread descheduled for a few ms inside a cheap
 * filter's clock made the filter look like a fifth of a slow flat-map's time).
 */
export class StageShares {
  private readonly ms: Float64Array;
  private total = 0;
  /** What timing the last timed batch cost, in ms; nothing known before the first, which is timed. */
  private clockMs = 0;
  /** Ms and records of the untimed calls since the last timed one. */
  private sinceTimedMs = 0;
  private sinceTimedRecords = 0;
  /** Untimed ms per record, from the calls before the last timed one (0: none yet). */
  private untimedMsPerRecord = 0;

  constructor(stages: number) {
    this.ms = new Float64Array(stages);
  }

  /**
   * Times of one batch of `records` whose call took callMs. Date.now() is wall-clock time:
   * a clock set back or forward during the batch must not skew the shares for long, so
   * each time is kept within the call's (plus the one millisecond a reading can add).
   */
  add(stageMs: ArrayLike<number>, callMs: number, records: number): void {
    for (let s = 0; s < this.ms.length; s++) {
      const ms = Math.min(Math.max(0, stageMs[s] ?? 0), callMs + 1);
      this.ms[s] = (this.ms[s] as number) + ms;
      this.total += ms;
    }
    if (this.total > SHARES_HALVED_AFTER_MS) {
      for (let s = 0; s < this.ms.length; s++) this.ms[s] = (this.ms[s] as number) / 2;
      this.total /= 2;
    }
    if (this.sinceTimedRecords > 0) this.untimedMsPerRecord = this.sinceTimedMs / this.sinceTimedRecords;
    // Before any untimed call there is nothing to compare with: the whole call counts as
    // the clock's, as cautious as can be.
    this.clockMs = this.untimedMsPerRecord > 0 ? Math.max(0, callMs - this.untimedMsPerRecord * records) : callMs;
    this.sinceTimedMs = 0;
    this.sinceTimedRecords = 0;
  }

  /** A batch of `records` that was not timed took callMs. */
  untimed(callMs: number, records: number): void {
    this.sinceTimedMs += callMs;
    this.sinceTimedRecords += records;
  }

  /** Whether the next batch should be timed. */
  due(): boolean {
    return this.sinceTimedMs >= TIMED_EVERY * this.clockMs;
  }

  /** The share of stage `from` and those after it. */
  from(from: number): number {
    if (this.total === 0) return 0;
    let ms = 0;
    for (let s = from; s < this.ms.length; s++) ms += this.ms[s] as number;
    return ms / this.total;
  }
}

/** Measured ms after which the shares' sums are halved. */
const SHARES_HALVED_AFTER_MS = 200;
/** A batch is timed once untimed calls took this many times what timing the last one cost (see StageShares). */
const TIMED_EVERY = 48;

function fusableAt(plans: readonly ChainedOperatorPlan[], operators: readonly AnyOperator[], index: number): boolean {
  const a = operators[index];
  const b = operators[index + 1];
  return a !== undefined && b !== undefined && plans[index + 1] !== undefined && isFusableBatchOperator(a) && isFusableBatchOperator(b);
}

/** The operator's only connected output is its main one, chained to `next` alone. */
function handsOnlyTo(plan: ChainedOperatorPlan, next: number): boolean {
  const routes = Object.entries(plan.outputs);
  if (routes.length !== 1) return false;
  const [name, targets] = routes[0] as [string, readonly OutputTarget[]];
  const target = targets[0];
  return name === 'main' && targets.length === 1 && target?.kind === 'chained' && target.operator === next;
}
