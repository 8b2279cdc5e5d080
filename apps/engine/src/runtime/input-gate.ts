/**
 * All input channels of a subtask, read round robin. Per head input, a watermark valve
 * (Flink's StatusWatermarkValve): the input's watermark is the minimum over its
 * channels that are neither idle nor ended, it only moves forward, and an input whose
 * channels are all idle is idle itself. Ended channels no longer hold anything back.
 */
import { InputStatus, MAX_WATERMARK, MIN_WATERMARK, RowKind } from '@sluice/operators';
import { ChannelReader, type ChannelMemory } from './channel.js';
import { MessageDecoder, MessageType, type Barrier, type Message } from './messages.js';

export interface GateChannelSpec {
  readonly exchange: number;
  readonly producerSubtask: number;
  readonly input: number;
  readonly memory: ChannelMemory;
  readonly creditBell: SharedArrayBuffer;
}

export interface InputWatermark {
  readonly watermark: number;
  readonly idle: boolean;
  /** The channel with the smallest watermark: what holds this input back. */
  readonly holdingBack: { readonly exchange: number; readonly producerSubtask: number } | undefined;
}

/** One channel as the watermark debugger shows it. */
export interface ChannelStatus {
  readonly input: number;
  readonly exchange: number;
  readonly producerSubtask: number;
  readonly watermark: number;
  readonly idle: boolean;
  readonly ended: boolean;
  /** Since the channel last delivered records, ms; null before the first. */
  readonly lastRecordAgeMs: number | null;
}

/** What the gate hands records, watermarks and idleness to (the task). */
export interface GateListener {
  handleRecord(input: number, value: unknown, timestamp: number, kind: RowKind): void;
  handleWatermark(input: number, watermark: number): void;
  handleIdle(input: number, idle: boolean): void;
  reportInputWatermarks(marks: InputWatermark[]): void;
  /** Every channel delivered the barrier (or ended): the subtask takes its snapshot now. */
  handleBarrier(barrier: Barrier, alignmentMs: number): void;
  /** Unaligned: the first barrier arrived; snapshot now and forward the barrier without waiting. */
  startUnalignedCheckpoint(barrier: Barrier): void;
  /** Unaligned: a record that was in flight before its channel's barrier (it is also processed as usual). */
  recordInFlight(input: number, value: unknown, timestamp: number, kind: RowKind): void;
  /** Unaligned: the last barrier arrived; the in-flight records are complete. */
  completeUnalignedCheckpoint(barrier: Barrier, alignmentMs: number): void;
  /** A newer barrier arrived before an older one completed: the older checkpoint is abandoned here. */
  abandonBarrier(id: number): void;
  /** True while the task must not process input (a native checkpoint is capturing keyed state). */
  holdsInput?(): boolean;
}

/**
 * Barrier alignment, as Flink's: with exactly-once, a channel that delivered the
 * barrier is blocked (its later records wait in its buffers) until every channel has
 * delivered it, so the snapshot holds exactly the records before the barrier. With
 * at-least-once nothing is blocked: records behind a barrier may be processed before
 * the snapshot, and are replayed after a restore.
 */
export type AlignmentMode = 'exactly-once' | 'at-least-once';

/**
 * Unaligned checkpoints (exactly-once without blocking): on the first barrier the subtask
 * snapshots and forwards the barrier at once; the records that arrive on the other
 * channels before their barriers are processed as usual and also stored with the
 * checkpoint, to be replayed after a restore. With an alignment timeout, a checkpoint
 * starts aligned and turns unaligned when alignment takes longer. Savepoints always align.
 */
export interface UnalignedSettings {
  readonly enabled: boolean;
  /** 0: unaligned from the first barrier. */
  readonly alignmentTimeoutMs: number;
}

interface PendingBarrier {
  readonly barrier: Barrier;
  readonly received: Set<ChannelState>;
  readonly startedAt: number;
  unaligned: boolean;
}

interface ChannelState {
  readonly reader: ChannelReader;
  readonly input: number;
  readonly exchange: number;
  readonly producerSubtask: number;
  watermark: number;
  idle: boolean;
  ended: boolean;
  /** Delivered the pending barrier; with exactly-once, not read until alignment completes. */
  blocked: boolean;
  /** performance.now() of the last record batch; NaN before the first. */
  lastRecordAt: number;
}

