/**
 * A key-by's key, compiled once. Keys must be strings or finite numbers: they hash to
 * key groups and index state. A composite key (several fields) is the JSON text of
 * the field values, so equal combinations give equal keys.
 */
import type { Key, KeySelector } from '../api/elements.js';
import type { CodeLoader } from '../api/functions.js';
import { compileFieldPath } from './field-path.js';

export type KeySpecConfig =
  | { readonly kind: 'field'; readonly field: string }
  | { readonly kind: 'fields'; readonly fields: readonly string[] }
  | { readonly kind: 'function'; readonly fn: string }
  /** One key for everything: how a non-keyed all-window keeps its state (Flink's windowAll). */
  | { readonly kind: 'constant' };

export function compileKeySelector(spec: KeySpecConfig, fn: CodeLoader): KeySelector<unknown> {
  switch (spec.kind) {
    case 'field': {
      const get = compileFieldPath(spec.field);
      return (value) => checkKey(get(value), `field '${spec.field}'`);
    }
    case 'fields': {
      const getters = spec.fields.map((f) => compileFieldPath(f));
      return (value) => JSON.stringify(getters.map((get) => get(value) ?? null));
    }
    case 'function': {
      const select = fn(spec.fn) as (value: unknown) => unknown;
      return (value) => checkKey(select(value), 'the key function');
    }
    case 'constant':
      return () => 0;
  }
}

function checkKey(key: unknown, what: string): Key {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return key;
  if (typeof key === 'boolean' || typeof key === 'bigint') return String(key);
  throw new TypeError(`${what} gave ${key === undefined ? 'no key (undefined)' : `a key of type ${key === null ? 'null' : typeof key}`}; a key must be a string or a number`);
}
