/**
 * The file source: JSON lines or CSV from a file or a directory, bounded, as Flink's
 * FileSource reads a fixed set of files.
 *
 * Splits. Each file is a split. On a fresh start the files under the path are listed
 * (recursively, in name order, skipping names that start with `.` or `_`, as Flink
 * skips in-progress and hidden files) and file i goes to subtask i mod parallelism.
 * A split's position (the byte offset and line number of its next record, and a CSV
 * file's header columns once read) is operator state in mode 'split': a restore, at
 * any parallelism, continues every file exactly where the checkpoint left it, and a
 * file finished before the checkpoint is not read again. The file list is fixed when
 * the job first starts; files added later are not picked up.
 *
 * Reading. A subtask reads up to `maxOpenFiles` of its splits at once, each in the
 * background into a bounded queue (file-reader.ts), and emits from them in turn, one
 * item (a record, a dead letter, a skipped empty line) per split per turn, in a fixed
 * cyclic order. A finished split's place in the cycle goes to the next unopened one.
 * The order never depends on I/O timing: when the split whose turn it is has nothing
 * queued yet, pollNext returns NOTHING_AVAILABLE and whenAvailable() resolves once it
 * has. So two runs, and a run restored at the same parallelism, emit the same
 * sequence; a snapshot lists the splits starting with the one whose turn is next.
 *
 * Event time. With watermarks on, each record's timestamp comes from the strategy's
 * field or assigner; each file is a split of SplitWatermarks, and every split of the
 * subtask, opened yet or not, holds the watermark back until it is finished (or idle
 * for idleTimeoutMs of processing time), so file order alone makes no record late.
 * Watermarks go out every `emit.intervalMs` of processing time or every N records,
 * as the job says; the task sends the final watermark after the last split.
 *
 * Bad records. A line that does not parse, or has no valid timestamp while watermarks
 * are on, goes to the `dead-letter` output as `{ file, line, error, text }` (text cut
 * to 10 KiB) and counts in metrics.deadLetters; everything else is emitted.
 *
 * Formats. JSON lines: every non-blank line is JSON.parse'd. CSV: parsed with
 * csv-parse; the first non-empty line of each file is the header unless
 * `csv.header` is false, `csv.columns` names the columns instead of the header (or
 * of files without one; without either, records are arrays of fields). Empty lines
 * are skipped. Numeric fields are cast losslessly (see castCsvField).
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NO_TIMESTAMP } from '../api/elements.js';
import { AbstractSourceOperator, InputStatus, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import type { OperatorEnv } from '../registry.js';
import { DEAD_LETTER_TEXT_LIMIT, type FileFormat, type FileItem } from './file-records.js';
import { DEFAULT_READER_LIMITS, SplitReader, type ReaderLimits } from './file-reader.js';
import { resolveWatermarks, SourceWatermarkEmitter, SplitWatermarks, type ResolvedWatermarks, type WatermarkConfig } from './watermarks.js';

export interface FileSourceConfig {
  readonly path: string;
  readonly format: 'jsonl' | 'csv';
  readonly csv?:
    | {
        readonly delimiter?: string | undefined;
        readonly header?: boolean | undefined;
        readonly columns?: readonly string[] | undefined;
      }
    | undefined;
  readonly watermarks?: WatermarkConfig | undefined;
}

/** Tuning that the catalog does not expose; tests use small values. */
export interface FileSourceOptions extends Partial<ReaderLimits> {
  /** Splits one subtask reads at the same time; default 8. */
  readonly maxOpenFiles?: number;
}

/** The state of one split: plain data, as it goes into a checkpoint. */
export interface FileSplit {
  /** The file, relative to the root: the configured directory, or the configured file's directory. */
  readonly file: string;
  /** Byte offset of the next record. */
  offset: number;
  /** Line number of the next record. */
  line: number;
  /** CSV columns from the file's header, once it has been read. */
  columns?: readonly string[];
}

/** The dead-letter record of the file source. */
export interface FileDeadLetter {
  readonly file: string;
  readonly line: number;
  readonly error: string;
  readonly text: string;
}

export const DEAD_LETTER = 'dead-letter';

interface OpenSplit {
  readonly split: FileSplit;
  readonly reader: SplitReader;
}

export class FileSource extends AbstractSourceOperator {
  private readonly wm: ResolvedWatermarks;
  private readonly format: FileFormat;
  private readonly limits: ReaderLimits;
  private readonly maxOpenFiles: number;
  private root = '';
  private singleFile = false;
  private restored: readonly unknown[] | undefined;
  /** Splits being read, in turn order; `cursor` is the one whose turn it is. */
  private active: OpenSplit[] = [];
  /** Splits not opened yet, in order. */
  private waiting: FileSplit[] = [];
  private cursor = 0;
  private watermarks!: SplitWatermarks;
  private emitter!: SourceWatermarkEmitter;
  private nextPeriodicEmit = 0;
  private sincePunctuation = 0;
  private available: { promise: Promise<void>; resolve: () => void } | undefined;
  private closed = false;
  private warnedUnconnected = false;

