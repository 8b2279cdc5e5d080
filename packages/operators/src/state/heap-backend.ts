/**
 * Keyed state on the JavaScript heap. Each state is a table namespace → key → value;
 * the current key and namespace are set by the task (and by timers and windows)
 * before user code runs, so state handles need no arguments.
 *
 * TTL (Flink's StateTtlConfig, processing time): a value with a TTL is stored with
 * its expiry time; an expired value is never returned, and it is removed when read
 * and when a snapshot is taken. List and map state carry the expiry per element and
 * per entry (Flink's TtlListState / TtlMapState): `[{v, x}, …]` and `Map<k, {v, x}>`,
 * which is also their canonical snapshot form (format 2; a snapshot of format 1, one
 * `{v, x}` around the whole list or map, is converted when restored or registered).
 *
 * Snapshots copy the tables grouped by key group (see key-groups.ts), so a restore
 * at another parallelism takes exactly the groups it owns.
 *
 * Checkpoints do not stop the world (Flink's copy-on-write heap snapshots): at the
 * barrier, beginSnapshot() copies only the table structure (each namespace's keys and
 * values as two arrays, values shared); records go on while the snapshot is built and
 * encoded in slices.
 * A value that is still shared with the snapshot is copied into the snapshot before
 * anything can change it in place: on read (state handles may mutate what they read)
 * and when windows merge. Writes replace the live value, leaving the snapshot's alone.
 *
 *     live:   ns → key → v1 ──read during the snapshot──▶ snapshot gets copy(v1)
 *     frozen: ns → key → v1        then v1 may change in place, the copy does not
 */
import type { Key } from '../api/elements.js';
import type {
  AggregateFunction,
  AggregatingState,
  KeyGroupRange,
  KeyedStateBackend,
  KeyedStateSnapshot,
  ListState,
  MapState,
  Namespace,
  ReducingState,
  StateDescriptor,
  StateFor,
  StateTtl,
  ValueState,
} from '../api/state.js';
import { inspectionOf, VOID_NAMESPACE, type EncodedKeyedSnapshot, type KeyedSnapshotRun, type KeyInspection } from '../api/state.js';
import type { ProcessingTimeService, Triggerable } from '../api/time.js';
import type { TimerSnapshot } from '../api/state.js';
import { inRange, keyGroupOf } from './key-groups.js';
import { HeapTimerService, type TimerCapture } from './timers.js';
import { decodeKeyGroup, KeyGroupsWriter } from './snapshot-bytes.js';

type Table = Map<Namespace, Map<Key, unknown>>;

/** A value stored with a TTL. */
interface Expiring {
  v: unknown;
  /** Expiry time in processing-time milliseconds. */
  x: number;
}

export interface HeapBackendOptions {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  /** Processing time, for TTL. */
  readonly now: () => number;
}

export class HeapKeyedStateBackend implements KeyedStateBackend {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  private readonly now: () => number;
  private readonly tables = new Map<string, Table>();
  private readonly descriptors = new Map<string, StateDescriptor>();
  /** Whether the restored values of a state not registered yet carry expiries (as their snapshot said). */
  private readonly restoredTtl = new Map<string, boolean>();
  private readonly handles = new Map<string, unknown>();
  private currentKey: Key | undefined;
  private currentNamespace: Namespace = VOID_NAMESPACE;
  /** Moves whenever the backend adds or removes namespace maps itself; state handles cache by it. */
  version = 0;
  private timerService: HeapTimerService | undefined;
  /**
   * While a snapshot is being built: each live table → its frozen structure. Values in
   * it are shared with live state until preserve() replaces them by a copy.
   * @internal read by Cell on every access (undefined on the hot path between checkpoints).
   */
  frozen: Map<Table, FrozenTable> | undefined;
  private activeRun: HeapSnapshotRun | undefined;
  /** Timers restored before the operator created its timer service. */
  private pendingTimers: TimerSnapshot[] = [];

  constructor(options: HeapBackendOptions) {
    this.maxParallelism = options.maxParallelism;
    this.keyGroupRange = options.keyGroupRange;
    this.now = options.now;
  }

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

  getState<D extends StateDescriptor>(descriptor: D): StateFor<D> {
    const existing = this.descriptors.get(descriptor.name);
    if (existing && existing.kind !== descriptor.kind) {
      throw new Error(`state '${descriptor.name}' is already registered as ${existing.kind} state, not ${descriptor.kind}`);
    }
    const cached = this.handles.get(descriptor.name);
    if (cached) return cached as StateFor<D>;
    this.descriptors.set(descriptor.name, descriptor);
    const table = this.table(descriptor.name);
    const restoredTtl = this.restoredTtl.get(descriptor.name);
    this.restoredTtl.delete(descriptor.name);
    if (table.size > 0 && needsAdapting(descriptor, restoredTtl)) {
      // Restored before it was registered: values take the registered TTL's form.
      const now = this.now();
      for (const byKey of table.values()) for (const [key, stored] of byKey) byKey.set(key, adaptRestored(descriptor, stored, restoredTtl, now));
    }
    const handle = this.createHandle(descriptor, table);
    this.handles.set(descriptor.name, handle);
    return handle as StateFor<D>;
  }

