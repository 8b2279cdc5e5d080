/**
 * The built-in aggregations (`count`, `sum`, `avg`, `min`, `max`, `first`, `last`,
 * `distinct-count`, `top-n`) that windows and the `aggregate` operator run without
 * user code, as one aggregate function over a list of them.
 *
 * ## Accumulators
 *
 * An accumulator is plain JSON data, because it goes into checkpoints as it is: no
 * Map, Set or class instance, no `undefined`, no non-finite number. It survives
 * `JSON.parse(JSON.stringify(acc))` and keeps working. For a list of aggregations it
 * is an array with one slot per aggregation; for a single `count` it is just the
 * number, so that the hottest case (a windowed count) adds with one increment and
 * allocates nothing. `add`, `retract` and `merge` may mutate the accumulator they are
 * given and return it; callers must keep the returned value.
 *
 * ## Semantics
 *
 * - `count` counts records, whatever their fields.
 * - `sum`, `avg`, `min`, `max` ignore a record whose field is missing or of the wrong
 *   type, as SQL ignores NULL. Numbers must be finite (`NaN` and `±Infinity` are
 *   ignored too; JSON could not hold them). The sum of nothing is 0; the average,
 *   minimum and maximum of nothing are null.
 * - Sums use compensated (Neumaier) summation in plain numbers: integer sums are exact
 *   within ±2^53, and sums of decimals such as 0.1 + 0.2 + 0.3 come out as written
 *   far more often than with naive addition. With no values left (all retracted) the
 *   sum is exactly 0 and the average null, whatever rounding residue the state holds.
 * - `min` and `max` also work on strings (UTF-16 code unit order). Numbers and strings
 *   are never compared with each other: if the field held any numbers, the result is
 *   the smallest (largest) number, otherwise the smallest (largest) string.
 * - `first` / `last` give the field value of the record with the smallest / largest
 *   timestamp; a tie keeps the earliest arrival for `first` and the latest for `last`.
 *   The record counts even when its field is missing: the result is then null.
 * - `distinct-count` counts distinct values: scalars by type and value (`1` and `'1'`
 *   differ, `0` and `-0` do not), objects and arrays by canonical JSON (keys sorted).
 *   Missing and null values are not counted, as in SQL's COUNT(DISTINCT x).
 * - `top-n` keeps the `n` records with the largest finite numeric field value; the
 *   result is an array of those records, largest first, and among equal values the
 *   earlier arrival first. Records without such a value are ignored. Records are kept
 *   by reference: they must not be mutated afterwards (records never are).
 *
 * ## Retraction and merging
 *
 * `retract` undoes an `add`, for changelog inputs (Flink's `retract`). `count`,
 * `sum` and `avg` retract exactly; `min`, `max` and `distinct-count` keep the
 * multiplicity of every value (as Flink's MaxWithRetractAggFunction keeps a MapView),
 * so retracting the current maximum reveals the next one. A retraction that arrives
 * before its addition leaves a negative multiplicity that the addition cancels.
 * `first`, `last` and `top-n` cannot retract: `supportsRetraction` is then false and
 * `retract` throws an Error naming them, before touching the accumulator.
 *
 * `merge(a, b)` (merging session windows) folds `b` into `a` and returns it; `b` is
 * not modified. It gives the same result as adding all records into one accumulator
 * with the records of `a` arriving before those of `b`; ties in `first`, `last` and
 * `top-n` are broken that way. (Float sums can differ from one accumulation in the
 * last bits, as any reordered float sum can.)
 */
import { aggregationOutputName, type Aggregation } from '@sluice/graph-model';
import { compileFieldPath, setOwnField, type FieldGetter } from './field-path.js';

/** The built-in aggregations of one window or `aggregate` operator, as one aggregate function. */
export interface BuiltinAggregator {
  /** A new, empty accumulator: plain JSON data. */
  createAccumulator(): unknown;
  /** Adds a record; may mutate and return `acc`. */
  add(acc: unknown, record: unknown, timestamp: number): unknown;
  /** Removes a record added before (the inverse of `add`); may mutate and return `acc`. @throws Error if `supportsRetraction` is false. */
  retract(acc: unknown, record: unknown, timestamp: number): unknown;
  /** Folds `b` into `a` (as if all of `a`'s records arrived first) and returns it; `b` is left as it was. */
  merge(a: unknown, b: unknown): unknown;
  /** One field per aggregation, named by `aggregationOutputName`, in the listed order. */
  getResult(acc: unknown): Record<string, unknown>;
  /** False if any aggregation cannot retract. */
  readonly supportsRetraction: boolean;
}

