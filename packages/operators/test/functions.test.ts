/**
 * The operators that need no user code, as pure functions: field paths, filter
 * conditions, projections and the built-in aggregations. Aggregations are also
 * checked against recomputation from scratch over seeded random inputs (merges of
 * random splits, random retractions); a seed that ever fails goes into PINNED_SEEDS.
 */
import { describe, expect, it } from 'vitest';
import type { Aggregation } from '@sluice/graph-model';
import { compileFieldPath } from '../src/functions/field-path.js';
import { compileConditions, type ConditionSpec } from '../src/functions/conditions.js';
import { compileProjection } from '../src/functions/projection.js';
import { createAggregator, type BuiltinAggregator } from '../src/functions/aggregations.js';

/** Seeds that once failed; they run on every test run. */
const PINNED_SEEDS: readonly number[] = [];
const SEEDS = [...PINNED_SEEDS, ...Array.from({ length: 40 }, (_, i) => 1000 + i)];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe('compileFieldPath', () => {
  it('reads one, two and more segments', () => {
    const record = { id: 1, user: { id: 'u1', address: { city: 'Oslo', geo: { lat: 59.9 } } } };
    expect(compileFieldPath('id')(record)).toBe(1);
    expect(compileFieldPath('user.id')(record)).toBe('u1');
    expect(compileFieldPath('user.address.city')(record)).toBe('Oslo');
    expect(compileFieldPath('user.address.geo.lat')(record)).toBe(59.9);
    expect(compileFieldPath('user')(record)).toBe(record.user);
  });

  it('gives undefined for missing fields, missing intermediates and non-objects, never throwing', () => {
    const record = { a: { b: null, n: 5, s: 'text' }, z: null };
    for (const path of ['missing', 'a.missing', 'missing.b', 'z.b', 'a.b.c', 'a.n.x', 'a.s.length', 'a.s.x.y', 'missing.b.c.d']) {
      expect(compileFieldPath(path)(record), path).toBeUndefined();
    }
    for (const input of [null, undefined, 42, 'text', true, () => 1]) {
      expect(compileFieldPath('a')(input)).toBeUndefined();
      expect(compileFieldPath('a.b')(input)).toBeUndefined();
      expect(compileFieldPath('a.b.c')(input)).toBeUndefined();
    }
    expect(compileFieldPath('a.b')(record)).toBeNull();
  });

  it('reads only own properties, so prototype names give undefined', () => {
    const record = { a: { b: 1 }, list: [1, 2] };
    for (const path of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'a.constructor', 'a.__proto__', 'a.constructor.prototype', 'a.__proto__.toString', 'list.map']) {
      expect(compileFieldPath(path)(record), path).toBeUndefined();
    }
    class WithGetter {
      get computed(): number {
        return 1;
      }
    }
    expect(compileFieldPath('computed')(new WithGetter())).toBeUndefined();
    // An own property of that name (as JSON.parse creates) is data and is read.
    const parsed = JSON.parse('{"__proto__": {"x": 7}, "constructor": "c"}') as unknown;
    expect(compileFieldPath('__proto__.x')(parsed)).toBe(7);
    expect(compileFieldPath('constructor')(parsed)).toBe('c');
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 'v' });
    expect(compileFieldPath('k')(bare)).toBe('v');
    expect(compileFieldPath('toString')(bare)).toBeUndefined();
  });

  it('rejects a path with an empty segment when compiling', () => {
    expect(() => compileFieldPath('')).toThrow(/invalid field path/);
    expect(() => compileFieldPath('a..b')).toThrow(/invalid field path/);
    expect(() => compileFieldPath('.a')).toThrow(/invalid field path/);
  });
});

