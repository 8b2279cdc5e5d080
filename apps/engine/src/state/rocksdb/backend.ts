/**
 * Keyed state in RocksDB, with the heap backend's semantics (HeapKeyedStateBackend in
 * @sluice/operators): the same handles, TTL rules, namespace merging, canonical
 * snapshots and key-group restore, so a savepoint moves between the two backends.
 * State larger than memory works: memory is bounded by the write buffer, the read
 * cache and RocksDB's memtables and block cache, not by the number of keys (timers stay
 * on the heap, as Flink's HEAP timer option for RocksDB).
 *
 * State handles are synchronous (operators call them inline). An access goes
 *
 *   write buffer (dirty entries, encoded) ─miss─▶ read cache (LRU, bytes) ─miss─▶ RocksDB _getManySync
 *
 * and writes collect in the write buffer, written as one synchronous WriteBatch when it
 * passes `writeBufferBytes`, before any scan (map iteration, namespaces, keys, snapshot)
 * and before every checkpoint. Values are stored encoded, so what a handle returns is a
 * copy: as with Flink's RocksDB backend, changing a returned object changes nothing until
 * it is written back with update()/put().
 *
 * Layout (format.ts): one RocksDB key per (key group, state, key, namespace) cell;
 * map state keeps one RocksDB key per map entry (point access without reading the whole
 * map); list state appends with RocksDB's merge operator (no read, no rewrite). TTL of
 * lists and maps is per element and per entry (Flink's TtlListState / TtlMapState), so
 * neither needs a read to add or put. Differences from the heap backend, all in iteration order only: keys(),
 * namespacesOfCurrentKey(), map entries and snapshot contents come in key-byte order,
 * not insertion order.
 *
 * Thread: one subtask's loop, like every keyed backend. Not safe for concurrent use.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  HeapTimerService,
  inspectionOf,
  VOID_NAMESPACE,
  inRange,
  keyGroupOf,
  type AggregateFunction,
  type AggregatingState,
  type Key,
  type KeyGroupRange,
  type KeyInspection,
  type KeyedSnapshotRun,
  type KeyedStateBackend,
  type KeyedStateSnapshot,
  type ListState,
  type MapState,
  type Namespace,
  type ProcessingTimeService,
  type ReducingState,
  type StateDescriptor,
  type StateFor,
  type StateTtl,
  type TimerSnapshot,
  type Triggerable,
  type ValueState,
} from '@sluice/operators';
import { fsyncPath } from '../../runtime/state-files.js';
import { RocksDb, type RocksDbTuning } from './binding.js';
import {
  EXPIRING,
  MAP_ENTRY_SUFFIX,
  MAP_HEADER_SUFFIX_FORMAT1,
  MAP_TAG,
  META_FORMAT,
  META_PREFIX,
  META_STATE,
  READABLE_FORMAT_VERSIONS,
  ROCKSDB_FORMAT_VERSION,
  appendList,
  cellExpiry,
  cellValueOffset,
  decodeAtom,
  decodeList,
  encodeAtom,
  encodeCell,
  encodeExpiringFrame,
  encodeList,
  encodeListFrame,
  encodePlainCell,
  encodePlainList,
  encodeTtlList,
  groupStatePrefix,
  joinFrames,
  keyGroupPrefix,
  packr,
  parseKey,
  prefixEnd,
  toBytes,
  toPlain,
  unpackPlain,
  unpackValue,
  upgradeListFormat1,
  withExpiry,
  withoutExpiry,
  type BinaryKey,
} from './format.js';
import {
  NATIVE_HANDLE_FORMAT,
  TIMERS_FILE,
  copyPrefix,
  linkOrCopy,
  linkOrCopySync,
  materialize,
  newInstanceId,
  newestOptions,
  parseSstables,
  quiescentFiles,
  sha256File,
  sha256Of,
  sstName,
  verifyNativeHandle,
  writeDurably,
  type NativeCheckpointHandle,
  type NativeFile,
  type SharedNativeFile,
} from './native.js';

export interface RocksDBBackendOptions {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  /** Processing time, for TTL. */
  readonly now: () => number;
  /**
   * A local directory this backend owns: the database lives in `<dir>/db`, checkpoint
   * staging and restore scratch space next to it. Its content is replaced by open() and
   * restoreNative(). Put it on the file system of the checkpoint storage so that files
   * are hard-linked, not copied.
   */
  readonly workingDirectory: string;
  /** Buffered writes are written to RocksDB as one batch past this size (default 4 MiB). */
  readonly writeBufferBytes?: number;
  /** Size of the read cache of encoded values (default 16 MiB; 0 disables it). */
  readonly readCacheBytes?: number;
  readonly rocksdb?: RocksDbTuning;
  /** How long a native checkpoint waits for RocksDB's background work to pause before closing and reopening the database instead (default 1000 ms). */
  readonly checkpointIdleWaitMs?: number;
  /** A WAL larger than this is turned into an SST before a native checkpoint (default 4 MiB). */
  readonly walFlushBytes?: number;
  /** How restoreNative verifies files: size and SHA-256 (default) or size only. */
  readonly verifyOnRestore?: 'sha256' | 'size';
  /**
   * Whether a native checkpoint fsyncs the files it writes and their directories (default
   * true). False in a job process, which Node's permission model may not let sync: the
   * engine syncs what the handle lists when it takes the acknowledgement.
   */
  readonly syncFiles?: boolean;
}

type Kind = StateDescriptor['kind'];

/** How a state is registered in the database (metadata key `0xFFFF state:<name>`, JSON). */
interface StoredState {
  readonly id: number;
  kind: Kind;
  ttlMs?: number | undefined;
  /** Restored from a snapshot without a descriptor: kept as plain snapshot values until registered. */
  opaque?: boolean | undefined;
}

/** One registered or restored state. */
class StateInfo {
  descriptor: StateDescriptor | undefined;
  handle: unknown;
  /** The last cell key built, and the key group and key+namespace it was built from. */
  lastCell: BinaryKey = '';
  lastKeyGroup = -1;
  lastKeyNs: BinaryKey | undefined;
  private readonly prefixes: Array<BinaryKey | undefined> = [];

  constructor(
    readonly name: string,
    public stored: StoredState,
  ) {}

  get id(): number {
    return this.stored.id;
  }

  prefix(keyGroup: number): BinaryKey {
    return (this.prefixes[keyGroup] ??= groupStatePrefix(keyGroup, this.stored.id));
  }

  get layout(): 'cell' | 'list' | 'map' {
    if (this.stored.opaque === true) return 'cell';
    return this.stored.kind === 'list' ? 'list' : this.stored.kind === 'map' ? 'map' : 'cell';
  }

  /** TTL as the registered descriptor says (restored but unregistered state has none, as on the heap). */
  get ttl(): StateTtl | undefined {
    return this.descriptor?.ttl;
  }

  /** Whether the TTL applies per list element / map entry rather than to the whole value. */
  get perEntry(): boolean {
    return this.layout !== 'cell';
  }
}

/** Pending list append: `base` undefined means unknown (written as a merge). */
class Append {
  constructor(
    public base: Buffer | null | undefined,
    readonly frames: Buffer[],
  ) {}
  bytes(): number {
    let n = this.base?.length ?? 0;
    for (const f of this.frames) n += f.length + 1;
    return n;
  }
  combined(): Buffer {
    return appendList(this.base ?? undefined, joinFrames(this.frames));
  }
}

type Dirty = Buffer | null | Append;

/**
 * The read cache: encoded values (null: known absent) in two generations, an approximate
 * LRU in O(1). A hit in the old generation moves the entry to the young one; when the
 * young generation holds half the capacity it becomes the old one and the old one is
 * dropped. (A Map used as an LRU, evicting through keys().next(), slows to O(n) per
 * eviction in V8 once deletions pile up at its front.)
 */
class ReadCache {
  private young = new Map<BinaryKey, Buffer | null>();
  private old = new Map<BinaryKey, Buffer | null>();
  private youngBytes = 0;
  private oldBytes = 0;

  constructor(private readonly capacity: number) {}

  get bytes(): number {
    return this.youngBytes + this.oldBytes;
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: BinaryKey): Buffer | null | undefined {
    const young = this.young.get(key);
    if (young !== undefined) return young;
    const old = this.old.get(key);
    if (old === undefined) return undefined;
    this.old.delete(key);
    this.oldBytes -= weight(key, old);
    this.insert(key, old);
    return old;
  }

  set(key: BinaryKey, value: Buffer | null): void {
    this.delete(key);
    if (this.capacity > 0) this.insert(key, value);
  }

  delete(key: BinaryKey): void {
    const young = this.young.get(key);
    if (young !== undefined) {
      this.young.delete(key);
      this.youngBytes -= weight(key, young);
    }
    const old = this.old.get(key);
    if (old !== undefined) {
      this.old.delete(key);
      this.oldBytes -= weight(key, old);
    }
  }

  private insert(key: BinaryKey, value: Buffer | null): void {
    this.young.set(key, value);
    this.youngBytes += weight(key, value);
    if (this.youngBytes > this.capacity / 2) {
      this.old = this.young;
      this.oldBytes = this.youngBytes;
      this.young = new Map();
      this.youngBytes = 0;
    }
  }
}

function weight(key: BinaryKey, value: Buffer | null): number {
  return key.length + ENTRY_OVERHEAD + (value?.length ?? 0);
}

/** A cell found by a scan: a value/list row, or a map's entry rows. */
interface ScannedCell {
  readonly state: StateInfo;
  readonly keyGroup: number;
  /** The first row's key; key atom at 4, namespace atom at namespaceStart. */
  readonly key: Buffer;
  readonly namespaceStart: number;
  readonly cellEnd: number;
  /** Value or list bytes (cell and list layouts). */
  readonly value: Buffer | undefined;
  /** Map layout: [row key, value] per entry, in key order. */
  readonly entries: Array<[Buffer, Buffer]>;
  /** Every RocksDB key of the cell (for deletion). */
  readonly rows: Buffer[];
}

/**
 * Groups scanned rows into cells (a map's header and entries are one cell), in key order.
 * Rows of unknown states are an error: the registry is loaded before any scan.
 */
class CellGrouper {
  private pending: ScannedCell | undefined;
  private pendingCell = '';

