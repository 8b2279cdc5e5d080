import { describe, expect, it } from 'vitest';
import {
  HeapKeyedStateBackend,
  ManualProcessingTime,
  hashKey,
  keyGroupOf,
  keyGroupRangeOf,
  subtaskForKey,
  subtaskForKeyGroup,
  type InternalTimer,
  type KeyedStateSnapshot,
  type ListState,
  type MapState,
  type ValueState,
} from '../src/index.js';

function backend(subtask: number, parallelism: number, time = new ManualProcessingTime(), maxParallelism = 128) {
  return new HeapKeyedStateBackend({ maxParallelism, keyGroupRange: keyGroupRangeOf(subtask, maxParallelism, parallelism), now: () => time.now() });
}

describe('key groups', () => {
  it('assigns contiguous key-group ranges to subtasks, as Flink does', () => {
    expect([0, 1, 2].map((i) => keyGroupRangeOf(i, 128, 3))).toEqual([
      { start: 0, end: 42 },
      { start: 43, end: 85 },
      { start: 86, end: 127 },
    ]);
  });

  it('maps every key group to the subtask whose range holds it, for any parallelism', () => {
    for (const maxParallelism of [1, 7, 128, 1000]) {
      for (let parallelism = 1; parallelism <= Math.min(maxParallelism, 17); parallelism++) {
        for (let i = 0; i < parallelism; i++) {
          const range = keyGroupRangeOf(i, maxParallelism, parallelism);
          for (let kg = range.start; kg <= range.end; kg++) expect(subtaskForKeyGroup(kg, maxParallelism, parallelism)).toBe(i);
        }
      }
    }
  });

  it('hashes keys stably (the hash is part of the snapshot format)', () => {
    // Pinned values: changing the hash would scatter restored state across the wrong subtasks.
    expect(['user-1', 'user-2', 'a', '', 42, -7, 1.5].map((k) => [k, hashKey(k), keyGroupOf(k, 128)])).toMatchInlineSnapshot(`
      [
        [
          "user-1",
          2429978192,
          80,
        ],
        [
          "user-2",
          3434473920,
          64,
        ],
        [
          "a",
          1867108634,
          26,
        ],
        [
          "",
          0,
          0,
        ],
        [
          42,
          3160117731,
          99,
        ],
        [
          -7,
          4088382047,
          95,
        ],
        [
          1.5,
          933246083,
          3,
        ],
      ]
    `);
    expect(hashKey('1')).not.toBe(hashKey(1));
  });

  it('is MurmurHash3 x86_32 over UTF-16LE bytes and 32-bit little-endian integers', () => {
    // Reference values computed with the mmh3 library (a C implementation of MurmurHash3).
    expect(['user-1', 'a', '', 'héllo😀'].map((s) => hashKey(s))).toEqual([2429978192, 1867108634, 0, 465192315]);
    expect([42, -7, 0, 123456789].map((n) => hashKey(n))).toEqual([3160117731, 4088382047, 593689054, 3206620847]);
  });

  it('spreads keys evenly over subtasks', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[subtaskForKey(`user-${i}`, 128, 4)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(8000);
  });
});

