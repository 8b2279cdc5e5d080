/**
 * Restart strategies, as Flink's: none; fixed delay (N attempts); failure rate (at most
 * N failures within an interval); exponential delay with jitter, reset after a long
 * enough run without failures. `onFailure` returns the delay before restarting, or
 * undefined when the job should fail for good.
 */
import type { JobConfig } from '@sluice/graph-model';

export interface RestartDecision {
  readonly restart: boolean;
  readonly delayMs: number;
  /** Why the job is not restarted, for the failure message. */
  readonly reason?: string;
}

export class RestartStrategy {
  private failures: number[] = [];
  private restarts = 0;
  private currentDelay = 0;
  private lastFailure = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly config: JobConfig['restartStrategy'],
    private readonly random: () => number = Math.random,
  ) {}

  onFailure(now: number): RestartDecision {
    const c = this.config;
    switch (c.type) {
      case 'none':
        return { restart: false, delayMs: 0, reason: 'the restart strategy is none' };
      case 'fixed-delay':
        if (this.restarts >= c.attempts) return { restart: false, delayMs: 0, reason: `it failed ${this.restarts + 1} times (the fixed-delay strategy allows ${c.attempts} restarts)` };
        this.restarts++;
        return { restart: true, delayMs: c.delayMs };
      case 'failure-rate': {
        this.failures = this.failures.filter((t) => t > now - c.intervalMs);
        this.failures.push(now);
        if (this.failures.length > c.maxFailuresPerInterval) {
          return { restart: false, delayMs: 0, reason: `${this.failures.length} failures within ${c.intervalMs} ms exceed the failure-rate strategy's ${c.maxFailuresPerInterval}` };
        }
        return { restart: true, delayMs: c.delayMs };
      }
      case 'exponential-delay': {
        // A long enough run without failures starts over from the initial delay.
        if (now - this.lastFailure >= c.resetAfterMs || this.currentDelay === 0) this.currentDelay = c.initialDelayMs;
        else this.currentDelay = Math.min(c.maxDelayMs, this.currentDelay * c.multiplier);
        this.lastFailure = now;
        const jitter = this.currentDelay * c.jitterFactor * (this.random() * 2 - 1);
        return { restart: true, delayMs: Math.max(0, Math.round(this.currentDelay + jitter)) };
      }
    }
  }
}