  /** The operator's timer service; timers are snapshotted and restored with this backend's state. */
  createTimerService(target: Triggerable, processingTime: ProcessingTimeService): HeapTimerService {
    if (this.timerService) throw new Error('this keyed backend already has a timer service');
    this.timerService = new HeapTimerService(this, target, processingTime);
    this.timerService.restoreTimers(this.pendingTimers, this.keyGroupRange, this.maxParallelism);
    this.pendingTimers = [];
    return this.timerService;
  }

  keys(stateName: string, namespace: Namespace): Key[] {
    const byKey = this.tables.get(stateName)?.get(namespace);
    if (!byKey) return [];
    const descriptor = this.descriptors.get(stateName);
    if (!descriptor?.ttl) return [...byKey.keys()];
    const now = this.now();
    const perEntry = hasEntryTtl(descriptor);
    return [...byKey.entries()].filter(([, v]) => (perEntry ? hasLiveEntry(v, now) : (v as Expiring).x > now)).map(([k]) => k);
  }

  namespacesOfCurrentKey(stateName: string): Namespace[] {
    const table = this.tables.get(stateName);
    if (!table) return [];
    const key = this.getCurrentKey();
    const result: Namespace[] = [];
    for (const [namespace, byKey] of table) if (byKey.has(key)) result.push(namespace);
    return result;
  }

  mergeNamespaces(stateName: string, target: Namespace, sources: readonly Namespace[]): void {
    this.version++;
    const descriptor = this.descriptors.get(stateName);
    const table = this.tables.get(stateName);
    if (!descriptor || !table) return;
    const key = this.getCurrentKey();
    const perEntry = hasEntryTtl(descriptor);
    const now = descriptor.ttl ? this.now() : 0;
    const acc: { merged: unknown; has: boolean } = { merged: undefined, has: false };
    const take = (ns: Namespace) => {
      const byKey = table.get(ns);
      if (!byKey?.has(key)) return;
      const stored = byKey.get(key);
      // Merge functions may change their first argument in place.
      if (this.frozen && typeof stored === 'object' && stored !== null) this.preserve(table, ns, key, stored);
      byKey.delete(key);
      if (byKey.size === 0) table.delete(ns);
      // Elements and entries keep their own expiry; expired ones are dropped on the way.
      const value = perEntry ? liveEntries(stored, now) : descriptor.ttl ? (stored as Expiring).v : stored;
      if (value === undefined) return;
      acc.merged = acc.has ? mergeValues(descriptor, acc.merged, value) : value;
      acc.has = true;
    };
    take(target);
    for (const ns of sources) if (ns !== target) take(ns);
    if (!acc.has) return;
    let byKey = table.get(target);
    if (!byKey) table.set(target, (byKey = new Map<Key, unknown>()));
    byKey.set(key, descriptor.ttl && !perEntry ? { v: acc.merged, x: now + descriptor.ttl.ttlMs } : acc.merged);
  }

  /** Entries (state × namespace × key) without visiting the keys: cheap enough for the per-second state limit check. */
  stateEntries(): number {
    let entries = 0;
    for (const table of this.tables.values()) for (const byKey of table.values()) entries += byKey.size;
    return entries;
  }

  size(): { entries: number; keys: number } {
    let entries = 0;
    const keys = new Set<Key>();
    for (const table of this.tables.values()) {
      for (const byKey of table.values()) {
        entries += byKey.size;
        for (const k of byKey.keys()) keys.add(k);
      }
    }
    return { entries, keys: keys.size };
  }

  /** All state of one key, for the state inspector: state → namespace → value. */
  describeKey(key: Key): Record<string, Array<{ namespace: Namespace; value: unknown }>> {
    const out: Record<string, Array<{ namespace: Namespace; value: unknown }>> = {};
    const now = this.now();
    for (const [name, table] of this.tables) {
      const descriptor = this.descriptors.get(name);
      const ttl = descriptor?.ttl;
      const perEntry = descriptor !== undefined && hasEntryTtl(descriptor);
      const values: Array<{ namespace: Namespace; value: unknown }> = [];
      for (const [namespace, byKey] of table) {
        if (!byKey.has(key)) continue;
        const stored = byKey.get(key);
        if (perEntry) {
          const live = liveEntries(stored, now);
          if (live !== undefined) values.push({ namespace, value: toPlain(entryValues(live)) });
          continue;
        }
        if (ttl && (stored as Expiring).x <= now) continue;
        values.push({ namespace, value: toPlain(ttl ? (stored as Expiring).v : stored) });
      }
      if (values.length > 0) out[name] = values;
    }
    return out;
  }

