/**
 * Two areas of shared memory between a task's sandbox and the host, one each way, that
 * batches' columns (flat-records.ts) cross through instead of being copied in and out
 * on every call. Copying was most of what a call cost beyond the work on either side:
 * isolated-vm copies an ArrayBuffer argument or reply twice (into a transfer buffer,
 * then into a fresh one), about 10 µs for a 1024-record batch each way, and every batch
 * allocated its arrays anew on both sides.
 *
 *   host ── toIsolate ──▶ isolate        written while a call is built, read during it
 *   host ◀── fromIsolate ── isolate      written during a call, read right after it
 *
 * Columns in an area cross as their place ({ o, l }: offset and length in float64s);
 * anything that does not fit is copied as before, and the area grows for the next call
 * (up to MAX_SLOTS; larger batches keep being copied). Only the sandbox's bootstrap holds
 * the areas in the isolate; user code that got hold of one anyway would see its own
 * job's records, and could only write while its own call runs: the host reads an area
 * only between calls, and checks what it reads as it checks any reply.
 *
 * A call made while another is in flight (user code calling the host, which calls the
 * sandbox again) must not overwrite the outer call's columns: it copies (begin() says so).
 */
export interface ColumnsPlace {
  readonly o: number;
  readonly l: number;
}

/** Float64 slots per area at first: a 1024-record batch of a few fields with its keys and states. */
const INITIAL_SLOTS = 16 * 1024;
/** Float64 slots an area grows to at most (8 MB). */
const MAX_SLOTS = 1024 * 1024;

export class SharedColumns {
  toIsolate: Float64Array;
  fromIsolate: Float64Array;
  /** Whether the areas were replaced since the isolate last got them (taken by changed()). */
  private replaced = true;
  /** Calls in flight: the areas are the first one's. */
  private depth = 0;
  /** The first free slot of toIsolate in the call being built. */
  private at = 0;
  private wantIn = 0;
  private wantOut = 0;

  constructor(slots = INITIAL_SLOTS) {
    this.toIsolate = new Float64Array(new SharedArrayBuffer(slots * 8));
    this.fromIsolate = new Float64Array(new SharedArrayBuffer(slots * 8));
  }

  /**
   * Starts a call; whether it may use the areas (not when another is in flight: it copies
   * then). Areas found too small by the calls before are replaced here, between calls.
   */
  begin(): boolean {
    if (++this.depth > 1) return false;
    this.at = 0;
    if (this.wantIn > this.toIsolate.length) {
      this.toIsolate = new Float64Array(new SharedArrayBuffer(this.wantIn * 8));
      this.replaced = true;
    }
    if (this.wantOut > this.fromIsolate.length) {
      this.fromIsolate = new Float64Array(new SharedArrayBuffer(this.wantOut * 8));
      this.replaced = true;
    }
    return true;
  }

  /** Ends the call begun last: what it read of fromIsolate it has read. */
  end(): void {
    this.depth--;
  }

  /** Whether the call in flight uses the areas. */
  private get active(): boolean {
    return this.depth === 1;
  }

  /** The areas, once after each replacement (the isolate needs them before the next call). */
  changed(): readonly [SharedArrayBuffer, SharedArrayBuffer] | undefined {
    if (!this.replaced) return undefined;
    this.replaced = false;
    return [this.toIsolate.buffer as SharedArrayBuffer, this.fromIsolate.buffer as SharedArrayBuffer];
  }

  /** The free rest of toIsolate, for columns of the call begun (undefined outside one). */
  room(): Float64Array | undefined {
    return this.active ? this.toIsolate.subarray(this.at) : undefined;
  }

  /** `size` slots for the call: at the start of room() when they fit there, else a new array (place() them). */
  take(size: number): Float64Array {
    const room = this.room();
    return room !== undefined && room.length >= size ? room.subarray(0, size) : new Float64Array(size);
  }

  /**
   * Columns written for the call: their place when they are in toIsolate (the room
   * after them is what is left), else undefined, and toIsolate is to grow to hold them.
   */
  place(columns: Float64Array): ColumnsPlace | undefined {
    if (columns.buffer === this.toIsolate.buffer) {
      const o = columns.byteOffset / 8;
      this.at = o + columns.length;
      return { o, l: columns.length };
    }
    if (this.active) this.wantIn = grown(this.wantIn, this.at + columns.length);
    return undefined;
  }

  /**
   * Columns of a reply: a view of fromIsolate at `place`, or `f` when they came copied
   * (then fromIsolate is to grow to hold them). Undefined when neither is well formed.
   */
  received(f: unknown, place: { o?: unknown; l?: unknown }): Float64Array | undefined {
    if (f instanceof Float64Array) {
      // The reply's other columns may be in the area: it is to hold these beside them.
      if (this.active) this.wantOut = grown(this.wantOut, this.fromIsolate.length + f.length);
      return f;
    }
    const { o, l } = place;
    if (!this.active || typeof o !== 'number' || typeof l !== 'number' || !Number.isInteger(o) || !Number.isInteger(l) || o < 0 || l < 0 || o + l > this.fromIsolate.length) return undefined;
    return this.fromIsolate.subarray(o, o + l);
  }
}

/** The size an area is to have to hold `needed` slots: a power of two, within MAX_SLOTS. */
function grown(current: number, needed: number): number {
  return Math.max(current, Math.min(MAX_SLOTS, 2 ** Math.ceil(Math.log2(needed))));
}