export class InputGate {
  private readonly channels: ChannelState[];
  private readonly decoder = new MessageDecoder();
  private readonly emitted: number[];
  private readonly inputIdle: boolean[];
  private readonly holding: Array<InputWatermark['holdingBack']>;
  private next = 0;
  private open: number;
  private pendingBarrier: PendingBarrier | undefined;
  /**
   * The newest checkpoint this gate started aligning. A barrier or trigger for it or an
   * older one, when none is pending, is obsolete (Flink's barrier handlers compare with
   * their current checkpoint id the same way): that checkpoint completed or was abandoned
   * here. A trigger that crossed the barriers' completion (the coordinator had not got
   * this subtask's acknowledgement yet) would otherwise snapshot the checkpoint twice, the
   * second time with records processed after its barrier.
   */
  private lastBarrierId = 0;
  /** A record batch interrupted by the deadline: the rest is handed over first next time. */
  private pending:
    | { channel: ChannelState; input: number; timestamps: readonly number[]; kinds: readonly number[] | null; values: readonly unknown[]; position: number }
    | undefined;

  constructor(
    specs: readonly GateChannelSpec[],
    private readonly inputs: number,
    private readonly alignment: AlignmentMode = 'exactly-once',
    private readonly unaligned: UnalignedSettings = { enabled: false, alignmentTimeoutMs: 0 },
  ) {
    this.channels = specs.map((s) => ({
      reader: new ChannelReader(s.memory, new Int32Array(s.creditBell)),
      input: s.input,
      exchange: s.exchange,
      producerSubtask: s.producerSubtask,
      watermark: MIN_WATERMARK,
      idle: false,
      ended: false,
      blocked: false,
      lastRecordAt: Number.NaN,
    }));
    this.open = this.channels.length;
    this.emitted = Array.from({ length: inputs }, () => MIN_WATERMARK);
    this.inputIdle = Array.from({ length: inputs }, () => false);
    this.holding = Array.from({ length: inputs }, () => undefined);
  }

  hasData(): boolean {
    return this.pending !== undefined || this.channels.some((c) => !c.ended && (c.blocked ? c.reader.hasPriority() : c.reader.hasData()));
  }

  /** Whether a barrier waits in some channel's priority area. */
  hasPriority(): boolean {
    return this.channels.some((c) => !c.ended && c.reader.hasPriority());
  }

  /**
   * Takes the barriers waiting in the channels' priority areas, also while the task
   * cannot process records (its output has no credit): that is when they matter.
   */
  readPriority(task: GateListener): void {
    for (const channel of this.channels) {
      if (!channel.ended) channel.reader.takePriority((bytes, position) => this.onPriority(channel, bytes, position, task));
    }
  }

  /**
   * Reads messages until `budget` records were handled, `deadline` (performance.now())
   * passed, or no channel has data. The deadline keeps a slow operator from starving
   * the rest of the loop: timers, control messages and metrics.
   */
  read(budget: number, task: GateListener, deadline = Number.POSITIVE_INFINITY): InputStatus {
    this.checkAlignmentTimeout(task);
    if (task.holdsInput?.() === true) return InputStatus.MORE_AVAILABLE;
    this.readPriority(task);
    if (task.holdsInput?.() === true) return InputStatus.MORE_AVAILABLE;
    let handled = this.resume(task, deadline);
    if (this.pending) return InputStatus.MORE_AVAILABLE;
    let idleRounds = 0;
    const count = this.channels.length;
    while (handled < budget && idleRounds < count) {
      const channel = this.channels[this.next] as ChannelState;
      this.next = this.next + 1 === count ? 0 : this.next + 1;
      if (channel.ended || channel.blocked) {
        idleRounds++;
        continue;
      }
      const got = channel.reader.read(
        (bytes) => {
          const message = this.decoder.decode(bytes);
          switch (message[0]) {
            case MessageType.RECORDS: {
              const [, timestamps, kinds, values] = message;
              channel.lastRecordAt = performance.now();
              this.pending = { channel, input: channel.input, timestamps, kinds, values, position: 0 };
              handled += this.resume(task, deadline);
              break;
            }
            case MessageType.WATERMARK:
              channel.watermark = Math.max(channel.watermark, message[1]);
              if (channel.idle) channel.idle = false;
              this.update(channel.input, task);
              break;
            case MessageType.IDLE:
              channel.idle = message[1];
              this.update(channel.input, task);
              break;
            case MessageType.END_OF_PARTITION:
              channel.ended = true;
              channel.watermark = MAX_WATERMARK;
              this.open--;
              this.update(channel.input, task);
              // An ended channel will send no barrier: it counts as aligned.
              this.checkAligned(task);
              break;
            case MessageType.BARRIER:
              this.onBarrier(channel, barrierOf(message), task);
              break;
          }
        },
        (bytes, position) => this.onPriority(channel, bytes, position, task),
      );
      idleRounds = got ? 0 : idleRounds + 1;
      if (this.interrupted() || task.holdsInput?.() === true) return InputStatus.MORE_AVAILABLE;
      if (this.open === 0) return InputStatus.END_OF_INPUT;
      if (performance.now() > deadline) break;
    }
    return this.open === 0 ? InputStatus.END_OF_INPUT : handled >= budget || this.hasData() ? InputStatus.MORE_AVAILABLE : InputStatus.NOTHING_AVAILABLE;
  }

