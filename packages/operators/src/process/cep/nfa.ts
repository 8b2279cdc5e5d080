/**
 * The pattern automaton of the `cep` operator, after Flink CEP's NFACompiler and NFA.
 *
 * ## Compiling a pattern
 *
 * A pattern is a sequence of named steps. It compiles, from the last step back to
 * the first, into a graph of nodes whose edges are Flink's three transitions:
 *
 * - TAKE: the record satisfies the step's condition and is added to the partial
 *   match, which moves to the edge's target;
 * - IGNORE: the record is skipped; the partial match moves to the target (often the
 *   same node) without it. Whether an IGNORE edge exists, and when it applies, is the
 *   step's contiguity: none for `strict` (next), "the record does not satisfy the
 *   step" for `relaxed` (followedBy: skip till next match), always for
 *   `non-deterministic-relaxed` (followedByAny: skip till any match, so a record that
 *   satisfies the step both is taken and, in a second branch, skipped);
 * - PROCEED: an epsilon move to the next node without consuming the record, from
 *   optional nodes and loops, so the same record is tried against the next step.
 *
 * The node shapes are Flink's: a step `one` is one node; `times(n)` is n nodes in a
 * row; `times-range(from, to)` is `from` required nodes then `to - from` optional
 * ones (a range from 0 is an optional range from 1, as Flink's `times(0, n)`);
 * `one-or-more` and `times-or-more(n)` are n nodes leading into a looping node with a
 * TAKE edge to itself. An optional node, and the nodes of the optional tail of a
 * range, have a PROCEED edge past the step; their IGNORE edge leads into a copy
 * without the PROCEED edge (so each way of skipping the step branches only once).
 *
 * Contiguity applies to a step's first record relative to the previous step. Inside
 * a quantified step (between its own records) Flink's default holds: relaxed
 * contiguity (skip till next match), which Flink changes only with `consecutive()` or
 * `allowCombinations()`; the catalog has neither. The first step has no previous
 * step: like Flink's `begin`, its contiguity setting does not apply.
 *
 * ## Running it
 *
 * For every record, every partial match (and a fresh, empty one at the start node,
 * Flink's start computation state) follows the edges whose conditions hold,
 * expanding PROCEED edges first ("decision graph"). A TAKE into the final node, or a
 * TAKE into a node from which PROCEED edges reach the final node, completes a match.
 * Conditions see the partial match they would extend: `ctx.events(step)` returns the
 * records it matched for that step so far (Flink's IterativeCondition context).
 *
 * Partial matches are kept as plain data, each with its own list of matched records
 * (Flink shares them in a SharedBuffer with Dewey-numbered versions). That is
 * simpler and checkpoints as JSON, at a cost: a record is stored once per partial
 * match that holds it. Per record the work is O(P · N) condition checks for P live
 * partial matches and N nodes reachable by PROCEED edges, and memory is O(P · L) for
 * matches of length L. P grows with `non-deterministic-relaxed` contiguity (up to
 * exponentially in the number of matching records) and, without `within`, partial
 * matches that can still complete never go away: give patterns a `within`.
 *
 * ## After a match
 *
 * As Flink's NFA (`processMatchesAccordingToSkipStrategy`): completed matches queue
 * by their first record; with a skip strategy other than `no-skip`, a match is only
 * released once no partial match started before it (ties release the match), and
 * releasing it prunes partial and queued matches by their first record:
 *
 * - `no-skip`: nothing is pruned; every match is emitted;
 * - `skip-to-next` (SkipToNextStrategy): those starting at or before the match's first
 *   record, so at most one match per first record;
 * - `skip-past-last-event` (SkipPastLastStrategy): those starting at or before the
 *   match's last record, so matches never overlap.
 *
 * Records are numbered in processing order per key (Flink's EventId: timestamp, then
 * arrival), which is what "before" means above.
 *
 * ## Time
 *
 * `advanceTime(t)` (called before the records of each timestamp and at each
 * watermark) times out every partial match whose first record is `within` or more
 * older than `t` (Flink: `timestamp - startTimestamp >= windowTime`), so a match spans
 * strictly less than `within`. A timed-out partial match carries the time
 * `first timestamp + within`.
 */

export type Contiguity = 'strict' | 'relaxed' | 'non-deterministic-relaxed';

export type Quantifier =
  | { readonly kind: 'one' }
  | { readonly kind: 'times'; readonly times: number }
  | { readonly kind: 'times-range'; readonly from: number; readonly to: number }
  | { readonly kind: 'one-or-more' }
  | { readonly kind: 'times-or-more'; readonly times: number };

