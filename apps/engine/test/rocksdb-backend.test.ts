/**
 * The RocksDB keyed state backend against the heap backend: the same seeded random
 * operations on all five state kinds (namespaces, TTL on a manual clock, namespace
 * merging) must give the same answers and the same canonical snapshot; canonical
 * snapshots restore across the two backends and across parallelism changes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { keyGroupRangeOf, subtaskForKey, VOID_NAMESPACE, type Key, type KeyedStateSnapshot } from '@sluice/operators';
import type { RocksDBKeyedStateBackend } from '../src/state/rocksdb/index.js';
import {
  Clock,
  DESCRIPTORS,
  KEYS,
  MAX_PARALLELISM,
  fuzzStep,
  heapBackend,
  normalizeSnapshot,
  random,
  removeTempDirs,
  rocksBackend,
  type FuzzTarget,
} from '../src/state/rocksdb/testing.js';

afterAll(removeTempDirs);

/** Runs `steps` random operations on every target, failing at the first answer that differs. */
function fuzz(seed: number, clock: Clock, targets: readonly FuzzTarget[], steps: number, keys?: readonly Key[]): void {
  const rnd = random(seed);
  for (let i = 0; i < steps; i++) {
    const { op, results } = fuzzStep(rnd, clock, targets, keys);
    for (let t = 1; t < results.length; t++) {
      expect(results[t], `seed ${seed}, step ${i}: ${op} (${targets[t]?.name ?? '?'} vs ${targets[0]?.name ?? '?'})`).toEqual(results[0]);
    }
    if (i % 500 === 499) {
      const snapshots = targets.map((t) => normalizeSnapshot(t.backend.snapshot()));
      for (let t = 1; t < snapshots.length; t++) expect(snapshots[t], `seed ${seed}, snapshot after step ${i}`).toEqual(snapshots[0]);
    }
  }
}

function registerAll(backend: FuzzTarget['backend']): void {
  for (const d of DESCRIPTORS) backend.getState(d);
}

