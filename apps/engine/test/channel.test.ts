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
});
