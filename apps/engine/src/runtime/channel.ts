/**
 * A channel carries one producer subtask's messages to one consumer subtask through
 * shared memory, with credit-based flow control in the style of Flink's network stack:
 *
 *   producer ──▶ [ slot 0 | slot 1 | … | slot N-1 ] ──▶ consumer      (a ring of N buffers)
 *                 published ▲                ▲ consumed
 *
 * Each slot is one credit. The producer may only fill a slot the consumer has released,
 * so at most N buffers are in flight per channel whatever the rates; a producer without
 * credit keeps the rest of its current output in a small local spill and stops taking
 * input until credit returns (backpressure), which propagates up to the sources.
 *
 * A message (a batch of records, a watermark, …) may span several slots; the last slot
 * of a message carries the LAST flag. Sequence counters live in an Int32Array and are
 * read and written with Atomics, so producer and consumer may be on different threads.
 * After publishing, the producer rings the consumer's doorbell; after releasing a slot,
 * the consumer rings the producer's credit bell: both are Int32 counters that a waiting
 * task watches with Atomics.waitAsync.
 *
 * Beside the ring, one priority event at a time (an unaligned checkpoint barrier, as
 * Flink's priority events) travels in its own area. It carries the number of slots
 * published before it: the consumer takes it before any later data and knows which of
 * the buffers it still holds were sent before the barrier. Messages the producer could
 * not publish yet (its spill) are overtaken as well; the producer hands them over with
 * `unpublished()` for its checkpoint. The priority area uses no slot, so credits are
 * not touched.
 */

export const DEFAULT_SLOTS = 8;
export const DEFAULT_SLOT_BYTES = 32 * 1024;

const CONTROL_INTS = 8;
const PUBLISHED = 0;
const CONSUMED = 1;
/** Priority events posted and taken; at most one is pending. */
const PRIORITY_POSTED = 2;
const PRIORITY_TAKEN = 3;
/** Slots published before the pending priority event. */
const PRIORITY_POSITION = 4;
const PRIORITY_LENGTH = 5;
/** Room for one barrier (its checkpoint directory is a path). */
export const PRIORITY_BYTES = 4096;
const HEADER_BYTES = CONTROL_INTS * 4 + PRIORITY_BYTES;
const SLOT_HEADER_INTS = 2;
const LAST = 1;

export interface ChannelMemory {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly slotBytes: number;
}

export function allocateChannel(slots = DEFAULT_SLOTS, slotBytes = DEFAULT_SLOT_BYTES): ChannelMemory {
  const bytes = HEADER_BYTES + slots * SLOT_HEADER_INTS * 4 + slots * slotBytes;
  return { buffer: new SharedArrayBuffer(bytes), slots, slotBytes };
}

/** A counter other threads can wake this one with. */
export type Bell = Int32Array;