describe('heap keyed state backend', () => {
  it('scopes state by key and namespace', () => {
    const b = backend(0, 1);
    const v = b.getState({ kind: 'value', name: 'v' }) as ValueState<number>;
    b.setCurrentKey('a');
    v.update(1);
    b.setCurrentNamespace(7);
    v.update(2);
    b.setCurrentKey('b');
    expect(v.value()).toBeUndefined();
    b.setCurrentKey('a');
    expect(v.value()).toBe(2);
    b.setCurrentNamespace('');
    expect(v.value()).toBe(1);
    expect(b.namespacesOfCurrentKey('v').sort()).toEqual(['', 7]);
  });

  it('refuses to register one state name with two kinds', () => {
    const b = backend(0, 1);
    b.getState({ kind: 'value', name: 's' });
    expect(() => b.getState({ kind: 'list', name: 's' })).toThrow(/already registered as value state/);
  });

  it('never returns an expired value, and renews on read with on-read-and-write', () => {
    const time = new ManualProcessingTime(0);
    const b = backend(0, 1, time);
    const write = b.getState({ kind: 'value', name: 'w', ttl: { ttlMs: 100, update: 'on-create-and-write' } }) as ValueState<string>;
    const read = b.getState({ kind: 'value', name: 'r', ttl: { ttlMs: 100, update: 'on-read-and-write' } }) as ValueState<string>;
    b.setCurrentKey('k');
    write.update('x');
    read.update('y');
    time.advanceTo(60);
    expect(write.value()).toBe('x');
    expect(read.value()).toBe('y');
    time.advanceTo(120);
    expect(write.value()).toBeUndefined();
    expect(read.value()).toBe('y');
    time.advanceTo(300);
    expect(read.value()).toBeUndefined();
  });

  it('drops expired values when snapshotting', () => {
    const time = new ManualProcessingTime(0);
    const b = backend(0, 1, time);
    const v = b.getState({ kind: 'value', name: 'v', ttl: { ttlMs: 10, update: 'on-create-and-write' } }) as ValueState<number>;
    b.setCurrentKey('old');
    v.update(1);
    time.advanceTo(5);
    b.setCurrentKey('new');
    v.update(2);
    time.advanceTo(12);
    const keys = b.snapshot().keyGroups.flatMap((g) => (g.states['v'] ?? []).flatMap(([, entries]) => entries.map(([k]) => k)));
    expect(keys).toEqual(['new']);
  });

  it('keeps list and map state across a snapshot round trip', () => {
    const b = backend(0, 1);
    const list = b.getState({ kind: 'list', name: 'l' }) as ListState<number>;
    const map = b.getState({ kind: 'map', name: 'm' }) as MapState<string, { n: number }>;
    b.setCurrentKey('k');
    list.addAll([1, 2, 3]);
    map.put('x', { n: 1 });
    const snapshot: KeyedStateSnapshot = JSON.parse(JSON.stringify(b.snapshot()));
    list.add(4);
    const restored = backend(0, 1);
    restored.restore([snapshot]);
    const list2 = restored.getState({ kind: 'list', name: 'l' }) as ListState<number>;
    const map2 = restored.getState({ kind: 'map', name: 'm' }) as MapState<string, { n: number }>;
    restored.setCurrentKey('k');
    expect(list2.get()).toEqual([1, 2, 3]);
    expect(map2.get('x')).toEqual({ n: 1 });
  });

  it('rescales: each new subtask restores exactly the key groups it owns', () => {
    const keys = Array.from({ length: 500 }, (_, i) => `key-${i}`);
    const old = [backend(0, 2), backend(1, 2)];
    for (const key of keys) {
      const owner = old[subtaskForKey(key, 128, 2)] as HeapKeyedStateBackend;
      const v = owner.getState({ kind: 'value', name: 'count' }) as ValueState<string>;
      owner.setCurrentKey(key);
      v.update(key);
    }
    const snapshots = old.map((b) => b.snapshot());
    const fresh = [0, 1, 2].map((i) => backend(i, 3));
    for (const b of fresh) b.restore(snapshots);
    for (const key of keys) {
      fresh.forEach((b, i) => {
        const v = b.getState({ kind: 'value', name: 'count' }) as ValueState<string>;
        b.setCurrentKey(key);
        expect(v.value()).toBe(i === subtaskForKey(key, 128, 3) ? key : undefined);
      });
    }
  });

  it('refuses state taken with another number of key groups', () => {
    const b = backend(0, 1, new ManualProcessingTime(), 64);
    b.getState({ kind: 'value', name: 'v' });
    b.setCurrentKey('a');
    expect(() => backend(0, 1).restore([b.snapshot()])).toThrow(/maxParallelism 64 into a job with maxParallelism 128/);
  });
});

