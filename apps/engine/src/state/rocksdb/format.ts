/**
 * The byte format of keyed state in RocksDB (format version 2). Everything a RocksDB
 * key or value holds is defined here; the backend never builds bytes itself.
 *
 * Keys sort by key group first, so one key group (or a range of them) is one
 * contiguous key range that can be scanned, copied or deleted on its own:
 *
 *   value, reducing, aggregating, list cell   [kg u16 BE][state id u16 BE][key][namespace]
 *   map entry                                 [kg][state id][key][namespace] 0x01 [user key]
 *   backend metadata                          0xFF 0xFF <ascii name>            (JSON value)
 *
 * `key`, `namespace` and a map's `user key` (each a string or a number) are encoded the
 * same self-delimiting way, so no encoding is a prefix of another:
 *
 *   0x01 int32 (4 bytes BE, sign bit flipped)   numbers that are 32-bit integers (-0 is 0)
 *   0x02 float64 (8 bytes BE, order-preserving) every other number (one NaN)
 *   0x03 varint(length) UTF-8 bytes             well-formed strings
 *   0x04 varint(length) UTF-16LE code units     strings with lone surrogates
 *
 * Values are msgpack streams (msgpackr, records off), so every stored value decodes with a
 * plain msgpack reader:
 *
 *   cell without TTL                0x00 <value>
 *   cell with TTL                   0x01 0xCB <expiry f64 BE> <value>
 *   list                            frame (',' frame)*     (',' = 0x2C, the separator
 *     frame: 0x00 <element>                                 RocksDB's stringappend merge
 *            0x02 0xCB <expiry f64 BE> <element>  (TTL)     operator inserts on append)
 *   map entry                       as a cell: 0x00 <value>, or with TTL 0x01 0xCB <expiry> <value>
 *
 * TTL is per list element and per map entry, as Flink's TtlListState / TtlMapState, so
 * adding to a TTL list is an append (no read) and a map entry is read and renewed alone.
 *
 * Format 1 (still restored, see upgradeListFormat1 and the backend's upgrade) kept one
 * expiry per list, in a frame `0x01 0xCB <expiry>` first in the list, and per TTL map, in
 * a header row `[kg][state id][key][namespace] 0x00` holding `0x01 0xCB <expiry>`.
 *
 * A JavaScript Map anywhere inside a value is stored as `{ "__sluice_map__": [[k, v], …] }`,
 * the tag the canonical snapshot format uses, and turned back into a Map when read.
 * The metadata key `0xFFFF "format"` holds `{ formatVersion, maxParallelism }`, and
 * `0xFFFF "state:" <name>` each state's id, kind and TTL.
 */
import { Packr } from 'msgpackr';
import type { Key, Namespace } from '@sluice/operators';

export const ROCKSDB_FORMAT_VERSION = 2;
/** The formats this code opens (older ones are upgraded in place when restored). */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

export const MAP_TAG = '__sluice_map__';
const MAP_TAG_BYTES = Buffer.from(MAP_TAG, 'latin1');

export const packr = new Packr({ useRecords: false, moreTypes: false });

/** Header byte of a stored cell, list frame or map entry. */
export const PLAIN = 0x00;
export const EXPIRING = 0x01;
/** A list element with its own expiry (format 2). In format 1, EXPIRING opened the list's expiry frame. */
export const EXPIRING_ELEMENT = 0x02;
/** The byte RocksDB's stringappend merge operator puts between appended list parts. */
export const LIST_SEPARATOR = 0x2c;
const MSGPACK_FLOAT64 = 0xcb;

/** Suffix bytes after [kg][id][key][namespace] for map state (headers exist in format 1 only). */
export const MAP_HEADER_SUFFIX_FORMAT1 = '\x00';
export const MAP_ENTRY_SUFFIX = '\x01';

export const META_PREFIX = '\xff\xff';
export const META_FORMAT = `${META_PREFIX}format`;
export const META_STATE = `${META_PREFIX}state:`;

