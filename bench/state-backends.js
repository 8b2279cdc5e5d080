// Keyed state backends side by side, 1M keys of value state with ~100-byte values:
// write and read throughput of the heap and the RocksDB backend, checkpoint duration and
// size (heap: the copy-on-write checkpoint a task takes, its synchronous part at the
// barrier and the whole of it, ending in the state file's bytes; RocksDB full: canonical
// snapshot + encode;
// RocksDB incremental: native checkpoint, then 1% of the keys changed and a second one),
// and recovery time from a ~1 GB native RocksDB checkpoint (SLUICE_BENCH_STATE_GB scales
// it, default 1). Needs the engine built (npm run bench builds it).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HeapKeyedStateBackend, keyGroupRangeOf } from '@sluice/operators';
import { encodeSnapshot, SnapshotEncoder } from '@sluice/engine';
import { RocksDBKeyedStateBackend } from '../apps/engine/dist/state/rocksdb/index.js';
import { median, report } from './lib.js';

const BENCH = 'state-backends';
const KEYS = Number(process.env.SLUICE_BENCH_STATE_KEYS ?? 1_000_000);
const STATE_GB = Number(process.env.SLUICE_BENCH_STATE_GB ?? 1);
const RUNS = 3;
const MAX_PARALLELISM = 128;
const VALUE = { kind: 'value', name: 'v' };
const range = keyGroupRangeOf(0, MAX_PARALLELISM, 1);
const now = () => 0;

/** ~100 bytes as stored: a small object with a 64-character payload that differs per key and round. */
const valueOf = (i, round) => ({ i, round, payload: `${i.toString(36)}-${round}-`.padEnd(64, 'abcdefghijklmnopqrstuvwxyz0123456789') });

