/**
 * Cutting a file's bytes into records, and records into values, for the file source.
 *
 * A record is a line for JSON lines, and a CSV record for CSV: a newline inside a
 * quoted CSV field does not end it. The splitter follows csv-parse's strict quoting
 * (a quote opens a field only at the start of the field; `""` inside a quoted field
 * is an escaped quote), so its record boundaries are the ones csv-parse would find.
 *
 * Every decision depends only on the bytes from the record's start, never on how
 * the file was cut into chunks: a reader restored at a byte offset finds exactly the
 * records that an uninterrupted reader found after that offset.
 *
 * A record longer than `maxRecordBytes` is cut: it ends at the first newline at or
 * after `maxRecordBytes` from its start, whatever the quotes say, and becomes a
 * dead letter with its first 10 KiB. So an unclosed quote costs a bounded amount of
 * memory and data, not the rest of the file.
 */
import { parse as parseCsv } from 'csv-parse/sync';

const LF = 0x0a;
const QUOTE = 0x22;
/** How much of a record a dead letter keeps. */
export const DEAD_LETTER_TEXT_LIMIT = 10 * 1024;

/** One record's text and where it lies in its file. */
export interface RawRecord {
  /** Decoded text without the line terminator (and without a UTF-8 BOM at offset 0). */
  readonly text: string;
  /** 1-based line number of the record's first byte. */
  readonly line: number;
  /** Line number of the record after this one. */
  readonly nextLine: number;
  /** Byte offset just past this record and its newline: where the next record starts. */
  readonly end: number;
  /** Longer than maxRecordBytes: `text` holds only its first 10 KiB. */
  readonly oversize: boolean;
}

// CSV quoting states.
const OUT = 0; // outside a quoted field
const IN = 1; // inside a quoted field
const IN_QUOTE = 2; // inside a quoted field, right after a quote: an escape or the closing quote

export class RecordSplitter {
  private readonly parts: Buffer[] = [];
  /** Bytes of the current record seen so far (kept or not). */
  private recordBytes = 0;
  /** Newlines inside the current record so far. */
  private newlines = 0;
  /** Bytes kept of an oversize record (its start, for the dead letter). */
  private keptBytes = 0;
  /** Offset of the next byte pushed. */
  private base: number;
  /** Offset of the current record's first byte. */
  private start: number;
  /** Offset where the first field of the current record starts (after a BOM at offset 0). */
  private fieldStart: number;
  private line: number;
  private state = OUT;
  /** The current CSV record is longer than maxRecordBytes: it ends at the next newline, quoted or not. */
  private cut = false;
  /** The last bytes before `base`, to tell a field start across a chunk boundary. */
  private tail: Buffer = Buffer.alloc(0);

  /**
   * @param offset byte offset of a record start where reading begins
   * @param line line number of that record
   * @param delimiter the CSV field delimiter, or undefined for JSON lines
   */
  constructor(
    offset: number,
    line: number,
    private readonly delimiter: Buffer | undefined,
    private readonly maxRecordBytes: number,
  ) {
    this.base = offset;
    this.start = offset;
    this.fieldStart = offset;
    this.line = line;
  }

  /** Splits the next chunk of the file; complete records are appended to `out`. */
  push(chunk: Buffer, out: RawRecord[]): void {
    if (this.base === 0 && this.start === 0 && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
      this.fieldStart = 3;
    }
    let from = 0;
    while (from < chunk.length) {
      const boundary = this.findBoundary(chunk, from);
      if (boundary === -1) {
        this.keep(chunk.subarray(from));
        break;
      }
      this.keep(chunk.subarray(from, boundary));
      out.push(this.complete(this.base + boundary + 1));
      from = boundary + 1;
    }
    this.base += chunk.length;
    this.tail = chunk.length >= 4 ? chunk.subarray(chunk.length - 4) : Buffer.concat([this.tail, chunk]).subarray(-4);
  }

