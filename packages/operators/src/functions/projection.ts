/**
 * The runtime of `project`: keeps, renames and reorders fields without code.
 *
 * Each output record is a new plain object whose fields come in the listed order.
 * A field's name is its `as`, or else the last segment of its `from` path
 * (`user.id` → `id`); a missing input field (or a missing intermediate object)
 * becomes `null`, so every output record has the same fields. Values are not
 * copied: a projected nested object is the same object as in the input, and records
 * are treated as immutable throughout the engine.
 *
 * If two fields get the same output name, the later one wins and the field keeps the
 * position of the first (as in an object literal). An output named `__proto__` is an
 * ordinary own field, never the object's prototype.
 */
import { compileFieldPath, lastSegment, setOwnField, type FieldGetter } from './field-path.js';

/** One field of the `project` config. */
export interface ProjectedField {
  readonly from: string;
  readonly as?: string | undefined;
}

interface Column {
  readonly get: FieldGetter;
  readonly name: string;
  /** The name is `__proto__` and must be defined, not assigned. */
  readonly special: boolean;
}

/** Compiles the `project` config's fields into a function from a record to its projection. */
export function compileProjection(fields: readonly ProjectedField[]): (record: unknown) => Record<string, unknown> {
  const columns: readonly Column[] = fields.map((field) => {
    const name = field.as ?? lastSegment(field.from);
    return { get: compileFieldPath(field.from), name, special: name === '__proto__' };
  });
  return (record) => {
    const out: Record<string, unknown> = {};
    for (const column of columns) {
      const value = column.get(record);
      if (column.special) setOwnField(out, column.name, value ?? null);
      else out[column.name] = value ?? null;
    }
    return out;
  };
}
