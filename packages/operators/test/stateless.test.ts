/**
 * Harness tests of the stateless operators (map, filter, flat-map, filter-expression,
 * project, union) and of key-by's key selectors. Configs go through the catalog schema,
 * as the graph validator hands them over.
 */
import { describe, expect, it } from 'vitest';
import { getOperator, jobConfig } from '@sluice/graph-model';
import {
  compileKeySelector,
  createOperator,
  MAX_WATERMARK,
  OneInputHarness,
  RowKind,
  type BatchFunction,
  type BatchKind,
  type OneInputOperator,
  type OperatorEnv,
} from '../src/index.js';

const load = (source: string) => new Function(`return (${source})`)() as unknown;
const env: OperatorEnv = { job: jobConfig.parse({}), fn: load, collector: () => ({ push() {}, commit() {} }), print() {} };

function op(type: string, config: unknown, environment: OperatorEnv = env): OneInputHarness {
  const definition = getOperator(type);
  if (!definition) throw new Error(`no catalog entry for ${type}`);
  return new OneInputHarness(createOperator(type, definition.configSchema.parse(config), environment) as OneInputOperator<unknown>).open();
}

const rows = (h: OneInputHarness) => h.records().map((r) => [r.value, r.timestamp, r.kind]);

describe('stateless operators', () => {
  it('map turns each record into exactly one, keeping its timestamp and row kind (changelogs pass through)', () => {
    const h = op('map', { fn: '(v, ctx) => ({ ...v, doubled: v.n * 2, at: ctx.timestamp })' });
    h.processElement({ n: 1 }, 10);
    h.processElement({ n: 2 }, 5, RowKind.UPDATE_BEFORE);
    expect(rows(h)).toEqual([
      [{ n: 1, doubled: 2, at: 10 }, 10, RowKind.INSERT],
      [{ n: 2, doubled: 4, at: 5 }, 5, RowKind.UPDATE_BEFORE],
    ]);
  });

  it('filter keeps the records for which the function returns true, and only true', () => {
    const h = op('filter', { fn: '(v) => v.keep' });
    for (const keep of [true, false, 1, 'yes', null]) h.processElement({ keep }, 1, RowKind.DELETE);
    expect(rows(h)).toEqual([[{ keep: true }, 1, RowKind.DELETE]]);
  });

  it('flat-map emits every element of the returned array or iterable in order, nothing for an empty one, and rejects anything else', () => {
    const h = op('flat-map', { fn: '(v) => v.kind === "array" ? v.items : v.kind === "set" ? new Set(v.items) : v.kind === "none" ? undefined : v.items.length' });
    h.processElement({ kind: 'array', items: [1, 2] }, 3);
    h.processElement({ kind: 'array', items: [] }, 4);
    h.processElement({ kind: 'set', items: ['a', 'b', 'a'] }, 5, RowKind.UPDATE_AFTER);
    h.processElement({ kind: 'none' }, 6);
    expect(rows(h)).toEqual([
      [1, 3, RowKind.INSERT],
      [2, 3, RowKind.INSERT],
      ['a', 5, RowKind.UPDATE_AFTER],
      ['b', 5, RowKind.UPDATE_AFTER],
    ]);
    expect(() => h.processElement({ kind: 'count', items: [1] }, 7)).toThrow(/flat-map must return an array or another iterable, got number/);
  });

  it('filter-expression keeps records that satisfy all (or any) conditions, without code', () => {
    const all = op('filter-expression', { conditions: [{ field: 'amount', op: 'ge', value: 10 }, { field: 'user.country', op: 'in', value: ['NL', 'BE'] }] });
    const any = op('filter-expression', { match: 'any', conditions: [{ field: 'amount', op: 'ge', value: 10 }, { field: 'user.country', op: 'in', value: ['NL', 'BE'] }] });
    const input = [
      { amount: 12, user: { country: 'NL' } },
      { amount: 12, user: { country: 'DE' } },
      { amount: 3, user: { country: 'BE' } },
      { amount: '12', user: {} },
    ];
    for (const h of [all, any]) for (const [i, v] of input.entries()) h.processElement(v, i);
    expect(all.values()).toEqual([input[0]]);
    expect(any.values()).toEqual([input[0], input[1], input[2]]);
  });

  it('project keeps, renames and reorders fields without code; a missing field becomes null', () => {
    const h = op('project', { fields: [{ from: 'user.id', as: 'userId' }, { from: 'amount' }, { from: 'missing.deep' }] });
    h.processElement({ amount: 5, extra: true, user: { id: 'u1', name: 'x' } }, 8, RowKind.DELETE);
    expect(rows(h)).toEqual([[{ userId: 'u1', amount: 5, deep: null }, 8, RowKind.DELETE]]);
    expect(Object.keys(h.values()[0] as object)).toEqual(['userId', 'amount', 'deep']);
  });

  it('union passes every record on unchanged, with its timestamp and row kind', () => {
    const h = op('union', {});
    const record = { a: 1 };
    h.processElement(record, 1);
    h.processElement({ b: 2 }, 2, RowKind.UPDATE_AFTER);
    expect(h.records()[0]?.value).toBe(record);
    expect(rows(h)).toEqual([
      [{ a: 1 }, 1, RowKind.INSERT],
      [{ b: 2 }, 2, RowKind.UPDATE_AFTER],
    ]);
  });

  it('stateless operators forward watermarks and idleness in position, and the final watermark at the end of input', () => {
    for (const [type, config] of [
      ['map', { fn: '(v) => v' }],
      ['filter', { fn: '() => true' }],
      ['flat-map', { fn: '(v) => [v]' }],
      ['filter-expression', { conditions: [{ field: 'x', op: 'exists' }] }],
      ['project', { fields: [{ from: 'x' }] }],
      ['union', {}],
    ] as const) {
      const h = op(type, config);
      h.processElement({ x: 1 }, 1);
      h.processWatermark(5);
      h.processIdle(true);
      h.processElement({ x: 2 }, 6);
      h.endInput();
      expect(h.output.elements.map((e) => e.type), type).toEqual(['record', 'watermark', 'idle', 'record', 'watermark']);
      expect(h.watermarks(), type).toEqual([5, MAX_WATERMARK]);
    }
  });

  it('with a batch function (sandboxed code), records wait in a buffer that empties, in order, before a watermark, a barrier and the end of input', () => {
    const calls: number[] = [];
    const batch = (source: string, kind: BatchKind): BatchFunction => {
      const f = load(source) as (v: unknown) => unknown;
      return (values) => {
        calls.push(values.length);
        if (kind === 'map') return { outputs: values.map(f) };
        if (kind === 'filter') return { keep: Uint8Array.from(values.map((v) => (f(v) === true ? 1 : 0))) };
        const outputs: unknown[] = [];
        const counts = Int32Array.from(values.map((v) => {
          const out = f(v) as unknown[];
          outputs.push(...out);
          return out.length;
        }));
        return { outputs, counts };
      };
    };
    const h = op('flat-map', { fn: '(v) => Array.from({ length: v }, (_, i) => v * 10 + i)' }, { ...env, batch });
    h.processElement(1, 1);
    h.processElement(0, 2);
    h.processElement(2, 3, RowKind.UPDATE_AFTER);
    expect(h.records()).toEqual([]);
    h.processWatermark(3);
    expect(rows(h)).toEqual([
      [10, 1, RowKind.INSERT],
      [20, 3, RowKind.UPDATE_AFTER],
      [21, 3, RowKind.UPDATE_AFTER],
    ]);
    expect(h.output.elements.at(-1)).toEqual({ type: 'watermark', watermark: 3 });
    h.processElement(3, 4);
    h.snapshot();
    expect(h.values()).toHaveLength(6);
    h.processElement(1, 5);
    h.endInput();
    expect(h.values()).toEqual([10, 20, 21, 30, 31, 32, 10]);
    expect(calls).toEqual([3, 1, 1]);
  });
});

