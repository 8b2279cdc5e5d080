/** How an operator's sampled records are scaled up to the records they stand for (task.ts). */

/** One record in SAMPLE_EVERY is timed per operator; timing every record would cost more than it tells. */
export const SAMPLE_EVERY = 64;

/**
 * Scales an operator's sampled records up to the records they stand for. A thread
 * descheduled for a few ms during one sampled record would count that SAMPLE_EVERY times
 * (on a loaded machine a blackhole sink showed 270 ms of 3 s busy, a cheap filter 340 ms),
 * so the estimate is kept within the time that passed since the operator's previous
 * sample, batches aside: the records in between took no longer than that.
 */
export class SampleWindow {
  private at = performance.now();
  private batchMs = 0;

  /** The time to count for a sampled record that took `ms`, ending at `now`. */
  estimate(ms: number, now: number, batchMs: number): number {
    const window = now - this.at - (batchMs - this.batchMs);
    this.at = now;
    this.batchMs = batchMs;
    return Math.min(ms * SAMPLE_EVERY, Math.max(ms, window));
  }
}
