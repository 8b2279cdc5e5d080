/**
 * Per-entry state TTL (Flink's TtlListState / TtlMapState) on both keyed backends, on a
 * manual processing-time clock: each list element and map entry expires on its own, a
 * write stamps only what it wrote, a read on read-and-write renews only what it read,
 * expired entries are never returned; snapshots leave them out and restore across the
 * heap and RocksDB keeps every entry's own expiry. Format 1 (one expiry per list or map),
 * as a savepoint and as a native RocksDB checkpoint (fixtures), still restores.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keyGroupRangeOf, type KeyedStateSnapshot, type MapState, type StateDescriptor, type StateTtl } from '@sluice/operators';
import { decodeSnapshot, encodeSnapshot, STATE_FORMAT_VERSION } from '../src/runtime/state-files.js';
import { RocksDBKeyedStateBackend, resolveHandle, type NativeCheckpointHandle } from '../src/state/rocksdb/index.js';
import { Clock, MAX_PARALLELISM, heapBackend, normalizeSnapshot, removeTempDirs, rocksBackend, tempDir } from '../src/state/rocksdb/testing.js';

afterAll(removeTempDirs);

type Backend = ReturnType<typeof heapBackend> | RocksDBKeyedStateBackend;
const cw: StateTtl = { ttlMs: 100, update: 'on-create-and-write' };
const rw: StateTtl = { ttlMs: 100, update: 'on-read-and-write' };
const mapOf = (b: Backend, ttl: StateTtl, name = 'm') => b.getState({ kind: 'map', name, ttl }) as MapState<string, unknown>;
const listOf = (b: Backend, ttl: StateTtl, name = 'l') => b.getState({ kind: 'list', name, ttl });
const sortedEntries = (m: MapState<string, unknown>) => m.entries().sort(([a], [b]) => (a < b ? -1 : 1));

const BACKENDS: ReadonlyArray<[string, (clock: Clock) => Promise<Backend>]> = [
  ['heap', (clock) => Promise.resolve(heapBackend(clock))],
  ['rocksdb', (clock) => rocksBackend(clock)],
];

async function close(b: Backend): Promise<void> {
  if (b instanceof RocksDBKeyedStateBackend) await b.dispose();
}

for (const [name, make] of BACKENDS) {
  describe(`per-entry state TTL (${name})`, () => {
    it('map state TTL expires each entry on its own', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const m = mapOf(b, cw);
        b.setCurrentKey('k');
        m.put('a', 1);
        clock.t = 50;
        m.put('b', 2);
        clock.t = 99;
        expect(sortedEntries(m)).toEqual([['a', 1], ['b', 2]]);
        clock.t = 100;
        expect(m.get('a')).toBeUndefined();
        expect(m.contains('a')).toBe(false);
        expect(m.get('b')).toBe(2);
        expect(m.keys()).toEqual(['b']);
        expect(m.values()).toEqual([2]);
        expect(m.isEmpty()).toBe(false);
        expect(b.keys('m', '')).toEqual(['k']);
        clock.t = 150;
        expect(m.isEmpty()).toBe(true);
        expect(m.entries()).toEqual([]);
        expect(b.keys('m', '')).toEqual([]);
        expect(b.namespacesOfCurrentKey('m')).toEqual([]);
      } finally {
        await close(b);
      }
    });

    it('a put renews only the entry it wrote (on-create-and-write); reads renew nothing', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const m = mapOf(b, cw);
        b.setCurrentKey('k');
        m.put('a', 1);
        m.put('b', 2);
        clock.t = 60;
        m.put('a', 10);
        expect(m.get('b')).toBe(2);
        expect(m.entries().length).toBe(2);
        clock.t = 100;
        expect(sortedEntries(m)).toEqual([['a', 10]]);
        clock.t = 160;
        expect(m.get('a')).toBeUndefined();
      } finally {
        await close(b);
      }
    });

    it('on read-and-write a map read renews only the entries it read', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const m = mapOf(b, rw);
        b.setCurrentKey('k');
        m.put('a', 1);
        m.put('b', 2);
        m.put('c', 3);
        clock.t = 60;
        expect(m.get('a')).toBe(1); // a until 160
        expect(m.contains('b')).toBe(true); // b until 160
        clock.t = 100;
        expect(m.get('c')).toBeUndefined();
        expect(m.isEmpty()).toBe(false); // renews nothing
        clock.t = 150;
        expect(sortedEntries(m)).toEqual([['a', 1], ['b', 2]]); // both until 250
        clock.t = 249;
        expect(m.keys().sort()).toEqual(['a', 'b']);
        clock.t = 349;
        expect(m.values().length).toBe(0);
        expect(m.isEmpty()).toBe(true);
      } finally {
        await close(b);
      }
    });

    it('list state TTL expires each element on its own; an add stamps only the new element', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const l = listOf(b, cw);
        b.setCurrentKey('k');
        l.add('x');
        clock.t = 50;
        l.addAll(['y', 'z']);
        clock.t = 99;
        expect([...l.get()]).toEqual(['x', 'y', 'z']);
        clock.t = 100;
        expect([...l.get()]).toEqual(['y', 'z']);
        l.add('w');
        clock.t = 150;
        expect([...l.get()]).toEqual(['w']);
        expect(b.keys('l', '')).toEqual(['k']);
        clock.t = 200;
        expect([...l.get()]).toEqual([]);
        expect(b.keys('l', '')).toEqual([]);
        l.update(['u', 'v']);
        clock.t = 299;
        expect([...l.get()]).toEqual(['u', 'v']);
        clock.t = 300;
        expect([...l.get()]).toEqual([]);
      } finally {
        await close(b);
      }
    });

    it('on read-and-write a list read renews the elements it returned', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const l = listOf(b, rw);
        b.setCurrentKey('k');
        l.add('x');
        clock.t = 50;
        l.add('y');
        clock.t = 99;
        expect([...l.get()]).toEqual(['x', 'y']); // both until 199
        l.add('z'); // until 199 too
        clock.t = 198;
        expect([...l.get()]).toEqual(['x', 'y', 'z']);
        clock.t = 297;
        expect([...l.get()]).toEqual(['x', 'y', 'z']);
        clock.t = 398;
        expect([...l.get()]).toEqual([]);
      } finally {
        await close(b);
      }
    });

    it('merging namespaces keeps each element and entry with its own expiry', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const l = listOf(b, cw);
        const m = mapOf(b, cw);
        b.setCurrentKey('k');
        b.setCurrentNamespace(1);
        l.add('early');
        m.put('a', 'early');
        clock.t = 50;
        b.setCurrentNamespace(2);
        l.add('late');
        m.put('b', 'late');
        b.mergeNamespaces('l', 3, [1, 2]);
        b.mergeNamespaces('m', 3, [1, 2]);
        b.setCurrentNamespace(3);
        clock.t = 120;
        expect([...l.get()]).toEqual(['late']);
        expect(m.entries()).toEqual([['b', 'late']]);
        expect(b.namespacesOfCurrentKey('l')).toEqual([3]);
      } finally {
        await close(b);
      }
    });

    it('a snapshot leaves out expired elements and entries and keeps the expiry of the others', async () => {
      const clock = new Clock(0);
      const b = await make(clock);
      try {
        const l = listOf(b, cw);
        const m = mapOf(b, cw);
        b.setCurrentKey('k');
        l.add('x');
        m.put('a', 1);
        clock.t = 50;
        l.add('y');
        m.put('b', { deep: new Map([['n', 1]]) });
        clock.t = 100;
        const snapshot = b.snapshot();
        const states = snapshot.keyGroups.flatMap((g) => Object.entries(g.states));
        expect(Object.fromEntries(states.map(([n, byNs]) => [n, byNs[0]?.[1][0]?.[1]]))).toEqual({
          l: [{ v: 'y', x: 150 }],
          m: { __sluice_map__: [['b', { v: { deep: { __sluice_map__: [['n', 1]] } }, x: 150 }]] },
        });
      } finally {
        await close(b);
      }
    });
  });
}

describe('per-entry TTL across backends', () => {
  /** Entries written at 0, 40 and 80 (TTL 100), snapshot at 60: the first expired, the others not yet. */
  function fill(b: Backend, clock: Clock): KeyedStateSnapshot {
    for (const key of ['k1', 'k2']) {
      b.setCurrentKey(key);
      for (const [t, e] of [[0, 'first'], [40, 'second'], [80, 'third']] as const) {
        clock.t = t;
        listOf(b, cw).add(e);
        mapOf(b, rw).put(e, { at: t });
      }
    }
    clock.t = 110;
    return b.snapshot();
  }

  function check(b: Backend, clock: Clock): void {
    for (const key of ['k1', 'k2']) {
      b.setCurrentKey(key);
      clock.t = 110;
      expect([...listOf(b, cw).get()]).toEqual(['second', 'third']);
      expect(sortedEntries(mapOf(b, rw))).toEqual([['second', { at: 40 }], ['third', { at: 80 }]]);
      clock.t = 140;
      expect([...listOf(b, cw).get()]).toEqual(['third']);
      // The map was read at 110 (read-and-write): both entries live until 210.
      expect(sortedEntries(mapOf(b, rw))).toEqual([['second', { at: 40 }], ['third', { at: 80 }]]);
      clock.t = 180;
      expect([...listOf(b, cw).get()]).toEqual([]);
    }
  }

  for (const [from, makeFrom] of BACKENDS) {
    for (const [to, makeTo] of BACKENDS) {
      it(`a ${from} snapshot with partially expired entries restores into ${to} with each entry's expiry`, async () => {
        const clock = new Clock(0);
        const source = await makeFrom(clock);
        const target = await makeTo(clock);
        try {
          const snapshot = fill(source, clock);
          target.restore([JSON.parse(JSON.stringify(snapshot)) as KeyedStateSnapshot]);
          check(target, clock);
        } finally {
          await close(source);
          await close(target);
        }
      });
    }
  }
});

