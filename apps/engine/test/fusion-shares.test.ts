/** How a fused run's busy time is split between its functions (fusion.ts, StageShares). */
import { describe, expect, it } from 'vitest';
import { StageShares } from '../src/runtime/fusion.js';

describe('StageShares', () => {
  it('gives nothing to the later functions until a time was measured: the head keeps it all', () => {
    const shares = new StageShares(3);
    expect(shares.from(1)).toBe(0);
    shares.add([0, 0, 0], 5, 100);
    expect(shares.from(1)).toBe(0);
  });

  it('gives each later function its share of what was measured, and the ones after it theirs', () => {
    const shares = new StageShares(3);
    shares.add([1, 3, 0], 5, 100);
    shares.add([1, 1, 4], 6, 100);
    expect(shares.from(0)).toBeCloseTo(1);
    expect(shares.from(1)).toBeCloseTo(0.8);
    expect(shares.from(2)).toBeCloseTo(0.4);
  });

  it('halves old measurements, so that a function that turns slow shows within a few hundred measured ms', () => {
    const shares = new StageShares(2);
    for (let i = 0; i < 100; i++) shares.add([10, 0], 12, 100);
    expect(shares.from(1)).toBe(0);
    for (let i = 0; i < 40; i++) shares.add([0, 10], 12, 100);
    expect(shares.from(1)).toBeGreaterThan(0.8);
  });

  it('keeps a time within its call: a wall clock set back or forward during a batch does not skew the shares', () => {
    const shares = new StageShares(2);
    shares.add([5, 5], 10, 100);
    shares.add([-3_600_000, 3_600_000], 10, 100);
    expect(shares.from(1)).toBeCloseTo(16 / 21);
  });

  it('times the first batch, then one once the untimed calls since took 48 times what timing it cost', () => {
    const shares = new StageShares(2);
    expect(shares.due()).toBe(true);
    // Nothing untimed to compare with yet: all of the first call counts as the clock's.
    shares.add([1, 2], 3, 100);
    expect(shares.due()).toBe(false);
    for (let i = 0; i < 143; i++) shares.untimed(1, 100);
    expect(shares.due()).toBe(false);
    shares.untimed(1, 100);
    expect(shares.due()).toBe(true);
    // Untimed, 100 records take 1 ms; timed, 3 ms: timing cost 2 ms, next one after 96 ms.
    shares.add([1, 2], 3, 100);
    shares.untimed(95, 9500);
    expect(shares.due()).toBe(false);
    shares.untimed(1, 100);
    expect(shares.due()).toBe(true);
  });

  it('times slow functions nearly every batch: where the clock costs next to nothing, a share rests on many batches', () => {
    const shares = new StageShares(2);
    shares.add([2, 18], 20, 1000);
    shares.untimed(20, 1000);
    // 20 ms for 1000 records, timed or not: timing cost nothing, so the next batch is timed.
    shares.add([2, 18], 20, 1000);
    expect(shares.due()).toBe(true);
    // A timed batch that took a little longer: 0.5 ms of clock, timed again after 24 ms untimed.
    shares.add([2, 18], 20.5, 1000);
    shares.untimed(23, 1150);
    expect(shares.due()).toBe(false);
    shares.untimed(1, 50);
    expect(shares.due()).toBe(true);
  });
});
