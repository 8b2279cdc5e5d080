import { z } from 'zod';
import { durationMs, fieldName, identifier, recordFormat, watermarkStrategy } from '../fields.js';
import { APPEND, DEAD_LETTER_OUTPUT, MAIN_OUTPUT, defineOperator } from './define.js';

/**
 * Record shapes of the built-in generator. The engine implements each profile;
 * `timestamp` is always the event time in epoch milliseconds.
 */
export const GENERATOR_PROFILES = {
  sequence: '{ id: number, key: string, value: number, timestamp: number }: a counter; key is `key-<id mod keys>`.',
  clickstream:
    "{ userId: string, page: string, action: 'view' | 'click' | 'purchase', referrer: string, durationMs: number, timestamp: number }: page views of a web shop.",
  sensor: '{ sensorId: string, site: string, temperature: number, humidity: number, timestamp: number }: readings from IoT sensors.',
  transactions:
    '{ transactionId: string, cardId: string, amount: number, merchant: string, country: string, timestamp: number }: card payments, with occasional small-then-large sequences on one card.',
  orders: '{ orderId: string, customerId: string, amount: number, items: number, timestamp: number }: orders of a web shop.',
  shipments:
    '{ shipmentId: string, orderId: string, carrier: string, timestamp: number }: shipments of the orders that the `orders` profile with the same seed and keys creates, shipped some minutes later.',
  logins: '{ userId: string, success: boolean, ip: string, timestamp: number }: login attempts, with bursts of failures.',
  nexmark:
    '{ event_type: 0 | 1 | 2, person? | auction? | bid? }: the Nexmark benchmark\'s online auctions, persons (0), auctions (1) and bids (2) in proportions 1:3:46, each event filling the one nested record of its type, with `dateTime` (and an auction\'s `expires`) in epoch ms (the record timestamp); `keys` does not apply.',
} as const;

export type GeneratorProfile = keyof typeof GENERATOR_PROFILES;
const profileNames = Object.keys(GENERATOR_PROFILES) as [GeneratorProfile, ...GeneratorProfile[]];

export const generatorConfig = z
  .strictObject({
    profile: z.enum(profileNames).meta({ description: 'What the records look like.' }),
    seed: z.number().int().default(42).meta({ description: 'The same seed always yields the same records.' }),
    count: z
      .number()
      .int()
      .positive()
      .max(Number.MAX_SAFE_INTEGER)
      .nullable()
      .default(null)
      .meta({ description: 'Records in total across all subtasks; null runs forever (unbounded).' }),
    ratePerSecond: z
      .number()
      .nonnegative()
      .default(1000)
      .meta({ description: 'Records per second across all subtasks; 0 means as fast as possible.' }),
    keys: z.number().int().positive().max(100_000_000).default(1000).meta({ description: 'Number of distinct keys (users, sensors, cards…).' }),
    startTime: z
      .number()
      .int()
      .nonnegative()
      .default(1_700_000_000_000)
      .meta({ description: 'Event time of the first record, epoch ms; fixed so that runs repeat exactly.', unit: 'ms' }),
    eventIntervalMs: z
      .number()
      .nonnegative()
      .max(86_400_000)
      .default(1)
      .meta({ description: 'Event time between consecutive records; may be a fraction (0.001 = a thousand records per millisecond).', unit: 'ms' }),
    maxOutOfOrdernessMs: durationMs('Timestamps are shifted back by a random amount up to this.').default(0),
    lateFraction: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .meta({ description: 'Fraction of records delayed by `lateByMs`, beyond the out-of-orderness bound.' }),
    lateByMs: durationMs('How far back late records are shifted.').default(0),
    watermarks: watermarkStrategy.default({}),
  })
  .superRefine((config, ctx) => {
    if (config.lateFraction > 0 && config.lateByMs === 0) {
      ctx.addIssue({ code: 'custom', path: ['lateByMs'], message: 'lateFraction is set, so lateByMs must be above 0' });
    }
  });

