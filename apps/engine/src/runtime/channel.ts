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
 */

export const DEFAULT_SLOTS = 8;
export const DEFAULT_SLOT_BYTES = 32 * 1024;

const CONTROL_INTS = 4;
const PUBLISHED = 0;
const CONSUMED = 1;
const HEADER_BYTES = CONTROL_INTS * 4;
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
  readonly slotHeaders: Int32Array;
  readonly data: Uint8Array;
  readonly slots: number;
  readonly slotBytes: number;

  constructor(memory: ChannelMemory) {
    this.slots = memory.slots;
    this.slotBytes = memory.slotBytes;
    this.control = new Int32Array(memory.buffer, 0, CONTROL_INTS);
    this.slotHeaders = new Int32Array(memory.buffer, HEADER_BYTES, memory.slots * SLOT_HEADER_INTS);
    this.data = new Uint8Array(memory.buffer, HEADER_BYTES + memory.slots * SLOT_HEADER_INTS * 4, memory.slots * memory.slotBytes);
  }
}

export class ChannelWriter {
  private readonly layout: Layout;
  /** Messages (or their unwritten tails) waiting for credit, oldest first. */
  private readonly spill: Uint8Array[] = [];
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
      this.keep(message.slice());
      this.drain();
      return this.spill.length === 0;
    }
    const written = this.writeChunks(message);
    if (written < message.length) {
      this.keep(message.slice(written));
      return false;
    }
    return true;
  }

  /** Sends what waits for credit; returns true when nothing is left. */
  drain(): boolean {
    while (this.spill.length > 0) {
      const head = this.spill[0] as Uint8Array;
      const written = this.writeChunks(head);
      if (written < head.length) {
        this.spill[0] = head.subarray(written);
        this.spilledBytes -= written;
        return false;
      }
      this.spill.shift();
      this.spilledBytes -= head.length;
    }
    return true;
  }

  private keep(bytes: Uint8Array): void {
    this.spill.push(bytes);
    this.spilledBytes += bytes.length;
  }

  /** Writes whole chunks while credit lasts; returns bytes written. */
  private writeChunks(message: Uint8Array): number {
    const { slots, slotBytes, slotHeaders, data, control } = this.layout;
    let offset = 0;
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

  /** Whether a slot is ready to read. */
  hasData(): boolean {
    return Atomics.load(this.layout.control, PUBLISHED) > this.consumed;
  }

  /**
   * Calls `handle` with the next complete message, if one is there, and returns true.
   * A single-slot message is handed over as a view of shared memory, valid only
   * during the call; the slot is released right after.
   */
  read(handle: (message: Uint8Array) => void): boolean {
    const { slots, slotBytes, slotHeaders, data, control } = this.layout;
    while (Atomics.load(control, PUBLISHED) > this.consumed) {
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

  private release(): void {
    this.consumed++;
    Atomics.store(this.layout.control, CONSUMED, this.consumed);
    ring(this.creditBell);
  }
}
