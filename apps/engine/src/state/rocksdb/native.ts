/**
 * Native (incremental) checkpoints of a RocksDB working directory, without RocksDB's
 * Checkpoint API (the binding does not expose it, nor flush or compaction control).
 *
 * A checkpoint is the set of files that reopens the database as it was at the barrier:
 *
 *   shared/     immutable SST files, hard-linked (copied across file systems) under a
 *               name unique to the database instance that wrote them:
 *               `<instance id>-<file number>.sst`. A later checkpoint that still needs
 *               a file finds it there and only references it: that is the increment.
 *   private/    per checkpoint: CURRENT, the MANIFEST named by it (its length at the
 *               barrier), the newest OPTIONS file, IDENTITY, every WAL (`*.log`, its length
 *               at the barrier: writes not yet in an SST), and `sluice-timers` (the heap
 *               timers). Never LOCK or LOG.
 *
 * Consistency without flush or pausing background work (see RocksDBKeyedStateBackend.
 * captureNative): the capture runs when RocksDB reports no running or pending flush or
 * compaction, takes the live SST list from `rocksdb.sstables` (the current version, read
 * under RocksDB's mutex), hard-links those files, the WALs and the MANIFEST into a
 * staging directory, and checks afterwards that the super version, the version, CURRENT
 * and the MANIFEST length did not move; otherwise it retries, and finally falls back to
 * closing the database (which waits for background work and removes obsolete files),
 * linking everything, and reopening it. WAL and MANIFEST are append-only, so copying
 * their first N bytes later gives their content at the barrier. A WAL larger than a
 * threshold is first turned into an SST by reopening the database (recovery flushes it),
 * so checkpoints stay small.
 *
 * The handle lists every file with its size and SHA-256, so a restore verifies them and
 * names the file that is missing, truncated or corrupted; shared files are kept while
 * any retained checkpoint's handle lists them (collectSharedGarbage).
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, createReadStream, linkSync } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { KeyGroupRange } from '@sluice/operators';

export const NATIVE_HANDLE_FORMAT = 1;
export const TIMERS_FILE = 'sluice-timers';

export interface NativeFile {
  /** File name inside the handle's private or shared directory. */
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface SharedNativeFile extends NativeFile {
  /** Its name in the database directory (`000123.sst`). */
  readonly localName: string;
}

export interface NativeCheckpointStats {
  /** 'hot': captured while the database stayed open; 'cold': closed and reopened for it. */
  readonly captureMode: 'hot' | 'cold';
  /** The WAL was turned into an SST (by reopening) before the capture. */
  readonly flushedWal: boolean;
  /** Time the subtask had to stop for (flush of buffered writes + capture). */
  readonly captureMs: number;
  /** Time of the asynchronous part (linking, copying, hashing, fsync). */
  readonly persistMs: number;
  readonly newSharedFiles: number;
  readonly newSharedBytes: number;
  readonly reusedSharedFiles: number;
  readonly reusedSharedBytes: number;
  readonly privateBytes: number;
}

/** What a subtask acknowledges for a native checkpoint of one operator's keyed state. */
export interface NativeCheckpointHandle {
  readonly formatVersion: typeof NATIVE_HANDLE_FORMAT;
  readonly backend: 'rocksdb';
  /** Format of the keys and values inside the database (format.ts). */
  readonly stateFormatVersion: number;
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  /** The database instance that wrote the checkpoint (prefix of the shared files it added). */
  readonly instanceId: string;
  readonly privateDirectory: string;
  readonly sharedDirectory: string;
  readonly private: readonly NativeFile[];
  readonly shared: readonly SharedNativeFile[];
  readonly stats: NativeCheckpointStats;
}