  inspectKey(key: Key): KeyInspection {
    return inspectionOf(this.describeKey(key), (name) => this.descriptors.get(name)?.kind, this.timerService?.timersOf(key));
  }

  /**
   * Starts a snapshot of the state as it is now, at the cost of copying the table
   * structure only; the returned run builds it in steps while processing goes on.
   * Starting another snapshot first finishes the one still running.
   */
  beginSnapshot(): KeyedSnapshotRun {
    if (this.activeRun) {
      while (!this.activeRun.step(Number.POSITIVE_INFINITY));
    }
    const frozen = new Map<Table, FrozenTable>();
    const names: Array<readonly [string, FrozenTable]> = [];
    for (const [name, table] of this.tables) {
      const copy: FrozenTable = new Map();
      for (const [namespace, byKey] of table) copy.set(namespace, new FrozenEntries([...byKey.keys()], [...byKey.values()]));
      frozen.set(table, copy);
      names.push([name, copy]);
    }
    const descriptors: Record<string, { kind: StateDescriptor['kind']; ttlMs?: number }> = {};
    for (const [name, d] of this.descriptors) descriptors[name] = d.ttl ? { kind: d.kind, ttlMs: d.ttl.ttlMs } : { kind: d.kind };
    const timers = this.timerService?.captureTimers() ?? {
      event: this.pendingTimers.filter((t) => t.domain === 'event'),
      processing: this.pendingTimers.filter((t) => t.domain === 'processing'),
    };
    const run = new HeapSnapshotRun(names, this.descriptors, descriptors, timers, this.maxParallelism, this.now(), () => {
      if (this.activeRun === run) {
        this.activeRun = undefined;
        this.frozen = undefined;
      }
    });
    this.frozen = frozen;
    this.activeRun = run;
    return run;
  }

  /**
   * @internal Before a value that may be shared with a running snapshot is read (and then
   * perhaps changed in place), the snapshot gets its own copy of it.
   */
  preserve(table: Table, namespace: Namespace, key: Key, stored: object): void {
    const entries = this.frozen?.get(table)?.get(namespace);
    if (entries === undefined || entries.walked) return;
    const i = entries.indexOf(key);
    if (i !== undefined && entries.values[i] === stored) entries.values[i] = new Preserved(copyStored(stored));
  }

  snapshot(): KeyedStateSnapshot {
    this.version++;
    const now = this.now();
    const groups = new Map<number, Record<string, Map<Namespace, Array<readonly [Key, unknown]>>>>();
    for (const [name, table] of this.tables) {
      const descriptor = this.descriptors.get(name);
      const ttl = descriptor?.ttl;
      const perEntry = descriptor !== undefined && hasEntryTtl(descriptor);
      for (const [namespace, byKey] of table) {
        for (const [key, value] of byKey) {
          let stored = value;
          if (perEntry) {
            // Cleanup on snapshot, per element / entry. A new container: a running
            // checkpoint may still share the old one.
            const live = liveEntries(stored, now);
            if (live === undefined) {
              byKey.delete(key);
              continue;
            }
            if (live !== stored) byKey.set(key, (stored = live));
          } else if (ttl && (stored as Expiring).x <= now) {
            // Cleanup on snapshot: expired values are not carried into the checkpoint.
            byKey.delete(key);
            continue;
          }
          const keyGroup = keyGroupOf(key, this.maxParallelism);
          let states = groups.get(keyGroup);
          if (!states) groups.set(keyGroup, (states = {}));
          let byNamespace = states[name];
          if (!byNamespace) states[name] = byNamespace = new Map<Namespace, Array<readonly [Key, unknown]>>();
          let entries = byNamespace.get(namespace);
          if (!entries) byNamespace.set(namespace, (entries = []));
          entries.push([key, copyStored(stored)]);
        }
        if (byKey.size === 0) table.delete(namespace);
      }
    }
    const timers = this.timerService?.snapshotTimers(this.maxParallelism) ?? groupTimers(this.pendingTimers, this.maxParallelism);
    for (const keyGroup of timers.keys()) if (!groups.has(keyGroup)) groups.set(keyGroup, {});
    const descriptors: Record<string, { kind: StateDescriptor['kind']; ttlMs?: number }> = {};
    for (const [name, d] of this.descriptors) descriptors[name] = d.ttl ? { kind: d.kind, ttlMs: d.ttl.ttlMs } : { kind: d.kind };
    return {
      maxParallelism: this.maxParallelism,
      descriptors,
      keyGroups: [...groups.entries()]
        .sort(([a], [b]) => a - b)
        .map(([keyGroup, states]) => ({
          keyGroup,
          states: Object.fromEntries(Object.entries(states).map(([name, byNamespace]) => [name, [...byNamespace.entries()]])),
          timers: timers.get(keyGroup) ?? [],
        })),
    };
  }

