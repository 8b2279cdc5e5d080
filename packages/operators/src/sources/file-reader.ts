/**
 * Reads one file split in the background: chunks of the file are read
 * asynchronously, cut into records and decoded into a bounded queue, from which the
 * source emits synchronously in pollNext. The reader pauses when the queue is full
 * and resumes when the source has taken half of it, so memory stays bounded however
 * large the file (a chunk, a queue of records and at most one partial record).
 */
import { open } from 'node:fs/promises';
import { createDecoder, RecordSplitter, type FileFormat, type FileItem, type RawRecord } from './file-records.js';

export interface ReaderLimits {
  /** Bytes read from the file at a time. */
  readonly chunkBytes: number;
  /** The reader pauses when this many items are queued… */
  readonly queueItems: number;
  /** …or when the queued items span this many bytes of the file. */
  readonly queueBytes: number;
  /** A longer record becomes a dead letter (see file-records.ts). */
  readonly maxRecordBytes: number;
}

export const DEFAULT_READER_LIMITS: ReaderLimits = {
  chunkBytes: 128 * 1024,
  queueItems: 4096,
  queueBytes: 2 * 1024 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
};

/** Where reading a file starts: a record boundary. */
export interface SplitPosition {
  /** Byte offset of the next record. */
  readonly offset: number;
  /** Its 1-based line number. */
  readonly line: number;
  /** CSV columns from the file's header, when it has been read already. */
  readonly columns: readonly string[] | undefined;
}

export class SplitReader {
  private items: FileItem[] = [];
  private head = 0;
  /** File bytes spanned by the queued items. */
  private queuedBytes = 0;
  private queuedEnd: number;
  private consumedEnd: number;
  private eof = false;
  private failure: Error | undefined;
  private closed = false;
  private resume: (() => void) | undefined;

  /**
   * @param onProgress called (from an I/O callback) when items were queued, the
   *   file ended, or reading failed
   */
  constructor(
    readonly path: string,
    private readonly start: SplitPosition,
    private readonly format: FileFormat,
    private readonly limits: ReaderLimits,
    private readonly onProgress: () => void,
  ) {
    this.queuedEnd = start.offset;
    this.consumedEnd = start.offset;
  }

  /** Starts reading in the background. */
  begin(): void {
    void this.run()
      .catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        this.failure = new Error(`file source: cannot read '${this.path}': ${reason}`, { cause: error });
      })
      .finally(() => {
        if (!this.closed) this.onProgress();
      });
  }

  /** Items queued and not yet taken. */
  get queued(): number {
    return this.items.length - this.head;
  }

  /** Every record of the file has been taken. */
  get finished(): boolean {
    return this.eof && this.queued === 0;
  }

  /** Why reading failed, once the queue before the failure has been taken. */
  get error(): Error | undefined {
    return this.queued === 0 ? this.failure : undefined;
  }

  /** Whether the source can move on with this split now: an item, the end, or a failure. */
  get ready(): boolean {
    return this.queued > 0 || this.eof || this.failure !== undefined;
  }

  /** The next item in file order, or undefined when none is queued yet. */
  shift(): FileItem | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++] as FileItem;
    this.queuedBytes -= item.end - this.consumedEnd;
    this.consumedEnd = item.end;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.resume && this.queued <= this.limits.queueItems / 2 && this.queuedBytes <= this.limits.queueBytes / 2) {
      const resume = this.resume;
      this.resume = undefined;
      resume();
    }
    return item;
  }

  /** Stops reading; the file is closed in the background. */
  close(): void {
    this.closed = true;
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }

  /** A method rather than the field, so that the check after an await is not narrowed away. */
  private isClosed(): boolean {
    return this.closed;
  }

  private full(): boolean {
    return this.queued >= this.limits.queueItems || this.queuedBytes >= this.limits.queueBytes;
  }

  private async run(): Promise<void> {
    const { chunkBytes, maxRecordBytes } = this.limits;
    const handle = await open(this.path, 'r');
    try {
      const { size } = await handle.stat();
      if (this.start.offset > size) {
        throw new Error(`it has ${size} bytes, fewer than the restored position ${this.start.offset}: the file changed since the checkpoint`);
      }
      const delimiter = this.format.kind === 'csv' ? Buffer.from(this.format.delimiter, 'utf8') : undefined;
      const splitter = new RecordSplitter(this.start.offset, this.start.line, delimiter, maxRecordBytes);
      const decoder = createDecoder(this.format, maxRecordBytes, this.start.columns);
      const records: RawRecord[] = [];
      let position = this.start.offset;
      while (!this.closed) {
        if (this.full()) {
          await new Promise<void>((resolve) => {
            this.resume = resolve;
          });
          continue;
        }
        const buffer = Buffer.allocUnsafe(chunkBytes);
        const { bytesRead } = await handle.read(buffer, 0, chunkBytes, position);
        if (this.isClosed()) return;
        records.length = 0;
        if (bytesRead === 0) {
          splitter.end(records);
        } else {
          position += bytesRead;
          splitter.push(buffer.subarray(0, bytesRead), records);
        }
        const before = this.items.length;
        decoder.decode(records, this.items);
        for (let i = before; i < this.items.length; i++) {
          const end = (this.items[i] as FileItem).end;
          this.queuedBytes += end - this.queuedEnd;
          this.queuedEnd = end;
        }
        if (bytesRead === 0) {
          this.eof = true;
          this.onProgress();
          return;
        }
        if (this.items.length > before) this.onProgress();
      }
    } finally {
      await handle.close();
    }
  }
}
