/**
 * The Kafka sink, after Flink's KafkaSink, with what KafkaJS allows.
 *
 * Sending. Records are serialized (JSON value, key from `keyField`, static headers, the
 * record timestamp) on the task's thread and sent in batches (`batchRecords`, or every
 * `lingerMs`) by one chain of asynchronous sends per producer; nothing awaits per record.
 * While more than `maxBufferedRecords` are not yet acknowledged, blockedUntil() tells the
 * task to take no input (backpressure, as Flink's AsyncSinkWriter yields its mailbox).
 *
 * At-least-once. Records not yet acknowledged by Kafka at a barrier go into the
 * checkpoint; a restore sends them again. (Flink flushes the producer on the barrier
 * instead; operator hooks here are synchronous, so the checkpoint carries the records.)
 *
 * Exactly-once: a Kafka transaction per checkpoint per subtask.
 *   - Between two barriers records go into the current transaction of a producer from a
 *     small pool (transactional ids `<prefix>-<slot>`, prefix = job, operator, a restore
 *     generation and the subtask): one transaction stays open while earlier ones wait for
 *     their checkpoint to complete.
 *   - On the barrier the transaction is pre-committed: it joins the pending list, and the
 *     snapshot holds every pending transaction *with its records* and a random token.
 *   - When the checkpoint completes, its transactions commit in order. Each commit also
 *     commits, inside the same transaction, an offset of the consumer group `<prefix>`
 *     whose metadata is the transaction's token: a marker that becomes visible exactly
 *     when the transaction does.
 *   - On restore, for each producer prefix in the restored state, every pool id is
 *     initialised again, which fences the old producers and makes the broker abort their
 *     open transactions (or finish one whose commit had started). Then the marker says
 *     which restored transactions did commit; the others are sent again from the
 *     restored records in a new transaction, with their own token, and committed.
 *
 * What KafkaJS does not allow: resuming a crashed producer's transaction. Flink's
 * KafkaSink re-creates the producer with the old producerId and epoch (through
 * reflection) and commits the pre-committed transaction; KafkaJS has no such API, and
 * initialising a transactional id always aborts what was open under it. Hence the
 * records in the checkpoint and the commit marker. The cost: each checkpoint stores the
 * output of its interval, and a restore sends uncommitted output again.
 *
 * A transaction left open by an attempt that failed before its first checkpoint has ids
 * that no state mentions when the restore happens at another parallelism; the broker
 * aborts it after `transactionTimeoutMs`, and read_committed readers wait until then.
 */