  /** Restores the key groups this backend owns from any number of snapshots (rescaling). */
  restore(snapshots: readonly KeyedStateSnapshot[]): void {
    this.version++;
    for (const snapshot of snapshots) {
      if (snapshot.maxParallelism !== this.maxParallelism) {
        throw new Error(
          `cannot restore state taken with maxParallelism ${snapshot.maxParallelism} into a job with maxParallelism ${this.maxParallelism}: the number of key groups must stay the same`,
        );
      }
      for (const group of snapshot.keyGroups) {
        if (!inRange(this.keyGroupRange, group.keyGroup)) continue;
        if (this.timerService) this.timerService.restoreTimers(group.timers, this.keyGroupRange, this.maxParallelism);
        else this.pendingTimers.push(...group.timers);
        for (const [name, byNamespace] of Object.entries(group.states)) {
          const table = this.table(name);
          const described = snapshot.descriptors[name];
          const hadTtl = described ? described.ttlMs !== undefined : undefined;
          // A state registered already takes its TTL's form now; others when registered.
          const registered = this.descriptors.get(name);
          if (!registered && hadTtl !== undefined) this.restoredTtl.set(name, hadTtl);
          const adapt = registered !== undefined && needsAdapting(registered, hadTtl);
          const now = adapt ? this.now() : 0;
          for (const [namespace, entries] of byNamespace) {
            let byKey = table.get(namespace);
            if (!byKey) table.set(namespace, (byKey = new Map<Key, unknown>()));
            for (const [key, value] of entries) byKey.set(key, adapt ? adaptRestored(registered, restoreStored(value), hadTtl, now) : restoreStored(value));
          }
        }
      }
    }
  }

  private table(name: string): Table {
    let table = this.tables.get(name);
    if (!table) this.tables.set(name, (table = new Map<Namespace, Map<Key, unknown>>()));
    return table;
  }

  private createHandle(descriptor: StateDescriptor, table: Table): unknown {
    // Lists and maps with a TTL keep it per element / entry; their cell holds the collection as it is.
    const cell = new Cell(this, table, hasEntryTtl(descriptor) ? undefined : descriptor.ttl, this.now);
    switch (descriptor.kind) {
      case 'value':
        return new HeapValueState(cell);
      case 'list':
        return descriptor.ttl ? new HeapTtlListState(cell, descriptor.ttl, this.now) : new HeapListState(cell);
      case 'map':
        return descriptor.ttl ? new HeapTtlMapState(cell, descriptor.ttl, this.now) : new HeapMapState(cell);
      case 'reducing':
        return new HeapReducingState(cell, descriptor.reduce);
      case 'aggregating':
        return new HeapAggregatingState(cell, descriptor.aggregate);
    }
  }

  /** @internal The current key, read by state handles on every access (no allocation). */
  keyForAccess(): Key {
    const key = this.currentKey;
    if (key === undefined) return this.getCurrentKey();
    return key;
  }

  /** @internal */
  namespaceForAccess(): Namespace {
    return this.currentNamespace;
  }
}

/** Access to the (current key, current namespace) slot of one table, with TTL handling. */
class Cell {
  constructor(
    private readonly backend: HeapKeyedStateBackend,
    private readonly table: Table,
    private readonly ttl: StateTtl | undefined,
    private readonly now: () => number,
  ) {}

  /** The key map of the last namespace used: windows and VOID state hit the same one repeatedly. */
  private lastNamespace: Namespace | undefined;
  private lastByKey: Map<Key, unknown> | undefined;

  private cachedVersion = -1;

  /** Cached per namespace; valid until the backend restructures tables itself (its version moves). */
  private byKeyOf(namespace: Namespace): Map<Key, unknown> | undefined {
    if (namespace === this.lastNamespace && this.cachedVersion === this.backend.version) return this.lastByKey;
    const byKey = this.table.get(namespace);
    this.lastNamespace = namespace;
    this.lastByKey = byKey;
    this.cachedVersion = this.backend.version;
    return byKey;
  }

  private dropped(namespace: Namespace): void {
    this.table.delete(namespace);
    if (namespace === this.lastNamespace) this.lastByKey = undefined;
  }

  get(): unknown {
    const key = this.backend.keyForAccess();
    const namespace = this.backend.namespaceForAccess();
    const byKey = this.byKeyOf(namespace);
    if (!byKey) return undefined;
    const stored = byKey.get(key);
    if (this.backend.frozen !== undefined && typeof stored === 'object' && stored !== null) this.backend.preserve(this.table, namespace, key, stored);
    if (stored === undefined || !this.ttl) return stored;
    const expiring = stored as Expiring;
    const now = this.now();
    if (expiring.x <= now) {
      byKey.delete(key);
      if (byKey.size === 0) this.dropped(namespace);
      return undefined;
    }
    if (this.ttl.update === 'on-read-and-write') expiring.x = now + this.ttl.ttlMs;
    return expiring.v;
  }