  constructor(
    private readonly byId: ReadonlyArray<StateInfo | undefined>,
    private readonly onCell: (cell: ScannedCell) => void,
  ) {}

  row(key: Buffer, value: Buffer): void {
    const parsed = parseKey(key);
    const state = this.byId[parsed.stateId];
    if (!state) throw new Error(`RocksDB state has rows of unknown state id ${parsed.stateId} (damaged database?)`);
    if (state.layout !== 'map') {
      this.end();
      this.onCell({ state, keyGroup: parsed.keyGroup, key, namespaceStart: parsed.namespaceStart, cellEnd: parsed.cellEnd, value, entries: [], rows: [key] });
      return;
    }
    const cell = key.toString('latin1', 0, parsed.cellEnd);
    if (cell !== this.pendingCell) {
      this.end();
      this.pendingCell = cell;
      this.pending = { state, keyGroup: parsed.keyGroup, key, namespaceStart: parsed.namespaceStart, cellEnd: parsed.cellEnd, value: undefined, entries: [], rows: [] };
    }
    const pending = this.pending as ScannedCell;
    pending.rows.push(key);
    pending.entries.push([key, value]);
  }

  /** Hands over the cell still being collected. */
  end(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.pendingCell = '';
    if (pending && (pending.state.layout !== 'map' || pending.entries.length > 0)) this.onCell(pending);
  }
}

/** Canonical snapshot under construction: key group → state → namespace (as bytes) → [namespace, entries]. */
type CanonicalGroups = Map<number, Map<string, Map<BinaryKey, [Namespace, Array<readonly [Key, unknown]>]>>>;

/** Rows a snapshot's asynchronous part reads between two looks at the clock. */
const SNAPSHOT_SCAN_CHUNK = 256;

const ENTRY_OVERHEAD = 48;

/** Polling RocksDB's background work: 1 ms at first, then 10 ms. */
function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, attempt < 20 ? 1 : 10));
}
const MB = 1024 * 1024;

const HEADER_BYTE_FORMAT1 = MAP_HEADER_SUFFIX_FORMAT1.charCodeAt(0);

/** An expiry of undefined (stored without one) never passes. */
function alive(expiry: number | undefined, now: number): boolean {
  return expiry === undefined || expiry > now;
}

/**
 * A stored TTL list without its elements expired at `now`: the same bytes when none
 * expired, undefined when all did.
 */
function liveListBytes(bytes: Buffer, now: number): Buffer | undefined {
  const { elements, expiries } = decodeList(bytes, true);
  if (expiries === undefined) return bytes;
  const keep: number[] = [];
  expiries.forEach((x, i) => {
    if (x > now) keep.push(i);
  });
  if (keep.length === expiries.length) return bytes;
  if (keep.length === 0) return undefined;
  return encodePlainList(
    keep.map((i) => elements[i]),
    keep.map((i) => expiries[i] as number),
  );
}

/** Whether a scanned cell holds anything alive at `now`: its value, or one list element or map entry. */
function cellAlive(cell: ScannedCell, now: number): boolean {
  switch (cell.state.layout) {
    case 'cell':
      return alive(cellExpiry(cell.value as Buffer), now);
    case 'list': {
      const { expiries } = decodeList(cell.value as Buffer, true);
      return expiries === undefined || expiries.some((x) => x > now);
    }
    case 'map':
      return cell.entries.some(([, value]) => alive(cellExpiry(value), now));
  }
}

/** Merges two values of a state the way the heap backend does (mergeNamespaces). */
function mergeValues(descriptor: StateDescriptor, a: unknown, b: unknown): unknown {
  switch (descriptor.kind) {
    case 'list':
      return [...(a as unknown[]), ...(b as unknown[])];
    case 'reducing':
      return descriptor.reduce(a, b);
    case 'aggregating': {
      if (!descriptor.aggregate.merge) throw new Error(`state '${descriptor.name}' cannot be merged: its aggregate function has no merge`);
      return descriptor.aggregate.merge(a, b);
    }
    case 'map':
      return new Map([...(a as Map<unknown, unknown>), ...(b as Map<unknown, unknown>)]);
    case 'value':
      return b;
  }
}

function isWrapper(value: unknown): value is { v: unknown; x: number } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'x' in value && 'v' in value && typeof (value as { x: unknown }).x === 'number';
}

function isTaggedMap(value: unknown): value is Record<typeof MAP_TAG, Array<[unknown, unknown]>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && MAP_TAG in value && Array.isArray((value as Record<string, unknown>)[MAP_TAG]);
}

/** What captureNative() took; persist() writes it out as a checkpoint. */
export interface NativeCapture {
  readonly mode: 'hot' | 'cold';
  readonly flushedWal: boolean;
  readonly captureMs: number;
  /** Persists the captured files (may run while the subtask processes again). */
  persist(privateDir: string, sharedDir: string): Promise<NativeCheckpointHandle>;
  /** Drops the capture without persisting it. */
  discard(): Promise<void>;
}

interface Staged {
  readonly dir: string;
  readonly ssts: Array<{ localName: string; bytes: number }>;
  /** Append-only files and the length to copy. */
  readonly prefixes: Array<{ name: string; bytes: number }>;
  /** Small files read at the capture. */
  readonly contents: Array<{ name: string; data: Buffer }>;
}

export class RocksDBKeyedStateBackend implements KeyedStateBackend {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  readonly workingDirectory: string;
  private readonly now: () => number;
  private readonly dbDir: string;
  private readonly writeBufferBytes: number;
  private readonly tuning: RocksDbTuning;
  private readonly idleWaitMs: number;
  private readonly walFlushBytes: number;
  private readonly verifyMode: 'sha256' | 'size';

  private db: RocksDb | undefined;
  private readonly states = new Map<string, StateInfo>();
  private byId: Array<StateInfo | undefined> = [];
  /** The canonical snapshot being built in steps (beginSnapshot), if any. */
  private snapshotRun: (KeyedSnapshotRun & { abandon(): void }) | undefined;
  private nextStateId = 1;

  private currentKey: Key | undefined;
  private currentNamespace: Namespace = VOID_NAMESPACE;
  private encodedKey: Key | undefined;
  private keyGroup = 0;
  private keyEnc: BinaryKey = '';
  private encodedNamespace: Namespace | undefined;
  private keyNs: BinaryKey = '';
  private nsEnc: BinaryKey = '';

  private readonly dirty = new Map<BinaryKey, Dirty>();
  private dirtyBytes = 0;
  private readonly cache: ReadCache;

  private timerService: HeapTimerService | undefined;
  private pendingTimers: TimerSnapshot[] = [];

  /** Prefix of the shared files this database instance adds; new after every restore. */
  private instanceId = newInstanceId();
  /** Local SST name → its shared file (inherited from a restored checkpoint or uploaded before). */
  private readonly sharedFiles = new Map<string, { name: string; bytes: number; sha256: string }>();
  private stagingSeq = 0;
  private capturing = false;
  private readonly syncFiles: boolean;

  constructor(options: RocksDBBackendOptions) {
    this.maxParallelism = options.maxParallelism;
    this.keyGroupRange = options.keyGroupRange;
    this.now = options.now;
    this.workingDirectory = options.workingDirectory;
    this.dbDir = join(options.workingDirectory, 'db');
    this.writeBufferBytes = options.writeBufferBytes ?? 4 * MB;
    this.cache = new ReadCache(options.readCacheBytes ?? 16 * MB);
    this.tuning = options.rocksdb ?? {};
    this.idleWaitMs = options.checkpointIdleWaitMs ?? 1000;
    this.walFlushBytes = options.walFlushBytes ?? 4 * MB;
    this.verifyMode = options.verifyOnRestore ?? 'sha256';
    this.syncFiles = options.syncFiles !== false;
    if (options.maxParallelism > 0x8000) throw new Error(`maxParallelism ${options.maxParallelism} is above 32768, the most key groups the RocksDB key layout holds`);
  }

  // --- lifecycle ---------------------------------------------------------------------

  /** Opens an empty database in the working directory (anything there before is removed). */
  async open(): Promise<void> {
    if (this.db) throw new Error('the RocksDB state backend is already open');
    await rm(this.workingDirectory, { recursive: true, force: true });
    await mkdir(this.workingDirectory, { recursive: true });
    this.db = await RocksDb.open(this.dbDir, this.tuning);
    this.writeFormat();
    this.flush();
  }

  /** Writes buffered state and closes the database; the working directory stays. */
  async close(): Promise<void> {
    if (!this.db) return;
    this.snapshotRun?.abandon();
    try {
      this.flush();
    } finally {
      const db = this.db;
      this.db = undefined;
      await db.close();
      this.timerService?.close();
    }
  }

  /** Closes the database and removes the working directory. */
  async dispose(): Promise<void> {
    await this.close();
    await rm(this.workingDirectory, { recursive: true, force: true });
  }

  private get rdb(): RocksDb {
    const db = this.db;
    if (!db) throw new Error(this.capturing ? 'the RocksDB state backend is taking a native checkpoint: no state access until captureNative() resolved' : 'the RocksDB state backend is not open (call open() or restoreNative() first)');
    return db;
  }

  // --- current key and namespace -------------------------------------------------------

  setCurrentKey(key: Key): void {
    this.currentKey = key;
  }

  getCurrentKey(): Key {
    if (this.currentKey === undefined) throw new Error('no current key: keyed state is only available while processing a keyed record or timer');
    return this.currentKey;
  }

  setCurrentNamespace(namespace: Namespace): void {
    this.currentNamespace = namespace;
  }

  getCurrentNamespace(): Namespace {
    return this.currentNamespace;
  }

  private encodeCurrentKey(): void {
    const key = this.currentKey;
    if (key === undefined) {
      this.getCurrentKey();
      return;
    }
    let changed = false;
    if (key !== this.encodedKey) {
      this.encodedKey = key;
      this.keyGroup = keyGroupOf(key, this.maxParallelism);
      this.keyEnc = encodeAtom(key);
      changed = true;
    }
    if (this.currentNamespace !== this.encodedNamespace) {
      this.encodedNamespace = this.currentNamespace;
      this.nsEnc = encodeAtom(this.currentNamespace);
      changed = true;
    }
    if (changed) this.keyNs = this.keyEnc + this.nsEnc;
  }

