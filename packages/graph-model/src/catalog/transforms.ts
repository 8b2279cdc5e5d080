import { z } from 'zod';
import { code, fieldName, fieldPath } from '../fields.js';
import { IN, MAIN_OUTPUT, defineOperator, type ChangelogBehaviour } from './define.js';

/** Stateless operators forward changes untouched, as Flink SQL's calc does. */
const PASSTHROUGH: ChangelogBehaviour = { produces: 'passthrough', accepts: true };

export const map = defineOperator({
  type: 'map',
  category: 'transform',
  title: 'Map',
  doc: 'Turns each record into exactly one new record with a function.',
  configSchema: z.strictObject({ fn: code('map', 'Function from a record to its replacement.') }),
  defaultConfig: { fn: '(value) => ({ ...value })' },
  inputs: [IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: PASSTHROUGH,
});

export const filter = defineOperator({
  type: 'filter',
  category: 'transform',
  title: 'Filter',
  doc: 'Keeps the records for which a function returns true.',
  configSchema: z.strictObject({ fn: code('filter', 'Predicate; records for which it returns false are dropped.') }),
  defaultConfig: { fn: '(value) => true' },
  inputs: [IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: PASSTHROUGH,
});

export const flatMap = defineOperator({
  type: 'flat-map',
  category: 'transform',
  title: 'Flat map',
  doc: 'Turns each record into zero or more records: return an array (or any iterable).',
  configSchema: z.strictObject({ fn: code('flat-map', 'Function from a record to an array of records.') }),
  defaultConfig: { fn: '(value) => [value]' },
  inputs: [IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: PASSTHROUGH,
});

export const union = defineOperator({
  type: 'union',
  category: 'transform',
  title: 'Union',
  doc: 'Merges several streams of the same shape into one. Its watermark is the minimum over all inputs.',
  configSchema: z.strictObject({}),
  defaultConfig: {},
  inputs: [{ name: 'in', title: 'Inputs (any number)', keyed: 'any' }],
  outputs: () => [MAIN_OUTPUT],
  changelog: PASSTHROUGH,
});

export const keySelector = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('field'), field: fieldPath('Field whose value is the key.') }),
  z.strictObject({
    kind: z.literal('fields'),
    fields: z.array(fieldPath('Field of the composite key.')).min(1).max(16),
  }),
  z.strictObject({ kind: z.literal('function'), fn: code('key-selector', 'Function returning the key of a record.') }),
]);

export const keyBy = defineOperator({
  type: 'key-by',
  category: 'transform',
  title: 'Key by',
  doc: 'Partitions the stream by a key: records with equal keys go to the same subtask, where windows, keyed state and timers are scoped to that key. Keys map to key groups by a stable hash; each subtask owns a contiguous range of key groups, so state can be rescaled.',
  configSchema: z.strictObject({ key: keySelector }),
  defaultConfig: { key: { kind: 'field', field: 'key' } },
  inputs: [IN],
  outputs: () => [MAIN_OUTPUT],
  keysStream: true,
  changelog: PASSTHROUGH,
});

export const project = defineOperator({
  type: 'project',
  category: 'transform',
  title: 'Project',
  doc: 'Keeps, renames and reorders fields without code. Fields not listed are dropped; a missing input field becomes null.',
  configSchema: z.strictObject({
    fields: z
      .array(
        z.strictObject({
          from: fieldPath('Field to take (a dotted path reaches into nested objects).'),
          as: fieldName('Name in the output; defaults to the last segment of `from`.').optional(),
        }),
      )
      .min(1)
      .max(1000),
  }),
  defaultConfig: { fields: [{ from: 'key' }] },
  inputs: [IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: PASSTHROUGH,
});

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const CONDITION_OPERATORS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'in', 'not-in', 'exists', 'not-exists', 'contains', 'starts-with', 'matches'] as const;

export const condition = z
  .strictObject({
    field: fieldPath('Field to test.'),
    op: z.enum(CONDITION_OPERATORS),
    value: z.union([scalar, z.array(scalar).max(10_000)]).optional(),
  })
  .superRefine((c, ctx) => {
    const needsList = c.op === 'in' || c.op === 'not-in';
    const needsNone = c.op === 'exists' || c.op === 'not-exists';
    if (needsNone) {
      if (c.value !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `'${c.op}' takes no value` });
    } else if (c.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `'${c.op}' needs a value` });
    } else if (needsList !== Array.isArray(c.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: needsList ? `'${c.op}' needs a list of values` : `'${c.op}' needs a single value, not a list` });
    } else if (c.op === 'matches') {
      if (typeof c.value !== 'string') {
        ctx.addIssue({ code: 'custom', path: ['value'], message: "'matches' needs a regular expression as a string" });
      } else {
        try {
          new RegExp(c.value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', path: ['value'], message: `not a valid regular expression: ${(error as Error).message}` });
        }
      }
    }
  });

export const filterExpression = defineOperator({
  type: 'filter-expression',
  category: 'transform',
  title: 'Filter by conditions',
  doc: 'Keeps records that satisfy all (or any) of a list of field conditions, without code. Comparisons of different types are false.',
  configSchema: z.strictObject({
    match: z.enum(['all', 'any']).default('all'),
    conditions: z.array(condition).min(1).max(1000),
  }),
  defaultConfig: { conditions: [{ field: 'value', op: 'gt', value: 0 }] },
  inputs: [IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: PASSTHROUGH,
});
