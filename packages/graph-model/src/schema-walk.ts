/**
 * Finds the field names a zod schema allows at a path of a value, so that an unknown
 * field can be answered with "did you mean …?". Follows objects, arrays, wrappers
 * (optional, default, nullable) and discriminated unions (by the value's discriminator).
 */
import { z } from 'zod';
import type { CodeKindName } from './code.js';
import type { PathSegment } from './paths.js';

export function allowedKeysAt(schema: z.ZodType, value: unknown, path: readonly PathSegment[]): string[] {
  let current: z.ZodType | undefined = schema;
  let data: unknown = value;
  for (let i = 0; i <= path.length && current; i++) {
    current = unwrap(current, data);
    if (i === path.length) break;
    const segment = path[i] as PathSegment;
    if (current instanceof z.ZodObject && typeof segment === 'string') {
      current = (current.shape as Record<string, z.ZodType>)[segment];
    } else if (current instanceof z.ZodArray && typeof segment === 'number') {
      current = current.element as z.ZodType;
    } else {
      return [];
    }
    data = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[segment] : undefined;
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unwrap(schema: z.ZodType, data: unknown): z.ZodType | undefined {
  let current: z.ZodType = schema;
  for (let guard = 0; guard < 20; guard++) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodDiscriminatedUnion) {
      const key = current.def.discriminator;
      const tag = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;
      const match = (current.options as z.ZodType[]).find(
        (option) => option instanceof z.ZodObject && (option.shape as Record<string, z.ZodType>)[key]?.safeParse(tag).success === true,
      );
      if (!match) return undefined;
      current = match;
    } else {
      return current;
    }
  }
  return undefined;
}

export interface CodeField {
  readonly path: readonly PathSegment[];
  readonly kind: CodeKindName;
  readonly source: string;
}

/**
 * Every user function in a (valid) config, with its path and kind: the engine
 * compiles them, the editor opens them in a code editor.
 */
export function codeFieldsOf(schema: z.ZodType, value: unknown): CodeField[] {
  const found: CodeField[] = [];
  const stack: Array<{ schema: z.ZodType; value: unknown; path: PathSegment[] }> = [{ schema, value, path: [] }];
  while (stack.length > 0) {
    const item = stack.pop();
    if (!item) break;
    const current = unwrap(item.schema, item.value);
    if (!current || item.value === undefined || item.value === null) continue;
    const kind = (current.meta() as { 'x-sluice-code'?: CodeKindName } | undefined)?.['x-sluice-code'];
    if (kind !== undefined && typeof item.value === 'string') {
      found.push({ path: item.path, kind, source: item.value });
    } else if (current instanceof z.ZodObject && typeof item.value === 'object') {
      const shape: Record<string, unknown> = current.shape;
      for (const [key, child] of Object.entries(shape)) {
        stack.push({ schema: child as z.ZodType, value: (item.value as Record<string, unknown>)[key], path: [...item.path, key] });
      }
    } else if (current instanceof z.ZodArray && Array.isArray(item.value)) {
      item.value.forEach((element, i) => stack.push({ schema: current.element as z.ZodType, value: element, path: [...item.path, i] }));
    }
  }
  return found.reverse();
}
