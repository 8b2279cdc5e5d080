/**
 * A rate with a burst: what a job process may take of the engine's main thread per second
 * (its messages, frames.ts; its Kafka bytes, kafka-relay.ts). Taking never refuses: the
 * bucket goes into debt, and the caller stops reading for as long as paying it back takes,
 * so that one large message or chunk passes whatever the burst.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `amount`; how many milliseconds until the bucket is out of debt (0 when it is not in debt). */
  take(amount: number): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000) - amount;
    this.last = now;
    return this.tokens < 0 ? Math.ceil((-this.tokens / this.perSecond) * 1000) : 0;
  }
}
