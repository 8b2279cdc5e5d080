/**
 * Encoding engine values for JSON: watermarks (±Infinity), timestamps, row kinds,
 * and user values that JSON.stringify cannot take (bigint, cycles).
 */
import type { RowKindName, WireTime } from '@sluice/protocol';

const ROW_KINDS: readonly RowKindName[] = ['+I', '-U', '+U', '-D'];

/** A watermark on the wire: finite epoch ms as a number, ±Infinity as a string. */
export function wireTime(value: number): WireTime {
  if (value === Number.POSITIVE_INFINITY) return '+Infinity';
  if (value === Number.NEGATIVE_INFINITY || Number.isNaN(value)) return '-Infinity';
  return value;
}

/** A record timestamp: null for records without one (the engine's NO_TIMESTAMP is -Infinity). */
export function wireTimestamp(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

export function rowKindName(kind: number): RowKindName {
  return ROW_KINDS[kind] ?? '+I';
}

/**
 * JSON text of any value a job may produce: bigint becomes a decimal string; a value
 * with a cycle is written with '[circular]' in place of repeated objects.
 */
export function safeStringify(value: unknown): string {
  const bigints = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);
  try {
    return JSON.stringify(value, bigints);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(value, (key: string, v: unknown): unknown => {
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[circular]';
        seen.add(v);
      }
      return bigints(key, v);
    });
  }
}
