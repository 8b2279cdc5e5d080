/**
 * Finds the field names a zod schema allows at a path of a value, so that an unknown
 * field can be answered with "did you mean …?". Follows objects, arrays, wrappers
 * (optional, default, nullable) and discriminated unions (by the value's discriminator).
 */
import { z } from 'zod';
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
