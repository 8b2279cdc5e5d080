/**
 * Checkpoint storage on a local directory:
 *
 *   <root>/checkpoints/<job id>/chk-<n>/task-<t>-subtask-<s>.state   written by subtasks
 *   <root>/checkpoints/<job id>/chk-<n>/_metadata                     written last, atomically
 *   <root>/savepoints/<job id>/savepoint-<n>/…                         same layout, never pruned
 *
 * A checkpoint exists once its _metadata exists: a crash while subtasks write leaves a
 * directory without one, which is ignored and later removed. _metadata records each
 * file's size and SHA-256, so a truncated or corrupted checkpoint is detected on
 * restore and the previous one is used instead (and the reason logged).
 *
 * An object store could implement the same interface later.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, writeAtomically } from '../runtime/state-files.js';
import { collectSharedGarbage, resolveHandle, verifyNativeHandle, type NativeCheckpointHandle } from '../state/rocksdb/index.js';

export const METADATA_FILE = '_metadata';
export const METADATA_FORMAT_VERSION = 1;

export interface SubtaskStateHandle {
  readonly taskId: number;
  readonly subtaskIndex: number;
  /** File name inside the checkpoint directory. */
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Node ids of the operators whose state is in the file. */
  readonly nodes: readonly string[];
  /**
   * Native (incremental RocksDB) keyed state per node id, its directories relative to the
   * checkpoint directory; its shared files live in `<job>/shared/` and are kept while any
   * retained checkpoint lists them.
   */
  readonly native?: Readonly<Record<string, NativeCheckpointHandle>> | undefined;
}

export interface NodeStateInfo {
  readonly nodeId: string;
  readonly type: string;
  readonly parallelism: number;
  /** Keyed states by name, with kind and TTL, to detect incompatible changes on restore. */
  readonly states: Readonly<Record<string, { kind: string; ttlMs?: number }>>;
  readonly hasOperatorState: boolean;
  /**
   * Subtask indices of the node that had finished when the checkpoint was taken (Flink's
   * checkpoints after tasks finished): they took no snapshot, and a restore at the same
   * parallelism does not run them again. All of them: the node is fully finished.
   */
  readonly finishedSubtasks?: readonly number[] | undefined;
}

export interface CheckpointMetadata {
  readonly formatVersion: typeof METADATA_FORMAT_VERSION;
  readonly jobId: string;
  readonly jobName: string;
  readonly checkpointId: number;
  readonly savepoint: boolean;
  readonly triggeredAt: number;
  readonly completedAt: number;
  readonly maxParallelism: number;
  readonly nodes: readonly NodeStateInfo[];
  readonly subtasks: readonly SubtaskStateHandle[];
}

export interface StoredCheckpoint {
  readonly id: number;
  readonly directory: string;
  readonly metadata: CheckpointMetadata;
}

export class CheckpointStorage {
  constructor(readonly root: string) {}

  /** Every directory directoryFor() may name for the job (its checkpoints and its savepoints). */
  jobDirectories(jobId: string): string[] {
    return [join(this.root, 'checkpoints', jobId), join(this.root, 'savepoints', jobId)];
  }

  /** Working state of a job that runs in a process of its own (JobAccess.localState): beside its checkpoints, on their file system and mount. */
  localStateDirectory(jobId: string): string {
    return join(this.root, 'checkpoints', jobId, 'local-state');
  }

  directoryFor(jobId: string, checkpointId: number, savepoint: boolean): string {
    return savepoint ? join(this.root, 'savepoints', jobId, `savepoint-${checkpointId}`) : join(this.root, 'checkpoints', jobId, `chk-${checkpointId}`);
  }