  set(value: unknown): void {
    const key = this.backend.keyForAccess();
    const namespace = this.backend.namespaceForAccess();
    let byKey = this.byKeyOf(namespace);
    if (!byKey) {
      this.table.set(namespace, (byKey = new Map<Key, unknown>()));
      this.lastNamespace = namespace;
      this.lastByKey = byKey;
    }
    byKey.set(key, this.ttl ? { v: value, x: this.now() + this.ttl.ttlMs } : value);
  }

  clear(): void {
    const key = this.backend.keyForAccess();
    const namespace = this.backend.namespaceForAccess();
    const byKey = this.byKeyOf(namespace);
    if (!byKey) return;
    byKey.delete(key);
    if (byKey.size === 0) this.dropped(namespace);
  }
}

class HeapValueState<T> implements ValueState<T> {
  constructor(private readonly cell: Cell) {}
  value(): T | undefined {
    return this.cell.get() as T | undefined;
  }
  update(value: T): void {
    if (value === undefined) this.cell.clear();
    else this.cell.set(value);
  }
  clear(): void {
    this.cell.clear();
  }
}

class HeapListState<T> implements ListState<T> {
  constructor(private readonly cell: Cell) {}
  get(): readonly T[] {
    return (this.cell.get() as T[] | undefined) ?? [];
  }
  add(value: T): void {
    const list = this.cell.get() as T[] | undefined;
    if (list) {
      list.push(value);
      this.cell.set(list);
    } else {
      this.cell.set([value]);
    }
  }
  addAll(values: readonly T[]): void {
    if (values.length === 0) return;
    const list = (this.cell.get() as T[] | undefined) ?? [];
    list.push(...values);
    this.cell.set(list);
  }
  update(values: readonly T[]): void {
    if (values.length === 0) this.cell.clear();
    else this.cell.set([...values]);
  }
  clear(): void {
    this.cell.clear();
  }
}

class HeapMapState<K extends string | number, V> implements MapState<K, V> {
  constructor(private readonly cell: Cell) {}
  private map(): Map<K, V> | undefined {
    return this.cell.get() as Map<K, V> | undefined;
  }
  get(key: K): V | undefined {
    return this.map()?.get(key);
  }
  put(key: K, value: V): void {
    const map = this.map() ?? new Map<K, V>();
    map.set(key, value);
    this.cell.set(map);
  }
  remove(key: K): void {
    const map = this.map();
    if (!map) return;
    map.delete(key);
    if (map.size === 0) this.cell.clear();
    else this.cell.set(map);
  }
  contains(key: K): boolean {
    return this.map()?.has(key) ?? false;
  }
  entries(): Array<[K, V]> {
    return [...(this.map()?.entries() ?? [])];
  }
  keys(): K[] {
    return [...(this.map()?.keys() ?? [])];
  }
  values(): V[] {
    return [...(this.map()?.values() ?? [])];
  }
  isEmpty(): boolean {
    return (this.map()?.size ?? 0) === 0;
  }
  clear(): void {
    this.cell.clear();
  }
}

/**
 * A list whose elements expire one by one (Flink's TtlListState): stored as `[{v, x}, …]`.
 * add() stamps only the new element; get() drops expired elements and, with
 * on-read-and-write, renews the ones it returns. get() returns a new array.
 */
class HeapTtlListState<T> implements ListState<T> {
  constructor(
    private readonly cell: Cell,
    private readonly ttl: StateTtl,
    private readonly now: () => number,
  ) {}
  get(): readonly T[] {
    const stored = this.cell.get() as Expiring[] | undefined;
    if (stored === undefined) return [];
    const now = this.now();
    const out: T[] = [];
    let live = 0;
    // Cell.get() gave the snapshot its own copy, so the stored list may change in place.
    for (const e of stored) {
      if (e.x <= now) continue;
      stored[live++] = e;
      out.push(e.v as T);
    }
    if (live === 0) {
      this.cell.clear();
      return out;
    }
    stored.length = live;
    if (this.ttl.update === 'on-read-and-write') {
      const x = now + this.ttl.ttlMs;
      for (const e of stored) e.x = x;
    }
    return out;
  }
  add(value: T): void {
    const stored = this.cell.get() as Expiring[] | undefined;
    const e: Expiring = { v: value, x: this.now() + this.ttl.ttlMs };
    if (stored) stored.push(e);
    else this.cell.set([e]);
  }
  addAll(values: readonly T[]): void {
    if (values.length === 0) return;
    const stored = this.cell.get() as Expiring[] | undefined;
    const x = this.now() + this.ttl.ttlMs;
    const added = values.map((v): Expiring => ({ v, x }));
    if (stored) stored.push(...added);
    else this.cell.set(added);
  }
  update(values: readonly T[]): void {
    if (values.length === 0) {
      this.cell.clear();
      return;
    }
    const x = this.now() + this.ttl.ttlMs;
    this.cell.set(values.map((v): Expiring => ({ v, x })));
  }
  clear(): void {
    this.cell.clear();
  }
}

