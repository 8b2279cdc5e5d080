/**
 * The built-in data generator. Record n of the whole sequence is a pure function of
 * the seed and n (generator-data.ts), and the sequence is cut into splits: split i of
 * p holds n = i, i + p, i + 2p, … A subtask reads its splits round robin; a split's
 * position is operator state, so a restore (at any parallelism) resumes exactly.
 */
import type { GeneratorProfile } from '@sluice/graph-model';
import { AbstractSourceOperator, InputStatus, type OperatorRestore, type OperatorStateSnapshot, type SplitStatus } from '../api/operator.js';
import type { OperatorEnv } from '../registry.js';
import { recordFactory, type GeneratedRecord } from './generator-data.js';
import { resolveWatermarks, SourceWatermarkEmitter, SplitWatermarks, type ResolvedWatermarks, type WatermarkConfig } from './watermarks.js';

export interface GeneratorConfig {
  readonly profile: GeneratorProfile;
  readonly seed: number;
  readonly count: number | null;
  readonly ratePerSecond: number;
  readonly keys: number;
  readonly startTime: number;
  readonly eventIntervalMs: number;
  readonly maxOutOfOrdernessMs: number;
  readonly lateFraction: number;
  readonly lateByMs: number;
  readonly watermarks: WatermarkConfig;
}

export interface GeneratorSplit {
  readonly split: number;
  readonly of: number;
  /** Next position within the split: record n = split + next × of. */
  next: number;
}

export class GeneratorSource extends AbstractSourceOperator {
  private readonly make: (n: number) => GeneratedRecord;
  private readonly wm: ResolvedWatermarks;
  /** No timestamp field or assigner configured: the event time is the one the profile generated (not every profile has a top-level `timestamp`). */
  private readonly ownTimestamps: boolean;
  private splits: GeneratorSplit[] = [];
  private restored: readonly unknown[] | undefined;
  private watermarks!: SplitWatermarks;
  private emitter!: SourceWatermarkEmitter;
  private cursor = 0;
  private emitted = 0;
  private rateStart = 0;
  private perSubtaskRate = 0;
  private nextPeriodicEmit = 0;
  private sincePunctuation = 0;

  constructor(
    private readonly config: GeneratorConfig,
    env: OperatorEnv,
  ) {
    super();
    this.make = recordFactory(config);
    this.wm = resolveWatermarks(config.watermarks, env.job, env.fn);
    this.ownTimestamps = config.watermarks.timestampField === undefined && config.watermarks.timestampAssigner === undefined;
  }

  override initializeState(restore: OperatorRestore): void {
    this.restored = restore.operatorState;
  }

  override open(): void {
    const { subtaskIndex, parallelism } = this.ctx;
    this.splits = this.restored
      ? this.restored.map((s) => ({ ...(s as GeneratorSplit) }))
      : [{ split: subtaskIndex, of: parallelism, next: 0 }];
    const now = this.ctx.processingTime.now();
    this.watermarks = new SplitWatermarks(this.wm.boundMs, this.wm.idleTimeoutMs);
    this.emitter = new SourceWatermarkEmitter(this.output);
    this.splits = this.splits.filter((s) => !this.exhausted(s));
    for (const s of this.splits) this.watermarks.addSplit(String(s.split), now);
    this.rateStart = now;
    this.perSubtaskRate = this.config.ratePerSecond / parallelism;
    this.nextPeriodicEmit = now;
  }

  pollNext(budget: number): InputStatus {
    const now = this.ctx.processingTime.now();
    if (this.wm.enabled && this.wm.emit.mode === 'periodic' && now >= this.nextPeriodicEmit) {
      this.emitWatermark(now);
      this.nextPeriodicEmit = now + this.wm.emit.intervalMs;
    }
    if (this.splits.length === 0) {
      if (this.config.count !== null) return InputStatus.END_OF_INPUT;
      this.emitter.markIdle();
      return InputStatus.NOTHING_AVAILABLE;
    }
    let allowed = budget;
    if (this.perSubtaskRate > 0) {
      const permits = Math.floor(((now - this.rateStart) * this.perSubtaskRate) / 1000) + 1 - this.emitted;
      if (permits <= 0) return InputStatus.NOTHING_AVAILABLE;
      allowed = Math.min(budget, permits);
    }
    const punctuated = this.wm.enabled && this.wm.emit.mode === 'punctuated' ? this.wm.emit.everyRecords : 0;
    const count = this.config.count;
    for (let i = 0; i < allowed; i++) {
      if (this.cursor >= this.splits.length) this.cursor = 0;
      const split = this.splits[this.cursor] as GeneratorSplit;
      const n = split.split + split.next * split.of;
      split.next++;
      const record = this.make(n);
      const timestamp = this.ownTimestamps ? record.timestamp : this.wm.timestampOf(record.value, record.timestamp);
      this.watermarks.onEvent(String(split.split), timestamp, now);
      this.output.collect(record.value, timestamp);
      this.emitted++;
      if (count !== null && split.split + split.next * split.of >= count) {
        this.splits.splice(this.cursor, 1);
        this.watermarks.removeSplit(String(split.split));
        if (this.splits.length === 0) return InputStatus.END_OF_INPUT;
      } else if (this.splits.length > 1) {
        this.cursor++;
      }
      if (punctuated > 0 && ++this.sincePunctuation >= punctuated) {
        this.sincePunctuation = 0;
        this.emitWatermark(now);
      }
    }
    return InputStatus.MORE_AVAILABLE;
  }

  override whenAvailable(): Promise<void> {
    const now = this.ctx.processingTime.now();
    let at = this.wm.enabled && this.wm.emit.mode === 'periodic' ? this.nextPeriodicEmit : now + 1000;
    if (this.perSubtaskRate > 0 && this.splits.length > 0) {
      at = Math.min(at, this.rateStart + Math.ceil(((this.emitted) * 1000) / this.perSubtaskRate));
    }
    return new Promise((resolve) => this.ctx.processingTime.schedule(Math.max(at, now), () => resolve()));
  }

  splitStatus(): readonly SplitStatus[] {
    return this.watermarks.status(this.ctx.processingTime.now());
  }

  override snapshotState(): OperatorStateSnapshot {
    return { mode: 'split', entries: this.splits.map((s) => ({ ...s })) };
  }

  private exhausted(split: GeneratorSplit): boolean {
    return this.config.count !== null && split.split + split.next * split.of >= this.config.count;
  }

  private emitWatermark(now: number): void {
    this.emitter.emit(this.watermarks.current(now));
  }
}
