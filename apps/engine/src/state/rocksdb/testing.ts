/**
 * Test support for keyed state backends (as the operators package ships its harness):
 * temp directories, a manual clock, a seeded random source, snapshot normalization
 * (order inside a canonical snapshot carries no meaning), and a fuzz driver that applies
 * the same random operations to several backends and returns each one's answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HeapKeyedStateBackend,
  keyGroupRangeOf,
  type Key,
  type KeyedStateBackend,
  type KeyedStateSnapshot,
  type Namespace,
  type StateDescriptor,
} from '@sluice/operators';
import { RocksDBKeyedStateBackend, type RocksDBBackendOptions } from './backend.js';

export const MAX_PARALLELISM = 128;

const dirs: string[] = [];
export function tempDir(prefix = 'sluice-rocks-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export class Clock {
  constructor(public t = 1_000) {}
  readonly now = (): number => this.t;
}

/** mulberry32: small, seedable, good enough for fuzzing. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function heapBackend(clock: Clock, subtask = 0, parallelism = 1): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: MAX_PARALLELISM, keyGroupRange: keyGroupRangeOf(subtask, MAX_PARALLELISM, parallelism), now: clock.now });
}

export async function rocksBackend(clock: Clock, subtask = 0, parallelism = 1, options: Partial<RocksDBBackendOptions> = {}): Promise<RocksDBKeyedStateBackend> {
  const backend = new RocksDBKeyedStateBackend({
    maxParallelism: MAX_PARALLELISM,
    keyGroupRange: keyGroupRangeOf(subtask, MAX_PARALLELISM, parallelism),
    now: clock.now,
    workingDirectory: join(tempDir(), 'work'),
    // Small buffers so that flushes, evictions and RocksDB reads happen all the time.
    writeBufferBytes: 2048,
    readCacheBytes: 4096,
    rocksdb: { memtableBytes: 4 * 1024 * 1024, blockCacheBytes: 1024 * 1024 },
    ...options,
  });
  await backend.open();
  return backend;
}

// --- the states every fuzz run uses ---------------------------------------------------

const sum = (a: unknown, b: unknown): unknown => (a as number) + (b as number);
const avg = {
  createAccumulator: () => ({ n: 0, total: 0 }),
  add: (v: unknown, acc: unknown) => ({ n: (acc as { n: number }).n + 1, total: (acc as { total: number }).total + (v as number) }),
  getResult: (acc: unknown) => (acc as { total: number; n: number }).total / (acc as { n: number }).n,
  merge: (a: unknown, b: unknown) => ({ n: (a as { n: number }).n + (b as { n: number }).n, total: (a as { total: number }).total + (b as { total: number }).total }),
};

export const DESCRIPTORS: readonly StateDescriptor[] = [
  { kind: 'value', name: 'value' },
  { kind: 'value', name: 'value-ttl', ttl: { ttlMs: 100, update: 'on-create-and-write' } },
  { kind: 'list', name: 'list' },
  { kind: 'list', name: 'list-ttl', ttl: { ttlMs: 120, update: 'on-read-and-write' } },
  { kind: 'list', name: 'list-ttl-cw', ttl: { ttlMs: 80, update: 'on-create-and-write' } },
  { kind: 'map', name: 'map' },
  { kind: 'map', name: 'map-ttl', ttl: { ttlMs: 90, update: 'on-read-and-write' } },
  { kind: 'map', name: 'map-ttl-cw', ttl: { ttlMs: 90, update: 'on-create-and-write' } },
  { kind: 'reducing', name: 'sum', reduce: sum },
  { kind: 'reducing', name: 'sum-ttl', reduce: sum, ttl: { ttlMs: 150, update: 'on-read-and-write' } },
  { kind: 'aggregating', name: 'avg', aggregate: avg },
];

const KEYS: readonly Key[] = [0, 1, 2, 3, -7, 42, 2 ** 31, 1.5, -0.25, 'a', 'b', 'key-3', 'ünïcødé', '日本', '', 'x'.repeat(200), '\ud800lone', 'e\u0301'];
const NAMESPACES: readonly Namespace[] = ['', 1, 2, 1000, 'w-a', 'w-b'];
const MAP_KEYS: ReadonlyArray<string | number> = [0, 7, -3, 'k', 'é', 2.5];

/** A random value: plain data of several shapes, sometimes holding a Map. */
function randomValue(rnd: () => number): unknown {
  const r = rnd();
  if (r < 0.25) return Math.floor(rnd() * 1000);
  if (r < 0.4) return `s${Math.floor(rnd() * 100)}`;
  if (r < 0.5) return null;
  if (r < 0.6) return [1, 'two', { three: 3 }, [Math.floor(rnd() * 9)]];
  if (r < 0.7) return new Map<unknown, unknown>([[1, 'one'], ['k', { n: Math.floor(rnd() * 9) }]]);
  if (r < 0.8) return { nested: { deep: [true, false, 1.25] }, tag: 'x'.repeat(Math.floor(rnd() * 50)) };
  return { n: Math.floor(rnd() * 100), s: 'v' };
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)] as T;
}