describe('compileConditions', () => {
  const one = (condition: ConditionSpec) => compileConditions({ match: 'all', conditions: [condition] });
  const test = (condition: ConditionSpec, record: unknown) => one(condition)(record);

  it('eq and ne use strict equality of scalars', () => {
    expect(test({ field: 'x', op: 'eq', value: 5 }, { x: 5 })).toBe(true);
    expect(test({ field: 'x', op: 'eq', value: 5 }, { x: '5' })).toBe(false);
    expect(test({ field: 'x', op: 'eq', value: '5' }, { x: 5 })).toBe(false);
    expect(test({ field: 'x', op: 'eq', value: true }, { x: 1 })).toBe(false);
    expect(test({ field: 'x', op: 'eq', value: null }, { x: null })).toBe(true);
    expect(test({ field: 'x', op: 'eq', value: null }, {})).toBe(false);
    expect(test({ field: 'x', op: 'eq', value: 5 }, {})).toBe(false);
    expect(test({ field: 'x', op: 'eq', value: 'a' }, { x: ['a'] })).toBe(false);
    expect(test({ field: 'u.id', op: 'eq', value: 'u1' }, { u: { id: 'u1' } })).toBe(true);
    expect(test({ field: 'x', op: 'ne', value: 5 }, { x: 5 })).toBe(false);
    expect(test({ field: 'x', op: 'ne', value: 5 }, { x: '5' })).toBe(true);
    expect(test({ field: 'x', op: 'ne', value: 5 }, {})).toBe(true);
    expect(test({ field: 'x', op: 'ne', value: null }, {})).toBe(true);
  });

  it('lt, le, gt and ge compare numbers with numbers and strings with strings only', () => {
    const cases: Array<[ConditionSpec['op'], number | string, unknown, boolean]> = [
      ['lt', 5, 4, true],
      ['lt', 5, 5, false],
      ['le', 5, 5, true],
      ['le', 5, 6, false],
      ['gt', 5, 6, true],
      ['gt', 5, 5, false],
      ['ge', 5, 5, true],
      ['ge', 5, 4, false],
      ['lt', 'm', 'a', true],
      ['lt', 'm', 'z', false],
      ['le', 'm', 'm', true],
      ['gt', 'm', 'z', true],
      ['ge', 'm', 'm', true],
      ['ge', 'm', 'a', false],
      // Mixed types are false both ways, whatever the order would say.
      ['lt', 5, '4', false],
      ['ge', 5, '6', false],
      ['gt', '5', 6, false],
      ['le', '5', 4, false],
      ['lt', 5, null, false],
      ['gt', 5, true, false],
      ['lt', 5, [1], false],
      ['lt', 5, Number.NaN, false],
      ['ge', 5, Number.NaN, false],
    ];
    for (const [op, value, x, expected] of cases) {
      expect(test({ field: 'x', op, value }, { x }), `${String(x)} ${op} ${value}`).toBe(expected);
    }
    for (const op of ['lt', 'le', 'gt', 'ge'] as const) {
      expect(test({ field: 'x', op, value: 5 }, {}), `missing ${op}`).toBe(false);
      expect(test({ field: 'x', op, value: 'a' }, {}), `missing ${op}`).toBe(false);
      // A boolean or null config value compares with nothing.
      expect(test({ field: 'x', op, value: true }, { x: true })).toBe(false);
      expect(test({ field: 'x', op, value: null }, { x: null })).toBe(false);
    }
  });

  it('in and not-in test membership; not-in of a missing field is true', () => {
    const inList: ConditionSpec = { field: 'x', op: 'in', value: ['a', 2, null, true] };
    const notIn: ConditionSpec = { ...inList, op: 'not-in' };
    expect(test(inList, { x: 'a' })).toBe(true);
    expect(test(inList, { x: 2 })).toBe(true);
    expect(test(inList, { x: '2' })).toBe(false);
    expect(test(inList, { x: null })).toBe(true);
    expect(test(inList, { x: true })).toBe(true);
    expect(test(inList, { x: ['a'] })).toBe(false);
    expect(test(inList, {})).toBe(false);
    expect(test(notIn, { x: 'a' })).toBe(false);
    expect(test(notIn, { x: '2' })).toBe(true);
    expect(test(notIn, {})).toBe(true);
    expect(test({ field: 'x', op: 'in', value: [] }, { x: 1 })).toBe(false);
  });

  it('exists means present and not null; not-exists is its negation', () => {
    const exists: ConditionSpec = { field: 'a.b', op: 'exists' };
    const notExists: ConditionSpec = { field: 'a.b', op: 'not-exists' };
    for (const [record, present] of [
      [{ a: { b: 0 } }, true],
      [{ a: { b: '' } }, true],
      [{ a: { b: false } }, true],
      [{ a: { b: null } }, false],
      [{ a: {} }, false],
      [{ a: 3 }, false],
      [{}, false],
      [null, false],
    ] as const) {
      expect(test(exists, record), JSON.stringify(record)).toBe(present);
      expect(test(notExists, record), JSON.stringify(record)).toBe(!present);
    }
  });

  it('contains tests substrings of strings and elements of arrays', () => {
    expect(test({ field: 'x', op: 'contains', value: 'ell' }, { x: 'hello' })).toBe(true);
    expect(test({ field: 'x', op: 'contains', value: 'xyz' }, { x: 'hello' })).toBe(false);
    expect(test({ field: 'x', op: 'contains', value: 'b' }, { x: ['a', 'b'] })).toBe(true);
    expect(test({ field: 'x', op: 'contains', value: 'b' }, { x: ['abc'] })).toBe(false);
    expect(test({ field: 'x', op: 'contains', value: 2 }, { x: [1, 2, 3] })).toBe(true);
    expect(test({ field: 'x', op: 'contains', value: 2 }, { x: ['2'] })).toBe(false);
    expect(test({ field: 'x', op: 'contains', value: null }, { x: [null] })).toBe(true);
    expect(test({ field: 'x', op: 'contains', value: 1 }, { x: '123' })).toBe(false);
    expect(test({ field: 'x', op: 'contains', value: 'a' }, { x: { a: 1 } })).toBe(false);
    expect(test({ field: 'x', op: 'contains', value: 'a' }, {})).toBe(false);
  });

  it('starts-with needs strings on both sides', () => {
    expect(test({ field: 'x', op: 'starts-with', value: 'he' }, { x: 'hello' })).toBe(true);
    expect(test({ field: 'x', op: 'starts-with', value: 'lo' }, { x: 'hello' })).toBe(false);
    expect(test({ field: 'x', op: 'starts-with', value: '12' }, { x: 123 })).toBe(false);
    expect(test({ field: 'x', op: 'starts-with', value: 1 }, { x: '123' })).toBe(false);
    expect(test({ field: 'x', op: 'starts-with', value: 'h' }, { x: ['hello'] })).toBe(false);
    expect(test({ field: 'x', op: 'starts-with', value: 'h' }, {})).toBe(false);
  });

  it('matches tests a regular expression against strings, unanchored and without state', () => {
    const matches = one({ field: 'x', op: 'matches', value: '^[a-z]+-\\d+$' });
    expect(matches({ x: 'order-42' })).toBe(true);
    expect(matches({ x: 'order-42' })).toBe(true);
    expect(matches({ x: 'Order-42' })).toBe(false);
    expect(matches({ x: 42 })).toBe(false);
    expect(matches({})).toBe(false);
    const unanchored = one({ field: 'x', op: 'matches', value: 'b+' });
    expect(unanchored({ x: 'abbbc' })).toBe(true);
    expect(unanchored({ x: ['b'] })).toBe(false);
  });

  it('combines conditions with all or any', () => {
    const conditions: ConditionSpec[] = [
      { field: 'a', op: 'gt', value: 0 },
      { field: 'b', op: 'eq', value: 'x' },
      { field: 'c', op: 'exists' },
    ];
    const all = compileConditions({ match: 'all', conditions });
    const any = compileConditions({ match: 'any', conditions });
    expect(all({ a: 1, b: 'x', c: 0 })).toBe(true);
    expect(all({ a: 1, b: 'x' })).toBe(false);
    expect(any({ a: 1 })).toBe(true);
    expect(any({ c: 0 })).toBe(true);
    expect(any({ a: -1, b: 'y' })).toBe(false);
    const two = conditions.slice(0, 2);
    expect(compileConditions({ match: 'all', conditions: two })({ a: 1, b: 'x' })).toBe(true);
    expect(compileConditions({ match: 'all', conditions: two })({ a: 1, b: 'y' })).toBe(false);
    expect(compileConditions({ match: 'any', conditions: two })({ a: 0, b: 'x' })).toBe(true);
    expect(compileConditions({ match: 'any', conditions: two })({ a: 0, b: 'y' })).toBe(false);
    expect(compileConditions({ match: 'all', conditions: [] })({})).toBe(true);
    expect(compileConditions({ match: 'any', conditions: [] })({})).toBe(false);
  });

  it('rejects values that do not fit the operator when compiling, naming the condition', () => {
    const bad = (condition: ConditionSpec) => () => compileConditions({ match: 'all', conditions: [{ field: 'a', op: 'exists' }, condition] });
    expect(bad({ field: 'x', op: 'eq' })).toThrow(/conditions\[1\]: 'eq' needs a value/);
    expect(bad({ field: 'x', op: 'lt', value: [1] })).toThrow(/needs a single value/);
    expect(bad({ field: 'x', op: 'in', value: 1 })).toThrow(/'in' needs a list/);
    expect(bad({ field: 'x', op: 'matches', value: 1 })).toThrow(/regular expression as a string/);
    expect(bad({ field: 'x', op: 'matches', value: '(' })).toThrow(/not a valid regular expression/);
  });
});

