/**
 * Keyed state as user functions and operators see it. Every access is scoped to the
 * backend's current key (set by the task before each record and timer) and current
 * namespace (VOID_NAMESPACE, or a window).
 */
import type { Key } from './elements.js';
import type { InternalTimerService } from './operator.js';
import type { ProcessingTimeService, Triggerable } from './time.js';

export type Namespace = string | number;
/** The namespace of state that is not per window. */
export const VOID_NAMESPACE = '';

export interface ValueState<T> {
  value(): T | undefined;
  update(value: T): void;
  clear(): void;
}

export interface ListState<T> {
  get(): readonly T[];
  add(value: T): void;
  addAll(values: readonly T[]): void;
  update(values: readonly T[]): void;
  clear(): void;
}

export interface MapState<K extends string | number, V> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  remove(key: K): void;
  contains(key: K): boolean;
  entries(): Array<[K, V]>;
  keys(): K[];
  values(): V[];
  isEmpty(): boolean;
  clear(): void;
}

export interface ReducingState<T> {
  get(): T | undefined;
  add(value: T): void;
  clear(): void;
}

export interface AggregatingState<IN, OUT> {
  get(): OUT | undefined;
  add(value: IN): void;
  clear(): void;
}

export interface AggregateFunction<IN, ACC, OUT> {
  createAccumulator(): ACC;
  add(value: IN, accumulator: ACC): ACC;
  getResult(accumulator: ACC): OUT;
  merge?(a: ACC, b: ACC): ACC;
}

export interface StateTtl {
  readonly ttlMs: number;
  readonly update: 'on-create-and-write' | 'on-read-and-write';
}

export type StateDescriptor =
  | { readonly kind: 'value'; readonly name: string; readonly ttl?: StateTtl | undefined }
  | { readonly kind: 'list'; readonly name: string; readonly ttl?: StateTtl | undefined }
  | { readonly kind: 'map'; readonly name: string; readonly ttl?: StateTtl | undefined }
  | { readonly kind: 'reducing'; readonly name: string; readonly reduce: (a: unknown, b: unknown) => unknown; readonly ttl?: StateTtl | undefined }
  | {
      readonly kind: 'aggregating';
      readonly name: string;
      readonly aggregate: AggregateFunction<unknown, unknown, unknown>;
      readonly ttl?: StateTtl | undefined;
    };

/** The state handle a descriptor kind yields. */
export type StateFor<D extends StateDescriptor> = D['kind'] extends 'value'
  ? ValueState<unknown>
  : D['kind'] extends 'list'
    ? ListState<unknown>
    : D['kind'] extends 'map'
      ? MapState<string | number, unknown>
      : D['kind'] extends 'reducing'
        ? ReducingState<unknown>
        : AggregatingState<unknown, unknown>;

/** Half-open range of key groups [start, end] (inclusive both ends, as Flink's KeyGroupRange). */
export interface KeyGroupRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The snapshot of one operator subtask's keyed state, grouped by key group so that
 * a restore at another parallelism can pick the groups it now owns.
 * Values are plain data: the checkpoint issue serializes them.
 */
export interface KeyedStateSnapshot {
  readonly maxParallelism: number;
  /** keyGroup → state name → namespace → key → stored value. */
  readonly keyGroups: ReadonlyArray<{
    readonly keyGroup: number;
    readonly states: Readonly<Record<string, ReadonlyArray<readonly [Namespace, ReadonlyArray<readonly [Key, unknown]>]>>>;
    readonly timers: ReadonlyArray<TimerSnapshot>;
  }>;
  /** Kind and TTL of each state, so a restore can detect incompatible changes. */
  readonly descriptors: Readonly<Record<string, { kind: StateDescriptor['kind']; ttlMs?: number }>>;
}

export interface TimerSnapshot {
  readonly domain: 'event' | 'processing';
  readonly timestamp: number;
  readonly key: Key;
  readonly namespace: Namespace;
}

