import { describe, expect, it } from 'vitest';
import { allocateBell, allocateChannel, ChannelReader, ChannelWriter } from '@sluice/engine';

function pair(slots: number, slotBytes: number) {
  const memory = allocateChannel(slots, slotBytes);
  const doorbell = new Int32Array(allocateBell());
  const creditBell = new Int32Array(allocateBell());
  return { writer: new ChannelWriter(memory, doorbell), reader: new ChannelReader(memory, creditBell), doorbell, creditBell };
}

function readAll(reader: ChannelReader): number[][] {
  const out: number[][] = [];
  while (reader.read((m) => out.push([...m]))) {
    /* keep reading */
  }
  return out;
}

describe('shared-memory channel', () => {
  it('delivers messages in order and rings the consumer doorbell', () => {
    const { writer, reader, doorbell } = pair(4, 16);
    writer.write(Uint8Array.of(1, 2));
    writer.write(Uint8Array.of(3));
    expect(Atomics.load(doorbell, 0)).toBe(2);
    expect(readAll(reader)).toEqual([[1, 2], [3]]);
  });

  it('splits a message larger than a slot and reassembles it', () => {
    const { writer, reader } = pair(4, 4);
    const big = Uint8Array.from({ length: 11 }, (_, i) => i);
    expect(writer.write(big)).toBe(true);
    expect(readAll(reader)).toEqual([[...big]]);
  });

  it('bounds what is in flight by its credits: a producer without credit keeps the rest back', () => {
    const { writer, reader, creditBell } = pair(2, 4);
    expect(writer.write(Uint8Array.of(1))).toBe(true);
    expect(writer.write(Uint8Array.of(2))).toBe(true);
    expect(writer.credits()).toBe(0);
    expect(writer.write(Uint8Array.of(3))).toBe(false);
    expect(writer.blocked).toBe(true);
    expect(writer.drain()).toBe(false);
    // The consumer frees a slot: credit returns, the producer's bell rings, the rest flows.
    expect(reader.read(() => {})).toBe(true);
    expect(Atomics.load(creditBell, 0)).toBe(1);
    expect(writer.drain()).toBe(true);
    expect(readAll(reader)).toEqual([[2], [3]]);
  });

  it('rings the credit bell when half the slots are free and when all are, not for every slot', () => {
    const { writer, reader, creditBell } = pair(8, 4);
    for (let i = 0; i < 8; i++) expect(writer.write(Uint8Array.of(i))).toBe(true);
    expect(writer.write(Uint8Array.of(8))).toBe(false);
    const rings: number[] = [];
    for (let i = 0; i < 8; i++) {
      reader.read(() => {});
      rings.push(Atomics.load(creditBell, 0));
    }
    // Four free: the blocked producer wakes with four slots to fill; eight: the ring is empty.
    expect(rings).toEqual([0, 0, 0, 1, 1, 1, 1, 2]);
    expect(writer.drain()).toBe(true);
    // What the producer sent meanwhile is read, and the empty ring rings again.
    expect(readAll(reader)).toEqual([[8]]);
    expect(Atomics.load(creditBell, 0)).toBe(3);
  });

  it('keeps its own copy of what waits for credit: the producer reuses its buffer (a Node Buffer, whose slice() is a view)', () => {
    const { writer, reader } = pair(1, 4);
    const reused = Buffer.alloc(3);
    reused.set([1, 2, 3]);
    expect(writer.write(reused)).toBe(true);
    reused.set([4, 5, 6]);
    expect(writer.write(reused)).toBe(false);
    reused.set([7, 8, 9]);
    expect(writer.write(reused)).toBe(false);
    reused.fill(0);
    const got: number[][] = [];
    for (let i = 0; i < 10 && got.length < 3; i++) {
      reader.read((m) => got.push([...m]));
      writer.drain();
    }
    expect(got).toEqual([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  });

  it('keeps a multi-slot message whole when credit runs out half way', () => {
    const { writer, reader } = pair(2, 4);
    const big = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    expect(writer.write(big)).toBe(false);
    const got: number[][] = [];
    for (let i = 0; i < 10 && got.length === 0; i++) {
      reader.read((m) => got.push([...m]));
      writer.drain();
    }
    expect(got).toEqual([[...big]]);
  });

  it('a priority event overtakes the queued buffers and uses no credit', () => {
    const { writer, reader, doorbell } = pair(2, 4);
    expect(writer.write(Uint8Array.of(1))).toBe(true);
    expect(writer.write(Uint8Array.of(2))).toBe(true);
    expect(writer.write(Uint8Array.of(3))).toBe(false);
    const rung = Atomics.load(doorbell, 0);
    expect(writer.writePriority(Uint8Array.of(9))).toBe(true);
    expect(Atomics.load(doorbell, 0)).toBe(rung + 1);
    expect(writer.credits()).toBe(0);
    expect(reader.hasPriority()).toBe(true);
    const order: Array<string | number[]> = [];
    const priority = (m: Uint8Array, position: number) => order.push(`priority ${m[0]} after slot ${position}`);
    for (let i = 0; i < 10; i++) {
      reader.read((m) => order.push([...m]), priority);
      writer.drain();
    }
    expect(order).toEqual(['priority 9 after slot 2', [1], [2], [3]]);
    expect(writer.credits()).toBe(2);
  });

  it('takes one priority event at a time: the next waits until the consumer took the first', () => {
    const { writer, reader } = pair(2, 4);
    expect(writer.writePriority(Uint8Array.of(1))).toBe(true);
    expect(writer.writePriority(Uint8Array.of(2))).toBe(false);
    expect(reader.takePriority(() => {})).toBe(true);
    expect(reader.takePriority(() => {})).toBe(false);
    expect(writer.writePriority(Uint8Array.of(2))).toBe(true);
  });

  it('splits what a barrier overtook: complete messages in the ring for the consumer, unpublished ones whole for the producer', () => {
    const { writer, reader } = pair(3, 4);
    const a = Uint8Array.of(1, 1);
    const b = Uint8Array.of(2, 2, 2, 2, 2, 2);
    const c = Uint8Array.of(3);
    const d = Uint8Array.from({ length: 9 }, () => 4);
    writer.write(a);
    writer.write(b);
    // Read a, then the ring holds b (two slots) and d's first slot; d's tail and nothing else wait.
    expect(reader.read(() => {})).toBe(true);
    writer.write(d);
    writer.write(c);
    const unpublished = writer.unpublished().map((m) => [...m]);
    expect(writer.writePriority(Uint8Array.of(9))).toBe(true);
    let position = -1;
    const seen: number[][] = [];
    expect(reader.read(() => seen.push([0]), (_m, p) => (position = p))).toBe(true);
    expect(seen).toEqual([]);
    const overtaken: number[][] = [];
    reader.peekBefore(position, (m) => overtaken.push([...m]));
    // The consumer keeps b; d is partly published, so the producer keeps it whole, and c.
    expect(overtaken).toEqual([[...b]]);
    expect(unpublished).toEqual([[...d], [...c]]);
    // Every message still arrives once, in order, after the barrier.
    const rest: number[][] = [];
    for (let i = 0; i < 20; i++) {
      reader.read((m) => rest.push([...m]));
      writer.drain();
    }
    expect(rest).toEqual([[...b], [...d], [...c]]);
  });

  it('a message the consumer has begun to reassemble counts whole on its side when it completes before the barrier', () => {
    const { writer, reader } = pair(2, 4);
    const big = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    expect(writer.write(big)).toBe(false);
    // The consumer takes the two published slots (the message is not complete yet).
    expect(reader.read(() => {})).toBe(false);
    writer.drain();
    expect(writer.unpublished().map((m) => m.length)).toEqual([]);
    expect(writer.writePriority(Uint8Array.of(9))).toBe(true);
    let position = -1;
    reader.takePriority((_m, p) => (position = p));
    const overtaken: number[][] = [];
    reader.peekBefore(position, (m) => overtaken.push([...m]));
    expect(overtaken).toEqual([[...big]]);
  });

  it('an event queued behind buffers that wait for credit overtakes them later, leaving them to the producer, and every message still arrives once', () => {
    const { writer, reader } = pair(2, 4);
    writer.write(Uint8Array.of(1));
    writer.write(Uint8Array.of(2));
    writer.write(Uint8Array.of(3));
    const barrier = writer.writeEvent(Uint8Array.of(9));
    expect(barrier).toBeDefined();
    writer.write(Uint8Array.of(4));
    expect(writer.holds(barrier as Uint8Array)).toBe(true);
    // It overtakes 3, which the producer keeps; 1 and 2 are in the ring for the consumer.
    expect(writer.overtake(barrier as Uint8Array)?.map((m) => [...m])).toEqual([[3]]);
    expect(writer.holds(barrier as Uint8Array)).toBe(false);
    const order: Array<string | number[]> = [];
    for (let i = 0; i < 10; i++) {
      reader.read((m) => order.push([...m]), (m, position) => order.push(`priority ${m[0]} after slot ${position}`));
      writer.drain();
    }
    expect(order).toEqual(['priority 9 after slot 2', [1], [2], [3], [4]]);
  });

  it('an event that went out, or began to, or finds the priority area taken, does not overtake', () => {
    const sent = pair(2, 4);
    expect(sent.writer.writeEvent(Uint8Array.of(9))).toBeUndefined();
    const partly = pair(2, 4);
    partly.writer.write(Uint8Array.of(1));
    const big = partly.writer.writeEvent(Uint8Array.from({ length: 8 }, () => 9)) as Uint8Array;
    // Its first slot is in the ring: the consumer would see half a barrier.
    expect(partly.writer.holds(big)).toBe(true);
    expect(partly.writer.overtake(big)).toBeUndefined();
    const busy = pair(2, 4);
    busy.writer.write(Uint8Array.of(1));
    busy.writer.write(Uint8Array.of(2));
    const queued = busy.writer.writeEvent(Uint8Array.of(9)) as Uint8Array;
    expect(busy.writer.writePriority(Uint8Array.of(8))).toBe(true);
    expect(busy.writer.overtake(queued)).toBeUndefined();
    expect(readAll(busy.reader)).toEqual([[1], [2]]);
    busy.writer.drain();
    expect(readAll(busy.reader)).toEqual([[9]]);
  });
});
