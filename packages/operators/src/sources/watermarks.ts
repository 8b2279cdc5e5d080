/**
 * Watermark generation in sources, per split (a generator partition, a file, a Kafka
 * partition), as Flink's WatermarkStrategy and WatermarkOutputMultiplexer do it:
 *
 * - each split tracks the largest timestamp it has seen; its watermark is
 *   that minus the out-of-orderness bound, minus 1 (no record at or before the
 *   watermark may follow);
 * - the source's watermark is the minimum over its splits that are not idle; a split
 *   with no record for `idleTimeoutMs` of processing time is idle;
 * - a finished split no longer holds the watermark back.
 */
import type { JobConfig } from '@sluice/graph-model';
import { MIN_WATERMARK } from '../api/elements.js';
import type { CodeLoader } from '../api/functions.js';
import type { SplitStatus } from '../api/operator.js';
import type { Output } from '../api/output.js';
import { compileFieldPath } from '../functions/field-path.js';

export interface WatermarkConfig {
  readonly strategy?: 'bounded-out-of-orderness' | 'monotonous' | 'none' | undefined;
  readonly maxOutOfOrdernessMs?: number | undefined;
  readonly idleTimeoutMs?: number | undefined;
  readonly timestampField?: string | undefined;
  readonly timestampAssigner?: string | undefined;
}

export interface ResolvedWatermarks {
  /** False for strategy 'none': no watermarks at all. */
  readonly enabled: boolean;
  readonly boundMs: number;
  readonly idleTimeoutMs: number;
  readonly emit: JobConfig['watermarks']['emit'];
  readonly timestampOf: (value: unknown, previous: number) => number;
}

export function resolveWatermarks(
  config: WatermarkConfig,
  job: JobConfig,
  fn: CodeLoader,
  defaultField = 'timestamp',
): ResolvedWatermarks {
  const strategy = config.strategy ?? 'bounded-out-of-orderness';
  let timestampOf: (value: unknown, previous: number) => number;
  if (config.timestampAssigner !== undefined) {
    const assigner = fn(config.timestampAssigner) as (value: unknown, previous: number) => unknown;
    timestampOf = (value, previous) => toTimestamp(assigner(value, previous), 'the timestamp assigner');
  } else {
    const field = config.timestampField ?? defaultField;
    const get = compileFieldPath(field);
    timestampOf = (value) => toTimestamp(get(value), `field '${field}'`);
  }
  return {
    enabled: strategy !== 'none',
    boundMs: strategy === 'monotonous' ? 0 : (config.maxOutOfOrdernessMs ?? job.watermarks.maxOutOfOrdernessMs),
    idleTimeoutMs: config.idleTimeoutMs ?? job.watermarks.idleTimeoutMs,
    emit: job.watermarks.emit,
    timestampOf,
  };
}

function toTimestamp(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw new TypeError(`${what} gave ${value === undefined ? 'nothing' : JSON.stringify(value)}, not an epoch-millisecond timestamp or a date string`);
}

interface SplitState {
  maxTimestamp: number;
  lastActivity: number;
}

export class SplitWatermarks {
  private readonly splits = new Map<string, SplitState>();

  constructor(
    private readonly boundMs: number,
    private readonly idleTimeoutMs: number,
  ) {}

  addSplit(id: string, now: number): void {
    if (!this.splits.has(id)) this.splits.set(id, { maxTimestamp: MIN_WATERMARK, lastActivity: now });
  }

  removeSplit(id: string): void {
    this.splits.delete(id);
  }

  get size(): number {
    return this.splits.size;
  }

  onEvent(id: string, timestamp: number, now: number): void {
    const split = this.splits.get(id);
    if (!split) return;
    if (timestamp > split.maxTimestamp) split.maxTimestamp = timestamp;
    split.lastActivity = now;
  }

  /** Each split's watermark, idleness and last record (SourceOperator.splitStatus). */
  status(now: number): SplitStatus[] {
    const result: SplitStatus[] = [];
    for (const [split, state] of this.splits) {
      const seen = state.maxTimestamp !== MIN_WATERMARK;
      result.push({
        split,
        watermark: seen ? state.maxTimestamp - this.boundMs - 1 : MIN_WATERMARK,
        idle: this.idleTimeoutMs > 0 && now - state.lastActivity >= this.idleTimeoutMs,
        lastRecordAt: seen ? state.lastActivity : null,
      });
    }
    return result;
  }

  /** The source's watermark now, and whether every split is idle. */
  current(now: number): { watermark: number; idle: boolean; holdingBack: string | undefined } {
    let watermark = Number.POSITIVE_INFINITY;
    let holdingBack: string | undefined;
    let active = 0;
    for (const [id, split] of this.splits) {
      if (this.idleTimeoutMs > 0 && now - split.lastActivity >= this.idleTimeoutMs) continue;
      active++;
      const wm = split.maxTimestamp === MIN_WATERMARK ? MIN_WATERMARK : split.maxTimestamp - this.boundMs - 1;
      if (wm < watermark) {
        watermark = wm;
        holdingBack = id;
      }
    }
    if (active === 0) return { watermark: MIN_WATERMARK, idle: this.splits.size > 0, holdingBack: undefined };
    return { watermark, idle: false, holdingBack };
  }
}

/**
 * What a source has told downstream: idleness is announced once per change, and the
 * watermark only ever advances.
 */
export class SourceWatermarkEmitter {
  private last = MIN_WATERMARK;
  private idle = false;

  constructor(private readonly output: Pick<Output<unknown>, 'emitWatermark' | 'emitIdle'>) {}

  markIdle(): void {
    if (this.idle) return;
    this.idle = true;
    this.output.emitIdle(true);
  }

  emit(current: { readonly watermark: number; readonly idle: boolean }): void {
    if (current.idle) {
      this.markIdle();
      return;
    }
    if (this.idle) {
      this.idle = false;
      this.output.emitIdle(false);
    }
    if (current.watermark > this.last) {
      this.last = current.watermark;
      this.output.emitWatermark(current.watermark);
    }
  }
}