/**
 * Builds the aggregate function for a list of aggregations (as validated by the
 * catalog's `aggregationList`).
 *
 * @throws Error if two aggregations produce the same result field.
 */
export function createAggregator(aggregations: readonly Aggregation[]): BuiltinAggregator {
  const names = new Set<string>();
  for (const a of aggregations) {
    const name = aggregationOutputName(a);
    if (names.has(name)) throw new Error(`two aggregations produce the result field '${name}'; give one a different 'as'`);
    names.add(name);
  }
  const [only] = aggregations;
  if (aggregations.length === 1 && only?.op === 'count') return new CountAggregator(aggregationOutputName(only));
  return new SlotAggregator(aggregations.map((a, slot) => createPart(a, slot)));
}

// ---------------------------------------------------------------------------------
// The aggregators

/** A single `count`: the accumulator is the count itself. */
class CountAggregator implements BuiltinAggregator {
  readonly supportsRetraction = true;
  private readonly name: string;

  constructor(name: string) {
    this.name = name;
  }
  createAccumulator(): number {
    return 0;
  }
  add(acc: unknown): number {
    return (acc as number) + 1;
  }
  retract(acc: unknown): number {
    return (acc as number) - 1;
  }
  merge(a: unknown, b: unknown): number {
    return (a as number) + (b as number);
  }
  getResult(acc: unknown): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    setOwnField(result, this.name, acc);
    return result;
  }
}

type Slots = unknown[];

/** One aggregation, owning one slot of the accumulator array. */
interface Part {
  readonly name: string;
  /** Describes the aggregation in errors: `'first' (result field 'first_price')`. */
  readonly label: string;
  readonly retractable: boolean;
  init(): unknown;
  add(slots: Slots, record: unknown, timestamp: number): void;
  retract(slots: Slots, record: unknown, timestamp: number): void;
  merge(into: Slots, from: Slots): void;
  result(slots: Slots): unknown;
}

/** Any list of aggregations: the accumulator is an array with one slot per aggregation. */
class SlotAggregator implements BuiltinAggregator {
  readonly supportsRetraction: boolean;
  private readonly parts: readonly Part[];
  private readonly retractError: string | undefined;

  constructor(parts: readonly Part[]) {
    this.parts = parts;
    const blocking = parts.filter((p) => !p.retractable);
    this.supportsRetraction = blocking.length === 0;
    this.retractError =
      blocking.length === 0
        ? undefined
        : `retraction is not supported by aggregation${blocking.length > 1 ? 's' : ''} ${blocking.map((p) => p.label).join(', ')}: ${blocking.length > 1 ? 'they' : 'it'} can only aggregate insert-only inputs`;
  }
  createAccumulator(): Slots {
    return this.parts.map((p) => p.init());
  }
  add(acc: unknown, record: unknown, timestamp: number): unknown {
    const slots = acc as Slots;
    for (const part of this.parts) part.add(slots, record, timestamp);
    return slots;
  }
  retract(acc: unknown, record: unknown, timestamp: number): unknown {
    if (this.retractError !== undefined) throw new Error(this.retractError);
    const slots = acc as Slots;
    for (const part of this.parts) part.retract(slots, record, timestamp);
    return slots;
  }
  merge(a: unknown, b: unknown): unknown {
    const into = a as Slots;
    const from = b as Slots;
    for (const part of this.parts) part.merge(into, from);
    return into;
  }
  getResult(acc: unknown): Record<string, unknown> {
    const slots = acc as Slots;
    const result: Record<string, unknown> = {};
    for (const part of this.parts) setOwnField(result, part.name, part.result(slots));
    return result;
  }
}

