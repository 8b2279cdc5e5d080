/**
 * How much disk a job's directories take: what the engine checks a job process against
 * (maxDiskMbPerJob). Without quotas (no cgroups here, no project quotas on an arbitrary
 * file system) the engine walks the directories, as du does:
 *
 * - blocks allocated, not file sizes: a sparse file of a terabyte takes what it wrote;
 * - each file or directory at least one block of 4 KiB: an empty file takes no block but an
 *   inode, and a million of them exhaust a file system as surely;
 * - a file with several names once (RocksDB's incremental checkpoints link the same SST
 *   file into the working database and the checkpoint);
 * - symbolic links are not followed (a job cannot make one; one already there points
 *   elsewhere);
 * - the walk stops once it passes the budget, so a directory of millions of files costs
 *   the engine no more than the budget's worth of them.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const MIN_ENTRY_BYTES = 4096;

export interface DiskUse {
  readonly bytes: number;
  /** The walk stopped early: `bytes` passed the budget. */
  readonly over: boolean;
}

/** Bytes allocated under `paths` (each file once), up to `budget`; absent paths count nothing. */
export async function diskUse(paths: readonly string[], budget = Number.POSITIVE_INFINITY): Promise<DiskUse> {
  const seen = new Set<string>();
  let bytes = 0;
  const stack = [...paths];
  while (stack.length > 0) {
    const path = stack.pop() as string;
    let stats;
    try {
      stats = await lstat(path);
    } catch {
      // Gone meanwhile, or never there.
      continue;
    }
    const id = `${stats.dev}:${stats.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    bytes += Math.max(stats.blocks * 512, MIN_ENTRY_BYTES);
    if (bytes > budget) return { bytes, over: true };
    if (!stats.isDirectory()) continue;
    try {
      for (const name of await readdir(path)) stack.push(join(path, name));
    } catch {
      // Gone meanwhile.
    }
  }
  return { bytes, over: false };
}
