import type { ProcessingTimeService } from '../api/time.js';

/** Processing time that only moves when a test (or a replay) says so. */
export class ManualProcessingTime implements ProcessingTimeService {
  private time: number;
  private readonly pending: Array<{ time: number; seq: number; callback: (time: number) => void; cancelled: boolean }> = [];
  private seq = 0;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  schedule(time: number, callback: (time: number) => void): () => void {
    const entry = { time, seq: this.seq++, callback, cancelled: false };
    this.pending.push(entry);
    return () => {
      entry.cancelled = true;
    };
  }

  /** Moves time forward, running every callback that falls due, in time order. */
  advanceTo(time: number): void {
    if (time < this.time) throw new Error(`processing time cannot go back from ${this.time} to ${time}`);
    for (;;) {
      const due = this.pending.filter((p) => !p.cancelled && p.time <= time).sort((a, b) => a.time - b.time || a.seq - b.seq)[0];
      if (!due) break;
      this.pending.splice(this.pending.indexOf(due), 1);
      this.time = Math.max(this.time, due.time);
      due.callback(this.time);
    }
    this.time = time;
  }

  get scheduled(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }
}
