/**
 * Field paths: the dotted names (`user.id`) with which configs point into records.
 *
 * A path is compiled once, when an operator is built, into a getter that runs per
 * record. The getter never throws: a missing field, a missing intermediate object or
 * an intermediate that is not an object (a number, a string, null) all read as
 * `undefined`. Only own properties count, so a path such as `constructor`,
 * `__proto__` or `toString` reads `undefined` on a plain record instead of reaching
 * into `Object.prototype`; records are data, and a config must not be able to read
 * (or, through an output name, write) anything that is not in them.
 *
 * No code is generated (no `eval`, no `new Function`): paths of one and two
 * segments, by far the most common, get their own closures, longer ones a loop.
 */

/** Reads one field of a record; `undefined` when it is not there. */
export type FieldGetter = (record: unknown) => unknown;

/** The own property `key` of `value`, or `undefined` if `value` is not an object or has no such own property. */
function own(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
  return (value as Record<string, unknown>)[key];
}

/**
 * Compiles a dotted path such as `user.id` into a getter. A missing intermediate or a
 * non-object gives `undefined`; the getter never throws. Only own properties count.
 *
 * @throws Error when the path has an empty segment (`''`, `a..b`, `.a`): the catalog's
 * field-path schema never lets one through, so this is a programming error.
 */
export function compileFieldPath(path: string): FieldGetter {
  const segments = path.split('.');
  if (segments.includes('')) {
    throw new Error(`invalid field path '${path}': every segment between dots must be non-empty`);
  }
  const [first, second] = segments as [string, ...string[]];
  if (segments.length === 1) {
    return (record) => {
      if (typeof record !== 'object' || record === null || !Object.hasOwn(record, first)) return undefined;
      return (record as Record<string, unknown>)[first];
    };
  }
  if (segments.length === 2 && second !== undefined) {
    return (record) => {
      if (typeof record !== 'object' || record === null || !Object.hasOwn(record, first)) return undefined;
      const inner = (record as Record<string, unknown>)[first];
      if (typeof inner !== 'object' || inner === null || !Object.hasOwn(inner, second)) return undefined;
      return (inner as Record<string, unknown>)[second];
    };
  }
  return (record) => {
    let value = record;
    for (const segment of segments) {
      value = own(value, segment);
      if (value === undefined) return undefined;
    }
    return value;
  };
}

/** The last segment of a dotted path: the default output name of a projected field. */
export function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/**
 * Sets a field of an output object as an own, enumerable data property, also when
 * its name is `__proto__` (plain assignment would replace the object's prototype
 * instead; the catalog's field-name pattern allows that name).
 */
export function setOwnField(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[name] = value;
  }
}
