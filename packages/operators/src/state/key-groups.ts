/**
 * Keys → key groups → subtasks, as Flink's KeyGroupRangeAssignment does it: a key
 * hashes to one of `maxParallelism` key groups, and each subtask owns a contiguous
 * range of key groups. State is stored and snapshotted per key group, so rescaling
 * moves whole groups between subtasks.
 *
 * The hash is MurmurHash3 x86_32 with seed 0: over the UTF-16LE bytes of a string key,
 * over the 4 little-endian bytes of a 32-bit integer key, and over `#<number>` for any
 * other number. It is part of the snapshot format (state is stored by key group), so
 * it must never change; a test pins reference values from an independent implementation.
 */
import type { Key } from '../api/elements.js';
import type { KeyGroupRange } from '../api/state.js';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function murmurString(text: string, seed = 0): number {
  let h = seed | 0;
  const length = text.length;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    h = mixH(h, mixK(text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)));
  }
  if (i < length) h ^= mixK(text.charCodeAt(i));
  return finalize(h, length * 2);
}

export function murmurInt(value: number, seed = 0): number {
  return finalize(mixH(seed | 0, mixK(value | 0)), 4);
}

export function hashKey(key: Key): number {
  if (typeof key === 'number' && Number.isInteger(key) && key >= -2147483648 && key <= 2147483647) return murmurInt(key);
  return murmurString(typeof key === 'number' ? `#${String(key)}` : key);
}

export function keyGroupOf(key: Key, maxParallelism: number): number {
  return hashKey(key) % maxParallelism;
}

export function subtaskForKeyGroup(keyGroup: number, maxParallelism: number, parallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

export function subtaskForKey(key: Key, maxParallelism: number, parallelism: number): number {
  return subtaskForKeyGroup(keyGroupOf(key, maxParallelism), maxParallelism, parallelism);
}

export function keyGroupRangeOf(subtaskIndex: number, maxParallelism: number, parallelism: number): KeyGroupRange {
  if (parallelism < 1 || parallelism > maxParallelism) {
    throw new Error(`parallelism ${parallelism} must be between 1 and maxParallelism ${maxParallelism}`);
  }
  return {
    start: Math.floor((subtaskIndex * maxParallelism + parallelism - 1) / parallelism),
    end: Math.floor(((subtaskIndex + 1) * maxParallelism - 1) / parallelism),
  };
}

export function inRange(range: KeyGroupRange, keyGroup: number): boolean {
  return keyGroup >= range.start && keyGroup <= range.end;
}