describe('RocksDB backend parity with the heap backend', () => {
  // Seeds that once failed stay here as named regressions.
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: same answers and the same canonical snapshot`, async () => {
      const clock = new Clock();
      const heap = heapBackend(clock);
      const rocks = await rocksBackend(clock);
      try {
        fuzz(seed, clock, [
          { name: 'heap', backend: heap },
          { name: 'rocksdb', backend: rocks },
        ], 3000);
        expect(normalizeSnapshot(rocks.snapshot())).toEqual(normalizeSnapshot(heap.snapshot()));
        expect(rocks.size()).toEqual(heap.size());
      } finally {
        await rocks.dispose();
      }
    });
  }

  it('with a large write buffer and cache (no flushes in between) it answers the same', async () => {
    const clock = new Clock();
    const heap = heapBackend(clock);
    const rocks = await rocksBackend(clock, 0, 1, { writeBufferBytes: 64 << 20, readCacheBytes: 64 << 20 });
    try {
      fuzz(11, clock, [
        { name: 'heap', backend: heap },
        { name: 'rocksdb', backend: rocks },
      ], 3000);
    } finally {
      await rocks.dispose();
    }
  });
});

describe('canonical RocksDB snapshots taken in steps', () => {
  it('a snapshot begun at the barrier holds the state of that moment while records change the state between its steps', async () => {
    const clock = new Clock();
    const rocks = await rocksBackend(clock);
    try {
      registerAll(rocks);
      const value = rocks.getState(DESCRIPTORS[0] as (typeof DESCRIPTORS)[0] & { kind: 'value' });
      // Enough rows for many steps of the scan.
      for (let k = 0; k < 3000; k++) {
        rocks.setCurrentKey(`bulk-${k}`);
        value.update({ k });
      }
      fuzz(11, clock, [{ name: 'rocksdb', backend: rocks }], 1500);
      const expected = normalizeSnapshot(rocks.snapshot());
      const run = rocks.beginSnapshot();
      const rnd = random(12);
      let steps = 0;
      while (!run.step(0)) {
        steps++;
        // Writes, deletes, TTL expiry and timers meanwhile, on the same keys.
        for (let i = 0; i < 20; i++) fuzzStep(rnd, clock, [{ name: 'rocksdb', backend: rocks }]);
        rocks.setCurrentKey(`bulk-${steps}`);
        rocks.setCurrentNamespace(VOID_NAMESPACE);
        value.update({ changed: steps });
        // Into the database now, where the scan would see them without its snapshot.
        rocks.flush();
      }
      expect(steps, 'the scan took several steps').toBeGreaterThan(5);
      expect(normalizeSnapshot(run.result())).toEqual(expected);
      // Live state has the changes.
      rocks.setCurrentKey('bulk-1');
      rocks.setCurrentNamespace(VOID_NAMESPACE);
      expect(value.value()).toEqual({ changed: 1 });
    } finally {
      await rocks.dispose();
    }
  });

  it('closing the backend while a snapshot is being built drops it, and capturing a native checkpoint finishes it first', async () => {
    const clock = new Clock();
    const rocks = await rocksBackend(clock);
    registerAll(rocks);
    const value = rocks.getState(DESCRIPTORS[0] as (typeof DESCRIPTORS)[0] & { kind: 'value' });
    for (let k = 0; k < 2000; k++) {
      rocks.setCurrentKey(k);
      value.update(k);
    }
    const finished = rocks.beginSnapshot();
    expect(finished.step(0)).toBe(false);
    await rocks.captureNative();
    expect(finished.step(0), 'finished by the capture').toBe(true);
    expect(finished.result().keyGroups.flatMap((g) => g.states['value'] ?? []).flatMap(([, e]) => e)).toHaveLength(2000);
    const dropped = rocks.beginSnapshot();
    expect(dropped.step(0)).toBe(false);
    await rocks.dispose();
    expect(() => dropped.step(Number.POSITIVE_INFINITY)).toThrow();
  });
});

describe('canonical snapshots move between backends', () => {
  it('a heap snapshot restores into RocksDB and a RocksDB snapshot into the heap, and both go on alike', async () => {
    const clock = new Clock();
    const heap = heapBackend(clock);
    const rocks = await rocksBackend(clock);
    const restoredRocks = await rocksBackend(clock);
    try {
      fuzz(21, clock, [
        { name: 'heap', backend: heap },
        { name: 'rocksdb', backend: rocks },
      ], 2000);
      const fromHeap = heap.snapshot();
      const fromRocks = rocks.snapshot();
      expect(normalizeSnapshot(fromRocks)).toEqual(normalizeSnapshot(fromHeap));

      // heap → RocksDB and RocksDB → heap, then the same operations on all four.
      restoredRocks.restore([fromHeap]);
      const restoredHeap = heapBackend(clock);
      restoredHeap.restore([fromRocks]);
      for (const b of [restoredRocks, restoredHeap]) registerAll(b);
      registerAll(heap);
      expect(normalizeSnapshot(restoredRocks.snapshot())).toEqual(normalizeSnapshot(heap.snapshot()));
      expect(normalizeSnapshot(restoredHeap.snapshot())).toEqual(normalizeSnapshot(heap.snapshot()));
      fuzz(22, clock, [
        { name: 'heap', backend: heap },
        { name: 'rocksdb', backend: rocks },
        { name: 'heap→rocksdb', backend: restoredRocks },
        { name: 'rocksdb→heap', backend: restoredHeap },
      ], 2000);
    } finally {
      await rocks.dispose();
      await restoredRocks.dispose();
    }
  });

  it('state restored without being registered is carried into the next snapshot unchanged, then typed when registered', async () => {
    const clock = new Clock();
    const heap = heapBackend(clock);
    fuzz(31, clock, [{ name: 'heap', backend: heap }], 1500);
    const snapshot = heap.snapshot();
    // A snapshot taken by a backend that restored but never registered the states has no descriptors.
    const bare: KeyedStateSnapshot = { ...snapshot, descriptors: {} };
    const rocks = await rocksBackend(clock);
    const heap2 = heapBackend(clock);
    try {
      rocks.restore([bare]);
      heap2.restore([bare]);
      expect(normalizeSnapshot(rocks.snapshot())).toEqual(normalizeSnapshot(heap2.snapshot()));
      // Registering gives each state its layout; reads then agree with the heap.
      fuzz(32, clock, [
        { name: 'heap', backend: heap2 },
        { name: 'rocksdb', backend: rocks },
      ], 1500);
    } finally {
      await rocks.dispose();
    }
  });

  it('rejects a snapshot with another number of key groups', async () => {
    const clock = new Clock();
    const rocks = await rocksBackend(clock);
    try {
      expect(() => rocks.restore([{ maxParallelism: 64, keyGroups: [], descriptors: {} }])).toThrow(/maxParallelism 64 into a job with maxParallelism 128/);
    } finally {
      await rocks.dispose();
    }
  });
});

describe('rescaling through canonical snapshots', () => {
  it('snapshots of 2 subtasks restore into 3, on either backend', async () => {
    const clock = new Clock();
    const keys: Key[] = [...KEYS, ...Array.from({ length: 60 }, (_, i) => `k${i}`), ...Array.from({ length: 40 }, (_, i) => i * 37)];
    const rocksOld: RocksDBKeyedStateBackend[] = [];
    const rocksNew: RocksDBKeyedStateBackend[] = [];
    try {
      // Two subtasks per backend; each operation goes to the subtask that owns its key.
      const heaps = [heapBackend(clock, 0, 2), heapBackend(clock, 1, 2)];
      for (let s = 0; s < 2; s++) rocksOld.push(await rocksBackend(clock, s, 2));
      for (let s = 0; s < 2; s++) {
        const own = keys.filter((k) => subtaskForKey(k, MAX_PARALLELISM, 2) === s);
        fuzz(40 + s, clock, [
          { name: `heap ${s}`, backend: heaps[s] as FuzzTarget['backend'] },
          { name: `rocksdb ${s}`, backend: rocksOld[s] as RocksDBKeyedStateBackend },
        ], 2500, own);
      }
      const heapSnapshots = heaps.map((h) => h.snapshot());
      const rocksSnapshots = rocksOld.map((r) => r.snapshot());

      // Into 3: RocksDB from RocksDB snapshots, heap from heap snapshots, and crosswise.
      const newHeaps = [0, 1, 2].map((s) => heapBackend(clock, s, 3));
      const crossHeaps = [0, 1, 2].map((s) => heapBackend(clock, s, 3));
      for (let s = 0; s < 3; s++) rocksNew.push(await rocksBackend(clock, s, 3));
      const crossRocks: RocksDBKeyedStateBackend[] = [];
      for (let s = 0; s < 3; s++) crossRocks.push(await rocksBackend(clock, s, 3));
      rocksNew.push(...crossRocks);
      for (let s = 0; s < 3; s++) {
        (newHeaps[s] as FuzzTarget['backend'] & { restore(x: KeyedStateSnapshot[]): void }).restore(heapSnapshots);
        (crossHeaps[s] as FuzzTarget['backend'] & { restore(x: KeyedStateSnapshot[]): void }).restore(rocksSnapshots);
        (rocksNew[s] as RocksDBKeyedStateBackend).restore(rocksSnapshots);
        (crossRocks[s] as RocksDBKeyedStateBackend).restore(heapSnapshots);
        const range = keyGroupRangeOf(s, MAX_PARALLELISM, 3);
        const targets: FuzzTarget[] = [
          { name: 'heap', backend: newHeaps[s] as FuzzTarget['backend'] },
          { name: 'heap from rocksdb', backend: crossHeaps[s] as FuzzTarget['backend'] },
          { name: 'rocksdb', backend: rocksNew[s] as RocksDBKeyedStateBackend },
          { name: 'rocksdb from heap', backend: crossRocks[s] as RocksDBKeyedStateBackend },
        ];
        for (const t of targets) registerAll(t.backend);
        const expected = normalizeSnapshot(targets[0]?.backend.snapshot() as KeyedStateSnapshot);
        for (const t of targets.slice(1)) expect(normalizeSnapshot(t.backend.snapshot()), t.name).toEqual(expected);
        // Every key group in the new snapshots belongs to the new subtask.
        for (const g of (rocksNew[s] as RocksDBKeyedStateBackend).snapshot().keyGroups) expect(g.keyGroup >= range.start && g.keyGroup <= range.end).toBe(true);
        const own = keys.filter((k) => subtaskForKey(k, MAX_PARALLELISM, 3) === s);
        fuzz(50 + s, clock, targets, 1500, own);
      }
    } finally {
      for (const r of [...rocksOld, ...rocksNew]) await r.dispose();
    }
  });
});