describe('heap timer service', () => {
  function withTimers(time = new ManualProcessingTime()) {
    const b = backend(0, 1, time);
    const fired: Array<[string, number, string | number]> = [];
    const service = b.createTimerService(
      {
        onEventTime: (t: InternalTimer) => fired.push(['event', t.timestamp, b.getCurrentKey()]),
        onProcessingTime: (t: InternalTimer) => fired.push(['processing', t.timestamp, b.getCurrentKey()]),
      },
      time,
    );
    return { b, service, fired, time };
  }

  it('fires event-time timers in timestamp order with their key set, once per (time, key, namespace)', () => {
    const { b, service, fired } = withTimers();
    for (const [key, t] of [['a', 30], ['b', 10], ['a', 10], ['a', 10], ['c', 20]] as const) {
      b.setCurrentKey(key);
      service.registerEventTimeTimer('', t);
    }
    service.advanceWatermark(20);
    expect(fired).toEqual([
      ['event', 10, 'b'],
      ['event', 10, 'a'],
      ['event', 20, 'c'],
    ]);
    service.advanceWatermark(100);
    expect(fired.at(-1)).toEqual(['event', 30, 'a']);
  });

  it('deletes timers', () => {
    const { b, service, fired } = withTimers();
    b.setCurrentKey('a');
    service.registerEventTimeTimer('', 5);
    service.deleteEventTimeTimer('', 5);
    service.advanceWatermark(10);
    expect(fired).toEqual([]);
  });

  it('fires processing-time timers when the clock passes them', () => {
    const { b, service, fired, time } = withTimers();
    b.setCurrentKey('a');
    service.registerProcessingTimeTimer('', 50);
    service.registerProcessingTimeTimer('', 20);
    time.advanceTo(30);
    expect(fired).toEqual([['processing', 20, 'a']]);
    time.advanceTo(50);
    expect(fired).toEqual([
      ['processing', 20, 'a'],
      ['processing', 50, 'a'],
    ]);
  });

  it('carries pending timers through a snapshot, filtered by key group on rescale', () => {
    const { b, service } = withTimers();
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    for (const key of keys) {
      b.setCurrentKey(key);
      service.registerEventTimeTimer('', 100);
    }
    const snapshot = b.snapshot();
    const fired: string[] = [];
    for (let i = 0; i < 2; i++) {
      const restored = backend(i, 2);
      restored.restore([snapshot]);
      const s = restored.createTimerService({ onEventTime: () => fired.push(`${i}:${restored.getCurrentKey()}`), onProcessingTime() {} }, new ManualProcessingTime());
      s.advanceWatermark(100);
    }
    expect(fired.map((f) => f.split(':')[1]).sort()).toEqual([...keys].sort());
    for (const f of fired) {
      const [i, key] = f.split(':');
      expect(subtaskForKey(key as string, 128, 2)).toBe(Number(i));
    }
  });
});