  /** @internal The RocksDB key of a state's cell for the current key and namespace. */
  cellKey(state: StateInfo): BinaryKey {
    this.encodeCurrentKey();
    // A record usually reads and then writes the same cell: reuse the (already hashed) key string.
    if (state.lastKeyNs === this.keyNs && state.lastKeyGroup === this.keyGroup) return state.lastCell;
    state.lastKeyNs = this.keyNs;
    state.lastKeyGroup = this.keyGroup;
    state.lastCell = state.prefix(this.keyGroup) + this.keyNs;
    return state.lastCell;
  }

  /** @internal The cell key for the current key under another namespace. */
  cellKeyIn(state: StateInfo, namespace: Namespace): BinaryKey {
    this.encodeCurrentKey();
    return state.prefix(this.keyGroup) + this.keyEnc + encodeAtom(namespace);
  }

  /** @internal */
  nowMs(): number {
    return this.now();
  }

  // --- state registration ------------------------------------------------------------

  getState<D extends StateDescriptor>(descriptor: D): StateFor<D> {
    let state = this.states.get(descriptor.name);
    if (state?.descriptor) {
      if (state.descriptor.kind !== descriptor.kind) {
        throw new Error(`state '${descriptor.name}' is already registered as ${state.descriptor.kind} state, not ${descriptor.kind}`);
      }
      return state.handle as StateFor<D>;
    }
    if (!state) {
      state = this.addState(descriptor.name, { id: this.nextStateId, kind: descriptor.kind, ttlMs: descriptor.ttl?.ttlMs });
    } else if (state.stored.opaque === true) {
      this.convertOpaque(state, descriptor);
    } else if (state.stored.kind !== descriptor.kind) {
      throw new Error(`state '${descriptor.name}' holds ${state.stored.kind} state (restored), not ${descriptor.kind}`);
    } else if ((state.stored.ttlMs !== undefined) !== (descriptor.ttl !== undefined)) {
      this.changeTtl(state, descriptor.ttl);
    }
    if (state.stored.ttlMs !== descriptor.ttl?.ttlMs) {
      state.stored.ttlMs = descriptor.ttl?.ttlMs;
      this.writeStateMeta(state);
    }
    state.descriptor = descriptor;
    state.handle = this.createHandle(state, descriptor);
    return state.handle as StateFor<D>;
  }

  private addState(name: string, stored: StoredState): StateInfo {
    if (stored.id > 0xffff) throw new Error('too many keyed states for the RocksDB key layout (65535)');
    const state = new StateInfo(name, stored);
    this.states.set(name, state);
    this.byId[stored.id] = state;
    this.nextStateId = Math.max(this.nextStateId, stored.id + 1);
    this.writeStateMeta(state);
    return state;
  }

  private writeStateMeta(state: StateInfo): void {
    const { id, kind, ttlMs, opaque } = state.stored;
    this.write(META_STATE + Buffer.from(state.name, 'utf8').toString('latin1'), Buffer.from(JSON.stringify({ id, kind, ...(ttlMs !== undefined ? { ttlMs } : {}), ...(opaque === true ? { opaque } : {}) })));
  }

  private writeFormat(): void {
    this.write(META_FORMAT, Buffer.from(JSON.stringify({ formatVersion: ROCKSDB_FORMAT_VERSION, maxParallelism: this.maxParallelism })));
  }

  /** Reads the format and the state registry of an opened database. */
  private loadMeta(db: RocksDb, where: string): { states: Map<string, StoredState>; formatVersion: number } {
    const found = new Map<string, StoredState>();
    let format: { formatVersion?: unknown; maxParallelism?: unknown } | undefined;
    db.scan(toBytes(META_PREFIX), toBytes(prefixEnd(META_PREFIX)), (key, value) => {
      const name = key.toString('latin1');
      if (name === META_FORMAT) format = JSON.parse(value.toString('utf8')) as typeof format;
      else if (name.startsWith(META_STATE)) found.set(key.subarray(META_STATE.length).toString('utf8'), JSON.parse(value.toString('utf8')) as StoredState);
    });
    if (!format) throw new Error(`${where} is not a Sluice RocksDB state database (no format record)`);
    const formatVersion = format.formatVersion;
    if (typeof formatVersion !== 'number' || !READABLE_FORMAT_VERSIONS.includes(formatVersion)) {
      throw new Error(`${where} holds RocksDB state format ${String(formatVersion)}; this Sluice reads formats ${READABLE_FORMAT_VERSIONS.join(' and ')}`);
    }
    if (format.maxParallelism !== this.maxParallelism) {
      throw new Error(
        `cannot restore state taken with maxParallelism ${String(format.maxParallelism)} into a job with maxParallelism ${this.maxParallelism}: the number of key groups must stay the same`,
      );
    }
    return { states: found, formatVersion };
  }

  /**
   * Rewrites format-1 TTL lists and maps of this database in format 2: the expiry a whole
   * list or map had (a list's expiry frame, a map's header row) goes to each element and
   * entry. Found by content, so rows already in format 2 (after a partial run, or copied
   * from a format-2 checkpoint) are left alone.
   */
  private upgradeFormat1(): void {
    for (const state of this.states.values()) {
      if (state.stored.opaque === true) continue;
      if (state.layout === 'list') {
        this.scanState(state, (key, value) => {
          const upgraded = upgradeListFormat1(value);
          if (upgraded) this.write(key.toString('latin1'), upgraded);
        });
      } else if (state.layout === 'map') {
        let headerCell = '';
        let expiry = 0;
        this.scanState(state, (key, value) => {
          const parsed = parseKey(key);
          const cell = key.toString('latin1', 0, parsed.cellEnd);
          if (key[parsed.cellEnd] === HEADER_BYTE_FORMAT1) {
            headerCell = cell;
            expiry = cellExpiry(value) ?? Number.POSITIVE_INFINITY;
            this.write(key.toString('latin1'), null);
          } else if (cell === headerCell && Number.isFinite(expiry) && value[0] !== EXPIRING) {
            this.write(key.toString('latin1'), withExpiry(value, expiry));
          }
        });
      }
    }
    this.writeFormat();
    this.flush();
  }

  private createHandle(state: StateInfo, descriptor: StateDescriptor): unknown {
    switch (descriptor.kind) {
      case 'value':
        return new RocksValueState(this, state);
      case 'list':
        return new RocksListState(this, state);
      case 'map':
        return new RocksMapState(this, state);
      case 'reducing':
        return new RocksReducingState(this, state, descriptor.reduce);
      case 'aggregating':
        return new RocksAggregatingState(this, state, descriptor.aggregate);
    }
  }

  /** A state restored without a descriptor is rewritten in its kind's layout once registered. */
  private convertOpaque(state: StateInfo, descriptor: StateDescriptor): void {
    state.stored = { id: state.id, kind: descriptor.kind, ttlMs: descriptor.ttl?.ttlMs };
    this.writeStateMeta(state);
    const rows: Array<[Buffer, Buffer]> = [];
    this.scanState(state, (key, value) => {
      rows.push([key, value]);
    });
    const ttl = descriptor.ttl !== undefined;
    for (const [key, value] of rows) {
      const cell = key.toString('latin1');
      this.remove(cell);
      this.writeCanonical(state, cell, unpackPlain(value, 1), ttl);
    }
    this.flush();
  }

  /**
   * A state registered with a TTL where it had none (or the reverse): each value, list
   * element and map entry gets an expiry of now + TTL (or loses its expiry), as on the heap.
   */
  private changeTtl(state: StateInfo, ttl: StateTtl | undefined): void {
    const expiry = ttl ? this.now() + ttl.ttlMs : 0;
    const rewrites: Array<[BinaryKey, Buffer]> = [];
    this.scanState(state, (key, value) => {
      if (state.layout !== 'list') {
        if (ttl && value[0] !== EXPIRING) rewrites.push([key.toString('latin1'), withExpiry(value, expiry)]);
        else if (!ttl && value[0] === EXPIRING) rewrites.push([key.toString('latin1'), withoutExpiry(value)]);
        return;
      }
      const { elements, expiries } = decodeList(value, true);
      if (ttl) rewrites.push([key.toString('latin1'), encodePlainList(elements, expiries?.map((x) => (Number.isFinite(x) ? x : expiry)) ?? elements.map(() => expiry))]);
      else if (expiries) rewrites.push([key.toString('latin1'), encodePlainList(elements)]);
    });
    for (const [key, value] of rewrites) this.write(key, value);
    this.flush();
  }

  // --- write buffer and read cache ------------------------------------------------------

  /** @internal Reads a key: write buffer, then read cache, then RocksDB. null when absent. */
  read(key: BinaryKey): Buffer | null {
    const dirty = this.dirty.get(key);
    if (dirty !== undefined) {
      if (dirty instanceof Append) return this.resolveAppend(key, dirty);
      return dirty;
    }
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const value = this.rdb.get(toBytes(key)) ?? null;
    this.cache.set(key, value);
    return value;
  }

  private committed(key: BinaryKey): Buffer | null {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    return this.rdb.get(toBytes(key)) ?? null;
  }

  private resolveAppend(key: BinaryKey, append: Append): Buffer {
    if (append.base === undefined) append.base = this.committed(key);
    const combined = append.combined();
    this.setDirty(key, combined);
    return combined;
  }

  private setDirty(key: BinaryKey, value: Dirty): void {
    const previous = this.dirty.get(key);
    if (previous === undefined) this.dirtyBytes += key.length + ENTRY_OVERHEAD;
    else this.dirtyBytes -= previous === null ? 0 : previous instanceof Append ? previous.bytes() : previous.length;
    this.dirtyBytes += value === null ? 0 : value instanceof Append ? value.bytes() : value.length;
    this.dirty.set(key, value);
  }

  /** @internal Buffers a put (or a delete with null). */
  write(key: BinaryKey, value: Buffer | null): void {
    this.setDirty(key, value);
    if (this.dirtyBytes > this.writeBufferBytes) this.flush();
  }

  /** @internal Buffers a delete, skipped when the key is known to be absent. */
  remove(key: BinaryKey): void {
    const dirty = this.dirty.get(key);
    if (dirty === null) return;
    if (dirty === undefined && this.cache.get(key) === null) return;
    this.write(key, null);
  }

