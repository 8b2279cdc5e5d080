/** How a fused run's busy time is split between its functions (fusion.ts, StageShares). */
import { describe, expect, it } from 'vitest';
import { StageShares } from '../src/runtime/fusion.js';

describe('StageShares', () => {
  it('gives nothing to the later functions until a time was measured: the head keeps it all', () => {
    const shares = new StageShares(3);
    expect(shares.from(1)).toBe(0);
    shares.add([0, 0, 0], 5);
    expect(shares.from(1)).toBe(0);
  });

  it('gives each later function its share of what was measured, and the ones after it theirs', () => {
    const shares = new StageShares(3);
    shares.add([1, 3, 0], 5);
    shares.add([1, 1, 4], 6);
    expect(shares.from(0)).toBeCloseTo(1);
    expect(shares.from(1)).toBeCloseTo(0.8);
    expect(shares.from(2)).toBeCloseTo(0.4);
  });

  it('halves old measurements, so that a function that turns slow shows within a few hundred measured ms', () => {
    const shares = new StageShares(2);
    for (let i = 0; i < 100; i++) shares.add([10, 0], 12);
    expect(shares.from(1)).toBe(0);
    for (let i = 0; i < 40; i++) shares.add([0, 10], 12);
    expect(shares.from(1)).toBeGreaterThan(0.8);
  });

  it('keeps a time within its call: a wall clock set back or forward during a batch does not skew the shares', () => {
    const shares = new StageShares(2);
    shares.add([5, 5], 10);
    shares.add([-3_600_000, 3_600_000], 10);
    expect(shares.from(1)).toBeCloseTo(16 / 21);
  });

  it('times the first batch, then one once the untimed calls since took 32 times as long as it did', () => {
    const shares = new StageShares(2);
    expect(shares.due()).toBe(true);
    shares.add([1, 2], 3);
    expect(shares.due()).toBe(false);
    for (let i = 0; i < 95; i++) shares.untimed(1);
    expect(shares.due()).toBe(false);
    shares.untimed(1);
    expect(shares.due()).toBe(true);
    // A slow timed batch puts the next one further off.
    shares.add([10, 20], 30);
    shares.untimed(900);
    expect(shares.due()).toBe(false);
    shares.untimed(60);
    expect(shares.due()).toBe(true);
  });
});
