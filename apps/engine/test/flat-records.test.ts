/**
 * The columnar format flat records cross the sandbox boundary in (flat-records.ts). A batch
 * either arrives exactly as it was (keys, their order, values and their types) or is not
 * encoded at all and goes as msgpack; and a reader refuses a malformed batch with an error
 * instead of building records from it (the isolate's side of it runs user code).
 */
import { describe, expect, it } from 'vitest';
import { flatCodec } from '../src/runtime/flat-records.js';

function roundTrip(values: unknown[]): unknown[] | undefined {
  const writer = flatCodec().writer();
  const reader = flatCodec().reader();
  const batch = writer.encode(values, 0);
  if (batch === undefined) return undefined;
  const records = reader.decode(batch.definition, batch.columns, batch.text, values.length).records;
  // A cursor hands the same records one at a time, then nothing.
  const next = reader.cursor(batch.definition, batch.columns, batch.text, values.length);
  const oneByOne = values.map(() => next());
  expect(oneByOne).toEqual(records);
  for (let i = 0; i < values.length; i++) expect(Object.keys(oneByOne[i] ?? {})).toEqual(Object.keys(records[i] ?? {}));
  expect(next()).toBeUndefined();
  return records;
}

describe('flat records: what is encoded arrives exactly', () => {
  it('numbers, strings and booleans, keys in their order, strings of any characters', () => {
    const values = [
      { id: 1, 'quote"d': 'a"b', 'back\\slash': 'line\u2028sep\nnew', emoji: '😀 x', '': '', flag: true, ts: 1_700_000_000_000.5 },
      { id: -0, 'quote"d': '\u0000', 'back\\slash': '\ud83d', emoji: 'ü'.repeat(5000), '': 'é', flag: false, ts: Number.MAX_SAFE_INTEGER },
      { id: NaN, 'quote"d': 'x', 'back\\slash': 'y', emoji: 'z', '': 'w', flag: true, ts: -Infinity },
      { id: 2 ** 31, 'quote"d': '', 'back\\slash': '', emoji: '', '': '', flag: false, ts: 1e-300 },
    ];
    const back = roundTrip(values) as Array<Record<string, unknown>>;
    expect(back).toEqual(values);
    for (let i = 0; i < values.length; i++) {
      expect(Object.keys(back[i] as object)).toEqual(Object.keys(values[i] as object));
      expect(Object.is((back[i] as { id: unknown }).id, values[i]?.id)).toBe(true);
      expect(Object.getPrototypeOf(back[i])).toBe(Object.prototype);
    }
  });

  it('integers come back as integers the same hidden class can hold (and -0 stays -0)', () => {
    const back = roundTrip([{ n: 3 }, { n: -0 }, { n: 0 }, { n: 2.5 }, { n: -(2 ** 31) }]) as Array<{ n: number }>;
    expect(back.map((r) => r.n)).toEqual([3, -0, 0, 2.5, -(2 ** 31)]);
    expect(Object.is(back[1]?.n, -0)).toBe(true);
    expect(Object.is(back[2]?.n, 0)).toBe(true);
  });

  it('a list of numbers, of strings or of booleans is a shape of its own (one column)', () => {
    const numbers = [1, 2.5, -0, NaN, -Infinity, 2 ** 53];
    const back = roundTrip(numbers) as number[];
    expect(back).toEqual(numbers);
    expect(Object.is(back[2], -0)).toBe(true);
    expect(roundTrip(['a', '', '😀', 'x\u2028y'])).toEqual(['a', '', '😀', 'x\u2028y']);
    expect(roundTrip([true, false])).toEqual([true, false]);
    for (const mixed of [[1, 'a'], ['a', true], [1, undefined], [1, null], [1, { a: 1 }]]) expect(roundTrip(mixed)).toBeUndefined();
  });

  it('an empty object is a shape too', () => {
    expect(roundTrip([{}, {}])).toEqual([{}, {}]);
  });
});