  /** @internal Appends list frames (joined) without reading the list. */
  append(key: BinaryKey, operand: Buffer): void {
    const dirty = this.dirty.get(key);
    if (dirty === undefined) {
      const cached = this.cache.get(key);
      if (cached !== undefined) this.cache.delete(key);
      this.setDirty(key, new Append(cached === null ? null : undefined, [operand]));
    } else if (dirty instanceof Append) {
      dirty.frames.push(operand);
      this.dirtyBytes += operand.length + 1;
    } else {
      this.setDirty(key, new Append(dirty, [operand]));
    }
    if (this.dirtyBytes > this.writeBufferBytes) this.flush();
  }

  /** Writes every buffered change to RocksDB in one batch. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const batch = this.rdb.batch();
    const settled: Array<[BinaryKey, Buffer | null | undefined]> = [];
    try {
      for (const [key, value] of this.dirty) {
        const bytes = toBytes(key);
        if (value === null) {
          batch.del(bytes);
          settled.push([key, null]);
        } else if (value instanceof Append) {
          if (value.base === undefined) {
            batch.merge(bytes, joinFrames(value.frames));
            settled.push([key, undefined]);
          } else {
            const combined = value.combined();
            batch.put(bytes, combined);
            settled.push([key, combined]);
          }
        } else {
          batch.put(bytes, value);
          settled.push([key, value]);
        }
      }
    } catch (error) {
      batch.discard();
      throw error;
    }
    batch.commit();
    this.dirty.clear();
    this.dirtyBytes = 0;
    for (const [key, value] of settled) {
      if (value === undefined) this.cache.delete(key);
      else this.cache.set(key, value);
    }
  }

  /** @internal Every row whose key starts with `prefix`, after writing buffered changes. */
  scanPrefix(prefix: BinaryKey, onRow: (key: Buffer, value: Buffer) => unknown, fillCache = true): void {
    this.flush();
    this.rdb.scan(toBytes(prefix), toBytes(prefixEnd(prefix)), onRow, { fillCache, chunk: 256 });
  }

  private scanState(state: StateInfo, onRow: (key: Buffer, value: Buffer) => void): void {
    this.flush();
    for (let kg = this.keyGroupRange.start; kg <= this.keyGroupRange.end; kg++) {
      const prefix = state.prefix(kg);
      this.rdb.scan(toBytes(prefix), toBytes(prefixEnd(prefix)), onRow);
    }
  }

  /**
   * Scans [gte, lt) and groups rows into cells (a map's header and entries are one cell).
   * Rows of unknown states are an error: the registry is loaded before any scan.
   */
  private scanCells(gte: BinaryKey, lt: BinaryKey, onCell: (cell: ScannedCell) => void, fillCache = false): void {
    this.flush();
    const cells = new CellGrouper(this.byId, onCell);
    this.rdb.scan(toBytes(gte), toBytes(lt), (key, value) => cells.row(key, value), { fillCache });
    cells.end();
  }

  private scanCellsOf(state: StateInfo, onCell: (cell: ScannedCell) => void): void {
    for (let kg = this.keyGroupRange.start; kg <= this.keyGroupRange.end; kg++) {
      const prefix = state.prefix(kg);
      this.scanCells(prefix, prefixEnd(prefix), onCell);
    }
  }

  private rangeStart(): BinaryKey {
    return keyGroupPrefix(this.keyGroupRange.start);
  }

  private rangeEnd(): BinaryKey {
    return keyGroupPrefix(this.keyGroupRange.end + 1);
  }

  // --- values of scanned cells ---------------------------------------------------------

  /**
   * The value as a handle returns it (live form: Maps are Maps). With `now`, expired list
   * elements and map entries are left out, and undefined means none is alive.
   */
  private liveValue(cell: ScannedCell, now?: number): unknown {
    switch (cell.state.layout) {
      case 'cell': {
        const v = cell.value as Buffer;
        return unpackValue(v, cellValueOffset(v));
      }
      case 'list': {
        const { elements, expiries } = decodeList(cell.value as Buffer, false);
        if (now === undefined || expiries === undefined) return elements;
        const live = elements.filter((_, i) => (expiries[i] as number) > now);
        return live.length > 0 ? live : undefined;
      }
      case 'map': {
        const out = new Map<string | number, unknown>();
        for (const [key, value] of cell.entries) {
          if (now === undefined || alive(cellExpiry(value), now)) out.set(decodeAtom(key, cell.cellEnd + 1).value, unpackValue(value, cellValueOffset(value)));
        }
        return now !== undefined && out.size === 0 ? undefined : out;
      }
    }
  }

  /**
   * The value in the canonical snapshot form (plain data): `{ v, x }` around a value, a
   * list element or a map entry stored with an expiry. With `now`, expired list elements
   * and map entries are left out, and undefined means none is alive.
   */
  private canonicalValue(cell: ScannedCell, now?: number): unknown {
    switch (cell.state.layout) {
      case 'cell': {
        const v = cell.value as Buffer;
        const inner = toPlain(unpackPlain(v, cellValueOffset(v)));
        const expiry = cellExpiry(v);
        return expiry === undefined ? inner : { v: inner, x: expiry };
      }
      case 'list': {
        const { elements, expiries } = decodeList(cell.value as Buffer, true);
        const out: unknown[] = [];
        elements.forEach((element, i) => {
          const x = expiries?.[i] ?? Number.POSITIVE_INFINITY;
          if (now !== undefined && x <= now) return;
          out.push(Number.isFinite(x) ? { v: toPlain(element), x } : toPlain(element));
        });
        return now !== undefined && out.length === 0 ? undefined : out;
      }
      case 'map': {
        const out: Array<[string | number, unknown]> = [];
        for (const [key, value] of cell.entries) {
          const x = cellExpiry(value);
          if (now !== undefined && !alive(x, now)) continue;
          const v = toPlain(unpackPlain(value, cellValueOffset(value)));
          out.push([decodeAtom(key, cell.cellEnd + 1).value, x === undefined ? v : { v, x }]);
        }
        return now !== undefined && out.length === 0 ? undefined : { [MAP_TAG]: out };
      }
    }
  }

  /**
   * Writes one cell from its canonical value; `ttl` says whether values carry `{ v, x }`
   * (undefined: unknown, as the state says). TTL lists and maps come in format 2 (a
   * `{ v, x }` per element / entry) or format 1 (one around the whole list / map, whose
   * expiry every element / entry then gets).
   */
  private writeCanonical(state: StateInfo, cell: BinaryKey, value: unknown, ttl: boolean | undefined): void {
    const wrapped = ttl === true || (ttl === undefined && state.stored.ttlMs !== undefined);
    // A registered state keeps its own TTL whatever the snapshot had (as on the heap): an
    // expiry missing in the snapshot starts now, one the state no longer has is dropped.
    const keep = state.descriptor ? state.descriptor.ttl !== undefined : wrapped;
    const start = keep ? this.now() + (state.stored.ttlMs ?? 0) : 0;
    const expiryOf = (x: number | undefined): number | undefined => (keep ? (x ?? start) : undefined);
    switch (state.layout) {
      case 'cell':
        if (wrapped && isWrapper(value)) this.write(cell, encodePlainCell(value.v, expiryOf(value.x)));
        else this.write(cell, encodePlainCell(value, expiryOf(undefined)));
        return;
      case 'list': {
        const format1 = wrapped && isWrapper(value) && Array.isArray(value.v) ? value : undefined;
        const elements: unknown = format1 ? format1.v : value;
        if (!Array.isArray(elements)) throw new Error(`cannot restore list state '${state.name}': a value is not a list`);
        if (elements.length === 0) return;
        const plain = wrapped && !format1 ? elements.map((e: unknown) => (isWrapper(e) ? e.v : e)) : elements;
        if (!keep) {
          this.write(cell, encodePlainList(plain));
          return;
        }
        const expiries = elements.map((e: unknown) => expiryOf(format1 ? format1.x : wrapped && isWrapper(e) ? e.x : undefined) as number);
        this.write(cell, encodePlainList(plain, expiries));
        return;
      }
      case 'map': {
        const format1 = wrapped && isWrapper(value) && isTaggedMap(value.v) ? value : undefined;
        const inner: unknown = format1 ? format1.v : value;
        if (!isTaggedMap(inner)) throw new Error(`cannot restore map state '${state.name}': a value is not a map`);
        for (const [userKey, v] of inner[MAP_TAG]) {
          if (typeof userKey !== 'string' && typeof userKey !== 'number') throw new Error(`cannot restore map state '${state.name}': map keys must be strings or numbers`);
          const entry = wrapped && !format1 && isWrapper(v) ? v : undefined;
          this.write(cell + MAP_ENTRY_SUFFIX + encodeAtom(userKey), encodePlainCell(entry ? entry.v : v, expiryOf(format1 ? format1.x : entry?.x)));
        }
        return;
      }
    }
  }

  // --- KeyedStateBackend queries -------------------------------------------------------

  keys(stateName: string, namespace: Namespace): Key[] {
    const state = this.states.get(stateName);
    if (!state) return [];
    const ttl = state.ttl;
    const now = ttl ? this.now() : 0;
    const nsEnc = encodeAtom(namespace);
    const out: Key[] = [];
    this.scanCellsOf(state, (cell) => {
      if (cell.key.toString('latin1', cell.namespaceStart, cell.cellEnd) !== nsEnc) return;
      if (ttl && !cellAlive(cell, now)) return;
      out.push(decodeAtom(cell.key, 4).value);
    });
    return out;
  }

  namespacesOfCurrentKey(stateName: string): Namespace[] {
    const state = this.states.get(stateName);
    if (!state) return [];
    this.encodeCurrentKey();
    const prefix = state.prefix(this.keyGroup) + this.keyEnc;
    const out: Namespace[] = [];
    let last = '';
    const nsStart = prefix.length;
    const map = state.layout === 'map';
    this.scanPrefix(prefix, (key) => {
      const decoded = decodeAtom(key, nsStart);
      if (map && key[decoded.end] !== 0x01) return;
      const ns = key.toString('latin1', nsStart, decoded.end);
      if (ns === last) return;
      last = ns;
      out.push(decoded.value);
    });
    return out;
  }