describe('TTL turned on or off for restored state', () => {
  const kinds = (ttl: StateTtl | undefined): StateDescriptor[] => [
    { kind: 'value', name: 'v', ttl },
    { kind: 'list', name: 'l', ttl },
    { kind: 'map', name: 'm', ttl },
  ];
  function write(b: Backend, ttl: StateTtl | undefined): void {
    const [v, l, m] = kinds(ttl);
    b.setCurrentKey('k');
    b.getState(v as StateDescriptor & { kind: 'value' }).update('value');
    b.getState(l as StateDescriptor & { kind: 'list' }).addAll(['a', 'b']);
    b.getState(m as StateDescriptor & { kind: 'map' }).put('x', 1);
  }
  function read(b: Backend, ttl: StateTtl | undefined): unknown {
    const [v, l, m] = kinds(ttl);
    b.setCurrentKey('k');
    return {
      v: b.getState(v as StateDescriptor & { kind: 'value' }).value(),
      l: [...b.getState(l as StateDescriptor & { kind: 'list' }).get()],
      m: b.getState(m as StateDescriptor & { kind: 'map' }).entries(),
    };
  }
  const all = { v: 'value', l: ['a', 'b'], m: [['x', 1]] };
  const none = { v: undefined, l: [], m: [] };

  for (const [name, make] of BACKENDS) {
    for (const registerFirst of [false, true]) {
      it(`${name}: a TTL turned on starts at registration; one turned off is dropped (${registerFirst ? 'registered before' : 'restored before'} the restore)`, async () => {
        const clock = new Clock(0);
        const plainSource = heapBackend(clock);
        write(plainSource, undefined);
        const ttlSource = heapBackend(clock);
        write(ttlSource, cw);
        clock.t = 50;
        const withoutTtl = plainSource.snapshot();
        const withTtl = ttlSource.snapshot();

        const on = await make(clock);
        const off = await make(clock);
        try {
          if (registerFirst) {
            for (const d of kinds(cw)) on.getState(d);
            for (const d of kinds(undefined)) off.getState(d);
          }
          clock.t = 1000;
          on.restore([withoutTtl]);
          off.restore([withTtl]);
          for (const d of kinds(cw)) on.getState(d);
          for (const d of kinds(undefined)) off.getState(d);
          clock.t = 1099;
          expect(read(on, cw)).toEqual(all);
          expect(read(off, undefined)).toEqual(all);
          clock.t = 1100;
          expect(read(on, cw)).toEqual(none);
          expect(read(off, undefined)).toEqual(all);
          expect(normalizeSnapshot(off.snapshot())).toEqual(normalizeSnapshot({ ...withoutTtl }));
        } finally {
          await close(on);
          await close(off);
        }
      });
    }
  }
});

