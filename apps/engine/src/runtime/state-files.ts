/**
 * One subtask's snapshot of its chain: for each operator, its operator state (list
 * entries) and keyed state (by key group). Stored as msgpack behind a magic number and
 * a format version, written atomically: temp file, fsync, rename.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { Packr } from 'msgpackr';
import { keyGroupOfStored, storedKeyGroup, type EncodedKeyedSnapshot, type KeyedStateSnapshot, type OperatorStateSnapshot, type StoredKeyGroup } from '@sluice/operators';
import type { Hash } from 'node:crypto';

const MAGIC = Buffer.from('SLST');
/**
 * 2: keyed list and map state with a TTL carry an expiry per element / entry (`[{v, x}]`,
 * `{ __sluice_map__: [[k, {v, x}]] }`). Files of format 1 (one `{v, x}` around a whole
 * TTL list or map) are still read: the keyed backends convert such values on restore.
 * 3: a key group's timers are grouped by (domain, timestamp, namespace) with the list
 * of their keys (`timerRows`, see @sluice/operators' snapshot-bytes.ts): a window
 * registers the same timer for every key, so the timestamp and window are stored once
 * instead of per key. Formats 1 and 2 stored one object per timer (`timers`).
 * 4: `outputChannelState`, the records an unaligned barrier overtook in the subtask's
 * output (`OutputChannelRecord`). A reader that ignored the field would lose them, so
 * the version says it is there; files of formats 1 to 3 have none.
 */
export const STATE_FORMAT_VERSION = 4;
const READABLE_STATE_FORMATS: readonly number[] = [1, 2, 3, 4];
const packr = new Packr({ useRecords: false, moreTypes: false });

/** What the checkpoint writer takes: keyed state as objects, or with its key groups already encoded (the heap's checkpoints). */
export interface EncodableOperatorSnapshot {
  readonly nodeId: string;
  readonly operatorState: OperatorStateSnapshot | undefined;
  readonly keyedState: KeyedStateSnapshot | EncodedKeyedSnapshot | undefined;
}

/** An operator's snapshot as a state file decodes to: keyed state as objects. */
export interface OperatorSnapshotData extends EncodableOperatorSnapshot {
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
  /**
   * Unaligned checkpoints: records this subtask had produced but not yet published into
   * a channel when the barrier overtook them (Flink's result subpartition state). They
   * are replayed into the consumer after a restore, as its own in-flight records.
   */
  readonly outputChannelState?: readonly OutputChannelRecord[] | undefined;
}

/**
 * One overtaken output record: the consumer task's head node, its input (0, or 1 for a
 * two-input head), the consumer subtask it was sent to, value, timestamp and row kind.
 */
export type OutputChannelRecord = readonly [consumer: string, input: number, consumerSubtask: number, value: unknown, timestamp: number, kind: number];

type KeyGroupSnapshot = KeyedStateSnapshot['keyGroups'][number];

/** The data as it is stored: key groups in their stored form. */
function stored(data: SubtaskSnapshotData): unknown {
  return {
    ...data,
    operators: data.operators.map((op) => (op.keyedState ? { ...op, keyedState: { ...op.keyedState, keyGroups: op.keyedState.keyGroups.map(storedKeyGroup) } } : op)),
  };
}

export function encodeSnapshot(data: SubtaskSnapshotData): Buffer {
  const body = packr.pack(stored(data));
  const header = Buffer.alloc(MAGIC.length + 1);
  MAGIC.copy(header);
  header.writeUInt8(STATE_FORMAT_VERSION, MAGIC.length);
  return Buffer.concat([header, body]);
}

function header(): Buffer {
  const bytes = Buffer.alloc(MAGIC.length + 1);
  MAGIC.copy(bytes);
  bytes.writeUInt8(STATE_FORMAT_VERSION, MAGIC.length);
  return bytes;
}

function mapHeader(size: number): Buffer {
  if (size > 15) throw new Error('state-file maps have at most 15 fields');
  return Buffer.of(0x80 | size);
}

function arrayHeader(length: number): Buffer {
  if (length < 16) return Buffer.of(0x90 | length);
  if (length < 0x10000) return Buffer.of(0xdc, length >> 8, length & 0xff);
  const bytes = Buffer.alloc(5);
  bytes[0] = 0xdd;
  bytes.writeUInt32BE(length, 1);
  return bytes;
}