/**
 * A map whose entries expire one by one (Flink's TtlMapState): stored as `Map<k, {v, x}>`.
 * put() stamps only its entry; reads drop the expired entries they meet and, with
 * on-read-and-write, renew the entries they return. isEmpty() renews nothing: it stops
 * at the first live entry, or clears a map whose entries all expired.
 */
class HeapTtlMapState<K extends string | number, V> implements MapState<K, V> {
  constructor(
    private readonly cell: Cell,
    private readonly ttl: StateTtl,
    private readonly now: () => number,
  ) {}
  private map(): Map<K, Expiring> | undefined {
    return this.cell.get() as Map<K, Expiring> | undefined;
  }
  private entry(key: K): Expiring | undefined {
    const map = this.map();
    const e = map?.get(key);
    if (map === undefined || e === undefined) return undefined;
    const now = this.now();
    if (e.x <= now) {
      map.delete(key);
      if (map.size === 0) this.cell.clear();
      return undefined;
    }
    if (this.ttl.update === 'on-read-and-write') e.x = now + this.ttl.ttlMs;
    return e;
  }
  /** Visits every live entry (renewing it on read-and-write), removing expired ones. */
  private each(visit: (key: K, value: V) => void): void {
    const map = this.map();
    if (map === undefined) return;
    const now = this.now();
    const renew = this.ttl.update === 'on-read-and-write';
    const x = now + this.ttl.ttlMs;
    for (const [k, e] of map) {
      if (e.x <= now) {
        map.delete(k);
        continue;
      }
      if (renew) e.x = x;
      visit(k, e.v as V);
    }
    if (map.size === 0) this.cell.clear();
  }
  get(key: K): V | undefined {
    return this.entry(key)?.v as V | undefined;
  }
  put(key: K, value: V): void {
    const map = this.map();
    const e: Expiring = { v: value, x: this.now() + this.ttl.ttlMs };
    if (map) map.set(key, e);
    else this.cell.set(new Map([[key, e]]));
  }
  remove(key: K): void {
    const map = this.map();
    if (!map) return;
    map.delete(key);
    if (map.size === 0) this.cell.clear();
  }
  contains(key: K): boolean {
    return this.entry(key) !== undefined;
  }
  entries(): Array<[K, V]> {
    const out: Array<[K, V]> = [];
    this.each((k, v) => out.push([k, v]));
    return out;
  }
  keys(): K[] {
    const out: K[] = [];
    this.each((k) => out.push(k));
    return out;
  }
  values(): V[] {
    const out: V[] = [];
    this.each((_, v) => out.push(v));
    return out;
  }
  isEmpty(): boolean {
    const map = this.map();
    if (map === undefined) return true;
    const now = this.now();
    for (const e of map.values()) if (e.x > now) return false;
    this.cell.clear();
    return true;
  }
  clear(): void {
    this.cell.clear();
  }
}

class HeapReducingState<T> implements ReducingState<T> {
  constructor(
    private readonly cell: Cell,
    private readonly reduce: (a: unknown, b: unknown) => unknown,
  ) {}
  get(): T | undefined {
    return this.cell.get() as T | undefined;
  }
  add(value: T): void {
    const current = this.cell.get();
    this.cell.set(current === undefined ? value : this.reduce(current, value));
  }
  clear(): void {
    this.cell.clear();
  }
}

class HeapAggregatingState<IN, OUT> implements AggregatingState<IN, OUT> {
  constructor(
    private readonly cell: Cell,
    private readonly fn: AggregateFunction<unknown, unknown, unknown>,
  ) {}
  get(): OUT | undefined {
    const acc = this.cell.get();
    return acc === undefined ? undefined : (this.fn.getResult(acc) as OUT);
  }
  add(value: IN): void {
    const acc = this.cell.get();
    this.cell.set(this.fn.add(value, acc === undefined ? this.fn.createAccumulator() : acc));
  }
  clear(): void {
    this.cell.clear();
  }
}

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

/** Lists and maps with a TTL expire per element / entry; other states as a whole. */
function hasEntryTtl(descriptor: StateDescriptor): descriptor is StateDescriptor & { ttl: StateTtl } {
  return descriptor.ttl !== undefined && (descriptor.kind === 'list' || descriptor.kind === 'map');
}

/** Whether a stored per-entry TTL list (`[{v, x}]`) or map (`Map<k, {v, x}>`) has an element or entry alive at `now`. */
function hasLiveEntry(stored: unknown, now: number): boolean {
  const entries = Array.isArray(stored) ? (stored as Expiring[]) : (stored as Map<unknown, Expiring>).values();
  for (const e of entries) if (e.x > now) return true;
  return false;
}

/**
 * The live elements / entries of a stored per-entry TTL list or map: the stored value
 * itself when none expired, else a new container; undefined when none is alive.
 */
