/**
 * Native (incremental) checkpoints of the RocksDB backend with a real RocksDB: restore
 * gives the same reads (and timers), rescaling copies key groups, a second checkpoint
 * after 1% of keys changed adds little, checkpoints taken under background compaction
 * restore to the state at their barrier, unreferenced shared files are collected, and
 * damaged files are named on restore. Also: state far larger than the caches, and the
 * backend inside worker threads.
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { keyGroupRangeOf, ManualProcessingTime, subtaskForKey, type InternalTimer, type ValueState } from '@sluice/operators';
import { RocksDBKeyedStateBackend, canonicalFromNative, collectSharedGarbage, relativizeHandle, resolveHandle, type NativeCheckpointHandle } from '../src/state/rocksdb/index.js';
import { Clock, DESCRIPTORS, MAX_PARALLELISM, fuzzStep, heapBackend, normalizeSnapshot, random, removeTempDirs, rocksBackend, tempDir } from '../src/state/rocksdb/testing.js';

afterAll(removeTempDirs);

const VALUE = { kind: 'value', name: 'v' } as const;
const pad = 'p'.repeat(90);
const valueOf = (i: number, round = 0) => ({ i, round, pad });

function newRocks(clock: Clock, subtask: number, parallelism: number, options: Partial<ConstructorParameters<typeof RocksDBKeyedStateBackend>[0]> = {}): RocksDBKeyedStateBackend {
  return new RocksDBKeyedStateBackend({
    maxParallelism: MAX_PARALLELISM,
    keyGroupRange: keyGroupRangeOf(subtask, MAX_PARALLELISM, parallelism),
    now: clock.now,
    workingDirectory: join(tempDir(), 'work'),
    rocksdb: { memtableBytes: 4 << 20, blockCacheBytes: 1 << 20 },
    ...options,
  });
}

const noTimers = { onEventTime(_t: InternalTimer) {}, onProcessingTime(_t: InternalTimer) {} };

describe('native checkpoints', () => {
  it('checkpoint → restore gives the same reads, TTL and timers included', async () => {
    const clock = new Clock();
    const heap = heapBackend(clock);
    // walFlushBytes 0: the WAL always becomes an SST first, so the checkpoint has shared files.
    const rocks = await rocksBackend(clock, 0, 1, { walFlushBytes: 0 });
    const root = tempDir();
    const restored = newRocks(clock, 0, 1);
    try {
      const heapTimers = heap.createTimerService(noTimers, new ManualProcessingTime());
      const rocksTimers = rocks.createTimerService(noTimers, new ManualProcessingTime());
      const rnd = random(7);
      for (let i = 0; i < 3000; i++) fuzzStep(rnd, clock, [{ name: 'heap', backend: heap }, { name: 'rocksdb', backend: rocks }]);
      for (const [key, ts] of [['a', 10], [1, 20], ['b', 30]] as const) {
        for (const [b, t] of [[heap, heapTimers], [rocks, rocksTimers]] as const) {
          b.setCurrentKey(key);
          t.registerEventTimeTimer('', ts);
        }
      }
      const handle = await rocks.checkpointNative(join(root, 'chk-1', 'private'), join(root, 'shared'));
      expect(handle.shared.length).toBeGreaterThan(0);
      expect(handle.private.map((f) => f.name)).toEqual(expect.arrayContaining(['CURRENT', 'IDENTITY', 'sluice-timers']));
      expect(handle.private.some((f) => f.name.startsWith('MANIFEST-'))).toBe(true);
      expect(handle.private.some((f) => f.name === 'LOCK' || f.name === 'LOG')).toBe(false);
      const expected = normalizeSnapshot(heap.snapshot());
      await rocks.dispose();

      await restored.restoreNative([handle]);
      restored.createTimerService(noTimers, new ManualProcessingTime());
      for (const d of DESCRIPTORS) restored.getState(d);
      expect(normalizeSnapshot(restored.snapshot())).toEqual(expected);
      // And it goes on like the heap.
      const rnd2 = random(8);
      for (let i = 0; i < 1500; i++) {
        const { op, results } = fuzzStep(rnd2, clock, [{ name: 'heap', backend: heap }, { name: 'restored', backend: restored }]);
        expect(results[1], op).toEqual(results[0]);
      }
    } finally {
      await rocks.dispose();
      await restored.dispose();
    }
  });

  it('native checkpoints of 2 subtasks restore into 3 (key groups copied into fresh databases)', async () => {
    const clock = new Clock();
    const root = tempDir();
    const keys = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? i : `key-${i}`));
    const handles: NativeCheckpointHandle[] = [];
    for (let s = 0; s < 2; s++) {
      const rocks = await rocksBackend(clock, s, 2);
      const list = rocks.getState({ kind: 'list', name: 'l' });
      const map = rocks.getState({ kind: 'map', name: 'm' });
      for (const key of keys.filter((k) => subtaskForKey(k, MAX_PARALLELISM, 2) === s)) {
        rocks.setCurrentKey(key);
        list.add(key);
        list.add('second');
        map.put('k', key);
      }
      handles.push(await rocks.checkpointNative(join(root, 'chk', `subtask-${s}`), join(root, 'shared')));
      await rocks.dispose();
    }
    const seen = new Set<string | number>();
    for (let s = 0; s < 3; s++) {
      const rocks = newRocks(clock, s, 3);
      try {
        await rocks.restoreNative(handles);
        const list = rocks.getState({ kind: 'list', name: 'l' });
        const map = rocks.getState({ kind: 'map', name: 'm' });
        const range = keyGroupRangeOf(s, MAX_PARALLELISM, 3);
        for (const g of rocks.snapshot().keyGroups) expect(g.keyGroup >= range.start && g.keyGroup <= range.end).toBe(true);
        for (const key of keys.filter((k) => subtaskForKey(k, MAX_PARALLELISM, 3) === s)) {
          rocks.setCurrentKey(key);
          expect(list.get()).toEqual([key, 'second']);
          expect(map.entries()).toEqual([['k', key]]);
          seen.add(key);
        }
        expect(rocks.size().keys).toBe(keys.filter((k) => subtaskForKey(k, MAX_PARALLELISM, 3) === s).length);
      } finally {
        await rocks.dispose();
      }
    }
    expect(seen.size).toBe(keys.length);
  });

  it('after 1% of the keys changed, the second checkpoint adds less than 10% of the full size', async () => {
    const clock = new Clock();
    const root = tempDir();
    const rocks = newRocks(clock, 0, 1, { rocksdb: { memtableBytes: 8 << 20, blockCacheBytes: 1 << 20 } });
    await rocks.open();
    try {
      const state = rocks.getState(VALUE);
      const N = 200_000;
      for (let i = 0; i < N; i++) {
        rocks.setCurrentKey(i);
        state.update(valueOf(i));
      }
      const first = await rocks.checkpointNative(join(root, 'chk-1'), join(root, 'shared'));
      const rnd = random(3);
      for (let n = 0; n < N / 100; n++) {
        const i = Math.floor(rnd() * N);
        rocks.setCurrentKey(i);
        state.update(valueOf(i, 1));
      }
      const second = await rocks.checkpointNative(join(root, 'chk-2'), join(root, 'shared'));
      const full = second.shared.reduce((n, f) => n + f.bytes, 0) + second.stats.privateBytes;
      const added = second.stats.newSharedBytes + second.stats.privateBytes;
      expect(first.stats.newSharedBytes).toBeGreaterThan(10 << 20);
      expect(second.stats.reusedSharedFiles).toBeGreaterThan(0);
      expect(added / full, `second checkpoint added ${added} of ${full} bytes`).toBeLessThan(0.1);
    } finally {
      await rocks.dispose();
    }
  }, 120_000);

  it('checkpoints taken while RocksDB flushes and compacts each restore to the state at their barrier', async () => {
    const clock = new Clock();
    const root = tempDir();
    // Tiny memtables: flushes and compactions run all the time; a short idle wait makes some captures cold.
    const rocks = newRocks(clock, 0, 1, { rocksdb: { memtableBytes: 1 << 20, blockCacheBytes: 1 << 20 }, checkpointIdleWaitMs: 5, walFlushBytes: 256 << 10, writeBufferBytes: 64 << 10 });
    await rocks.open();
    const KEYS = 20_000;
    const model = new Map<number, unknown>();
    const taken: Array<{ handle: NativeCheckpointHandle; expected: Map<number, unknown> }> = [];
    try {
      const state = rocks.getState(VALUE);
      const rnd = random(99);
      for (let round = 0; round < 8; round++) {
        for (let n = 0; n < 15_000; n++) {
          const i = Math.floor(rnd() * KEYS);
          rocks.setCurrentKey(i);
          if (rnd() < 0.05) {
            state.clear();
            model.delete(i);
          } else {
            const v = valueOf(i, round);
            state.update(v);
            model.set(i, v);
          }
        }
        const capture = await rocks.captureNative();
        // Writes right after the capture must not leak into it.
        for (let n = 0; n < 2000; n++) {
          rocks.setCurrentKey(n);
          state.update('after the barrier');
        }
        rocks.flush();
        taken.push({ handle: await capture.persist(join(root, `chk-${round}`), join(root, 'shared')), expected: new Map(model) });
        for (let n = 0; n < 2000; n++) {
          rocks.setCurrentKey(n);
          const v = model.get(n);
          if (v === undefined) state.clear();
          else state.update(v);
        }
      }
      const modes = taken.map((t) => t.handle.stats.captureMode);
      const dropped = taken[0]?.handle.shared.filter((f) => !taken.at(-1)?.handle.shared.some((g) => g.name === f.name)) ?? [];
      // Compaction replaced files between the first and the last checkpoint.
      expect(dropped.length, `capture modes ${modes.join(',')}`).toBeGreaterThan(0);
    } finally {
      await rocks.dispose();
    }
    for (const [index, { handle, expected }] of taken.entries()) {
      const restored = newRocks(clock, 0, 1);
      try {
        await restored.restoreNative([handle]);
        const state = restored.getState(VALUE);
        for (let i = 0; i < KEYS; i++) {
          restored.setCurrentKey(i);
          const got = state.value();
          if (!Object.is(got, expected.get(i)) && JSON.stringify(got) !== JSON.stringify(expected.get(i))) {
            expect(got, `checkpoint ${index} (${handle.stats.captureMode}), key ${i}`).toEqual(expected.get(i));
          }
        }
        expect(restored.size().keys).toBe(expected.size);
      } finally {
        await restored.dispose();
      }
    }
  }, 180_000);

  it('shared files no retained checkpoint references are collected; retained checkpoints still restore', async () => {
    const clock = new Clock();
    const root = tempDir();
    const shared = join(root, 'shared');
    const rocks = newRocks(clock, 0, 1, { rocksdb: { memtableBytes: 1 << 20, blockCacheBytes: 1 << 20 }, walFlushBytes: 64 << 10 });
    await rocks.open();
    const handles: NativeCheckpointHandle[] = [];
    try {
      const state = rocks.getState(VALUE);
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 20_000; i++) {
          rocks.setCurrentKey(i);
          state.update(valueOf(i, round));
        }
        handles.push(await rocks.checkpointNative(join(root, `chk-${round}`), shared));
      }
    } finally {
      await rocks.dispose();
    }
    const last = handles.at(-1) as NativeCheckpointHandle;
    const before = readdirSync(shared).length;
    // Files linked after `createdBefore` may belong to a checkpoint still being written: kept.
    const guarded = await collectSharedGarbage(shared, [last], { createdBefore: Date.now() - 60_000 });
    expect(guarded).toMatchObject({ deletedFiles: 0 });
    expect(guarded.keptRecent).toBeGreaterThan(0);
    expect(readdirSync(shared).length).toBe(before);
    const { deletedFiles } = await collectSharedGarbage(shared, [last], { createdBefore: Date.now() + 1000 });
    expect(deletedFiles).toBeGreaterThan(0);
    expect(readdirSync(shared).sort()).toEqual(last.shared.map((f) => f.name).sort());
    expect(readdirSync(shared).length).toBeLessThan(before);
    const restored = newRocks(clock, 0, 1);
    try {
      await restored.restoreNative([last]);
      const state = restored.getState(VALUE);
      restored.setCurrentKey(12_345);
      expect(state.value()).toEqual(valueOf(12_345, 3));
    } finally {
      await restored.dispose();
    }
  }, 120_000);

  it('a handle kept relative to its checkpoint directory restores after the storage moved; it converts to a canonical snapshot', async () => {
    const clock = new Clock();
    const root = tempDir();
    const rocks = await rocksBackend(clock, 0, 1, { walFlushBytes: 0 });
    const heap = heapBackend(clock);
    let stored: NativeCheckpointHandle;
    try {
      const rnd = random(17);
      for (let i = 0; i < 1500; i++) fuzzStep(rnd, clock, [{ name: 'heap', backend: heap }, { name: 'rocksdb', backend: rocks }]);
      const chk = join(root, 'storage', 'chk-1');
      stored = relativizeHandle(await rocks.checkpointNative(join(chk, 'task-0-subtask-0'), join(root, 'storage', 'shared')), chk);
    } finally {
      await rocks.dispose();
    }
    expect(stored.sharedDirectory).toBe('../shared');
    renameSync(join(root, 'storage'), join(root, 'moved'));
    const handle = resolveHandle(stored, join(root, 'moved', 'chk-1'));
    for (const d of DESCRIPTORS) heap.getState(d);
    const canonical = await canonicalFromNative([handle], { maxParallelism: MAX_PARALLELISM, keyGroupRange: keyGroupRangeOf(0, MAX_PARALLELISM, 1), now: clock.now, workingDirectory: join(root, 'scratch') });
    // The conversion registers no state (so nothing is purged or described): put it into a heap backend that does.
    const converted = heapBackend(clock);
    converted.restore([canonical]);
    for (const d of DESCRIPTORS) converted.getState(d);
    expect(normalizeSnapshot(converted.snapshot())).toEqual(normalizeSnapshot(heap.snapshot()));
    expect(existsSync(join(root, 'scratch'))).toBe(false);
  });

  it('names a corrupted, truncated or missing file on restore', async () => {
    const clock = new Clock();
    const root = tempDir();
    const make = async (name: string) => {
      const rocks = await rocksBackend(clock, 0, 1, { walFlushBytes: 0 });
      const state = rocks.getState(VALUE);
      for (let i = 0; i < 5000; i++) {
        rocks.setCurrentKey(i);
        state.update(valueOf(i));
      }
      const handle = await rocks.checkpointNative(join(root, name), join(root, `shared-${name}`));
      await rocks.dispose();
      return handle;
    };
    const restore = async (handle: NativeCheckpointHandle, verifyOnRestore: 'sha256' | 'size' = 'sha256') => {
      const rocks = newRocks(clock, 0, 1, { verifyOnRestore });
      try {
        await rocks.restoreNative([handle]);
      } finally {
        await rocks.dispose();
      }
    };

    const corrupted = await make('corrupted');
    const sst = corrupted.shared[0] as NativeCheckpointHandle['shared'][number];
    const sstPath = join(corrupted.sharedDirectory, sst.name);
    const bytes = readFileSync(sstPath);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0xff;
    writeFileSync(sstPath, bytes);
    await expect(restore(corrupted)).rejects.toThrow(`shared file ${sstPath} does not match its recorded checksum (corrupted)`);

    const truncated = await make('truncated');
    const wal = truncated.private.find((f) => f.name.startsWith('MANIFEST-')) as NativeCheckpointHandle['private'][number];
    const walPath = join(truncated.privateDirectory, wal.name);
    truncateSync(walPath, wal.bytes - 1);
    await expect(restore(truncated, 'size')).rejects.toThrow(`${walPath} has ${wal.bytes - 1} bytes; the checkpoint recorded ${wal.bytes}`);

    const missing = await make('missing');
    const gone = join(missing.sharedDirectory, (missing.shared.at(-1) as NativeCheckpointHandle['shared'][number]).name);
    unlinkSync(gone);
    await expect(restore(missing)).rejects.toThrow(`shared file ${gone} is missing`);

    // An intact checkpoint still restores.
    await expect(restore(await make('intact'))).resolves.toBeUndefined();
  }, 60_000);
});

describe('state larger than the caches', () => {
  it('2M keys with a 64 KiB read cache and a 1 MiB block cache: every read right, JS-side buffers bounded', async () => {
    const clock = new Clock();
    const rocks = newRocks(clock, 0, 1, {
      readCacheBytes: 64 << 10,
      writeBufferBytes: 256 << 10,
      rocksdb: { memtableBytes: 16 << 20, blockCacheBytes: 1 << 20 },
    });
    await rocks.open();
    try {
      const state: ValueState<unknown> = rocks.getState(VALUE);
      const N = 2_000_000;
      let peak = 0;
      for (let i = 0; i < N; i++) {
        rocks.setCurrentKey(i);
        state.update({ i, pad: 'x'.repeat(60) });
        if ((i & 0xffff) === 0) {
          const f = rocks.memoryFootprint();
          peak = Math.max(peak, f.dirtyBytes + f.cacheBytes);
        }
      }
      rocks.flush();
      expect(Number(rocks.rocksProperty('rocksdb.estimate-num-keys'))).toBeGreaterThan(N * 0.9);
      // Most of it is in SST files on disk, far beyond every cache.
      expect(Number(rocks.rocksProperty('rocksdb.total-sst-files-size'))).toBeGreaterThan(50 << 20);
      const rnd = random(5);
      for (let n = 0; n < 200_000; n++) {
        const i = Math.floor(rnd() * N);
        rocks.setCurrentKey(i);
        const v = state.value() as { i: number } | undefined;
        if (v?.i !== i) expect(v, `key ${i}`).toEqual({ i, pad: 'x'.repeat(60) });
        if ((n & 0xfff) === 0) {
          const f = rocks.memoryFootprint();
          peak = Math.max(peak, f.dirtyBytes + f.cacheBytes);
        }
      }
      rocks.setCurrentKey(N + 5);
      expect(state.value()).toBeUndefined();
      expect(rocks.size()).toEqual({ entries: N, keys: N });
      expect(peak).toBeLessThan((256 + 64 + 16) << 10);
    } finally {
      await rocks.dispose();
    }
  }, 240_000);
});

describe('inside worker threads', () => {
  it('two workers each write, checkpoint natively, restore and read back', async () => {
    const entry = fileURLToPath(new URL('../dist/state/rocksdb/index.js', import.meta.url));
    if (!existsSync(entry)) throw new Error(`${entry} is missing: build the engine first (npx tsc -b apps/engine)`);
    const root = tempDir();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { join } = require('node:path');
      (async () => {
        const { RocksDBKeyedStateBackend } = await import(${JSON.stringify(new URL('../dist/state/rocksdb/index.js', import.meta.url).href)});
        const { keyGroupRangeOf } = await import('@sluice/operators');
        const options = (dir) => ({ maxParallelism: 128, keyGroupRange: keyGroupRangeOf(0, 128, 1), now: () => 0, workingDirectory: join(workerData.root, dir), walFlushBytes: 0 });
        const a = new RocksDBKeyedStateBackend(options('work-a'));
        await a.open();
        const s = a.getState({ kind: 'map', name: 'm' });
        for (let i = 0; i < 100000; i++) { a.setCurrentKey(i); s.put('n', i * workerData.factor); }
        const handle = await a.checkpointNative(join(workerData.root, 'chk'), join(workerData.root, 'shared'));
        await a.dispose();
        const b = new RocksDBKeyedStateBackend(options('work-b'));
        await b.restoreNative([handle]);
        const m = b.getState({ kind: 'map', name: 'm' });
        let wrong = 0;
        for (let i = 0; i < 100000; i++) { b.setCurrentKey(i); if (m.get('n') !== i * workerData.factor) wrong++; }
        await b.dispose();
        parentPort.postMessage({ wrong, shared: handle.shared.length });
      })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
    `;
    const run = (factor: number) =>
      new Promise<{ wrong: number; shared: number; error?: string }>((resolve, reject) => {
        const worker = new Worker(code, { eval: true, workerData: { root: join(root, `w${factor}`), factor } });
        worker.once('message', (m: { wrong: number; shared: number; error?: string }) => {
          resolve(m);
          void worker.terminate();
        });
        worker.once('error', reject);
      });
    const results = await Promise.all([run(2), run(3)]);
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.wrong).toBe(0);
      expect(r.shared).toBeGreaterThan(0);
    }
    expect(statSync(join(root, 'w2', 'shared')).isDirectory()).toBe(true);
  }, 120_000);
});