  /** End of file: a last record without a trailing newline, if any. */
  end(out: RawRecord[]): void {
    if (this.recordBytes > 0) out.push(this.complete(this.base));
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    // Only a CSV record has newlines inside (in quoted fields, or before it was cut).
    if (this.delimiter !== undefined) this.newlines += countNewlines(bytes);
    const before = this.recordBytes;
    this.recordBytes += bytes.length;
    if (this.recordBytes <= this.maxRecordBytes) {
      this.parts.push(bytes);
      return;
    }
    if (before <= this.maxRecordBytes) {
      // Just became oversize: keep a copy of the start for the dead letter, drop the rest.
      const head = Buffer.from(Buffer.concat([...this.parts, bytes]).subarray(0, DEAD_LETTER_TEXT_LIMIT));
      this.parts.length = 0;
      this.parts.push(head);
      this.keptBytes = head.length;
    } else if (this.keptBytes < DEAD_LETTER_TEXT_LIMIT) {
      const piece = Buffer.from(bytes.subarray(0, DEAD_LETTER_TEXT_LIMIT - this.keptBytes));
      this.parts.push(piece);
      this.keptBytes += piece.length;
    }
  }

  private complete(end: number): RawRecord {
    const bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    let text = bytes.toString('utf8');
    const oversize = this.recordBytes > this.maxRecordBytes;
    if (oversize) {
      text = text.slice(0, DEAD_LETTER_TEXT_LIMIT);
    } else if (text.endsWith('\r')) {
      text = text.slice(0, -1);
    }
    if (this.start === 0 && text.startsWith('\uFEFF')) text = text.slice(1);
    const record: RawRecord = { text, line: this.line, nextLine: this.line + 1 + this.newlines, end, oversize };
    this.parts.length = 0;
    this.recordBytes = 0;
    this.newlines = 0;
    this.keptBytes = 0;
    this.state = OUT;
    this.cut = false;
    this.start = end;
    this.fieldStart = end;
    this.line = record.nextLine;
    return record;
  }

  /**
   * Index in `chunk` of the newline that ends the current record, or -1 when the
   * record goes on past the chunk. Updates the quoting state.
   */
  private findBoundary(chunk: Buffer, from: number): number {
    if (this.delimiter === undefined || this.cut) return chunk.indexOf(LF, from);
    // The newline ending a record of at most maxRecordBytes lies at or before this index.
    const limit = this.start + this.maxRecordBytes - this.base;
    if (limit < from) {
      this.cut = true;
      return chunk.indexOf(LF, from);
    }
    const stop = Math.min(chunk.length, limit + 1);
    let i = from;
    // Cached positions of the next quote and newline at or after i; -2: not looked up yet, -1: none left.
    let nextQuote = -2;
    let nextNewline = -2;
    while (i < stop) {
      if (this.state === OUT) {
        if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(QUOTE, i);
        if (nextNewline !== -1 && nextNewline < i) nextNewline = chunk.indexOf(LF, i);
        if (nextNewline !== -1 && (nextQuote === -1 || nextNewline < nextQuote)) {
          if (nextNewline < stop) return nextNewline;
          break;
        }
        if (nextQuote === -1 || nextQuote >= stop) break;
        // A quote opens a quoted field only at the field's start; a stray one makes
        // csv-parse reject the record, which then ends at its newline.
        if (this.isFieldStart(chunk, nextQuote)) this.state = IN;
        i = nextQuote + 1;
      } else if (this.state === IN) {
        if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(QUOTE, i);
        if (nextQuote === -1 || nextQuote >= stop) break;
        this.state = IN_QUOTE;
        i = nextQuote + 1;
      } else if (chunk[i] === QUOTE) {
        this.state = IN; // an escaped quote
        i++;
      } else {
        this.state = OUT; // the quote closed the field; look at this byte again
      }
    }
    if (stop < chunk.length) {
      // No end within maxRecordBytes: the record is cut at the next newline, quoted or not.
      this.cut = true;
      return chunk.indexOf(LF, stop);
    }
    return -1;
  }

