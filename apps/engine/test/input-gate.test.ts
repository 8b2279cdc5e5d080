import { describe, expect, it } from 'vitest';
import { allocateBell, allocateChannel, ChannelWriter, InputGate, MessageEncoder, type GateListener, type InputWatermark } from '@sluice/engine';
import { InputStatus, MAX_WATERMARK, type RowKind } from '@sluice/operators';

function setup(channels: Array<{ input: number }>, unaligned?: { enabled: boolean; alignmentTimeoutMs: number }) {
  const encoder = new MessageEncoder();
  const specs = channels.map((c, i) => ({ exchange: 0, producerSubtask: i, input: c.input, memory: allocateChannel(8, 1024), creditBell: allocateBell() }));
  const writers = specs.map((s) => new ChannelWriter(s.memory, new Int32Array(allocateBell())));
  const gate = new InputGate(specs, Math.max(...channels.map((c) => c.input)) + 1, 'exactly-once', unaligned);
  const seen: Array<[string, number, number | boolean]> = [];
  let marks: InputWatermark[] = [];
  const listener: GateListener = {
    handleRecord: (input: number, value: unknown, timestamp: number, _kind: RowKind) => seen.push(['record', input, timestamp]),
    handleWatermark: (input, watermark) => seen.push(['watermark', input, watermark]),
    handleIdle: (input, idle) => seen.push(['idle', input, idle]),
    reportInputWatermarks: (m) => (marks = m),
    handleBarrier: (barrier) => seen.push(['aligned-checkpoint', 0, barrier.id]),
    abandonBarrier: (id) => seen.push(['abandoned', 0, id]),
    startUnalignedCheckpoint: (barrier) => seen.push(['unaligned-start', 0, barrier.id]),
    recordInFlight: (input, _v, timestamp) => seen.push(['in-flight', input, timestamp]),
    completeUnalignedCheckpoint: (barrier) => seen.push(['unaligned-complete', 0, barrier.id]),
  };
  const send = {
    watermark: (channel: number, wm: number) => writers[channel]!.write(encoder.watermark(wm)),
    idle: (channel: number, idle: boolean) => writers[channel]!.write(encoder.idle(idle)),
    records: (channel: number, timestamps: number[]) => writers[channel]!.write(encoder.records(timestamps, null, timestamps.map((t) => ({ t })))),
    end: (channel: number) => writers[channel]!.write(encoder.endOfPartition()),
    barrier: (channel: number, id: number, savepoint = false) => writers[channel]!.write(encoder.barrier({ id, timestamp: 0, directory: '/x', savepoint })),
    /** An unaligned barrier ahead of everything queued in the channel. */
    priorityBarrier: (channel: number, id: number) => writers[channel]!.writePriority(encoder.barrier({ id, timestamp: 0, directory: '/x', savepoint: false })),
  };
  const read = (budget = 10_000) => {
    const status = gate.read(budget, listener);
    const out = seen.splice(0);
    return { status, out, marks };
  };
  return { send, read, gate, listener, seen };
}

describe('input gate: watermark valve', () => {
  it('the input watermark is the minimum over its channels', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.watermark(0, 10);
    expect(read().out).toEqual([]);
    send.watermark(1, 5);
    expect(read().out).toEqual([['watermark', 0, 5]]);
    send.watermark(1, 20);
    expect(read().out).toEqual([['watermark', 0, 10]]);
  });

  it('never goes backwards', () => {
    const { send, read } = setup([{ input: 0 }]);
    send.watermark(0, 10);
    send.watermark(0, 7);
    expect(read().out).toEqual([['watermark', 0, 10]]);
  });

  it('names the channel that holds the watermark back', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.watermark(0, 50);
    send.watermark(1, 30);
    expect(read().marks).toEqual([{ watermark: 30, idle: false, holdingBack: { exchange: 0, producerSubtask: 1 } }]);
  });

  it('an idle channel stops holding the watermark back, and it holds again when active', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.watermark(0, 100);
    send.watermark(1, 10);
    expect(read().out).toEqual([['watermark', 0, 10]]);
    send.idle(1, true);
    expect(read().out).toEqual([['watermark', 0, 100]]);
    // Channels have no order among each other, so let channel 1 wake up first.
    send.idle(1, false);
    send.watermark(1, 120);
    expect(read().out).toEqual([]);
    send.watermark(0, 200);
    expect(read().out).toEqual([['watermark', 0, 120]]);
  });

  it('an input whose channels are all idle is idle', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.idle(0, true);
    send.idle(1, true);
    expect(read().out).toEqual([['idle', 0, true]]);
  });

  it('an ended channel no longer holds back, and the input ends when all channels did', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.watermark(0, 40);
    send.records(1, [1, 2]);
    send.end(1);
    const first = read();
    expect(first.out).toEqual([
      ['record', 0, 1],
      ['record', 0, 2],
      ['watermark', 0, 40],
    ]);
    expect(first.status).toBe(InputStatus.NOTHING_AVAILABLE);
    send.watermark(0, MAX_WATERMARK);
    send.end(0);
    const last = read();
    expect(last.out).toEqual([['watermark', 0, MAX_WATERMARK]]);
    expect(last.status).toBe(InputStatus.END_OF_INPUT);
  });

  it('keeps the two inputs of a two-input operator apart', () => {
    const { send, read } = setup([{ input: 0 }, { input: 1 }]);
    send.watermark(0, 10);
    send.watermark(1, 3);
    expect(read().out).toEqual([
      ['watermark', 0, 10],
      ['watermark', 1, 3],
    ]);
  });
});