export function allocateBell(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

export function ring(bell: Bell): void {
  Atomics.add(bell, 0, 1);
  Atomics.notify(bell, 0);
}

class Layout {
  readonly control: Int32Array;
  readonly priority: Uint8Array;
  readonly slotHeaders: Int32Array;
  readonly data: Uint8Array;
  readonly slots: number;
  readonly slotBytes: number;

  constructor(memory: ChannelMemory) {
    this.slots = memory.slots;
    this.slotBytes = memory.slotBytes;
    this.control = new Int32Array(memory.buffer, 0, CONTROL_INTS);
    this.priority = new Uint8Array(memory.buffer, CONTROL_INTS * 4, PRIORITY_BYTES);
    this.slotHeaders = new Int32Array(memory.buffer, HEADER_BYTES, memory.slots * SLOT_HEADER_INTS);
    this.data = new Uint8Array(memory.buffer, HEADER_BYTES + memory.slots * SLOT_HEADER_INTS * 4, memory.slots * memory.slotBytes);
  }
}

export class ChannelWriter {
  private readonly layout: Layout;
  /**
   * Messages waiting for credit, oldest first, kept whole: the first may be partly
   * published already (`spillHead` bytes), and an overtaking barrier hands it over whole.
   */
  private readonly spill: Uint8Array[] = [];
  private spillHead = 0;
  /** Bytes not yet published. */
  private spilledBytes = 0;
  private published = 0;

  constructor(
    memory: ChannelMemory,
    private readonly doorbell: Bell,
  ) {
    this.layout = new Layout(memory);
  }

  /** True while part of an earlier message still waits for credit. */
  get blocked(): boolean {
    return this.spill.length > 0;
  }

  get pendingBytes(): number {
    return this.spilledBytes;
  }

  /** Free slots right now. */
  credits(): number {
    return this.layout.slots - (this.published - Atomics.load(this.layout.control, CONSUMED));
  }

  /**
   * Sends a message, or as much of it as credit allows; the rest is kept and sent by
   * `drain`. Returns false when something is left waiting. The bytes may be reused
   * by the caller after this returns.
   */
  write(message: Uint8Array): boolean {
    if (this.spill.length > 0) {
      this.keep(copyOf(message));
      this.drain();
      return this.spill.length === 0;
    }
    const written = this.writeChunks(message, 0);
    if (written < message.length) {
      this.keep(copyOf(message));
      this.spillHead = written;
      this.spilledBytes -= written;
      return false;
    }
    return true;
  }

  /** Sends what waits for credit; returns true when nothing is left. */
  drain(): boolean {
    while (this.spill.length > 0) {
      const head = this.spill[0] as Uint8Array;
      const written = this.writeChunks(head, this.spillHead);
      this.spilledBytes -= written - this.spillHead;
      if (written < head.length) {
        this.spillHead = written;
        return false;
      }
      this.spill.shift();
      this.spillHead = 0;
    }
    return true;
  }

  /**
   * The messages not yet completely published, whole and oldest first (the first may
   * have some of its slots in the ring already). A barrier that overtakes them leaves
   * them to the producer's checkpoint; they are still sent afterwards.
   */
  unpublished(): readonly Uint8Array[] {
    return this.spill.slice();
  }

  /**
   * Writes an event that may overtake the buffers queued before it later (an aligned
   * barrier that turns unaligned after the alignment timeout). Returns its spilled copy
   * while any of it waits for credit, to hand to `overtake`; undefined when it went out.
   */
  writeEvent(message: Uint8Array): Uint8Array | undefined {
    this.write(message);
    // The spill drains in order, so a message still waiting is the newest entry.
    return this.spill.length > 0 ? this.spill[this.spill.length - 1] : undefined;
  }

  /** Whether a message returned by `writeEvent` still waits, whole or in part. */
  holds(entry: Uint8Array): boolean {
    return this.spill.includes(entry);
  }

  /**
   * Moves a spilled event (from `writeEvent`) ahead of the messages queued before it, into
   * the priority area, and returns those messages: the producer's checkpoint keeps them,
   * and they are still sent. Undefined, changing nothing, when part of the event is
   * published already, it went out meanwhile, or the priority area is taken.
   */
  overtake(entry: Uint8Array): Uint8Array[] | undefined {
    const index = this.spill.indexOf(entry);
    if (index < 0 || (index === 0 && this.spillHead > 0)) return undefined;
    const held = this.spill.slice(0, index);
    if (!this.writePriority(entry)) return undefined;
    this.spill.splice(index, 1);
    this.spilledBytes -= entry.length;
    return held;
  }

  /**
   * Posts a priority event ahead of everything queued. Returns false, posting nothing,
   * while the consumer has not taken the previous one or when it does not fit.
   */
  writePriority(message: Uint8Array): boolean {
    const { control, priority } = this.layout;
    if (message.length > PRIORITY_BYTES) return false;
    const posted = Atomics.load(control, PRIORITY_POSTED);
    if (Atomics.load(control, PRIORITY_TAKEN) !== posted) return false;
    priority.set(message);
    Atomics.store(control, PRIORITY_LENGTH, message.length);
    Atomics.store(control, PRIORITY_POSITION, this.published);
    // Last: the consumer reads the event only once this is visible.
    Atomics.store(control, PRIORITY_POSTED, posted + 1);
    ring(this.doorbell);
    return true;
  }

  private keep(bytes: Uint8Array): void {
    this.spill.push(bytes);
    this.spilledBytes += bytes.length;
  }

  /** Writes whole chunks from `offset` while credit lasts; returns the offset reached. */
  private writeChunks(message: Uint8Array, from: number): number {
    const { slots, slotBytes, slotHeaders, data, control } = this.layout;
    let offset = from;
    let any = false;
    while (offset < message.length || message.length === 0) {
      const consumed = Atomics.load(control, CONSUMED);
      if (this.published - consumed >= slots) break;
      const slot = this.published % slots;
      const length = Math.min(slotBytes, message.length - offset);
      data.set(message.subarray(offset, offset + length), slot * slotBytes);
      offset += length;
      slotHeaders[slot * SLOT_HEADER_INTS] = length;
      slotHeaders[slot * SLOT_HEADER_INTS + 1] = offset >= message.length ? LAST : 0;
      this.published++;
      Atomics.store(control, PUBLISHED, this.published);
      any = true;
      if (message.length === 0) break;
    }
    if (any) ring(this.doorbell);
    return offset;
  }
}

export class ChannelReader {
  private readonly layout: Layout;
  private consumed = 0;
  private partial: Uint8Array[] = [];
  private partialBytes = 0;

  constructor(
    memory: ChannelMemory,
    private readonly creditBell: Bell,
  ) {
    this.layout = new Layout(memory);
  }

  /** Slots published and consumed so far (diagnostics). */
  counters(): { published: number; consumed: number } {
    return { published: Atomics.load(this.layout.control, PUBLISHED), consumed: this.consumed };
  }

  /** Whether a slot or a priority event is ready to read. */
  hasData(): boolean {
    return this.hasPriority() || Atomics.load(this.layout.control, PUBLISHED) > this.consumed;
  }

  /** Whether a priority event waits. */
  hasPriority(): boolean {
    const { control } = this.layout;
    return Atomics.load(control, PRIORITY_POSTED) !== Atomics.load(control, PRIORITY_TAKEN);
  }

  /**
   * Hands the pending priority event to `handle` (a view valid during the call) with the
   * number of slots published before it, then frees the area. Returns false if none waits.
   */
  takePriority(handle: (message: Uint8Array, position: number) => void): boolean {
    const { control, priority } = this.layout;
    const posted = Atomics.load(control, PRIORITY_POSTED);
    if (posted === Atomics.load(control, PRIORITY_TAKEN)) return false;
    try {
      handle(priority.subarray(0, Atomics.load(control, PRIORITY_LENGTH)), Atomics.load(control, PRIORITY_POSITION));
    } finally {
      Atomics.store(control, PRIORITY_TAKEN, posted);
      ring(this.creditBell);
    }
    return true;
  }

  /**
   * Calls `handle` with every complete message published before slot `position` that
   * was not read yet, without consuming anything: what a barrier posted at `position`
   * overtook in this ring. A message still incomplete at `position` is left out: its
   * tail was unpublished then, so the producer's checkpoint holds it whole.
   */
  peekBefore(position: number, handle: (message: Uint8Array) => void): void {
    const { slots, slotBytes, slotHeaders, data } = this.layout;
    let parts = this.partial.slice();
    let bytes = this.partialBytes;
    for (let seq = this.consumed; seq < position; seq++) {
      const slot = seq % slots;
      const length = slotHeaders[slot * SLOT_HEADER_INTS] ?? 0;
      const last = ((slotHeaders[slot * SLOT_HEADER_INTS + 1] ?? 0) & LAST) !== 0;
      parts.push(data.subarray(slot * slotBytes, slot * slotBytes + length));
      bytes += length;
      if (!last) continue;
      const whole = new Uint8Array(bytes);
      let at = 0;
      for (const part of parts) {
        whole.set(part, at);
        at += part.length;
      }
      handle(whole);
      parts = [];
      bytes = 0;
    }
  }

  /**
   * Calls `handle` with the next complete message, if one is there, and returns true.
   * A single-slot message is handed over as a view of shared memory, valid only
   * during the call; the slot is released right after.
   *
   * With `priority`, a pending priority event is handed there first. The published
   * count is read before the event is looked for, so nothing published after the
   * event can be read before it.
   */
  read(handle: (message: Uint8Array) => void, priority?: (message: Uint8Array, position: number) => void): boolean {
    const { slots, slotBytes, slotHeaders, data, control } = this.layout;
    const published = Atomics.load(control, PUBLISHED);
    if (priority && this.takePriority(priority)) return true;
    while (published > this.consumed) {
      const slot = this.consumed % slots;
      const length = slotHeaders[slot * SLOT_HEADER_INTS] ?? 0;
      const last = ((slotHeaders[slot * SLOT_HEADER_INTS + 1] ?? 0) & LAST) !== 0;
      const view = data.subarray(slot * slotBytes, slot * slotBytes + length);
      if (last && this.partial.length === 0) {
        try {
          handle(view);
        } finally {
          this.release();
        }
        return true;
      }
      this.partial.push(view.slice());
      this.partialBytes += length;
      this.release();
      if (last) {
        const whole = new Uint8Array(this.partialBytes);
        let at = 0;
        for (const part of this.partial) {
          whole.set(part, at);
          at += part.length;
        }
        this.partial = [];
        this.partialBytes = 0;
        handle(whole);
        return true;
      }
    }
    return false;
  }

  /**
   * Frees the slot just read. The credit bell rings when half the slots are free (the
   * producer, blocked with none free, then has that many to fill at once) or all are:
   * not for every slot. Waking the producer for each one cost the consumer, where a
   * producer waits for credit the most, 5 % of its time and the producer as much again.
   */
  private release(): void {
    const { control, slots } = this.layout;
    this.consumed++;
    Atomics.store(control, CONSUMED, this.consumed);
    const published = Atomics.load(control, PUBLISHED);
    if (published === this.consumed || slots - (published - this.consumed) === Math.max(1, slots >> 1)) ring(this.creditBell);
  }
}

/**
 * A copy, also of a Node Buffer (whose slice() is a view onto the same memory): the task's
 * encoder packs every message into the same buffer.
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