  constructor(
    private readonly config: FileSourceConfig,
    env: OperatorEnv,
    options: FileSourceOptions = {},
  ) {
    super();
    this.wm = resolveWatermarks(config.watermarks ?? {}, env.job, env.fn);
    this.format =
      config.format === 'csv'
        ? { kind: 'csv', delimiter: config.csv?.delimiter ?? ',', header: config.csv?.header ?? true, columns: config.csv?.columns }
        : { kind: 'jsonl' };
    const { maxOpenFiles = 8, ...limits } = options;
    this.limits = { ...DEFAULT_READER_LIMITS, ...limits };
    this.maxOpenFiles = Math.max(1, maxOpenFiles);
  }

  override initializeState(restore: OperatorRestore): void {
    this.restored = restore.operatorState;
  }

  override open(): void {
    const stats = statPath(this.config.path);
    this.singleFile = !stats.isDirectory();
    this.root = this.singleFile ? dirname(this.config.path) : this.config.path;
    let splits: FileSplit[];
    if (this.restored) {
      splits = this.restored.map(toSplit);
    } else {
      const files = this.singleFile ? [basename(this.config.path)] : listFiles(this.config.path);
      const { subtaskIndex, parallelism } = this.ctx;
      splits = files.filter((_, i) => i % parallelism === subtaskIndex).map((file) => ({ file, offset: 0, line: 1 }));
    }
    const now = this.ctx.processingTime.now();
    this.watermarks = new SplitWatermarks(this.wm.boundMs, this.wm.idleTimeoutMs);
    this.emitter = new SourceWatermarkEmitter(this.output);
    for (const split of splits) this.watermarks.addSplit(split.file, now);
    this.nextPeriodicEmit = now;
    this.waiting = splits.slice(this.maxOpenFiles);
    this.active = splits.slice(0, this.maxOpenFiles).map((split) => this.openSplit(split));
  }

  pollNext(budget: number): InputStatus {
    const now = this.ctx.processingTime.now();
    if (this.wm.enabled && this.wm.emit.mode === 'periodic' && now >= this.nextPeriodicEmit) {
      this.emitWatermark(now);
      this.nextPeriodicEmit = now + this.wm.emit.intervalMs;
    }
    let work = 0;
    while (work < budget) {
      const open = this.active[this.cursor];
      if (open === undefined) return InputStatus.END_OF_INPUT;
      const item = open.reader.shift();
      if (item === undefined) {
        const error = open.reader.error;
        if (error) throw error;
        if (!open.reader.finished) return InputStatus.NOTHING_AVAILABLE;
        this.finishSplit();
        continue;
      }
      work++;
      open.split.offset = item.end;
      open.split.line = item.nextLine;
      this.emit(open.split, item, now);
      if (this.active.length > 1) this.cursor = (this.cursor + 1) % this.active.length;
    }
    return this.active.length === 0 ? InputStatus.END_OF_INPUT : InputStatus.MORE_AVAILABLE;
  }

