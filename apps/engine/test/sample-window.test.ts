/** How a sampled record's time is scaled up to the records it stands for (sample-window.ts). */
import { describe, expect, it } from 'vitest';
import { SampleWindow } from '../src/runtime/sample-window.js';

describe('SampleWindow', () => {
  it('scales a sample up to the 64 records it stands for when that much time passed', () => {
    const window = new SampleWindow();
    const start = performance.now();
    expect(window.estimate(0.01, start + 1, 0)).toBeCloseTo(0.64);
    expect(window.estimate(0.02, start + 3, 0)).toBeCloseTo(1.28);
  });

  it('counts a thread descheduled during one sample once, not 64 times: no more than passed since the previous sample', () => {
    const window = new SampleWindow();
    const start = performance.now();
    window.estimate(0.001, start + 10, 0);
    // 5 ms in one sampled record, 5.05 ms after the previous one ended.
    expect(window.estimate(5, start + 15.05, 0)).toBeCloseTo(5.05);
  });

  it('takes batches timed in full out of the time that passed, and always counts the sample itself', () => {
    const window = new SampleWindow();
    const start = performance.now();
    window.estimate(0.001, start + 10, 0);
    // 40 ms passed, 30 of them in batches counted elsewhere: at most 10 ms for these records.
    expect(window.estimate(1, start + 50, 30)).toBeCloseTo(10);
    // A clock that saw less time pass than the sample took still counts the sample.
    expect(window.estimate(2, start + 51, 30)).toBeCloseTo(2);
  });
});