  /** Whether the quote at `index` of the chunk is the first byte of a field. */
  private isFieldStart(chunk: Buffer, index: number): boolean {
    const offset = this.base + index;
    if (offset === this.fieldStart) return true;
    const delimiter = this.delimiter as Buffer;
    if (offset - delimiter.length < this.fieldStart) return false;
    for (let k = 1; k <= delimiter.length; k++) {
      const at = index - k;
      const byte = at >= 0 ? chunk[at] : this.tail[this.tail.length + at];
      if (byte !== delimiter[delimiter.length - k]) return false;
    }
    return true;
  }
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let i = bytes.indexOf(LF); i !== -1; i = bytes.indexOf(LF, i + 1)) count++;
  return count;
}

/** What the reader queues for the source, in file order. */
export type FileItem =
  | { readonly kind: 'record'; readonly value: unknown; readonly text: string; readonly line: number; readonly nextLine: number; readonly end: number }
  | { readonly kind: 'error'; readonly error: string; readonly text: string; readonly line: number; readonly nextLine: number; readonly end: number }
  /** An empty line: consumed, nothing emitted. */
  | { readonly kind: 'skip'; readonly line: number; readonly nextLine: number; readonly end: number }
  /** A CSV header line: consumed; its columns become split state. */
  | { readonly kind: 'header'; readonly columns: readonly string[]; readonly line: number; readonly nextLine: number; readonly end: number };

export type FileFormat =
  | { readonly kind: 'jsonl' }
  | {
      readonly kind: 'csv';
      readonly delimiter: string;
      /** The first non-empty line of each file names the columns. */
      readonly header: boolean;
      /** Configured column names: used instead of the header's, or for files without one. */
      readonly columns: readonly string[] | undefined;
    };

/** Turns raw records into items: JSON.parse for JSON lines, csv-parse for CSV. */
export interface RecordDecoder {
  decode(records: readonly RawRecord[], out: FileItem[]): void;
}

/**
 * @param columns the columns of this file's header, when the header has been read
 *   before (split state); undefined for a file not yet started
 */
export function createDecoder(format: FileFormat, maxRecordBytes: number, columns: readonly string[] | undefined): RecordDecoder {
  return format.kind === 'jsonl' ? new JsonLinesDecoder(maxRecordBytes) : new CsvDecoder(format, maxRecordBytes, columns);
}