  async complete(directory: string, metadata: CheckpointMetadata): Promise<void> {
    await writeAtomically(join(directory, METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
  }

  /** Reads and verifies a checkpoint or savepoint directory; throws saying what is wrong. */
  async load(directory: string): Promise<StoredCheckpoint> {
    let text: string;
    try {
      text = await readFile(join(directory, METADATA_FILE), 'utf8');
    } catch {
      throw new Error(`${directory} has no ${METADATA_FILE}: it is not a completed checkpoint or savepoint`);
    }
    let metadata: CheckpointMetadata;
    try {
      metadata = JSON.parse(text) as CheckpointMetadata;
    } catch {
      throw new Error(`${join(directory, METADATA_FILE)} is damaged (not valid JSON)`);
    }
    // Untrusted input: the file may come from another Sluice version.
    const format: unknown = (metadata as { formatVersion?: unknown }).formatVersion;
    if (format !== METADATA_FORMAT_VERSION) {
      throw new Error(`${directory} has checkpoint format ${String(format)}; this Sluice reads format ${METADATA_FORMAT_VERSION}`);
    }
    for (const handle of metadata.subtasks) {
      const path = join(directory, handle.file);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch {
        throw new Error(`${path} is missing`);
      }
      if (bytes.length !== handle.bytes) throw new Error(`${path} has ${bytes.length} bytes; the checkpoint recorded ${handle.bytes} (truncated?)`);
      if (sha256(bytes) !== handle.sha256) throw new Error(`${path} does not match its recorded checksum (corrupted)`);
      // Sizes here (cheap, so an older checkpoint is chosen when files are gone); restore checks SHA-256.
      for (const native of Object.values(handle.native ?? {})) await verifyNativeHandle(resolveHandle(native, directory), 'size');
    }
    return { id: metadata.checkpointId, directory, metadata };
  }

  /** Native handles of a completed checkpoint, with absolute directories. */
  nativeHandles(stored: StoredCheckpoint): NativeCheckpointHandle[] {
    return stored.metadata.subtasks.flatMap((s) => Object.values(s.native ?? {}).map((h) => resolveHandle(h, stored.directory)));
  }

  /** Completed checkpoints of a job, newest first (directories with _metadata only). */
  async list(jobId: string): Promise<Array<{ id: number; directory: string }>> {
    const base = join(this.root, 'checkpoints', jobId);
    let names: string[];
    try {
      names = await readdir(base);
    } catch {
      return [];
    }
    const found: Array<{ id: number; directory: string }> = [];
    for (const name of names) {
      const match = /^chk-(\d+)$/.exec(name);
      if (!match) continue;
      const directory = join(base, name);
      try {
        await stat(join(directory, METADATA_FILE));
        found.push({ id: Number(match[1]), directory });
      } catch {
        // In progress or abandoned: no metadata yet.
      }
    }
    return found.sort((a, b) => b.id - a.id);
  }

  /**
   * The newest checkpoint that loads and verifies. Broken ones are skipped, each with
   * a reason passed to `onSkip` (the job manager logs it).
   */
  async latestValid(jobId: string, onSkip: (id: number, reason: string) => void): Promise<StoredCheckpoint | undefined> {
    for (const { id, directory } of await this.list(jobId)) {
      try {
        return await this.load(directory);
      } catch (error) {
        onSkip(id, error instanceof Error ? error.message : String(error));
      }
    }
    return undefined;
  }

  /**
   * Keeps the newest `retained` completed checkpoints; removes older ones and abandoned
   * directories, and with `collectShared` the shared files (incremental RocksDB state) that
   * no remaining checkpoint lists.
   */
  async prune(jobId: string, retained: number, keep: number | undefined, collectShared = false): Promise<void> {
    const completed = await this.list(jobId);
    const keepIds = new Set(completed.slice(0, retained).map((c) => c.id));
    if (keep !== undefined) keepIds.add(keep);
    const base = join(this.root, 'checkpoints', jobId);
    let names: string[];
    try {
      names = await readdir(base);
    } catch {
      return;
    }
    const newest = completed[0]?.id ?? 0;
    for (const name of names) {
      const match = /^chk-(\d+)$/.exec(name);
      if (!match) continue;
      const id = Number(match[1]);
      const done = completed.some((c) => c.id === id);
      // Incomplete directories newer than the newest completed one may still be in progress.
      if (keepIds.has(id) || (!done && id > newest)) continue;
      await this.discard(join(base, name));
    }
    // Shared files of incremental checkpoints: keep what a remaining checkpoint lists, and
    // whatever was linked after the newest one was triggered (a checkpoint may be running).
    if (!collectShared) return;
    const live: NativeCheckpointHandle[] = [];
    let newestTrigger = Number.NEGATIVE_INFINITY;
    for (const c of completed) {
      if (!keepIds.has(c.id)) continue;
      try {
        const metadata = JSON.parse(await readFile(join(c.directory, METADATA_FILE), 'utf8')) as CheckpointMetadata;
        live.push(...this.nativeHandles({ id: c.id, directory: c.directory, metadata }));
        newestTrigger = Math.max(newestTrigger, metadata.triggeredAt);
      } catch {
        // A retained checkpoint we cannot read might list anything: collect nothing this time.
        return;
      }
    }
    if (live.length > 0) await collectSharedGarbage(join(base, 'shared'), live, { createdBefore: newestTrigger });
  }

  /**
   * Removes an aborted checkpoint's directory. Best effort: a subtask may still be writing
   * into it, and a later prune removes whatever is left.
   */
  async discard(directory: string): Promise<void> {
    try {
      await rm(directory, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
    } catch {
      // Left for prune.
    }
  }
}