export const generator = defineOperator({
  type: 'generator',
  category: 'source',
  title: 'Data generator',
  doc: 'Deterministic synthetic records from a seed: bounded (a count) or unbounded, rate-limited or as fast as possible, optionally out of order or late. Profiles: ' +
    Object.entries(GENERATOR_PROFILES)
      .map(([name, shape]) => `${name}: ${shape}`)
      .join(' '),
  configSchema: generatorConfig,
  defaultConfig: { profile: 'sequence', ratePerSecond: 1000 },
  inputs: [],
  outputs: () => [MAIN_OUTPUT],
  changelog: APPEND,
});

const csvOptions = z
  .strictObject({
    delimiter: z.string().length(1).default(','),
    header: z.boolean().default(true).meta({ description: 'The first line names the columns.' }),
    columns: z
      .array(identifier('Column name'))
      .max(1000)
      .optional()
      .meta({ description: 'Column names when the file has no header.' }),
  })
  .meta({ description: 'CSV parsing.' });

export const fileSource = defineOperator({
  type: 'file-source',
  endpoints: [{ field: 'path', kind: 'file-path', access: 'read' }],
  category: 'source',
  title: 'File source',
  doc: 'Reads JSON lines or CSV from a file or a directory of files, split across subtasks by file. Bounded: the job ends after the last line, with a final watermark that fires every window. Lines that do not parse go to the dead-letter output with their file and line number.',
  configSchema: z.strictObject({
    path: z.string().min(1).meta({ description: 'A file, or a directory whose files are read in name order.' }),
    format: recordFormat,
    csv: csvOptions.optional(),
    watermarks: watermarkStrategy.default({}),
  }),
  defaultConfig: { path: 'input.jsonl', format: 'jsonl' },
  inputs: [],
  outputs: () => [MAIN_OUTPUT, DEAD_LETTER_OUTPUT],
  changelog: APPEND,
});

export const kafkaStartFrom = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('earliest') }),
  z.strictObject({ mode: z.literal('latest') }),
  z.strictObject({ mode: z.literal('timestamp'), timestampMs: z.number().int().nonnegative().meta({ unit: 'ms' }) }),
  z.strictObject({
    mode: z.literal('group-offsets'),
    fallback: z.enum(['earliest', 'latest']).default('earliest').meta({ description: 'Where partitions without a committed offset start.' }),
  }),
]);

export const kafkaSource = defineOperator({
  type: 'kafka-source',
  endpoints: [{ field: 'bootstrapServers', kind: 'kafka-bootstrap-servers' }],
  category: 'source',
  title: 'Kafka source',
  doc: 'Reads a Kafka topic. The engine assigns partitions to subtasks itself (no consumer-group rebalancing), keeps offsets in checkpoints and restores them exactly, and generates watermarks per partition, so one idle partition does not stall event time once its idleness timeout passes. Event time is the Kafka record timestamp unless the watermark strategy names a field or an assigner. Format json: each value is parsed as JSON; string: each record is { value: <text> }. Records that fail to deserialize go to the dead-letter output as { topic, partition, offset, timestamp, key, error, text }.',
  configSchema: z.strictObject({
    bootstrapServers: z.string().min(1).default('127.0.0.1:9092').meta({ description: 'Comma-separated host:port list.' }),
    topic: z.string().min(1).max(249).meta({ description: 'Topic to read.' }),
    groupId: z.string().min(1).optional().meta({ description: 'Consumer group that offsets are committed to, for monitoring only.' }),
    startFrom: kafkaStartFrom.default({ mode: 'earliest' }),
    format: z.enum(['json', 'string']).default('json'),
    keyField: fieldName('Field that receives the Kafka record key, if any.').optional(),
    partitionDiscoveryIntervalMs: durationMs('How often new partitions are looked for; 0 disables discovery.').default(30_000),
    isolationLevel: z
      .enum(['read-committed', 'read-uncommitted'])
      .default('read-committed')
      .meta({ description: "'read-committed' sees only committed transactions (what an exactly-once Kafka sink wrote once its checkpoint completed)." }),
    bounded: z
      .boolean()
      .default(false)
      .meta({ description: 'Stop at the end offsets the partitions had when the job first started: a bounded job (Flink\'s setBounded(latest)). Turns discovery off.' }),
    watermarks: watermarkStrategy.default({}),
  }),
  defaultConfig: { topic: 'input' },
  inputs: [],
  outputs: () => [MAIN_OUTPUT, DEAD_LETTER_OUTPUT],
  changelog: APPEND,
});

