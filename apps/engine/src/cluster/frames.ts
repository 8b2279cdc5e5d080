/**
 * The engine and a job process talk over a pipe (the job process's fd 3) in frames: a
 * 4-byte big-endian length, then that many bytes of v8.serialize.
 *
 * Node's own IPC channel would do, but it reads a whole message before anyone sees it,
 * however large, and it cannot be told to stop reading. A job process is untrusted: here
 * the engine reads a frame's length first and refuses one above its limit before it
 * buffers any of it, checks that what arrives does not unfold into more than it weighed
 * (a graph of shared references: a few kilobytes that a log line or a Socket.IO emit would
 * write out as gigabytes), and pauses the pipe while it is behind or the job is over its
 * byte rate (FrameFlow).
 *
 *   ┌────────┬──────────────────────┬────────┬───────────────┐
 *   │ length │ v8.serialize(message)│ length │ ...           │
 *   │ u32 BE │ length bytes         │ u32 BE │               │
 *   └────────┴──────────────────────┴────────┴───────────────┘
 */
import { deserialize, serialize } from 'node:v8';
import { Throttle } from './token-bucket.js';

const HEADER_BYTES = 4;
/** The largest frame a header can announce. */
const MAX_FRAME_BYTES = 0xffff_ffff;

/** One message as a frame. */
export function encodeFrame(message: unknown): Buffer {
  const body = serialize(message);
  if (body.length > MAX_FRAME_BYTES) throw new RangeError(`a message of ${body.length} bytes does not fit a frame`);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body], HEADER_BYTES + body.length);
}

/**
 * How much `value` holds when written out as a tree (each object once per reference to it,
 * a string by its length), or undefined once that passes `budget`. A tree's size is at most
 * its serialized size; shared references and cycles are how a small message grows.
 */
export function unfoldedSize(value: unknown, budget: number): number | undefined {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    size += typeof v === 'string' ? v.length + 1 : 1;
    if (typeof v !== 'object' || v === null) {
      if (size > budget) return undefined;
      continue;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
      size += v.byteLength;
      if (size > budget) return undefined;
      continue;
    }
    // Every entry counts at least one: a sparse array's length alone can pass the budget.
    const entries = v instanceof Map ? v.size * 2 : v instanceof Set ? v.size : Array.isArray(v) ? v.length : 0;
    if (size + stack.length + entries > budget) return undefined;
    if (v instanceof Map) for (const [k, item] of v) stack.push(k, item);
    else if (v instanceof Set) for (const item of v) stack.push(item);
    else if (Array.isArray(v)) for (const item of v as unknown[]) stack.push(item);
    else for (const key in v) stack.push(key, (v as Record<string, unknown>)[key]);
    if (size + stack.length > budget) return undefined;
  }
  return size;
}

export interface FrameDecoderOptions {
  /** Largest frame accepted; a header announcing more is a problem before its bytes are read. */
  readonly maxBytes: number;
  /**
   * How many times its frame's size a message may unfold to (unfoldedSize); absent: not
   * checked (the engine's own messages to a job process).
   */
  readonly maxUnfolding?: number;
  readonly onMessage: (message: unknown, bytes: number) => void;
  /** Called once; the decoder takes nothing after it. */
  readonly onProblem: (problem: string) => void;
}

/** Turns a pipe's chunks back into messages (encodeFrame's), refusing what a job may not send. */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** The body length of the frame being read, once its header is in. */
  private expected: number | undefined;
  private broken = false;

  constructor(private readonly options: FrameDecoderOptions) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < HEADER_BYTES) return;
        const length = this.take(HEADER_BYTES).readUInt32BE(0);
        if (length > this.options.maxBytes) {
          this.fail(`a message of ${length} bytes, above the limit of ${this.options.maxBytes} (maxMessageBytes)`);
          return;
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) return;
      const body = this.take(this.expected);
      this.expected = undefined;
      let message: unknown;
      try {
        message = deserialize(body);
      } catch (error) {
        this.fail(`a message that does not deserialize (${error instanceof Error ? error.message : String(error)})`);
        return;
      }
      const unfolding = this.options.maxUnfolding;
      if (unfolding !== undefined && unfoldedSize(message, Math.max(1024, body.length * unfolding)) === undefined) {
        this.fail(`a message of ${body.length} bytes that unfolds to more than ${unfolding} times that (shared or cyclic references)`);
        return;
      }
      this.options.onMessage(message, HEADER_BYTES + body.length);
    }
  }

  /** The next `bytes` buffered bytes, copied only when they span chunks. */
  private take(bytes: number): Buffer {
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= bytes) {
      out = first.subarray(0, bytes);
      if (first.length === bytes) this.chunks.shift();
      else this.chunks[0] = first.subarray(bytes);
    } else {
      out = Buffer.allocUnsafe(bytes);
      let at = 0;
      while (at < bytes) {
        const chunk = this.chunks[0] as Buffer;
        const n = Math.min(chunk.length, bytes - at);
        chunk.copy(out, at, 0, n);
        at += n;
        if (n === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(n);
      }
    }
    this.buffered -= bytes;
    return out;
  }

  private fail(problem: string): void {
    this.broken = true;
    this.chunks.length = 0;
    this.buffered = 0;
    this.options.onProblem(problem);
  }
}

export interface FrameFlowOptions {
  /** Bytes a second the reader takes from the pipe, on average; a message counts its frame and perMessageBytes. */
  readonly bytesPerSecond: number;
  /** What may arrive at once, above the average (at least one largest message). */
  readonly burstBytes: number;
  /** What a message costs beyond its bytes: reading one has a price of its own, however small it is. */
  readonly perMessageBytes: number;
  /** Messages taken but not yet handled (waiting for an fsync, say) above which reading stops. */
  readonly maxPending: number;
  /** Called the first time the pipe is paused for its rate. */
  readonly onThrottled?: () => void;
  readonly now?: () => number;
}

/**
 * When to read a job's pipe: a Throttle over its bytes, and a bound on the messages whose
 * handling has begun but not ended. Pausing a pipe makes the job's own writes wait, in the job's
 * own memory, which its memory limit bounds.
 */
export class FrameFlow {
  private readonly throttle: Throttle;
  private pending = 0;
  private paused = false;

  constructor(
    private readonly stream: { pause(): unknown; resume(): unknown },
    private readonly options: FrameFlowOptions,
  ) {
    const update = () => this.update();
    this.throttle = new Throttle(options.bytesPerSecond, options.burstBytes, { stop: update, go: update }, options.onThrottled, options.now);
  }

  /** Milliseconds the pipe has been paused for its rate, in all. */
  get throttledMs(): number {
    return this.throttle.stoppedMs;
  }

  /** A message of `bytes` was read. */
  took(bytes: number): void {
    this.throttle.take(bytes + this.options.perMessageBytes);
  }

  /** A message's handling has begun and may outlast this turn (an fsync first). */
  began(): void {
    this.pending++;
    this.update();
  }

  /** A message's handling has ended. */
  handled(): void {
    this.pending--;
    this.update();
  }

  close(): void {
    this.throttle.close();
  }

  private update(): void {
    // Resumed below half the bound, so that a reader at the bound does not flip on every message.
    const pause = this.throttle.active || this.pending > this.options.maxPending || (this.paused && this.pending > this.options.maxPending / 2);
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.stream.pause();
    else this.stream.resume();
  }
}