/** A fixed pseudo-random permutation of the keys for reads. */
function shuffled(n) {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  let seed = 12345;
  for (let i = n - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function writeAll(backend, state, round) {
  const t0 = performance.now();
  for (let i = 0; i < KEYS; i++) {
    backend.setCurrentKey(i);
    state.update(valueOf(i, round));
  }
  backend.flush?.();
  return KEYS / ((performance.now() - t0) / 1000);
}

function readAll(backend, state, order, round) {
  const t0 = performance.now();
  for (let n = 0; n < order.length; n++) {
    const i = order[n];
    backend.setCurrentKey(i);
    const v = state.value();
    if (v?.round !== round || v.i !== i) throw new Error(`wrong value for key ${i}: ${JSON.stringify(v)}`);
  }
  return order.length / ((performance.now() - t0) / 1000);
}

function canonicalCheckpoint(backend) {
  const t0 = performance.now();
  const snapshot = backend.snapshot();
  const bytes = encodeSnapshot({ jobId: 'bench', checkpointId: 1, taskId: 0, subtaskIndex: 0, operators: [{ nodeId: 'n', operatorState: undefined, keyedState: snapshot }] });
  return { ms: performance.now() - t0, bytes: bytes.length };
}

/** What a task does for a heap checkpoint, without the slicing between records: begin at the barrier, build, encode. */
function heapCheckpoint(backend) {
  const t0 = performance.now();
  const run = backend.beginSnapshot();
  const syncMs = performance.now() - t0;
  while (!run.step(Number.POSITIVE_INFINITY));
  const encoder = new SnapshotEncoder({ jobId: 'bench', checkpointId: 1, taskId: 0, subtaskIndex: 0, operators: [{ nodeId: 'n', operatorState: undefined, keyedState: run.encoded?.() ?? run.result() }] });
  while (!encoder.step(Number.POSITIVE_INFINITY));
  const { bytes } = encoder.finish();
  return { ms: performance.now() - t0, syncMs, bytes: bytes.length };
}

function rocks(dir, extra = {}) {
  return new RocksDBKeyedStateBackend({ maxParallelism: MAX_PARALLELISM, keyGroupRange: range, now, workingDirectory: join(dir, 'work'), ...extra });
}

const base = { bench: BENCH, keys: KEYS, stat: 'median' };

/** Waits until RocksDB runs and plans no flush or compaction (at most two minutes). */
async function settle(db) {
  const deadline = performance.now() + 120_000;
  const busy = () => ['rocksdb.num-running-compactions', 'rocksdb.num-running-flushes', 'rocksdb.compaction-pending', 'rocksdb.mem-table-flush-pending'].some((p) => db.rocksProperty(p) !== '0');
  while (busy() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

async function measureRocks(root, order) {
  const dir = mkdtempSync(join(root, 'rocks-'));
  // Default buffers: 4 MiB of writes, 16 MiB read cache, 64 MiB memtables, 32 MiB block cache.
  const db = rocks(dir);
  await db.open();
  const state = db.getState(VALUE);
  writeAll(db, state, 0); // warm-up
  const writes = [];
  for (let r = 1; r <= RUNS; r++) writes.push(writeAll(db, state, r));
  // Right after 3M updates RocksDB is still flushing and compacting (one background thread on this machine).
  const readsDuringCompaction = readAll(db, state, order, RUNS);
  await settle(db);
  readAll(db, state, order, RUNS); // warm-up
  const reads = [];
  for (let r = 0; r < RUNS; r++) reads.push(readAll(db, state, order, RUNS));
  const canonical = [];
  for (let r = 0; r < RUNS; r++) canonical.push(canonicalCheckpoint(db));

  // Incremental native checkpoints: a full one, 1% of the keys changed, another one. A fresh
  // shared directory per run makes the first checkpoint of each run a full one.
  const full = [];
  const incremental = [];
  let round = RUNS + 1;
  for (let r = 0; r < RUNS; r++) {
    const shared = join(dir, `shared-${r}`);
    const t0 = performance.now();
    const first = await db.checkpointNative(join(dir, `chk-${r}-a`), shared);
    const firstMs = performance.now() - t0;
    round++;
    let seed = r + 1;
    for (let n = 0; n < KEYS / 100; n++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const i = seed % KEYS;
      db.setCurrentKey(i);
      state.update(valueOf(i, round));
    }
    const t1 = performance.now();
    const second = await db.checkpointNative(join(dir, `chk-${r}-b`), shared);
    const secondMs = performance.now() - t1;
    full.push({ ms: firstMs, bytes: first.stats.newSharedBytes + first.stats.reusedSharedBytes + first.stats.privateBytes, captureMs: first.stats.captureMs });
    incremental.push({
      ms: secondMs,
      bytes: second.stats.newSharedBytes + second.stats.privateBytes,
      captureMs: second.stats.captureMs,
      totalBytes: second.stats.newSharedBytes + second.stats.reusedSharedBytes + second.stats.privateBytes,
    });
    rmSync(shared, { recursive: true, force: true });
  }
  await db.dispose();
  return { writes, readsDuringCompaction, reads, canonical, full, incremental };
}

function measureHeap(order) {
  const heap = new HeapKeyedStateBackend({ maxParallelism: MAX_PARALLELISM, keyGroupRange: range, now });
  const state = heap.getState(VALUE);
  writeAll(heap, state, 0); // warm-up
  const writes = [];
  for (let r = 1; r <= RUNS; r++) writes.push(writeAll(heap, state, r));
  readAll(heap, state, order, RUNS); // warm-up
  const reads = [];
  for (let r = 0; r < RUNS; r++) reads.push(readAll(heap, state, order, RUNS));
  const canonical = [];
  for (let r = 0; r < RUNS; r++) canonical.push(heapCheckpoint(heap));
  return { writes, reads, canonical };
}

async function throughputAndCheckpoints(root) {
  const order = shuffled(KEYS);
  // RocksDB first: the heap backend's million objects would otherwise stay alive meanwhile.
  const r = await measureRocks(root, order);
  const h = measureHeap(order);
  const m = (list, field) => median(field ? list.map((x) => x[field]) : list);
  const ratio = (a, b) => Number((a / b).toFixed(3));
  report({ ...base, backend: 'heap', metric: 'writes_per_s', value: Math.round(m(h.writes)), unit: 'ops/s', runs: RUNS });
  report({ ...base, backend: 'rocksdb', metric: 'writes_per_s', value: Math.round(m(r.writes)), unit: 'ops/s', runs: RUNS });
  report({ ...base, metric: 'rocksdb_over_heap_writes', value: ratio(m(r.writes), m(h.writes)), unit: 'ratio', runs: RUNS, stat: 'median-ratio' });
  report({ ...base, backend: 'heap', metric: 'reads_per_s', value: Math.round(m(h.reads)), unit: 'ops/s', runs: RUNS, order: 'random' });
  report({ ...base, backend: 'rocksdb', metric: 'reads_per_s', value: Math.round(m(r.reads)), unit: 'ops/s', runs: RUNS, order: 'random', note: 'background compaction settled' });
  report({ ...base, backend: 'rocksdb', metric: 'reads_per_s_during_compaction', value: Math.round(r.readsDuringCompaction), unit: 'ops/s', runs: 1, stat: 'single', order: 'random', note: 'right after 3M updates' });
  report({ ...base, metric: 'rocksdb_over_heap_reads', value: ratio(m(r.reads), m(h.reads)), unit: 'ratio', runs: RUNS, stat: 'median-ratio' });
  report({ ...base, backend: 'heap', metric: 'checkpoint_ms', value: Math.round(m(h.canonical, 'ms')), unit: 'ms', runs: RUNS, kind: 'copy-on-write checkpoint: barrier, build, encode', sync_ms: Math.round(m(h.canonical, 'syncMs')) });
  report({ ...base, backend: 'heap', metric: 'checkpoint_bytes', value: m(h.canonical, 'bytes'), unit: 'bytes', runs: RUNS, kind: 'copy-on-write checkpoint' });
  report({ ...base, backend: 'rocksdb-full', metric: 'checkpoint_ms', value: Math.round(m(r.canonical, 'ms')), unit: 'ms', runs: RUNS, kind: 'canonical snapshot + encode' });
  report({ ...base, backend: 'rocksdb-full', metric: 'checkpoint_bytes', value: m(r.canonical, 'bytes'), unit: 'bytes', runs: RUNS, kind: 'canonical snapshot + encode' });
  report({ ...base, backend: 'rocksdb-incremental', metric: 'checkpoint_ms', value: Math.round(m(r.full, 'ms')), unit: 'ms', runs: RUNS, kind: 'native, first (full)', capture_ms: Math.round(m(r.full, 'captureMs')) });
  report({ ...base, backend: 'rocksdb-incremental', metric: 'checkpoint_bytes', value: m(r.full, 'bytes'), unit: 'bytes', runs: RUNS, kind: 'native, first (full)' });
  report({ ...base, backend: 'rocksdb-incremental', metric: 'checkpoint_ms', value: Math.round(m(r.incremental, 'ms')), unit: 'ms', runs: RUNS, kind: 'native, after 1% of keys changed', capture_ms: Math.round(m(r.incremental, 'captureMs')) });
  report({ ...base, backend: 'rocksdb-incremental', metric: 'checkpoint_bytes', value: m(r.incremental, 'bytes'), unit: 'bytes', runs: RUNS, kind: 'native, after 1% of keys changed (bytes added)', referenced_bytes: m(r.incremental, 'totalBytes') });
  report({ ...base, metric: 'incremental_over_full_bytes', value: Number((m(r.incremental, 'bytes') / m(r.full, 'bytes')).toFixed(4)), unit: 'ratio', runs: RUNS, stat: 'median-ratio' });
  report({ ...base, metric: 'rocksdb_canonical_over_heap_checkpoint_ms', value: ratio(m(r.canonical, 'ms'), m(h.canonical, 'ms')), unit: 'ratio', runs: RUNS, stat: 'median-ratio' });
}

/** Recovery from a native checkpoint of ~STATE_GB GiB: verify, link, open, first read. */
async function recovery(root) {
  const VALUE_BYTES = 1000;
  const keys = Math.max(1000, Math.round((STATE_GB * 2 ** 30) / VALUE_BYTES));
  const dir = mkdtempSync(join(root, 'recovery-'));
  const writer = rocks(dir, { rocksdb: { memtableBytes: 256 << 20 } });
  await writer.open();
  const state = writer.getState(VALUE);
  // Random payloads: RocksDB's compression cannot shrink them much, so the files are ~STATE_GB.
  const block = randomBytes(1 << 20).toString('base64');
  const t0 = performance.now();
  for (let i = 0; i < keys; i++) {
    writer.setCurrentKey(i);
    const at = (i * 7919) % (block.length - VALUE_BYTES);
    state.update({ i, payload: block.slice(at, at + VALUE_BYTES - 20) });
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const handle = await writer.checkpointNative(join(dir, 'chk'), join(dir, 'shared'));
  const checkpointMs = performance.now() - t1;
  await writer.dispose();
  const bytes = handle.stats.newSharedBytes + handle.stats.privateBytes;
  report({ bench: BENCH, backend: 'rocksdb-incremental', metric: 'checkpoint_ms', value: Math.round(checkpointMs), unit: 'ms', runs: 1, stat: 'single', keys, checkpoint_bytes: bytes, capture_ms: Math.round(handle.stats.captureMs), kind: 'native, full, recovery data set', load_writes_per_s: Math.round(keys / loadSeconds) });
  for (const verifyOnRestore of ['sha256', 'size']) {
    const times = [];
    for (let r = 0; r < RUNS; r++) {
      const restored = rocks(join(dir, `restore-${verifyOnRestore}-${r}`), { verifyOnRestore });
      const t = performance.now();
      await restored.restoreNative([handle]);
      const s = restored.getState(VALUE);
      restored.setCurrentKey(keys - 1);
      if (s.value()?.i !== keys - 1) throw new Error('recovered state is wrong');
      times.push(performance.now() - t);
      await restored.dispose();
    }
    report({ bench: BENCH, backend: 'rocksdb', metric: 'recovery_ms', value: Math.round(median(times)), unit: 'ms', runs: RUNS, stat: 'median', keys, checkpoint_bytes: bytes, state_gb: STATE_GB, verify: verifyOnRestore });
  }
  rmSync(dir, { recursive: true, force: true });
}

export async function run() {
  const root = mkdtempSync(join(tmpdir(), 'sluice-bench-state-'));
  try {
    await throughputAndCheckpoints(root);
    await recovery(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