  private onBarrier(channel: ChannelState, barrier: Barrier, task: GateListener): void {
    const pending = this.pendingBarrier;
    if (this.obsolete(barrier)) return;
    if (pending && barrier.id > pending.barrier.id) {
      // The older checkpoint never completed here; give it up and align on the newer one.
      task.abandonBarrier(pending.barrier.id);
      this.unblockAll();
      this.pendingBarrier = undefined;
    }
    if (!this.pendingBarrier) {
      this.pendingBarrier = this.begin(barrier);
      if (this.canGoUnaligned(barrier) && this.unaligned.alignmentTimeoutMs === 0) this.goUnaligned(task);
    }
    this.pendingBarrier.received.add(channel);
    if (this.alignment === 'exactly-once' && !this.pendingBarrier.unaligned) channel.blocked = true;
    this.checkAligned(task);
  }

  /**
   * A barrier that overtook the channel's buffers (FLIP-76): what it overtook, the rest
   * of a batch being handed over and the complete messages published before it, is
   * stored with the checkpoint as in flight; it is still processed as usual afterwards.
   */
  private onPriority(channel: ChannelState, bytes: Uint8Array, position: number, task: GateListener): void {
    const message = this.decoder.decode(bytes);
    if (message[0] !== MessageType.BARRIER) throw new Error(`a channel of input ${channel.input} carried message type ${message[0]} as a priority event; only barriers overtake data`);
    const barrier = barrierOf(message);
    const pending = this.pendingBarrier;
    // A newer barrier on a channel that delivered the pending one is not a repeat: it abandons that checkpoint.
    if (this.obsolete(barrier) || (pending?.barrier.id === barrier.id && pending.received.has(channel))) return;
    if (pending && barrier.id > pending.barrier.id) {
      task.abandonBarrier(pending.barrier.id);
      this.unblockAll();
      this.pendingBarrier = undefined;
    }
    if (!this.pendingBarrier) this.pendingBarrier = this.begin(barrier);
    // Only unaligned barriers are sent ahead of data, so this checkpoint is unaligned here too.
    this.goUnaligned(task);
    const batch = this.pending;
    if (batch?.channel === channel) {
      for (let i = batch.position; i < batch.values.length; i++) {
        task.recordInFlight(channel.input, batch.values[i], batch.timestamps[i] as number, (batch.kinds ? batch.kinds[i] : RowKind.INSERT) as RowKind);
      }
    }
    channel.reader.peekBefore(position, (overtaken) => {
      const data = this.decoder.decode(overtaken);
      if (data[0] !== MessageType.RECORDS) return;
      const [, timestamps, kinds, values] = data;
      for (let i = 0; i < values.length; i++) task.recordInFlight(channel.input, values[i], timestamps[i] as number, (kinds ? kinds[i] : RowKind.INSERT) as RowKind);
    });
    this.pendingBarrier.received.add(channel);
    this.checkAligned(task);
  }

  /**
   * The coordinator started a checkpoint at this subtask because every producer of it has
   * ended (finished, or waiting for its final commit; Flink's checkpoints after tasks
   * finished). The barrier counts as received on no channel yet: it completes once each
   * channel delivered it or ended, so the snapshot follows everything the producers sent.
   * A checkpoint this subtask aligns already (or a newer one) is left alone.
   */
  trigger(barrier: Barrier, task: GateListener): void {
    const pending = this.pendingBarrier;
    if (barrier.id <= this.lastBarrierId) return;
    if (pending) {
      task.abandonBarrier(pending.barrier.id);
      this.unblockAll();
    }
    this.pendingBarrier = this.begin(barrier);
    this.checkAligned(task);
  }

  /** Older than the checkpoint pending here, or not newer than the last one started when none is. */
  private obsolete(barrier: Barrier): boolean {
    const pending = this.pendingBarrier;
    return pending ? barrier.id < pending.barrier.id : barrier.id <= this.lastBarrierId;
  }

  private begin(barrier: Barrier): PendingBarrier {
    this.lastBarrierId = Math.max(this.lastBarrierId, barrier.id);
    return { barrier, received: new Set(), startedAt: performance.now(), unaligned: false };
  }

  private canGoUnaligned(barrier: Barrier): boolean {
    return this.alignment === 'exactly-once' && this.unaligned.enabled && !barrier.savepoint;
  }

  private goUnaligned(task: GateListener): void {
    const pending = this.pendingBarrier;
    if (!pending || pending.unaligned) return;
    pending.unaligned = true;
    // Post-barrier data waiting in blocked channels is not part of this checkpoint: read on.
    this.unblockAll();
    task.startUnalignedCheckpoint(pending.barrier);
  }