/**
 * Encodes a subtask snapshot in steps, one key group at a time, so that a large keyed
 * state does not stop the task for the whole encoding. The file decodes to the same
 * data as encodeSnapshot's (msgpack concatenates: an array header followed by its
 * elements, each packed on its own, is the packed array).
 */
export class SnapshotEncoder {
  /** What to write, in order: bytes as they are, or a value to pack when its turn comes. */
  private readonly parts: Array<Uint8Array | { readonly value: unknown } | { readonly group: KeyGroupSnapshot }> = [];
  private next = 0;
  private readonly chunks: Uint8Array[] = [];
  private readonly hash: Hash = createHash('sha256');
  private size = 0;

  constructor(data: Omit<SubtaskSnapshotData, 'operators'> & { readonly operators: readonly EncodableOperatorSnapshot[] }) {
    this.parts.push(header());
    const fields = Object.entries(data as Record<string, unknown>).filter(([, v]) => v !== undefined);
    this.parts.push(mapHeader(fields.length));
    for (const [name, value] of fields) {
      this.parts.push({ value: name });
      if (name === 'operators') this.operators(value as readonly EncodableOperatorSnapshot[]);
      else this.parts.push({ value });
    }
  }

  private operators(operators: readonly EncodableOperatorSnapshot[]): void {
    this.parts.push(arrayHeader(operators.length));
    for (const op of operators) {
      this.parts.push(mapHeader(3), { value: 'nodeId' }, { value: op.nodeId }, { value: 'operatorState' }, { value: op.operatorState }, { value: 'keyedState' });
      const keyed = op.keyedState;
      if (!keyed) {
        this.parts.push({ value: keyed });
        continue;
      }
      this.parts.push(mapHeader(3), { value: 'maxParallelism' }, { value: keyed.maxParallelism }, { value: 'descriptors' }, { value: keyed.descriptors });
      this.parts.push({ value: 'keyGroups' }, arrayHeader(keyed.keyGroups.length));
      for (const group of keyed.keyGroups) this.parts.push(group instanceof Uint8Array ? group : { group });
    }
  }

  /** Encodes until performance.now() passes `deadline`; true when done. */
  step(deadline: number): boolean {
    while (this.next < this.parts.length) {
      const part = this.parts[this.next++] as Uint8Array | { readonly value: unknown } | { readonly group: KeyGroupSnapshot };
      // Packr reuses its buffer between calls: keep a copy.
      const bytes = part instanceof Uint8Array ? part : Buffer.from(packr.pack('group' in part ? storedKeyGroup(part.group) : part.value));
      this.chunks.push(bytes);
      this.hash.update(bytes);
      this.size += bytes.length;
      if (performance.now() >= deadline) break;
    }
    return this.next >= this.parts.length;
  }

  /** The file's bytes and their sha256, once step() returned true. */
  finish(): { bytes: Buffer; sha256: string } {
    if (this.next < this.parts.length) throw new Error('the snapshot is not encoded yet: call step() until it returns true');
    return { bytes: Buffer.concat(this.chunks, this.size), sha256: this.hash.digest('hex') };
  }
}

export function decodeSnapshot(bytes: Buffer, where: string): SubtaskSnapshotData {
  if (bytes.length < MAGIC.length + 1 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error(`${where} is not a Sluice state file`);
  }
  const version = bytes.readUInt8(MAGIC.length);
  if (!READABLE_STATE_FORMATS.includes(version)) throw new Error(`${where} has state format ${version}; this Sluice reads formats ${READABLE_STATE_FORMATS.slice(0, -1).join(', ')} and ${READABLE_STATE_FORMATS.at(-1) ?? ''}`);
  try {
    const data = packr.unpack(bytes.subarray(MAGIC.length + 1)) as SubtaskSnapshotData;
    return {
      ...data,
      operators: data.operators.map((op) =>
        op.keyedState ? { ...op, keyedState: { ...op.keyedState, keyGroups: (op.keyedState.keyGroups as readonly StoredKeyGroup[]).map(keyGroupOfStored) } } : op,
      ),
    };
  } catch (error) {
    throw new Error(`${where} is damaged: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** fsync of a file or a directory (what a rename or a new entry in it needs to be durable). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a file so that readers see either nothing or all of it; durably unless `sync` is
 * false (then whoever relies on the file must fsync it: see TaskManagerOptions.durableWrites).
 */
export async function writeAtomically(path: string, bytes: Buffer | string, sync = true): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    if (sync) await handle.sync();
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