import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka, Message, Offsets, Producer, Transaction } from 'kafkajs';
import { Partitioners } from './kafkajs.js';
import { NO_TIMESTAMP, RowKind } from '../api/elements.js';
import { AbstractOperator, FINAL_CHECKPOINT_ID, type OpenTransactionStatus, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import { compileFieldPath } from '../functions/field-path.js';
import { createKafka } from './client.js';

export interface KafkaSinkConfig {
  readonly bootstrapServers: string;
  readonly topic: string;
  readonly semantics: 'exactly-once' | 'at-least-once' | 'none';
  readonly keyField?: string | undefined;
  readonly upsert?: boolean | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly partitioner?: 'default' | 'fixed' | 'round-robin' | undefined;
  readonly transactionalIdPrefix?: string | undefined;
  readonly transactionTimeoutMs: number;
}

export interface KafkaSinkOptions {
  /** Whether the job checkpoints; without checkpoints exactly-once falls back to at-least-once. */
  readonly checkpointing: boolean;
  readonly batchRecords?: number;
  readonly lingerMs?: number;
  readonly maxBufferedRecords?: number;
  /** Producers per subtask in exactly-once mode (one open transaction plus those waiting for their checkpoint). */
  readonly poolSize?: number;
}

/** A serialized record, as it is sent and as it is kept in a checkpoint. */
interface Serialized {
  readonly key: string | null;
  readonly value: string | null;
  readonly timestamp?: string;
  readonly partition?: number;
}

interface Txn {
  readonly token: string;
  readonly records: Serialized[];
  /** Checkpoint the transaction was pre-committed for; Infinity until the snapshot. */
  checkpointId: number;
  slot: number | undefined;
  kafka: Transaction | undefined;
  /** Records handed to the send chain. */
  sent: number;
  sending: Promise<void>;
  committing: boolean;
}

/** The sink's operator state (a union), one entry per producer prefix: a subtask of this or an earlier run. */
export interface KafkaSinkState {
  readonly prefix: string;
  /** Who wrote with this prefix: the job, the subtask and its parallelism. */
  readonly jobId: string;
  readonly subtask: number;
  readonly parallelism: number;
  /** This subtask's output after the restored checkpoint was committed as a whole by an earlier attempt. */
  readonly finalCommitted?: boolean | undefined;
  readonly poolSize: number;
  /** Exactly-once: transactions pre-committed and not known to be committed, in order. */
  readonly pending: ReadonlyArray<{ readonly token: string; readonly records: readonly Serialized[] }>;
  /** At-least-once: records not acknowledged by Kafka at the barrier. */
  readonly unacknowledged?: readonly Serialized[] | undefined;
}

const MARKER_PARTITION = 0;
const FINAL_TOKEN = 'final';
const MARKER_SETTLE_MS = 100;

export class KafkaSink extends AbstractOperator<unknown> {
  private readonly exactlyOnce: boolean;
  private readonly batchRecords: number;
  private readonly lingerMs: number;
  private readonly maxBuffered: number;
  private readonly poolSize: number;
  private readonly keyOf: ((value: unknown) => unknown) | undefined;
  private readonly headers: IHeaders | undefined;
  private kafka!: Kafka;
  private prefix = '';
  private restored: KafkaSinkState[] = [];
  /** Restored prefixes whose recovery has not finished: they stay in the state until it has. */
  private recovering: KafkaSinkState[] = [];
  private ready!: Promise<void>;
  private partitionCount = 0;
  private roundRobin = 0;
  private failure: unknown;
  private closed = false;
  private lingerCancel: (() => void) | undefined;

  // Exactly-once.
  private readonly producers: Array<Producer | undefined> = [];
  private readonly freeSlots: number[] = [];
  private slotWaiters: Array<(slot: number) => void> = [];
  private current: Txn | undefined;
  private pending: Txn[] = [];
  private commits: Promise<void> = Promise.resolve();
  /** An earlier attempt of this very run already committed its final output. */
  private finalCommitted = false;
  private readonly openedAt = new Map<string, number>();

  // At-least-once.
  private producer: Producer | undefined;
  private batch: Serialized[] = [];
  private readonly inFlight = new Set<Serialized[]>();
  private sends: Promise<void> = Promise.resolve();
  private unacknowledged = 0;
  private drained: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    private readonly config: KafkaSinkConfig,
    options: KafkaSinkOptions,
  ) {
    super();
    this.exactlyOnce = config.semantics === 'exactly-once' && options.checkpointing;
    this.batchRecords = Math.max(1, options.batchRecords ?? 1000);
    this.lingerMs = Math.max(1, options.lingerMs ?? 20);
    this.maxBuffered = Math.max(this.batchRecords, options.maxBufferedRecords ?? 50_000);
    this.poolSize = Math.max(2, options.poolSize ?? 3);
    this.keyOf = config.keyField !== undefined ? compileFieldPath(config.keyField) : undefined;
    const headers = Object.entries(config.headers ?? {});
    this.headers = headers.length > 0 ? Object.fromEntries(headers) : undefined;
  }

  private get where(): string {
    return `Kafka sink '${this.ctx.nodeId}' (topic '${this.config.topic}')`;
  }

  override initializeState(restore: OperatorRestore): void {
    this.restored = (restore.operatorState ?? []) as KafkaSinkState[];
  }

  override open(): void {
    const { jobId, nodeId, subtaskIndex, parallelism } = this.ctx;
    // The state is a union: every subtask sees every earlier prefix, so all agree on the
    // generation, one above the newest restored. A new run's ids then never equal the ids
    // it must fence, and two restores from the same checkpoint use the same ids (the
    // second fences what the first left open).
    const generation = Math.max(-1, ...this.restored.map((s) => Number(/-g(\d+)-s\d+$/.exec(s.prefix)?.[1] ?? -1))) + 1;
    this.prefix = `${this.config.transactionalIdPrefix ?? `sluice-${jobId}-${nodeId}`}-g${generation}-s${subtaskIndex}`;
    this.kafka = createKafka(this.config.bootstrapServers, `sluice-${jobId}-${nodeId}-${subtaskIndex}`, this.ctx.log, this.where);
    const byPrefix = new Map(this.restored.map((s) => [s.prefix, s]));
    // An earlier subtask's prefix goes to the subtask with its index (modulo the parallelism).
    this.recovering = [...byPrefix.values()].filter((s) => s.subtask % parallelism === subtaskIndex);
    this.ready = this.start();
    this.ready.catch((error: unknown) => this.fail(error));
    this.scheduleLinger();
  }

  private async start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [this.config.topic] }).catch((error: unknown) => {
        throw new Error(`${this.where}: cannot read the topic's metadata (does it exist?): ${error instanceof Error ? error.message : String(error)}`);
      });
      this.partitionCount = metadata.topics[0]?.partitions.length ?? 0;
      if (this.partitionCount === 0) throw new Error(`${this.where}: the topic has no partitions`);
      if (this.exactlyOnce) {
        for (const state of this.recovering.slice()) {
          const final = await this.recover(state, admin);
          // The same subtask of this job, at this parallelism, reached the job's end and committed
          // all its output after the restored checkpoint: replaying that output would duplicate it.
          if ((final || state.finalCommitted === true) && state.jobId === this.ctx.jobId && state.subtask === this.ctx.subtaskIndex && state.parallelism === this.ctx.parallelism) {
            this.finalCommitted = true;
          }
        }
        // Initialising every id of the pool up front fences what an earlier attempt with the
        // same ids (restored from the same checkpoint) left open, on slots this run may never use.
        for (let slot = 0; slot < this.poolSize; slot++) {
          const txn = await (await this.slotProducer(slot)).transaction();
          await txn.abort();
          this.freeSlots.push(slot);
        }
        // An attempt restored from the same checkpoint already reached the job's end and
        // committed everything after that checkpoint: all this run would write is a duplicate.
        if ((await this.markerOf(this.prefix, admin)) === FINAL_TOKEN) this.finalCommitted = true;
        if (this.finalCommitted) this.ctx.log.info(`${this.where}: an earlier attempt with the same transactional ids committed the job's final output; writing nothing again`);
      } else {
        this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
        await this.producer.connect();
        for (const state of this.recovering) if (state.unacknowledged && state.unacknowledged.length > 0) this.enqueue(state.unacknowledged.slice());
        this.recovering = [];
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * Fences every producer of an earlier run's prefix (the broker aborts what they left
   * open), then sends again, in new transactions, the restored transactions that the
   * commit marker does not show as committed.
   */
  /**
   * The token of the last committed transaction of a prefix. The broker applies a
   * transaction's offset commit to its group shortly after the commit completes, and
   * KafkaJS cannot ask for stable offsets only (OffsetFetch's require_stable, v7): so the
   * marker is read until two reads MARKER_SETTLE_MS apart agree.
   */
  private async markerOf(prefix: string, admin: ReturnType<Kafka['admin']>): Promise<string | null> {
    const read = async () => {
      const [marker] = await admin.fetchOffsets({ groupId: prefix, topics: [this.config.topic] });
      return marker?.partitions.find((p) => p.partition === MARKER_PARTITION)?.metadata ?? null;
    };
    let token = await read();
    for (;;) {
      await new Promise((r) => setTimeout(r, MARKER_SETTLE_MS));
      const again = await read();
      if (again === token) return token;
      token = again;
    }
  }

  /** Returns whether the prefix's last commit was its final one. */
  private async recover(state: KafkaSinkState, admin: ReturnType<Kafka['admin']>): Promise<boolean> {
    const fenced: Producer[] = [];
    try {
      for (let slot = 0; slot < state.poolSize; slot++) {
        const producer = this.transactionalProducer(`${state.prefix}-${slot}`);
        fenced.push(producer);
        await producer.connect();
        const txn = await producer.transaction();
        await txn.abort();
      }
      const token = await this.markerOf(state.prefix, admin);
      // The final commit is the last one of a prefix: everything before it was committed too.
      const committedUpTo = token === FINAL_TOKEN ? state.pending.length - 1 : state.pending.findIndex((p) => p.token === token);
      const redo = state.pending.slice(committedUpTo + 1);
      const producer = fenced[0] as Producer;
      for (const p of redo) {
        const txn = await producer.transaction();
        for (let i = 0; i < p.records.length; i += this.batchRecords) {
          await txn.send({ topic: this.config.topic, messages: p.records.slice(i, i + this.batchRecords).map((r) => this.message(r)) });
        }
        await txn.sendOffsets(this.marker(state.prefix, p.token));
        await txn.commit();
      }
      if (redo.length > 0) this.ctx.log.info(`${this.where}: committed ${redo.length} restored transaction(s) of ${state.prefix} again`, { records: redo.reduce((n, p) => n + p.records.length, 0) });
      this.recovering = this.recovering.filter((s) => s !== state);
      return token === FINAL_TOKEN;
    } finally {
      await Promise.allSettled(fenced.map((p) => p.disconnect()));
    }
  }

  /** The commit marker: an offset of group `prefix` whose metadata is the transaction's token. */
  private marker(prefix: string, token: string): Offsets & { consumerGroupId: string } {
    // KafkaJS's types omit the metadata, but its TxnOffsetCommit request sends it.
    const offset = { partition: MARKER_PARTITION, offset: '0', metadata: token };
    return { consumerGroupId: prefix, topics: [{ topic: this.config.topic, partitions: [offset] }] };
  }

  private transactionalProducer(transactionalId: string): Producer {
    return this.kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.config.transactionTimeoutMs,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /** Failed, or closed: asynchronous work ends at its next step. */
  private isStopped(): boolean {
    return this.failure !== undefined || this.closed;
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    this.failure ??= error;
    this.drained?.resolve();
  }

  private check(): void {
    if (this.failure !== undefined) {
      const error = this.failure instanceof Error ? this.failure : new Error(describe(this.failure));
      throw new Error(`${this.where}: ${error.message}`, { cause: error });
    }
  }

  private serialize(value: unknown, timestamp: number, kind: RowKind): Serialized | undefined {
    if (kind === RowKind.UPDATE_BEFORE) return undefined;
    const key = this.keyOf ? this.keyOf(value) : undefined;
    const keyText = key === undefined || key === null ? null : typeof key === 'string' ? key : JSON.stringify(key);
    const tombstone = kind === RowKind.DELETE;
    if (tombstone && !this.config.upsert) throw new Error(`${this.where} got a DELETE but is not in upsert mode`);
    const record: { key: string | null; value: string | null; timestamp?: string; partition?: number } = {
      key: keyText,
      value: tombstone ? null : JSON.stringify(value),
    };
    if (timestamp !== NO_TIMESTAMP && Number.isFinite(timestamp) && timestamp >= 0) record.timestamp = String(timestamp);
    // Taken modulo the partition count when sent: the count may not be known yet.
    if (this.config.partitioner === 'fixed') record.partition = this.ctx.subtaskIndex;
    else if (this.config.partitioner === 'round-robin') record.partition = this.roundRobin++;
    return record;
  }

  private message(r: Serialized): Message {
    const m: Message = { key: r.key, value: r.value };
    if (r.timestamp !== undefined) m.timestamp = r.timestamp;
    if (r.partition !== undefined && this.partitionCount > 0) m.partition = r.partition % this.partitionCount;
    if (this.headers) m.headers = this.headers;
    return m;
  }

  processElement(value: unknown, timestamp: number, kind: RowKind): void {
    this.check();
    const record = this.serialize(value, timestamp, kind);
    if (!record) return;
    if (this.exactlyOnce) {
      if (this.finalCommitted) return;
      const txn = (this.current ??= this.newTxn());
      txn.records.push(record);
      if (txn.records.length - txn.sent >= this.batchRecords) this.pump(txn);
    } else {
      this.batch.push(record);
      if (this.batch.length >= this.batchRecords) this.flushBatch();
    }
  }

  /** Exactly-once: too many records of uncommitted transactions; at-least-once: too many unacknowledged. */
  blockedUntil(): Promise<void> | undefined {
    if (this.failure !== undefined) return undefined;
    // Only sends in flight count: they drain by themselves. Records of a transaction that
    // waits for a producer wait for a checkpoint, whose barrier must still get through.
    if (this.unacknowledged < this.maxBuffered) return undefined;
    this.drained ??= promiseWithResolve();
    return this.drained.promise;
  }

  private acknowledged(count: number): void {
    this.unacknowledged -= count;
    if (this.drained && this.unacknowledged < this.maxBuffered / 2) {
      this.drained.resolve();
      this.drained = undefined;
    }
  }

  // ---- at-least-once ---------------------------------------------------------------

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const records = this.batch;
    this.batch = [];
    this.enqueue(records);
  }

  private enqueue(records: Serialized[]): void {
    this.inFlight.add(records);
    this.unacknowledged += records.length;
    this.sends = this.sends
      .then(() => this.ready)
      .then(async () => {
        if (this.isStopped()) return;
        await (this.producer as Producer).send({ topic: this.config.topic, messages: records.map((r) => this.message(r)), acks: -1 });
        this.inFlight.delete(records);
        this.acknowledged(records.length);
      })
      .catch((error: unknown) => this.fail(error));
  }

  // ---- exactly-once ----------------------------------------------------------------

  private newTxn(): Txn {
    const txn: Txn = { token: randomUUID(), records: [], checkpointId: Number.POSITIVE_INFINITY, slot: undefined, kafka: undefined, sent: 0, sending: Promise.resolve(), committing: false };
    this.openedAt.set(txn.token, this.ctx.processingTime.now());
    return txn;
  }

  /** Hands the records not yet sent to the transaction's send chain, once it has a producer. */
  private pump(txn: Txn): void {
    if (txn.slot === undefined) {
      const slot = this.freeSlots.shift();
      // No free producer: the records wait in memory (and go into the checkpoint anyway).
      if (slot === undefined) return;
      txn.slot = slot;
    }
    const from = txn.sent;
    const to = txn.records.length;
    if (to <= from) return;
    txn.sent = to;
    this.unacknowledged += to - from;
    const slot = txn.slot;
    txn.sending = txn.sending
      .then(() => this.ready)
      .then(async () => {
        if (this.isStopped()) return;
        if (this.finalCommitted) {
          this.acknowledged(to - from);
          return;
        }
        txn.kafka ??= await (await this.slotProducer(slot)).transaction();
        for (let i = from; i < to; i += this.batchRecords) {
          await txn.kafka.send({ topic: this.config.topic, messages: txn.records.slice(i, Math.min(to, i + this.batchRecords)).map((r) => this.message(r)) });
        }
        this.acknowledged(to - from);
      })
      .catch((error: unknown) => this.fail(error));
  }

  private async slotProducer(slot: number): Promise<Producer> {
    let producer = this.producers[slot];
    if (!producer) {
      producer = this.transactionalProducer(`${this.prefix}-${slot}`);
      this.producers[slot] = producer;
      await producer.connect();
    }
    return producer;
  }

  private releaseSlot(slot: number): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter(slot);
    else this.freeSlots.push(slot);
    if (this.current && this.current.slot === undefined) this.pump(this.current);
  }

  private acquireSlot(): Promise<number> {
    const slot = this.freeSlots.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private async commit(txn: Txn): Promise<void> {
    if (this.isStopped()) return;
    if (this.finalCommitted) {
      this.pending = this.pending.filter((p) => p !== txn);
      return;
    }
    txn.slot ??= await this.acquireSlot();
    this.pump(txn);
    await txn.sending;
    if (this.isStopped()) return;
    txn.kafka ??= await (await this.slotProducer(txn.slot)).transaction();
    await txn.kafka.sendOffsets(this.marker(this.prefix, txn.token));
    await txn.kafka.commit();
    this.pending = this.pending.filter((p) => p !== txn);
    this.openedAt.delete(txn.token);
    this.releaseSlot(txn.slot);
  }

  /**
   * The job has ended. What no completed checkpoint covers (transactions pre-committed for
   * checkpoints that never completed, and the last one) is written again as one
   * transaction whose marker says 'final', and the others are aborted: this subtask's
   * output after its last completed checkpoint becomes visible all at once or not at all.
   * A later attempt restored from that checkpoint finds the marker and writes nothing.
   */
  private async commitFinal(rest: Txn[]): Promise<void> {
    if (this.isStopped()) return;
    for (const txn of rest) {
      await txn.sending;
      if (txn.kafka) await txn.kafka.abort();
      txn.kafka = undefined;
      if (txn.slot !== undefined) this.releaseSlot(txn.slot);
      txn.slot = undefined;
    }
    const records = rest.flatMap((t) => t.records);
    if (records.length > 0 && !this.finalCommitted) {
      const slot = await this.acquireSlot();
      const txn = await (await this.slotProducer(slot)).transaction();
      for (let i = 0; i < records.length; i += this.batchRecords) {
        await txn.send({ topic: this.config.topic, messages: records.slice(i, i + this.batchRecords).map((r) => this.message(r)) });
      }
      await txn.sendOffsets(this.marker(this.prefix, FINAL_TOKEN));
      await txn.commit();
      this.releaseSlot(slot);
    }
    const done = new Set(rest);
    this.pending = this.pending.filter((p) => !done.has(p));
    for (const t of rest) this.openedAt.delete(t.token);
  }

  private scheduleLinger(): void {
    if (this.closed) return;
    const now = this.ctx.processingTime.now();
    this.lingerCancel = this.ctx.processingTime.schedule(now + this.lingerMs, () => {
      if (this.exactlyOnce) {
        if (this.current) this.pump(this.current);
      } else {
        this.flushBatch();
      }
      this.scheduleLinger();
    });
  }

  // ---- checkpoints -----------------------------------------------------------------

  override prepareSnapshotPreBarrier(_checkpointId: number): void {
    this.check();
    if (!this.exactlyOnce) {
      this.flushBatch();
      return;
    }
    const txn = this.current;
    this.current = undefined;
    if (!txn || txn.records.length === 0) return;
    this.pump(txn);
    this.pending.push(txn);
  }

  override snapshotState(checkpointId: number): OperatorStateSnapshot {
    if (!this.exactlyOnce) {
      const unacknowledged = [...this.inFlight].flat();
      return { mode: 'union', entries: [{ ...this.identity(), poolSize: 0, pending: [], unacknowledged } satisfies KafkaSinkState, ...this.recovering] };
    }
    for (const p of this.pending) if (p.checkpointId === Number.POSITIVE_INFINITY) p.checkpointId = checkpointId;
    const own: KafkaSinkState = {
      ...this.identity(),
      poolSize: this.poolSize,
      pending: this.pending.map((p) => ({ token: p.token, records: p.records })),
      ...(this.finalCommitted ? { finalCommitted: true } : {}),
    };
    return { mode: 'union', entries: [own, ...this.recovering] };
  }

  private identity(): Pick<KafkaSinkState, 'prefix' | 'jobId' | 'subtask' | 'parallelism'> {
    return { prefix: this.prefix, jobId: this.ctx.jobId, subtask: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism };
  }

  override notifyCheckpointComplete(checkpointId: number): void {
    if (!this.exactlyOnce) return;
    if (checkpointId === FINAL_CHECKPOINT_ID) {
      const rest = this.pending.filter((t) => !t.committing);
      for (const t of rest) t.committing = true;
      this.commits = this.commits.then(() => this.ready).then(() => this.commitFinal(rest)).catch((error: unknown) => this.fail(error));
      return;
    }
    // An aborted checkpoint's transactions stay pending and go with the next completed one.
    for (const txn of this.pending) {
      if (txn.checkpointId > checkpointId || txn.committing) continue;
      txn.committing = true;
      this.commits = this.commits.then(() => this.ready).then(() => this.commit(txn)).catch((error: unknown) => this.fail(error));
    }
  }

  override finish(): void {
    this.check();
    if (this.exactlyOnce) {
      // The last transaction commits when the whole job has ended (FINAL_CHECKPOINT_ID).
      this.prepareSnapshotPreBarrier(Number.POSITIVE_INFINITY);
    } else {
      this.flushBatch();
    }
  }

  /** Until the last output is visible: pending transactions, or records not yet acknowledged. */
  override hasPendingCommits(): boolean {
    this.check();
    return this.exactlyOnce ? this.pending.length > 0 || this.recovering.length > 0 : this.unacknowledged > 0 || this.batch.length > 0;
  }

  /** Transactions this subtask has open or waiting to commit, for telemetry. */
  openTransactions(): OpenTransactionStatus[] {
    const all = [...this.pending, ...(this.current ? [this.current] : [])];
    return all.map((t) => ({
      transactionalId: t.slot === undefined ? `${this.prefix}-?` : `${this.prefix}-${t.slot}`,
      records: t.records.length,
      openedAt: this.openedAt.get(t.token) ?? 0,
      phase: t === this.current ? 'open' : t.committing ? 'committing' : 'pre-committed',
    }));
  }

  override close(): void {
    this.closed = true;
    this.lingerCancel?.();
    this.drained?.resolve();
    const producers = [...this.producers, this.producer].filter((p): p is Producer => p !== undefined);
    // At the end of a job everything is committed before close; after a failure, open
    // transactions are left to the next attempt (which fences them) or the broker's timeout.
    void Promise.allSettled(producers.map((p) => p.disconnect()));
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  return value === undefined ? 'an unknown error' : JSON.stringify(value);
}

function promiseWithResolve(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
