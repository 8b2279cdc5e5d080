/**
 * Which consumer subtasks a producer subtask is connected to, and which one gets a
 * record, for each partitioning (Flink's StreamPartitioner family).
 */
import type { Partitioning } from '@sluice/graph-model';
import { subtaskForKey, type Key } from '@sluice/operators';

/** The consumers producer `i` of `p` sends to, for `q` consumers. */
export function connectedConsumers(partitioning: Partitioning, i: number, p: number, q: number): number[] {
  switch (partitioning) {
    case 'forward':
      return [i];
    case 'rescale': {
      // As Flink: each producer feeds a contiguous group of consumers (or shares one).
      if (q >= p) {
        const from = Math.floor((i * q) / p);
        const to = Math.floor(((i + 1) * q) / p);
        return Array.from({ length: Math.max(1, to - from) }, (_, k) => from + k);
      }
      return [Math.floor((i * q) / p)];
    }
    default:
      return Array.from({ length: q }, (_, k) => k);
  }
}

/** Picks the channel (index into the connected consumers) of each record. */
export interface ChannelSelector {
  /** -1 means every channel (broadcast). */
  select(value: unknown): number;
}

export function channelSelector(
  partitioning: Partitioning,
  producerIndex: number,
  consumers: readonly number[],
  keyOf: ((value: unknown) => Key) | undefined,
  maxParallelism: number,
  consumerParallelism: number,
): ChannelSelector {
  switch (partitioning) {
    case 'forward':
      return { select: () => 0 };
    case 'broadcast':
      return { select: () => -1 };
    case 'hash': {
      if (!keyOf) throw new Error('hash partitioning without a key selector');
      return { select: (value) => subtaskForKey(keyOf(value), maxParallelism, consumerParallelism) };
    }
    default: {
      // Round robin; each producer starts at its own offset so that p producers spread evenly.
      let next = producerIndex % consumers.length;
      return {
        select: () => {
          const channel = next;
          next = next + 1 === consumers.length ? 0 : next + 1;
          return channel;
        },
      };
    }
  }
}