export type AfterMatchSkip = 'no-skip' | 'skip-past-last-event' | 'skip-to-next';

/** The shape of one step; its condition is given separately. */
export interface StepShape {
  readonly name: string;
  readonly quantifier: Quantifier;
  readonly optional: boolean;
  readonly contiguity: Contiguity;
}

/** What a step's condition receives besides the record. */
export interface PatternContext {
  /** The records the partial match being extended has matched for a step, in order. */
  events(step: string): unknown[];
  /** Event time of the record being tested. */
  readonly timestamp: number;
}

export type StepCondition = (value: unknown, ctx: PatternContext) => boolean;

/** When an edge applies: always, when the record satisfies its step, or when it does not. */
type Test = 'true' | 'match' | 'no-match';
type Action = 'take' | 'ignore' | 'proceed';

interface Edge {
  readonly action: Action;
  readonly target: number;
  readonly test: Test;
}

interface NfaNode {
  /** Index of the step the node belongs to; -1 for the final node. */
  readonly step: number;
  readonly edges: Edge[];
}

export interface CompiledPattern {
  readonly steps: readonly StepShape[];
  readonly nodes: readonly NfaNode[];
  readonly start: number;
  readonly final: number;
  /** Per node: whether PROCEED edges lead from it to the final node. */
  readonly proceedsToFinal: readonly boolean[];
}

/** Compiles steps into nodes, following Flink's NFACompiler (without groups, until, not-patterns or greedy). */
export function compilePattern(steps: readonly StepShape[]): CompiledPattern {
  if (steps.length === 0) throw new Error('a pattern needs at least one step');
  const names = new Set<string>();
  for (const s of steps) {
    if (names.has(s.name)) throw new Error(`two pattern steps are named '${s.name}'`);
    names.add(s.name);
  }
  const nodes: NfaNode[] = [];
  const node = (step: number): number => {
    nodes.push({ step, edges: [] });
    return nodes.length - 1;
  };
  const edge = (from: number, action: Action, target: number, test: Test): void => {
    (nodes[from] as NfaNode).edges.push({ action, target, test });
  };

  /** createSingletonState: TAKE to sink; if optional, PROCEED to `proceed` and IGNORE into a copy without it. */
  const singleton = (step: number, sink: number, proceed: number, ignore: Test | undefined, optional: boolean): number => {
    const n = node(step);
    edge(n, 'take', sink, 'match');
    if (optional) edge(n, 'proceed', proceed, 'true');
    if (ignore !== undefined) {
      if (optional) {
        const copy = node(step);
        edge(copy, 'take', sink, 'match');
        edge(copy, 'ignore', copy, ignore);
        edge(n, 'ignore', copy, ignore);
      } else {
        edge(n, 'ignore', n, ignore);
      }
    }
    return n;
  };

  /** createTimesState: `from` required nodes (the first with the step's contiguity), then `to - from` optional ones. */
  const times = (step: number, sink: number, proceed: number, from: number, to: number, first: Test | undefined, optional: boolean): number => {
    let last = sink;
    for (let i = from; i < to; i++) last = singleton(step, last, proceed, 'no-match', true);
    for (let i = 0; i < from - 1; i++) last = singleton(step, last, -1, 'no-match', false);
    return singleton(step, last, proceed, first, optional);
  };

  /** createLooping: PROCEED to sink, TAKE to itself, IGNORE (relaxed) into a copy that can only take or ignore. */
  const looping = (step: number, sink: number): number => {
    const loop = node(step);
    edge(loop, 'proceed', sink, 'true');
    edge(loop, 'take', loop, 'match');
    const copy = node(step);
    edge(copy, 'take', loop, 'match');
    edge(copy, 'ignore', copy, 'no-match');
    edge(loop, 'ignore', copy, 'no-match');
    return loop;
  };

  const final = node(-1);
  let sink = final;
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i] as StepShape;
    // Flink's begin() is STRICT: the first step has no IGNORE edge before its first record.
    const ignore = i === 0 ? undefined : ignoreTest(s.contiguity);
    const q = s.quantifier;
    switch (q.kind) {
      case 'one':
        sink = singleton(i, sink, sink, ignore, s.optional);
        break;
      case 'times':
        sink = times(i, sink, sink, q.times, q.times, ignore, s.optional);
        break;
      case 'times-range': {
        // Flink's times(0, n) is times(1, n).optional().
        const from = Math.max(1, q.from);
        if (q.to < from) throw new Error(`step '${s.name}': times-range to (${q.to}) must be at least from (${from})`);
        sink = times(i, sink, sink, from, q.to, ignore, s.optional || q.from === 0);
        break;
      }
      case 'one-or-more':
        sink = times(i, looping(i, sink), sink, 1, 1, ignore, s.optional);
        break;
      case 'times-or-more':
        sink = times(i, looping(i, sink), sink, q.times, q.times, ignore, s.optional);
        break;
    }
  }

  const proceedsToFinal = nodes.map((_, n) => {
    const seen = new Set<number>();
    const stack = [n];
    while (stack.length > 0) {
      const current = stack.pop() as number;
      for (const e of (nodes[current] as NfaNode).edges) {
        if (e.action !== 'proceed' || seen.has(e.target)) continue;
        if (e.target === final) return true;
        seen.add(e.target);
        stack.push(e.target);
      }
    }
    return false;
  });
  return { steps, nodes, start: sink, final, proceedsToFinal };
}

