import { z } from 'zod';
import { code, durationMs, positiveDurationMs, timeCharacteristic } from '../fields.js';
import { aggregationList } from './aggregations.js';
import { KEYED_IN, LATE_OUTPUT, MAIN_OUTPUT, defineOperator, type ChangelogBehaviour, type ChangelogKind, type InputDefinition } from './define.js';

/** What a window computes when it fires. Incremental kinds store only an accumulator. */
export const windowFunction = z.discriminatedUnion('kind', [
  z
    .strictObject({ kind: z.literal('aggregations'), aggregations: aggregationList })
    .meta({ description: 'Built-in aggregations, no code.' }),
  z
    .strictObject({
      kind: z.literal('reduce'),
      reduce: code('reduce', 'Combines two records into one, incrementally.'),
      process: code('window-result', 'Optional: shapes the reduced record with the window and key.').optional(),
    })
    .meta({ description: 'Incremental reduce.' }),
  z
    .strictObject({
      kind: z.literal('aggregate'),
      aggregate: code('aggregate', 'createAccumulator / add / getResult (/ merge).'),
      process: code('window-result', 'Optional: shapes the result with the window and key.').optional(),
    })
    .meta({ description: 'Incremental aggregate function, optionally followed by a process function.' }),
  z
    .strictObject({ kind: z.literal('process'), process: code('process-window', 'Sees every element of the window.') })
    .meta({ description: 'Full-window process function; keeps every element until the window fires.' }),
]);

const purging = z.boolean().default(false).meta({ description: 'Clear the window contents every time it fires (Flink’s PurgingTrigger).' });

export const trigger = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('default'), purging }).meta({ description: 'Event-time or processing-time trigger, matching the window.' }),
  z
    .strictObject({ kind: z.literal('count'), count: z.number().int().positive(), purging })
    .meta({ description: 'Fires every N elements.' }),
  z
    .strictObject({ kind: z.literal('continuous-event-time'), intervalMs: positiveDurationMs('Early firing interval in event time.'), purging })
    .meta({ description: 'Early results every interval of event time, and a final one at the window end.' }),
  z
    .strictObject({
      kind: z.literal('continuous-processing-time'),
      intervalMs: positiveDurationMs('Early firing interval in processing time.'),
      purging,
    })
    .meta({ description: 'Early results every interval of processing time.' }),
  z.strictObject({ kind: z.literal('custom'), trigger: code('trigger', 'A trigger written as a function object.'), purging }),
]);

const common = {
  timeCharacteristic,
  allowedLatenessMs: durationMs(
    'Elements up to this late still update (re-fire) their window: the previous result is retracted (update-before) and the new one follows (update-after), so the output becomes a changelog. Later ones go to the late output.',
  ).default(0),
  trigger: trigger.default({ kind: 'default', purging: false }),
  function: windowFunction,
};

function offsetWithin(limitField: 'sizeMs' | 'slideMs') {
  return (config: { offsetMs: number; sizeMs: number; slideMs?: number }, ctx: z.RefinementCtx) => {
    const limit = limitField === 'sizeMs' ? config.sizeMs : (config.slideMs ?? config.sizeMs);
    // zod runs refinements after failed checks too; an invalid size is reported already.
    if (!(limit > 0)) return;
    if (Math.abs(config.offsetMs) >= limit) {
      ctx.addIssue({
        code: 'custom',
        path: ['offsetMs'],
        message: `the absolute offset must be smaller than the ${limitField === 'sizeMs' ? 'size' : 'slide'} (${limit} ms)`,
      });
    }
  };
}

const offsetMs = z
  .number()
  .int()
  .default(0)
  .meta({ description: 'Shifts window boundaries, e.g. to align daily windows to a time zone; may be negative.', unit: 'ms' });

export const tumblingAssigner = {
  sizeMs: positiveDurationMs('Window length.'),
  offsetMs,
};
export const slidingAssigner = {
  sizeMs: positiveDurationMs('Window length.'),
  slideMs: positiveDurationMs('Distance between the starts of consecutive windows.'),
  offsetMs,
};
export const sessionAssigner = {
  gapMs: positiveDurationMs('A session ends after this long without elements.').optional(),
  dynamicGap: code('session-gap', 'Function returning the gap for each element, overriding gapMs.').optional(),
};

function requireGap(config: { gapMs?: number | undefined; dynamicGap?: string | undefined }, ctx: z.RefinementCtx) {
  if (config.gapMs === undefined && config.dynamicGap === undefined) {
    ctx.addIssue({ code: 'custom', path: ['gapMs'], message: 'a session window needs gapMs or a dynamicGap function' });
  }
}

function requireMergeForSessions(config: { function: z.output<typeof windowFunction> }, ctx: z.RefinementCtx) {
  if (config.function.kind === 'aggregate' && !/\bmerge\b/.test(config.function.aggregate)) {
    ctx.addIssue({
      code: 'custom',
      path: ['function', 'aggregate'],
      message: "session windows merge, so the aggregate function needs a 'merge' function",
    });
  }
}

