/**
 * The records of the built-in `generator` source, as pure functions of (spec, index).
 *
 * A generator runs split over subtasks, is restored from checkpoints at another
 * parallelism, and must still produce exactly the same stream. So there is no PRNG
 * state to carry along: every random choice of record n is a stateless integer hash
 * of (seed, n, salt) (a Weyl step finished with the MurmurHash3 mixer), and any
 * subtask can produce any index in any order.
 *
 * Patterns that span several records (a card test followed by a large charge, a burst
 * of failed logins, an order shipped minutes later) cannot come from per-record
 * randomness alone. They are planted instead: the index space is cut into fixed
 * blocks, and a block's hash decides whether it holds an episode, on which key, at
 * which offsets. Records inside an episode's span that are not part of it avoid the
 * episode's key, so the episode stays consecutive for its key. Shipments follow
 * orders through a keyed permutation of the order indices, so each order is shipped
 * exactly once (after a warm-up) between 1 and 30 minutes after it was placed.
 *
 * Everything that depends only on the spec (id strings, lookup tables, the timestamp
 * function) is prepared once in {@link recordFactory}, because the `sequence` profile
 * runs on benchmark hot paths.
 */
import type { GeneratorProfile } from '@sluice/graph-model';
import { domainKey, fmix, indexHash, seedKey, unit } from './hashing.js';
import { nexmark } from './nexmark.js';

export interface GeneratorSpec {
  readonly profile: GeneratorProfile;
  /** Integer; the same seed always yields the same records. */
  readonly seed: number;
  /** Number of distinct keys (users, sensors, cards, customers…), at least 1. */
  readonly keys: number;
  /** Event time of record 0, epoch ms. */
  readonly startTime: number;
  /** Event time between consecutive records, at least 0. */
  readonly eventIntervalMs: number;
  /** Timestamps are shifted back by a pseudo-random integer amount in [0, this]. */
  readonly maxOutOfOrdernessMs: number;
  /** In [0, 1]: this fraction of records (chosen pseudo-randomly) is shifted back by an extra `lateByMs`. */
  readonly lateFraction: number;
  readonly lateByMs: number;
}

export interface GeneratedRecord {
  readonly value: Record<string, unknown>;
  readonly timestamp: number;
}

// ---------------------------------------------------------------------------------
// Stateless hashing (hashing.ts)

/** One salt per kind of draw, so that the draws of one record are independent. */
const Salt = {
  Jitter: 0x2c1b3c6d,
  Late: 0x297a2d39,
  Key: 0x1b56c4e9,
  A: 0x7feb352d,
  B: 0x68e31da4,
  C: 0x4cf5ad43,
  D: 0x3c6ef372,
  E: 0x5851f42d,
  F: 0x14057b7e,
} as const;

const Domain = {
  Sensor: 101,
  Slot: 102,
  Session: 103,
  Episode: 104,
  Card: 105,
  User: 106,
  Order: 107,
  Shipping: 108,
} as const;

// ---------------------------------------------------------------------------------
// Small tables

/** Ids at or above this are built per record instead of cached, so a huge `keys` costs no memory. */
const ID_CACHE_LIMIT = 100_000;

function idTable(prefix: string, keys: number): readonly string[] {
  const size = Math.min(keys, ID_CACHE_LIMIT);
  const ids = new Array<string>(size);
  for (let i = 0; i < size; i++) ids[i] = `${prefix}${i}`;
  return ids;
}

const WEIGHT_SLOTS = 4096;

/** Weighted choice in O(1): a table of WEIGHT_SLOTS entries, each entry repeated by its weight. */
interface Weighted<T> {
  readonly slots: readonly T[];
  readonly first: T;
}

function weighted<T>(entries: readonly (readonly [T, number])[]): Weighted<T> {
  const head = entries[0];
  if (head === undefined) throw new Error('weighted: no entries');
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
  const slots: T[] = [];
  let cumulative = 0;
  let entry = 0;
  for (let i = 0; i < WEIGHT_SLOTS; i++) {
    const at = ((i + 0.5) / WEIGHT_SLOTS) * total;
    while (entry < entries.length - 1 && at >= cumulative + (entries[entry]?.[1] ?? 0)) {
      cumulative += entries[entry]?.[1] ?? 0;
      entry++;
    }
    slots.push((entries[entry] ?? head)[0]);
  }
  return { slots, first: head[0] };
}

