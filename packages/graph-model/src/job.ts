/**
 * Job-wide settings: parallelism, key groups, watermark defaults, checkpointing,
 * state backend and restart strategy. Defaults follow Apache Flink where Flink
 * has one (max parallelism 128, watermark interval 200 ms, buffer timeout 100 ms).
 */
import { z } from 'zod';
import { durationMs, positiveDurationMs } from './fields.js';

/** Flink's upper bound for max parallelism (key groups), 2^15. */
export const MAX_KEY_GROUPS = 32_768;

export const watermarkDefaults = z
  .strictObject({
    maxOutOfOrdernessMs: durationMs('Default bounded out-of-orderness of sources.').default(0),
    idleTimeoutMs: durationMs('Default idleness timeout of sources; 0 disables idleness detection.').default(0),
    emit: z
      .discriminatedUnion('mode', [
        z.strictObject({
          mode: z.literal('periodic'),
          intervalMs: positiveDurationMs('Processing-time interval between watermarks (Flink: pipeline.auto-watermark-interval).').default(200),
        }),
        z.strictObject({
          mode: z.literal('punctuated'),
          everyRecords: z
            .number()
            .int()
            .positive()
            .default(1)
            .meta({ description: 'Emit a watermark after every N records; makes bounded runs fully deterministic.' }),
        }),
      ])
      .default({ mode: 'periodic', intervalMs: 200 })
      .meta({ description: 'When sources emit watermarks.' }),
  })
  .meta({ description: 'Watermark defaults for every source.' });

export const checkpointing = z
  .strictObject({
    enabled: z.boolean().default(false),
    intervalMs: positiveDurationMs('Time between the start of two checkpoints.').default(10_000),
    mode: z.enum(['exactly-once', 'at-least-once']).default('exactly-once'),
    unaligned: z.boolean().default(false).meta({ description: 'Let barriers overtake in-flight data (written into the checkpoint).' }),
    alignmentTimeoutMs: durationMs('With unaligned on: start aligned and switch to unaligned after this long; 0 means unaligned at once.').default(0),
    timeoutMs: positiveDurationMs('A checkpoint not complete after this long is declined.').default(600_000),
    minPauseMs: durationMs('Minimum time between the end of one checkpoint and the start of the next.').default(0),
    retained: z.number().int().min(1).max(100).default(1).meta({ description: 'Completed checkpoints kept.' }),
  })
  .meta({ description: 'Periodic checkpoints.' });

export const stateBackend = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('heap') }),
    z.strictObject({
      type: z.literal('rocksdb'),
      incremental: z.boolean().default(true).meta({ description: 'Checkpoints share unchanged SST files with earlier ones.' }),
      writeBufferKb: z.number().int().min(0).max(1_048_576).default(4096).meta({ description: 'Buffered writes per subtask before they go to RocksDB as one batch.' }),
      readCacheMb: z.number().int().min(0).max(65_536).default(16).meta({ description: 'Cache of recently read values per subtask (on the JavaScript heap).' }),
      memtableMb: z.number().int().min(4).max(65_536).default(64).meta({ description: "RocksDB's memtable budget per subtask (write buffers are a quarter of it)." }),
      blockCacheMb: z.number().int().min(0).max(4095).default(32).meta({ description: "RocksDB's block cache per subtask." }),
    }),
  ])
  .meta({ description: 'Where keyed state lives while the job runs.' });

export const restartStrategy = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('fixed-delay'),
      attempts: z.number().int().min(1).default(3),
      delayMs: durationMs('Pause before each restart.').default(1000),
    }),
    z.strictObject({
      type: z.literal('failure-rate'),
      maxFailuresPerInterval: z.number().int().min(1).default(3),
      intervalMs: positiveDurationMs('Window over which failures are counted.').default(60_000),
      delayMs: durationMs('Pause before each restart.').default(1000),
    }),
    z.strictObject({
      type: z.literal('exponential-delay'),
      initialDelayMs: positiveDurationMs('First pause.').default(1000),
      maxDelayMs: positiveDurationMs('Largest pause.').default(60_000),
      multiplier: z.number().min(1).max(100).default(2),
      jitterFactor: z.number().min(0).max(1).default(0.1),
      resetAfterMs: positiveDurationMs('A job running this long without failure starts again from the initial delay.').default(3_600_000),
    }),
  ])
  .meta({ description: 'What happens when a task fails.' });

export const jobConfig = z
  .strictObject({
    defaultParallelism: z.number().int().min(1).max(MAX_KEY_GROUPS).default(1).meta({ description: 'Parallelism of nodes that set none.' }),
    maxParallelism: z
      .number()
      .int()
      .min(1)
      .max(MAX_KEY_GROUPS)
      .default(128)
      .meta({ description: 'Number of key groups: the upper bound for rescaling keyed state.' }),
    bufferTimeoutMs: durationMs('Longest a partly filled network buffer waits before it is sent; 0 sends at once.').default(100),
    chaining: z.boolean().default(true).meta({ description: 'Run consecutive forward-connected operators in one task.' }),
    watermarks: watermarkDefaults.default({ maxOutOfOrdernessMs: 0, idleTimeoutMs: 0, emit: { mode: 'periodic', intervalMs: 200 } }),
    checkpointing: checkpointing.default({
      enabled: false,
      intervalMs: 10_000,
      mode: 'exactly-once',
      unaligned: false,
      alignmentTimeoutMs: 0,
      timeoutMs: 600_000,
      minPauseMs: 0,
      retained: 1,
    }),
    stateBackend: stateBackend.default({ type: 'heap' }),
    restartStrategy: restartStrategy.default({ type: 'none' }),
  })
  .meta({ description: 'Settings of the whole job.' });

export type JobConfig = z.output<typeof jobConfig>;