function ignoreTest(contiguity: Contiguity): Test | undefined {
  switch (contiguity) {
    case 'strict':
      return undefined;
    case 'relaxed':
      return 'no-match';
    case 'non-deterministic-relaxed':
      return 'true';
  }
}

/** One matched record: [step index, record number, record]. */
export type MatchedEvent = [number, number, unknown];

/** A partial (or completed) match, as plain data: it lives in keyed state. */
export interface PartialMatch {
  /** The node it waits in. */
  n: number;
  /** Timestamp of its first record. */
  t: number;
  /** Number of its first record. */
  s: number;
  /** Its records, in the order they were taken. Never mutated: branches share it. */
  e: readonly MatchedEvent[];
}

/** Everything the automaton keeps per key (Flink's NFAState), as plain data. */
export interface NfaState {
  /** Partial matches, ordered by their first record. */
  p: PartialMatch[];
  /** Completed matches held back by the skip strategy, ordered by their first record. */
  c: PartialMatch[];
  /** Number of the next record. */
  q: number;
}

export function emptyNfaState(): NfaState {
  return { p: [], c: [], q: 0 };
}

export interface AdvanceResult {
  /** Completed matches released because the partial matches holding them back timed out. */
  readonly matches: PartialMatch[];
  readonly timedOut: PartialMatch[];
}

interface Branch {
  readonly edge: Edge;
  readonly source: number;
}

/** The automaton of one pattern; it holds no per-key data: that is passed in as an NfaState. */
export class Nfa {
  private readonly stepIndex = new Map<string, number>();

  constructor(
    private readonly pattern: CompiledPattern,
    private readonly conditions: readonly StepCondition[],
    private readonly withinMs: number | undefined,
    private readonly skip: AfterMatchSkip,
  ) {
    pattern.steps.forEach((s, i) => this.stepIndex.set(s.name, i));
    if (conditions.length !== pattern.steps.length) throw new Error('one condition per pattern step is needed');
  }

  /**
   * Times out partial matches at `timestamp` (none may arrive with a smaller one) and
   * releases completed matches no longer held back (Flink's NFA.advanceTime).
   */
  advanceTime(state: NfaState, timestamp: number): AdvanceResult {
    const within = this.withinMs;
    const timedOut: PartialMatch[] = [];
    if (within !== undefined && state.p.length > 0) {
      const keep: PartialMatch[] = [];
      for (const pm of state.p) {
        if (timestamp - pm.t >= within) timedOut.push(pm);
        else keep.push(pm);
      }
      state.p = keep;
    }
    const matches = state.c.length > 0 ? this.release(state, []) : [];
    return { matches, timedOut };
  }

  /** Feeds one record (after advanceTime(timestamp)); returns the matches it releases, in order. */
  process(state: NfaState, value: unknown, timestamp: number): PartialMatch[] {
    const seq = state.q++;
    const partial: PartialMatch[] = [];
    const completed: PartialMatch[] = [];
    const route = (next: PartialMatch[]) => {
      for (const pm of next) (pm.n === this.pattern.final ? completed : partial).push(pm);
    };
    for (const pm of state.p) route(this.next(pm, value, timestamp, seq));
    // Flink's start computation state: a new partial match may begin at every record.
    route(this.next(undefined, value, timestamp, seq));
    // Results keep the order of the partial matches they came from, and the start's come last:
    // `partial` and `completed` are ordered by first record already.
    state.p = partial;
    return this.release(state, completed);
  }

