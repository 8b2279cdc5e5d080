import { z } from 'zod';
import { code, identifier, positiveDurationMs } from '../fields.js';

/**
 * Keyed state a user function uses, declared up front (as Arroyo does) so that the
 * state inspector can list it and a redeploy can tell restored from incompatible state.
 */
export const stateTtl = z
  .strictObject({
    ttlMs: positiveDurationMs('A value expires this long after its last update.'),
    update: z
      .enum(['on-create-and-write', 'on-read-and-write'])
      .default('on-create-and-write')
      .meta({ description: 'Which accesses renew the expiry time (Flink’s StateTtlConfig.UpdateType).' }),
  })
  .meta({ description: 'Time to live. Expired values are never returned; they are purged on access and when snapshotting.' });

const base = { name: identifier('Name the function uses to reach this state.'), ttl: stateTtl.optional() };

export const stateDeclaration = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('value'), ...base }),
  z.strictObject({ kind: z.literal('list'), ...base }),
  z.strictObject({ kind: z.literal('map'), ...base }),
  z.strictObject({ kind: z.literal('reducing'), ...base, reduce: code('reduce', 'Combines the stored value with an added one.') }),
  z.strictObject({ kind: z.literal('aggregating'), ...base, aggregate: code('aggregate', 'Accumulator functions.') }),
]);

export type StateDeclaration = z.output<typeof stateDeclaration>;

export const uniqueNames =
  (what: string) =>
  (list: readonly { name: string }[] | readonly string[], ctx: z.RefinementCtx): void => {
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const name = typeof item === 'string' ? item : item.name;
      if (seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: typeof item === 'string' ? [i] : [i, 'name'], message: `${what} '${name}' is declared twice` });
      }
      seen.add(name);
    });
  };

export const stateList = z.array(stateDeclaration).max(100).default([]).superRefine(uniqueNames('state'));

export const sideOutputList = z
  .array(identifier('Name of a side output; edges pick it as their source output.'))
  .max(32)
  .default([])
  .superRefine(uniqueNames('side output'))
  .superRefine((names, ctx) => {
    names.forEach((name, i) => {
      if (name === 'main') ctx.addIssue({ code: 'custom', path: [i], message: "'main' is the main output; pick another name" });
    });
  });