function liveEntries(stored: unknown, now: number): unknown {
  if (Array.isArray(stored)) {
    const list = stored as Expiring[];
    let expired = 0;
    for (const e of list) if (e.x <= now) expired++;
    if (expired === 0) return list.length > 0 ? list : undefined;
    return expired === list.length ? undefined : list.filter((e) => e.x > now);
  }
  const map = stored as Map<unknown, Expiring>;
  let expired = 0;
  for (const e of map.values()) if (e.x <= now) expired++;
  if (expired === 0) return map.size > 0 ? map : undefined;
  if (expired === map.size) return undefined;
  const live = new Map<unknown, Expiring>();
  for (const [k, e] of map) if (e.x > now) live.set(k, e);
  return live;
}

/** The user's view of a per-entry TTL list or map: the values without their expiry. */
function entryValues(stored: unknown): unknown {
  if (Array.isArray(stored)) return (stored as Expiring[]).map((e) => e.v);
  return new Map([...(stored as Map<unknown, Expiring>)].map(([k, e]) => [k, e.v]));
}

function isExpiring(value: unknown): value is Expiring {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && typeof (value as { x?: unknown }).x === 'number' && 'v' in value;
}

/**
 * A restored list or map value in the per-entry TTL form. Format 1 stored one `{v, x}`
 * around the whole collection: every element / entry inherits that expiry. An element
 * or entry without an expiry (the state had no TTL before) starts its TTL now.
 */
function toEntryTtl(stored: unknown, ttl: StateTtl, now: number): unknown {
  if (isExpiring(stored)) {
    const { v, x } = stored;
    if (Array.isArray(v)) return v.map((e: unknown): Expiring => ({ v: e, x }));
    if (v instanceof Map) return new Map([...(v as Map<unknown, unknown>)].map(([k, e]) => [k, { v: e, x }]));
    return stored;
  }
  const x = now + ttl.ttlMs;
  if (Array.isArray(stored)) return stored.every(isExpiring) ? stored : stored.map((v: unknown) => (isExpiring(v) ? v : { v, x }));
  if (stored instanceof Map) {
    for (const [k, v] of stored as Map<unknown, unknown>) if (!isExpiring(v)) (stored as Map<unknown, unknown>).set(k, { v, x });
  }
  return stored;
}

/** Whether restored values (`hadTtl`: whether they carry expiries; undefined: unknown) need adaptRestored for a descriptor. */
function needsAdapting(descriptor: StateDescriptor, hadTtl: boolean | undefined): boolean {
  if (descriptor.ttl === undefined) return hadTtl === true;
  return hasEntryTtl(descriptor) || hadTtl === false;
}

/**
 * A restored value in the form the registered descriptor needs: per-entry expiries for
 * TTL lists and maps (from format 1, or starting now for values written without a TTL),
 * one `{v, x}` for other TTL states (starting now when written without), none without TTL
 * (a TTL dropped on restore).
 */
function adaptRestored(descriptor: StateDescriptor, stored: unknown, hadTtl: boolean | undefined, now: number): unknown {
  const ttl = descriptor.ttl;
  const perEntry = descriptor.kind === 'list' || descriptor.kind === 'map';
  if (ttl === undefined) {
    if (hadTtl !== true) return stored;
    const unwrapped = isExpiring(stored) ? stored.v : stored;
    if (!perEntry) return unwrapped;
    if (Array.isArray(unwrapped)) return unwrapped.map((e: unknown) => (isExpiring(e) ? e.v : e));
    if (unwrapped instanceof Map) return new Map([...(unwrapped as Map<unknown, unknown>)].map(([k, e]) => [k, isExpiring(e) ? e.v : e]));
    return unwrapped;
  }
  const x = now + ttl.ttlMs;
  if (hadTtl === false) {
    if (!perEntry) return { v: stored, x };
    if (Array.isArray(stored)) return stored.map((v: unknown): Expiring => ({ v, x }));
    if (stored instanceof Map) return new Map([...(stored as Map<unknown, unknown>)].map(([k, v]) => [k, { v, x }]));
    return stored;
  }
  return perEntry ? toEntryTtl(stored, ttl, now) : stored;
}

function groupTimers(timers: readonly TimerSnapshot[], maxParallelism: number): Map<number, TimerSnapshot[]> {
  const groups = new Map<number, TimerSnapshot[]>();
  for (const t of timers) {
    const group = keyGroupOf(t.key, maxParallelism);
    const list = groups.get(group) ?? [];
    list.push(t);
    groups.set(group, list);
  }
  return groups;
}

/**
 * One namespace's entries at the barrier. Spreading a Map's keys and values into two
 * arrays costs a small fraction of copying the Map (1.5 ms against 25-40 ms for 100k
 * entries); the index from key to position is only built when a value of this
 * namespace is read while the snapshot has not walked past it yet.
 */
class FrozenEntries {
  private index: Map<Key, number> | undefined;
  /** The snapshot has taken every entry: live state may change them freely. */
  walked = false;

  constructor(
    readonly keys: readonly Key[],
    readonly values: unknown[],
  ) {}