function choose<T>(table: Weighted<T>, u: number): T {
  return table.slots[(u * WEIGHT_SLOTS) | 0] ?? table.first;
}

function pick<T>(list: readonly [T, ...T[]], u: number): T {
  return list[(u * list.length) | 0] ?? list[0];
}

function cents(amount: number): number {
  return Math.round(amount * 100) / 100;
}

function tenths(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Log-uniform in [min, max], biased to the middle (two draws averaged): prices look like that. */
function logBetween(min: number, max: number, u1: number, u2: number): number {
  return min * Math.exp(((u1 + u2) / 2) * Math.log(max / min));
}

// ---------------------------------------------------------------------------------
// Timestamps

type TimestampOf = (n: number, h: number) => number;

function timestampFunction(spec: GeneratorSpec): TimestampOf {
  const { startTime, eventIntervalMs: interval, lateFraction, lateByMs } = spec;
  const jitterValues = Math.floor(spec.maxOutOfOrdernessMs) + 1;
  // Floored so that a fractional interval (many records per millisecond) gives whole milliseconds.
  if (jitterValues === 1 && lateFraction === 0) return (n) => startTime + Math.floor(n * interval);
  return (n, h) => {
    let t = startTime + Math.floor(n * interval) - Math.floor(unit(h, Salt.Jitter) * jitterValues);
    if (lateFraction > 0 && unit(h, Salt.Late) < lateFraction) t -= lateByMs;
    return t;
  };
}

// ---------------------------------------------------------------------------------
// Planted episodes

interface EpisodeShape {
  /** Records per block; each block holds at most one episode. */
  readonly blockSize: number;
  /** Chance that a block holds an episode. */
  readonly probability: number;
  readonly minEvents: number;
  readonly maxEvents: number;
  /** Event time between the events of one episode. */
  readonly minGapMs: number;
  readonly maxGapMs: number;
}

/** `locate` result: the index is outside any episode's span. */
const OUTSIDE = -1;
/** `locate` result: inside an episode's span but not one of its events; such a record must avoid the episode's key. */
const INSIDE = -2;

/**
 * If the engine splits indices over subtasks by stride (n mod parallelism), the events
 * of one episode should land on the same subtask so that they reach the keyed operator
 * in order; a step divisible by 60 keeps them together for any parallelism dividing 60
 * (1–6, 10, 12…), where the gap allows it.
 */
const STEP_ALIGNMENTS = [60, 12, 2] as const;

function alignStep(step: number): number {
  for (const q of STEP_ALIGNMENTS) if (step >= q) return step - (step % q);
  return step;
}

/**
 * Where the episodes of a profile are. Remembers the last block it looked at, since
 * consecutive indices mostly share one; that memo is derived from the spec alone, so
 * it never changes a result.
 */
class EpisodeBlocks {
  /** The episode's key, valid after `locate` returned anything but OUTSIDE. */
  key = 0;
  /** Number of events of the current episode. */
  events = 0;
  /** Hash of the current block, for the profile's own per-episode draws. */
  hash = 0;

  private block = -1;
  private active = false;
  private first = 0;
  private step = 1;
  private span = 0;
  private readonly shape: EpisodeShape;
  private readonly domain: number;
  private readonly keys: number;
  private readonly interval: number;

  constructor(shape: EpisodeShape, domain: number, keys: number, interval: number) {
    this.shape = shape;
    this.domain = domain;
    this.keys = keys;
    this.interval = interval;
  }

  /** The event number (0-based) of record n in its block's episode, or OUTSIDE / INSIDE. */
  locate(n: number): number {
    const { blockSize } = this.shape;
    const block = Math.floor(n / blockSize);
    if (block !== this.block) this.load(block);
    if (!this.active) return OUTSIDE;
    const offset = n - block * blockSize - this.first;
    if (offset < 0 || offset >= this.span) return OUTSIDE;
    return offset % this.step === 0 ? offset / this.step : INSIDE;
  }

  private load(block: number): void {
    const shape = this.shape;
    const h = indexHash(this.domain, block);
    this.block = block;
    this.hash = h;
    this.active = unit(h, Salt.A) < shape.probability;
    this.key = Math.floor(unit(h, Salt.Key) * this.keys);
    this.events = shape.minEvents + Math.floor(unit(h, Salt.B) * (shape.maxEvents - shape.minEvents + 1));
    const gapMs = shape.minGapMs + unit(h, Salt.C) * (shape.maxGapMs - shape.minGapMs);
    const wanted = this.interval > 0 ? Math.round(gapMs / this.interval) : 1 + Math.floor(unit(h, Salt.C) * 10);
    const widest = Math.floor(shape.blockSize / 2 / Math.max(1, this.events - 1));
    this.step = alignStep(Math.max(1, Math.min(wanted, widest)));
    this.span = (this.events - 1) * this.step + 1;
    this.first = Math.floor(unit(h, Salt.D) * (shape.blockSize - this.span + 1));
  }
}

/** A key other than the episode's, for ordinary records inside an episode's span. */
function avoid(key: number, episodeKey: number, keys: number): number {
  if (key !== episodeKey || keys === 1) return key;
  return key + 1 === keys ? 0 : key + 1;
}

// ---------------------------------------------------------------------------------
// Profiles

interface Context {
  readonly spec: GeneratorSpec;
  /** Seed mixed once; domains derive from it. */
  readonly seed: number;
  /** Key of the per-record hash stream. */
  readonly records: number;
  readonly timestampOf: TimestampOf;
}

type Factory = (n: number) => GeneratedRecord;

function sequence(ctx: Context): Factory {
  const { keys } = ctx.spec;
  const ids = idTable('key-', keys);
  const { records, timestampOf } = ctx;
  return (n) => {
    const k = n % keys;
    const timestamp = timestampOf(n, indexHash(records, n));
    return { value: { id: n, key: ids[k] ?? `key-${k}`, value: n, timestamp }, timestamp };
  };
}

/** A timestamp function that needs no hash lets `sequence` skip hashing altogether. */
function plainSequence(ctx: Context): Factory {
  const { keys, startTime, eventIntervalMs: interval } = ctx.spec;
  const ids = idTable('key-', keys);
  return (n) => {
    const k = n % keys;
    const timestamp = startTime + n * interval;
    return { value: { id: n, key: ids[k] ?? `key-${k}`, value: n, timestamp }, timestamp };
  };
}

type PageKind = 'browse' | 'product' | 'cart' | 'checkout';
type Action = 'view' | 'click' | 'purchase';

const PAGES = weighted<readonly [string, PageKind]>([
  [['/', 'browse'], 14],
  [['/search', 'browse'], 8],
  [['/category/shoes', 'browse'], 6],
  [['/category/jackets', 'browse'], 5],
  [['/category/t-shirts', 'browse'], 5],
  [['/category/accessories', 'browse'], 4],
  [['/category/sale', 'browse'], 6],
  [['/product/trail-runner-2', 'product'], 5],
  [['/product/city-sneaker', 'product'], 5],
  [['/product/rain-jacket', 'product'], 4],
  [['/product/down-parka', 'product'], 3],
  [['/product/organic-tee', 'product'], 4],
  [['/product/wool-beanie', 'product'], 3],
  [['/product/leather-belt', 'product'], 2],
  [['/product/canvas-backpack', 'product'], 3],
  [['/cart', 'cart'], 6],
  [['/checkout', 'checkout'], 3],
  [['/account', 'browse'], 3],
  [['/help/shipping', 'browse'], 2],
  [['/help/returns', 'browse'], 2],
]);

/** Purchases happen where there is something to buy, mostly at checkout. */
const ACTIONS: Readonly<Record<PageKind, Weighted<Action>>> = {
  browse: weighted<Action>([
    ['view', 88],
    ['click', 12],
  ]),
  product: weighted<Action>([
    ['view', 78],
    ['click', 21],
    ['purchase', 1],
  ]),
  cart: weighted<Action>([
    ['view', 60],
    ['click', 38],
    ['purchase', 2],
  ]),
  checkout: weighted<Action>([
    ['view', 55],
    ['click', 30],
    ['purchase', 15],
  ]),
};

const REFERRERS = weighted([
  ['direct', 30],
  ['google.com', 35],
  ['bing.com', 5],
  ['instagram.com', 8],
  ['facebook.com', 6],
  ['newsletter', 8],
  ['price-compare.example.org', 5],
  ['partner-blog.example.com', 3],
]);

/**
 * Users come in sessions rather than uniformly at random, so that session windows
 * find sessions: about keys/4 concurrent session slots each host one user at a time
 * for 5–35 of its clicks, then the next. A record picks a slot at random.
 */
function clickstream(ctx: Context): Factory {
  const { keys } = ctx.spec;
  const { records, timestampOf } = ctx;
  const users = idTable('user-', keys);
  const slots = Math.ceil(keys / 4);
  const slotKey = domainKey(ctx.seed, Domain.Slot);
  const sessionKey = domainKey(ctx.seed, Domain.Session);
  return (n) => {
    const h = indexHash(records, n);
    const slot = Math.floor(unit(h, Salt.A) * slots);
    const slotHash = indexHash(slotKey, slot);
    const sessionLength = slots * (5 + Math.floor(unit(slotHash, Salt.A) * 31));
    const phase = Math.floor(unit(slotHash, Salt.B) * sessionLength);
    const session = Math.floor((n + phase) / sessionLength) * slots + slot;
    const sessionHash = indexHash(sessionKey, session);
    const user = Math.floor(unit(sessionHash, Salt.Key) * keys);
    const [page, kind] = choose(PAGES, unit(h, Salt.B));
    const timestamp = timestampOf(n, h);
    return {
      value: {
        userId: users[user] ?? `user-${user}`,
        page,
        action: choose(ACTIONS[kind], unit(h, Salt.C)),
        referrer: choose(REFERRERS, unit(sessionHash, Salt.A)),
        // Time on page: heavy-tailed, from half a second to two minutes, mostly a few seconds.
        durationMs: Math.round(Math.exp(6.2 + 4.5 * unit(h, Salt.D) * unit(h, Salt.E) + 1.2 * unit(h, Salt.F))),
        timestamp,
      },
      timestamp,
    };
  };
}

interface Site {
  readonly name: string;
  readonly temperature: number;
  readonly dailySwing: number;
  readonly humidity: number;
}

const SITES: readonly [Site, ...Site[]] = [
  { name: 'berlin-datacenter', temperature: 24, dailySwing: 0.8, humidity: 38 },
  { name: 'hamburg-warehouse', temperature: 15, dailySwing: 3, humidity: 58 },
  { name: 'munich-office', temperature: 21.5, dailySwing: 1.5, humidity: 42 },
  { name: 'rotterdam-port', temperature: 12, dailySwing: 4, humidity: 74 },
  { name: 'lyon-plant', temperature: 22, dailySwing: 2.5, humidity: 48 },
  { name: 'milan-lab', temperature: 20.5, dailySwing: 0.6, humidity: 45 },
  { name: 'oslo-cold-store', temperature: 3.5, dailySwing: 0.5, humidity: 82 },
  { name: 'madrid-office', temperature: 23, dailySwing: 2, humidity: 33 },
];

const DAY_MS = 86_400_000;

/** Each sensor has a site and its own level; readings follow a daily cycle plus noise and rare spikes. */
function sensor(ctx: Context): Factory {
  const { keys } = ctx.spec;
  const { records, timestampOf } = ctx;
  const ids = idTable('sensor-', keys);
  const traitsKey = domainKey(ctx.seed, Domain.Sensor);
  return (n) => {
    const h = indexHash(records, n);
    const id = Math.floor(unit(h, Salt.Key) * keys);
    const traits = indexHash(traitsKey, id);
    const site = pick(SITES, unit(traits, Salt.A));
    const level = site.temperature + (unit(traits, Salt.B) - 0.5) * 4;
    const phase = unit(traits, Salt.C) * 0.05;
    const timestamp = timestampOf(n, h);
    const dayFraction = (((timestamp % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS;
    // Warmest mid-afternoon: the cycle peaks near 0.6 of the day.
    const cycle = site.dailySwing * Math.sin(2 * Math.PI * (dayFraction - 0.35 + phase));
    const noise = (unit(h, Salt.A) + unit(h, Salt.B) - 1) * 0.8;
    const spike = unit(h, Salt.C) < 0.001 ? 4 + unit(h, Salt.D) * 8 : 0;
    const humidity = site.humidity + (unit(traits, Salt.D) - 0.5) * 10 + (unit(h, Salt.E) - 0.5) * 4 - cycle;
    return {
      value: {
        sensorId: ids[id] ?? `sensor-${id}`,
        site: site.name,
        temperature: tenths(level + cycle + noise + spike),
        humidity: tenths(Math.min(99, Math.max(1, humidity))),
        timestamp,
      },
      timestamp,
    };
  };
}

interface Merchant {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

const MERCHANTS = weighted<Merchant>([
  [{ name: 'FreshMart Groceries', min: 4, max: 180 }, 22],
  [{ name: 'Corner Bakery', min: 1.5, max: 25 }, 8],
  [{ name: 'Bean There Coffee', min: 2.5, max: 12 }, 10],
  [{ name: 'QuickFuel', min: 20, max: 110 }, 8],
  [{ name: 'City Transit', min: 1.8, max: 60 }, 6],
  [{ name: 'Trattoria Roma', min: 12, max: 140 }, 6],
  [{ name: 'Burger Barn', min: 6, max: 35 }, 6],
  [{ name: 'PharmaPlus', min: 3, max: 80 }, 5],
  [{ name: 'ShopZone Online', min: 8, max: 350 }, 8],
  [{ name: 'StreamFlix', min: 7.99, max: 17.99 }, 3],
  [{ name: 'AppStore', min: 0.99, max: 49.99 }, 4],
  [{ name: 'Cinema Paradiso', min: 8, max: 45 }, 3],
  [{ name: 'Style Avenue', min: 15, max: 260 }, 4],
  [{ name: 'Book Nook', min: 5, max: 60 }, 3],
  [{ name: 'Gadget Galaxy', min: 15, max: 1800 }, 3],
  [{ name: 'HomeNest Furniture', min: 40, max: 2200 }, 2],
  [{ name: 'FlyAway Airlines', min: 60, max: 1200 }, 2],
  [{ name: 'Grand Hotel', min: 80, max: 900 }, 2],
]);

/** Where stolen card numbers are tested with tiny charges. */
const TEST_MERCHANTS = ['GiveNow Donations', 'Pixel Games Store', 'ParkPay Meters', 'AppStore'] as const;
/** Where a tested card is then cashed out. */
const CASH_OUT_MERCHANTS = ['Gadget Galaxy', 'Luxe Jewelers', 'Elite Watches', 'ShopZone Online'] as const;

const COUNTRIES = weighted([
  ['DE', 25],
  ['FR', 15],
  ['NL', 10],
  ['ES', 10],
  ['IT', 10],
  ['GB', 10],
  ['US', 10],
  ['PL', 5],
  ['SE', 5],
]);

const CARD_TESTS: EpisodeShape = {
  blockSize: 4096,
  probability: 0.5,
  minEvents: 2,
  maxEvents: 4,
  minGapMs: 2_000,
  maxGapMs: 15_000,
};

/**
 * Card payments at ordinary merchants, mostly in the card's home country. Planted
 * card-testing episodes: one to three charges under 1.00, each within 15 s of the
 * next, and usually (85%) a charge over 500.00 abroad right after the last one.
 */
function transactions(ctx: Context): Factory {
  const { keys, eventIntervalMs } = ctx.spec;
  const { records, timestampOf } = ctx;
  const cards = idTable('card-', keys);
  const cardKey = domainKey(ctx.seed, Domain.Card);
  const episodes = new EpisodeBlocks(CARD_TESTS, domainKey(ctx.seed, Domain.Episode), keys, eventIntervalMs);
  return (n) => {
    const h = indexHash(records, n);
    const timestamp = timestampOf(n, h);
    const event = episodes.locate(n);
    let card: number;
    let merchant: string;
    let amount: number;
    let abroad: boolean;
    if (event >= 0) {
      card = episodes.key;
      const cashOut = event === episodes.events - 1 && unit(episodes.hash, Salt.E) < 0.85;
      merchant = cashOut ? pick(CASH_OUT_MERCHANTS, unit(h, Salt.A)) : pick(TEST_MERCHANTS, unit(h, Salt.A));
      amount = cashOut ? cents(500.01 + logBetween(1, 2500, unit(h, Salt.B), unit(h, Salt.C))) : cents(0.01 + unit(h, Salt.B) * 0.98);
      abroad = cashOut;
    } else {
      card = Math.floor(unit(h, Salt.Key) * keys);
      if (event === INSIDE) card = avoid(card, episodes.key, keys);
      const shop = choose(MERCHANTS, unit(h, Salt.A));
      merchant = shop.name;
      amount = cents(logBetween(shop.min, shop.max, unit(h, Salt.B), unit(h, Salt.C)));
      abroad = unit(h, Salt.D) < 0.03;
    }
    const home = choose(COUNTRIES, unit(indexHash(cardKey, card), Salt.A));
    let country = home;
    if (abroad) {
      country = choose(COUNTRIES, unit(h, Salt.E));
      if (country === home) country = home === 'US' ? 'GB' : 'US';
    }
    return {
      value: { transactionId: `tx-${n}`, cardId: cards[card] ?? `card-${card}`, amount, merchant, country, timestamp },
      timestamp,
    };
  };
}

const ITEMS = weighted([
  [1, 45],
  [2, 25],
  [3, 14],
  [4, 7],
  [5, 4],
  [6, 2],
  [8, 2],
  [10, 1],
]);

/** The order id of order index m; `shipments` calls it too, so the two profiles agree. */
function orderId(m: number): string {
  return `order-${m}`;
}

/** Orders from customers; a tenth of the customers place about a third of the orders. */
function orders(ctx: Context): Factory {
  const { keys } = ctx.spec;
  const { records, timestampOf } = ctx;
  const customers = idTable('customer-', keys);
  const regulars = Math.ceil(keys / 10);
  return (n) => {
    const h = indexHash(records, n);
    const customer = Math.floor(unit(h, Salt.Key) * (unit(h, Salt.A) < 0.3 ? regulars : keys));
    const items = choose(ITEMS, unit(h, Salt.B));
    const timestamp = timestampOf(n, h);
    return {
      value: {
        orderId: orderId(n),
        customerId: customers[customer] ?? `customer-${customer}`,
        amount: cents(items * logBetween(4.99, 149, unit(h, Salt.C), unit(h, Salt.D))),
        items,
        timestamp,
      },
      timestamp,
    };
  };
}

const CARRIERS = weighted([
  ['DHL', 30],
  ['UPS', 20],
  ['DPD', 18],
  ['FedEx', 12],
  ['GLS', 12],
  ['Hermes', 8],
]);

/** Bounds of the shipping delay, in records, when there is no event time between records. */
const UNTIMED_LAG = { min: 100, max: 500 } as const;
/** Keeps the permutation within 2^28 entries even for tiny event intervals. */
const MAX_LAG_WIDTH = 1 << 28;

/**
 * Shipment n ships order m = n - lag, where lag covers 1 to 30 minutes of event time.
 * To ship each order exactly once, lags are not drawn independently: with
 * k = n - center, the indices are cut into blocks of `width`, and order m is the
 * keyed permutation of k within its block. That bounds lag to
 * center ± (width - 1) = [minimum, maximum], peaking at about a quarter of an hour.
 * Shipments before `center` (the warm-up) ship an earlier order chosen at random,
 * so some early orders are shipped twice: with every order shipped once and a
 * shipment per index, there is no other order to ship yet.
 */
function shipments(ctx: Context): Factory {
  const { eventIntervalMs: interval } = ctx.spec;
  const { records, timestampOf } = ctx;
  const minLag = interval > 0 ? Math.max(1, Math.ceil(60_000 / interval)) : UNTIMED_LAG.min;
  const maxLag = interval > 0 ? Math.max(minLag, Math.floor(1_800_000 / interval)) : UNTIMED_LAG.max;
  const width = Math.min(MAX_LAG_WIDTH, Math.floor((maxLag - minLag) / 2) + 1);
  const center = minLag + width - 1;
  let halfBits = 1;
  while (2 ** (2 * halfBits) < width) halfBits++;
  const blockKey = domainKey(ctx.seed, Domain.Shipping);
  const orderKey = domainKey(ctx.seed, Domain.Order);
  return (n) => {
    const h = indexHash(records, n);
    const k = n - center;
    let m: number;
    if (k >= 0) {
      const block = Math.floor(k / width);
      m = block * width + permute(k - block * width, width, halfBits, indexHash(blockKey, block));
    } else {
      // Still at least the minimum delay once the stream is old enough for that.
      m = Math.floor(unit(h, Salt.A) * (n >= minLag ? n - minLag + 1 : n));
    }
    const timestamp = timestampOf(n, h);
    return {
      value: {
        shipmentId: `shipment-${n}`,
        orderId: orderId(m),
        // A property of the order, so the same order always goes with the same carrier.
        carrier: choose(CARRIERS, unit(indexHash(orderKey, m), Salt.A)),
        timestamp,
      },
      timestamp,
    };
  };
}

/**
 * A keyed pseudo-random permutation of [0, size): a four-round Feistel network over
 * the smallest even number of bits that covers size, cycle-walked back into range
 * (it terminates because the network permutes the whole power-of-two domain).
 */
function permute(x: number, size: number, halfBits: number, key: number): number {
  if (size <= 1) return 0;
  const mask = (1 << halfBits) - 1;
  const k0 = fmix(key);
  const k1 = fmix(k0 ^ Salt.A);
  const k2 = fmix(k1 ^ Salt.B);
  const k3 = fmix(k2 ^ Salt.C);
  do {
    let left = x >>> halfBits;
    let right = x & mask;
    let next = left ^ (fmix(right ^ k0) & mask);
    left = right;
    right = next;
    next = left ^ (fmix(right ^ k1) & mask);
    left = right;
    right = next;
    next = left ^ (fmix(right ^ k2) & mask);
    left = right;
    right = next;
    next = left ^ (fmix(right ^ k3) & mask);
    x = (right << halfBits) | next;
  } while (x >= size);
  return x;
}

const FAILED_LOGINS: EpisodeShape = {
  blockSize: 1024,
  probability: 0.6,
  minEvents: 4,
  maxEvents: 7,
  minGapMs: 1_000,
  maxGapMs: 5_000,
};

function ipAddress(h: number): string {
  const first = 11 + Math.floor(unit(h, Salt.A) * 212);
  const second = Math.floor(unit(h, Salt.B) * 256);
  const third = Math.floor(unit(h, Salt.C) * 256);
  return `${first === 127 ? 128 : first}.${second}.${third}.${1 + Math.floor(unit(h, Salt.D) * 254)}`;
}

/**
 * Logins mostly succeed, from the user's home address or a random mobile one.
 * Planted bursts: several failures in a row for one user from one address, a few
 * seconds apart, that usually (70%) end in a success: three to six failures and the
 * success, or four to seven failures that give up.
 */
function logins(ctx: Context): Factory {
  const { keys, eventIntervalMs } = ctx.spec;
  const { records, timestampOf } = ctx;
  const users = idTable('user-', keys);
  const userKey = domainKey(ctx.seed, Domain.User);
  const homes = new Array<string>(Math.min(keys, ID_CACHE_LIMIT));
  const home = (user: number): string =>
    user < homes.length ? (homes[user] ??= ipAddress(indexHash(userKey, user))) : ipAddress(indexHash(userKey, user));
  const episodes = new EpisodeBlocks(FAILED_LOGINS, domainKey(ctx.seed, Domain.Episode), keys, eventIntervalMs);
  return (n) => {
    const h = indexHash(records, n);
    const timestamp = timestampOf(n, h);
    const event = episodes.locate(n);
    let user: number;
    let success: boolean;
    let ip: string;
    if (event >= 0) {
      user = episodes.key;
      success = event === episodes.events - 1 && unit(episodes.hash, Salt.E) < 0.7;
      ip = ipAddress(fmix(episodes.hash ^ Salt.F));
    } else {
      user = Math.floor(unit(h, Salt.Key) * keys);
      if (event === INSIDE) user = avoid(user, episodes.key, keys);
      success = unit(h, Salt.A) < 0.95;
      ip = unit(h, Salt.B) < 0.85 ? home(user) : ipAddress(h);
    }
    return { value: { userId: users[user] ?? `user-${user}`, success, ip, timestamp }, timestamp };
  };
}

const PROFILES: Readonly<Record<GeneratorProfile, (ctx: Context) => Factory>> = {
  sequence,
  clickstream,
  sensor,
  transactions,
  orders,
  shipments,
  logins,
  nexmark,
};

/** The profiles' separate record hash streams: equal seeds must not mean correlated profiles. */
const PROFILE_DOMAINS: Readonly<Record<GeneratorProfile, number>> = {
  sequence: 1,
  clickstream: 2,
  sensor: 3,
  transactions: 4,
  orders: 5,
  shipments: 6,
  logins: 7,
  nexmark: 8,
};

function check(spec: GeneratorSpec): void {
  const fail = (message: string): never => {
    throw new RangeError(`generator: ${message}`);
  };
  if (!Number.isSafeInteger(spec.seed)) fail(`seed must be an integer, got ${spec.seed}`);
  if (!Number.isSafeInteger(spec.keys) || spec.keys < 1) fail(`keys must be an integer of at least 1, got ${spec.keys}`);
  if (!Number.isFinite(spec.startTime)) fail(`startTime must be finite, got ${spec.startTime}`);
  if (!(spec.eventIntervalMs >= 0 && Number.isFinite(spec.eventIntervalMs))) fail(`eventIntervalMs must be at least 0, got ${spec.eventIntervalMs}`);
  if (!(spec.maxOutOfOrdernessMs >= 0 && Number.isFinite(spec.maxOutOfOrdernessMs))) {
    fail(`maxOutOfOrdernessMs must be at least 0, got ${spec.maxOutOfOrdernessMs}`);
  }
  if (!(spec.lateFraction >= 0 && spec.lateFraction <= 1)) fail(`lateFraction must be in [0, 1], got ${spec.lateFraction}`);
  if (!(spec.lateByMs >= 0 && Number.isFinite(spec.lateByMs))) fail(`lateByMs must be at least 0, got ${spec.lateByMs}`);
}

/**
 * Returns a function giving record n (0-based index in the whole sequence across all
 * subtasks). Pure: the same (spec, n) always gives a deep-equal record, whatever was
 * asked before, so any subtask can produce any index and output does not depend on
 * parallelism. n must be a non-negative safe integer; it is not checked per record.
 *
 * @throws RangeError if the spec is out of range.
 */
export function recordFactory(spec: GeneratorSpec): (n: number) => GeneratedRecord {
  check(spec);
  const seed = seedKey(spec.seed);
  const ctx: Context = {
    spec,
    seed,
    records: domainKey(seed, PROFILE_DOMAINS[spec.profile]),
    timestampOf: timestampFunction(spec),
  };
  const unshifted = Math.floor(spec.maxOutOfOrdernessMs) === 0 && spec.lateFraction === 0;
  if (spec.profile === 'sequence' && unshifted) return plainSequence(ctx);
  return PROFILES[spec.profile](ctx);
}