function createPart(a: Aggregation, slot: number): Part {
  const name = aggregationOutputName(a);
  const label = `'${a.op}' (result field '${name}')`;
  switch (a.op) {
    case 'count':
      return countPart(name, label, slot);
    case 'sum':
      return sumPart(name, label, slot, compileFieldPath(a.field), false);
    case 'avg':
      return sumPart(name, label, slot, compileFieldPath(a.field), true);
    case 'min':
      return extremePart(name, label, slot, compileFieldPath(a.field), false);
    case 'max':
      return extremePart(name, label, slot, compileFieldPath(a.field), true);
    case 'first':
      return arrivalPart(name, label, slot, compileFieldPath(a.field), false);
    case 'last':
      return arrivalPart(name, label, slot, compileFieldPath(a.field), true);
    case 'distinct-count':
      return distinctPart(name, label, slot, compileFieldPath(a.field));
    case 'top-n':
      return topNPart(name, label, slot, compileFieldPath(a.field), a.n);
  }
}

function cannotRetract(label: string): never {
  throw new Error(`retraction is not supported by aggregation ${label}: it can only aggregate insert-only inputs`);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

// ---------------------------------------------------------------------------------
// count

function countPart(name: string, label: string, slot: number): Part {
  return {
    name,
    label,
    retractable: true,
    init: () => 0,
    add: (slots) => {
      slots[slot] = (slots[slot] as number) + 1;
    },
    retract: (slots) => {
      slots[slot] = (slots[slot] as number) - 1;
    },
    merge: (into, from) => {
      into[slot] = (into[slot] as number) + (from[slot] as number);
    },
    result: (slots) => slots[slot],
  };
}

// ---------------------------------------------------------------------------------
// sum and avg

/** [sum, compensation, number of values]; the value is sum + compensation. */
type Moments = [number, number, number];

/** Adds `v` to a compensated sum (Neumaier's variant of Kahan summation). */
function addCompensated(m: Moments, v: number): void {
  const sum = m[0];
  const t = sum + v;
  m[1] += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
  m[0] = t;
}

function sumPart(name: string, label: string, slot: number, get: FieldGetter, average: boolean): Part {
  return {
    name,
    label,
    retractable: true,
    init: (): Moments => [0, 0, 0],
    add: (slots, record) => {
      const v = get(record);
      if (!isFiniteNumber(v)) return;
      const m = slots[slot] as Moments;
      addCompensated(m, v);
      m[2] += 1;
    },
    retract: (slots, record) => {
      const v = get(record);
      if (!isFiniteNumber(v)) return;
      const m = slots[slot] as Moments;
      addCompensated(m, -v);
      m[2] -= 1;
    },
    merge: (into, from) => {
      const m = into[slot] as Moments;
      const o = from[slot] as Moments;
      addCompensated(m, o[0]);
      m[1] += o[1];
      m[2] += o[2];
    },
    result: (slots) => {
      const m = slots[slot] as Moments;
      // With no values (all retracted), a float sum may keep a residue of rounding: show 0.
      if (average) return m[2] > 0 ? (m[0] + m[1]) / m[2] : null;
      return m[2] === 0 ? 0 : m[0] + m[1];
    },
  };
}

// ---------------------------------------------------------------------------------
// min and max

/**
 * The multiplicity of every value, and the current extremes among the values with a
 * positive multiplicity. Numbers are keyed by `String(n)` (which reads back exactly),
 * strings by `':' + s`, so no key is a number and no key can be `__proto__`.
 */
interface Extremes {
  counts: Record<string, number>;
  num: number | null;
  str: string | null;
}

const STRING_KEY = ':';

function extremePart(name: string, label: string, slot: number, get: FieldGetter, largest: boolean): Part {
  const betterNum = largest ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  const betterStr = largest ? (a: string, b: string) => a > b : (a: string, b: string) => a < b;

  /** Recomputes both extremes from the multiplicities. */
  const rescan = (st: Extremes): void => {
    let num: number | null = null;
    let str: string | null = null;
    for (const [key, count] of Object.entries(st.counts)) {
      if (count <= 0) continue;
      if (key.startsWith(STRING_KEY)) {
        const s = key.slice(STRING_KEY.length);
        if (str === null || betterStr(s, str)) str = s;
      } else {
        const n = Number(key);
        if (num === null || betterNum(n, num)) num = n;
      }
    }
    st.num = num;
    st.str = str;
  };

  /** Adds `delta` to the multiplicity of `key`, dropping it at 0; returns the new multiplicity. */
  const bump = (counts: Record<string, number>, key: string | number, delta: number): number => {
    const count = (counts[key] ?? 0) + delta;
    if (count === 0) Reflect.deleteProperty(counts, key);
    else counts[key] = count;
    return count;
  };

  return {
    name,
    label,
    retractable: true,
    init: (): Extremes => ({ counts: {}, num: null, str: null }),
    add: (slots, record) => {
      const v = get(record);
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) return;
        const st = slots[slot] as Extremes;
        if (bump(st.counts, v, 1) > 0 && (st.num === null || betterNum(v, st.num))) st.num = v;
      } else if (typeof v === 'string') {
        const st = slots[slot] as Extremes;
        if (bump(st.counts, STRING_KEY + v, 1) > 0 && (st.str === null || betterStr(v, st.str))) st.str = v;
      }
    },
    retract: (slots, record) => {
      const v = get(record);
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) return;
        const st = slots[slot] as Extremes;
        if (bump(st.counts, v, -1) <= 0 && v === st.num) rescan(st);
      } else if (typeof v === 'string') {
        const st = slots[slot] as Extremes;
        if (bump(st.counts, STRING_KEY + v, -1) <= 0 && v === st.str) rescan(st);
      }
    },
    merge: (into, from) => {
      const st = into[slot] as Extremes;
      for (const [key, count] of Object.entries((from[slot] as Extremes).counts)) bump(st.counts, key, count);
      rescan(st);
    },
    result: (slots) => {
      const st = slots[slot] as Extremes;
      return st.num ?? st.str;
    },
  };
}