// --- keys -------------------------------------------------------------------------

/**
 * Keys are handled as binary strings (one char per byte, latin1) so they can be Map keys
 * and concatenated cheaply; `Buffer.from(s, 'latin1')` turns one into RocksDB bytes.
 */
export type BinaryKey = string;

const scratch = Buffer.alloc(8);

function u16(n: number): string {
  return String.fromCharCode((n >>> 8) & 0xff, n & 0xff);
}

/** `[kg u16][state id u16]`: the start of every key of one state in one key group. */
export function groupStatePrefix(keyGroup: number, stateId: number): BinaryKey {
  return u16(keyGroup) + u16(stateId);
}

export function keyGroupPrefix(keyGroup: number): BinaryKey {
  return u16(keyGroup);
}

function varint(n: number): string {
  let out = '';
  while (n >= 0x80) {
    out += String.fromCharCode((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  return out + String.fromCharCode(n);
}

/** Encodes a key, namespace or map user key (see the table above). */
export function encodeAtom(value: string | number): BinaryKey {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) {
      scratch.writeInt32BE(value | 0, 0);
      scratch[0] = (scratch[0] as number) ^ 0x80;
      return '\x01' + scratch.toString('latin1', 0, 4);
    }
    scratch.writeDoubleBE(Number.isNaN(value) ? Number.NaN : value, 0);
    // Order-preserving: flip the sign bit of positives, every bit of negatives.
    if (((scratch[0] as number) & 0x80) === 0) scratch[0] = (scratch[0] as number) | 0x80;
    else for (let i = 0; i < 8; i++) scratch[i] = ~(scratch[i] as number) & 0xff;
    return '\x02' + scratch.toString('latin1', 0, 8);
  }
  let ascii = true;
  let wellFormed = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x7f) continue;
    ascii = false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else wellFormed = false;
    } else if (c >= 0xdc00 && c <= 0xdfff) wellFormed = false;
  }
  if (ascii) return '\x03' + varint(value.length) + value;
  if (wellFormed) {
    const utf8 = Buffer.from(value, 'utf8');
    return '\x03' + varint(utf8.length) + utf8.toString('latin1');
  }
  const utf16 = Buffer.from(value, 'utf16le');
  return '\x04' + varint(utf16.length) + utf16.toString('latin1');
}

/** Reads one encoded atom from `bytes` at `offset`; returns the value and the offset after it. */
export function decodeAtom(bytes: Buffer, offset: number): { value: string | number; end: number } {
  const tag = bytes[offset];
  switch (tag) {
    case 0x01: {
      const b0 = (bytes[offset + 1] as number) ^ 0x80;
      const value = ((b0 << 24) | ((bytes[offset + 2] as number) << 16) | ((bytes[offset + 3] as number) << 8) | (bytes[offset + 4] as number)) | 0;
      return { value, end: offset + 5 };
    }
    case 0x02: {
      bytes.copy(scratch, 0, offset + 1, offset + 9);
      if (((scratch[0] as number) & 0x80) !== 0) scratch[0] = (scratch[0] as number) & 0x7f;
      else for (let i = 0; i < 8; i++) scratch[i] = ~(scratch[i] as number) & 0xff;
      return { value: scratch.readDoubleBE(0), end: offset + 9 };
    }
    case 0x03:
    case 0x04: {
      let length = 0;
      let shift = 0;
      let at = offset + 1;
      for (;;) {
        const b = bytes[at++];
        if (b === undefined) throw new Error('truncated key in RocksDB state');
        length += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
        shift += 7;
      }
      const value = bytes.toString(tag === 0x03 ? 'utf8' : 'utf16le', at, at + length);
      return { value, end: at + length };
    }
    default:
      throw new Error(`unknown key encoding 0x${(tag ?? 0).toString(16)} in RocksDB state (format ${ROCKSDB_FORMAT_VERSION})`);
  }
}

