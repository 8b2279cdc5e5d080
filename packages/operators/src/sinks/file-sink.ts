/**
 * The file sink: JSON lines or CSV into part files under a directory, as Flink's
 * FileSink with a row format and a rolling policy.
 *
 * Part files. Subtask s writes `.part-<s>-<n>.inprogress` and finalizes it by renaming
 * it to `part-<s>-<n>.<jsonl|csv>` when it rolls: after `maxRecords` records or
 * `maxBytes` bytes, `rolloverIntervalMs` after it was opened, `inactivityIntervalMs`
 * after its last write (0 disables either interval; checked on every record and on a
 * processing-time timer), on a checkpoint barrier, and at finish(). A rename is
 * atomic, so a reader never sees a half-written part file under its final name; a
 * file is fsync'ed before it is renamed. close() without finish() (a failure, a
 * cancel) leaves the in-progress file as it is. `n` continues after the highest part
 * number of the subtask already in the directory, so a restart never overwrites.
 *
 *     record ──▶ in-progress ──roll──▶ finalized           (at-least-once, now)
 *     record ──▶ in-progress ──barrier──▶ pending ──checkpoint complete──▶ finalized
 *                                                           (exactly-once, to come)
 *
 * Guarantee: at-least-once. Rolling on the barrier puts every record before a
 * checkpoint into a finalized file before the checkpoint completes, so a restore
 * loses none; records after it may be written twice. Exactly-once needs the pending
 * step above: `preCommit` would keep rolled files pending in operator state and
 * `commit` rename them in notifyCheckpointComplete (and on restore, idempotently).
 *
 * Writes are synchronous (fs.writeSync; the task runs on its own worker thread) and
 * batched: records are buffered in memory and written when 64 KiB are buffered, on
 * a roll, at finish, and every 200 ms of processing time.
 *
 * Formats. JSON lines: one JSON.stringify'd record a line. CSV (csv-stringify): the
 * columns are the fields of the first record, in order; a record with a field not
 * seen before rolls the part file and the next one's header has the new field
 * appended, so no field is dropped; missing fields are empty. Strings are written as
 * they are, numbers and booleans as text, null and undefined as empty fields, Dates in
 * ISO 8601, objects and arrays as JSON. A value that is not an object is written as
 * a field `value`.
 *
 * Changelog. A row that is not an INSERT is written with an `op` field (`-U`, `+U`,
 * `-D`; ROW_KIND_SHORT). JSON lines carry `op` only on such rows. CSV gets an `op`
 * column (first, `+I` on inserts) from the first non-INSERT row on, rolling the part
 * file if its header had none: a CSV file without an `op` column holds inserts only.
 * On such rows (and in CSV once `op` is a column) a record field named `op` is
 * replaced by the row kind.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { ROW_KIND_SHORT, RowKind } from '../api/elements.js';
import { AbstractOperator } from '../api/operator.js';

export interface FileSinkConfig {
  readonly path: string;
  readonly format: 'jsonl' | 'csv';
  readonly semantics?: 'exactly-once' | 'at-least-once' | undefined;
  readonly rolling?:
    | {
        readonly maxRecords?: number | undefined;
        readonly maxBytes?: number | undefined;
        readonly rolloverIntervalMs?: number | undefined;
        readonly inactivityIntervalMs?: number | undefined;
      }
    | undefined;
}

/** Tuning that the catalog does not expose. */
export interface FileSinkOptions {
  /** Buffered bytes that trigger a write; default 64 KiB. */
  readonly flushBytes?: number;
  /** Processing time between writes of what is buffered (and roll checks); default 200 ms. */
  readonly flushIntervalMs?: number;
}

const DEFAULT_MAX_BYTES = 128 * 1024 * 1024;
const DEFAULT_ROLLOVER_MS = 15 * 60_000;
const DEFAULT_INACTIVITY_MS = 60_000;