// ---------------------------------------------------------------------------------
// first and last

interface Arrival {
  /** Whether any record was added. */
  set: boolean;
  time: number;
  value: unknown;
}

function arrivalPart(name: string, label: string, slot: number, get: FieldGetter, latest: boolean): Part {
  // first: replace only on a strictly smaller timestamp (ties keep the earliest arrival);
  // last: replace on a larger or equal one (ties keep the latest arrival).
  const replaces = latest ? (t: number, held: number) => t >= held : (t: number, held: number) => t < held;
  return {
    name,
    label,
    retractable: false,
    init: (): Arrival => ({ set: false, time: 0, value: null }),
    add: (slots, record, timestamp) => {
      const st = slots[slot] as Arrival;
      if (st.set && !replaces(timestamp, st.time)) return;
      st.set = true;
      st.time = timestamp;
      st.value = get(record) ?? null;
    },
    retract: () => cannotRetract(label),
    merge: (into, from) => {
      const st = into[slot] as Arrival;
      const other = from[slot] as Arrival;
      if (!other.set || (st.set && !replaces(other.time, st.time))) return;
      st.set = true;
      st.time = other.time;
      st.value = other.value;
    },
    result: (slots) => (slots[slot] as Arrival).value,
  };
}

// ---------------------------------------------------------------------------------
// distinct-count

interface Distinct {
  /** Multiplicity per value key; a key is dropped when its multiplicity reaches 0. */
  counts: Record<string, number>;
  /** Number of keys with a positive multiplicity. */
  distinct: number;
}

function distinctPart(name: string, label: string, slot: number, get: FieldGetter): Part {
  const bump = (st: Distinct, key: string, delta: number): void => {
    const before = st.counts[key] ?? 0;
    const after = before + delta;
    if (after === 0) Reflect.deleteProperty(st.counts, key);
    else st.counts[key] = after;
    st.distinct += (after > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
  };
  return {
    name,
    label,
    retractable: true,
    init: (): Distinct => ({ counts: {}, distinct: 0 }),
    add: (slots, record) => {
      const key = distinctKey(get(record));
      if (key !== undefined) bump(slots[slot] as Distinct, key, 1);
    },
    retract: (slots, record) => {
      const key = distinctKey(get(record));
      if (key !== undefined) bump(slots[slot] as Distinct, key, -1);
    },
    merge: (into, from) => {
      const st = into[slot] as Distinct;
      for (const [key, count] of Object.entries((from[slot] as Distinct).counts)) bump(st, key, count);
    },
    result: (slots) => (slots[slot] as Distinct).distinct,
  };
}

/**
 * The identity of a value for distinct-count: a type tag and the value. Every key
 * starts with a tag letter, so none is `__proto__` or another Object.prototype name.
 * `undefined` (missing), null, functions and symbols have no key and are not counted.
 */
function distinctKey(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return `n${value}`;
    case 'string':
      return `s${value}`;
    case 'boolean':
      return value ? 'btrue' : 'bfalse';
    case 'bigint':
      return `i${value.toString()}`;
    case 'object':
      return value === null ? undefined : `o${canonicalJson(value)}`;
    default:
      return undefined;
  }
}