  mergeNamespaces(stateName: string, target: Namespace, sources: readonly Namespace[]): void {
    const state = this.states.get(stateName);
    const descriptor = state?.descriptor;
    if (!state || !descriptor) return;
    this.getCurrentKey();
    const ttl = descriptor.ttl;
    const now = ttl ? this.now() : 0;
    // Lists and maps move as stored bytes (elements and entries keep their own expiry,
    // expired ones are dropped); other values are merged by the state's function.
    let mergedList: Buffer | undefined;
    const mergedMap = new Map<BinaryKey, Buffer>();
    const acc: { merged: unknown; has: boolean } = { merged: undefined, has: false };
    const take = (ns: Namespace) => {
      const cell = this.cellKeyIn(state, ns);
      if (state.layout === 'map') {
        const rows: BinaryKey[] = [];
        this.scanPrefix(cell, (key, v) => {
          rows.push(key.toString('latin1'));
          if (key[cell.length] !== 0x01) return;
          if (ttl && !alive(cellExpiry(v), now)) return;
          mergedMap.set(key.toString('latin1', cell.length + 1), v);
        });
        for (const row of rows) this.remove(row);
        return;
      }
      const bytes = this.read(cell);
      if (bytes === null) return;
      this.remove(cell);
      if (state.layout === 'list') {
        const live = ttl ? liveListBytes(bytes, now) : bytes;
        if (live !== undefined) mergedList = mergedList === undefined ? live : appendList(mergedList, live);
        return;
      }
      const value = unpackValue(bytes, cellValueOffset(bytes));
      acc.merged = acc.has ? mergeValues(descriptor, acc.merged, value) : value;
      acc.has = true;
    };
    take(target);
    for (const ns of sources) if (ns !== target) take(ns);
    const cell = this.cellKeyIn(state, target);
    switch (state.layout) {
      case 'cell':
        if (acc.has) this.write(cell, encodeCell(acc.merged, ttl ? now + ttl.ttlMs : undefined));
        break;
      case 'list':
        if (mergedList !== undefined) this.write(cell, mergedList);
        break;
      case 'map':
        for (const [userKey, v] of mergedMap) this.write(cell + MAP_ENTRY_SUFFIX + userKey, v);
        break;
    }
  }

  /**
   * Entries without a scan, for the per-second state limit check: RocksDB's estimate
   * (rocksdb.estimate-num-keys: one per value, list and map entry) or the write buffer's
   * entries, whichever is larger. Either is a lower bound (the buffer may update keys
   * already in RocksDB), so no job fails for state it does not hold.
   */
  stateEntries(): number {
    const estimate = Number(this.db?.property('rocksdb.estimate-num-keys') ?? 0);
    return Math.max(Number.isFinite(estimate) ? estimate : 0, this.dirty.size);
  }

  /** Counts every (state, key, namespace) cell and the distinct keys: a full scan (memory bounded by the largest key group). */
  size(): { entries: number; keys: number } {
    let entries = 0;
    let keys = 0;
    let group = -1;
    let groupKeys = new Set<string>();
    this.scanCells(this.rangeStart(), this.rangeEnd(), (cell) => {
      if (cell.keyGroup !== group) {
        keys += groupKeys.size;
        groupKeys = new Set<string>();
        group = cell.keyGroup;
      }
      entries++;
      groupKeys.add(cell.key.toString('latin1', 4, cell.namespaceStart));
    });
    return { entries, keys: keys + groupKeys.size };
  }

  /** All state of one key, for the state inspector: state → namespace → value (as the heap backend). */
  describeKey(key: Key): Record<string, Array<{ namespace: Namespace; value: unknown }>> {
    const out: Record<string, Array<{ namespace: Namespace; value: unknown }>> = {};
    const now = this.now();
    const keyGroup = keyGroupOf(key, this.maxParallelism);
    const keyEnc = encodeAtom(key);
    for (const state of this.states.values()) {
      const values: Array<{ namespace: Namespace; value: unknown }> = [];
      const prefix = state.prefix(keyGroup) + keyEnc;
      this.scanCells(
        prefix,
        prefixEnd(prefix),
        (cell) => {
          let value: unknown;
          if (!state.descriptor) value = this.canonicalValue(cell);
          else if (!state.ttl) value = toPlain(this.liveValue(cell));
          else if (state.perEntry) {
            const live = this.liveValue(cell, now);
            if (live === undefined) return;
            value = toPlain(live);
          } else {
            if (!alive(cellExpiry(cell.value as Buffer), now)) return;
            value = toPlain(this.liveValue(cell));
          }
          values.push({ namespace: decodeAtom(cell.key, cell.namespaceStart).value, value });
        },
        true,
      );
      if (values.length > 0) out[state.name] = values;
    }
    return out;
  }

  // --- timers --------------------------------------------------------------------------

  /**
   * A canonical snapshot (savepoints, full checkpoints) built in steps while records go
   * on: at the barrier, pending writes are flushed, timers copied and an iterator opened
   * over this backend's key groups; RocksDB's implicit snapshot keeps what the iterator
   * reads as of that moment. Expired entries are left out but not removed (as Flink's
   * cleanup in full snapshots). Only one runs at a time; closing the backend or
   * capturing a native checkpoint finishes or drops it first (the iterator pins the
   * database's files).
   */
  beginSnapshot(): KeyedSnapshotRun {
    this.finishSnapshotRun();
    this.flush();
    const now = this.now();
    const groups: CanonicalGroups = new Map();
    const timers = this.allTimers();
    const descriptors = this.stateDescriptors();
    const scan = this.rdb.openScan(toBytes(this.rangeStart()), toBytes(this.rangeEnd()));
    const cells = new CellGrouper(this.byId, (cell) => this.collectCell(groups, cell, now));
    let result: KeyedStateSnapshot | undefined;
    const close = () => {
      if (this.snapshotRun === run) this.snapshotRun = undefined;
      scan.close();
    };
    const run: KeyedSnapshotRun & { abandon(): void } = {
      step: (deadline) => {
        if (result) return true;
        try {
          for (;;) {
            const { rows, finished } = scan.next(SNAPSHOT_SCAN_CHUNK);
            for (let i = 0; i < rows.length; i += 2) cells.row(rows[i] as Buffer, rows[i + 1] as Buffer);
            if (finished || rows.length === 0) break;
            if (performance.now() >= deadline) return false;
          }
          cells.end();
        } catch (error) {
          close();
          throw error;
        }
        close();
        result = this.assemble(groups, timers, descriptors);
        return true;
      },
      result: () => {
        if (!result) throw new Error('the snapshot is not finished: call step() until it returns true');
        return result;
      },
      abandon: () => {
        if (!result) close();
      },
    };
    this.snapshotRun = run;
    return run;
  }

  /** A running canonical snapshot is finished at once (it must not outlive the state it reads). */
  private finishSnapshotRun(): void {
    const run = this.snapshotRun;
    if (run) while (!run.step(Number.POSITIVE_INFINITY));
  }

  inspectKey(key: Key): KeyInspection {
    const kindOf = (name: string) => {
      const state = this.states.get(name);
      return state?.descriptor?.kind ?? state?.stored.kind;
    };
    return inspectionOf(this.describeKey(key), kindOf, this.timerService?.timersOf(key));
  }

  /** The operator's timer service; timers live on the heap and are checkpointed with this backend's state. */
  createTimerService(target: Triggerable, processingTime: ProcessingTimeService): HeapTimerService {
    if (this.timerService) throw new Error('this keyed backend already has a timer service');
    this.timerService = new HeapTimerService(this, target, processingTime);
    this.timerService.restoreTimers(this.pendingTimers, this.keyGroupRange, this.maxParallelism);
    this.pendingTimers = [];
    return this.timerService;
  }

  private allTimers(): TimerSnapshot[] {
    if (!this.timerService) return [...this.pendingTimers];
    return [...this.timerService.snapshotTimers(this.maxParallelism).values()].flat();
  }

  private restoreTimerList(timers: readonly TimerSnapshot[]): void {
    if (this.timerService) this.timerService.restoreTimers(timers, this.keyGroupRange, this.maxParallelism);
    else for (const t of timers) if (inRange(this.keyGroupRange, keyGroupOf(t.key, this.maxParallelism))) this.pendingTimers.push(t);
  }

  // --- canonical snapshots ---------------------------------------------------------------

  /**
   * The canonical snapshot (the heap backend's format, for savepoints and for moving
   * between backends). Expired TTL values are removed, as on the heap. Holds the whole
   * state in memory: incremental checkpoints use checkpointNative().
   */
  snapshot(): KeyedStateSnapshot {
    const now = this.now();
    const groups: CanonicalGroups = new Map();
    const expired: Buffer[] = [];
    const rewritten: Array<[Buffer, Buffer]> = [];
    this.scanCells(this.rangeStart(), this.rangeEnd(), (cell) => this.collectCell(groups, cell, now, { expired, rewritten }));
    for (const key of expired) this.remove(key.toString('latin1'));
    for (const [key, bytes] of rewritten) this.write(key.toString('latin1'), bytes);
    this.flush();
    return this.assemble(groups, this.allTimers(), this.stateDescriptors());
  }