function oversizeError(maxRecordBytes: number): string {
  return `record longer than ${maxRecordBytes} bytes`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class JsonLinesDecoder implements RecordDecoder {
  constructor(private readonly maxRecordBytes: number) {}

  decode(records: readonly RawRecord[], out: FileItem[]): void {
    for (const r of records) {
      if (r.oversize) {
        out.push({ kind: 'error', error: oversizeError(this.maxRecordBytes), text: r.text, line: r.line, nextLine: r.nextLine, end: r.end });
        continue;
      }
      if (r.text.trim() === '') {
        out.push({ kind: 'skip', line: r.line, nextLine: r.nextLine, end: r.end });
        continue;
      }
      try {
        out.push({ kind: 'record', value: JSON.parse(r.text) as unknown, text: r.text, line: r.line, nextLine: r.nextLine, end: r.end });
      } catch (error) {
        out.push({ kind: 'error', error: message(error), text: r.text, line: r.line, nextLine: r.nextLine, end: r.end });
      }
    }
  }
}

/**
 * CSV values stay strings, except that a field whose text is exactly how JavaScript
 * writes a finite number (`42`, `-3.5`, `1700000000000`) becomes that number. The cast
 * is lossless: writing the number back gives the same text, so `007`, `1e3`, `1.50`,
 * `+1`, `-0`, `0x10`, empty fields and integers beyond 2^53 stay strings.
 */
export function castCsvField(field: string): string | number {
  if (field === '') return field;
  const first = field.charCodeAt(0);
  if (first !== 0x2d && (first < 0x30 || first > 0x39)) return field; // not '-' or a digit
  const n = Number(field);
  return Number.isFinite(n) && String(n) === field ? n : field;
}

class CsvDecoder implements RecordDecoder {
  private readonly parseOptions;
  /** Columns of the current file, once known. */
  private columns: readonly string[] | undefined;
  private needHeader: boolean;
  private unsafeColumns = false;

  constructor(
    private readonly format: Extract<FileFormat, { kind: 'csv' }>,
    private readonly maxRecordBytes: number,
    stateColumns: readonly string[] | undefined,
  ) {
    this.parseOptions = { delimiter: format.delimiter, record_delimiter: '\n', relax_column_count: true } as const;
    this.needHeader = format.header && stateColumns === undefined;
    this.setColumns(stateColumns ?? format.columns);
  }

  private setColumns(columns: readonly string[] | undefined): void {
    this.columns = columns;
    this.unsafeColumns = columns?.includes('__proto__') ?? false;
  }

  decode(records: readonly RawRecord[], out: FileItem[]): void {
    const batch: number[] = [];
    const texts: string[] = [];
    for (const r of records) {
      if (r.oversize) {
        out.push({ kind: 'error', error: oversizeError(this.maxRecordBytes), text: r.text, line: r.line, nextLine: r.nextLine, end: r.end });
      } else if (r.text === '') {
        out.push({ kind: 'skip', line: r.line, nextLine: r.nextLine, end: r.end });
      } else if (this.needHeader) {
        const fields = this.parseOne(r.text);
        if (typeof fields === 'string') throw new Error(`cannot parse the CSV header at line ${r.line}: ${fields}`);
        this.needHeader = false;
        this.setColumns(this.format.columns ?? fields);
        out.push({ kind: 'header', columns: this.columns ?? fields, line: r.line, nextLine: r.nextLine, end: r.end });
      } else {
        batch.push(out.length);
        texts.push(r.text);
        out.push({ kind: 'skip', line: r.line, nextLine: r.nextLine, end: r.end }); // replaced below
      }
    }
    if (batch.length === 0) return;
    let rows: string[][] | undefined;
    try {
      rows = parseCsv(texts.join('\n'), this.parseOptions);
      if (rows.length !== texts.length) rows = undefined;
    } catch {
      rows = undefined; // one bad record fails the batch: parse each on its own below
    }
    for (let k = 0; k < batch.length; k++) {
      const index = batch[k] as number;
      const slot = out[index] as FileItem;
      const text = texts[k] as string;
      const fields = rows ? (rows[k] as string[]) : this.parseOne(text);
      if (typeof fields === 'string') {
        out[index] = { kind: 'error', error: fields, text, line: slot.line, nextLine: slot.nextLine, end: slot.end };
        continue;
      }
      const value = this.toValue(fields);
      out[index] =
        typeof value === 'string'
          ? { kind: 'error', error: value, text, line: slot.line, nextLine: slot.nextLine, end: slot.end }
          : { kind: 'record', value: value.value, text, line: slot.line, nextLine: slot.nextLine, end: slot.end };
    }
  }

  /** The fields of one record, or why it does not parse. */
  private parseOne(text: string): string[] | string {
    try {
      const rows = parseCsv(text, this.parseOptions);
      if (rows.length !== 1) return `expected one CSV record, found ${rows.length}`;
      return rows[0] as string[];
    } catch (error) {
      return message(error);
    }
  }

  private toValue(fields: readonly string[]): { value: unknown } | string {
    const columns = this.columns;
    if (columns === undefined) return { value: fields.map(castCsvField) };
    if (fields.length !== columns.length) {
      return `the record has ${fields.length} field${fields.length === 1 ? '' : 's'}, the ${this.format.columns ? 'configured columns are' : 'header has'} ${columns.length}`;
    }
    const value: Record<string, unknown> = {};
    if (this.unsafeColumns) {
      for (let i = 0; i < columns.length; i++) {
        Object.defineProperty(value, columns[i] as string, { value: castCsvField(fields[i] as string), enumerable: true, writable: true, configurable: true });
      }
    } else {
      for (let i = 0; i < columns.length; i++) value[columns[i] as string] = castCsvField(fields[i] as string);
    }
    return { value };
  }
}