/** Length of the encoded atom at `offset`, without decoding it. */
export function atomLength(bytes: Buffer, offset: number): number {
  const tag = bytes[offset];
  if (tag === 0x01) return 5;
  if (tag === 0x02) return 9;
  if (tag === 0x03 || tag === 0x04) {
    let length = 0;
    let shift = 0;
    let at = offset + 1;
    for (;;) {
      const b = bytes[at++];
      if (b === undefined) throw new Error('truncated key in RocksDB state');
      length += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    return at + length - offset;
  }
  throw new Error(`unknown key encoding 0x${(tag ?? 0).toString(16)} in RocksDB state (format ${ROCKSDB_FORMAT_VERSION})`);
}

/** The parts of a state key read back from RocksDB. Offsets index into `bytes`. */
export interface ParsedKey {
  readonly keyGroup: number;
  readonly stateId: number;
  /** Offset of the encoded key (always 4). */
  readonly keyStart: number;
  readonly namespaceStart: number;
  /** Offset just after the namespace: the cell key is bytes[0, cellEnd). */
  readonly cellEnd: number;
}

export function parseKey(bytes: Buffer): ParsedKey {
  const keyGroup = ((bytes[0] as number) << 8) | (bytes[1] as number);
  const stateId = ((bytes[2] as number) << 8) | (bytes[3] as number);
  const namespaceStart = 4 + atomLength(bytes, 4);
  const cellEnd = namespaceStart + atomLength(bytes, namespaceStart);
  return { keyGroup, stateId, keyStart: 4, namespaceStart, cellEnd };
}

export function isMetaKey(bytes: Buffer): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xff;
}

/** The smallest binary key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: BinaryKey): BinaryKey {
  let i = prefix.length - 1;
  while (i >= 0 && prefix.charCodeAt(i) === 0xff) i--;
  if (i < 0) return META_PREFIX + '\xff';
  return prefix.slice(0, i) + String.fromCharCode(prefix.charCodeAt(i) + 1);
}

export function toBytes(key: BinaryKey): Buffer {
  return Buffer.from(key, 'latin1');
}

// --- values -----------------------------------------------------------------------

function containsMap(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null || depth > 64) return false;
  if (value instanceof Map) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (containsMap(v, depth + 1)) return true;
    return false;
  }
  if (ArrayBuffer.isView(value) || value instanceof Date) return false;
  for (const k in value) if (containsMap((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/** Replaces Maps by tagged entry lists, copying only the containers on the way to a Map. */
function tagMaps(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Map) return { [MAP_TAG]: [...(value as Map<unknown, unknown>).entries()].map(([k, v]) => [k, tagMaps(v)]) };
  if (Array.isArray(value)) return value.map(tagMaps);
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = tagMaps((value as Record<string, unknown>)[k]);
  return out;
}

function untagMaps(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(untagMaps);
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (MAP_TAG in value) {
    const entries = (value as Record<string, Array<[unknown, unknown]> | undefined>)[MAP_TAG] ?? [];
    return new Map(entries.map(([k, v]) => [k, untagMaps(v)]));
  }
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = untagMaps((value as Record<string, unknown>)[k]);
  return out;
}

/** msgpack of a value, Maps tagged. */
export function packValue(value: unknown): Buffer {
  return packr.pack(containsMap(value, 0) ? tagMaps(value) : value);
}

/** Decodes a msgpack value at `offset`; tagged Maps become Maps again. */
export function unpackValue(bytes: Buffer, offset: number): unknown {
  const value: unknown = packr.unpack(offset === 0 ? bytes : bytes.subarray(offset));
  return bytes.indexOf(MAP_TAG_BYTES, offset) >= 0 ? untagMaps(value) : value;
}

/**
 * Decodes a value as plain data (Maps stay tagged): the canonical snapshot form, which
 * the heap backend produces with its own toPlain.
 */
export function unpackPlain(bytes: Buffer, offset: number): unknown {
  return packr.unpack(offset === 0 ? bytes : bytes.subarray(offset));
}

