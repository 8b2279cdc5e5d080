/**
 * Schema pieces shared by operator configs, so that "a duration", "a field path"
 * or "a user function" mean the same thing, and render the same way, everywhere.
 */
import { z } from 'zod';
import { checkCode, type CodeKindName } from './code.js';

/** A duration or time in milliseconds. The editor shows it with units. */
export const durationMs = (description: string) =>
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).meta({ description, unit: 'ms' });

export const positiveDurationMs = (description: string) =>
  z.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({ description, unit: 'ms' });

const FIELD_PATH = /^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$/;

/** A dotted path into a record, such as `user.id`. */
export const fieldPath = (description: string) =>
  z
    .string()
    .regex(FIELD_PATH, { message: 'expected a field path such as `user.id` (letters, digits, _ and $, separated by dots)' })
    .meta({ description, 'x-sluice-field': true });

/** A name of a field in an output record. */
export const fieldName = (description: string) =>
  z
    .string()
    .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, { message: 'expected a field name (letters, digits, _ and $)' })
    .meta({ description });

/** A name for a side output, a state or a pattern step. Kebab or camel case; no spaces. */
export const identifier = (description: string) =>
  z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, { message: 'expected a name of letters, digits, _ and - (at most 64), starting with a letter' })
    .meta({ description });

/** A user function; its syntax and shape are checked as part of validation. */
export const code = (kind: CodeKindName, description: string) =>
  z
    .string()
    .superRefine((source, ctx) => {
      const problem = checkCode(source, kind);
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          message: `line ${problem.line}, column ${problem.column}: ${problem.message}`,
          params: { sluice: 'code', line: problem.line, column: problem.column },
        });
      }
    })
    .meta({ description, 'x-sluice-code': kind });

export const TIME_CHARACTERISTICS = ['event-time', 'processing-time'] as const;
export const timeCharacteristic = z
  .enum(TIME_CHARACTERISTICS)
  .default('event-time')
  .meta({ description: 'Event time follows record timestamps and watermarks; processing time follows the wall clock.' });

/**
 * How a source derives event time and watermarks (Flink's WatermarkStrategy).
 * Fields left out take the job's watermark defaults.
 */
export const watermarkStrategy = z
  .strictObject({
    strategy: z
      .enum(['bounded-out-of-orderness', 'monotonous', 'none'])
      .optional()
      .meta({ description: "'monotonous' is bounded out-of-orderness of 0; 'none' emits no watermarks (processing time only)." }),
    maxOutOfOrdernessMs: durationMs('How far behind the largest timestamp seen the watermark trails.').optional(),
    idleTimeoutMs: durationMs(
      'A split or partition without records for this long is marked idle and stops holding the watermark back; 0 disables idleness.',
    ).optional(),
    timestampField: fieldPath('Field holding the event time in epoch milliseconds.').optional(),
    timestampAssigner: code('timestamp-assigner', 'Function returning the event time of a record; overrides timestampField.').optional(),
  })
  .meta({ description: 'Event time and watermarks of this source.' });

export type WatermarkStrategyConfig = z.output<typeof watermarkStrategy>;

export const recordFormat = z.enum(['jsonl', 'csv']).meta({ description: 'JSON lines (one object a line) or CSV with a header row.' });