describe('flat records: what does not fit one flat shape is left to msgpack', () => {
  const cases: Array<[string, unknown[]]> = [
    ['a nested object', [{ a: 1, b: { c: 2 } }]],
    ['an array value', [{ a: [1] }]],
    ['null and undefined values', [{ a: null }, { a: undefined }]],
    ['a bigint', [{ a: 1n }]],
    ['records that are not objects', [1, 'x', null]],
    ['an array record', [[1, 2]]],
    ['a null-prototype object', [Object.assign(Object.create(null) as object, { a: 1 })]],
    ['a class instance (inherited members)', [new (class P { a = 1 })()]],
    ['an inherited enumerable key', [Object.assign(Object.create({ inherited: 1 }) as object, { a: 1 })]],
    ['a __proto__ key', [JSON.parse('{"__proto__": 1, "a": 2}') as object]],
    ['an integer-like key (for-in puts it first)', [{ b: 1, 7: 2 }]],
    ['two shapes in one batch', [{ a: 1 }, { b: 1 }]],
    ['the same keys in another order', [{ a: 1, b: 2 }, { b: 2, a: 1 }]],
    ['a key more', [{ a: 1 }, { a: 1, b: 2 }]],
    ['a value of another type', [{ a: 1 }, { a: '1' }]],
    ['more than 64 keys', [Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))]],
  ];
  it.each(cases)('%s', (_name, values) => {
    expect(roundTrip(values)).toBeUndefined();
  });

  it('an empty batch', () => {
    expect(flatCodec().writer().encode([], 0)).toBeUndefined();
  });

  it('every batch carries its shape, so a reader needs no earlier batch (one a call threw away)', () => {
    const writer = flatCodec().writer();
    const first = writer.encode([{ a: 1 }], 0);
    const second = writer.encode([{ a: 2, b: 'x' }], 0);
    const third = writer.encode([{ a: 3 }], 0);
    expect([first?.definition, second?.definition, third?.definition]).toEqual([[['a'], 'n'], [['a', 'b'], 'ns'], [['a'], 'n']]);
    // A new reader, and the first batch never reached it.
    const reader = flatCodec().reader();
    for (const [batch, expected] of [[third, [{ a: 3 }]], [second, [{ a: 2, b: 'x' }]]] as const) {
      if (!batch) throw new Error('not encoded');
      expect(reader.decode(batch.definition, batch.columns, batch.text, 1).records).toEqual(expected);
    }
  });

  it('the fixed part of a record bounds its msgpack size', () => {
    const reader = flatCodec().reader();
    const { fixedBytes } = reader.decode([['id', 'name', 'ok'], 'nsb'], new Float64Array([1, 0, 1]), '', 1);
    // Header, then per key 5 + 3 × its length, then 9 for a number, 5 for a string (less its characters), 1 for a boolean.
    expect(fixedBytes).toBe(16 + (5 + 6 + 9) + (5 + 12 + 5) + (5 + 6 + 1));
  });

  it('after batches in a row that fit no shape, a writer rests, then tries again', () => {
    const writer = flatCodec().writer();
    const mixed = [{ a: 1 }, { b: 1 }];
    for (let i = 0; i < 4; i++) expect(writer.encode(mixed, 0)).toBeUndefined();
    // Resting: even a batch that fits is left to msgpack for a while.
    expect(writer.encode([{ a: 1 }], 0)).toBeUndefined();
    let tries = 0;
    while (writer.encode([{ a: 1 }], 0) === undefined && tries < 10_000) tries++;
    expect(tries).toBeLessThan(10_000);
    expect(writer.encode([{ a: 1 }], 0)).toBeDefined();
  });

  it('leaves free slots after the columns for the caller', () => {
    const batch = flatCodec().writer().encode([{ a: 1 }, { a: 2 }], 2);
    expect(Array.from(batch?.columns ?? [])).toEqual([1, 2, 0, 0]);
  });
});

describe('flat records: a reader refuses a malformed batch', () => {
  const columns = new Float64Array([1, 2]);
  const cases: Array<[string, unknown, Float64Array, unknown, unknown, RegExp]> = [
    ['no definition', undefined, columns, '', 1, /malformed record shape/],
    ['a definition that is not a pair', 'a', columns, '', 1, /malformed record shape/],
    ['an unknown type letter', [['a'], 'x'], columns, '', 1, /malformed record shape/],
    ['a list shape of two types', [null, 'nn'], columns, '', 1, /malformed record shape/],
    ['a list shape of an unknown type', [null, 'u'], columns, '', 1, /malformed record shape/],
    ['types and keys of different lengths', [['a', 'b'], 'n'], columns, '', 1, /malformed record shape/],
    ['a key that is not a string', [[1], 'n'], columns, '', 1, /malformed record shape/],
    ['a __proto__ key', [['__proto__'], 'n'], columns, '', 1, /malformed record shape/],
    ['an integer-like key', [['7'], 'n'], columns, '', 1, /malformed record shape/],
    ['a key twice', [['a', 'a'], 'nn'], columns, '', 1, /malformed record shape/],
    ['too many keys', [Array.from({ length: 65 }, (_, i) => `k${i}`), 'n'.repeat(65)], columns, '', 1, /malformed record shape/],
    ['no text', [['a'], 'n'], columns, 5, 1, /no text column/],
    ['more records than columns', [['a'], 'n'], columns, '', 3, /shorter than its records/],
    ['a fractional record count', [['a'], 'n'], columns, '', 1.5, /shorter than its records/],
    ['a negative record count', [['a'], 'n'], columns, '', -1, /shorter than its records/],
  ];
  it.each(cases)('%s', (_name, definition, cols, text, n, message) => {
    expect(() => flatCodec().reader().decode(definition, cols, text, n)).toThrow(message);
    expect(() => flatCodec().reader().cursor(definition, cols, text, n)).toThrow(message);
  });

  it('more shapes than a reader keeps code for', () => {
    const reader = flatCodec().reader();
    for (let i = 0; i < 64; i++) expect(reader.decode([[`k${i}`], 'n'], columns, '', 1).records).toEqual([{ [`k${i}`]: 1 }]);
    expect(() => reader.decode([['k64'], 'n'], columns, '', 1)).toThrow(/record shape past the first 64/);
    // Known shapes still decode.
    expect(reader.decode([['k3'], 'n'], columns, '', 1).records).toEqual([{ k3: 1 }]);
  });

  it('string lengths that do not add up give strings, never a crash', () => {
    const reader = flatCodec().reader();
    const back = reader.decode([['s'], 's'], new Float64Array([NaN, -5, 1e12]), 'abc', 3).records as Array<{ s: unknown }>;
    for (const r of back) expect(typeof r.s).toBe('string');
  });

  it('a definition with keys that would be code stays data', () => {
    const reader = flatCodec().reader();
    const key = '"]; globalThis.hacked = 1; //';
    const back = reader.decode([[key, 'x\u2028y'], 'nb'], new Float64Array([1, 1]), '', 1).records as Array<Record<string, unknown>>;
    expect(back).toEqual([{ [key]: 1, 'x\u2028y': true }]);
    expect((globalThis as Record<string, unknown>)['hacked']).toBeUndefined();
  });
});
