/**
 * The file source and the file sink, through the harnesses: reading files across
 * subtasks, dead letters, snapshot and restore (also at another parallelism),
 * watermarks per file, a large file streamed in chunks; part files, rolling,
 * changelog rows, and what a failure leaves behind.
 *
 * The source reads in the background, so these tests poll it by hand and await
 * whenAvailable() when it has nothing yet; nothing here depends on timing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobConfig, type JobConfig } from '@sluice/graph-model';
import { RowKind, type StreamRecord } from '../src/api/elements.js';
import { FINAL_CHECKPOINT_ID, InputStatus } from '../src/api/operator.js';
import { OneInputHarness, SourceHarness, type HarnessSnapshot } from '../src/harness/harness.js';
import type { OperatorEnv } from '../src/registry.js';
import { castCsvField, RecordSplitter, type RawRecord } from '../src/sources/file-records.js';
import { FileSource, listFiles, type FileDeadLetter, type FileSourceConfig, type FileSourceOptions } from '../src/sources/file-source.js';
import { FileSink, type FileSinkConfig } from '../src/sinks/file-sink.js';

let dir = '';

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-file-io-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function jsonl(records: readonly unknown[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

function env(job: JobConfig = jobConfig.parse({})): OperatorEnv {
  return {
    job,
    fn: () => {
      throw new Error('these tests use no user code');
    },
    collector: () => ({ push() {}, commit() {} }),
    print() {},
  };
}

const NO_WATERMARKS = { strategy: 'none' } as const;

interface Run {
  readonly harness: SourceHarness;
  readonly source: FileSource;
}

function startSource(
  config: FileSourceConfig,
  options: {
    parallelism?: number;
    subtaskIndex?: number;
    restore?: HarnessSnapshot | readonly HarnessSnapshot[];
    job?: JobConfig;
    source?: FileSourceOptions;
  } = {},
): Run {
  const source = new FileSource(config, env(options.job), options.source);
  const harness = new SourceHarness(source, { parallelism: options.parallelism ?? 1, subtaskIndex: options.subtaskIndex ?? 0 });
  harness.open(options.restore);
  return { harness, source };
}

/**
 * Polls until the end of input, awaiting whenAvailable() whenever the source has
 * nothing yet; with `limit`, stops as soon as that many records came out.
 * Returns whether the input ended.
 */
async function drain(run: Run, options: { budget?: number; limit?: number } = {}): Promise<boolean> {
  const { budget = 1000, limit } = options;
  for (let polls = 0; polls < 1_000_000; polls++) {
    const have = run.harness.records().length;
    if (limit !== undefined && have >= limit) return false;
    const status = run.harness.poll(limit === undefined ? budget : Math.min(budget, limit - have));
    if (status === InputStatus.END_OF_INPUT) {
      run.source.finish();
      return true;
    }
    if (status === InputStatus.NOTHING_AVAILABLE) await run.source.whenAvailable();
  }
  throw new Error('the source did not end');
}

async function readAll(config: FileSourceConfig, options: Parameters<typeof startSource>[1] = {}): Promise<Run> {
  const run = startSource(config, options);
  expect(await drain(run)).toBe(true);
  run.harness.close();
  return run;
}

function sortById<T extends { id: unknown }>(values: readonly T[]): T[] {
  return [...values].sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true }));
}

/** Lines `{ id: '<file>-<n>', n, file }` for n = 1..count. */
function lines(file: string, count: number): Array<{ id: string; n: number; file: string }> {
  return Array.from({ length: count }, (_, i) => ({ id: `${file}-${i + 1}`, n: i + 1, file }));
}

