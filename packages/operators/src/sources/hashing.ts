/**
 * Stateless integer hashing for the generator: every random choice of a record is a
 * pure function of (seed, index, salt), so any subtask can produce any record in any
 * order and a restore at another parallelism yields the same stream.
 */
export const GOLDEN = 0x9e3779b9;
export const TWO_POW_32 = 4294967296;
const TO_UNIT = 1 / TWO_POW_32;

/** The MurmurHash3 finalizer: a bijection on 32-bit integers with full avalanche. */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Hash of (key, index); index may reach 2^53, so its high word is folded in separately. */
export function indexHash(key: number, index: number): number {
  const low = Math.imul(index >>> 0, GOLDEN);
  if (index < TWO_POW_32) return fmix((low + key) | 0);
  return fmix((low + fmix(key ^ Math.floor(index / TWO_POW_32))) | 0);
}

/** An independent draw in [0, 1) from an index hash; each field uses its own salt. */
export function unit(h: number, salt: number): number {
  return fmix(h ^ salt) * TO_UNIT;
}

export function seedKey(seed: number): number {
  // Seeds are any safe integer: mix both 32-bit words.
  return fmix((seed >>> 0) ^ fmix((Math.floor(seed / TWO_POW_32) + 0x632be5ab) | 0));
}

/** Keys of separate hash streams (records, episode blocks, per-sensor traits…) from one seed. */
export function domainKey(seed: number, domain: number): number {
  return fmix(seed ^ Math.imul(domain, GOLDEN));
}

