/**
 * The Kafka source, after Flink's KafkaSource (and, for its state, the union offsets of
 * the older FlinkKafkaConsumer).
 *
 * Assignment. The engine, not Kafka's group protocol, decides who reads what: partition p
 * of the topic belongs to subtask partitionOwner(topic, p, parallelism) (Flink's
 * KafkaSourceEnumerator.getSplitOwner). KafkaJS has no assign(), so each subtask runs a
 * consumer in a group of its own with an assigner that hands it exactly its partitions;
 * nothing else ever joins that group, so it never rebalances except when KafkaJS notices
 * new partitions (dynamic discovery: metadata is refreshed every discovery interval).
 * The configured groupId is never joined: offsets are only committed to it, for
 * monitoring, when a checkpoint completes.
 *
 * Positions. The position of a partition (the offset after the last record emitted) is
 * operator state in mode 'union': every subtask restores every entry and keeps those of
 * the partitions it owns now, so a restore at any parallelism resumes each partition
 * exactly. A partition with no entry in a restored state appeared after the checkpoint and
 * starts from the earliest offset (Flink does the same); on a fresh start partitions start
 * where `startFrom` says.
 *
 * Hot path. Fetching is asynchronous (KafkaJS's fetch loop) into a bounded buffer of
 * batches; pollNext drains it synchronously. When the buffer is full the partitions are
 * paused (KafkaJS discards what it fetched for paused partitions and fetches it again on
 * resume), and whenAvailable() resolves as soon as a batch arrives, or when a watermark
 * is due, so idleness is noticed while nothing arrives.
 *
 * Event time. The record's Kafka timestamp, unless the watermark strategy names a field or
 * an assigner. Each partition is a split of SplitWatermarks: a partition without records
 * for idleTimeoutMs stops holding the subtask's watermark back; a subtask that owns no
 * partition is idle.
 *
 * Bad records. A value that does not parse (JSON), or has no valid event time, goes to the
 * `dead-letter` output as { topic, partition, offset, timestamp, key, error, text } and
 * counts in metrics.deadLetters.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Assigner, Consumer, EachBatchPayload, Kafka, KafkaMessage, PartitionAssigner } from 'kafkajs';
import { AssignerProtocol } from './kafkajs.js';
import { MIN_WATERMARK } from '../api/elements.js';
import { AbstractSourceOperator, InputStatus, type OperatorRestore, type OperatorStateSnapshot, type SplitStatus } from '../api/operator.js';
import type { OperatorEnv } from '../registry.js';
import { resolveWatermarks, SourceWatermarkEmitter, SplitWatermarks, type ResolvedWatermarks, type WatermarkConfig } from '../sources/watermarks.js';
import { createKafka, partitionOwner } from './client.js';

export type KafkaStartFrom =
  | { readonly mode: 'earliest' }
  | { readonly mode: 'latest' }
  | { readonly mode: 'timestamp'; readonly timestampMs: number }
  | { readonly mode: 'group-offsets'; readonly fallback?: 'earliest' | 'latest' | undefined };

export interface KafkaSourceConfig {
  readonly bootstrapServers: string;
  readonly topic: string;
  readonly groupId?: string | undefined;
  readonly startFrom: KafkaStartFrom;
  readonly format: 'json' | 'string';
  readonly keyField?: string | undefined;
  readonly partitionDiscoveryIntervalMs: number;
  readonly isolationLevel?: 'read-committed' | 'read-uncommitted' | undefined;
  readonly bounded?: boolean | undefined;
  readonly watermarks?: WatermarkConfig | undefined;
}

/** Tuning the catalog does not expose; tests and benchmarks use it. */
export interface KafkaSourceOptions {
  /** Records buffered per subtask before its partitions are paused (default 20,000). */
  readonly bufferRecords?: number;
}

/**
 * One entry of the source's operator state. `offset` is the next offset to read, or where
 * a partition whose position was not known yet will start. Partition -1 stands for every
 * partition without an entry of its own (a snapshot taken before the topic was listed).
 */
export interface KafkaPartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number | StartSpec;
  /** Bounded mode: the offset to stop before. */
  readonly stop?: number | undefined;
}

type StartSpec = 'earliest' | 'latest' | 'group' | `timestamp:${number}`;