describe('copy-on-write heap snapshots (checkpoints that do not stop the world)', () => {
  const sum = { createAccumulator: () => ({ n: 0 }), add: (v: unknown, acc: unknown) => ((acc as { n: number }).n += v as number, acc), getResult: (acc: unknown) => (acc as { n: number }).n, merge: (a: unknown, b: unknown) => ((a as { n: number }).n += (b as { n: number }).n, a) };

  function filled(keys: number) {
    const time = new ManualProcessingTime(1000);
    const b = backend(0, 1, time);
    const value = b.getState({ kind: 'value', name: 'v' });
    const list = b.getState({ kind: 'list', name: 'l' });
    const map = b.getState({ kind: 'map', name: 'm' });
    const agg = b.getState({ kind: 'aggregating', name: 'a', aggregate: sum });
    const ttl = b.getState({ kind: 'value', name: 't', ttl: { ttlMs: 100, update: 'on-read-and-write' } });
    for (let k = 0; k < keys; k++) {
      b.setCurrentKey(`k${k}`);
      value.update({ count: k });
      list.add(k);
      map.put('x', { deep: [k] });
      agg.add(k);
      ttl.update({ seen: k });
    }
    return { b, time, value, list, map, agg, ttl };
  }

  it('a snapshot begun at the barrier holds the state of that moment, whatever records change afterwards, while it is built in steps', () => {
    const { b, time, value, list, map, agg, ttl } = filled(2000);
    const expected = b.snapshot();
    const run = b.beginSnapshot();
    let steps = 0;
    const change = (k: number) => {
      b.setCurrentKey(`k${k}`);
      // In place, as user functions may do with what they read.
      (value.value() as { count: number }).count += 1000;
      list.add(-1);
      (map.get('x') as { deep: number[] }).deep.push(-1);
      map.put('new', 1);
      agg.add(5);
      ttl.value();
      if (k % 3 === 0) value.clear();
    };
    let k = 0;
    time.advanceTo(1050);
    while (!run.step(performance.now())) {
      steps++;
      for (let i = 0; i < 50; i++) change(k++ % 2000);
      b.setCurrentKey(`fresh${steps}`);
      value.update({ count: -1 });
    }
    expect(steps, 'the run took several steps').toBeGreaterThan(3);
    expect(run.result()).toEqual(expected);
    // Live state has every change.
    b.setCurrentKey('k1');
    expect(value.value()).toEqual({ count: 1001 });
    expect(list.get()).toEqual([1, -1]);
    expect(map.get('x')).toEqual({ deep: [1, -1] });
    expect(agg.get()).toBe(6);
  });

  it("a checkpoint's key groups, written as bytes while the snapshot walks the state, decode to the canonical snapshot for every kind of key, namespace, value and timer", () => {
    const time = new ManualProcessingTime(1000);
    const b = backend(0, 1, time);
    const timers = b.createTimerService({ onEventTime: () => undefined, onProcessingTime: () => undefined }, time);
    const value = b.getState({ kind: 'value', name: 'v' });
    const map = b.getState({ kind: 'map', name: 'm' });
    const values: unknown[] = [0, 1, -1, -32, -33, 127, 128, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 40, 1.5, Number.MAX_SAFE_INTEGER, 'é', 'x'.repeat(40), 'ü'.repeat(300), 'a'.repeat(70000), true, false, null, [1, 'two', { three: 3 }], { nested: { deep: [null, 1.25] } }];
    const keys: Array<string | number> = ['k', 'ключ', 7, -7, 2 ** 33, 0.5, 'x'.repeat(33)];
    const namespaces: Array<string | number> = ['', 'w', 1_700_000_000_000, 3];
    let i = 0;
    for (const key of keys) {
      b.setCurrentKey(key);
      for (const ns of namespaces) {
        b.setCurrentNamespace(ns);
        value.update(values[i++ % values.length]);
        map.put(`e${i}`, values[(i * 7) % values.length]);
        // Interleaved rows: two timestamps and two namespaces, in both domains.
        timers.registerEventTimeTimer(ns, 100 + (i % 2));
        timers.registerProcessingTimeTimer(ns, 5000 + (i % 3));
      }
    }
    b.setCurrentKey('minus-zero');
    b.setCurrentNamespace('');
    value.update(-0);
    const canonical = b.snapshot();
    const run = b.beginSnapshot();
    while (!run.step(Number.POSITIVE_INFINITY));
    expect(run.encoded?.(), 'the heap writes bytes').toBeDefined();
    const sorted = (s: KeyedStateSnapshot) => ({
      ...s,
      keyGroups: s.keyGroups.map((g) => ({ ...g, timers: [...g.timers].sort((x, y) => `${x.domain}${x.timestamp}${String(x.key)}${String(x.namespace)}`.localeCompare(`${y.domain}${y.timestamp}${String(y.key)}${String(y.namespace)}`)) })),
    });
    expect(sorted(run.result())).toEqual(sorted(canonical));
    const minusZero = run.result().keyGroups.flatMap((g) => g.states['v'] ?? []).flatMap(([, entries]) => entries).find(([key]) => key === 'minus-zero');
    expect(Object.is(minusZero?.[1], -0), '-0 stays -0').toBe(true);
  });

  it('window merges during a snapshot leave the snapshot as it was (merge functions change their first argument in place)', () => {
    const b = backend(0, 1);
    const agg = b.getState({ kind: 'aggregating', name: 'a', aggregate: sum });
    b.setCurrentKey('k');
    for (const ns of ['w1', 'w2']) {
      b.setCurrentNamespace(ns);
      agg.add(ns === 'w1' ? 1 : 2);
    }
    const expected = b.snapshot();
    const run = b.beginSnapshot();
    b.mergeNamespaces('a', 'w1', ['w2']);
    b.setCurrentNamespace('w1');
    expect(agg.get()).toBe(3);
    while (!run.step(Number.POSITIVE_INFINITY));
    expect(run.result()).toEqual(expected);
  });

  it('leaves expired values out of the snapshot (Flink: cleanup in full snapshot) without removing them from live state before they are read', () => {
    const { b, time } = filled(10);
    time.advanceTo(1200);
    const run = b.beginSnapshot();
    while (!run.step(Number.POSITIVE_INFINITY));
    const states = run.result().keyGroups.flatMap((g) => Object.keys(g.states));
    expect(states).not.toContain('t');
    expect(states).toContain('v');
  });

  it('a second snapshot first finishes the first, and each holds its own moment', () => {
    const { b, value } = filled(300);
    const first = b.snapshot();
    const run1 = b.beginSnapshot();
    run1.step(0);
    b.setCurrentKey('k1');
    value.update({ count: 'changed' });
    const second = b.snapshot();
    const run2 = b.beginSnapshot();
    expect(run1.step(0)).toBe(true);
    expect(run1.result()).toEqual(first);
    while (!run2.step(Number.POSITIVE_INFINITY));
    expect(run2.result()).toEqual(second);
  });
});