  /**
   * Adds a scanned cell to a canonical snapshot. Expired values, list elements and map
   * entries are not carried into it; with `cleanup` they are also noted for removal.
   */
  private collectCell(groups: CanonicalGroups, cell: ScannedCell, now: number, cleanup?: { expired: Buffer[]; rewritten: Array<[Buffer, Buffer]> }): void {
    let value: unknown;
    if (!cell.state.ttl) value = this.canonicalValue(cell);
    else if (cell.state.layout === 'cell') {
      if (!alive(cellExpiry(cell.value as Buffer), now)) {
        cleanup?.expired.push(...cell.rows);
        return;
      }
      value = this.canonicalValue(cell);
    } else {
      value = this.canonicalValue(cell, now);
      if (cleanup && cell.state.layout === 'map') {
        for (const [row, v] of cell.entries) if (!alive(cellExpiry(v), now)) cleanup.expired.push(row);
      } else if (cleanup) {
        const live = liveListBytes(cell.value as Buffer, now);
        if (live === undefined) cleanup.expired.push(cell.key);
        else if (live !== cell.value) cleanup.rewritten.push([cell.key, live]);
      }
      if (value === undefined) return;
    }
    let states = groups.get(cell.keyGroup);
    if (!states) groups.set(cell.keyGroup, (states = new Map<string, Map<BinaryKey, [Namespace, Array<readonly [Key, unknown]>]>>()));
    let byNamespace = states.get(cell.state.name);
    if (!byNamespace) states.set(cell.state.name, (byNamespace = new Map<BinaryKey, [Namespace, Array<readonly [Key, unknown]>]>()));
    const nsKey = cell.key.toString('latin1', cell.namespaceStart, cell.cellEnd);
    let entries = byNamespace.get(nsKey);
    if (!entries) byNamespace.set(nsKey, (entries = [decodeAtom(cell.key, cell.namespaceStart).value, []]));
    entries[1].push([decodeAtom(cell.key, 4).value, value]);
  }

  private assemble(groups: CanonicalGroups, allTimers: readonly TimerSnapshot[], descriptors: KeyedStateSnapshot['descriptors']): KeyedStateSnapshot {
    const timers = new Map<number, TimerSnapshot[]>();
    for (const t of allTimers) {
      const group = keyGroupOf(t.key, this.maxParallelism);
      let list = timers.get(group);
      if (!list) timers.set(group, (list = []));
      list.push(t);
    }
    for (const keyGroup of timers.keys()) if (!groups.has(keyGroup)) groups.set(keyGroup, new Map());
    return {
      maxParallelism: this.maxParallelism,
      descriptors,
      keyGroups: [...groups.entries()]
        .sort(([a], [b]) => a - b)
        .map(([keyGroup, states]) => ({
          keyGroup,
          states: Object.fromEntries([...states.entries()].map(([name, byNamespace]) => [name, [...byNamespace.values()]])),
          timers: timers.get(keyGroup) ?? [],
        })),
    };
  }

  /** Restores the key groups this backend owns from canonical snapshots (of any backend, any parallelism). */
  restore(snapshots: readonly KeyedStateSnapshot[]): void {
    for (const snapshot of snapshots) {
      if (snapshot.maxParallelism !== this.maxParallelism) {
        throw new Error(
          `cannot restore state taken with maxParallelism ${snapshot.maxParallelism} into a job with maxParallelism ${this.maxParallelism}: the number of key groups must stay the same`,
        );
      }
      for (const group of snapshot.keyGroups) {
        if (!inRange(this.keyGroupRange, group.keyGroup)) continue;
        this.restoreTimerList(group.timers);
        for (const [name, byNamespace] of Object.entries(group.states)) {
          const described = snapshot.descriptors[name];
          const state = this.stateForRestore(name, described);
          const ttl = described ? described.ttlMs !== undefined : undefined;
          for (const [namespace, entries] of byNamespace) {
            const nsEnc = encodeAtom(namespace);
            for (const [key, value] of entries) {
              this.writeCanonical(state, state.prefix(keyGroupOf(key, this.maxParallelism)) + encodeAtom(key) + nsEnc, value, ttl);
            }
          }
        }
      }
    }
    this.flush();
  }

  private stateForRestore(name: string, described: { kind: Kind; ttlMs?: number } | undefined): StateInfo {
    const state = this.states.get(name);
    if (state) {
      if (described && state.stored.opaque !== true && state.stored.kind !== described.kind) {
        throw new Error(`cannot restore state '${name}': it is ${described.kind} state in the snapshot and ${state.stored.kind} state here`);
      }
      return state;
    }
    return this.addState(name, described ? { id: this.nextStateId, kind: described.kind, ttlMs: described.ttlMs } : { id: this.nextStateId, kind: 'value', opaque: true });
  }

  // --- native (incremental) checkpoints --------------------------------------------------

  /**
   * Phase one of a native checkpoint, at the barrier: writes buffered state and captures a
   * consistent set of database files (hard links). The subtask must not touch keyed
   * state until the promise resolved; that is normally at once, longer when RocksDB's
   * background work has to pause or the database is reopened (see native.ts).
   */
  async captureNative(): Promise<NativeCapture> {
    const started = performance.now();
    this.finishSnapshotRun();
    this.flush();
    const timers = this.allTimers();
    const deadline = performance.now() + this.idleWaitMs;
    let flushedWal = false;
    if ((await this.walBytes()) > this.walFlushBytes) {
      // Closing aborts running compactions: give them the chance to finish first.
      await this.waitForIdle(deadline);
      await this.reopen();
      flushedWal = true;
    }
    let staged: Staged | undefined;
    let mode: 'hot' | 'cold' = 'hot';
    for (let attempt = 0; !staged; attempt++) {
      if (this.backgroundIdle()) staged = this.stageHot();
      if (staged) break;
      if (performance.now() >= deadline) {
        staged = await this.stageCold();
        mode = 'cold';
        break;
      }
      await pause(attempt);
    }
    const captureMs = performance.now() - started;
    const capture = staged;
    return {
      mode,
      flushedWal,
      captureMs,
      persist: (privateDir, sharedDir) => this.persistCapture(capture, timers, privateDir, sharedDir, { mode, flushedWal, captureMs }),
      discard: () => rm(capture.dir, { recursive: true, force: true }),
    };
  }

  /** captureNative() and persist() in one: the subtask waits for all of it. */
  async checkpointNative(privateDir: string, sharedDir: string): Promise<NativeCheckpointHandle> {
    const capture = await this.captureNative();
    return capture.persist(privateDir, sharedDir);
  }

  private async waitForIdle(deadline: number): Promise<void> {
    for (let attempt = 0; !this.backgroundIdle() && performance.now() < deadline; attempt++) await pause(attempt);
  }

  private backgroundIdle(): boolean {
    const db = this.rdb;
    return (
      db.property('rocksdb.num-running-compactions') === '0' &&
      db.property('rocksdb.num-running-flushes') === '0' &&
      db.property('rocksdb.compaction-pending') === '0' &&
      db.property('rocksdb.mem-table-flush-pending') === '0'
    );
  }

