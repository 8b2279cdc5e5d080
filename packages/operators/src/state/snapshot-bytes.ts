/**
 * The stored form of a keyed-state snapshot's key groups (state-file format 2), and a
 * writer that produces it while a snapshot walks the state.
 *
 * Each key group is one msgpack value:
 *
 *     { keyGroup, states: { <state>: [[namespace, [[key, value], ...]], ...] },
 *       timerRows?: [[domain (0 event, 1 processing), timestamp, namespace, [key, ...]], ...] }
 *
 * Timers are grouped by (domain, timestamp, namespace): a window registers the same
 * timer for every key, so a checkpoint stores its timestamp and window once, not once
 * per key. Format 1 stored `timers` as one object per timer; it still decodes.
 *
 * Why a writer of its own: a checkpoint of the heap backend used to build the snapshot
 * as objects ([key, value] pairs per entry, one object per timer) and then hand them to
 * msgpack. Writing the bytes during the walk skips those objects and the generic
 * encoder's dispatch for the common entry (a string or number key and a number value);
 * anything else is packed by msgpackr, so the bytes decode the same either way.
 */
import { Packr } from 'msgpackr';
import type { Key } from '../api/elements.js';
import type { EncodedKeyedSnapshot, KeyedStateSnapshot, Namespace, TimerSnapshot } from '../api/state.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

type KeyGroupSnapshot = KeyedStateSnapshot['keyGroups'][number];
/** [domain (0 event, 1 processing), timestamp, namespace, keys]. */
export type TimerRow = [number, number, Namespace, Key[]];

/** A key group as format 2 stores it (format 1 had `timers` instead of `timerRows`). */
export interface StoredKeyGroup {
  readonly keyGroup: number;
  readonly states: KeyGroupSnapshot['states'];
  readonly timerRows?: readonly TimerRow[];
  readonly timers?: readonly TimerSnapshot[];
}

/** Groups timers into rows; timers come in runs of one row (a window's timers, key after key), so most need no lookup. */
export class TimerRows {
  readonly rows: TimerRow[] = [];
  private readonly index = [new Map<number, Map<Namespace, TimerRow>>(), new Map<number, Map<Namespace, TimerRow>>()] as const;
  private last: TimerRow | undefined;

  add(domain: 0 | 1, timestamp: number, namespace: Namespace, key: Key): void {
    const last = this.last;
    if (last !== undefined && last[1] === timestamp && last[2] === namespace && last[0] === domain) {
      last[3].push(key);
      return;
    }
    const byTimestamp = this.index[domain];
    let byNamespace = byTimestamp.get(timestamp);
    if (!byNamespace) byTimestamp.set(timestamp, (byNamespace = new Map<Namespace, TimerRow>()));
    let row = byNamespace.get(namespace);
    if (!row) {
      byNamespace.set(namespace, (row = [domain, timestamp, namespace, []]));
      this.rows.push(row);
    }
    row[3].push(key);
    this.last = row;
  }
}

/** The stored form of a key group given as objects (canonical snapshots, savepoints). */
export function storedKeyGroup(group: KeyGroupSnapshot): StoredKeyGroup {
  if (group.timers.length === 0) return { keyGroup: group.keyGroup, states: group.states };
  const rows = new TimerRows();
  for (const t of group.timers) rows.add(t.domain === 'event' ? 0 : 1, t.timestamp, t.namespace, t.key);
  return { keyGroup: group.keyGroup, states: group.states, timerRows: rows.rows };
}

/** A stored key group (format 1 or 2) as the objects a backend restores from. */
export function keyGroupOfStored(group: StoredKeyGroup): KeyGroupSnapshot {
  if (group.timers) return { keyGroup: group.keyGroup, states: group.states, timers: group.timers };
  const timers: TimerSnapshot[] = [];
  for (const [domain, timestamp, namespace, keys] of group.timerRows ?? []) {
    for (const key of keys) timers.push({ domain: domain === 0 ? 'event' : 'processing', timestamp, key, namespace });
  }
  return { keyGroup: group.keyGroup, states: group.states, timers };
}

export function decodeKeyGroup(bytes: Uint8Array): KeyGroupSnapshot {
  return keyGroupOfStored(packr.unpack(bytes) as StoredKeyGroup);
}

/** A growable byte buffer with msgpack writers for the values a snapshot holds. */
class Bytes {
  buf: Buffer = Buffer.allocUnsafe(4096);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  raw(bytes: Uint8Array, start = 0, end = bytes.length): void {
    this.room(end - start);
    this.buf.set(bytes.subarray(start, end), this.pos);
    this.pos += end - start;
  }

  arrayHeader(length: number): void {
    this.room(5);
    const buf = this.buf;
    if (length < 16) buf[this.pos++] = 0x90 | length;
    else if (length < 0x10000) {
      buf[this.pos++] = 0xdc;
      buf.writeUInt16BE(length, this.pos);
      this.pos += 2;
    } else {
      buf[this.pos++] = 0xdd;
      buf.writeUInt32BE(length, this.pos);
      this.pos += 4;
    }
  }

