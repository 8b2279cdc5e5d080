/**
 * The runtime of `filter-expression`: a list of field conditions, compiled once into
 * one predicate per record.
 *
 * Every condition reads one field (see field-path.ts: a missing field reads as
 * `undefined`) and compares it with the configured value. The rule throughout is that
 * values of different types never compare: a comparison of a number with a string, or
 * with a missing field, is simply false, as the catalog promises ("Comparisons of
 * different types are false"). Nothing is coerced.
 *
 * | op            | true when                                                                     |
 * |---------------|-------------------------------------------------------------------------------|
 * | `eq`          | field `===` value (strict equality of scalars; an object or array never equals) |
 * | `ne`          | not `eq`; so a missing field is `ne` any value, and `ne null` too              |
 * | `lt` `le` `gt` `ge` | both numbers, or both strings (UTF-16 code unit order), and the comparison holds; mixed types, booleans, null and missing fields are false |
 * | `in`          | field `===` one of the listed values                                          |
 * | `not-in`      | not `in`; a missing field is not in any list, so `not-in` is true              |
 * | `exists`      | field present and neither `null` nor `undefined`                              |
 * | `not-exists`  | not `exists`                                                                  |
 * | `contains`    | field is a string and value a string it includes, or field is an array that includes the value (`===`, also `null`) |
 * | `starts-with` | field and value are strings and the field starts with the value               |
 * | `matches`     | field is a string and the regular expression (no flags, unanchored: `RegExp.test`) finds a match in it |
 *
 * `eq null` is true for a field that is present and null, false for a missing one;
 * use `not-exists` for "null or missing".
 *
 * Regular expressions and `in` lists are built once, at compile time (`in` becomes a
 * `Set`). A config the catalog would reject (a list for `eq`, no list for `in`, a
 * non-string or invalid pattern for `matches`) makes the compile throw an Error that
 * names the condition, never the predicate.
 */
import type { CONDITION_OPERATORS } from '@sluice/graph-model';
import { compileFieldPath, type FieldGetter } from './field-path.js';

export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];
export type Scalar = string | number | boolean | null;
export type ScalarOrList = Scalar | readonly Scalar[];

/** One condition, as in the `filter-expression` config. */
export interface ConditionSpec {
  readonly field: string;
  readonly op: ConditionOperator;
  readonly value?: ScalarOrList | undefined;
}

/** The `filter-expression` config: all conditions must hold, or any one of them. */
export interface ConditionsConfig {
  readonly match: 'all' | 'any';
  readonly conditions: readonly ConditionSpec[];
}

export type RecordPredicate = (record: unknown) => boolean;

const never: RecordPredicate = () => false;

/**
 * Compiles a filter-expression config into a predicate; see the module comment for
 * the semantics of each operator. With `match: 'all'` an empty list is true, with
 * `'any'` false (the catalog requires at least one condition).
 *
 * @throws Error when a condition's value does not fit its operator.
 */
export function compileConditions(config: ConditionsConfig): RecordPredicate {
  const predicates = config.conditions.map((condition, index) => compileCondition(condition, `conditions[${index}]`));
  const [p0, p1] = predicates;
  if (config.match === 'all') {
    if (p0 === undefined) return () => true;
    if (predicates.length === 1) return p0;
    if (predicates.length === 2 && p1 !== undefined) return (record) => p0(record) && p1(record);
    return (record) => {
      for (const p of predicates) if (!p(record)) return false;
      return true;
    };
  }
  if (p0 === undefined) return never;
  if (predicates.length === 1) return p0;
  if (predicates.length === 2 && p1 !== undefined) return (record) => p0(record) || p1(record);
  return (record) => {
    for (const p of predicates) if (p(record)) return true;
    return false;
  };
}

/**
 * Compiles one condition into a predicate. `where` names it in errors
 * (such as `conditions[2]`).
 */
export function compileCondition(condition: ConditionSpec, where = 'condition'): RecordPredicate {
  const get = compileFieldPath(condition.field);
  const { op } = condition;
  switch (op) {
    case 'eq': {
      const v = single(condition, where);
      return (record) => get(record) === v;
    }
    case 'ne': {
      const v = single(condition, where);
      return (record) => get(record) !== v;
    }
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      return comparison(get, op, single(condition, where));
    case 'in': {
      const set = new Set<unknown>(list(condition, where));
      return (record) => set.has(get(record));
    }
    case 'not-in': {
      const set = new Set<unknown>(list(condition, where));
      return (record) => !set.has(get(record));
    }
    case 'exists':
      return (record) => {
        const x = get(record);
        return x !== undefined && x !== null;
      };
    case 'not-exists':
      return (record) => {
        const x = get(record);
        return x === undefined || x === null;
      };
    case 'contains': {
      const v = single(condition, where);
      if (typeof v === 'string') {
        return (record) => {
          const x = get(record);
          if (typeof x === 'string') return x.includes(v);
          return Array.isArray(x) && x.includes(v);
        };
      }
      return (record) => {
        const x = get(record);
        return Array.isArray(x) && x.includes(v);
      };
    }
    case 'starts-with': {
      const v = single(condition, where);
      if (typeof v !== 'string') return never;
      return (record) => {
        const x = get(record);
        return typeof x === 'string' && x.startsWith(v);
      };
    }
    case 'matches': {
      const v = single(condition, where);
      if (typeof v !== 'string') throw new Error(`${where}: 'matches' needs a regular expression as a string`);
      let pattern: RegExp;
      try {
        pattern = new RegExp(v);
      } catch (error) {
        throw new Error(`${where}: not a valid regular expression: ${(error as Error).message}`, { cause: error });
      }
      return (record) => {
        const x = get(record);
        return typeof x === 'string' && pattern.test(x);
      };
    }
  }
}

function single(condition: ConditionSpec, where: string): Scalar {
  const { value, op } = condition;
  if (value === undefined) throw new Error(`${where}: '${op}' needs a value`);
  if (isList(value)) throw new Error(`${where}: '${op}' needs a single value, not a list`);
  return value;
}

function list(condition: ConditionSpec, where: string): readonly Scalar[] {
  const { value, op } = condition;
  if (value === undefined || !isList(value)) throw new Error(`${where}: '${op}' needs a list of values`);
  return value;
}

function isList(value: ScalarOrList): value is readonly Scalar[] {
  return Array.isArray(value);
}

/** Numbers compare with numbers, strings with strings; anything else is false. */
function comparison(get: FieldGetter, op: 'lt' | 'le' | 'gt' | 'ge', v: Scalar): RecordPredicate {
  if (typeof v === 'number') {
    switch (op) {
      case 'lt':
        return (record) => {
          const x = get(record);
          return typeof x === 'number' && x < v;
        };
      case 'le':
        return (record) => {
          const x = get(record);
          return typeof x === 'number' && x <= v;
        };
      case 'gt':
        return (record) => {
          const x = get(record);
          return typeof x === 'number' && x > v;
        };
      case 'ge':
        return (record) => {
          const x = get(record);
          return typeof x === 'number' && x >= v;
        };
    }
  }
  if (typeof v === 'string') {
    switch (op) {
      case 'lt':
        return (record) => {
          const x = get(record);
          return typeof x === 'string' && x < v;
        };
      case 'le':
        return (record) => {
          const x = get(record);
          return typeof x === 'string' && x <= v;
        };
      case 'gt':
        return (record) => {
          const x = get(record);
          return typeof x === 'string' && x > v;
        };
      case 'ge':
        return (record) => {
          const x = get(record);
          return typeof x === 'string' && x >= v;
        };
    }
  }
  return never;
}