const PLAIN_HEADER = Buffer.from([PLAIN]);

/** A cell value: `0x00 <value>` or `0x01 0xCB <expiry> <value>`. */
export function encodeCell(value: unknown, expiry: number | undefined): Buffer {
  return encodePackedCell(packValue(value), expiry);
}

export function encodePackedCell(packed: Buffer, expiry: number | undefined): Buffer {
  if (expiry === undefined) return Buffer.concat([PLAIN_HEADER, packed]);
  const out = Buffer.allocUnsafe(10 + packed.length);
  out[0] = EXPIRING;
  out[1] = MSGPACK_FLOAT64;
  out.writeDoubleBE(expiry, 2);
  packed.copy(out, 10);
  return out;
}

/** Expiry of a stored cell or map header, or undefined when it has none. */
export function cellExpiry(bytes: Buffer): number | undefined {
  return bytes[0] === EXPIRING ? bytes.readDoubleBE(2) : undefined;
}

/** Offset of the value inside a stored cell. */
export function cellValueOffset(bytes: Buffer): number {
  return bytes[0] === EXPIRING ? 10 : 1;
}

/** A copy of a stored cell (or map header) with a new expiry. */
export function withExpiry(bytes: Buffer, expiry: number): Buffer {
  if (bytes[0] !== EXPIRING) {
    const out = Buffer.allocUnsafe(bytes.length + 9);
    out[0] = EXPIRING;
    out[1] = MSGPACK_FLOAT64;
    out.writeDoubleBE(expiry, 2);
    bytes.copy(out, 10, 1);
    return out;
  }
  const out = Buffer.from(bytes);
  out.writeDoubleBE(expiry, 2);
  return out;
}

/** A copy of a stored cell (or map entry) without its expiry. */
export function withoutExpiry(bytes: Buffer): Buffer {
  if (bytes[0] !== EXPIRING) return bytes;
  const out = Buffer.allocUnsafe(bytes.length - 9);
  out[0] = PLAIN;
  bytes.copy(out, 1, 10);
  return out;
}

/** One list element as a frame: `0x00 <element>`. */
export function encodeListFrame(element: unknown): Buffer {
  return Buffer.concat([PLAIN_HEADER, packValue(element)]);
}

function expiringFrame(packed: Buffer, expiry: number): Buffer {
  const out = Buffer.allocUnsafe(10 + packed.length);
  out[0] = EXPIRING_ELEMENT;
  out[1] = MSGPACK_FLOAT64;
  out.writeDoubleBE(expiry, 2);
  packed.copy(out, 10);
  return out;
}

/** One list element with its own expiry: `0x02 0xCB <expiry> <element>`. */
export function encodeExpiringFrame(element: unknown, expiry: number): Buffer {
  return expiringFrame(packValue(element), expiry);
}

const SEPARATOR = Buffer.from([LIST_SEPARATOR]);

/** Frames joined with the separator: a whole list, or an operand for the append merge. */
export function joinFrames(frames: readonly Buffer[]): Buffer {
  if (frames.length === 1) return frames[0] as Buffer;
  const parts: Buffer[] = [];
  frames.forEach((frame, i) => {
    if (i > 0) parts.push(SEPARATOR);
    parts.push(frame);
  });
  return Buffer.concat(parts);
}

/** Appends an operand to a stored list the way the merge operator does. */
export function appendList(base: Buffer | undefined, operand: Buffer): Buffer {
  return base === undefined ? operand : Buffer.concat([base, SEPARATOR, operand]);
}

/**
 * A stored list: its elements and, when any element has one, each element's expiry
 * (Infinity for an element without). `plain` keeps Maps tagged (the snapshot form).
 */
