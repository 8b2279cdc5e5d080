/**
 * Batches' columns cross the sandbox boundary through shared memory (shared-columns.ts):
 * where they lie, when they are copied instead, how the areas grow, and that a call made
 * while another is in flight never writes over the outer call's columns.
 */
import { describe, expect, it } from 'vitest';
import { SharedColumns } from '../src/runtime/shared-columns.js';

describe('SharedColumns', () => {
  it('places columns one after another in the area, and hands the isolate its areas once', () => {
    const shared = new SharedColumns(64);
    expect(shared.begin()).toBe(true);
    const areas = shared.changed();
    expect(areas?.map((a) => a.byteLength)).toEqual([512, 512]);
    expect(shared.changed()).toBeUndefined();
    const first = (shared.room() as Float64Array).subarray(0, 10);
    expect(shared.place(first)).toEqual({ o: 0, l: 10 });
    const room = shared.room() as Float64Array;
    expect(room.length).toBe(54);
    expect(shared.place(room.subarray(0, 4))).toEqual({ o: 10, l: 4 });
    shared.end();
    // The next call starts at the area's beginning again.
    expect(shared.begin()).toBe(true);
    expect(shared.room()?.length).toBe(64);
    shared.end();
  });

  it('takes slots for columns in the area while they fit, and a new array (copied) once they do not', () => {
    const shared = new SharedColumns(64);
    shared.begin();
    shared.changed();
    expect(shared.place(shared.take(60))).toEqual({ o: 0, l: 60 });
    const large = shared.take(10);
    expect(large.buffer).not.toBe(shared.toIsolate.buffer);
    expect(shared.place(large)).toBeUndefined();
    shared.end();
  });

  it('copies columns that do not fit, and the area grows for the next call', () => {
    const shared = new SharedColumns(64);
    shared.begin();
    shared.changed();
    shared.place((shared.room() as Float64Array).subarray(0, 40));
    expect(shared.place(new Float64Array(100))).toBeUndefined();
    shared.end();
    shared.begin();
    const areas = shared.changed();
    // 40 + 100 slots, to the next power of two; the other way is unchanged.
    expect(areas?.map((a) => a.byteLength / 8)).toEqual([256, 64]);
    expect(shared.place((shared.room() as Float64Array).subarray(0, 140))).toEqual({ o: 0, l: 140 });
    shared.end();
  });

  it('reads replies at their place, grows the way back after a copied one, and refuses places outside the area', () => {
    const shared = new SharedColumns(64);
    shared.begin();
    shared.changed();
    shared.fromIsolate.set([1, 2, 3], 5);
    expect([...(shared.received(undefined, { o: 5, l: 3 }) as Float64Array)]).toEqual([1, 2, 3]);
    for (const place of [{ o: 60, l: 5 }, { o: -1, l: 2 }, { o: 1.5, l: 1 }, { o: '0', l: 1 }, {}]) expect(shared.received(undefined, place)).toBeUndefined();
    const copied = new Float64Array(100);
    expect(shared.received(copied, {})).toBe(copied);
    shared.end();
    // Outside a call, nothing is read from the area.
    expect(shared.received(undefined, { o: 0, l: 1 })).toBeUndefined();
    shared.begin();
    expect(shared.changed()?.map((a) => a.byteLength / 8)).toEqual([64, 256]);
    shared.end();
  });

  it('gives a call made while another is in flight no room: it copies, and the outer call keeps its columns', () => {
    const shared = new SharedColumns(64);
    expect(shared.begin()).toBe(true);
    shared.changed();
    const outer = (shared.room() as Float64Array).subarray(0, 8);
    outer.fill(7);
    shared.place(outer);
    expect(shared.begin()).toBe(false);
    expect(shared.room()).toBeUndefined();
    expect(shared.place(new Float64Array(8))).toBeUndefined();
    expect(shared.received(undefined, { o: 0, l: 8 })).toBeUndefined();
    shared.end();
    expect([...shared.toIsolate.subarray(0, 8)]).toEqual([7, 7, 7, 7, 7, 7, 7, 7]);
    expect(shared.room()?.length).toBe(56);
    shared.end();
    // A nested call's copies do not grow the areas.
    shared.begin();
    expect(shared.changed()).toBeUndefined();
    shared.end();
  });

  it('grows an area to 8 MB at most: larger batches keep being copied', () => {
    const shared = new SharedColumns(64);
    shared.begin();
    shared.changed();
    shared.place(new Float64Array(3 * 1024 * 1024));
    shared.end();
    shared.begin();
    expect(shared.changed()?.[0].byteLength).toBe(8 * 1024 * 1024);
    shared.end();
  });
});

describe('batches wider than the shared areas', () => {
  it('cross copied at first, then through the grown areas, with the same results', async () => {
    const { TaskSandbox } = await import('../src/runtime/sandbox.js');
    const sandbox = new TaskSandbox({ mode: 'sandboxed' }, 'wide-job', 0, 'wide test');
    try {
      const ctx = { timestamp: 0, nodeId: 'n', subtaskIndex: 0, parallelism: 1, attemptNumber: 0 };
      // 24 fields of 1000 records: 24 000 slots, past the areas' first 16 384.
      const wide = (i: number) => Object.fromEntries(Array.from({ length: 24 }, (_, f) => [`f${f}`, i * 100 + f]));
      const records = Array.from({ length: 1000 }, (_, i) => wide(i));
      const timestamps = records.map((_, i) => i);
      const bump = sandbox.loadBatch('const f = (v) => ({ ...v, f0: v.f0 + 1 });', 'f', 'map');
      const even = sandbox.loadBatch('const g = (v) => v.f1 % 2 === 1;', 'g', 'filter');
      const fused = sandbox.fuse([
        { fn: bump, nodeId: 'bump' },
        { fn: even, nodeId: 'even' },
      ]);
      const areas = () => (sandbox as unknown as { shared: SharedColumns }).shared;
      const sizes: number[] = [];
      for (let call = 0; call < 3; call++) {
        expect(bump(records, timestamps, ctx).outputs).toEqual(records.map((r) => ({ ...r, f0: (r['f0'] as number) + 1 })));
        const out = fused?.(records, timestamps, ctx, call === 0);
        expect(out?.outputs).toEqual(records.map((r) => ({ ...r, f0: (r['f0'] as number) + 1 })));
        sizes.push(areas().toIsolate.length, areas().fromIsolate.length);
      }
      // Grown after the first calls to hold such a batch, then no more: the later calls fit.
      expect(Math.min(...sizes.slice(2))).toBeGreaterThanOrEqual(24_000);
      expect(sizes.slice(4)).toEqual(sizes.slice(2, 4));
    } finally {
      sandbox.dispose();
    }
  });
});
