import { z } from 'zod';
import { code, durationMs } from '../fields.js';
import { MAIN_OUTPUT, defineOperator, type InputDefinition } from './define.js';
import { windowAssigner } from './windows.js';

const LEFT: InputDefinition = { name: 'left', title: 'Left (keyed)', keyed: 'required' };
const RIGHT: InputDefinition = { name: 'right', title: 'Right (keyed)', keyed: 'required' };
const joinFn = code('join', 'Builds the output of a matching pair; by default `{ left, right }`.').optional();

export const intervalJoin = defineOperator({
  type: 'interval-join',
  category: 'join',
  title: 'Interval join',
  doc: 'Joins each left record with the right records of the same key whose timestamps lie in [left + lowerBound, left + upperBound] (event time). State of either side is dropped once the watermark passes the interval, so it stays bounded.',
  configSchema: z
    .strictObject({
      lowerBoundMs: z.number().int().meta({ description: 'Lower bound relative to the left timestamp; may be negative.', unit: 'ms' }),
      upperBoundMs: z.number().int().meta({ description: 'Upper bound relative to the left timestamp.', unit: 'ms' }),
      lowerBoundInclusive: z.boolean().default(true),
      upperBoundInclusive: z.boolean().default(true),
      fn: joinFn,
    })
    .superRefine((c, ctx) => {
      if (c.lowerBoundMs > c.upperBoundMs) {
        ctx.addIssue({ code: 'custom', path: ['lowerBoundMs'], message: `lowerBoundMs (${c.lowerBoundMs}) must not exceed upperBoundMs (${c.upperBoundMs})` });
      } else if (c.lowerBoundMs === c.upperBoundMs && !(c.lowerBoundInclusive && c.upperBoundInclusive)) {
        ctx.addIssue({ code: 'custom', path: ['upperBoundInclusive'], message: 'equal bounds with an exclusive end match nothing' });
      }
    }),
  defaultConfig: { lowerBoundMs: 0, upperBoundMs: 60_000 },
  inputs: [LEFT, RIGHT],
  outputs: () => [MAIN_OUTPUT],
  changelog: { produces: 'append', accepts: false },
});

export const windowJoin = defineOperator({
  type: 'window-join',
  category: 'join',
  title: 'Window join',
  doc: 'Inner join of the records of both inputs with the same key that fall into the same window; pairs are emitted when the window fires.',
  configSchema: z.strictObject({ assigner: windowAssigner, fn: joinFn }),
  defaultConfig: { assigner: { kind: 'tumbling', sizeMs: 60_000 } },
  inputs: [LEFT, RIGHT],
  outputs: () => [MAIN_OUTPUT],
  changelog: { produces: 'append', accepts: false },
});

export const regularJoin = defineOperator({
  type: 'regular-join',
  category: 'join',
  title: 'Regular join',
  doc: 'Inner join on the key over all time: every record is kept (until its state TTL) and matched with every record of the other side. With changelog inputs the output is a changelog too (retractions are joined through).',
  configSchema: z.strictObject({
    stateTtlMs: durationMs('Records older than this (by last update) are forgotten; 0 keeps them forever.').default(0),
    fn: joinFn,
  }),
  defaultConfig: { stateTtlMs: 3_600_000 },
  inputs: [LEFT, RIGHT],
  outputs: () => [MAIN_OUTPUT],
  changelog: { produces: 'passthrough', accepts: true },
});