export function decodeList(bytes: Buffer, plain: boolean): { elements: unknown[]; expiries: number[] | undefined } {
  const tokens = packr.unpackMultiple(bytes) as unknown[];
  const elements: unknown[] = [];
  let expiries: number[] | undefined;
  let i = 0;
  while (i < tokens.length) {
    const tag = tokens[i];
    if (tag === PLAIN) {
      if (expiries) expiries.push(Number.POSITIVE_INFINITY);
      elements.push(tokens[i + 1]);
      i += 2;
    } else if (tag === EXPIRING_ELEMENT) {
      expiries ??= elements.map(() => Number.POSITIVE_INFINITY);
      expiries.push(tokens[i + 1] as number);
      elements.push(tokens[i + 2]);
      i += 3;
    } else {
      throw new Error(`damaged list state: unexpected frame ${String(tag)} (format ${ROCKSDB_FORMAT_VERSION})`);
    }
    if (i < tokens.length) {
      if (tokens[i] !== LIST_SEPARATOR) throw new Error('damaged list state: missing separator');
      i++;
    }
  }
  if (!plain && bytes.indexOf(MAP_TAG_BYTES) >= 0) return { elements: elements.map(untagMaps), expiries };
  return { elements, expiries };
}

/** A whole list value from elements (without TTL). */
export function encodeList(elements: readonly unknown[]): Buffer {
  return joinFrames(elements.map(encodeListFrame));
}

/** A whole TTL list from elements and their expiries. */
export function encodeTtlList(elements: readonly unknown[], expiries: readonly number[]): Buffer {
  return joinFrames(elements.map((e, i) => encodeExpiringFrame(e, expiries[i] as number)));
}

/** A whole list from elements already in plain (snapshot) form: no Map tagging needed. `expiries` for TTL lists. */
export function encodePlainList(elements: readonly unknown[], expiries?: readonly number[]): Buffer {
  return joinFrames(elements.map((e, i) => (expiries ? expiringFrame(packr.pack(e), expiries[i] as number) : Buffer.concat([PLAIN_HEADER, packr.pack(e)]))));
}

/** A cell from a plain (snapshot) value: Maps are already tagged. */
export function encodePlainCell(plain: unknown, expiry: number | undefined): Buffer {
  return encodePackedCell(packr.pack(plain), expiry);
}

/**
 * A list stored in format 1 with an expiry frame (`0x01 0xCB <expiry>`, the list's expiry)
 * rewritten in format 2: every element carries that expiry. Undefined when the list has
 * no expiry frame (it reads the same in both formats).
 */
export function upgradeListFormat1(bytes: Buffer): Buffer | undefined {
  const tokens = packr.unpackMultiple(bytes) as unknown[];
  const packed: Buffer[] = [];
  let expiry: number | undefined;
  let i = 0;
  while (i < tokens.length) {
    const tag = tokens[i];
    if (tag === EXPIRING) expiry = tokens[i + 1] as number;
    else if (tag === PLAIN) packed.push(Buffer.from(packr.pack(tokens[i + 1])));
    else throw new Error(`damaged format-1 list state: unexpected frame ${String(tag)}`);
    i += 2;
    if (i < tokens.length) {
      if (tokens[i] !== LIST_SEPARATOR) throw new Error('damaged format-1 list state: missing separator');
      i++;
    }
  }
  if (expiry === undefined) return undefined;
  const at = expiry;
  return joinFrames(packed.map((p) => expiringFrame(p, at)));
}

/** The heap backend's plain form of a live value (Maps → tagged entry lists, class instances → plain objects). */
export function toPlain(value: unknown): unknown {
  if (value instanceof Map) return { [MAP_TAG]: [...(value as Map<unknown, unknown>).entries()].map(([k, v]) => [k, toPlain(v)]) };
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

export function fromPlain(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && MAP_TAG in value) {
    return new Map((value as Record<string, Array<[unknown, unknown]>>)[MAP_TAG]?.map(([k, v]) => [k, fromPlain(v)]));
  }
  if (Array.isArray(value)) return value.map(fromPlain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromPlain(v)]));
  }
  return value;
}

export type { Key, Namespace };
