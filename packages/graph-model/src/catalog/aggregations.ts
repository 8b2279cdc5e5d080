import { z } from 'zod';
import { fieldName, fieldPath } from '../fields.js';

/**
 * Built-in aggregations that need no code. Each yields one field in the result
 * record; `as` names it (default: `count`, or `<op>_<field>` with dots as `_`).
 */
const fieldAggregation = <Op extends string>(op: Op, doc: string) =>
  z
    .strictObject({
      op: z.literal(op),
      field: fieldPath('Field to aggregate.'),
      as: fieldName('Name of the result field.').optional(),
    })
    .meta({ description: doc });

export const aggregation = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('count'), as: fieldName('Name of the result field.').optional() }).meta({ description: 'Number of records.' }),
  fieldAggregation('sum', 'Sum of a numeric field.'),
  fieldAggregation('min', 'Smallest value of a field.'),
  fieldAggregation('max', 'Largest value of a field.'),
  fieldAggregation('avg', 'Mean of a numeric field.'),
  fieldAggregation('first', 'Value in the record with the smallest timestamp.'),
  fieldAggregation('last', 'Value in the record with the largest timestamp.'),
  fieldAggregation('distinct-count', 'Number of distinct values of a field.'),
  z
    .strictObject({
      op: z.literal('top-n'),
      field: fieldPath('Field to rank by, largest first.'),
      n: z.number().int().min(1).max(1000),
      as: fieldName('Name of the result field (a list of records).').optional(),
    })
    .meta({ description: 'The N records with the largest value of a field.' }),
]);

export type Aggregation = z.output<typeof aggregation>;

export function aggregationOutputName(a: Aggregation): string {
  if (a.as !== undefined) return a.as;
  if (a.op === 'count') return 'count';
  return `${a.op.replace('-', '_')}_${a.field.replaceAll('.', '_')}`;
}

export const aggregationList = z
  .array(aggregation)
  .min(1)
  .max(100)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((a, i) => {
      const name = aggregationOutputName(a);
      const first = seen.get(name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: [i, 'as'], message: `result field '${name}' is also produced by aggregation ${first}; set a different 'as'` });
      } else {
        seen.set(name, i);
      }
    });
  });
