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

/**
 * A reader held to a TokenBucket: `take` counts what was read, and once the bucket is in
 * debt `reader.stop()` is called, then `reader.go()` when paying back is done. `onFirst`
 * is called the first time (a warning, once). Readers ask `active` when they resume for
 * another reason (a drained destination, fewer pending messages).
 */
export class Throttle {
  private readonly bucket: TokenBucket;
  private timer: NodeJS.Timeout | undefined;
  private warned = false;
  /** Milliseconds the reader was stopped for, in all. */
  stoppedMs = 0;

  constructor(
    perSecond: number,
    burst: number,
    private readonly reader: { stop(): void; go(): void },
    private readonly onFirst?: () => void,
    now?: () => number,
  ) {
    this.bucket = new TokenBucket(perSecond, burst, now);
  }

  get perSecond(): number {
    return this.bucket.perSecond;
  }

  /** Whether the reader is stopped for the rate now. */
  get active(): boolean {
    return this.timer !== undefined;
  }

  take(amount: number): void {
    const waitMs = this.bucket.take(amount);
    if (waitMs === 0 || this.timer !== undefined) return;
    this.stoppedMs += waitMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reader.go();
    }, waitMs);
    if (!this.warned) {
      this.warned = true;
      this.onFirst?.();
    }
    this.reader.stop();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