export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Why a hard link cannot be made where a copy can: another file system or mount (EXDEV),
 * one that refuses links, too many links, or Node's permission model, which wants write
 * access to both ends (a job process restoring from another job's checkpoint reads it only).
 */
const COPY_INSTEAD = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ERR_ACCESS_DENIED']);

/** Hard-links `from` to `to`, copying where a link cannot be made (COPY_INSTEAD). */
export async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    if (COPY_INSTEAD.has((error as NodeJS.ErrnoException).code ?? '')) await copyFile(from, to);
    else throw error;
  }
}

export function linkOrCopySync(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (error) {
    if (COPY_INSTEAD.has((error as NodeJS.ErrnoException).code ?? '')) copyFileSync(from, to);
    else throw error;
  }
}

/**
 * Copies the first `bytes` bytes of a file (an append-only file's content at an earlier
 * moment), durably unless `sync` is false; returns their SHA-256.
 */
export async function copyPrefix(from: string, to: string, bytes: number, sync = true): Promise<string> {
  const source = await open(from, 'r');
  const target = await open(to, 'w');
  const hash = createHash('sha256');
  try {
    const chunk = Buffer.allocUnsafe(Math.min(bytes, 1 << 20) || 1);
    let done = 0;
    while (done < bytes) {
      const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, bytes - done), done);
      if (bytesRead === 0) throw new Error(`${from} has fewer than ${bytes} bytes`);
      const part = chunk.subarray(0, bytesRead);
      hash.update(part);
      await target.write(part, 0, bytesRead, done);
      done += bytesRead;
    }
    if (sync) await target.sync();
  } finally {
    await source.close();
    await target.close();
  }
  return hash.digest('hex');
}

export async function writeDurably(path: string, data: Buffer | string, sync = true): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
}


export function sha256Of(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Live SST files of the current version, from the `rocksdb.sstables` property. */
export function parseSstables(property: string): { version: string; files: Array<{ number: number; bytes: number }> } {
  const files: Array<{ number: number; bytes: number }> = [];
  for (const match of property.matchAll(/^ (\d+):(\d+)\[/gm)) files.push({ number: Number(match[1]), bytes: Number(match[2]) });
  const version = /version# (\d+)/.exec(property)?.[1] ?? '';
  return { version, files };
}

export function sstName(fileNumber: number): string {
  return `${String(fileNumber).padStart(6, '0')}.sst`;
}

/** Files of a closed (quiescent) database directory that a checkpoint needs. */
export async function quiescentFiles(dbDir: string): Promise<{ ssts: string[]; logs: string[]; manifest: string; options: string | undefined }> {
  const names = await readdir(dbDir);
  const current = (await readFile(join(dbDir, 'CURRENT'), 'utf8')).trim();
  return {
    ssts: names.filter((n) => n.endsWith('.sst')).sort(),
    logs: names.filter((n) => n.endsWith('.log')).sort(),
    manifest: current,
    options: newestOptions(names),
  };
}

export function newestOptions(names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestNumber = -1;
  for (const name of names) {
    const match = /^OPTIONS-(\d+)$/.exec(name);
    if (match && Number(match[1]) > bestNumber) {
      best = name;
      bestNumber = Number(match[1]);
    }
  }
  return best;
}

async function describeProblem(path: string, expected: { bytes: number; sha256: string }, mode: 'sha256' | 'size'): Promise<string | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return `${path} is missing`;
  }
  if (size !== expected.bytes) return `${path} has ${size} bytes; the checkpoint recorded ${expected.bytes} (truncated or replaced?)`;
  if (mode === 'sha256' && (await sha256File(path)) !== expected.sha256) return `${path} does not match its recorded checksum (corrupted)`;
  return undefined;
}

