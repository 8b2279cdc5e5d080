/**
 * Frames between the engine and a job process (frames.ts), byte by byte. The job processes
 * that send hostile frames for real are in process-mode.test.ts.
 */
import { serialize } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame, FrameDecoder, FrameFlow, unfoldedSize } from '../src/cluster/frames.js';

function decoder(maxBytes: number, maxUnfolding?: number) {
  const messages: unknown[] = [];
  const problems: string[] = [];
  const d = new FrameDecoder({ maxBytes, ...(maxUnfolding !== undefined ? { maxUnfolding } : {}), onMessage: (m) => messages.push(m), onProblem: (p) => problems.push(p) });
  return { d, messages, problems };
}

describe('frames', () => {
  const sample = [{ type: 'metrics', jobId: 'j', attempt: 0, tasks: [{ taskId: 1, n: 1.5, big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]), at: new Map([['k', [1, 2]]]) }] }, 'x'.repeat(70_000), null, [], { nested: { deeper: [true, false] } }];

  it('messages come back whole and in order, however the pipe splits their bytes', () => {
    const bytes = Buffer.concat(sample.map((m) => encodeFrame(m)));
    for (const step of [1, 3, 4, 7, 1000, 65_536, bytes.length]) {
      const { d, messages, problems } = decoder(1 << 20, 4);
      for (let at = 0; at < bytes.length; at += step) d.push(bytes.subarray(at, at + step));
      expect(problems).toEqual([]);
      expect(messages).toEqual(sample);
    }
  });

  it('a frame announcing more than maxBytes is refused from its header alone, and nothing after it is taken', () => {
    const { d, messages, problems } = decoder(1000);
    d.push(encodeFrame({ ok: 1 }));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffff_ffff, 0);
    d.push(header);
    expect(problems).toEqual(['a message of 4294967295 bytes, above the limit of 1000 (maxMessageBytes)']);
    d.push(encodeFrame({ ok: 2 }));
    expect(messages).toEqual([{ ok: 1 }]);
    expect(problems).toHaveLength(1);
  });

  it('bytes that are not a serialized value are refused', () => {
    const { d, messages, problems } = decoder(1000);
    d.push(Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]));
    expect(messages).toEqual([]);
    expect(problems[0]).toMatch(/^a message that does not deserialize \(.+\)$/);
  });

  it('a message whose shared references unfold past maxUnfolding times its size is refused; a tree passes', () => {
    let dag: unknown = ['x'.repeat(100)];
    for (let i = 0; i < 40; i++) dag = [dag, dag];
    const { d, messages, problems } = decoder(1 << 20, 4);
    d.push(encodeFrame({ fine: sample }));
    d.push(encodeFrame({ dag }));
    expect(messages).toEqual([{ fine: sample }]);
    expect(problems[0]).toMatch(/^a message of \d+ bytes that unfolds to more than 4 times that \(shared or cyclic references\)$/);
  });

  it('unfoldedSize: a tree stays within its serialized size; cycles, shared graphs and sparse giants pass any budget', () => {
    for (const value of sample) expect(unfoldedSize(value, Number.MAX_SAFE_INTEGER)).toBeLessThanOrEqual(serialize(value).length);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(unfoldedSize(cyclic, 1_000_000)).toBeUndefined();
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    expect(unfoldedSize(sparse, 1_000_000)).toBeUndefined();
    const shared = { s: 'y'.repeat(1000) };
    expect(unfoldedSize([shared, shared, shared], 2500)).toBeUndefined();
    expect(unfoldedSize([shared, shared, shared], 4000)).toBeGreaterThan(3000);
  });
});

describe('FrameFlow', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function flow(maxPending = 100) {
    vi.useFakeTimers();
    let now = 0;
    const calls: string[] = [];
    const stream = { pause: () => calls.push('pause'), resume: () => calls.push('resume') };
    let throttled = 0;
    const f = new FrameFlow(stream, { bytesPerSecond: 1000, burstBytes: 2000, perMessageBytes: 100, maxPending, onThrottled: () => throttled++, now: () => now });
    return { f, calls, advance: (ms: number) => ((now += ms), vi.advanceTimersByTime(ms)), throttled: () => throttled };
  }

  it('reads at its rate after a burst: paused for as long as the deficit takes, then resumed', () => {
    const { f, calls, advance, throttled } = flow();
    for (let i = 0; i < 4; i++) f.took(400);
    expect(calls).toEqual([]);
    f.took(400);
    // 2,500 taken from a burst of 2,000 at 1,000 a second: 500 ms behind.
    expect(calls).toEqual(['pause']);
    expect(f.throttledMs).toBe(500);
    advance(499);
    expect(calls).toEqual(['pause']);
    advance(1);
    expect(calls).toEqual(['pause', 'resume']);
    expect(throttled()).toBe(1);
    f.close();
  });

  it('stops reading while more than maxPending messages wait to be handled, and reads again below half of them', () => {
    const { f, calls } = flow(4);
    for (let i = 0; i < 4; i++) f.began();
    expect(calls).toEqual([]);
    // The fifth: one over maxPending.
    f.began();
    expect(calls).toEqual(['pause']);
    f.handled();
    f.handled();
    expect(calls).toEqual(['pause']);
    f.handled();
    expect(calls).toEqual(['pause', 'resume']);
    f.close();
  });
});