  indexOf(key: Key): number | undefined {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.keys.length; i++) this.index.set(this.keys[i] as Key, i);
    }
    return this.index.get(key);
  }
}

type FrozenTable = Map<Namespace, FrozenEntries>;

/** A snapshot's own copy of a value (already plain data), made before live state could change it. */
class Preserved {
  constructor(readonly value: unknown) {}
}

/** Checks the clock only every so many entries: performance.now() costs more than copying a small value. */
const ENTRIES_PER_CLOCK_CHECK = 256;

class HeapSnapshotRun implements KeyedSnapshotRun {
  private readonly out = new KeyGroupsWriter();
  private readonly cursor: Generator<undefined, void, undefined>;
  private done: EncodedKeyedSnapshot | undefined;
  private decoded: KeyedStateSnapshot | undefined;

  constructor(
    private readonly tables: ReadonlyArray<readonly [string, FrozenTable]>,
    private readonly liveDescriptors: ReadonlyMap<string, StateDescriptor>,
    private readonly descriptors: Record<string, { kind: StateDescriptor['kind']; ttlMs?: number }>,
    private readonly timers: TimerCapture,
    private readonly maxParallelism: number,
    private readonly now: number,
    private readonly release: () => void,
  ) {
    this.cursor = this.walk();
  }

  private *walk(): Generator<undefined, void, undefined> {
    let sinceCheck = 0;
    for (const [name, table] of this.tables) {
      const descriptor = this.liveDescriptors.get(name);
      const ttl = descriptor?.ttl;
      const perEntry = descriptor !== undefined && hasEntryTtl(descriptor);
      for (const [namespace, frozen] of table) {
        const { keys, values } = frozen;
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i] as Key;
          const stored = values[i];
          let plain = stored instanceof Preserved ? stored.value : copyStored(stored);
          // Expired values stay out of the snapshot (Flink's cleanup in full snapshots).
          if (perEntry) {
            plain = livePlainEntries(plain, this.now);
            if (plain === undefined) continue;
          } else if (ttl && (plain as Expiring).x <= this.now) continue;
          this.out.entry(keyGroupOf(key, this.maxParallelism), name, namespace, key, plain);
          if (++sinceCheck === ENTRIES_PER_CLOCK_CHECK) {
            sinceCheck = 0;
            yield;
          }
        }
        frozen.walked = true;
      }
    }
    for (const domain of ['event', 'processing'] as const) {
      for (const t of this.timers[domain]) {
        this.out.timer(keyGroupOf(t.key, this.maxParallelism), domain, t.timestamp, t.namespace, t.key);
        if (++sinceCheck === ENTRIES_PER_CLOCK_CHECK) {
          sinceCheck = 0;
          yield;
        }
      }
    }
  }

  step(deadline: number): boolean {
    if (this.done) return true;
    for (;;) {
      if (this.cursor.next().done === true) break;
      if (performance.now() >= deadline) return false;
    }
    this.release();
    this.done = this.out.finish(this.maxParallelism, this.descriptors);
    return true;
  }

  encoded(): EncodedKeyedSnapshot {
    if (!this.done) throw new Error('the snapshot is not finished: call step() until it returns true');
    return this.done;
  }

  result(): KeyedStateSnapshot {
    const encoded = this.encoded();
    this.decoded ??= { maxParallelism: encoded.maxParallelism, descriptors: encoded.descriptors, keyGroups: encoded.keyGroups.map(decodeKeyGroup) };
    return this.decoded;
  }
}

const MAP_TAG = '__sluice_map__';

/** livePlainEntries on the plain (snapshot) form: `[{v, x}]` or `{ __sluice_map__: [[k, {v, x}]] }`. */
function livePlainEntries(plain: unknown, now: number): unknown {
  if (Array.isArray(plain)) {
    const live = (plain as Expiring[]).filter((e) => e.x > now);
    return live.length > 0 ? live : undefined;
  }
  const entries = (plain as Record<string, Array<[unknown, Expiring]>>)[MAP_TAG] ?? [];
  const live = entries.filter(([, e]) => e.x > now);
  return live.length > 0 ? { [MAP_TAG]: live } : undefined;
}

/** Snapshot values are plain data: Maps become tagged entry lists. */
function toPlain(value: unknown): unknown {
  if (value instanceof Map) return { [MAP_TAG]: [...(value as Map<unknown, unknown>).entries()].map(([k, v]) => [k, toPlain(v)]) };
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

function fromPlain(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && MAP_TAG in value) {
    return new Map((value as Record<string, Array<[unknown, unknown]>>)[MAP_TAG]?.map(([k, v]) => [k, fromPlain(v)]));
  }
  if (Array.isArray(value)) return value.map(fromPlain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromPlain(v)]));
  }
  return value;
}

/** toPlain builds new containers all the way down, so the copy shares nothing with live state. */
function copyStored(stored: unknown): unknown {
  return toPlain(stored);
}

function restoreStored(stored: unknown): unknown {
  return fromPlain(stored);
}
