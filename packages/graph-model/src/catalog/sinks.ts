import { z } from 'zod';
import { durationMs, fieldPath, identifier, recordFormat } from '../fields.js';
import { IN, defineOperator } from './define.js';

const SINK_IN = IN;

export const collectSink = defineOperator({
  type: 'collect-sink',
  category: 'sink',
  title: 'Collect',
  doc: 'Keeps results in the engine, where the CLI prints them, tests read them and the editor shows the latest ones. For small results.',
  configSchema: z.strictObject({
    name: identifier('Name under which results are collected.').default('results'),
    maxRecords: z.number().int().positive().max(10_000_000).default(100_000).meta({ description: 'Older results beyond this are dropped (and counted).' }),
  }),
  defaultConfig: {},
  inputs: [SINK_IN],
  outputs: () => [],
  changelog: { produces: 'append', accepts: true },
});

export const consoleSink = defineOperator({
  type: 'console-sink',
  category: 'sink',
  title: 'Console',
  doc: 'Prints each record as a line of JSON to the engine’s log, prefixed with the subtask (like Flink’s print()).',
  configSchema: z.strictObject({ prefix: z.string().max(100).default('') }),
  defaultConfig: {},
  inputs: [SINK_IN],
  outputs: () => [],
  changelog: { produces: 'append', accepts: true },
});

export const blackholeSink = defineOperator({
  type: 'blackhole-sink',
  category: 'sink',
  title: 'Discard',
  doc: 'Drops every record. For benchmarks and for trying out the upstream part of a pipeline. With a rate it stands for a slow external system: it takes no more records per second than that, and the operators before it are backpressured.',
  configSchema: z.strictObject({
    ratePerSecond: z
      .number()
      .positive()
      .nullable()
      .default(null)
      .meta({ description: 'Most records per second it takes, across all subtasks; null takes them as fast as they come.' }),
  }),
  defaultConfig: {},
  inputs: [SINK_IN],
  outputs: () => [],
  changelog: { produces: 'append', accepts: true },
});

export const fileSink = defineOperator({
  type: 'file-sink',
  endpoints: [{ field: 'path', kind: 'file-path', access: 'write' }],
  category: 'sink',
  title: 'File sink',
  doc: 'Writes JSON lines or CSV into part files under a directory. Exactly-once: part files move from in-progress to pending on a checkpoint barrier and are committed (renamed to their final name) when the checkpoint completes; readers only ever see committed files. Changelog input is written with an `op` field (+I, -U, +U, -D).',
  configSchema: z.strictObject({
    path: z.string().min(1).meta({ description: 'Output directory.' }),
    format: recordFormat,
    semantics: z.enum(['exactly-once', 'at-least-once']).default('exactly-once'),
    rolling: z
      .strictObject({
        maxRecords: z.number().int().positive().optional(),
        maxBytes: z.number().int().positive().default(128 * 1024 * 1024),
        rolloverIntervalMs: durationMs('Roll a part file after it has been open this long.').default(15 * 60_000),
        inactivityIntervalMs: durationMs('Roll a part file that has received nothing for this long.').default(60_000),
      })
      .default({ maxBytes: 128 * 1024 * 1024, rolloverIntervalMs: 15 * 60_000, inactivityIntervalMs: 60_000 })
      .meta({ description: 'When a part file is closed and a new one started.' }),
  }),
  defaultConfig: { path: 'output', format: 'jsonl' },
  inputs: [SINK_IN],
  outputs: () => [],
  changelog: { produces: 'append', accepts: true },
});

export const kafkaSink = defineOperator({
  type: 'kafka-sink',
  endpoints: [{ field: 'bootstrapServers', kind: 'kafka-bootstrap-servers' }],
  category: 'sink',
  title: 'Kafka sink',
  doc: 'Writes JSON records to a Kafka topic (the record timestamp becomes the Kafka timestamp). Exactly-once uses one Kafka transaction per checkpoint and subtask, committed when the checkpoint completes; readers must use read_committed. The checkpoint keeps the records of transactions not yet committed, so a restore can write them again (KafkaJS cannot resume a crashed producer\'s transaction). At-least-once keeps records not yet acknowledged in the checkpoint. Without checkpointing, exactly-once behaves as at-least-once. A changelog input needs upsert mode: the record key identifies the row and a delete is written as a tombstone.',
  configSchema: z.strictObject({
    bootstrapServers: z.string().min(1).default('127.0.0.1:9092'),
    topic: z.string().min(1).max(249),
    semantics: z.enum(['exactly-once', 'at-least-once', 'none']).default('at-least-once'),
    keyField: fieldPath('Field written as the Kafka record key (and that picks the partition).').optional(),
    upsert: z.boolean().default(false).meta({ description: 'Apply a changelog by key: updates overwrite, deletes become tombstones. Needs keyField.' }),
    headers: z.record(z.string().min(1).max(256), z.string().max(4096)).default({}).meta({ description: 'Headers written on every record.' }),
    partitioner: z
      .enum(['default', 'fixed', 'round-robin'])
      .default('default')
      .meta({
        description:
          "'default': Kafka's (murmur2 of the key; records without a key spread round robin); 'fixed': each subtask writes to one partition (Flink's FlinkFixedPartitioner); 'round-robin': ignore the key.",
      }),
    transactionalIdPrefix: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: 'Start of the transactional ids (exactly-once); default sluice-<job>-<node>. Two jobs writing with the same prefix fence each other.' }),
    transactionTimeoutMs: durationMs('Kafka transaction timeout; must exceed the checkpoint interval.').default(60_000),
  }).superRefine((c, ctx) => {
    if (c.upsert && c.keyField === undefined) {
      ctx.addIssue({ code: 'custom', path: ['keyField'], message: 'upsert mode needs a keyField to identify rows' });
    }
  }),
  defaultConfig: { topic: 'output' },
  inputs: [SINK_IN],
  outputs: () => [],
  changelog: { produces: 'append', accepts: (config) => config.upsert },
});
