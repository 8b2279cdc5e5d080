/**
 * What travels through a channel, encoded with msgpackr. Records travel in batches:
 * one message holds the timestamps, the row kinds (only when some record is not an
 * insert) and the values of up to a few hundred records. msgpackr's record extension
 * describes a value shape once per batch, so same-shaped records cost little more
 * than their field values.
 */
import { Packr, RESET_BUFFER_MODE, Unpackr } from 'msgpackr';

export const MessageType = { RECORDS: 1, WATERMARK: 2, IDLE: 3, END_OF_PARTITION: 4, BARRIER: 5 } as const;

/** A checkpoint barrier: everything before it in a channel belongs to checkpoint `id`. */
export interface Barrier {
  readonly id: number;
  readonly timestamp: number;
  /** Where subtasks write their state for this checkpoint. */
  readonly directory: string;
  readonly savepoint: boolean;
  /** Stop-with-savepoint: sources emit nothing after this barrier (Flink's synchronous savepoint). */
  readonly stop?: boolean | undefined;
  /** With `stop`: sources emit the final watermark first, so every event-time window and timer fires into the savepoint (Flink's --drain). */
  readonly drain?: boolean | undefined;
}

export type Message =
  | readonly [typeof MessageType.RECORDS, readonly number[], readonly number[] | null, readonly unknown[]]
  | readonly [typeof MessageType.WATERMARK, number]
  | readonly [typeof MessageType.IDLE, boolean]
  | readonly [typeof MessageType.END_OF_PARTITION]
  | readonly [typeof MessageType.BARRIER, number, number, string, boolean, boolean];

export class MessageEncoder {
  private readonly packr = new Packr({ useRecords: true });
  private readonly mode: number;

  /**
   * `reuseBuffer`: every message is packed into the same buffer, so the bytes returned are
   * valid only until the next msgpackr pack in this thread, by any packer (msgpackr's
   * buffer is module-wide): use or copy them first (the channel writer copies what it
   * must keep). Without
   * it, msgpackr packs each message after the previous one and starts a new buffer when
   * that one is full: all bytes ever sent become garbage for the old generation, which
   * under backpressure grows until V8's first full collection (the memory soak's ramp).
   */
  constructor(options: { reuseBuffer?: boolean } = {}) {
    this.mode = options.reuseBuffer === true ? RESET_BUFFER_MODE : 0;
  }

  records(timestamps: readonly number[], kinds: readonly number[] | null, values: readonly unknown[]): Uint8Array {
    return this.packr.pack([MessageType.RECORDS, timestamps, kinds, values], this.mode);
  }

  watermark(watermark: number): Uint8Array {
    return this.packr.pack([MessageType.WATERMARK, watermark], this.mode);
  }

  idle(idle: boolean): Uint8Array {
    return this.packr.pack([MessageType.IDLE, idle], this.mode);
  }

  endOfPartition(): Uint8Array {
    return this.packr.pack([MessageType.END_OF_PARTITION], this.mode);
  }

  barrier(barrier: Barrier): Uint8Array {
    return this.packr.pack([MessageType.BARRIER, barrier.id, barrier.timestamp, barrier.directory, barrier.savepoint, barrier.stop === true], this.mode);
  }
}

export class MessageDecoder {
  private readonly unpackr = new Unpackr({ useRecords: true });

  decode(bytes: Uint8Array): Message {
    return this.unpackr.unpack(bytes) as Message;
  }
}