export interface KeyedStateBackend {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  setCurrentKey(key: Key): void;
  getCurrentKey(): Key;
  setCurrentNamespace(namespace: Namespace): void;
  getCurrentNamespace(): Namespace;
  /** Registers (or returns the registered) state for a descriptor. */
  getState<D extends StateDescriptor>(descriptor: D): StateFor<D>;
  /** Every key that has a value in a state under a namespace (for windows and the state inspector). */
  keys(stateName: string, namespace: Namespace): Key[];
  /** Every namespace of a state for the current key. */
  namespacesOfCurrentKey(stateName: string): Namespace[];
  /** Moves the current key's values of a state from some namespaces into one (merging windows). */
  mergeNamespaces(stateName: string, target: Namespace, sources: readonly Namespace[]): void;
  /** Number of (key, namespace) entries across all states, and an estimate of their bytes. */
  size(): { entries: number; keys: number };
}

/**
 * A keyed backend the task runtime checkpoints and restores: HeapKeyedStateBackend, or the
 * engine's RocksDBKeyedStateBackend. Timers come from it so that they are snapshotted with
 * its state. snapshot()/restore() use the canonical format (KeyedStateSnapshot) of every backend.
 */
export interface CheckpointableKeyedStateBackend extends KeyedStateBackend {
  createTimerService(target: Triggerable, processingTime: ProcessingTimeService): InternalTimerService;
  snapshot(): KeyedStateSnapshot;
  /**
   * A checkpoint's snapshot of the state as it is now, built in steps while records go on
   * (copy-on-write on the heap); a backend without that returns a run that is already done.
   */
  beginSnapshot(): KeyedSnapshotRun;
  restore(snapshots: readonly KeyedStateSnapshot[]): void;
  describeKey(key: Key): Record<string, Array<{ namespace: Namespace; value: unknown }>>;
  /** Every state value and pending timer of one key, with each state's kind: the state inspector's view. */
  inspectKey(key: Key): KeyInspection;
}

/** A snapshot being built in steps (CheckpointableKeyedStateBackend.beginSnapshot). */
export interface KeyedSnapshotRun {
  /** Works until performance.now() passes `deadline`; true once the snapshot is complete. */
  step(deadline: number): boolean;
  /** The snapshot, once step() returned true. */
  result(): KeyedStateSnapshot;
  /**
   * The same snapshot with its key groups already in their stored byte form, for a
   * backend that writes them while it walks its state (the heap); a checkpoint then
   * copies bytes instead of encoding objects.
   */
  encoded?(): EncodedKeyedSnapshot;
}

/** A keyed snapshot whose key groups are bytes: each the msgpack of a stored key group (state/snapshot-bytes.ts). */
export interface EncodedKeyedSnapshot {
  readonly maxParallelism: number;
  readonly descriptors: KeyedStateSnapshot['descriptors'];
  readonly keyGroups: readonly Uint8Array[];
}

/** A run for a snapshot that was taken at once. */
export function completedSnapshotRun(snapshot: KeyedStateSnapshot): KeyedSnapshotRun {
  return { step: () => true, result: () => snapshot };
}

/**
 * One key's state as the state inspector shows it. `kind` is null for state restored
 * from a checkpoint that the operator has not registered again yet (the heap keeps
 * such values as plain data and cannot know their kind before that).
 */
export interface KeyInspection {
  readonly states: ReadonlyArray<{ readonly name: string; readonly kind: StateDescriptor['kind'] | null; readonly namespace: Namespace; readonly value: unknown }>;
  readonly timers: {
    readonly event: ReadonlyArray<{ readonly timestamp: number; readonly namespace: Namespace }>;
    readonly processing: ReadonlyArray<{ readonly timestamp: number; readonly namespace: Namespace }>;
  };
}

/** Builds a KeyInspection from describeKey's output, the kinds of registered states and the timer service. */
export function inspectionOf(
  described: Record<string, Array<{ namespace: Namespace; value: unknown }>>,
  kindOf: (name: string) => StateDescriptor['kind'] | undefined,
  timers: { event: ReadonlyArray<{ timestamp: number; namespace: Namespace }>; processing: ReadonlyArray<{ timestamp: number; namespace: Namespace }> } | undefined,
): KeyInspection {
  const strip = (list: ReadonlyArray<{ timestamp: number; namespace: Namespace }>) => list.map((t) => ({ timestamp: t.timestamp, namespace: t.namespace }));
  return {
    states: Object.entries(described)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([name, values]) => values.map((v) => ({ name, kind: kindOf(name) ?? null, namespace: v.namespace, value: v.value }))),
    timers: { event: strip(timers?.event ?? []), processing: strip(timers?.processing ?? []) },
  };
}