describe('state written in format 1 (one expiry per list or map) still restores', () => {
  const fixtures = fileURLToPath(new URL('./fixtures/state-format-v1/', import.meta.url));
  const DESCRIPTORS: StateDescriptor[] = [
    { kind: 'list', name: 'list-ttl', ttl: cw },
    { kind: 'map', name: 'map-ttl', ttl: cw },
    { kind: 'value', name: 'value-ttl', ttl: cw },
    { kind: 'list', name: 'list' },
    { kind: 'map', name: 'map' },
  ];

  /** What the fixture's steps left (see its README): every element and entry inherits its list's / map's expiry. */
  function expectFixtureState(b: Backend, clock: Clock): void {
    for (const d of DESCRIPTORS) b.getState(d);
    const list = (n: string) => [...b.getState({ kind: 'list', name: n, ...(n === 'list-ttl' ? { ttl: cw } : {}) }).get()];
    const map = (n: string) => sortedEntries(b.getState({ kind: 'map', name: n, ...(n === 'map-ttl' ? { ttl: cw } : {}) }) as MapState<string, unknown>);
    clock.t = 1120;
    const snapshot = normalizeSnapshot(b.snapshot()) as { keyGroups: Array<{ states: Record<string, unknown> }> };
    expect(snapshot.keyGroups.map((g) => g.states)).toEqual([
      {
        'list-ttl': [[5, [['c', [{ v: 'c1', x: 1200 }]]]]],
        'map-ttl': [[5, [['c', { __sluice_map__: [['w', { v: { deep: { __sluice_map__: [['k', 1]] } }, x: 1200 }]] }]]]],
      },
      {
        list: [['', [['a', ['p']]]]],
        'list-ttl': [['', [['a', [{ v: 'a1', x: 1150 }, { v: 'a2', x: 1150 }]]]]],
        map: [['', [['a', { __sluice_map__: [['m', { n: 1 }]] }]]]],
        'map-ttl': [['', [['a', { __sluice_map__: [['x', { v: 1, x: 1150 }], ['z', { v: 3, x: 1150 }]] }]]]],
      },
    ]);
    b.setCurrentKey('a');
    b.setCurrentNamespace('');
    expect(list('list-ttl')).toEqual(['a1', 'a2']);
    expect(map('map-ttl')).toEqual([['x', 1], ['z', 3]]);
    expect(map('map')).toEqual([['m', { n: 1 }]]);
    b.setCurrentKey('b');
    expect(list('list-ttl')).toEqual([]);
    expect(map('map-ttl')).toEqual([]);
    // From now on each entry is on its own.
    b.setCurrentKey('a');
    clock.t = 1140;
    (b.getState(DESCRIPTORS[1] as StateDescriptor) as unknown as MapState<string, unknown>).put('x', 'renewed');
    clock.t = 1150;
    expect(list('list-ttl')).toEqual([]);
    expect(map('map-ttl')).toEqual([['x', 'renewed']]);
    b.setCurrentKey('c');
    b.setCurrentNamespace(5);
    expect(list('list-ttl')).toEqual(['c1']);
    clock.t = 1200;
    expect(list('list-ttl')).toEqual([]);
  }

  const canonical = (): KeyedStateSnapshot => JSON.parse(readFileSync(join(fixtures, 'canonical.json'), 'utf8')) as KeyedStateSnapshot;

  it('a format-1 savepoint restores into the heap backend, registered before or after the restore', () => {
    for (const registerFirst of [false, true]) {
      const clock = new Clock(1120);
      const heap = heapBackend(clock);
      if (registerFirst) for (const d of DESCRIPTORS) heap.getState(d);
      heap.restore([canonical()]);
      expectFixtureState(heap, clock);
    }
  });

  it('a format-1 savepoint restores into the RocksDB backend, with or without its descriptors', async () => {
    for (const bare of [false, true]) {
      const clock = new Clock(1120);
      const rocks = await rocksBackend(clock);
      try {
        rocks.restore([bare ? { ...canonical(), descriptors: {} } : canonical()]);
        expectFixtureState(rocks, clock);
      } finally {
        await rocks.dispose();
      }
    }
  });

  it('a state file of format 1 still decodes and its keyed state restores; an unknown format is named', () => {
    const bytes = encodeSnapshot({ jobId: 'j', checkpointId: 1, taskId: 0, subtaskIndex: 0, operators: [{ nodeId: 'n', operatorState: undefined, keyedState: canonical() }] });
    expect(bytes[4]).toBe(STATE_FORMAT_VERSION);
    bytes[4] = 1;
    const keyed = decodeSnapshot(bytes, 'chk-1/task-0-subtask-0').operators[0]?.keyedState as KeyedStateSnapshot;
    const clock = new Clock(1120);
    const heap = heapBackend(clock);
    heap.restore([keyed]);
    expectFixtureState(heap, clock);
    bytes[4] = 9;
    // The list of readable formats grows with the state file; what matters here is that 1 is in it.
    expect(() => decodeSnapshot(bytes, 'chk-1/task-0-subtask-0')).toThrow(/^chk-1\/task-0-subtask-0 has state format 9; this Sluice reads formats 1, 2\b/);
  });

  it('a format-1 native RocksDB checkpoint restores (upgraded in place), linked alone or copied as when rescaling', async () => {
    const root = tempDir();
    cpSync(join(fixtures, 'native'), join(root, 'native'), { recursive: true });
    const chk = join(root, 'native', 'chk-1');
    const handle = resolveHandle(JSON.parse(readFileSync(join(chk, 'handle.json'), 'utf8')) as NativeCheckpointHandle, chk);
    expect(handle.stateFormatVersion).toBe(1);
    // One handle covering the range is linked and opened; several are copied key group by
    // key group into a fresh database (the rescaling path; here the same handle twice).
    for (const handles of [[handle], [handle, handle]]) {
      const clock = new Clock(1120);
      const rocks = new RocksDBKeyedStateBackend({
        maxParallelism: MAX_PARALLELISM,
        keyGroupRange: keyGroupRangeOf(0, MAX_PARALLELISM, 1),
        now: clock.now,
        workingDirectory: join(tempDir(), 'work'),
      });
      try {
        await rocks.restoreNative(handles);
        expectFixtureState(rocks, clock);
      } finally {
        await rocks.dispose();
      }
    }
  });
});
