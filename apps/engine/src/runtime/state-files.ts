/**
 * One subtask's snapshot of its chain: for each operator, its operator state (list
 * entries) and keyed state (by key group). Stored as msgpack behind a magic number and
 * a format version, written atomically: temp file, fsync, rename.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { Packr } from 'msgpackr';
import type { KeyedStateSnapshot, OperatorStateSnapshot } from '@sluice/operators';

const MAGIC = Buffer.from('SLST');
export const STATE_FORMAT_VERSION = 1;
const packr = new Packr({ useRecords: false, moreTypes: false });

export interface OperatorSnapshotData {
  readonly nodeId: string;
  readonly operatorState: OperatorStateSnapshot | undefined;
  readonly keyedState: KeyedStateSnapshot | undefined;
}

export interface SubtaskSnapshotData {
  readonly jobId: string;
  readonly checkpointId: number;
  readonly taskId: number;
  readonly subtaskIndex: number;
  readonly operators: readonly OperatorSnapshotData[];
  /**
   * Unaligned checkpoints: records that were in flight to the chain's head (input index,
   * value, timestamp, kind), replayed into it after a restore.
   */
  readonly channelState?: ReadonlyArray<readonly [number, unknown, number, number]> | undefined;
}

export function encodeSnapshot(data: SubtaskSnapshotData): Buffer {
  const body = packr.pack(data);
  const header = Buffer.alloc(MAGIC.length + 1);
  MAGIC.copy(header);
  header.writeUInt8(STATE_FORMAT_VERSION, MAGIC.length);
  return Buffer.concat([header, body]);
}

export function decodeSnapshot(bytes: Buffer, where: string): SubtaskSnapshotData {
  if (bytes.length < MAGIC.length + 1 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error(`${where} is not a Sluice state file`);
  }
  const version = bytes.readUInt8(MAGIC.length);
  if (version !== STATE_FORMAT_VERSION) throw new Error(`${where} has state format ${version}; this Sluice reads format ${STATE_FORMAT_VERSION}`);
  try {
    return packr.unpack(bytes.subarray(MAGIC.length + 1)) as SubtaskSnapshotData;
  } catch (error) {
    throw new Error(`${where} is damaged: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes a file so that readers see either nothing or all of it. */
export async function writeAtomically(path: string, bytes: Buffer | string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

export function writeAtomicallySync(path: string, bytes: Buffer | string): void {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

export function readSnapshotFile(path: string): SubtaskSnapshotData {
  return decodeSnapshot(readFileSync(path), path);
}