describe('key-by key selectors', () => {
  it('takes the key from a field path', () => {
    const key = compileKeySelector({ kind: 'field', field: 'user.id' }, load);
    expect(key({ user: { id: 'u1' } })).toBe('u1');
    expect(key({ user: { id: 7 } })).toBe(7);
    expect(key({ user: { id: true } })).toBe('true');
  });

  it('takes a composite key from several fields: equal combinations give equal keys', () => {
    const key = compileKeySelector({ kind: 'fields', fields: ['a', 'b'] }, load);
    expect(key({ a: 1, b: 'x', c: 9 })).toBe(key({ b: 'x', a: 1 }));
    expect(key({ a: 1, b: 'x' })).not.toBe(key({ a: '1', b: 'x' }));
    expect(key({ a: 1 })).toBe('[1,null]');
  });

  it('takes the key from a function', () => {
    const key = compileKeySelector({ kind: 'function', fn: '(v) => v.first + "/" + v.last' }, load);
    expect(key({ first: 'a', last: 'b' })).toBe('a/b');
  });

  it('rejects a missing key or one that is not a string or a number, naming where it came from', () => {
    expect(() => compileKeySelector({ kind: 'field', field: 'id' }, load)({})).toThrow(/field 'id' gave no key \(undefined\)/);
    expect(() => compileKeySelector({ kind: 'field', field: 'id' }, load)({ id: null })).toThrow(/key of type null/);
    expect(() => compileKeySelector({ kind: 'function', fn: '(v) => ({ id: v.id })' }, load)({ id: 1 })).toThrow(/the key function gave a key of type object/);
    expect(() => compileKeySelector({ kind: 'field', field: 'n' }, load)({ n: Number.NaN })).toThrow(/key of type number/);
  });
});
