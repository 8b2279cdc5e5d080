/**
 * Operator list state for user functions (Flink's CheckpointedFunction with the
 * OperatorStateStore's getListState / getUnionListState) through the harness: a list
 * belongs to a parallel instance, survives snapshot and restore, and on a restore at
 * another parallelism an even-split list is cut into contiguous, even parts of the
 * concatenated old lists while a union list goes whole to every subtask.
 */
import { describe, expect, it } from 'vitest';
import { getOperator, jobConfig } from '@sluice/graph-model';
import { OneInputHarness, TwoInputHarness, type HarnessSnapshot } from '../src/harness/harness.js';
import type { OperatorEnv } from '../src/registry.js';
import { FilterOperator, FlatMapOperator, MapOperator } from '../src/transforms/stateless.js';
import { KeyedProcessOperator, type KeyedProcessConfig } from '../src/process/keyed-process.js';
import { CoProcessOperator, type CoProcessConfig } from '../src/process/co-process.js';
import { BroadcastProcessOperator, type BroadcastProcessConfig } from '../src/process/broadcast-process.js';
import { evenSplitShare, OperatorListStateStore, type OperatorListEntry } from '../src/state/operator-list-state.js';

const env: OperatorEnv = {
  job: jobConfig.parse({}),
  fn: (source) => new Function(`return (${source})`)() as unknown,
  collector: () => ({ push() {}, commit() {} }),
  print() {},
};

function parsed(type: string, config: unknown): unknown {
  const definition = getOperator(type);
  if (!definition) throw new Error(`no operator ${type}`);
  return definition.configSchema.parse(config);
}

/** Remembers every value it sees: `seen` splits evenly on rescale, `tally` (one entry per subtask) is a union. */
const REMEMBERING_MAP = `(value, ctx) => {
  const seen = ctx.getOperatorListState('seen');
  seen.add(value);
  const tally = ctx.getOperatorListState('tally', { redistribution: 'union' });
  const mine = tally.get().find((t) => t.subtask === ctx.subtaskIndex);
  tally.update([...tally.get().filter((t) => t !== mine), { subtask: ctx.subtaskIndex, n: (mine ? mine.n : 0) + 1 }]);
  return { value, seen: seen.get().length };
}`;

function mapAt(subtaskIndex: number, parallelism: number, restore?: HarnessSnapshot | readonly HarnessSnapshot[], fn = REMEMBERING_MAP) {
  return new OneInputHarness<unknown>(new MapOperator({ fn }, env), { subtaskIndex, parallelism, nodeType: 'map' }).open(restore);
}

