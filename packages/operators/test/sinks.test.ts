import { describe, expect, it } from 'vitest';
import { BlackholeSink, OneInputHarness } from '@sluice/operators';

describe('discard sink', () => {
  it('without a rate takes every record at once', () => {
    const sink = new BlackholeSink({ ratePerSecond: null });
    const h = new OneInputHarness(sink).open();
    for (let i = 0; i < 10_000; i++) h.processElement(i);
    expect(sink.blockedUntil()).toBeUndefined();
  });

  it('with a rate holds its input until processing time has paid for the records taken, then lets it go', async () => {
    const sink = new BlackholeSink({ ratePerSecond: 100 });
    const h = new OneInputHarness(sink, { processingTime: 1_000 }).open();
    expect(sink.blockedUntil()).toBeUndefined();
    // 50 records at 100 per second: 500 ms of budget.
    for (let i = 0; i < 50; i++) h.processElement(i);
    const blocked = sink.blockedUntil();
    expect(blocked).toBeInstanceOf(Promise);
    let released = false;
    void blocked?.then(() => (released = true));
    h.setProcessingTime(1_499);
    await Promise.resolve();
    expect(released).toBe(false);
    expect(sink.blockedUntil()).toBe(blocked);
    h.setProcessingTime(1_500);
    await Promise.resolve();
    expect(released).toBe(true);
    expect(sink.blockedUntil()).toBeUndefined();
  });

  it('splits the rate over its subtasks, and saves no budget up while it had no records', () => {
    const sink = new BlackholeSink({ ratePerSecond: 100 });
    // Subtask 1 of 4: 25 records per second, 40 ms each.
    const h = new OneInputHarness(sink, { parallelism: 4, subtaskIndex: 1 }).open();
    h.setProcessingTime(10_000);
    expect(sink.blockedUntil()).toBeUndefined();
    h.processElement('a');
    h.processElement('b');
    h.setProcessingTime(10_079);
    expect(sink.blockedUntil()).toBeInstanceOf(Promise);
    h.setProcessingTime(10_080);
    expect(sink.blockedUntil()).toBeUndefined();
  });
});