// --- normalization ------------------------------------------------------------------

const order = (a: unknown): string => JSON.stringify([typeof a, a]);
function byKey(a: unknown, b: unknown): number {
  const x = order(a);
  const y = order(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Sorts map entries (live Maps and tagged snapshot maps) so that insertion order does not matter. */
export function normalizeValue(value: unknown): unknown {
  if (value instanceof Map) return new Map([...(value as Map<unknown, unknown>).entries()].sort(([a], [b]) => byKey(a, b)).map(([k, v]) => [k, normalizeValue(v)]));
  if (Array.isArray(value)) return value.map(normalizeValue);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === '__sluice_map__' ? (v as Array<[unknown, unknown]>).map(([mk, mv]) => [mk, normalizeValue(mv)]).sort(([a], [b]) => byKey(a, b)) : normalizeValue(v);
    }
    return out;
  }
  return value;
}

/** A snapshot with every order that carries no meaning sorted away. */
export function normalizeSnapshot(snapshot: KeyedStateSnapshot): unknown {
  return {
    maxParallelism: snapshot.maxParallelism,
    descriptors: snapshot.descriptors,
    keyGroups: [...snapshot.keyGroups]
      .sort((a, b) => a.keyGroup - b.keyGroup)
      .map((g) => ({
        keyGroup: g.keyGroup,
        states: Object.fromEntries(
          Object.entries(g.states)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([name, byNs]) => [
              name,
              [...byNs].sort(([a], [b]) => byKey(a, b)).map(([ns, entries]) => [ns, [...entries].sort(([a], [b]) => byKey(a, b)).map(([k, v]) => [k, normalizeValue(v)])]),
            ]),
        ),
        timers: [...g.timers].sort((a, b) => byKey([a.domain, a.timestamp, a.key, a.namespace], [b.domain, b.timestamp, b.key, b.namespace])),
      }))
      // A key group whose values all expired appears in neither.
      .filter((g) => Object.keys(g.states).length > 0 || g.timers.length > 0),
  };
}

const sorted = (values: readonly unknown[]): unknown[] => [...values].sort(byKey);

// --- the fuzz driver ----------------------------------------------------------------

export interface FuzzTarget {
  readonly name: string;
  readonly backend: KeyedStateBackend & { snapshot(): KeyedStateSnapshot; describeKey(key: Key): unknown };
}