  /** The records of a match per step name, in step order; steps without records are left out (as in Flink). */
  materialize(pm: PartialMatch): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = {};
    for (const [step, , value] of pm.e) {
      const name = (this.pattern.steps[step] as StepShape).name;
      const list = out[name];
      if (list) list.push(value);
      else out[name] = [value];
    }
    return out;
  }

  /** The computation states that follow `pm` (undefined: the start state) on a record: Flink's computeNextStates. */
  private next(pm: PartialMatch | undefined, value: unknown, timestamp: number, seq: number): PartialMatch[] {
    const { nodes, start } = this.pattern;
    const events = pm?.e ?? [];
    const results: boolean[] = [];
    const ctx: PatternContext = {
      timestamp,
      events: (name) => {
        const step = this.stepIndex.get(name);
        const out: unknown[] = [];
        if (step === undefined) return out;
        for (const [s, , v] of events) if (s === step) out.push(v);
        return out;
      },
    };
    const matches = (step: number): boolean => {
      let result = results[step];
      if (result === undefined) {
        result = (this.conditions[step] as StepCondition)(value, ctx);
        results[step] = result;
      }
      return result;
    };
    const holds = (e: Edge, step: number): boolean => (e.test === 'true' ? true : e.test === 'match' ? matches(step) : !matches(step));

    // The decision graph: every TAKE and IGNORE edge whose condition holds, expanding PROCEED edges.
    const branches: Branch[] = [];
    const stack = [pm?.n ?? start];
    while (stack.length > 0) {
      const current = stack.pop() as number;
      const n = nodes[current] as NfaNode;
      for (const e of n.edges) {
        if (!holds(e, n.step)) continue;
        if (e.action === 'proceed') stack.push(e.target);
        else branches.push({ edge: e, source: current });
      }
    }

    const out: PartialMatch[] = [];
    for (const { edge, source } of branches) {
      if (edge.action === 'ignore') {
        // The start state never skips: a partial match begins with its first record.
        if (pm) out.push({ n: edge.target, t: pm.t, s: pm.s, e: pm.e });
        continue;
      }
      const taken: MatchedEvent[] = [...events, [(nodes[source] as NfaNode).step, seq, value]];
      const t = pm ? pm.t : timestamp;
      const s = pm ? pm.s : seq;
      out.push({ n: edge.target, t, s, e: taken });
      if (this.pattern.proceedsToFinal[edge.target] === true) out.push({ n: this.pattern.final, t, s, e: taken });
    }
    return out;
  }

  /** Queues new completed matches and releases those the skip strategy allows: processMatchesAccordingToSkipStrategy. */
  private release(state: NfaState, completed: readonly PartialMatch[]): PartialMatch[] {
    const queue = mergeByStart(state.c, completed);
    const released: PartialMatch[] = [];
    while (queue.length > 0) {
      const match = queue[0] as PartialMatch;
      if (this.skip !== 'no-skip') {
        const earliest = state.p[0];
        // Wait while a partial match that started earlier may still complete.
        if (earliest !== undefined && match.s > earliest.s) break;
      }
      queue.shift();
      released.push(match);
      if (this.skip === 'no-skip') continue;
      const bound = this.skip === 'skip-to-next' ? firstRecord(match) : lastRecord(match);
      state.p = state.p.filter((pm) => pm.s > bound);
      for (let i = queue.length - 1; i >= 0; i--) if ((queue[i] as PartialMatch).s <= bound) queue.splice(i, 1);
    }
    state.c = queue;
    return released;
  }
}

function firstRecord(pm: PartialMatch): number {
  let min = Number.POSITIVE_INFINITY;
  for (const [, seq] of pm.e) if (seq < min) min = seq;
  return min;
}

function lastRecord(pm: PartialMatch): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const [, seq] of pm.e) if (seq > max) max = seq;
  return max;
}

/** Stable merge of two lists ordered by first record; on ties `a` comes first. */
function mergeByStart(a: readonly PartialMatch[], b: readonly PartialMatch[]): PartialMatch[] {
  if (b.length === 0) return [...a];
  if (a.length === 0) return [...b];
  const out: PartialMatch[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as PartialMatch;
    const y = b[j] as PartialMatch;
    if (y.s < x.s) {
      out.push(y);
      j++;
    } else {
      out.push(x);
      i++;
    }
  }
  while (i < a.length) out.push(a[i++] as PartialMatch);
  while (j < b.length) out.push(b[j++] as PartialMatch);
  return out;
}