  mapHeader(size: number): void {
    this.room(5);
    if (size < 16) this.buf[this.pos++] = 0x80 | size;
    else if (size < 0x10000) {
      this.buf[this.pos++] = 0xde;
      this.buf.writeUInt16BE(size, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdf;
      this.buf.writeUInt32BE(size, this.pos);
      this.pos += 4;
    }
  }

  string(s: string): void {
    const length = s.length;
    this.room(5 + length * 3);
    const buf = this.buf;
    if (length < 32) {
      // Short ASCII, the usual key: one pass, no length computation.
      const start = this.pos + 1;
      let i = 0;
      for (; i < length; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[start + i] = c;
      }
      if (i === length) {
        buf[this.pos] = 0xa0 | length;
        this.pos = start + length;
        return;
      }
    }
    const n = Buffer.byteLength(s);
    if (n < 32) buf[this.pos++] = 0xa0 | n;
    else if (n < 0x100) {
      buf[this.pos++] = 0xd9;
      buf[this.pos++] = n;
    } else if (n < 0x10000) {
      buf[this.pos++] = 0xda;
      buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else {
      buf[this.pos++] = 0xdb;
      buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
    this.pos += buf.write(s, this.pos, 'utf8');
  }

  number(v: number): void {
    this.room(9);
    const buf = this.buf;
    if ((v | 0) === v && !Object.is(v, -0)) {
      if (v >= 0 && v < 0x80) buf[this.pos++] = v;
      else if (v < 0 && v >= -32) buf[this.pos++] = v & 0xff;
      else {
        buf[this.pos++] = 0xd2;
        buf.writeInt32BE(v, this.pos);
        this.pos += 4;
      }
      return;
    }
    buf[this.pos++] = 0xcb;
    buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  value(v: unknown): void {
    if (typeof v === 'number') this.number(v);
    else if (typeof v === 'string') this.string(v);
    else this.raw(packr.pack(v));
  }

  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** One key group's entries in walk order: a run of entries per (state, namespace). */
class GroupWriter {
  readonly bytes = new Bytes();
  /** [state, namespace, entry count, byte start]; a state's runs are consecutive. */
  readonly runs: Array<[string, Namespace, number, number]> = [];
  current: [string, Namespace, number, number] | undefined;
  timers: TimerRows | undefined;
}

/**
 * Builds the stored key groups of a snapshot entry by entry, in the order a walk over
 * (state, namespace, key) meets them; finish() puts each key group's runs under their
 * headers.
 */
export class KeyGroupsWriter {
  private readonly groups = new Map<number, GroupWriter>();

  private group(keyGroup: number): GroupWriter {
    let group = this.groups.get(keyGroup);
    if (!group) this.groups.set(keyGroup, (group = new GroupWriter()));
    return group;
  }

  entry(keyGroup: number, state: string, namespace: Namespace, key: Key, value: unknown): void {
    const group = this.group(keyGroup);
    let run = group.current;
    if (run === undefined || run[1] !== namespace || run[0] !== state) {
      group.runs.push((run = group.current = [state, namespace, 0, group.bytes.pos]));
    }
    run[2]++;
    const bytes = group.bytes;
    bytes.arrayHeader(2);
    if (typeof key === 'string') bytes.string(key);
    else bytes.number(key);
    bytes.value(value);
  }

  timer(keyGroup: number, domain: 'event' | 'processing', timestamp: number, namespace: Namespace, key: Key): void {
    const group = this.group(keyGroup);
    (group.timers ??= new TimerRows()).add(domain === 'event' ? 0 : 1, timestamp, namespace, key);
  }

  finish(maxParallelism: number, descriptors: KeyedStateSnapshot['descriptors']): EncodedKeyedSnapshot {
    const keyGroups: Buffer[] = [];
    for (const keyGroup of [...this.groups.keys()].sort((a, b) => a - b)) {
      const group = this.groups.get(keyGroup) as GroupWriter;
      const out = new Bytes();
      const timers = group.timers?.rows;
      out.mapHeader(timers ? 3 : 2);
      out.string('keyGroup');
      out.number(keyGroup);
      out.string('states');
      const states = new Map<string, Array<[Namespace, number, number, number]>>();
      group.runs.forEach(([state, namespace, count, start], i) => {
        const end = group.runs[i + 1]?.[3] ?? group.bytes.pos;
        let runs = states.get(state);
        if (!runs) states.set(state, (runs = []));
        runs.push([namespace, count, start, end]);
      });
      out.mapHeader(states.size);
      for (const [state, runs] of states) {
        out.string(state);
        out.arrayHeader(runs.length);
        for (const [namespace, count, start, end] of runs) {
          out.arrayHeader(2);
          out.value(namespace);
          out.arrayHeader(count);
          out.raw(group.bytes.buf, start, end);
        }
      }
      if (timers) {
        out.string('timerRows');
        out.arrayHeader(timers.length);
        for (const [domain, timestamp, namespace, keys] of timers) {
          out.arrayHeader(4);
          out.number(domain);
          out.number(timestamp);
          out.value(namespace);
          out.arrayHeader(keys.length);
          for (const key of keys) {
            if (typeof key === 'string') out.string(key);
            else out.number(key);
          }
        }
      }
      keyGroups.push(out.take());
    }
    return { maxParallelism, descriptors, keyGroups };
  }
}