/** Applies one random operation to every target and returns what each one answered. */
export function fuzzStep(rnd: () => number, clock: Clock, targets: readonly FuzzTarget[], keys: readonly Key[] = KEYS): { op: string; results: unknown[] } {
  const key = pick(rnd, keys);
  const namespace = pick(rnd, NAMESPACES);
  const descriptor = pick(rnd, DESCRIPTORS);
  const r = rnd();
  for (const t of targets) {
    t.backend.setCurrentKey(key);
    t.backend.setCurrentNamespace(namespace);
  }
  const all = (op: string, f: (b: FuzzTarget['backend']) => unknown) => ({ op: `${op} ${descriptor.name} key=${JSON.stringify(key)} ns=${JSON.stringify(namespace)}`, results: targets.map((t) => normalizeValue(f(t.backend))) });
  if (r < 0.04) {
    // Steps of 10 ms against TTLs that are multiples of 10: values expire exactly at `now` often.
    const advance = Math.floor(rnd() * 7) * 10;
    clock.t += advance;
    return { op: `advance ${advance}`, results: [] };
  }
  if (r < 0.07) return all('keys', (b) => sorted(b.keys(descriptor.name, namespace)));
  if (r < 0.1) return all('namespaces', (b) => sorted(b.namespacesOfCurrentKey(descriptor.name)));
  if (r < 0.13) {
    const sources = NAMESPACES.filter(() => rnd() < 0.4);
    return all(`merge into ${JSON.stringify(namespace)} from ${JSON.stringify(sources)}`, (b) => {
      b.mergeNamespaces(descriptor.name, namespace, sources);
      return null;
    });
  }
  if (r < 0.14) {
    return all('describeKey', (b) =>
      Object.fromEntries(
        Object.entries(b.describeKey(key) as Record<string, Array<{ namespace: Namespace; value: unknown }>>).map(([name, values]) => [name, [...values].sort((x, y) => byKey(x.namespace, y.namespace))]),
      ),
    );
  }
  if (r < 0.145) return all('size', (b) => b.size());
  const payload = randomValue(rnd);
  const number = Math.floor(rnd() * 100);
  const op = rnd();
  switch (descriptor.kind) {
    case 'value': {
      if (op < 0.45) return all('value', (b) => b.getState(descriptor).value());
      if (op < 0.9) return all(`update ${JSON.stringify(payload)}`, (b) => b.getState(descriptor).update(payload));
      return all('clear', (b) => b.getState(descriptor).clear());
    }
    case 'list': {
      const list = (b: FuzzTarget['backend']) => b.getState(descriptor);
      if (op < 0.3) return all('get', (b) => [...list(b).get()]);
      if (op < 0.65) return all('add', (b) => list(b).add(payload));
      if (op < 0.8) return all('addAll', (b) => list(b).addAll(number % 3 === 0 ? [] : [payload, number]));
      if (op < 0.93) return all('update', (b) => list(b).update(number % 4 === 0 ? [] : [number, payload]));
      return all('clear', (b) => list(b).clear());
    }
    case 'map': {
      const map = (b: FuzzTarget['backend']) => b.getState(descriptor);
      const mk = pick(rnd, MAP_KEYS);
      if (op < 0.15) return all(`get ${String(mk)}`, (b) => map(b).get(mk));
      if (op < 0.42) return all(`put ${String(mk)}`, (b) => map(b).put(mk, payload));
      if (op < 0.62) {
        return all(`remove ${String(mk)}, then isEmpty`, (b) => {
          map(b).remove(mk);
          return map(b).isEmpty();
        });
      }
      if (op < 0.7) return all(`contains ${String(mk)}`, (b) => map(b).contains(mk));
      if (op < 0.77) return all('entries', (b) => [...map(b).entries()].sort(([x], [y]) => byKey(x, y)));
      if (op < 0.82) return all('keys', (b) => sorted(map(b).keys()));
      if (op < 0.87) return all('values', (b) => sorted(map(b).values().map((v) => JSON.stringify(normalizeValue(v) instanceof Map ? [...(v as Map<unknown, unknown>)] : v))));
      if (op < 0.94) return all('isEmpty', (b) => map(b).isEmpty());
      return all('clear', (b) => map(b).clear());
    }
    case 'reducing': {
      const s = (b: FuzzTarget['backend']) => b.getState(descriptor);
      if (op < 0.4) return all('get', (b) => s(b).get());
      if (op < 0.9) return all(`add ${number}`, (b) => s(b).add(number));
      return all('clear', (b) => s(b).clear());
    }
    case 'aggregating': {
      const s = (b: FuzzTarget['backend']) => b.getState(descriptor);
      if (op < 0.4) return all('get', (b) => s(b).get());
      if (op < 0.9) return all(`add ${number}`, (b) => s(b).add(number));
      return all('clear', (b) => s(b).clear());
    }
  }
}

export { KEYS, NAMESPACES };