describe('per-entry TTL of list and map state (Flink TtlListState / TtlMapState)', () => {
  const cw = { ttlMs: 100, update: 'on-create-and-write' } as const;

  it('map state TTL expires each entry on its own, and a put renews only its entry', () => {
    const time = new ManualProcessingTime(0);
    const b = backend(0, 1, time);
    const m = b.getState({ kind: 'map', name: 'm', ttl: cw }) as MapState<string, number>;
    b.setCurrentKey('k');
    m.put('a', 1);
    m.put('b', 2);
    time.advanceTo(60);
    m.put('a', 10);
    time.advanceTo(100);
    expect(m.entries()).toEqual([['a', 10]]);
    expect(m.contains('b')).toBe(false);
    expect(m.isEmpty()).toBe(false);
    time.advanceTo(160);
    expect(m.isEmpty()).toBe(true);
    expect(b.size().entries).toBe(0);
  });

  it('list state TTL expires each element on its own, and get() hands out a copy', () => {
    const time = new ManualProcessingTime(0);
    const b = backend(0, 1, time);
    const l = b.getState({ kind: 'list', name: 'l', ttl: cw }) as ListState<string>;
    b.setCurrentKey('k');
    l.add('x');
    time.advanceTo(50);
    l.add('y');
    time.advanceTo(100);
    const got = l.get();
    expect(got).toEqual(['y']);
    (got as string[]).push('not stored');
    expect(l.get()).toEqual(['y']);
    expect(b.describeKey('k')).toEqual({ l: [{ namespace: '', value: ['y'] }] });
  });

  it('a snapshot begun before elements and entries expire holds them, whatever reads drop afterwards', () => {
    const time = new ManualProcessingTime(0);
    const b = backend(0, 1, time);
    const l = b.getState({ kind: 'list', name: 'l', ttl: cw }) as ListState<string>;
    const m = b.getState({ kind: 'map', name: 'm', ttl: { ttlMs: 100, update: 'on-read-and-write' } }) as MapState<string, string>;
    for (const key of ['k1', 'k2']) {
      b.setCurrentKey(key);
      l.add('old');
      m.put('old', 'o');
      time.advanceTo(time.now() + 50);
      l.add('new');
      m.put('new', 'n');
    }
    const expected = b.snapshot();
    const run = b.beginSnapshot();
    time.advanceTo(time.now() + 60);
    // Reads drop expired elements / entries in place and renew the live ones.
    for (const key of ['k1', 'k2']) {
      b.setCurrentKey(key);
      l.get();
      m.entries();
    }
    while (!run.step(Number.POSITIVE_INFINITY));
    expect(run.result()).toEqual(expected);
    b.setCurrentKey('k2');
    expect(l.get()).toEqual(['new']);
  });

  it('restores a format-1 snapshot (one expiry for the whole list or map) with that expiry on every element and entry', () => {
    const time = new ManualProcessingTime(0);
    const b = backend(0, 1, time);
    const snapshot: KeyedStateSnapshot = {
      maxParallelism: 128,
      descriptors: { l: { kind: 'list', ttlMs: 100 }, m: { kind: 'map', ttlMs: 100 } },
      keyGroups: [
        {
          keyGroup: keyGroupOf('k', 128),
          states: { l: [['', [['k', { v: ['a', 'b'], x: 80 }]]]], m: [['', [['k', { v: { __sluice_map__: [['x', 1]] }, x: 80 }]]]] },
          timers: [],
        },
      ],
    };
    b.restore([snapshot]);
    const l = b.getState({ kind: 'list', name: 'l', ttl: cw }) as ListState<string>;
    const m = b.getState({ kind: 'map', name: 'm', ttl: cw }) as MapState<string, number>;
    b.setCurrentKey('k');
    time.advanceTo(50);
    l.add('c');
    expect(l.get()).toEqual(['a', 'b', 'c']);
    expect(m.get('x')).toBe(1);
    time.advanceTo(80);
    expect(l.get()).toEqual(['c']);
    expect(m.isEmpty()).toBe(true);
    expect(b.snapshot().keyGroups[0]?.states).toEqual({ l: [['', [['k', [{ v: 'c', x: 150 }]]]]] });
  });
});
