/**
 * The one place that touches @nxtedition/rocksdb (12.2.x, RocksDB 9.7). It uses the
 * binding's synchronous entry points, which are underscore methods outside the
 * abstract-level API; upgrading the binding means re-checking this file (and the
 * options read by its binding.cc):
 *
 *   _getManySync(keys)                  point reads (keyed state access is synchronous)
 *   _chainedBatch() _put _del _merge    a WriteBatch, written with _writeSync()
 *   _iterator({gte, lt, ...})           with _nextvSync(n) / _closeSync()
 *   _clear({gte, lt})                   DeleteRange, synchronous
 *   getProperty(name)                   RocksDB DB properties (rocksdb.sstables, …)
 *
 * Open options (binding.cc InitOptions/db_open): `compaction: 'level'` with
 * `memtableMemoryBudget` B sets write_buffer_size B/4, flushes two memtables at a time,
 * L0 compaction trigger 2, target SST size B/8 and L1 size B, no compression on L0/L1 and
 * ZSTD below; `cacheSize` is the block cache; `mergeOperator: 'stringappend'` is RocksDB's
 * built-in append with ',' as separator (list state appends).
 */
import { createRequire } from 'node:module';

interface RawBatch {
  _put(key: Buffer, value: Buffer, options?: object): void;
  _del(key: Buffer, options?: object): void;
  _merge(key: Buffer, value: Buffer, options?: object): void;
  _writeSync(options?: object): void;
  _closeSync(): void;
}

interface RawIterator {
  _nextvSync(size: number): { rows: Array<Buffer | undefined>; finished: boolean };
  _closeSync(): void;
}

interface RawDb {
  readonly status: string;
  open(options: object): Promise<void>;
  close(): Promise<void>;
  _getManySync(keys: Buffer[], options?: object): Array<Buffer | undefined>;
  _chainedBatch(): RawBatch;
  _iterator(options: object): RawIterator;
  _clear(options: object, callback: (error: Error | null) => void): void;
  getProperty(name: string): string;
}

const require = createRequire(import.meta.url);
type RocksLevelClass = new (location: string, options?: object) => RawDb;
let rocksLevel: RocksLevelClass | undefined;
/**
 * Loaded on first open, not on import: a slot of a job process runs without native
 * addons (Node's permission model refuses to load them), and it must still load the
 * task runtime that imports this module, for jobs whose state lives on the heap.
 */
function loadRocksLevel(): RocksLevelClass {
  rocksLevel ??= (require('@nxtedition/rocksdb') as { RocksLevel: RocksLevelClass }).RocksLevel;
  return rocksLevel;
}

export interface RowScan {
  next(chunk: number): { rows: Array<Buffer | undefined>; finished: boolean };
  close(): void;
}

export interface RocksDbTuning {
  /** RocksDB's memtable budget: write buffers are a quarter of it each (default 64 MiB). */
  readonly memtableBytes?: number;
  /** RocksDB's block cache (default 32 MiB). */
  readonly blockCacheBytes?: number;
  /** RocksDB background threads (default: half the cores, at least one). */
  readonly backgroundThreads?: number;
}

const EMPTY = {};
const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

/** An open RocksDB database with the synchronous operations keyed state needs. */
export class RocksDb {
  private constructor(
    readonly location: string,
    private readonly raw: RawDb,
  ) {}

  static async open(location: string, tuning: RocksDbTuning = {}): Promise<RocksDb> {
    const raw = new (loadRocksLevel())(location, {});
    await raw.open({
      createIfMissing: true,
      compaction: 'level',
      memtableMemoryBudget: tuning.memtableBytes ?? 64 * 1024 * 1024,
      cacheSize: tuning.blockCacheBytes ?? 32 * 1024 * 1024,
      ...(tuning.backgroundThreads !== undefined ? { parallelism: tuning.backgroundThreads } : {}),
      walCompression: false,
      mergeOperator: 'stringappend',
    });
    return new RocksDb(location, raw);
  }

  get isOpen(): boolean {
    return this.raw.status === 'open';
  }

  get(key: Buffer): Buffer | undefined {
    return this.raw._getManySync([key], EMPTY)[0];
  }

  getMany(keys: Buffer[]): Array<Buffer | undefined> {
    return this.raw._getManySync(keys, EMPTY);
  }

  batch(): WriteBatch {
    return new WriteBatch(this.raw._chainedBatch());
  }

  /**
   * Calls `onRow` for every key in [gte, lt) in order, reading `chunk` rows per native
   * call; stops early when `onRow` returns false.
   */
  scan(gte: Buffer, lt: Buffer, onRow: (key: Buffer, value: Buffer) => unknown, options: { fillCache?: boolean; chunk?: number } = {}): void {
    const scan = this.openScan(gte, lt, options);
    try {
      const chunk = options.chunk ?? 1000;
      for (;;) {
        const { rows, finished } = scan.next(chunk);
        for (let i = 0; i < rows.length; i += 2) {
          if (onRow(rows[i] as Buffer, rows[i + 1] as Buffer) === false) return;
        }
        if (finished || rows.length === 0) return;
      }
    } finally {
      scan.close();
    }
  }

  /**
   * An iterator over [gte, lt), read in chunks of rows (key, value, key, value, …). It
   * sees the database as it was when it was opened (RocksDB's implicit snapshot: the
   * binding creates the native iterator here), whatever is written meanwhile; it must be
   * closed before the database is.
   */
  openScan(gte: Buffer, lt: Buffer, options: { fillCache?: boolean } = {}): RowScan {
    const iterator = this.raw._iterator({ gte, lt, ...BUFFERS, fillCache: options.fillCache ?? false });
    return { next: (chunk) => iterator._nextvSync(chunk), close: () => iterator._closeSync() };
  }

  /** RocksDB DeleteRange over [gte, lt), applied at once (not through a batch). */
  deleteRange(gte: Buffer, lt: Buffer): Promise<void> {
    // _clear deletes synchronously and reports through a callback on the next tick.
    return new Promise((resolve, reject) => {
      this.raw._clear({ gte, lt }, (error) => (error ? reject(error) : resolve()));
    });
  }

  property(name: string): string {
    return this.raw.getProperty(name);
  }

  async close(): Promise<void> {
    if (this.raw.status === 'open' || this.raw.status === 'opening') await this.raw.close();
  }
}

export class WriteBatch {
  constructor(private readonly raw: RawBatch) {}
  put(key: Buffer, value: Buffer): void {
    this.raw._put(key, value, EMPTY);
  }
  del(key: Buffer): void {
    this.raw._del(key, EMPTY);
  }
  merge(key: Buffer, value: Buffer): void {
    this.raw._merge(key, value, EMPTY);
  }
  /** Writes the batch atomically (through the WAL, not fsynced) and releases it. */
  commit(): void {
    try {
      this.raw._writeSync(EMPTY);
    } finally {
      this.raw._closeSync();
    }
  }
  discard(): void {
    this.raw._closeSync();
  }
}
