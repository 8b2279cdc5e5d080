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
 *     at-least-once:  record ──▶ in-progress ──roll──▶ finalized
 *     exactly-once:   record ──▶ in-progress ──roll/barrier──▶ pending ──checkpoint complete──▶ finalized
 *
 * Exactly-once (the default, with checkpointing on) is a two-phase-commit sink: a part
 * file that rolls is closed and fsync'ed but keeps its hidden name (pending) and is kept
 * in the checkpoint's state; when that checkpoint completes it is renamed to its final
 * name. After a restore, pending files of the restored checkpoint are renamed then (a
 * rename done before the failure is recognised and left alone). Readers see only
 * committed files, each record exactly once. An in-progress file that never reached a
 * checkpoint is removed when the task fails or is cancelled. Without checkpointing, or
 * with at-least-once, a part file is finalized as soon as it rolls.
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
import { closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { ROW_KIND_SHORT, RowKind } from '../api/elements.js';
import type { OperatorRestore } from '../api/operator.js';
import { TwoPhaseCommitSink } from './two-phase-commit.js';

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
  /** Whether the job takes checkpoints: exactly-once then commits part files on checkpoint completion. */
  readonly checkpointing?: boolean;
}

const DEFAULT_MAX_BYTES = 128 * 1024 * 1024;
const DEFAULT_ROLLOVER_MS = 15 * 60_000;
const DEFAULT_INACTIVITY_MS = 60_000;

/**
 * Node's permission model refuses fsync (a job in its own process runs under it, see the
 * engine's job-process.ts): there a part file is opened with O_DSYNC instead, so that each
 * write is on disk when it returns (writes are 64 KiB batches), and closing needs no fsync.
 */
const SYNC_EACH_WRITE = (process as { permission?: unknown }).permission !== undefined;
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

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
    // O_EXCL: never clobber a file that is already there.
    this.fd = openSync(inProgressPath, SYNC_EACH_WRITE ? CREATE_NEW | constants.O_DSYNC : CREATE_NEW);
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

  /** Flushes, syncs to disk and closes; the file keeps its hidden in-progress name. */
  close(): void {
    this.flush();
    if (!SYNC_EACH_WRITE) fsyncSync(this.fd);
    closeSync(this.fd);
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

/** A part file as it is kept in a checkpoint until committed. */
interface CommittablePart {
  readonly inProgressPath: string;
  readonly finalPath: string;
}

export class FileSink extends TwoPhaseCommitSink<PartFile | CommittablePart> {
  protected readonly transactional: boolean;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly rolloverMs: number;
  private readonly inactivityMs: number;
  private readonly flushBytes: number;
  private readonly flushIntervalMs: number;
  private readonly extension: string;
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
    this.transactional = (config.semantics ?? 'exactly-once') === 'exactly-once' && options.checkpointing === true;
  }

  override initializeState(restore: OperatorRestore): void {
    // Create the directory first: restored transactions are committed right away.
    mkdirSync(this.config.path, { recursive: true });
    super.initializeState(restore);
  }

  override open(): void {
    mkdirSync(this.config.path, { recursive: true });
    this.nextPart = nextPartNumber(this.config.path, this.ctx.subtaskIndex);
  }

  override processElement(value: unknown, timestamp: number, kind: RowKind): void {
    const now = this.ctx.processingTime.now();
    const open = this.openPart();
    if (open && this.dueByTime(open, now)) this.rollTransaction();
    // A CSV record with a new column starts a new part file with the wider header.
    if (this.config.format === 'csv' && this.widensHeader(value, kind) && this.openPart()) this.rollTransaction();
    super.processElement(value, timestamp, kind);
    const part = this.openPart();
    if (!part) return;
    if (part.records >= this.maxRecords || part.bytes >= this.maxBytes) this.rollTransaction();
    else if (part.buffered >= this.flushBytes) part.flush();
  }

  protected beginTransaction(): PartFile {
    const now = this.ctx.processingTime.now();
    const subtask = this.ctx.subtaskIndex;
    const n = this.nextPart++;
    const part = new PartFile(join(this.config.path, `.part-${subtask}-${n}.inprogress`), join(this.config.path, `part-${subtask}-${n}.${this.extension}`), now);
    if (this.config.format === 'csv') part.append(stringify([this.header()]), now);
    this.startTimer(now);
    return part;
  }

  protected write(part: PartFile | CommittablePart, value: unknown, _timestamp: number, kind: RowKind): void {
    const file = part as PartFile;
    const text = this.config.format === 'csv' ? this.csvLine(value, kind) : jsonLine(value, kind);
    file.append(text, this.ctx.processingTime.now());
    file.records++;
  }

  /** Durable, still hidden: flushed, fsync'ed, closed. */
  protected preCommit(part: PartFile | CommittablePart): void {
    this.stopTimer();
    (part as PartFile).close();
  }

  /** Renames to the final name; a part renamed before a failure is left as it is. */
  protected commit(part: PartFile | CommittablePart): void {
    if (existsSync(part.inProgressPath)) {
      renameSync(part.inProgressPath, part.finalPath);
    } else if (!existsSync(part.finalPath)) {
      throw new Error(`file sink: cannot commit ${part.finalPath}: neither it nor its pending file ${part.inProgressPath} exists`);
    }
  }

  /** A part that was never pre-committed belongs to no checkpoint: remove it. */
  protected abort(part: PartFile | CommittablePart): void {
    this.stopTimer();
    try {
      if (part instanceof PartFile) part.abandon();
      rmSync(part.inProgressPath, { force: true });
    } catch (error) {
      this.ctx.log.warn('file sink: could not remove an unfinished part file', {
        file: part.inProgressPath,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  protected serialize(part: PartFile | CommittablePart): unknown {
    return { inProgressPath: part.inProgressPath, finalPath: part.finalPath };
  }

  protected deserialize(data: unknown): CommittablePart {
    return data as CommittablePart;
  }

  protected isEmpty(part: PartFile | CommittablePart): boolean {
    return part instanceof PartFile && part.records === 0;
  }

  override close(): void {
    this.stopTimer();
    super.close();
  }

  private openPart(): PartFile | undefined {
    const current = this.currentTransaction;
    return current instanceof PartFile ? current : undefined;
  }

  private dueByTime(part: PartFile, now: number): boolean {
    return (this.rolloverMs > 0 && now - part.openedAt >= this.rolloverMs) || (this.inactivityMs > 0 && now - part.lastWriteAt >= this.inactivityMs);
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
    const part = this.openPart();
    if (!part) return;
    if (this.dueByTime(part, time)) {
      this.rollTransaction();
      return;
    }
    part.flush();
    this.startTimer(time);
  }

  /** CSV: records a record's new columns (and `op` for a first changelog row); true when the header grew. */
  private widensHeader(value: unknown, kind: RowKind): boolean {
    const record = isPlainRecord(value) ? value : { value };
    let widened = false;
    if (kind !== RowKind.INSERT && !this.opColumn) {
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
    return widened;
  }

  private csvLine(value: unknown, kind: RowKind): string {
    const record = isPlainRecord(value) ? value : { value };
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