/** What telemetry shows per partition. */
export interface KafkaPartitionStatus {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to emit. */
  readonly offset: number;
  /** The partition's end offset as of the last fetch (null until fetched). */
  readonly highWatermark: number | null;
  /** Records between the position and the end offset. */
  readonly lag: number | null;
  /** This partition's watermark (MIN_WATERMARK before its first record). */
  readonly watermark: number;
  readonly idle: boolean;
  /** Processing time of its last record; null before its first. */
  readonly lastRecordAt: number | null;
}

/** The dead-letter record of the Kafka source. */
export interface KafkaDeadLetter {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly error: string;
  readonly text: string;
}

export const KAFKA_DEAD_LETTER = 'dead-letter';
const DEAD_LETTER_TEXT_LIMIT = 10 * 1024;

interface Fetched {
  readonly partition: number;
  readonly messages: KafkaMessage[];
  next: number;
  /** The offset after the fetched batch, control records and aborted data included. */
  readonly end: number;
}

interface PartitionInfo {
  /** Next offset to emit. */
  next: number;
  stop: number | undefined;
  highWatermark: number | null;
  finished: boolean;
}

export class KafkaSource extends AbstractSourceOperator {
  private readonly wm: ResolvedWatermarks;
  private readonly useRecordTimestamp: boolean;
  private readonly bufferLimit: number;
  private restored: KafkaPartitionState[] | undefined;
  private readonly partitions = new Map<number, PartitionInfo>();
  /** Start for partitions that have no entry of their own (see KafkaPartitionState). */
  private defaultStart: StartSpec = 'earliest';
  private kafka: Kafka | undefined;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private readonly buffer: Fetched[] = [];
  private buffered = 0;
  private paused = false;
  private failure: unknown;
  private closed = false;
  private started = false;
  private watermarks!: SplitWatermarks;
  private emitter!: SourceWatermarkEmitter;
  private nextPeriodicEmit = 0;
  private sincePunctuation = 0;
  private wake: (() => void) | undefined;
  /** Partitions the consumer was assigned since the last poll; applied on the task's turn. */
  private assignedNow: number[] | undefined;
  private readonly adding = new Set<number>();
  private readonly positionsAt = new Map<number, Array<{ partition: number; offset: number }>>();
  private committing = Promise.resolve();
  private decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly config: KafkaSourceConfig,
    env: OperatorEnv,
    options: KafkaSourceOptions = {},
  ) {
    super();
    const w = config.watermarks ?? {};
    this.wm = resolveWatermarks(w, env.job, env.fn);
    this.useRecordTimestamp = w.timestampField === undefined && w.timestampAssigner === undefined;
    this.bufferLimit = Math.max(1, options.bufferRecords ?? 20_000);
  }

  private get where(): string {
    return `Kafka source '${this.ctx.nodeId}' (topic '${this.config.topic}')`;
  }

  override initializeState(restore: OperatorRestore): void {
    this.restored = restore.operatorState?.map((e) => e as KafkaPartitionState);
  }

  override open(): void {
    const now = this.ctx.processingTime.now();
    this.watermarks = new SplitWatermarks(this.wm.boundMs, this.wm.idleTimeoutMs);
    this.emitter = new SourceWatermarkEmitter(this.output);
    this.nextPeriodicEmit = now;
    const s = this.config.startFrom;
    const fresh: StartSpec = s.mode === 'timestamp' ? `timestamp:${s.timestampMs}` : s.mode === 'group-offsets' ? 'group' : s.mode;
    if (this.restored) {
      const others = this.restored.find((e) => e.topic === this.config.topic && e.partition === -1);
      this.defaultStart = others ? (others.offset as StartSpec) : 'earliest';
    } else {
      this.defaultStart = fresh;
    }
    this.kafka = createKafka(this.config.bootstrapServers, `sluice-${this.ctx.jobId}-${this.ctx.nodeId}-${this.ctx.subtaskIndex}`, this.ctx.log, this.where);
    this.start().catch((error: unknown) => this.fail(error));
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    this.failure ??= error;
    this.wake?.();
  }

  /** Lists the topic, resolves start positions of this subtask's partitions, starts the consumer. */
  private async start(): Promise<void> {
    const kafka = this.kafka as Kafka;
    const admin = kafka.admin();
    this.admin = admin;
    await admin.connect();
    const topic = this.config.topic;
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch((error: unknown) => {
      throw new Error(`${this.where}: cannot read the topic's metadata: ${error instanceof Error ? error.message : String(error)}`);
    });
    const all = (metadata.topics[0]?.partitions ?? []).map((p) => p.partitionId).sort((a, b) => a - b);
    const mine = all.filter((p) => partitionOwner(topic, p, this.ctx.parallelism) === this.ctx.subtaskIndex);
    await this.addPartitions(mine);
    if (this.closed) return;
    this.started = true;

    const fixed = new Set(mine);
    const discovery = this.config.partitionDiscoveryIntervalMs > 0 && !this.config.bounded;
    const consumer = kafka.consumer({
      groupId: `sluice.${this.ctx.jobId}.${this.ctx.nodeId}.${this.ctx.subtaskIndex}.${randomUUID().slice(0, 8)}`,
      partitionAssigners: [this.assigner(discovery ? undefined : fixed)],
      readUncommitted: this.config.isolationLevel === 'read-uncommitted',
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 1024 * 1024,
      metadataMaxAge: discovery ? this.config.partitionDiscoveryIntervalMs : 300_000,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onJoin(event.payload.memberAssignment[topic] ?? []));
    // KafkaJS restarts its consumer itself after a retriable error (a coordinator still loading).
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) this.fail(event.payload.error);
    });
    // A batch of only control records or aborted data never reaches eachBatch; the position
    // must still move past it (or a bounded read would never reach its end).
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      // Without a first offset the batch held only records before the fetch position, and
      // KafkaJS reports the partition's end as its last offset: nothing to move past.
      const firstOffset: unknown = event.payload.firstOffset;
      if (event.payload.batchSize === 0 && firstOffset !== null) this.onBatchEnd(event.payload.partition, Number(event.payload.lastOffset) + 1, Number(event.payload.highWatermark));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch: (payload) => this.onBatch(payload) });
  }

  /** Hands this subtask's consumer exactly the partitions the engine gave it. */
  private assigner(fixed: ReadonlySet<number> | undefined): PartitionAssigner {
    const topic = this.config.topic;
    const { subtaskIndex, parallelism } = this.ctx;
    return ({ cluster }): Assigner => ({
      name: 'SluiceEngineAssigned',
      version: 1,
      protocol: ({ topics }) => ({ name: 'SluiceEngineAssigned', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) }),
      assign: ({ members }) => {
        const partitions = cluster
          .findTopicPartitionMetadata(topic)
          .map((p) => p.partitionId)
          .filter((p) => partitionOwner(topic, p, parallelism) === subtaskIndex && (fixed === undefined || fixed.has(p)))
          .sort((a, b) => a - b);
        // The group is this subtask's alone; should a stray member appear it gets nothing.
        return Promise.resolve(members.map((m, i) => ({
          memberId: m.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: i === 0 ? { [topic]: partitions } : {}, userData: Buffer.alloc(0) }),
        })));
      },
    });
  }

  /** Resolves where each new partition starts (restored entry, startFrom, or earliest). */
  private async addPartitions(partitions: readonly number[]): Promise<void> {
    const topic = this.config.topic;
    const fresh = partitions.filter((p) => !this.partitions.has(p));
    if (fresh.length === 0) return;
    const specs = new Map<number, { start: number | StartSpec; stop: number | undefined }>();
    for (const p of fresh) {
      const entry = this.restored?.find((e) => e.topic === topic && e.partition === p);
      specs.set(p, entry ? { start: entry.offset, stop: entry.stop } : { start: this.defaultStart, stop: undefined });
    }
    const needs = (what: (s: number | StartSpec) => boolean) => [...specs.values()].some((s) => what(s.start));
    const admin = this.admin as Admin;
    const ends = needs((s) => s === 'latest') || this.config.bounded ? await admin.fetchTopicOffsets(topic) : [];
    const group =
      needs((s) => s === 'group') && this.config.groupId !== undefined ? await admin.fetchOffsets({ groupId: this.config.groupId, topics: [topic] }) : [];
    const lows = needs((s) => s === 'earliest' || s === 'group') ? await admin.fetchTopicOffsets(topic) : [];
    const byTimestamp = new Map<number, Array<{ partition: number; offset: string }>>();
    for (const s of specs.values()) {
      if (typeof s.start === 'string' && s.start.startsWith('timestamp:')) {
        const ts = Number(s.start.slice('timestamp:'.length));
        if (!byTimestamp.has(ts)) byTimestamp.set(ts, await admin.fetchTopicOffsetsByTimestamp(topic, ts));
      }
    }
    const fallback = this.config.startFrom.mode === 'group-offsets' ? (this.config.startFrom.fallback ?? 'earliest') : 'earliest';
    const now = this.ctx.processingTime.now();
    for (const [p, spec] of specs) {
      const low = Number(lows.find((o) => o.partition === p)?.low ?? 0);
      const high = Number(ends.find((o) => o.partition === p)?.high ?? 0);
      let next: number;
      if (typeof spec.start === 'number') next = spec.start;
      else if (spec.start === 'earliest') next = low;
      else if (spec.start === 'latest') next = high;
      else if (spec.start === 'group') {
        const committed = Number(group[0]?.partitions.find((o) => o.partition === p)?.offset ?? -1);
        next = committed >= 0 ? committed : fallback === 'latest' ? Number(ends.find((o) => o.partition === p)?.high ?? (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === p)?.high ?? 0) : low;
      } else {
        const found = byTimestamp.get(Number(spec.start.slice('timestamp:'.length)))?.find((o) => o.partition === p);
        // No record at or after the timestamp: the end of the partition.
        next = found && Number(found.offset) >= 0 ? Number(found.offset) : high;
      }
      const stop = this.config.bounded ? (spec.stop ?? high) : undefined;
      const finished = stop !== undefined && next >= stop;
      this.partitions.set(p, { next, stop, highWatermark: null, finished });
      if (!finished) this.watermarks.addSplit(String(p), now);
    }
    // Where each partition starts is what a user checks first when records seem lost or read twice.
    const positions = fresh.map((p) => {
      const info = this.partitions.get(p) as PartitionInfo;
      return `${p}@${info.next}${info.stop !== undefined ? `..${info.stop}` : ''}`;
    });
    this.ctx.log.info(`${this.where}: subtask ${this.ctx.subtaskIndex + 1} reads partition(s) ${positions.join(', ')}`, { restored: this.restored !== undefined });
  }

  /**
   * Every join (the first, and a rejoin after KafkaJS noticed new partitions) resets the
   * private group's positions to the earliest offset: seek each known partition back to
   * where this source is. KafkaJS drops fetched data of a partition with a pending seek.
   */
  private onJoin(assigned: number[]): void {
    const consumer = this.consumer;
    if (!consumer) return;
    for (const p of assigned) {
      const info = this.partitions.get(p);
      if (!info) continue;
      consumer.seek({ topic: this.config.topic, partition: p, offset: String(this.fetchPosition(p)) });
    }
    // Records already buffered stay valid: the seek goes to the offset after them.
    this.assignedNow = assigned;
    this.wake?.();
  }

  /** Where fetching continues for a partition: after what is buffered, or at its position. */
  private fetchPosition(partition: number): number {
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      const b = this.buffer[i] as Fetched;
      if (b.partition === partition) return b.end;
    }
    return this.partitions.get(partition)?.next ?? 0;
  }

  private onBatchEnd(partition: number, end: number, highWatermark: number): void {
    const info = this.partitions.get(partition);
    if (this.closed || !info || info.finished) return;
    info.highWatermark = highWatermark;
    if (end <= this.fetchPosition(partition)) return;
    this.buffer.push({ partition, messages: [], next: 0, end });
    this.wake?.();
  }

  private onBatch({ batch }: EachBatchPayload): Promise<void> {
    if (this.closed) return Promise.resolve();
    const info = this.partitions.get(batch.partition);
    if (info) info.highWatermark = Number(batch.highWatermark);
    if (!info || info.finished) return Promise.resolve();
    let messages = batch.messages;
    const end = Number(batch.lastOffset()) + 1;
    // A seek may still be in flight for data fetched before it: keep only what follows the buffer.
    const from = this.fetchPosition(batch.partition);
    if (end <= from) return Promise.resolve();
    if (Number(messages[0]?.offset) < from) messages = messages.filter((m) => Number(m.offset) >= from);
    if (info.stop !== undefined) messages = messages.filter((m) => Number(m.offset) < (info.stop as number));
    this.buffer.push({ partition: batch.partition, messages, next: 0, end });
    this.buffered += messages.length;
    if (this.buffered >= this.bufferLimit && !this.paused) {
      this.paused = true;
      this.consumer?.pause([{ topic: this.config.topic }]);
    }
    this.wake?.();
    return Promise.resolve();
  }

  pollNext(budget: number): InputStatus {
    if (this.failure !== undefined) throw this.failure instanceof Error ? this.failure : new Error(typeof this.failure === 'string' ? this.failure : JSON.stringify(this.failure));
    const now = this.ctx.processingTime.now();
    if (this.assignedNow) this.applyAssignment();
    if (this.wm.enabled && this.wm.emit.mode === 'periodic' && now >= this.nextPeriodicEmit) {
      this.emitWatermark(now);
      this.nextPeriodicEmit = now + this.wm.emit.intervalMs;
    }
    const punctuated = this.wm.enabled && this.wm.emit.mode === 'punctuated' ? this.wm.emit.everyRecords : 0;
    let emitted = 0;
    while (emitted < budget && this.buffer.length > 0) {
      const batch = this.buffer[0] as Fetched;
      const info = this.partitions.get(batch.partition) as PartitionInfo;
      const split = String(batch.partition);
      const end = Math.min(batch.messages.length, batch.next + (budget - emitted));
      for (let i = batch.next; i < end; i++) {
        const message = batch.messages[i] as KafkaMessage;
        this.emit(batch.partition, split, message, now);
        info.next = Number(message.offset) + 1;
        if (punctuated > 0 && ++this.sincePunctuation >= punctuated) {
          this.sincePunctuation = 0;
          this.emitWatermark(now);
        }
      }
      emitted += end - batch.next;
      this.buffered -= end - batch.next;
      batch.next = end;
      if (batch.next >= batch.messages.length) {
        this.buffer.shift();
        if (batch.end > info.next) info.next = batch.end;
      }
      if (info.stop !== undefined && info.next >= info.stop && !info.finished) {
        info.finished = true;
        this.watermarks.removeSplit(split);
      }
    }
    if (this.paused && this.buffered <= this.bufferLimit / 2) {
      this.paused = false;
      this.consumer?.resume([{ topic: this.config.topic }]);
    }
    if (this.config.bounded && this.started && [...this.partitions.values()].every((p) => p.finished)) return InputStatus.END_OF_INPUT;
    if (this.started && this.partitions.size === 0) this.emitter.markIdle();
    if (emitted > 0) return this.buffer.length > 0 ? InputStatus.MORE_AVAILABLE : InputStatus.NOTHING_AVAILABLE;
    return InputStatus.NOTHING_AVAILABLE;
  }

  private emit(partition: number, split: string, message: KafkaMessage, now: number): void {
    let value: unknown;
    const kafkaTimestamp = Number(message.timestamp);
    try {
      value = this.deserialize(message);
    } catch (error) {
      this.deadLetter(partition, message, `cannot parse the value as ${this.config.format === 'json' ? 'JSON' : 'UTF-8 text'}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    let timestamp = kafkaTimestamp;
    if (!this.useRecordTimestamp) {
      try {
        timestamp = this.wm.timestampOf(value, kafkaTimestamp);
      } catch (error) {
        this.deadLetter(partition, message, `no valid event time: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
    }
    this.watermarks.onEvent(split, timestamp, now);
    this.output.collect(value, timestamp);
  }

  private deserialize(message: KafkaMessage): unknown {
    const bytes = message.value;
    let value: unknown;
    if (this.config.format === 'json') {
      if (bytes === null) throw new Error('the record has no value (a tombstone)');
      value = JSON.parse(this.decoder.decode(bytes));
    } else {
      value = { value: bytes === null ? null : this.decoder.decode(bytes) };
    }
    const keyField = this.config.keyField;
    if (keyField !== undefined) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`keyField '${keyField}' needs a JSON object, not ${JSON.stringify(value).slice(0, 100)}`);
      value = { ...(value as Record<string, unknown>), [keyField]: message.key === null ? null : message.key.toString('utf8') };
    }
    return value;
  }

  private deadLetter(partition: number, message: KafkaMessage, error: string): void {
    this.ctx.metrics.deadLetters++;
    const text = message.value === null ? '' : message.value.toString('utf8');
    const letter: KafkaDeadLetter = {
      topic: this.config.topic,
      partition,
      offset: Number(message.offset),
      timestamp: Number(message.timestamp),
      key: message.key === null ? null : message.key.toString('utf8'),
      error,
      text: text.length > DEAD_LETTER_TEXT_LIMIT ? text.slice(0, DEAD_LETTER_TEXT_LIMIT) : text,
    };
    this.output.collectSide(KAFKA_DEAD_LETTER, letter, Number(message.timestamp));
  }

  /** Partitions that appeared after the start (discovery) begin at their earliest offset, as in Flink. */
  private applyAssignment(): void {
    const assigned = this.assignedNow ?? [];
    this.assignedNow = undefined;
    const added = assigned.filter((p) => !this.partitions.has(p) && !this.adding.has(p));
    if (added.length === 0) return;
    this.defaultStart = 'earliest';
    for (const p of added) this.adding.add(p);
    this.addPartitions(added).then(
      () => {
        for (const p of added) {
          this.adding.delete(p);
          const info = this.partitions.get(p);
          if (info) this.consumer?.seek({ topic: this.config.topic, partition: p, offset: String(info.next) });
        }
      },
      (error: unknown) => this.fail(error),
    );
  }

  override whenAvailable(): Promise<void> {
    if (this.buffer.length > 0 || this.failure !== undefined || this.assignedNow) return Promise.resolve();
    const now = this.ctx.processingTime.now();
    const at = this.wm.enabled && this.wm.emit.mode === 'periodic' ? Math.max(now, this.nextPeriodicEmit) : now + 1000;
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this.wake = undefined;
        cancel();
        resolve();
      };
      const cancel = this.ctx.processingTime.schedule(at, finish);
      this.wake = finish;
    });
  }

  override snapshotState(checkpointId: number): OperatorStateSnapshot {
    const topic = this.config.topic;
    const entries: KafkaPartitionState[] = [];
    const positions: Array<{ partition: number; offset: number }> = [];
    for (const [partition, info] of this.partitions) {
      entries.push({ topic, partition, offset: info.next, ...(info.stop !== undefined ? { stop: info.stop } : {}) });
      positions.push({ partition, offset: info.next });
    }
    if (!this.started) {
      // The topic was not listed yet: keep what this subtask restored, and where the rest starts.
      for (const e of this.restored ?? []) if (e.partition >= 0 && !this.partitions.has(e.partition)) entries.push(e);
      entries.push({ topic, partition: -1, offset: this.defaultStart });
    }
    this.positionsAt.set(checkpointId, positions);
    return { mode: 'union', entries };
  }

  override notifyCheckpointComplete(checkpointId: number): void {
    const positions = this.positionsAt.get(checkpointId);
    for (const id of this.positionsAt.keys()) if (id <= checkpointId) this.positionsAt.delete(id);
    const groupId = this.config.groupId;
    const admin = this.admin;
    if (!positions || positions.length === 0 || groupId === undefined || !admin) return;
    // For monitoring only (lag in Kafka's own tools): a failed commit is logged, never fatal.
    this.committing = this.committing.then(() =>
      admin
        .setOffsets({ groupId, topic: this.config.topic, partitions: positions.map((p) => ({ partition: p.partition, offset: String(p.offset) })) })
        .catch((error: unknown) => this.ctx.log.warn(`${this.where}: committing offsets to group '${groupId}' failed`, { error: error instanceof Error ? error.message : String(error) })),
    );
  }

  /** Per-partition position, lag, watermark and idleness, for telemetry. */
  partitionStatus(): KafkaPartitionStatus[] {
    const splits = new Map(this.watermarks.status(this.ctx.processingTime.now()).map((s) => [s.split, s]));
    return [...this.partitions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, info]) => {
        const split = splits.get(String(partition));
        return {
          topic: this.config.topic,
          partition,
          offset: info.next,
          highWatermark: info.highWatermark,
          lag: info.highWatermark !== null ? Math.max(0, info.highWatermark - info.next) : null,
          watermark: split?.watermark ?? MIN_WATERMARK,
          idle: split?.idle ?? info.finished,
          lastRecordAt: split?.lastRecordAt ?? null,
        };
      });
  }

  /** Each partition as a split (`<topic>-<partition>`, Flink's split id) for the engine's telemetry. */
  splitStatus(): SplitStatus[] {
    return this.partitionStatus().map((p) => ({ split: `${p.topic}-${p.partition}`, watermark: p.watermark, idle: p.idle, lastRecordAt: p.lastRecordAt, lag: p.lag }));
  }

  private emitWatermark(now: number): void {
    if (this.partitions.size === 0) return;
    this.emitter.emit(this.watermarks.current(now));
  }

  override close(): void {
    this.closed = true;
    this.wake?.();
    const consumer = this.consumer;
    const admin = this.admin;
    this.consumer = undefined;
    this.admin = undefined;
    // Closing must not wait on the network; the clients finish disconnecting on their own.
    void this.committing.finally(() => Promise.allSettled([consumer?.disconnect(), admin?.disconnect()]));
  }
}