/** Checks every file a handle lists; throws naming the first missing, truncated or corrupted one. */
export async function verifyNativeHandle(handle: NativeCheckpointHandle, mode: 'sha256' | 'size'): Promise<void> {
  // Untrusted input: the handle may come from another Sluice version.
  const { formatVersion, backend } = handle as { formatVersion: unknown; backend: unknown };
  if (formatVersion !== NATIVE_HANDLE_FORMAT || backend !== 'rocksdb') {
    throw new Error(`native checkpoint in ${handle.privateDirectory} has format ${String(formatVersion)} (${String(backend)}); this Sluice reads rocksdb format ${NATIVE_HANDLE_FORMAT}`);
  }
  for (const file of handle.private) {
    const problem = await describeProblem(join(handle.privateDirectory, file.name), file, mode);
    if (problem) throw new Error(`native checkpoint cannot be restored: ${problem}`);
  }
  for (const file of handle.shared) {
    const problem = await describeProblem(join(handle.sharedDirectory, file.name), file, mode);
    if (problem) throw new Error(`native checkpoint cannot be restored: shared file ${problem}`);
  }
}

/** Recreates a checkpoint's database directory in `dir` (emptied first): links shared files, copies private ones. */
export async function materialize(handle: NativeCheckpointHandle, dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const file of handle.shared) await linkOrCopy(join(handle.sharedDirectory, file.name), join(dir, file.localName));
  for (const file of handle.private) {
    if (file.name === TIMERS_FILE) continue;
    await copyFile(join(handle.privateDirectory, file.name), join(dir, file.name));
  }
}

/**
 * The handle with its directories relative to `base` (a checkpoint directory), for
 * checkpoint metadata that must stay valid when the storage moves.
 */
export function relativizeHandle(handle: NativeCheckpointHandle, base: string): NativeCheckpointHandle {
  return { ...handle, privateDirectory: relative(base, handle.privateDirectory), sharedDirectory: relative(base, handle.sharedDirectory) };
}

/** The inverse of relativizeHandle. */
export function resolveHandle(handle: NativeCheckpointHandle, base: string): NativeCheckpointHandle {
  const at = (dir: string) => (isAbsolute(dir) ? dir : resolve(base, dir));
  return { ...handle, privateDirectory: at(handle.privateDirectory), sharedDirectory: at(handle.sharedDirectory) };
}

/** Names of the shared files the given handles reference. */
export function referencedSharedFiles(handles: Iterable<NativeCheckpointHandle>): Set<string> {
  const names = new Set<string>();
  for (const handle of handles) for (const file of handle.shared) names.add(file.name);
  return names;
}

/**
 * Removes the files of a shared directory that no retained handle references (mark and
 * sweep, so it is correct after restarts without persistent reference counts).
 *
 * `createdBefore` (wall-clock ms) makes it safe while another checkpoint is being written:
 * pass the trigger time of the newest retained checkpoint. A file that a later checkpoint
 * links has a newer inode change time (ctime) and is kept; an older file that a later
 * checkpoint reuses was live when the newest retained checkpoint was captured, so that
 * checkpoint lists it. Without it, call only when no checkpoint writes into the directory.
 */
export async function collectSharedGarbage(
  sharedDir: string,
  retained: Iterable<NativeCheckpointHandle>,
  options: { readonly createdBefore?: number } = {},
): Promise<{ deletedFiles: number; deletedBytes: number; keptRecent: number }> {
  const keep = referencedSharedFiles(retained);
  let names: string[];
  try {
    names = await readdir(sharedDir);
  } catch {
    return { deletedFiles: 0, deletedBytes: 0, keptRecent: 0 };
  }
  let deletedFiles = 0;
  let deletedBytes = 0;
  let keptRecent = 0;
  for (const name of names) {
    if (keep.has(name)) continue;
    const path = join(sharedDir, name);
    try {
      const { size, ctimeMs } = await stat(path);
      if (options.createdBefore !== undefined && ctimeMs >= options.createdBefore) {
        keptRecent++;
        continue;
      }
      await unlink(path);
      deletedFiles++;
      deletedBytes += size;
    } catch {
      // Removed concurrently: nothing to do.
    }
  }
  return { deletedFiles, deletedBytes, keptRecent };
}