  /** Aligned for too long: the checkpoint turns unaligned. */
  private checkAlignmentTimeout(task: GateListener): void {
    const pending = this.pendingBarrier;
    if (!pending || pending.unaligned || !this.canGoUnaligned(pending.barrier) || this.unaligned.alignmentTimeoutMs === 0) return;
    if (performance.now() - pending.startedAt >= this.unaligned.alignmentTimeoutMs) this.goUnaligned(task);
  }

  private checkAligned(task: GateListener): void {
    const pending = this.pendingBarrier;
    if (!pending) return;
    if (!this.channels.every((c) => c.ended || pending.received.has(c))) return;
    this.pendingBarrier = undefined;
    this.unblockAll();
    if (pending.unaligned) task.completeUnalignedCheckpoint(pending.barrier, performance.now() - pending.startedAt);
    else task.handleBarrier(pending.barrier, performance.now() - pending.startedAt);
  }

  /** Channel states, for diagnostics. */
  describe(): Array<{ exchange: number; producerSubtask: number; published: number; consumed: number; blocked: boolean; ended: boolean }> {
    return this.channels.map((c) => ({ exchange: c.exchange, producerSubtask: c.producerSubtask, ...c.reader.counters(), blocked: c.blocked, ended: c.ended }));
  }

  /** Every channel's watermark, idleness, end and last delivery, for telemetry. */
  channelStatus(): ChannelStatus[] {
    const now = performance.now();
    return this.channels.map((c) => ({
      input: c.input,
      exchange: c.exchange,
      producerSubtask: c.producerSubtask,
      watermark: c.watermark,
      idle: c.idle,
      ended: c.ended,
      lastRecordAgeMs: Number.isNaN(c.lastRecordAt) ? null : Math.round(now - c.lastRecordAt),
    }));
  }

  /** Whether a checkpoint is being aligned (a blocked channel waits, or a timeout may fire). */
  get aligning(): boolean {
    return this.pendingBarrier !== undefined && !this.pendingBarrier.unaligned;
  }

  private unblockAll(): void {
    for (const c of this.channels) c.blocked = false;
  }

  /** Whether a batch is waiting to be resumed (set inside the read callback, hence a method). */
  private interrupted(): boolean {
    return this.pending !== undefined;
  }

  /** Hands over the rest of an interrupted batch; returns how many records it handed over. */
  private resume(task: GateListener, deadline: number): number {
    const batch = this.pending;
    if (!batch) return 0;
    const { input, timestamps, kinds, values } = batch;
    const start = batch.position;
    // Records that overtook nothing: in flight before their channel's barrier, during an unaligned checkpoint.
    const inFlight = this.pendingBarrier?.unaligned === true && !this.pendingBarrier.received.has(batch.channel);
    let i = start;
    while (i < values.length) {
      const kind = (kinds ? kinds[i] : RowKind.INSERT) as RowKind;
      if (inFlight) task.recordInFlight(input, values[i], timestamps[i] as number, kind);
      task.handleRecord(input, values[i], timestamps[i] as number, kind);
      i++;
      // Looking at the clock costs time too: only every 32 records.
      if ((i & 31) === 0 && i < values.length && performance.now() > deadline) {
        batch.position = i;
        return i - start;
      }
    }
    this.pending = undefined;
    return i - start;
  }

  private update(input: number, task: GateListener): void {
    let min = Number.POSITIVE_INFINITY;
    let active = 0;
    let holdingBack: ChannelState | undefined;
    for (const c of this.channels) {
      if (c.input !== input || c.ended || c.idle) continue;
      active++;
      if (c.watermark < min) {
        min = c.watermark;
        holdingBack = c;
      }
    }
    const allEnded = this.channels.every((c) => c.input !== input || c.ended);
    if (allEnded) min = MAX_WATERMARK;
    const idle = active === 0 && !allEnded;
    if (idle !== this.inputIdle[input]) {
      this.inputIdle[input] = idle;
      task.handleIdle(input, idle);
    }
    if (!idle && min > (this.emitted[input] ?? MIN_WATERMARK)) {
      this.emitted[input] = min;
      task.handleWatermark(input, min);
    }
    this.holding[input] = holdingBack && !allEnded ? { exchange: holdingBack.exchange, producerSubtask: holdingBack.producerSubtask } : undefined;
    task.reportInputWatermarks(this.emitted.map((watermark, i) => ({ watermark, idle: this.inputIdle[i] ?? false, holdingBack: this.holding[i] })));
  }
}

function barrierOf(message: Extract<Message, readonly [typeof MessageType.BARRIER, ...unknown[]]>): Barrier {
  return { id: message[1], timestamp: message[2], directory: message[3], savepoint: message[4], stop: message[5] };
}