describe('operator list state for user functions', () => {
  it('a map function’s list survives a snapshot and a restore into a fresh operator', () => {
    const first = mapAt(0, 1);
    first.processElement('a');
    first.processElement('b');
    const snapshot = first.snapshot();
    // The snapshot is a copy: what the function adds afterwards belongs to the next checkpoint.
    first.processElement('c');
    const restored = mapAt(0, 1, snapshot);
    restored.processElement('d');
    expect(restored.values()).toEqual([{ value: 'd', seen: 3 }]);
    expect(snapshot.operatorState?.mode).toBe('union');
  });

  it('an operator whose function never asks for a list snapshots no operator state', () => {
    const h = mapAt(0, 1, undefined, '(v) => v');
    h.processElement(1);
    expect(h.snapshot().operatorState).toBeUndefined();
  });

  it('rescaling 2 → 3 cuts an even-split list into contiguous even parts of the old lists concatenated, and hands a union list whole to every subtask', () => {
    const old = [mapAt(0, 2), mapAt(1, 2)];
    for (const v of ['a0', 'a1', 'a2', 'a3']) old[0]?.processElement(v);
    for (const v of ['b0', 'b1', 'b2']) old[1]?.processElement(v);
    const snapshots = old.map((h) => h.snapshot());
    // Every new subtask receives every entry (the engine's union redistribution) and cuts its own part.
    const restored = [0, 1, 2].map((i) => mapAt(i, 3, snapshots, `(value, ctx) => ({
      seen: ctx.getOperatorListState('seen').get(),
      tally: ctx.getOperatorListState('tally', { redistribution: 'union' }).get(),
    })`));
    for (const h of restored) h.processElement('probe');
    const parts = restored.map((h) => (h.values()[0] as { seen: string[] }).seen);
    // 7 values over 3 subtasks: 3, 2, 2 (the first ones one longer), contiguous, in old subtask order.
    expect(parts).toEqual([
      ['a0', 'a1', 'a2'],
      ['a3', 'b0'],
      ['b1', 'b2'],
    ]);
    for (const h of restored) {
      expect((h.values()[0] as { tally: unknown[] }).tally).toEqual([
        { subtask: 0, n: 4 },
        { subtask: 1, n: 3 },
      ]);
    }
  });

  it('an even-split list stays on its subtask when the parallelism does not change', () => {
    const old = [mapAt(0, 2), mapAt(1, 2)];
    old[0]?.processElement('x');
    old[1]?.processElement('y');
    old[1]?.processElement('z');
    const snapshots = old.map((h) => h.snapshot());
    const again = [0, 1].map((i) => mapAt(i, 2, snapshots, `(value, ctx) => ctx.getOperatorListState('seen').get()`));
    for (const h of again) h.processElement('probe');
    expect(again.map((h) => h.values()[0])).toEqual([['x'], ['y', 'z']]);
  });

  it('shrinking 3 → 1 gives the one subtask everything, in old subtask order', () => {
    const old = [0, 1, 2].map((i) => mapAt(i, 3));
    old.forEach((h, i) => h.processElement(`v${i}`));
    const one = mapAt(0, 1, old.map((h) => h.snapshot()), `(value, ctx) => ctx.getOperatorListState('seen').get()`);
    one.processElement('probe');
    expect(one.values()).toEqual([['v0', 'v1', 'v2']]);
  });

  it('a restored list is asked for with the redistribution it was written with, or fails naming operator and state', () => {
    const first = mapAt(0, 1);
    first.processElement('a');
    const wrong = mapAt(0, 1, first.snapshot(), `(value, ctx) => ctx.getOperatorListState('seen', { redistribution: 'union' }).get()`);
    expect(() => wrong.processElement('b')).toThrow(/operator list state 'seen' of operator 'under-test' \(map\) is an even-split list in the snapshot.*\{ redistribution: 'even-split' \}/);
    const twice = mapAt(0, 1, undefined, `(value, ctx) => { ctx.getOperatorListState('s'); return ctx.getOperatorListState('s', { redistribution: 'union' }); }`);
    expect(() => twice.processElement('a')).toThrow(/'s' of operator 'under-test' \(map\) is an even-split list, but was asked for with redistribution 'union'/);
    const bad = mapAt(0, 1, undefined, `(value, ctx) => ctx.getOperatorListState('s', { redistribution: 'round-robin' })`);
    expect(() => bad.processElement('a')).toThrow(/redistribution must be 'even-split' or 'union', got "round-robin"/);
  });

  it('a list not asked for after a restore is kept in the next snapshot', () => {
    const first = mapAt(0, 1);
    first.processElement('a');
    const idle = mapAt(0, 1, first.snapshot(), '(v) => v');
    idle.processElement('b');
    const later = mapAt(0, 1, idle.snapshot(), `(value, ctx) => ctx.getOperatorListState('seen').get()`);
    later.processElement('c');
    expect(later.values()).toEqual([['a']]);
  });

  it('filter and flat-map functions reach their operator list states too', () => {
    const filter = new OneInputHarness<number>(new FilterOperator({ fn: `(v, ctx) => { const s = ctx.getOperatorListState('kept'); if (s.get().includes(v)) return false; s.add(v); return true; }` }, env)).open();
    for (const v of [1, 2, 1, 3, 2]) filter.processElement(v);
    expect(filter.values()).toEqual([1, 2, 3]);
    const restoredFilter = new OneInputHarness<number>(new FilterOperator({ fn: `(v, ctx) => { const s = ctx.getOperatorListState('kept'); if (s.get().includes(v)) return false; s.add(v); return true; }` }, env)).open(filter.snapshot());
    restoredFilter.processElement(3);
    restoredFilter.processElement(4);
    expect(restoredFilter.values()).toEqual([4]);

    const fn = `(v, ctx) => { const b = ctx.getOperatorListState('batch'); b.add(v); if (b.get().length < 3) return []; const out = [...b.get()]; b.clear(); return [out]; }`;
    const flat = new OneInputHarness<number>(new FlatMapOperator({ fn }, env)).open();
    flat.processElement(1);
    flat.processElement(2);
    const restoredFlat = new OneInputHarness<number>(new FlatMapOperator({ fn }, env)).open(flat.snapshot());
    restoredFlat.processElement(3);
    restoredFlat.processElement(4);
    expect(restoredFlat.values()).toEqual([[1, 2, 3]]);
  });

  it('a keyed-process function reads its restored lists in open() and keeps using them', () => {
    const fn = `({
      open(ctx) { this.restored = [...ctx.getOperatorListState('keys').get()]; },
      processElement(v, ctx) {
        const keys = ctx.getOperatorListState('keys');
        if (!keys.get().includes(ctx.key)) keys.add(ctx.key);
        ctx.collect({ key: ctx.key, restored: this.restored, known: keys.get().length });
      },
    })`;
    const make = () => new KeyedProcessOperator(parsed('keyed-process', { fn }) as KeyedProcessConfig, env);
    const byUser = (v: { user: string }) => v.user;
    const first = new OneInputHarness<{ user: string }>(make(), { keySelector: byUser }).open();
    first.processElement({ user: 'a' }, 1);
    first.processElement({ user: 'b' }, 2);
    const restored = new OneInputHarness<{ user: string }>(make(), { keySelector: byUser }).open(first.snapshot());
    restored.processElement({ user: 'c' }, 3);
    expect(restored.values()).toEqual([{ key: 'c', restored: ['a', 'b'], known: 3 }]);
  });

  it('a co-process function’s lists are shared by both inputs and checkpointed', () => {
    const fn = `({
      processElement1(v, ctx) { ctx.getOperatorListState('log').add('1:' + v); },
      processElement2(v, ctx) { ctx.getOperatorListState('log').add('2:' + v); ctx.collect(ctx.getOperatorListState('log').get().join(',')); },
    })`;
    const make = () => new CoProcessOperator(parsed('co-process', { fn }) as CoProcessConfig, env);
    const first = new TwoInputHarness<string, string>(make()).open();
    first.processElement1('a');
    const restored = new TwoInputHarness<string, string>(make()).open(first.snapshot());
    restored.processElement2('b');
    expect(restored.values()).toEqual(['1:a,2:b']);
  });

  it('a broadcast-process keeps its lists beside its broadcast state, and a rescale redistributes both', () => {
    const fn = `({
      processElement(v, ctx) { ctx.getOperatorListState('seen').add(v.id); ctx.collect({ rule: ctx.broadcastState('rules').get('r'), seen: ctx.getOperatorListState('seen').get() }); },
      processBroadcastElement(rule, ctx) { ctx.broadcastState('rules').put('r', rule); },
    })`;
    const make = () => new BroadcastProcessOperator(parsed('broadcast-process', { fn, broadcastStates: ['rules'] }) as BroadcastProcessConfig, env);
    const byId = (v: { id: string }) => v.id;
    const old = [0, 1].map((i) => new TwoInputHarness<{ id: string }, string>(make(), { keySelector: byId, subtaskIndex: i, parallelism: 2 }).open());
    for (const h of old) h.processElement2('rule-1');
    old[0]?.processElement1({ id: 'a' });
    old[0]?.processElement1({ id: 'b' });
    old[1]?.processElement1({ id: 'c' });
    const snapshots = old.map((h) => h.snapshot());
    const one = new TwoInputHarness<{ id: string }, string>(make(), { keySelector: byId }).open(snapshots);
    one.processElement1({ id: 'd' });
    expect(one.values()).toEqual([{ rule: 'rule-1', seen: ['a', 'b', 'c', 'd'] }]);
  });
});

