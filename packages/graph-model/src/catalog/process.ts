import { z } from 'zod';
import { code, durationMs, identifier, positiveDurationMs } from '../fields.js';
import { aggregationList } from './aggregations.js';
import { KEYED_IN, MAIN_OUTPUT, defineOperator, type OutputDefinition } from './define.js';
import { sideOutputList, stateList, uniqueNames } from './state.js';
import { condition } from './transforms.js';

const sideOutputs = (names: readonly string[]): OutputDefinition[] => [
  MAIN_OUTPUT,
  ...names.map((name) => ({ name, doc: `Side output '${name}', written with ctx.output('${name}', record).` })),
];

export const keyedProcess = defineOperator({
  type: 'keyed-process',
  category: 'process',
  title: 'Keyed process function',
  doc: 'Per-record logic on a keyed stream with declared keyed state (value, list, map, reducing, aggregating, each with optional TTL), event-time and processing-time timers per key, access to the current watermark, and named side outputs.',
  configSchema: z.strictObject({
    fn: code('keyed-process', 'processElement, and optionally onTimer and open.'),
    states: stateList,
    sideOutputs: sideOutputList,
  }),
  defaultConfig: { fn: '({\n  processElement(value, ctx) {\n    ctx.collect(value);\n  },\n})' },
  inputs: [KEYED_IN],
  outputs: (config) => sideOutputs(config.sideOutputs),
  changelog: { produces: 'append', accepts: false },
});

export const coProcess = defineOperator({
  type: 'co-process',
  category: 'process',
  title: 'Co-process function',
  doc: 'Logic over two connected inputs. When both inputs are keyed the function gets keyed state and timers shared by both sides (a KeyedCoProcessFunction); then both must be keyed.',
  configSchema: z.strictObject({
    fn: code('co-process', 'processElement1, processElement2, and optionally onTimer and open.'),
    states: stateList,
    sideOutputs: sideOutputList,
  }),
  defaultConfig: {
    fn: '({\n  processElement1(value, ctx) {\n    ctx.collect(value);\n  },\n  processElement2(value, ctx) {\n    ctx.collect(value);\n  },\n})',
  },
  inputs: [
    { name: 'first', title: 'First input', keyed: 'any' },
    { name: 'second', title: 'Second input', keyed: 'any' },
  ],
  inputsKeyedTogether: true,
  outputs: (config) => sideOutputs(config.sideOutputs),
  changelog: { produces: 'append', accepts: false },
});

export const broadcastProcess = defineOperator({
  type: 'broadcast-process',
  category: 'process',
  title: 'Broadcast process function',
  doc: 'A keyed stream connected to a broadcast stream (rules, configuration): every subtask receives every broadcast element and may update broadcast state, which the keyed side reads. Broadcast state is checkpointed with the operator.',
  configSchema: z.strictObject({
    fn: code('broadcast-process', 'processElement, processBroadcastElement, and optionally onTimer and open.'),
    broadcastStates: z
      .array(identifier('Name of a broadcast map state.'))
      .min(1)
      .max(16)
      .superRefine(uniqueNames('broadcast state')),
    states: stateList,
    sideOutputs: sideOutputList,
  }),
  defaultConfig: {
    fn: '({\n  processElement(value, ctx) {\n    ctx.collect(value);\n  },\n  processBroadcastElement(rule, ctx) {\n    ctx.broadcastState(\'rules\').put(rule.id, rule);\n  },\n})',
    broadcastStates: ['rules'],
  },
  inputs: [
    { name: 'keyed', title: 'Keyed input', keyed: 'required' },
    { name: 'broadcast', title: 'Broadcast input', keyed: 'forbidden', partitioning: 'broadcast' },
  ],
  outputs: (config) => sideOutputs(config.sideOutputs),
  changelog: { produces: 'append', accepts: false },
});

export const aggregate = defineOperator({
  type: 'aggregate',
  category: 'process',
  title: 'Group aggregate (changelog)',
  doc: 'A running aggregation per key over all time, like SQL GROUP BY without a window. Every change of a key’s result is emitted as an update (update-before, update-after), so downstream operators always see the current value; it consumes changelogs itself, retracting what was withdrawn.',
  configSchema: z.strictObject({
    aggregations: aggregationList,
    stateTtlMs: durationMs('Keys not updated for this long are forgotten; 0 keeps them forever.').default(0),
  }),
  defaultConfig: { aggregations: [{ op: 'count' }] },
  inputs: [KEYED_IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: { produces: 'changelog', accepts: true },
});

const quantifier = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('one') }),
  z.strictObject({ kind: z.literal('times'), times: z.number().int().min(1).max(1000) }),
  z
    .strictObject({ kind: z.literal('times-range'), from: z.number().int().min(0).max(1000), to: z.number().int().min(1).max(1000) })
    .superRefine((q, ctx) => {
      if (q.from > q.to) ctx.addIssue({ code: 'custom', path: ['from'], message: `from (${q.from}) must not exceed to (${q.to})` });
    }),
  z.strictObject({ kind: z.literal('one-or-more') }),
  z.strictObject({ kind: z.literal('times-or-more'), times: z.number().int().min(1).max(1000) }),
]);

export const patternStep = z
  .strictObject({
    name: identifier('Name of the step; the select function receives matches by this name.'),
    where: code('condition', 'Records matching this step; leave out to match any record.').optional(),
    conditions: z.array(condition).max(100).optional().meta({ description: 'Field conditions that must all hold (no code).' }),
    quantifier: quantifier.default({ kind: 'one' }),
    optional: z.boolean().default(false),
    contiguity: z
      .enum(['strict', 'relaxed', 'non-deterministic-relaxed'])
      .default('relaxed')
      .meta({ description: 'How this step follows the previous one: next(), followedBy() or followedByAny().' }),
  })
  .superRefine((step, ctx) => {
    if (step.where !== undefined && step.conditions !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['conditions'], message: 'use either where (code) or conditions, not both' });
    }
  });

export const cep = defineOperator({
  type: 'cep',
  category: 'process',
  title: 'Pattern (CEP)',
  doc: 'Finds sequences of records per key that match a pattern of named steps, with strict or relaxed contiguity, quantifiers and an optional time bound (within). Partial matches that time out go to the `timed-out` output.',
  configSchema: z.strictObject({
    steps: z.array(patternStep).min(1).max(32).superRefine(uniqueNames('step')),
    withinMs: positiveDurationMs('The whole match must happen within this much event time.').optional(),
    afterMatchSkip: z.enum(['no-skip', 'skip-past-last-event', 'skip-to-next']).default('no-skip'),
    select: code('pattern-select', 'Builds the output of a match; by default the match itself.').optional(),
  }),
  defaultConfig: {
    steps: [
      { name: 'first', where: '(e) => true' },
      { name: 'second', where: '(e) => true' },
    ],
    withinMs: 60_000,
  },
  inputs: [KEYED_IN],
  outputs: () => [
    MAIN_OUTPUT,
    { name: 'timed-out', doc: 'Partial matches whose `within` bound expired, with the steps matched so far.' },
  ],
  changelog: { produces: 'append', accepts: false },
});