describe('compileProjection', () => {
  it('builds fields in the listed order, naming them by as or the last segment', () => {
    const project = compileProjection([{ from: 'user.name' }, { from: 'id', as: 'key' }, { from: 'user.address.city', as: 'city' }, { from: 'amount' }]);
    const out = project({ amount: 3, id: 7, user: { name: 'Ann', address: { city: 'Oslo' } }, dropped: true });
    expect(out).toEqual({ name: 'Ann', key: 7, city: 'Oslo', amount: 3 });
    expect(Object.keys(out)).toEqual(['name', 'key', 'city', 'amount']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('gives null for a missing field or intermediate, and keeps present nulls and falsy values', () => {
    const project = compileProjection([{ from: 'a' }, { from: 'b.c' }, { from: 'z' }, { from: 'f' }, { from: 'e' }]);
    expect(project({ a: null, f: 0, e: '' })).toEqual({ a: null, c: null, z: null, f: 0, e: '' });
    expect(project(null)).toEqual({ a: null, c: null, z: null, f: null, e: null });
    expect(project('text')).toEqual({ a: null, c: null, z: null, f: null, e: null });
  });

  it('returns a new object each time and passes nested values through', () => {
    const project = compileProjection([{ from: 'nested' }]);
    const record = { nested: { x: 1 } };
    const a = project(record);
    const b = project(record);
    expect(a).not.toBe(b);
    expect(a['nested']).toBe(record.nested);
  });

  it('never reads or writes the prototype', () => {
    const project = compileProjection([{ from: 'constructor' }, { from: 'x', as: '__proto__' }, { from: 'y' }]);
    const out = project({ x: { polluted: true }, y: 1 });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['constructor', '__proto__', 'y']);
    expect(out['constructor']).toBeNull();
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('lets a later field with the same name win, at the position of the first', () => {
    const project = compileProjection([{ from: 'a', as: 'x' }, { from: 'b' }, { from: 'c', as: 'x' }]);
    const out = project({ a: 1, b: 2, c: 3 });
    expect(Object.entries(out)).toEqual([
      ['x', 3],
      ['b', 2],
    ]);
  });
});

// ---------------------------------------------------------------------------------
// Aggregations

interface Event {
  readonly v?: unknown;
  readonly s?: unknown;
  readonly tag?: unknown;
  readonly id: number;
}

function run(aggregator: BuiltinAggregator, events: ReadonlyArray<readonly [Event, number]>): Record<string, unknown> {
  let acc = aggregator.createAccumulator();
  for (const [event, ts] of events) acc = aggregator.add(acc, event, ts);
  return aggregator.getResult(acc);
}

const ALL: readonly Aggregation[] = [
  { op: 'count' },
  { op: 'sum', field: 'v' },
  { op: 'avg', field: 'v' },
  { op: 'min', field: 'v' },
  { op: 'max', field: 'v' },
  { op: 'min', field: 's', as: 'min_s' },
  { op: 'max', field: 's', as: 'max_s' },
  { op: 'first', field: 'v' },
  { op: 'last', field: 'v' },
  { op: 'distinct-count', field: 'tag' },
  { op: 'top-n', field: 'v', n: 3 },
];

const RETRACTABLE: readonly Aggregation[] = ALL.filter((a) => a.op !== 'first' && a.op !== 'last' && a.op !== 'top-n');

const EMPTY_RESULT = {
  count: 0,
  sum_v: 0,
  avg_v: null,
  min_v: null,
  max_v: null,
  min_s: null,
  max_s: null,
  first_v: null,
  last_v: null,
  distinct_count_tag: 0,
  top_n_v: [],
};

const EMPTY_RESULT_RETRACTABLE = Object.fromEntries(Object.entries(EMPTY_RESULT).filter(([k]) => !['first_v', 'last_v', 'top_n_v'].includes(k)));

describe('createAggregator: add and getResult', () => {
  it('gives the empty result for no records', () => {
    const aggregator = createAggregator(ALL);
    expect(aggregator.getResult(aggregator.createAccumulator())).toEqual(EMPTY_RESULT);
    expect(Object.keys(aggregator.getResult(aggregator.createAccumulator()))).toEqual(Object.keys(EMPTY_RESULT));
  });

  it('count counts every record; a single count is a number accumulator', () => {
    const aggregator = createAggregator([{ op: 'count', as: 'n' }]);
    expect(aggregator.createAccumulator()).toBe(0);
    expect(run(aggregator, [[{ id: 1 }, 1], [{ id: 2, v: 'x' }, 2], [{ id: 3 }, 3]])).toEqual({ n: 3 });
    expect(aggregator.supportsRetraction).toBe(true);
  });

  it('sum, avg, min and max ignore missing, non-numeric and non-finite values', () => {
    const aggregator = createAggregator([
      { op: 'sum', field: 'v' },
      { op: 'avg', field: 'v' },
      { op: 'min', field: 'v' },
      { op: 'max', field: 'v' },
    ]);
    const events: Array<[Event, number]> = [
      [{ id: 1, v: 4 }, 1],
      [{ id: 2, v: '100' }, 2],
      [{ id: 3 }, 3],
      [{ id: 4, v: null }, 4],
      [{ id: 5, v: -2 }, 5],
      [{ id: 6, v: Number.NaN }, 6],
      [{ id: 7, v: Number.POSITIVE_INFINITY }, 7],
      [{ id: 8, v: 10 }, 8],
      [{ id: 9, v: true }, 9],
    ];
    expect(run(aggregator, events)).toEqual({ sum_v: 12, avg_v: 4, min_v: -2, max_v: 10 });
    expect(run(aggregator, [[{ id: 1, v: 'a' }, 1]])).toEqual({ sum_v: 0, avg_v: null, min_v: 'a', max_v: 'a' });
  });

  it('sums decimals with compensation', () => {
    const aggregator = createAggregator([{ op: 'sum', field: 'v' }]);
    expect(run(aggregator, [0.1, 0.2, 0.3].map((v, i) => [{ id: i, v }, i] as const))).toEqual({ sum_v: 0.6 });
    expect(run(aggregator, [1e100, 1, -1e100].map((v, i) => [{ id: i, v }, i] as const))).toEqual({ sum_v: 1 });
  });

  it('min and max compare strings with strings, and prefer numbers when there are both', () => {
    const aggregator = createAggregator([
      { op: 'min', field: 'v' },
      { op: 'max', field: 'v' },
    ]);
    expect(run(aggregator, ['pear', 'apple', 'zucchini', 'Zebra'].map((v, i) => [{ id: i, v }, i] as const))).toEqual({ min_v: 'Zebra', max_v: 'zucchini' });
    // '10' < '9' as strings, but 9 < 10 as numbers: they never meet.
    expect(run(aggregator, ['9', 10, '10', 9, 'a'].map((v, i) => [{ id: i, v }, i] as const))).toEqual({ min_v: 9, max_v: 10 });
  });

  it('first and last take the value at the smallest and largest timestamp, ties by arrival', () => {
    const aggregator = createAggregator([
      { op: 'first', field: 'v' },
      { op: 'last', field: 'v' },
    ]);
    expect(
      run(aggregator, [
        [{ id: 1, v: 'b' }, 20],
        [{ id: 2, v: 'a' }, 10],
        [{ id: 3, v: 'c' }, 30],
        [{ id: 4, v: 'a2' }, 10],
        [{ id: 5, v: 'c2' }, 30],
        [{ id: 6, v: 'm' }, 15],
      ]),
    ).toEqual({ first_v: 'a', last_v: 'c2' });
    // The record with the extreme timestamp counts even when its field is missing.
    expect(
      run(aggregator, [
        [{ id: 1, v: 1 }, 5],
        [{ id: 2 }, 1],
        [{ id: 3 }, 9],
      ]),
    ).toEqual({ first_v: null, last_v: null });
    expect(run(aggregator, [[{ id: 1, v: { nested: [1] } }, 5]])).toEqual({ first_v: { nested: [1] }, last_v: { nested: [1] } });
  });

  it('distinct-count tells scalars apart by type and objects by canonical JSON, skipping null and missing', () => {
    const aggregator = createAggregator([{ op: 'distinct-count', field: 'tag', as: 'distinct' }]);
    const tags: unknown[] = [1, '1', 1, true, 'true', false, null, undefined, 0, -0, 'a', 'a', { x: 1, y: [1, { z: 2 }] }, { y: [1, { z: 2 }], x: 1 }, { x: 1, y: [1, { z: 3 }] }, [1, 2], [2, 1], [1, 2], '__proto__', 'constructor', 'nconstructor'];
    const events = tags.map((tag, i) => [tag === undefined ? { id: i } : { id: i, tag }, i] as const);
    // 1, '1', true, 'true', false, 0, 'a', {x,y:z2}, {x,y:z3}, [1,2], [2,1], '__proto__', 'constructor', 'nconstructor'
    expect(run(aggregator, events)).toEqual({ distinct: 14 });
  });

  it('distinct-count keys deeply nested values without recursion', () => {
    const aggregator = createAggregator([{ op: 'distinct-count', field: 'tag' }]);
    const deep = (leaf: number): unknown => {
      let value: unknown = leaf;
      for (let i = 0; i < 50_000; i++) value = i % 2 === 0 ? [value] : { k: value };
      return value;
    };
    expect(
      run(aggregator, [
        [{ id: 1, tag: deep(1) }, 1],
        [{ id: 2, tag: deep(1) }, 2],
        [{ id: 3, tag: deep(2) }, 3],
      ]),
    ).toEqual({ distinct_count_tag: 2 });
  });

  it('top-n keeps the n records with the largest value, largest first, ties by arrival', () => {
    const aggregator = createAggregator([{ op: 'top-n', field: 'v', n: 3, as: 'top' }]);
    const events: Array<[Event, number]> = [
      [{ id: 1, v: 5 }, 1],
      [{ id: 2, v: 9 }, 2],
      [{ id: 3, v: 'big' }, 3],
      [{ id: 4, v: 5 }, 4],
      [{ id: 5 }, 5],
      [{ id: 6, v: 1 }, 6],
      [{ id: 7, v: 5 }, 7],
      [{ id: 8, v: 7 }, 8],
    ];
    const result = run(aggregator, events);
    expect((result['top'] as Event[]).map((e) => e.id)).toEqual([2, 8, 1]);
    expect(result['top']).toEqual([events[1]?.[0], events[7]?.[0], events[0]?.[0]]);
    expect(run(aggregator, events.slice(0, 2))).toEqual({ top: [{ id: 2, v: 9 }, { id: 1, v: 5 }] });
  });

  it('names result fields by aggregationOutputName and rejects duplicates', () => {
    const aggregator = createAggregator([
      { op: 'sum', field: 'order.amount' },
      { op: 'distinct-count', field: 'user.id' },
      { op: 'count', as: '__proto__' },
    ]);
    const result = run(aggregator, [[{ id: 1, order: { amount: 3 }, user: { id: 'u' } } as Event, 1]]);
    expect(Object.keys(result)).toEqual(['sum_order_amount', 'distinct_count_user_id', '__proto__']);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(() => createAggregator([{ op: 'count' }, { op: 'sum', field: 'x', as: 'count' }])).toThrow(/'count'/);
  });

  it('getResult does not expose the accumulator', () => {
    const aggregator = createAggregator([{ op: 'top-n', field: 'v', n: 2 }]);
    let acc = aggregator.createAccumulator();
    acc = aggregator.add(acc, { id: 1, v: 1 }, 1);
    (aggregator.getResult(acc)['top_n_v'] as unknown[]).push('junk');
    expect(aggregator.getResult(acc)).toEqual({ top_n_v: [{ id: 1, v: 1 }] });
  });
});

/** Random events with few distinct values (so ties, duplicates and mixed types are common). */
function randomEvents(random: () => number, count: number): Array<[Event, number]> {
  const int = (n: number) => Math.floor(random() * n);
  const events: Array<[Event, number]> = [];
  for (let id = 0; id < count; id++) {
    const roll = random();
    const v = roll < 0.1 ? undefined : roll < 0.15 ? 'str' : roll < 0.2 ? null : int(21) - 10;
    const s = random() < 0.3 ? undefined : ['a', 'b', 'c', 'B', 'ab'][int(5)];
    const tag = [undefined, null, 1, '1', true, { k: int(2) }, [int(2)], int(4)][int(8)];
    const event: Record<string, unknown> = { id };
    if (v !== undefined) event['v'] = v;
    if (s !== undefined) event['s'] = s;
    if (tag !== undefined) event['tag'] = tag;
    events.push([event as unknown as Event, int(20)]);
  }
  return events;
}

describe('createAggregator: merge', () => {
  it('merging contiguous chunks in any tree shape equals one accumulation', () => {
    const aggregator = createAggregator(ALL);
    for (const seed of SEEDS) {
      const random = mulberry32(seed);
      const events = randomEvents(random, Math.floor(random() * 60));
      const expected = run(aggregator, events);
      // Cut into chunks; each chunk's accumulator goes through a checkpoint.
      const chunks: unknown[] = [];
      let acc = aggregator.createAccumulator();
      for (const [event, ts] of events) {
        acc = aggregator.add(acc, event, ts);
        if (random() < 0.2) {
          chunks.push(roundTrip(acc));
          acc = aggregator.createAccumulator();
        }
      }
      chunks.push(acc);
      // Merge random neighbours until one is left: the left one arrived first.
      while (chunks.length > 1) {
        const i = Math.floor(random() * (chunks.length - 1));
        const right = chunks[i + 1];
        const rightBefore = JSON.stringify(right);
        chunks.splice(i, 2, aggregator.merge(chunks[i], right));
        expect(JSON.stringify(right), `seed ${seed}: merge must not modify its second argument`).toBe(rightBefore);
      }
      expect(aggregator.getResult(chunks[0]), `seed ${seed}`).toEqual(expected);
    }
  });

  it('merging an interleaved random split equals one accumulation for order-free aggregations', () => {
    const aggregators = [createAggregator(RETRACTABLE), createAggregator([{ op: 'count' }])];
    for (const aggregator of aggregators) {
      for (const seed of SEEDS) {
        const random = mulberry32(seed);
        const events = randomEvents(random, Math.floor(random() * 60));
        const parts = [aggregator.createAccumulator(), aggregator.createAccumulator(), aggregator.createAccumulator()];
        for (const [event, ts] of events) {
          const k = Math.floor(random() * parts.length);
          parts[k] = aggregator.add(parts[k], event, ts);
        }
        const merged = aggregator.merge(aggregator.merge(roundTrip(parts[2]), parts[0]), parts[1]);
        expect(aggregator.getResult(merged), `seed ${seed}`).toEqual(run(aggregator, events));
      }
    }
  });

  it('first, last and top-n break ties towards the first argument of merge', () => {
    const aggregator = createAggregator([
      { op: 'first', field: 'v' },
      { op: 'last', field: 'v' },
      { op: 'top-n', field: 'v', n: 2 },
    ]);
    const a = aggregator.add(aggregator.createAccumulator(), { id: 1, v: 1 }, 10);
    const b = aggregator.add(aggregator.createAccumulator(), { id: 2, v: 1 }, 10);
    expect(aggregator.getResult(aggregator.merge(roundTrip(a), b))).toEqual({
      first_v: 1,
      last_v: 1,
      top_n_v: [
        { id: 1, v: 1 },
        { id: 2, v: 1 },
      ],
    });
    expect((aggregator.getResult(aggregator.merge(roundTrip(b), a))['top_n_v'] as Event[]).map((e) => e.id)).toEqual([2, 1]);
    const empty = aggregator.createAccumulator();
    expect(aggregator.getResult(aggregator.merge(aggregator.createAccumulator(), roundTrip(a)))).toEqual(aggregator.getResult(a));
    expect(aggregator.getResult(aggregator.merge(roundTrip(a), empty))).toEqual(aggregator.getResult(a));
  });
});

describe('createAggregator: retraction', () => {
  it('count, sum and avg retract exactly, back to the empty result', () => {
    const aggregator = createAggregator([
      { op: 'count' },
      { op: 'sum', field: 'v' },
      { op: 'avg', field: 'v' },
    ]);
    expect(aggregator.supportsRetraction).toBe(true);
    const values = [3, 1e15, -7, 0.1, 0.2, 0.7, 2 ** 52, -(2 ** 52)];
    let acc = aggregator.createAccumulator();
    for (const [i, v] of values.entries()) acc = aggregator.add(acc, { id: i, v }, i);
    acc = aggregator.retract(acc, { id: 0, v: 3 }, 0);
    acc = aggregator.retract(acc, { id: 1, v: 1e15 }, 1);
    expect(aggregator.getResult(acc)['count']).toBe(6);
    for (const [i, v] of values.entries()) if (i >= 2) acc = aggregator.retract(acc, { id: i, v }, i);
    expect(aggregator.getResult(acc)).toEqual({ count: 0, sum_v: 0, avg_v: null });
    expect(Object.is(aggregator.getResult(acc)['sum_v'], 0)).toBe(true);
  });

  it('integer sums return to exactly 0 after adding and retracting the same values', () => {
    const aggregator = createAggregator([{ op: 'sum', field: 'v' }]);
    const random = mulberry32(7);
    const values = Array.from({ length: 500 }, () => Math.floor((random() - 0.5) * 2 ** 40));
    let acc = aggregator.createAccumulator();
    for (const v of values) acc = aggregator.add(acc, { v }, 0);
    expect(aggregator.getResult(acc)['sum_v']).toBe(values.reduce((a, b) => a + b, 0));
    for (const v of values.slice(0, 250)) acc = aggregator.retract(acc, { v }, 0);
    expect(aggregator.getResult(acc)['sum_v']).toBe(values.slice(250).reduce((a, b) => a + b, 0));
    for (const v of values.slice(250)) acc = aggregator.retract(acc, { v }, 0);
    expect(aggregator.getResult(acc)['sum_v']).toBe(0);
  });

  it('min and max keep multiplicities: retracting the current extreme reveals the next', () => {
    const aggregator = createAggregator([
      { op: 'min', field: 'v' },
      { op: 'max', field: 'v' },
    ]);
    let acc = aggregator.createAccumulator();
    for (const v of [5, 9, 9, 1, 'b', 'z']) acc = aggregator.add(acc, { v }, 0);
    expect(aggregator.getResult(acc)).toEqual({ min_v: 1, max_v: 9 });
    acc = aggregator.retract(acc, { v: 9 }, 0);
    expect(aggregator.getResult(acc)).toEqual({ min_v: 1, max_v: 9 });
    acc = roundTrip(aggregator.retract(acc, { v: 9 }, 0));
    expect(aggregator.getResult(acc)).toEqual({ min_v: 1, max_v: 5 });
    acc = aggregator.retract(acc, { v: 1 }, 0);
    expect(aggregator.getResult(acc)).toEqual({ min_v: 5, max_v: 5 });
    acc = aggregator.retract(acc, { v: 5 }, 0);
    // No numbers left: the strings show.
    expect(aggregator.getResult(acc)).toEqual({ min_v: 'b', max_v: 'z' });
    acc = aggregator.retract(acc, { v: 'z' }, 0);
    expect(aggregator.getResult(acc)).toEqual({ min_v: 'b', max_v: 'b' });
    acc = aggregator.retract(acc, { v: 'b' }, 0);
    expect(aggregator.getResult(acc)).toEqual({ min_v: null, max_v: null });
    expect(acc).toEqual(aggregator.createAccumulator());
  });

  it('a retraction that arrives before its addition cancels out', () => {
    const aggregator = createAggregator(RETRACTABLE);
    let acc = aggregator.createAccumulator();
    acc = aggregator.add(acc, { id: 1, v: 3, s: 'q', tag: 'x' }, 0);
    acc = aggregator.retract(acc, { id: 2, v: 8, s: 'z', tag: 'y' }, 0);
    expect(aggregator.getResult(acc)).toMatchObject({ max_v: 3, max_s: 'q', distinct_count_tag: 1 });
    acc = aggregator.add(acc, { id: 2, v: 8, s: 'z', tag: 'y' }, 0);
    expect(aggregator.getResult(acc)).toEqual(run(aggregator, [[{ id: 1, v: 3, s: 'q', tag: 'x' }, 0]]));
  });

  it('distinct-count keeps multiplicities', () => {
    const aggregator = createAggregator([{ op: 'distinct-count', field: 'tag', as: 'n' }]);
    let acc = aggregator.createAccumulator();
    for (const tag of ['a', 'a', 'b', { k: 1 }]) acc = aggregator.add(acc, { tag }, 0);
    expect(aggregator.getResult(acc)).toEqual({ n: 3 });
    acc = aggregator.retract(acc, { tag: 'a' }, 0);
    expect(aggregator.getResult(acc)).toEqual({ n: 3 });
    acc = aggregator.retract(acc, { tag: 'a' }, 0);
    expect(aggregator.getResult(acc)).toEqual({ n: 2 });
    acc = aggregator.retract(acc, { tag: { k: 1 } }, 0);
    acc = aggregator.retract(acc, { tag: 'b' }, 0);
    expect(aggregator.getResult(acc)).toEqual({ n: 0 });
    expect(acc).toEqual(aggregator.createAccumulator());
  });

  it('random adds and retractions equal recomputation over what remains', () => {
    const aggregator = createAggregator(RETRACTABLE);
    for (const seed of SEEDS) {
      const random = mulberry32(seed);
      const events = randomEvents(random, 80);
      const live: Array<[Event, number]> = [];
      let acc = aggregator.createAccumulator();
      for (const [event, ts] of events) {
        acc = aggregator.add(acc, event, ts);
        live.push([event, ts]);
        while (live.length > 0 && random() < 0.4) {
          const [gone] = live.splice(Math.floor(random() * live.length), 1);
          if (gone) acc = aggregator.retract(acc, gone[0], gone[1]);
        }
        if (random() < 0.1) acc = roundTrip(acc);
        expect(aggregator.getResult(acc), `seed ${seed}`).toEqual(run(aggregator, live));
      }
      for (const [event, ts] of live) acc = aggregator.retract(acc, event, ts);
      expect(aggregator.getResult(acc), `seed ${seed}`).toEqual(EMPTY_RESULT_RETRACTABLE);
    }
  });

  it('first, last and top-n cannot retract, and say so by name', () => {
    for (const [aggregation, pattern] of [
      [{ op: 'first', field: 'price' }, /'first' \(result field 'first_price'\)/],
      [{ op: 'last', field: 'price', as: 'closing' }, /'last' \(result field 'closing'\)/],
      [{ op: 'top-n', field: 'price', n: 5 }, /'top-n' \(result field 'top_n_price'\)/],
    ] as const) {
      const aggregator = createAggregator([{ op: 'count' }, aggregation]);
      expect(aggregator.supportsRetraction).toBe(false);
      const acc = aggregator.add(aggregator.createAccumulator(), { price: 1 }, 1);
      const before = JSON.stringify(acc);
      expect(() => aggregator.retract(acc, { price: 1 }, 1)).toThrow(pattern);
      expect(JSON.stringify(acc)).toBe(before);
    }
    expect(createAggregator(ALL).supportsRetraction).toBe(false);
    expect(() => createAggregator(ALL).retract(createAggregator(ALL).createAccumulator(), {}, 0)).toThrow(/'first'.*'last'.*'top-n'/);
  });
});

describe('createAggregator: accumulators are JSON data', () => {
  it('survive a JSON round trip after every step and keep working', () => {
    const aggregators = [createAggregator(ALL), createAggregator([{ op: 'count' }])];
    for (const aggregator of aggregators) {
      for (const seed of SEEDS.slice(0, 10)) {
        const random = mulberry32(seed);
        const events = randomEvents(random, 40);
        let acc = roundTrip(aggregator.createAccumulator());
        for (const [event, ts] of events) {
          expect(roundTrip(acc), `seed ${seed}`).toEqual(acc);
          acc = roundTrip(aggregator.add(acc, event, ts));
        }
        expect(aggregator.getResult(acc), `seed ${seed}`).toEqual(run(aggregator, events));
      }
    }
  });

  it('hold no undefined, non-finite numbers or non-plain objects', () => {
    const aggregator = createAggregator(ALL);
    let acc = aggregator.createAccumulator();
    for (const [event, ts] of randomEvents(mulberry32(3), 50)) acc = aggregator.add(acc, event, ts);
    const stack: unknown[] = [acc];
    while (stack.length > 0) {
      const value = stack.pop();
      expect(value).not.toBeUndefined();
      if (typeof value === 'number') expect(Number.isFinite(value)).toBe(true);
      if (typeof value === 'object' && value !== null) {
        expect([Object.prototype, Array.prototype]).toContain(Object.getPrototypeOf(value));
        stack.push(...Object.values(value));
      }
    }
  });
});