describe('even split across named lists', () => {
  it('cuts a list into contiguous parts whose sizes differ by at most one, the longer ones first', () => {
    const shares = (total: number, parallelism: number) => [...Array(parallelism).keys()].map((i) => evenSplitShare(total, parallelism, 0, i)).map((s) => [s.from, s.to]);
    expect(shares(7, 3)).toEqual([
      [0, 3],
      [3, 5],
      [5, 7],
    ]);
    expect(shares(2, 4)).toEqual([
      [0, 1],
      [1, 2],
      [2, 2],
      [2, 2],
    ]);
    expect(shares(0, 2)).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('rotates which subtask gets the first longer part from one list to the next, as Flink’s round-robin repartitioner', () => {
    // Two lists of one element each over three subtasks: the second does not land on subtask 0 again.
    const entries = (name: string): OperatorListEntry[] => [{ operatorList: name, redistribution: 'even-split', subtask: 0, parallelism: 1, values: [name] }];
    const holders = [0, 1, 2].map((i) => {
      const store = new OperatorListStateStore('operator t', i, 3);
      store.restore([...entries('a'), ...entries('b')]);
      return ['a', 'b'].filter((name) => store.getOperatorListState(name, undefined).get().length > 0);
    });
    expect(holders).toEqual([['a'], ['b'], []]);
  });
});