/** One part file being written. */
class PartFile {
  private readonly fd: number;
  private buffer: string[] = [];
  private bufferedBytes = 0;
  /** Records written (or buffered). */
  records = 0;
  /** Bytes of the file, written and buffered. */
  bytes = 0;
  lastWriteAt: number;

  constructor(
    readonly inProgressPath: string,
    readonly finalPath: string,
    readonly openedAt: number,
  ) {
    // 'wx': never clobber a file that is already there.
    this.fd = openSync(inProgressPath, 'wx');
    this.lastWriteAt = openedAt;
  }

  get buffered(): number {
    return this.bufferedBytes;
  }

  append(text: string, now: number): void {
    const length = Buffer.byteLength(text);
    this.buffer.push(text);
    this.bufferedBytes += length;
    this.bytes += length;
    this.lastWriteAt = now;
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    const data = Buffer.from(this.buffer.join(''), 'utf8');
    this.buffer = [];
    this.bufferedBytes = 0;
    for (let written = 0; written < data.length; ) written += writeSync(this.fd, data, written, data.length - written);
  }

  /** Flushes, syncs to disk and renames to the final name. */
  finalize(): void {
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.inProgressPath, this.finalPath);
  }

  /** Closes without finalizing: the in-progress file stays. */
  abandon(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

export class FileSink extends AbstractOperator<unknown> {
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly rolloverMs: number;
  private readonly inactivityMs: number;
  private readonly flushBytes: number;
  private readonly flushIntervalMs: number;
  private readonly extension: string;
  private part: PartFile | undefined;
  private nextPart = 0;
  private cancelTimer: (() => void) | undefined;
  /** CSV: the record fields seen so far, in order; the columns only grow. */
  private readonly fields: string[] = [];
  private readonly fieldSet = new Set<string>();
  /** CSV: a changelog row has been seen; `op` is the first column from then on. */
  private opColumn = false;

  constructor(
    private readonly config: FileSinkConfig,
    options: FileSinkOptions = {},
  ) {
    super();
    const rolling = config.rolling ?? {};
    this.maxRecords = rolling.maxRecords ?? Number.POSITIVE_INFINITY;
    this.maxBytes = rolling.maxBytes ?? DEFAULT_MAX_BYTES;
    this.rolloverMs = rolling.rolloverIntervalMs ?? DEFAULT_ROLLOVER_MS;
    this.inactivityMs = rolling.inactivityIntervalMs ?? DEFAULT_INACTIVITY_MS;
    this.flushBytes = options.flushBytes ?? 64 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.extension = config.format === 'csv' ? 'csv' : 'jsonl';
  }

  override open(): void {
    mkdirSync(this.config.path, { recursive: true });
    this.nextPart = nextPartNumber(this.config.path, this.ctx.subtaskIndex);
    if (this.config.semantics === 'exactly-once') {
      this.ctx.log.warn('file sink: exactly-once is not implemented yet; writing at-least-once (part files roll on every checkpoint)', {
        path: this.config.path,
      });
    }
  }

  processElement(value: unknown, _timestamp: number, kind: RowKind): void {
    const now = this.ctx.processingTime.now();
    if (this.part && this.dueByTime(this.part, now)) this.roll();
    const text = this.config.format === 'csv' ? this.csvLine(value, kind) : jsonLine(value, kind);
    const part = this.part ?? this.openPart(now);
    part.append(text, now);
    part.records++;
    if (part.records >= this.maxRecords || part.bytes >= this.maxBytes) {
      this.roll();
    } else if (part.buffered >= this.flushBytes) {
      part.flush();
    }
  }

  override processWatermark(watermark: number): void {
    this.currentWatermark = Math.max(this.currentWatermark, watermark);
  }

  /**
   * The pre-commit point: everything written before the barrier goes into a
   * finalized file (at-least-once). Exactly-once will keep the file pending instead.
   */
  override prepareSnapshotPreBarrier(_checkpointId: number): void {
    this.roll();
  }

  override finish(): void {
    this.roll();
    this.stopTimer();
  }

  override close(): void {
    this.stopTimer();
    const part = this.part;
    this.part = undefined;
    if (!part) return;
    try {
      part.abandon();
    } catch (error) {
      this.ctx.log.warn('file sink: could not write the buffered records of an in-progress file while closing', {
        file: part.inProgressPath,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Finalizes the open part file, if any; the next record opens a new one. */
  private roll(): void {
    const part = this.part;
    if (!part) return;
    this.part = undefined;
    this.stopTimer();
    part.finalize();
  }

  private dueByTime(part: PartFile, now: number): boolean {
    return (this.rolloverMs > 0 && now - part.openedAt >= this.rolloverMs) || (this.inactivityMs > 0 && now - part.lastWriteAt >= this.inactivityMs);
  }

  private openPart(now: number): PartFile {
    const subtask = this.ctx.subtaskIndex;
    const n = this.nextPart++;
    const part = new PartFile(
      join(this.config.path, `.part-${subtask}-${n}.inprogress`),
      join(this.config.path, `part-${subtask}-${n}.${this.extension}`),
      now,
    );
    this.part = part;
    if (this.config.format === 'csv') part.append(stringify([this.header()]), now);
    this.startTimer(now);
    return part;
  }

  private startTimer(now: number): void {
    this.stopTimer();
    this.cancelTimer = this.ctx.processingTime.schedule(now + this.flushIntervalMs, (time) => this.onTimer(time));
  }

  private stopTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private onTimer(time: number): void {
    this.cancelTimer = undefined;
    const part = this.part;
    if (!part) return;
    if (this.dueByTime(part, time)) {
      this.roll();
      return;
    }
    part.flush();
    this.startTimer(time);
  }

  /** The CSV line of a record; rolls first when the record needs columns the open file lacks. */
  private csvLine(value: unknown, kind: RowKind): string {
    const record = isPlainRecord(value) ? value : { value };
    const changelog = kind !== RowKind.INSERT;
    let widened = false;
    if (changelog && !this.opColumn) {
      this.opColumn = true;
      widened = true;
    }
    for (const name of Object.keys(record)) {
      if (!this.fieldSet.has(name)) {
        this.fieldSet.add(name);
        this.fields.push(name);
        widened = true;
      }
    }
    if (widened) this.roll();
    const row: string[] = this.opColumn ? [ROW_KIND_SHORT[kind]] : [];
    for (const name of this.fields) {
      if (!(this.opColumn && name === 'op')) row.push(csvField(record[name]));
    }
    return stringify([row]);
  }

  /** CSV: the header of a new part file. */
  private header(): string[] {
    return this.opColumn ? ['op', ...this.fields.filter((name) => name !== 'op')] : [...this.fields];
  }
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  // Functions and symbols have no text.
  return typeof value === 'object' ? JSON.stringify(value) : '';
}

function jsonLine(value: unknown, kind: RowKind): string {
  let body: unknown = value;
  if (kind !== RowKind.INSERT) {
    const op = ROW_KIND_SHORT[kind];
    if (isPlainRecord(value)) {
      const row: Record<string, unknown> = { op, ...value };
      row.op = op;
      body = row;
    } else {
      body = { op, value };
    }
  }
  const text = JSON.stringify(body) as string | undefined;
  if (text === undefined) throw new TypeError(`file sink: a record of type ${typeof value} cannot be written as JSON`);
  return `${text}\n`;
}

/** One past the highest part number of `subtask` in the directory, in-progress files included. */
function nextPartNumber(directory: string, subtask: number): number {
  const pattern = /^\.?part-(\d+)-(\d+)(?:\.inprogress|\.[a-z]+)$/;
  let next = 0;
  for (const name of readdirSync(directory)) {
    const match = pattern.exec(name);
    if (match && Number(match[1]) === subtask) next = Math.max(next, Number(match[2]) + 1);
  }
  return next;
}