/**
 * Whether a window can fire more than once with the same contents, and so emits
 * updates: a late element within the allowed lateness (event time) re-fires it, and
 * count, continuous and custom triggers fire early. Each re-fire retracts the previous
 * result (update-before) before the new one (update-after), as Flink SQL's window
 * aggregation does with early or late firing, so the output is a changelog. A purging
 * trigger empties the window at each firing: its next result is a new row, never an
 * update, so its output stays append-only.
 */
export function windowEmitsUpdates(config: {
  readonly timeCharacteristic?: 'event-time' | 'processing-time';
  readonly allowedLatenessMs?: number;
  readonly trigger: { readonly kind: string; readonly purging: boolean };
}): boolean {
  if (config.trigger.purging) return false;
  if (config.trigger.kind !== 'default') return true;
  return config.timeCharacteristic === 'event-time' && (config.allowedLatenessMs ?? 0) > 0;
}

const WINDOW_CHANGELOG: ChangelogBehaviour<Parameters<typeof windowEmitsUpdates>[0]> = {
  produces: (config): ChangelogKind => (windowEmitsUpdates(config) ? 'changelog' : 'append'),
  accepts: false,
};

const WINDOW_OUTPUTS = () => [MAIN_OUTPUT, LATE_OUTPUT];
const WINDOW_DOC_TAIL =
  ' Fires when the watermark passes the window end (event time) or the clock does (processing time); late elements within the allowed lateness re-fire it, retracting its previous result (the output is then a changelog); later ones go to the `late` output and are counted.';

export const tumblingWindow = defineOperator({
  type: 'tumbling-window',
  category: 'window',
  title: 'Tumbling window',
  doc: 'Fixed-size, non-overlapping windows per key, aligned to the epoch (plus offset).' + WINDOW_DOC_TAIL,
  configSchema: z.strictObject({ ...tumblingAssigner, ...common }).superRefine(offsetWithin('sizeMs')),
  defaultConfig: { sizeMs: 60_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } },
  inputs: [KEYED_IN],
  outputs: WINDOW_OUTPUTS,
  changelog: WINDOW_CHANGELOG,
});

export const slidingWindow = defineOperator({
  type: 'sliding-window',
  category: 'window',
  title: 'Sliding window',
  doc: 'Fixed-size windows per key that start every `slide`, so an element belongs to size/slide windows.' + WINDOW_DOC_TAIL,
  configSchema: z.strictObject({ ...slidingAssigner, ...common }).superRefine(offsetWithin('slideMs')),
  defaultConfig: { sizeMs: 10_000, slideMs: 2_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } },
  inputs: [KEYED_IN],
  outputs: WINDOW_OUTPUTS,
  changelog: WINDOW_CHANGELOG,
});

export const sessionWindow = defineOperator({
  type: 'session-window',
  category: 'window',
  title: 'Session window',
  doc: 'Windows per key that close after a gap of inactivity; windows merge when an element bridges two sessions.' + WINDOW_DOC_TAIL,
  configSchema: z
    .strictObject({ ...sessionAssigner, ...common })
    .superRefine(requireGap)
    .superRefine(requireMergeForSessions),
  defaultConfig: { gapMs: 30 * 60_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } },
  inputs: [KEYED_IN],
  outputs: WINDOW_OUTPUTS,
  changelog: WINDOW_CHANGELOG,
});

export const globalWindow = defineOperator({
  type: 'global-window',
  category: 'window',
  title: 'Global window',
  doc: 'One window per key spanning all time. It only fires through its trigger (count or custom), as in Flink; the default trigger never fires.',
  configSchema: z
    .strictObject({ trigger, function: windowFunction })
    .superRefine((config, ctx) => {
      if (config.trigger.kind === 'default') {
        ctx.addIssue({
          code: 'custom',
          path: ['trigger', 'kind'],
          message: 'a global window never fires with the default trigger; choose count, continuous or custom',
        });
      }
    }),
  defaultConfig: { trigger: { kind: 'count', count: 100, purging: true }, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } },
  inputs: [KEYED_IN],
  outputs: () => [MAIN_OUTPUT],
  changelog: WINDOW_CHANGELOG,
});

export const windowAssigner = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('tumbling'), ...tumblingAssigner }).superRefine(offsetWithin('sizeMs')),
  z.strictObject({ kind: z.literal('sliding'), ...slidingAssigner }).superRefine(offsetWithin('slideMs')),
  z.strictObject({ kind: z.literal('session'), ...sessionAssigner }).superRefine(requireGap),
]);

const NON_KEYED_IN: InputDefinition = { name: 'in', title: 'Input (not keyed)', keyed: 'forbidden' };

export const allWindow = defineOperator({
  type: 'all-window',
  category: 'window',
  title: 'All-window (not keyed)',
  doc: 'A window over the whole, non-keyed stream (Flink’s windowAll). It runs with parallelism 1, so every record passes through one subtask.' +
    WINDOW_DOC_TAIL,
  configSchema: z.strictObject({ assigner: windowAssigner, ...common }),
  defaultConfig: {
    assigner: { kind: 'tumbling', sizeMs: 60_000 },
    function: { kind: 'aggregations', aggregations: [{ op: 'count' }] },
  },
  inputs: [NON_KEYED_IN],
  outputs: WINDOW_OUTPUTS,
  fixedParallelism: 1,
  changelog: WINDOW_CHANGELOG,
});