  private async walBytes(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dbDir)) {
      if (!name.endsWith('.log')) continue;
      // RocksDB deletes a WAL once a flush made it obsolete.
      total += await stat(join(this.dbDir, name)).then(
        (s) => s.size,
        () => 0,
      );
    }
    return total;
  }

  /** Reopening turns the WAL into an SST (recovery flushes it): the flush the binding lacks. */
  private async reopen(): Promise<void> {
    const db = this.rdb;
    this.capturing = true;
    try {
      this.db = undefined;
      await db.close();
      this.db = await RocksDb.open(this.dbDir, this.tuning);
    } finally {
      this.capturing = false;
    }
  }

  private newStagingDir(): string {
    const dir = join(this.workingDirectory, `staging-${this.stagingSeq++}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Captures the open database if nothing moved meanwhile; undefined to try again.
   * Synchronous on purpose: nothing else runs on this thread between the two fingerprints.
   */
  private stageHot(): Staged | undefined {
    const db = this.rdb;
    const fingerprint = () => ({
      superVersion: db.property('rocksdb.current-super-version-number'),
      sstables: db.property('rocksdb.sstables'),
      current: readFileSync(join(this.dbDir, 'CURRENT'), 'utf8'),
    });
    const before = fingerprint();
    const manifest = before.current.trim();
    const manifestBytes = statSync(join(this.dbDir, manifest)).size;
    const { files } = parseSstables(before.sstables);
    const dir = this.newStagingDir();
    try {
      const ssts: Staged['ssts'] = [];
      for (const file of files) {
        const localName = sstName(file.number);
        linkOrCopySync(join(this.dbDir, localName), join(dir, localName));
        if (statSync(join(dir, localName)).size !== file.bytes) throw new Error('size changed');
        ssts.push({ localName, bytes: file.bytes });
      }
      const names = readdirSync(this.dbDir);
      const prefixes: Staged['prefixes'] = [];
      for (const name of [...names.filter((n) => n.endsWith('.log')), manifest]) {
        linkOrCopySync(join(this.dbDir, name), join(dir, name));
        prefixes.push({ name, bytes: name === manifest ? manifestBytes : statSync(join(dir, name)).size });
      }
      const contents = this.smallFiles(names, before.current);
      const after = fingerprint();
      const stillManifest = statSync(join(this.dbDir, manifest)).size;
      if (after.superVersion !== before.superVersion || after.sstables !== before.sstables || after.current !== before.current || stillManifest !== manifestBytes || !this.backgroundIdle()) {
        throw new Error('moved');
      }
      return { dir, ssts, prefixes, contents };
    } catch {
      // A file went away or the version moved while linking: try again.
      rmSync(dir, { recursive: true, force: true });
      return undefined;
    }
  }

  /** Closes the database (background work stops, obsolete files go), links its files, reopens it. */
  private async stageCold(): Promise<Staged> {
    const db = this.rdb;
    this.capturing = true;
    this.db = undefined;
    try {
      await db.close();
      const dir = this.newStagingDir();
      const files = await quiescentFiles(this.dbDir);
      const ssts: Staged['ssts'] = [];
      for (const localName of files.ssts) {
        await linkOrCopy(join(this.dbDir, localName), join(dir, localName));
        ssts.push({ localName, bytes: (await stat(join(dir, localName))).size });
      }
      const prefixes: Staged['prefixes'] = [];
      for (const name of [...files.logs, files.manifest]) {
        await linkOrCopy(join(this.dbDir, name), join(dir, name));
        prefixes.push({ name, bytes: (await stat(join(dir, name))).size });
      }
      const contents = this.smallFiles(readdirSync(this.dbDir), readFileSync(join(this.dbDir, 'CURRENT'), 'utf8'));
      return { dir, ssts, prefixes, contents };
    } finally {
      this.db = await RocksDb.open(this.dbDir, this.tuning);
      this.capturing = false;
    }
  }

  private smallFiles(names: readonly string[], current: string): Staged['contents'] {
    const contents: Staged['contents'] = [{ name: 'CURRENT', data: Buffer.from(current) }];
    const options = newestOptions(names);
    if (options) contents.push({ name: options, data: readFileSync(join(this.dbDir, options)) });
    if (names.includes('IDENTITY')) contents.push({ name: 'IDENTITY', data: readFileSync(join(this.dbDir, 'IDENTITY')) });
    return contents;
  }

  private async persistCapture(
    staged: Staged,
    timers: readonly TimerSnapshot[],
    privateDir: string,
    sharedDir: string,
    capture: { mode: 'hot' | 'cold'; flushedWal: boolean; captureMs: number },
  ): Promise<NativeCheckpointHandle> {
    const started = performance.now();
    const sync = this.syncFiles;
    try {
      await mkdir(privateDir, { recursive: true });
      await mkdir(sharedDir, { recursive: true });
      const shared: SharedNativeFile[] = [];
      let newSharedFiles = 0;
      let newSharedBytes = 0;
      let reusedSharedFiles = 0;
      let reusedSharedBytes = 0;
      for (const sst of staged.ssts) {
        const known = this.sharedFiles.get(sst.localName);
        const name = known?.name ?? `${this.instanceId}-${sst.localName}`;
        const target = join(sharedDir, name);
        let present: number | undefined;
        try {
          present = (await stat(target)).size;
        } catch {
          present = undefined;
        }
        let sha256: string;
        if (present === sst.bytes && known) {
          sha256 = known.sha256;
          reusedSharedFiles++;
          reusedSharedBytes += sst.bytes;
        } else {
          if (present !== undefined) await rm(target, { force: true });
          await linkOrCopy(join(staged.dir, sst.localName), target);
          sha256 = await sha256File(target);
          newSharedFiles++;
          newSharedBytes += sst.bytes;
        }
        this.sharedFiles.set(sst.localName, { name, bytes: sst.bytes, sha256 });
        shared.push({ name, localName: sst.localName, bytes: sst.bytes, sha256 });
      }
      const privateFiles: NativeFile[] = [];
      for (const file of staged.prefixes) {
        const sha256 = await copyPrefix(join(staged.dir, file.name), join(privateDir, file.name), file.bytes, sync);
        privateFiles.push({ name: file.name, bytes: file.bytes, sha256 });
      }
      const timerBytes = packr.pack(timers);
      for (const file of [...staged.contents, { name: TIMERS_FILE, data: timerBytes }]) {
        await writeDurably(join(privateDir, file.name), file.data, sync);
        privateFiles.push({ name: file.name, bytes: file.data.length, sha256: sha256Of(file.data) });
      }
      if (sync) {
        await fsyncPath(privateDir);
        await fsyncPath(sharedDir);
      }
      return {
        formatVersion: NATIVE_HANDLE_FORMAT,
        backend: 'rocksdb',
        stateFormatVersion: ROCKSDB_FORMAT_VERSION,
        maxParallelism: this.maxParallelism,
        keyGroupRange: { start: this.keyGroupRange.start, end: this.keyGroupRange.end },
        instanceId: this.instanceId,
        privateDirectory: privateDir,
        sharedDirectory: sharedDir,
        private: privateFiles,
        shared,
        stats: {
          captureMode: capture.mode,
          flushedWal: capture.flushedWal,
          captureMs: capture.captureMs,
          persistMs: performance.now() - started,
          newSharedFiles,
          newSharedBytes,
          reusedSharedFiles,
          reusedSharedBytes,
          privateBytes: privateFiles.reduce((n, f) => n + f.bytes, 0),
        },
      };
    } finally {
      await rm(staged.dir, { recursive: true, force: true });
    }
  }

  /**
   * Opens the backend from native checkpoints instead of open(). One handle whose key
   * groups cover this backend's range: its files are linked into the working directory
   * and opened (key groups outside the range are deleted). Otherwise (rescaling) each
   * handle that overlaps the range is opened in a scratch directory and the overlapping
   * key groups are copied into a fresh database. Every file is verified first.
   */
  async restoreNative(handles: readonly NativeCheckpointHandle[], keyGroupRange: KeyGroupRange = this.keyGroupRange): Promise<void> {
    if (this.db) throw new Error('restoreNative() replaces open(): the backend is already open');
    if (keyGroupRange.start !== this.keyGroupRange.start || keyGroupRange.end !== this.keyGroupRange.end) {
      throw new Error(`restoreNative() for key groups ${keyGroupRange.start}-${keyGroupRange.end}, but this backend owns ${this.keyGroupRange.start}-${this.keyGroupRange.end}`);
    }
    const own = this.keyGroupRange;
    const relevant = handles.filter((h) => h.keyGroupRange.start <= own.end && h.keyGroupRange.end >= own.start);
    for (const handle of relevant) {
      if (handle.maxParallelism !== this.maxParallelism) {
        throw new Error(
          `cannot restore state taken with maxParallelism ${handle.maxParallelism} into a job with maxParallelism ${this.maxParallelism}: the number of key groups must stay the same`,
        );
      }
      await verifyNativeHandle(handle, this.verifyMode);
    }
    await rm(this.workingDirectory, { recursive: true, force: true });
    await mkdir(this.workingDirectory, { recursive: true });
    this.instanceId = newInstanceId();
    this.sharedFiles.clear();
    const only = relevant.length === 1 ? relevant[0] : undefined;
    if (only && only.keyGroupRange.start <= own.start && only.keyGroupRange.end >= own.end) {
      await materialize(only, this.dbDir);
      const db = await RocksDb.open(this.dbDir, this.tuning);
      this.db = db;
      const meta = this.loadMeta(db, only.privateDirectory);
      for (const [name, stored] of meta.states) this.addRestoredState(name, stored);
      if (only.keyGroupRange.start < own.start) await db.deleteRange(toBytes(keyGroupPrefix(0)), toBytes(keyGroupPrefix(own.start)));
      if (only.keyGroupRange.end > own.end) await db.deleteRange(toBytes(keyGroupPrefix(own.end + 1)), toBytes(META_PREFIX));
      for (const file of only.shared) this.sharedFiles.set(file.localName, { name: file.name, bytes: file.bytes, sha256: file.sha256 });
      if (meta.formatVersion < ROCKSDB_FORMAT_VERSION) this.upgradeFormat1();
    } else {
      this.db = await RocksDb.open(this.dbDir, this.tuning);
      this.writeFormat();
      let index = 0;
      let oldest = ROCKSDB_FORMAT_VERSION;
      for (const handle of relevant) oldest = Math.min(oldest, await this.copyFromHandle(handle, join(this.workingDirectory, `restore-${index++}`)));
      if (oldest < ROCKSDB_FORMAT_VERSION) this.upgradeFormat1();
    }
    for (const handle of relevant) await this.restoreNativeTimers(handle);
    this.flush();
  }

  private addRestoredState(name: string, stored: StoredState): void {
    const existing = this.states.get(name);
    if (existing) {
      if (existing.stored.kind !== stored.kind || existing.stored.id !== stored.id) throw new Error(`state '${name}' is registered twice in the restored database`);
      return;
    }
    const state = new StateInfo(name, stored);
    this.states.set(name, state);
    this.byId[stored.id] = state;
    this.nextStateId = Math.max(this.nextStateId, stored.id + 1);
  }

  /** Rescaling: copies the key groups this backend owns out of one old database; returns its format version. */
  private async copyFromHandle(handle: NativeCheckpointHandle, scratch: string): Promise<number> {
    await materialize(handle, scratch);
    const old = await RocksDb.open(scratch, { ...this.tuning, blockCacheBytes: 8 * MB });
    try {
      const { states: oldStates, formatVersion } = this.loadMeta(old, handle.privateDirectory);
      const mapping: Array<StateInfo | undefined> = [];
      for (const [name, stored] of oldStates) {
        let state = this.states.get(name);
        if (!state) state = this.addState(name, { id: this.nextStateId, kind: stored.kind, ttlMs: stored.ttlMs, opaque: stored.opaque });
        else if (state.stored.kind !== stored.kind || state.stored.opaque !== stored.opaque) {
          throw new Error(`cannot restore state '${name}': it is ${stored.kind} state in ${handle.privateDirectory} and ${state.stored.kind} state in another part of the checkpoint`);
        }
        mapping[stored.id] = state;
      }
      const start = Math.max(handle.keyGroupRange.start, this.keyGroupRange.start);
      const end = Math.min(handle.keyGroupRange.end, this.keyGroupRange.end);
      let batch = this.rdb.batch();
      let batched = 0;
      old.scan(toBytes(keyGroupPrefix(start)), toBytes(keyGroupPrefix(end + 1)), (key, value) => {
        const oldId = ((key[2] as number) << 8) | (key[3] as number);
        const state = mapping[oldId];
        if (!state) throw new Error(`${handle.privateDirectory}: rows of unknown state id ${oldId}`);
        if (state.id !== oldId) {
          key = Buffer.from(key);
          key.writeUInt16BE(state.id, 2);
        }
        batch.put(key, value);
        batched += key.length + value.length;
        if (batched > this.writeBufferBytes) {
          batch.commit();
          batch = this.rdb.batch();
          batched = 0;
        }
      });
      batch.commit();
      return formatVersion;
    } finally {
      await old.close();
      await rm(scratch, { recursive: true, force: true });
    }
  }

  private async restoreNativeTimers(handle: NativeCheckpointHandle): Promise<void> {
    if (!handle.private.some((f) => f.name === TIMERS_FILE)) return;
    const timers = packr.unpack(await readFile(join(handle.privateDirectory, TIMERS_FILE))) as TimerSnapshot[];
    this.restoreTimerList(timers);
  }

  /** Kind and TTL of each registered state (what a checkpoint acknowledgement reports per node). */
  stateDescriptors(): Record<string, { kind: StateDescriptor['kind']; ttlMs?: number }> {
    const out: Record<string, { kind: StateDescriptor['kind']; ttlMs?: number }> = {};
    for (const state of this.states.values()) {
      const d = state.descriptor;
      if (d) out[state.name] = d.ttl ? { kind: d.kind, ttlMs: d.ttl.ttlMs } : { kind: d.kind };
    }
    return out;
  }

  /** RocksDB's own numbers, for metrics and tests. */
  rocksProperty(name: string): string {
    return this.rdb.property(name);
  }

  /** @internal Sizes of the write buffer and read cache (tests). */
  memoryFootprint(): { dirtyEntries: number; dirtyBytes: number; cacheEntries: number; cacheBytes: number } {
    return { dirtyEntries: this.dirty.size, dirtyBytes: this.dirtyBytes, cacheEntries: this.cache.size, cacheBytes: this.cache.bytes };
  }
}

// --- state handles -------------------------------------------------------------------

function readCell(b: RocksDBKeyedStateBackend, state: StateInfo, key: BinaryKey): unknown {
  const bytes = b.read(key);
  if (bytes === null) return undefined;
  if (bytes[0] === EXPIRING) {
    const ttl = state.ttl;
    if (ttl) {
      const now = b.nowMs();
      if (bytes.readDoubleBE(2) <= now) {
        b.write(key, null);
        return undefined;
      }
      if (ttl.update === 'on-read-and-write') b.write(key, withExpiry(bytes, now + ttl.ttlMs));
    }
    return unpackValue(bytes, 10);
  }
  return unpackValue(bytes, 1);
}

function writeCell(b: RocksDBKeyedStateBackend, state: StateInfo, key: BinaryKey, value: unknown): void {
  const ttl = state.ttl;
  b.write(key, encodeCell(value, ttl ? b.nowMs() + ttl.ttlMs : undefined));
}

class RocksValueState implements ValueState<unknown> {
  constructor(
    private readonly b: RocksDBKeyedStateBackend,
    private readonly state: StateInfo,
  ) {}
  value(): unknown {
    return readCell(this.b, this.state, this.b.cellKey(this.state));
  }
  update(value: unknown): void {
    const key = this.b.cellKey(this.state);
    if (value === undefined) this.b.remove(key);
    else writeCell(this.b, this.state, key, value);
  }
  clear(): void {
    this.b.remove(this.b.cellKey(this.state));
  }
}

class RocksReducingState implements ReducingState<unknown> {
  constructor(
    private readonly b: RocksDBKeyedStateBackend,
    private readonly state: StateInfo,
    private readonly reduce: (a: unknown, b: unknown) => unknown,
  ) {}
  get(): unknown {
    return readCell(this.b, this.state, this.b.cellKey(this.state));
  }
  add(value: unknown): void {
    const key = this.b.cellKey(this.state);
    const current = readCell(this.b, this.state, key);
    writeCell(this.b, this.state, key, current === undefined ? value : this.reduce(current, value));
  }
  clear(): void {
    this.b.remove(this.b.cellKey(this.state));
  }
}

class RocksAggregatingState implements AggregatingState<unknown, unknown> {
  constructor(
    private readonly b: RocksDBKeyedStateBackend,
    private readonly state: StateInfo,
    private readonly fn: AggregateFunction<unknown, unknown, unknown>,
  ) {}
  get(): unknown {
    const acc = readCell(this.b, this.state, this.b.cellKey(this.state));
    return acc === undefined ? undefined : this.fn.getResult(acc);
  }
  add(value: unknown): void {
    const key = this.b.cellKey(this.state);
    const acc = readCell(this.b, this.state, key);
    writeCell(this.b, this.state, key, this.fn.add(value, acc === undefined ? this.fn.createAccumulator() : acc));
  }
  clear(): void {
    this.b.remove(this.b.cellKey(this.state));
  }
}

class RocksListState implements ListState<unknown> {
  constructor(
    private readonly b: RocksDBKeyedStateBackend,
    private readonly state: StateInfo,
  ) {}
  get(): readonly unknown[] {
    const key = this.b.cellKey(this.state);
    const bytes = this.b.read(key);
    if (bytes === null) return [];
    const ttl = this.state.ttl;
    const { elements, expiries } = decodeList(bytes, false);
    if (!ttl || expiries === undefined) return elements;
    // Each element has its own expiry (Flink's TtlListState): drop the expired ones and,
    // on read-and-write, renew the ones returned; rewrite the list only when that changed it.
    const now = this.b.nowMs();
    const live = elements.filter((_, i) => (expiries[i] as number) > now);
    if (live.length === 0) {
      this.b.write(key, null);
      return live;
    }
    if (ttl.update === 'on-read-and-write') {
      const x = now + ttl.ttlMs;
      this.b.write(key, encodeTtlList(live, live.map(() => x)));
    } else if (live.length < elements.length) {
      this.b.write(key, liveListBytes(bytes, now) as Buffer);
    }
    return live;
  }
  add(value: unknown): void {
    const ttl = this.state.ttl;
    this.b.append(this.b.cellKey(this.state), ttl ? encodeExpiringFrame(value, this.b.nowMs() + ttl.ttlMs) : encodeListFrame(value));
  }
  addAll(values: readonly unknown[]): void {
    if (values.length === 0) return;
    const ttl = this.state.ttl;
    const x = ttl ? this.b.nowMs() + ttl.ttlMs : 0;
    this.b.append(this.b.cellKey(this.state), joinFrames(values.map((v) => (ttl ? encodeExpiringFrame(v, x) : encodeListFrame(v)))));
  }
  update(values: readonly unknown[]): void {
    const key = this.b.cellKey(this.state);
    if (values.length === 0) {
      this.b.remove(key);
      return;
    }
    const ttl = this.state.ttl;
    if (!ttl) {
      this.b.write(key, encodeList(values));
      return;
    }
    const x = this.b.nowMs() + ttl.ttlMs;
    this.b.write(key, encodeTtlList(values, values.map(() => x)));
  }
  clear(): void {
    this.b.remove(this.b.cellKey(this.state));
  }
}

/**
 * Map state: one RocksDB key per entry. With a TTL each entry carries its own expiry
 * (Flink's TtlMapState): a put stamps only its entry, reads drop the expired entries
 * they meet and, on read-and-write, renew the entries they return. isEmpty() renews
 * nothing: it stops at the first live entry, or clears a map whose entries all expired.
 */
class RocksMapState implements MapState<string | number, unknown> {
  constructor(
    private readonly b: RocksDBKeyedStateBackend,
    private readonly state: StateInfo,
  ) {}

  private entryKey(userKey: string | number): BinaryKey {
    return this.b.cellKey(this.state) + MAP_ENTRY_SUFFIX + encodeAtom(userKey);
  }

  get(userKey: string | number): unknown {
    return readCell(this.b, this.state, this.entryKey(userKey));
  }

  put(userKey: string | number, value: unknown): void {
    writeCell(this.b, this.state, this.entryKey(userKey), value);
  }

  remove(userKey: string | number): void {
    this.b.remove(this.entryKey(userKey));
  }

  contains(userKey: string | number): boolean {
    const key = this.entryKey(userKey);
    const bytes = this.b.read(key);
    if (bytes === null) return false;
    const ttl = this.state.ttl;
    if (!ttl || bytes[0] !== EXPIRING) return true;
    const now = this.b.nowMs();
    if (bytes.readDoubleBE(2) <= now) {
      this.b.write(key, null);
      return false;
    }
    if (ttl.update === 'on-read-and-write') this.b.write(key, withExpiry(bytes, now + ttl.ttlMs));
    return true;
  }

  /** Every live entry, in key order; expired ones are removed and, on read-and-write, live ones renewed (after the scan). */
  private scan(onEntry: (userKey: string | number, value: Buffer) => void): void {
    const prefix = this.b.cellKey(this.state) + MAP_ENTRY_SUFFIX;
    const ttl = this.state.ttl;
    if (!ttl) {
      this.b.scanPrefix(prefix, (key, value) => {
        onEntry(decodeAtom(key, prefix.length).value, value);
      });
      return;
    }
    const now = this.b.nowMs();
    const renew = ttl.update === 'on-read-and-write' ? now + ttl.ttlMs : undefined;
    const changes: Array<[BinaryKey, Buffer | null]> = [];
    this.b.scanPrefix(prefix, (key, value) => {
      if (!alive(cellExpiry(value), now)) {
        changes.push([key.toString('latin1'), null]);
        return;
      }
      if (renew !== undefined) changes.push([key.toString('latin1'), withExpiry(value, renew)]);
      onEntry(decodeAtom(key, prefix.length).value, value);
    });
    for (const [key, value] of changes) this.b.write(key, value);
  }

  entries(): Array<[string | number, unknown]> {
    const out: Array<[string | number, unknown]> = [];
    this.scan((k, v) => out.push([k, unpackValue(v, cellValueOffset(v))]));
    return out;
  }

  keys(): Array<string | number> {
    const out: Array<string | number> = [];
    this.scan((k) => out.push(k));
    return out;
  }

  values(): unknown[] {
    const out: unknown[] = [];
    this.scan((_, v) => out.push(unpackValue(v, cellValueOffset(v))));
    return out;
  }

  isEmpty(): boolean {
    const prefix = this.b.cellKey(this.state) + MAP_ENTRY_SUFFIX;
    const ttl = this.state.ttl;
    const now = ttl ? this.b.nowMs() : 0;
    const expired: BinaryKey[] = [];
    const found = { live: false };
    this.b.scanPrefix(prefix, (key, value) => {
      if (ttl && !alive(cellExpiry(value), now)) {
        expired.push(key.toString('latin1'));
        return;
      }
      found.live = true;
      return false;
    });
    if (found.live) return false;
    for (const key of expired) this.b.remove(key);
    return true;
  }

  clear(): void {
    const rows: BinaryKey[] = [];
    this.b.scanPrefix(this.b.cellKey(this.state) + MAP_ENTRY_SUFFIX, (key) => {
      rows.push(key.toString('latin1'));
    });
    for (const row of rows) this.b.remove(row);
  }
}

/**
 * The canonical snapshot of native checkpoints, for the key groups in `keyGroupRange`: for
 * restoring a RocksDB checkpoint into a job that now keeps its state on the heap. Uses a
 * scratch working directory that it removes again.
 */
export async function canonicalFromNative(
  handles: readonly NativeCheckpointHandle[],
  options: Pick<RocksDBBackendOptions, 'maxParallelism' | 'keyGroupRange' | 'now' | 'workingDirectory' | 'verifyOnRestore'>,
): Promise<KeyedStateSnapshot> {
  const backend = new RocksDBKeyedStateBackend(options);
  try {
    await backend.restoreNative(handles);
    return backend.snapshot();
  } finally {
    await backend.dispose();
  }
}