describe('input gate: barriers', () => {
  it('aligns: a channel that delivered the barrier is not read until every channel has', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.records(0, [1]);
    send.barrier(0, 7);
    send.records(0, [2]);
    send.records(1, [3]);
    expect(read().out).toEqual([
      ['record', 0, 1],
      ['record', 0, 3],
    ]);
    send.barrier(1, 7);
    expect(read().out).toEqual([
      ['aligned-checkpoint', 0, 7],
      ['record', 0, 2],
    ]);
  });

  it('counts an ended channel as aligned', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.end(1);
    send.barrier(0, 3);
    expect(read().out).toEqual([['aligned-checkpoint', 0, 3]]);
  });

  it('abandons an older checkpoint when a newer barrier arrives first', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }]);
    send.barrier(0, 1);
    send.barrier(1, 2);
    send.barrier(0, 2);
    expect(read().out).toEqual([
      ['abandoned', 0, 1],
      ['aligned-checkpoint', 0, 2],
    ]);
  });

  it('unaligned: snapshots at the first barrier and records what was in flight on the other channels', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.barrier(0, 5);
    send.records(0, [10]);
    send.records(1, [20]);
    send.barrier(1, 5);
    send.records(1, [30]);
    expect(read().out).toEqual([
      ['unaligned-start', 0, 5],
      ['in-flight', 0, 20],
      ['record', 0, 20],
      ['record', 0, 10],
      ['unaligned-complete', 0, 5],
      ['record', 0, 30],
    ]);
  });

  it('aligns savepoints even when unaligned checkpoints are on', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.barrier(0, 8, true);
    send.barrier(1, 8, true);
    expect(read().out).toEqual([['aligned-checkpoint', 0, 8]]);
  });

  it('turns unaligned after the alignment timeout', async () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 30 });
    send.barrier(0, 9);
    send.records(0, [1]);
    expect(read().out).toEqual([]);
    await new Promise((r) => setTimeout(r, 40));
    send.records(1, [2]);
    send.barrier(1, 9);
    const out = read().out;
    // Channels have no order among each other; within one, recording precedes processing.
    expect(out[0]).toEqual(['unaligned-start', 0, 9]);
    expect(out.at(-1)).toEqual(['unaligned-complete', 0, 9]);
    expect(out.slice(1, -1).map((e) => e.join()).sort()).toEqual(['in-flight,0,2', 'record,0,1', 'record,0,2']);
    expect(out.findIndex((e) => e[0] === 'in-flight')).toBeLessThan(out.findIndex((e) => e[0] === 'record' && e[2] === 2));
  });

  it('unaligned: a barrier that overtook queued buffers stores them as in flight at once, before they are processed', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.records(0, [1, 2]);
    send.records(1, [3]);
    send.watermark(1, 2);
    send.records(1, [4]);
    send.priorityBarrier(1, 6);
    send.records(1, [5]);
    send.priorityBarrier(0, 6);
    expect(read().out).toEqual([
      ['unaligned-start', 0, 6],
      // The watermark between 3 and 4 is not stored: watermarks are regenerated after a restore.
      ['in-flight', 0, 1],
      ['in-flight', 0, 2],
      ['in-flight', 0, 3],
      ['in-flight', 0, 4],
      ['unaligned-complete', 0, 6],
      ['record', 0, 1],
      ['record', 0, 2],
      ['record', 0, 3],
      ['record', 0, 4],
      ['record', 0, 5],
    ]);
  });

  it('unaligned: records of a channel read before its overtaking barrier arrived are in flight too, and nothing twice', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.records(1, [7]);
    send.priorityBarrier(0, 3);
    const first = read().out;
    expect(first).toEqual([['unaligned-start', 0, 3], ['in-flight', 0, 7], ['record', 0, 7]]);
    send.records(1, [8]);
    send.priorityBarrier(1, 3);
    send.records(1, [9]);
    expect(read().out).toEqual([['in-flight', 0, 8], ['unaligned-complete', 0, 3], ['record', 0, 8], ['record', 0, 9]]);
  });

  // The coordinator triggers a checkpoint at a subtask whose producers have all ended. Its
  // barriers may have completed there already, the acknowledgement still on its way.
  it('a trigger for a checkpoint whose barriers already completed here starts nothing (unaligned)', () => {
    const { send, read, gate, listener, seen } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.priorityBarrier(0, 2);
    send.priorityBarrier(1, 2);
    expect(read().out).toEqual([['unaligned-start', 0, 2], ['unaligned-complete', 0, 2]]);
    send.records(0, [1]);
    send.end(0);
    send.end(1);
    gate.trigger({ id: 2, timestamp: 0, directory: '/x', savepoint: false }, listener);
    expect(seen.splice(0)).toEqual([]);
    expect(read().out).toEqual([['record', 0, 1], ['watermark', 0, MAX_WATERMARK]]);
    // A newer one still starts, and completes at once: every channel has ended.
    gate.trigger({ id: 3, timestamp: 0, directory: '/x', savepoint: false }, listener);
    expect(seen.splice(0)).toEqual([['aligned-checkpoint', 0, 3]]);
  });

  it('a trigger for a checkpoint whose barriers already completed here starts nothing (aligned)', () => {
    const { send, read, gate, listener, seen } = setup([{ input: 0 }, { input: 0 }]);
    send.barrier(0, 5);
    send.barrier(1, 5);
    expect(read().out).toEqual([['aligned-checkpoint', 0, 5]]);
    gate.trigger({ id: 5, timestamp: 0, directory: '/x', savepoint: false }, listener);
    gate.trigger({ id: 4, timestamp: 0, directory: '/x', savepoint: false }, listener);
    send.end(0);
    send.end(1);
    expect([...seen.splice(0), ...read().out]).toEqual([['watermark', 0, MAX_WATERMARK]]);
  });

  it('a newer barrier on a channel that delivered the pending one abandons it, and the older barrier arriving later is dropped', () => {
    const { send, read } = setup([{ input: 0 }, { input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.priorityBarrier(0, 2);
    expect(read().out).toEqual([['unaligned-start', 0, 2]]);
    send.priorityBarrier(0, 3);
    send.barrier(1, 3);
    expect(read().out).toEqual([['abandoned', 0, 2], ['unaligned-start', 0, 3], ['unaligned-complete', 0, 3]]);
    send.priorityBarrier(1, 2);
    send.records(1, [4]);
    expect(read().out).toEqual([['record', 0, 4]]);
  });

  it('unaligned: the rest of a batch interrupted when the barrier arrives is in flight', () => {
    const { send, gate, listener, seen } = setup([{ input: 0 }], { enabled: true, alignmentTimeoutMs: 0 });
    send.records(0, Array.from({ length: 40 }, (_, i) => i));
    // A deadline already passed: the gate hands over the first 32 records and keeps the rest.
    gate.read(10_000, listener, 0);
    expect(seen.splice(0).length).toBe(32);
    send.priorityBarrier(0, 4);
    gate.read(10_000, listener);
    const out = seen.splice(0);
    expect(out.slice(0, 10)).toEqual([
      ['unaligned-start', 0, 4],
      ...Array.from({ length: 8 }, (_, i): [string, number, number] => ['in-flight', 0, 32 + i]),
      ['unaligned-complete', 0, 4],
    ]);
    expect(out.slice(10)).toEqual(Array.from({ length: 8 }, (_, i) => ['record', 0, 32 + i]));
  });
});