  /** Resolves when the split whose turn it is has something (or has ended or failed). */
  override whenAvailable(): Promise<void> {
    if (this.canProgress()) return Promise.resolve();
    if (!this.available) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.available = { promise, resolve };
    }
    return this.available.promise;
  }

  override snapshotState(): OperatorStateSnapshot {
    const inTurnOrder = [...this.active.slice(this.cursor), ...this.active.slice(0, this.cursor)].map((open) => open.split);
    return { mode: 'split', entries: [...inTurnOrder, ...this.waiting].map(copySplit) };
  }

  override close(): void {
    this.closed = true;
    for (const open of this.active) open.reader.close();
    // Nobody should be waiting after close; if someone is, let it go.
    this.available?.resolve();
    this.available = undefined;
  }

  private canProgress(): boolean {
    const open = this.active[this.cursor];
    return open === undefined || open.reader.ready;
  }

  private readonly onReaderProgress = (): void => {
    if (this.closed || !this.available || !this.canProgress()) return;
    const { resolve } = this.available;
    this.available = undefined;
    resolve();
  };

  private openSplit(split: FileSplit): OpenSplit {
    const reader = new SplitReader(
      join(this.root, split.file),
      { offset: split.offset, line: split.line, columns: split.columns },
      this.format,
      this.limits,
      this.onReaderProgress,
    );
    reader.begin();
    return { split, reader };
  }

  /** The split whose turn it is has been read to its end. */
  private finishSplit(): void {
    const done = this.active[this.cursor] as OpenSplit;
    done.reader.close();
    this.watermarks.removeSplit(done.split.file);
    const next = this.waiting.shift();
    if (next) {
      this.active[this.cursor] = this.openSplit(next);
    } else {
      this.active.splice(this.cursor, 1);
      if (this.cursor >= this.active.length) this.cursor = 0;
    }
  }

  private emit(split: FileSplit, item: FileItem, now: number): void {
    switch (item.kind) {
      case 'record': {
        let timestamp = NO_TIMESTAMP;
        if (this.wm.enabled) {
          try {
            timestamp = this.wm.timestampOf(item.value, NO_TIMESTAMP);
          } catch (error) {
            this.deadLetter(split, item.line, `no valid event time: ${error instanceof Error ? error.message : String(error)}`, item.text);
            return;
          }
          this.watermarks.onEvent(split.file, timestamp, now);
        }
        this.output.collect(item.value, timestamp);
        if (this.wm.enabled && this.wm.emit.mode === 'punctuated' && ++this.sincePunctuation >= this.wm.emit.everyRecords) {
          this.sincePunctuation = 0;
          this.emitWatermark(now);
        }
        return;
      }
      case 'error':
        this.deadLetter(split, item.line, item.error, item.text);
        return;
      case 'header':
        split.columns = item.columns;
        return;
      case 'skip':
        return;
    }
  }

  private deadLetter(split: FileSplit, line: number, error: string, text: string): void {
    this.ctx.metrics.deadLetters++;
    const file = this.singleFile ? this.config.path : join(this.root, split.file);
    if (this.ctx.connectedOutputs.has(DEAD_LETTER)) {
      const letter: FileDeadLetter = { file, line, error, text: truncate(text) };
      this.output.collectSide(DEAD_LETTER, letter, NO_TIMESTAMP);
    } else if (!this.warnedUnconnected) {
      this.warnedUnconnected = true;
      this.ctx.log.warn('file source: a record could not be read and the dead-letter output is not connected; such records are only counted', {
        file,
        line,
        error,
      });
    }
  }

  private emitWatermark(now: number): void {
    this.emitter.emit(this.watermarks.current(now));
  }
}

function statPath(path: string): Stats {
  let stats: Stats | undefined;
  try {
    stats = statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    throw new Error(`file source: cannot access path '${path}': ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!stats) throw new Error(`file source: path '${path}' does not exist`);
  if (!stats.isDirectory() && !stats.isFile()) throw new Error(`file source: path '${path}' is neither a file nor a directory`);
  return stats;
}

function hidden(name: string): boolean {
  return name.startsWith('.') || name.startsWith('_');
}

/**
 * The files under a directory, recursively, as paths relative to it with `/`
 * separators, in code-unit order. Names starting with `.` or `_` are skipped, files
 * and directories alike; symbolic links to files count, links to directories do not
 * (no cycles).
 */
export function listFiles(directory: string): string[] {
  const files: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (hidden(entry.name)) continue;
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) {
        walk(join(dir, entry.name), relative);
      } else if (entry.isFile() || (entry.isSymbolicLink() && statSync(join(dir, entry.name), { throwIfNoEntry: false })?.isFile() === true)) {
        files.push(relative);
      }
    }
  };
  walk(directory, '');
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function toSplit(entry: unknown): FileSplit {
  const e = entry as Partial<Record<keyof FileSplit, unknown>> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.file !== 'string' ||
    typeof e.offset !== 'number' ||
    !Number.isSafeInteger(e.offset) ||
    e.offset < 0 ||
    typeof e.line !== 'number' ||
    !Number.isSafeInteger(e.line) ||
    e.line < 1 ||
    (e.columns !== undefined && !(Array.isArray(e.columns) && e.columns.every((c) => typeof c === 'string')))
  ) {
    throw new Error(`file source: restored state ${JSON.stringify(entry)} is not a file split ({ file, offset, line, columns? })`);
  }
  const split: FileSplit = { file: e.file, offset: e.offset, line: e.line };
  if (e.columns !== undefined) split.columns = e.columns;
  return split;
}

function copySplit(split: FileSplit): FileSplit {
  const copy: FileSplit = { file: split.file, offset: split.offset, line: split.line };
  if (split.columns !== undefined) copy.columns = [...split.columns];
  return copy;
}

/** At most DEAD_LETTER_TEXT_LIMIT UTF-16 units, not splitting a surrogate pair. */
function truncate(text: string): string {
  if (text.length <= DEAD_LETTER_TEXT_LIMIT) return text;
  const end = /[\uD800-\uDBFF]/.test(text.charAt(DEAD_LETTER_TEXT_LIMIT - 1)) ? DEAD_LETTER_TEXT_LIMIT - 1 : DEAD_LETTER_TEXT_LIMIT;
  return text.slice(0, end);
}