type Token = { readonly text: string } | { readonly value: unknown } | { readonly leave: object };

/**
 * JSON with object keys sorted and no whitespace, so equal data gives equal text.
 * Follows JSON.stringify otherwise (toJSON is called; undefined, functions and symbols
 * are left out of objects and become null in arrays; non-finite numbers become null).
 * Iterative, so deeply nested values cannot overflow the stack.
 *
 * @throws TypeError on a cyclic value (which could not be checkpointed either).
 */
function canonicalJson(root: object): string {
  let out = '';
  const stack: Token[] = [{ value: root }];
  const open = new Set<object>();
  for (let token = stack.pop(); token !== undefined; token = stack.pop()) {
    if ('text' in token) {
      out += token.text;
      continue;
    }
    if ('leave' in token) {
      open.delete(token.leave);
      continue;
    }
    let value = token.value;
    if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      value = (value as { toJSON: () => unknown }).toJSON();
    }
    if (typeof value !== 'object' || value === null) {
      out += scalarJson(value);
      continue;
    }
    if (open.has(value)) throw new TypeError('distinct-count cannot key a cyclic value');
    open.add(value);
    stack.push({ leave: value });
    if (Array.isArray(value)) {
      const items = value as readonly unknown[];
      out += '[';
      stack.push({ text: ']' });
      for (let i = items.length - 1; i >= 0; i--) {
        stack.push({ value: items[i] });
        if (i > 0) stack.push({ text: ',' });
      }
    } else {
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => isJsonValue(record[k]))
        .sort();
      out += '{';
      stack.push({ text: '}' });
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        stack.push({ value: record[key] });
        stack.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(key)}:` });
      }
    }
  }
  return out;
}

function isJsonValue(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
}

function scalarJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    default:
      return 'null';
  }
}

// ---------------------------------------------------------------------------------
// top-n

/** The kept records and their ranking values, both largest value first. */
interface Top {
  values: number[];
  records: unknown[];
}

function topNPart(name: string, label: string, slot: number, get: FieldGetter, n: number): Part {
  return {
    name,
    label,
    retractable: false,
    init: (): Top => ({ values: [], records: [] }),
    add: (slots, record) => {
      const v = get(record);
      if (!isFiniteNumber(v)) return;
      const st = slots[slot] as Top;
      const { values, records } = st;
      const length = values.length;
      // Full and not larger than the smallest kept value: an equal later arrival ranks below.
      if (length >= n && v <= (values[length - 1] as number)) return;
      // Insert after every value >= v, so equal values keep their arrival order.
      let lo = 0;
      let hi = length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((values[mid] as number) >= v) lo = mid + 1;
        else hi = mid;
      }
      values.splice(lo, 0, v);
      records.splice(lo, 0, record);
      if (values.length > n) {
        values.pop();
        records.pop();
      }
    },
    retract: () => cannotRetract(label),
    merge: (into, from) => {
      const a = into[slot] as Top;
      const b = from[slot] as Top;
      const values: number[] = [];
      const records: unknown[] = [];
      let i = 0;
      let j = 0;
      while (values.length < n) {
        const va = a.values[i];
        const vb = b.values[j];
        // On a tie, a's records arrived first.
        if (va !== undefined && (vb === undefined || va >= vb)) {
          values.push(va);
          records.push(a.records[i]);
          i++;
        } else if (vb !== undefined) {
          values.push(vb);
          records.push(b.records[j]);
          j++;
        } else {
          break;
        }
      }
      a.values = values;
      a.records = records;
    },
    result: (slots) => (slots[slot] as Top).records.slice(),
  };
}