describe('file source: reading', () => {
  it('reads JSON lines of every file in name order, split by file across two subtasks, skipping hidden and _ files', async () => {
    const a = lines('a', 5);
    const b = lines('b', 3);
    const c = lines('c', 4);
    const d = lines('d', 2);
    write('c.jsonl', jsonl(c));
    write('a.jsonl', jsonl(a));
    write('b.jsonl', jsonl(b) + '\n\n'); // trailing empty lines are skipped
    write('sub/d.jsonl', jsonl(d).trimEnd()); // no newline at the end
    write('.hidden.jsonl', jsonl(lines('hidden', 2)));
    write('_in-progress.jsonl', jsonl(lines('underscore', 2)));
    write('_tmp/e.jsonl', jsonl(lines('e', 2)));
    expect(listFiles(dir)).toEqual(['a.jsonl', 'b.jsonl', 'c.jsonl', 'sub/d.jsonl']);

    const config: FileSourceConfig = { path: dir, format: 'jsonl', watermarks: NO_WATERMARKS };
    const first = await readAll(config, { parallelism: 2, subtaskIndex: 0 });
    const second = await readAll(config, { parallelism: 2, subtaskIndex: 1 });
    // File i goes to subtask i mod 2; one subtask reads its files in turns, each in order.
    const firstValues = first.harness.values<{ file: string; n: number }>();
    const secondValues = second.harness.values<{ file: string; n: number }>();
    expect(new Set(firstValues.map((v) => v.file))).toEqual(new Set(['a', 'c']));
    expect(new Set(secondValues.map((v) => v.file))).toEqual(new Set(['b', 'd']));
    for (const values of [firstValues, secondValues]) {
      for (const file of ['a', 'b', 'c', 'd']) {
        const ns = values.filter((v) => v.file === file).map((v) => v.n);
        expect(ns).toEqual([...ns].sort((x, y) => x - y));
      }
    }
    expect(sortById([...firstValues, ...secondValues] as typeof a)).toEqual(sortById([...a, ...b, ...c, ...d]));
    expect(first.harness.records().every((r) => r.timestamp === Number.NEGATIVE_INFINITY)).toBe(true);
    expect(first.harness.side('dead-letter')).toEqual([]);
  });

  it('reads a single file given as the path, even one whose name starts with _', async () => {
    const file = write('_only.jsonl', jsonl(lines('x', 3)));
    const run = await readAll({ path: file, format: 'jsonl', watermarks: NO_WATERMARKS });
    expect(run.harness.values()).toEqual(lines('x', 3));
  });

  it('reads CSV with a header across two subtasks: quoted fields, newlines inside quotes, CRLF, numbers cast losslessly', async () => {
    write('1.csv', 'id,name,amount,zip\r\n1,"Smith, Jane",12.5,007\r\n2,"Line one\nline two",-3,01234\r\n');
    write('2.csv', '\uFEFFid,name,amount,zip\n3,"She said ""hi""",1e3,\n\n4,plain,1700000000000,12345\n');
    write('3.csv', 'id,name,amount,zip\n5,"multi\n\nline",0,9\n');
    const config: FileSourceConfig = { path: dir, format: 'csv', csv: { delimiter: ',', header: true }, watermarks: NO_WATERMARKS };
    const first = await readAll(config, { parallelism: 2, subtaskIndex: 0 });
    const second = await readAll(config, { parallelism: 2, subtaskIndex: 1 });
    const all = sortById([...first.harness.values<{ id: number }>(), ...second.harness.values<{ id: number }>()]);
    expect(all).toEqual([
      { id: 1, name: 'Smith, Jane', amount: 12.5, zip: '007' },
      { id: 2, name: 'Line one\nline two', amount: -3, zip: '01234' },
      { id: 3, name: 'She said "hi"', amount: '1e3', zip: '' },
      { id: 4, name: 'plain', amount: 1_700_000_000_000, zip: 12345 },
      { id: 5, name: 'multi\n\nline', amount: 0, zip: 9 },
    ]);
    expect([...first.harness.side('dead-letter'), ...second.harness.side('dead-letter')]).toEqual([]);
  });

  it('reads CSV without a header using configured columns and another delimiter; without columns records are arrays', async () => {
    write('data.csv', 'a;1\nb;2\n');
    const named = await readAll({ path: dir, format: 'csv', csv: { delimiter: ';', header: false, columns: ['key', 'value'] }, watermarks: NO_WATERMARKS });
    expect(named.harness.values()).toEqual([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    const arrays = await readAll({ path: dir, format: 'csv', csv: { delimiter: ';', header: false }, watermarks: NO_WATERMARKS });
    expect(arrays.harness.values()).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('casts only numbers that read back as the same text', () => {
    expect(['42', '-3.5', '0', '1700000000000', '0.1'].map(castCsvField)).toEqual([42, -3.5, 0, 1_700_000_000_000, 0.1]);
    for (const text of ['007', '1e3', '1.50', '+1', '-0', '0x10', '', ' 1', 'NaN', 'Infinity', '12345678901234567890', 'abc']) {
      expect(castCsvField(text)).toBe(text);
    }
  });

  it('fails at open with an error naming a missing path', () => {
    const missing = path.join(dir, 'nope');
    expect(() => startSource({ path: missing, format: 'jsonl' })).toThrow(`'${missing}' does not exist`);
  });

  it('ends at once on a subtask that has no file', async () => {
    write('only.jsonl', jsonl(lines('x', 2)));
    const idle = await readAll({ path: dir, format: 'jsonl', watermarks: NO_WATERMARKS }, { parallelism: 3, subtaskIndex: 2 });
    expect(idle.harness.values()).toEqual([]);
  });
});

describe('file source: bad records', () => {
  it('sends a line that does not parse to the dead-letter output with file and line; everything else arrives', async () => {
    const good = lines('a', 6);
    const text = [JSON.stringify(good[0]), JSON.stringify(good[1]), '{"id": broken', '', JSON.stringify(good[2]), JSON.stringify(good[3])].join('\n');
    write('a.jsonl', text + '\n' + jsonl(good.slice(4)));
    const run = await readAll({ path: dir, format: 'jsonl', watermarks: NO_WATERMARKS });
    expect(run.harness.values()).toEqual(good);
    const letters = run.harness.side<FileDeadLetter>('dead-letter').map((r) => r.value);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ file: path.join(dir, 'a.jsonl'), line: 3, text: '{"id": broken' });
    expect(letters[0]?.error).toMatch(/JSON/);
    expect(run.harness.ctx.metrics.deadLetters).toBe(1);
  });

  it('sends CSV records with the wrong number of fields or broken quotes to the dead-letter output', async () => {
    write('a.csv', 'id,name\n1,one\n2,two,extra\n3,"unclosed\n4,fo"ur\n5,five\n');
    const run = await readAll({ path: dir, format: 'csv', watermarks: NO_WATERMARKS });
    // `3,"unclosed` opens a quoted field; the quote in `fo"ur` closes it, and the record ends at that line.
    expect(run.harness.values()).toEqual([
      { id: 1, name: 'one' },
      { id: 5, name: 'five' },
    ]);
    const letters = run.harness.side<FileDeadLetter>('dead-letter').map((r) => r.value);
    expect(letters.map((l) => l.line)).toEqual([3, 4]);
    expect(letters[0]?.error).toBe('the record has 3 fields, the header has 2');
    expect(letters[1]?.text).toBe('3,"unclosed\n4,fo"ur');
  });

  it('ends a stray quote in an unquoted field at its line', async () => {
    write('a.csv', 'id,name\n1,fo"ur\n2,two\n');
    const run = await readAll({ path: dir, format: 'csv', watermarks: NO_WATERMARKS });
    expect(run.harness.values()).toEqual([{ id: 2, name: 'two' }]);
    expect(run.harness.side<FileDeadLetter>('dead-letter').map((r) => r.value.line)).toEqual([2]);
  });

  it('cuts a record longer than maxRecordBytes into a dead letter and goes on with the next line', async () => {
    const long = JSON.stringify({ id: 'long', pad: 'x'.repeat(500) });
    write('a.jsonl', [JSON.stringify({ id: 1 }), long, JSON.stringify({ id: 2 })].join('\n') + '\n');
    write('b.csv', 'id,text\n1,"' + 'y'.repeat(300) + '\n2,short\n');
    const options = { source: { maxRecordBytes: 100, chunkBytes: 32 } };
    const json = await readAll({ path: path.join(dir, 'a.jsonl'), format: 'jsonl', watermarks: NO_WATERMARKS }, options);
    expect(json.harness.values()).toEqual([{ id: 1 }, { id: 2 }]);
    expect(json.harness.side<FileDeadLetter>('dead-letter').map((r) => r.value)).toEqual([
      { file: path.join(dir, 'a.jsonl'), line: 2, error: 'record longer than 100 bytes', text: long },
    ]);
    // An unclosed quote costs at most one cut record: it ends at the first newline past the limit.
    const csv = await readAll({ path: path.join(dir, 'b.csv'), format: 'csv', watermarks: NO_WATERMARKS }, options);
    expect(csv.harness.values()).toEqual([{ id: 2, text: 'short' }]);
    expect(csv.harness.side<FileDeadLetter>('dead-letter').map((r) => r.value.line)).toEqual([2]);
  });

  it('sends a record without a valid timestamp to the dead-letter output when watermarks are on', async () => {
    write('a.jsonl', jsonl([{ id: 1, timestamp: 1000 }, { id: 2 }, { id: 3, timestamp: 'yesterday-ish' }, { id: 4, timestamp: '2024-01-01T00:00:00Z' }]));
    const run = await readAll({ path: dir, format: 'jsonl', watermarks: { strategy: 'bounded-out-of-orderness', maxOutOfOrdernessMs: 0 } });
    expect(run.harness.records().map((r) => [r.value, r.timestamp])).toEqual([
      [{ id: 1, timestamp: 1000 }, 1000],
      [{ id: 4, timestamp: '2024-01-01T00:00:00Z' }, Date.parse('2024-01-01T00:00:00Z')],
    ]);
    const letters = run.harness.side<FileDeadLetter>('dead-letter').map((r) => r.value);
    expect(letters.map((l) => l.line)).toEqual([2, 3]);
    expect(letters[0]?.error).toMatch(/^no valid event time: field 'timestamp' gave nothing/);
  });
});

describe('file source: snapshot and restore', () => {
  const CHUNKY: FileSourceOptions = { chunkBytes: 16, queueItems: 4, queueBytes: 64, maxOpenFiles: 2 };

  function writeInputs(): void {
    write('a.jsonl', jsonl(lines('a', 17)));
    write('b.jsonl', jsonl(lines('b', 4)));
    write('c.jsonl', jsonl(lines('c', 9)));
    write('d.csv', 'id,n\n' + Array.from({ length: 6 }, (_, i) => `d-${i + 1},${i + 1}`).join('\n') + '\n');
  }

  interface Output {
    readonly values: unknown[];
    readonly letters: unknown[];
  }

  function outputOf(...runs: Run[]): Output {
    return {
      values: runs.flatMap((r) => r.harness.values()),
      letters: runs.flatMap((r) => r.harness.side('dead-letter').map((l) => l.value)),
    };
  }

  async function uninterrupted(config: FileSourceConfig, options: FileSourceOptions): Promise<Output> {
    return outputOf(await readAll(config, { source: options }));
  }

  /** Reads `stopAfter` records, snapshots, closes; restores into a fresh source and reads the rest. */
  async function interrupted(config: FileSourceConfig, options: FileSourceOptions, stopAfter: number): Promise<Output> {
    const before = startSource(config, { source: options });
    expect(await drain(before, { limit: stopAfter, budget: 3 })).toBe(false);
    const snapshot = before.harness.snapshot();
    before.harness.close();
    expect(snapshot.operatorState?.mode).toBe('split');
    // The state is plain data: it survives a round trip through JSON.
    const restored = JSON.parse(JSON.stringify(snapshot)) as HarnessSnapshot;
    const after = startSource(config, { source: options, restore: restored });
    expect(await drain(after)).toBe(true);
    return outputOf(before, after);
  }

  it('continues exactly where the snapshot was taken: concatenated output equals an uninterrupted run', async () => {
    writeInputs();
    const config: FileSourceConfig = { path: dir, format: 'jsonl', watermarks: NO_WATERMARKS };
    // d.csv is not JSON: its lines are dead letters here, which the restore must not repeat either.
    const expected = await uninterrupted(config, CHUNKY);
    expect(expected.values).toHaveLength(17 + 4 + 9);
    expect(expected.letters).toHaveLength(7);
    for (const stopAfter of [1, 2, 5, 8, 13, 21, 29]) {
      expect(await interrupted(config, CHUNKY, stopAfter)).toEqual(expected);
    }
  });

  it('restores a CSV file mid-way with its header columns from the state', async () => {
    writeInputs();
    const config: FileSourceConfig = { path: path.join(dir, 'd.csv'), format: 'csv', watermarks: NO_WATERMARKS };
    const expected = await uninterrupted(config, CHUNKY);
    expect(expected.values).toEqual(Array.from({ length: 6 }, (_, i) => ({ id: `d-${i + 1}`, n: i + 1 })));
    for (const stopAfter of [1, 3, 5]) expect(await interrupted(config, CHUNKY, stopAfter)).toEqual(expected);
  });

  it('restores the state of two subtasks into one: every line exactly once', async () => {
    writeInputs();
    fs.rmSync(path.join(dir, 'd.csv'));
    write('e.jsonl', jsonl(lines('e', 11)));
    const config: FileSourceConfig = { path: dir, format: 'jsonl', watermarks: NO_WATERMARKS };
    const all = [...lines('a', 17), ...lines('b', 4), ...lines('c', 9), ...lines('e', 11)];
    const first = startSource(config, { parallelism: 2, subtaskIndex: 0, source: CHUNKY });
    const second = startSource(config, { parallelism: 2, subtaskIndex: 1, source: CHUNKY });
    await drain(first, { limit: 7, budget: 2 });
    await drain(second, { limit: 3, budget: 2 });
    const snapshots = [first.harness.snapshot(), second.harness.snapshot()];
    first.harness.close();
    second.harness.close();
    const merged = startSource(config, { parallelism: 1, subtaskIndex: 0, source: CHUNKY, restore: snapshots });
    expect(await drain(merged)).toBe(true);
    const values = [...first.harness.values(), ...second.harness.values(), ...merged.harness.values()] as typeof all;
    expect(values).toHaveLength(all.length);
    expect(sortById(values)).toEqual(sortById(all));
    // Within a file the order is kept across the restore.
    for (const file of ['a', 'b', 'c', 'e']) {
      const ns = values.filter((v) => v.file === file).map((v) => v.n);
      expect(ns).toEqual([...ns].sort((x, y) => x - y));
    }
  });

  it('restores an empty state as done, and does not read a file that was finished before the snapshot', async () => {
    write('a.jsonl', jsonl(lines('a', 2)));
    write('b.jsonl', jsonl(lines('b', 30)));
    const config: FileSourceConfig = { path: dir, format: 'jsonl', watermarks: NO_WATERMARKS };
    const before = startSource(config, { source: { maxOpenFiles: 1 } });
    await drain(before, { limit: 4 });
    const snapshot = before.harness.snapshot();
    before.harness.close();
    expect(snapshot.operatorState?.entries.map((e) => (e as { file: string }).file)).toEqual(['b.jsonl']);
    const after = await readAll(config, { restore: snapshot });
    expect([...before.harness.values(), ...after.harness.values()]).toEqual([...lines('a', 2), ...lines('b', 30)]);
    const done = await readAll(config, { restore: { operatorState: { mode: 'split', entries: [] }, keyedState: undefined } });
    expect(done.harness.values()).toEqual([]);
  });
});

describe('file source: watermarks', () => {
  const punctuated = jobConfig.parse({ watermarks: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 0, emit: { mode: 'punctuated', everyRecords: 1 } } });

  it('holds the watermark at the minimum over unfinished files and releases a finished file', async () => {
    write('a.jsonl', jsonl([1000, 2000, 3000, 4000, 5000].map((timestamp) => ({ f: 'a', timestamp }))));
    write('b.jsonl', jsonl([100, 200].map((timestamp) => ({ f: 'b', timestamp }))));
    const run = await readAll({ path: dir, format: 'jsonl' }, { job: punctuated });
    const trace = run.harness.output.elements.map((e) => (e.type === 'record' ? `r${e.timestamp}` : e.type === 'watermark' ? `w${e.watermark}` : `idle:${e.idle}`));
    // Turns alternate a, b; b's last record is at 200, and once b is found finished only a counts.
    expect(trace).toEqual(['r1000', 'r100', 'w99', 'r2000', 'r200', 'w199', 'r3000', 'r4000', 'w3999', 'r5000', 'w4999']);
  });

  it('lets a file not opened yet hold the watermark back', async () => {
    write('a.jsonl', jsonl([1000, 2000, 3000].map((timestamp) => ({ timestamp }))));
    write('b.jsonl', jsonl([10, 20].map((timestamp) => ({ timestamp }))));
    const run = await readAll({ path: dir, format: 'jsonl', watermarks: { maxOutOfOrdernessMs: 5 } }, { job: punctuated, source: { maxOpenFiles: 1 } });
    // b waits for a's end; until then it holds the watermark at its minimum.
    expect(run.harness.watermarks()).toEqual([4, 14]);
  });

  it('emits periodic watermarks at the job interval of processing time', async () => {
    write('a.jsonl', jsonl([1000, 2000, 3000, 4000, 5000].map((timestamp) => ({ timestamp }))));
    const run = startSource({ path: dir, format: 'jsonl' });
    await drain(run, { limit: 3 });
    expect(run.harness.watermarks()).toEqual([]); // the first poll came before any record
    run.harness.setProcessingTime(199);
    await drain(run, { limit: 4 });
    expect(run.harness.watermarks()).toEqual([]);
    run.harness.setProcessingTime(200);
    await drain(run, { limit: 5 });
    expect(run.harness.watermarks()).toEqual([3999]);
    expect(await drain(run)).toBe(true);
    run.harness.close();
  });
});

describe('file source: large files', () => {
  it('streams a 50 MB file in chunks', async () => {
    const file = path.join(dir, 'big.jsonl');
    const fd = fs.openSync(file, 'w');
    const pad = 'p'.repeat(60);
    let count = 0;
    let size = 0;
    while (size < 50 * 1024 * 1024) {
      let batch = '';
      for (let i = 0; i < 10_000; i++) batch += `{"id":${count++},"timestamp":${1_700_000_000_000 + count},"pad":"${pad}"}\n`;
      size += fs.writeSync(fd, batch);
    }
    fs.closeSync(fd);
    const run = startSource({ path: file, format: 'jsonl' });
    let seen = 0;
    let last = -1;
    let ordered = true;
    for (;;) {
      const status = run.harness.poll(5000);
      for (const element of run.harness.output.elements) {
        if (element.type !== 'record') continue;
        const id = (element.value as { id: number }).id;
        if (id !== last + 1) ordered = false;
        last = id;
        seen++;
      }
      run.harness.output.clear();
      if (status === InputStatus.END_OF_INPUT) break;
      if (status === InputStatus.NOTHING_AVAILABLE) await run.source.whenAvailable();
    }
    run.harness.close();
    expect(seen).toBe(count);
    expect(ordered).toBe(true);
    expect(run.harness.ctx.metrics.deadLetters).toBe(0);
  });
});

describe('record splitter', () => {
  const CSV = Buffer.from('h1,h2\r\n"a\nb",1\n\n"x""y",2\nplain,"q,""\n"""\n3,"\u00e9\u20ac"\nlast,row');

  function split(bytes: Buffer, chunk: number, offset = 0, line = 1): RawRecord[] {
    const splitter = new RecordSplitter(offset, line, Buffer.from(','), 1_000_000);
    const out: RawRecord[] = [];
    for (let i = offset; i < bytes.length; i += chunk) splitter.push(bytes.subarray(i, Math.min(bytes.length, i + chunk)), out);
    splitter.end(out);
    return out;
  }

  it('finds the same CSV records however the file is cut into chunks, and from any record boundary', () => {
    const whole = split(CSV, CSV.length);
    expect(whole.map((r) => r.text)).toEqual(['h1,h2', '"a\nb",1', '', '"x""y",2', 'plain,"q,""\n"""', '3,"\u00e9\u20ac"', 'last,row']);
    expect(whole.map((r) => r.line)).toEqual([1, 2, 4, 5, 6, 8, 9]);
    expect(whole.at(-1)?.end).toBe(CSV.length);
    for (let chunk = 1; chunk <= 12; chunk++) expect(split(CSV, chunk)).toEqual(whole);
    for (let k = 1; k < whole.length; k++) {
      const from = whole[k - 1] as RawRecord;
      for (const chunk of [1, 3, 64]) expect(split(CSV, chunk, from.end, from.nextLine)).toEqual(whole.slice(k));
    }
  });
});

describe('file sink', () => {
  function sink(config: Partial<FileSinkConfig> = {}, subtaskIndex = 0): OneInputHarness {
    const harness = new OneInputHarness(new FileSink({ path: path.join(dir, 'out'), format: 'jsonl', semantics: 'at-least-once', ...config }), {
      subtaskIndex,
      parallelism: subtaskIndex + 1,
    });
    harness.open();
    return harness;
  }

  function outFiles(): string[] {
    return fs.readdirSync(path.join(dir, 'out')).sort();
  }

  function read(name: string): string {
    return fs.readFileSync(path.join(dir, 'out', name), 'utf8');
  }

  it('writes JSON lines, rolls by maxRecords and finalizes the last part at finish', () => {
    const h = sink({ rolling: { maxRecords: 2 } });
    for (let id = 1; id <= 5; id++) h.processElement({ id, name: `n${id}` }, id);
    expect(outFiles()).toEqual(['.part-0-2.inprogress', 'part-0-0.jsonl', 'part-0-1.jsonl']);
    h.endInput();
    h.close();
    expect(outFiles()).toEqual(['part-0-0.jsonl', 'part-0-1.jsonl', 'part-0-2.jsonl']);
    expect(read('part-0-0.jsonl')).toBe('{"id":1,"name":"n1"}\n{"id":2,"name":"n2"}\n');
    expect(read('part-0-2.jsonl')).toBe('{"id":5,"name":"n5"}\n');
  });

  it('writes CSV with the first record\'s fields as header and a wider header in a new part when a field appears', () => {
    const h = sink({ format: 'csv' });
    h.processElement({ id: 1, name: 'Smith, Jane', ok: true, tags: ['a', 'b'] });
    h.processElement({ name: 'second', id: 2, ok: null });
    h.processElement({ id: 3, name: 'third', ok: false, tags: [], extra: 'x' });
    h.endInput();
    h.close();
    expect(outFiles()).toEqual(['part-0-0.csv', 'part-0-1.csv']);
    expect(read('part-0-0.csv')).toBe('id,name,ok,tags\n1,"Smith, Jane",true,"[""a"",""b""]"\n2,second,,\n');
    expect(read('part-0-1.csv')).toBe('id,name,ok,tags,extra\n3,third,false,[],x\n');
  });

  it('writes changelog rows with op: JSON lines only on non-inserts, CSV as the first column', () => {
    const rows: Array<[unknown, RowKind]> = [
      [{ k: 'a', n: 1 }, RowKind.INSERT],
      [{ k: 'a', n: 1 }, RowKind.UPDATE_BEFORE],
      [{ k: 'a', n: 2 }, RowKind.UPDATE_AFTER],
      [{ k: 'a', n: 2 }, RowKind.DELETE],
    ];
    const json = sink();
    for (const [value, kind] of rows) json.processElement(value, 0, kind);
    json.endInput();
    json.close();
    expect(read('part-0-0.jsonl')).toBe('{"k":"a","n":1}\n{"op":"-U","k":"a","n":1}\n{"op":"+U","k":"a","n":2}\n{"op":"-D","k":"a","n":2}\n');

    fs.rmSync(path.join(dir, 'out'), { recursive: true });
    const csv = sink({ format: 'csv' });
    for (const [value, kind] of rows) csv.processElement(value, 0, kind);
    csv.processElement({ k: 'b', n: 3 }, 0, RowKind.INSERT);
    csv.endInput();
    csv.close();
    // The first file saw inserts only; the first changelog row starts a file with an op column.
    expect(read('part-0-0.csv')).toBe('k,n\na,1\n');
    expect(read('part-0-1.csv')).toBe('op,k,n\n-U,a,1\n+U,a,2\n-D,a,2\n+I,b,3\n');
  });

  it('removes a part that reached no checkpoint when the task fails (closed without finish)', () => {
    const h = sink({ format: 'csv' }, 1);
    h.processElement({ id: 1 });
    h.processElement({ id: 2 });
    h.close();
    expect(outFiles()).toEqual([]);
  });

  it('finalizes on a checkpoint barrier, rolls on inactivity and rollover by processing time, and flushes periodically', () => {
    const h = sink({ rolling: { inactivityIntervalMs: 1000, rolloverIntervalMs: 5000 } });
    h.processElement({ id: 1 });
    h.snapshot(1);
    expect(outFiles()).toEqual(['part-0-0.jsonl']);
    h.processElement({ id: 2 });
    expect(read('.part-0-1.inprogress')).toBe('');
    h.setProcessingTime(200);
    expect(read('.part-0-1.inprogress')).toBe('{"id":2}\n'); // the periodic flush
    h.setProcessingTime(1000);
    expect(outFiles()).toEqual(['part-0-0.jsonl', 'part-0-1.jsonl']); // inactive for 1 s
    for (let t = 1500; t <= 6500; t += 500) {
      h.setProcessingTime(t);
      h.processElement({ id: t });
    }
    // Opened at 1500 and written every 500 ms, never inactive: rolled over at 6500, before that record.
    expect(outFiles()).toEqual(['.part-0-3.inprogress', 'part-0-0.jsonl', 'part-0-1.jsonl', 'part-0-2.jsonl']);
    expect(read('part-0-2.jsonl').trim().split('\n')).toHaveLength(10);
    h.endInput();
    h.close();
    expect(outFiles()).toEqual(['part-0-0.jsonl', 'part-0-1.jsonl', 'part-0-2.jsonl', 'part-0-3.jsonl']);
  });

  it('never overwrites: part numbers continue after the files already there', () => {
    const first = sink();
    first.processElement({ run: 1 });
    first.endInput();
    first.close();
    const second = sink();
    second.processElement({ run: 2 });
    second.endInput();
    second.close();
    expect(outFiles()).toEqual(['part-0-0.jsonl', 'part-0-1.jsonl']);
    expect(read('part-0-1.jsonl')).toBe('{"run":2}\n');
  });

  function exactlyOnce(config: Partial<FileSinkConfig> = {}, restore?: HarnessSnapshot): OneInputHarness {
    const op = new FileSink({ path: path.join(dir, 'out'), format: 'jsonl', semantics: 'exactly-once', ...config }, { checkpointing: true });
    return new OneInputHarness(op).open(restore);
  }

  it('exactly-once: a part stays hidden until the checkpoint after it completes', () => {
    const h = exactlyOnce();
    h.processElement({ id: 1 });
    h.snapshot(1);
    expect(outFiles()).toEqual(['.part-0-0.inprogress']);
    h.processElement({ id: 2 });
    h.notifyCheckpointComplete(1);
    expect(outFiles()).toEqual(['.part-0-1.inprogress', 'part-0-0.jsonl']);
    expect(read('part-0-0.jsonl')).toBe('{"id":1}\n');
    h.endInput();
    expect(outFiles()).toEqual(['part-0-0.jsonl', 'part-0-1.jsonl']);
  });

  it('exactly-once: at the end of input the last part stays hidden until the whole job has ended', () => {
    const op = new FileSink({ path: path.join(dir, 'out'), format: 'jsonl', semantics: 'exactly-once' }, { checkpointing: true });
    const h = new OneInputHarness(op).open();
    h.processElement({ id: 1 });
    h.endInput(false);
    // Another subtask may still fail, and the replay would write this part again.
    expect(outFiles()).toEqual(['.part-0-0.inprogress']);
    expect(op.hasPendingCommits()).toBe(true);
    h.notifyCheckpointComplete(FINAL_CHECKPOINT_ID);
    expect(outFiles()).toEqual(['part-0-0.jsonl']);
    expect(op.hasPendingCommits()).toBe(false);
  });

  it('exactly-once: parts of an aborted checkpoint are committed with the next completed one', () => {
    const h = exactlyOnce({ rolling: { maxRecords: 1 } });
    h.processElement({ id: 1 });
    h.snapshot(1);
    h.processElement({ id: 2 });
    h.snapshot(2);
    expect(outFiles()).toEqual(['.part-0-0.inprogress', '.part-0-1.inprogress']);
    h.notifyCheckpointComplete(2);
    expect(outFiles()).toEqual(['part-0-0.jsonl', 'part-0-1.jsonl']);
  });

  it('exactly-once: after a failure, the restored pending parts are committed once, and records after the checkpoint are not', () => {
    const first = exactlyOnce();
    first.processElement({ id: 1 });
    const state = first.snapshot(1);
    first.processElement({ id: 2 }); // after the checkpoint: will be replayed
    first.close(); // the failure, before the checkpoint-complete notification
    expect(outFiles()).toEqual(['.part-0-0.inprogress']);
    const second = exactlyOnce({}, state);
    expect(outFiles()).toEqual(['part-0-0.jsonl']);
    // A commit that already happened before the failure is recognised and left alone.
    const third = exactlyOnce({}, state);
    third.close();
    second.processElement({ id: 2 });
    second.endInput();
    const committed = outFiles().filter((f) => !f.startsWith('.')).flatMap((f) => read(f).trim().split('\n'));
    expect(committed.sort()).toEqual(['{"id":1}', '{"id":2}']);
  });

  it('exactly-once: a pending part that vanished is an error naming the file', () => {
    const first = exactlyOnce();
    first.processElement({ id: 1 });
    const state = first.snapshot(1);
    first.close();
    fs.rmSync(path.join(dir, 'out', '.part-0-0.inprogress'));
    expect(() => exactlyOnce({}, state)).toThrow(/cannot commit .*part-0-0\.jsonl: neither it nor its pending file .*\.part-0-0\.inprogress exists/);
  });

  it('writes what the file source reads back', async () => {
    const records: Array<StreamRecord<unknown>> = [];
    const h = sink({ format: 'csv', rolling: { maxRecords: 3 } });
    for (let id = 0; id < 10; id++) {
      const value = { id, name: `name, ${id}`, note: id % 2 === 0 ? 'line\nbreak' : '"quoted"' };
      records.push({ value, timestamp: id, kind: RowKind.INSERT });
      h.processElement(value, id);
    }
    h.endInput();
    h.close();
    const run = await readAll({ path: path.join(dir, 'out'), format: 'csv', watermarks: NO_WATERMARKS });
    expect(sortById(run.harness.values<{ id: number }>())).toEqual(records.map((r) => r.value));
  });
});
