/**
 * The `nexmark` generator profile: the online-auction events of the Nexmark benchmark
 * (Person, Auction, Bid in proportions 1:3:46), reproducible from a seed.
 *
 * It keeps the standard model's rules: the kind of event n comes from n mod 50 (0 a
 * person, 1–3 an auction, 4–49 a bid); person and auction ids are numbered from the
 * event number (from 1000); a bid goes to one of the last 100 ("in-flight") auctions
 * or, half of the time, to the current hot auction; sellers and bidders are hot
 * persons three times in four, else one of the last 1000 ("active") persons; ids may
 * run up to 10 ahead of the last one created, as in the original. Prices are
 * log-uniform from 1.00 to 1,000,000.00 (in cents), categories 10–14, a bid's channel
 * is one of four hot channels half of the time, else one of 10,000 numbered ones with
 * a fixed URL each; `extra` pads records toward 200 / 500 / 100 bytes.
 *
 * Where it differs from the original (whose generator is not reproducible): every
 * random draw of event n comes from a stream seeded by (seed, n), so the same seed
 * always gives the same events and any subtask can produce any event; the base time
 * is the `startTime` setting, not the wall clock; strings (names of items, e-mail
 * parts, URL parts, `extra`) are slices of two seeded 1 MiB texts instead of being
 * built character by character; the name, city and channel tables are our own; and
 * bidder ids are person ids (the original Flink connector adds 1000 twice).
 *
 * Event time: `dateTime` of event n is `startTime + floor(n × eventIntervalMs)`, the
 * record's timestamp; 1000 / eventIntervalMs is the event-time rate.
 */
import type { GeneratorSpec, GeneratedRecord } from './generator-data.js';
import { fmix, GOLDEN, indexHash, TWO_POW_32 } from './hashing.js';

/** What the profile needs from the generator: the spec, key of the per-record hash stream, and its timestamp function. */
export interface NexmarkContext {
  readonly spec: GeneratorSpec;
  readonly seed: number;
  readonly records: number;
  readonly timestampOf: (n: number, h: number) => number;
}

export const NEXMARK_EVENT_TYPE = { person: 0, auction: 1, bid: 2 } as const;

/** Events per cycle, and how many of each kind (the standard 1:3:46). */
const CYCLE = 50;
const PERSONS_PER_CYCLE = 1;
const AUCTIONS_PER_CYCLE = 3;
const FIRST_ID = 1000;
const IN_FLIGHT_AUCTIONS = 100;
const ACTIVE_PERSONS = 1000;
/** Ids may lie this far beyond the last created one (a bid can precede its auction). */
const ID_LEAD = 10;
const HOT_GROUP = 100;
/** One in this many bids is not on the hot auction; one in this many sellers / bidders is not hot. */
const HOT_AUCTION_RATIO = 2;
const HOT_SELLER_RATIO = 4;
const HOT_BIDDER_RATIO = 4;
/** An auction lasts about as long as the next this-many events take (original: in-flight auctions × cycle / auctions per cycle). */
const AUCTION_HORIZON_EVENTS = Math.floor((IN_FLIGHT_AUCTIONS * CYCLE) / AUCTIONS_PER_CYCLE);
const AVG_PERSON_BYTES = 200;
const AVG_AUCTION_BYTES = 500;
const AVG_BID_BYTES = 100;
const CHANNELS = 10_000;

const TEXT_SIZE = 1 << 20;
const FIRST_NAMES = ['Ada', 'Boris', 'Chen', 'Dana', 'Emil', 'Farah', 'Gita', 'Hugo', 'Ines', 'Jonas', 'Kira'] as const;
const LAST_NAMES = ['Adler', 'Brandt', 'Costa', 'Dvorak', 'Engel', 'Fischer', 'Gomez', 'Horvat', 'Ivanov'] as const;
const CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'] as const;
/** The standard model's states; q3 selects OR, ID and CA. */
const STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'] as const;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'] as const;

/** Separate hash streams for the tables built once per seed. */
const Domain = { Text: 301, UrlText: 302, Channels: 303 } as const;

/**
 * The random draws of one event: a Weyl sequence through the MurmurHash3 finalizer,
 * restarted from the event's hash for every event, so event n never depends on others.
 */
class Draws {
  private state = 0;

  reset(h: number): void {
    this.state = h;
  }

  /** Uniform in [0, 1). */
  unit(): number {
    this.state = (this.state + GOLDEN) | 0;
    return fmix(this.state) / TWO_POW_32;
  }

  /** Uniform integer in [0, n); n ≤ 2^32. */
  below(n: number): number {
    return Math.floor(this.unit() * n);
  }

  pick<T>(list: readonly T[]): T {
    return list[this.below(list.length)] as T;
  }
}

/** A seeded text of lowercase letters in which one character in 13 (on average) is `special`. */
function seededText(key: number, special: string): string {
  const codes = new Uint8Array(TEXT_SIZE);
  const specialCode = special.charCodeAt(0);
  for (let i = 0; i < TEXT_SIZE; i++) {
    const h = indexHash(key, i);
    codes[i] = h % 13 === 0 ? specialCode : 97 + (Math.floor(h / 13) % 26);
  }
  return new TextDecoder().decode(codes);
}

/** Java's Integer.reverse: the 32 bits in reverse order, as a signed int. */
function reverseBits(x: number): number {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return ((x >>> 16) | (x << 16)) | 0;
}

export function nexmark(ctx: NexmarkContext): (n: number) => GeneratedRecord {
  const { spec, seed, records, timestampOf } = ctx;
  const interval = spec.eventIntervalMs;
  const text = seededText(fmix(seed ^ Math.imul(Domain.Text, GOLDEN)), ' ');
  const urlText = seededText(fmix(seed ^ Math.imul(Domain.UrlText, GOLDEN)), '_');
  const draws = new Draws();

  /** A trimmed slice of the text, 3 to max − 1 characters before trimming (the original's nextString). */
  const words = (max: number): string => {
    const length = 3 + draws.below(max - 3);
    const at = draws.below(TEXT_SIZE - length);
    return text.substring(at, at + length).trim();
  };
  const urlPart = (): string => {
    const length = 3 + draws.below(2);
    const at = draws.below(TEXT_SIZE - length);
    return urlText.substring(at, at + length);
  };
  const url = (): string => `https://www.nexmark.com/${urlPart()}/${urlPart()}/${urlPart()}/item.htm?query=1`;
  /** Padding toward an average record size: uniform length within ±20 % of what is missing. */
  const extra = (average: number, size: number): string => {
    const target = average - size;
    if (target <= 0) return '';
    const spread = Math.round(0.2 * target);
    const length = target - spread + (spread > 0 ? draws.below(2 * spread) : 0);
    const at = draws.below(TEXT_SIZE - length);
    return text.substring(at, at + length);
  };

  // Channel URLs are fixed per seed, drawn once from their own stream.
  const channelUrls: string[] = new Array<string>(CHANNELS);
  const channelKey = fmix(seed ^ Math.imul(Domain.Channels, GOLDEN));
  for (let i = 0; i < CHANNELS; i++) {
    draws.reset(indexHash(channelKey, i));
    const base = url();
    channelUrls[i] = draws.below(10) > 0 ? `${base}&channel_id=${Math.abs(reverseBits(i))}` : base;
  }
  const hotUrls = HOT_CHANNELS.map((_, i) => {
    draws.reset(indexHash(channelKey, CHANNELS + i));
    return url();
  });

  const price = (): number => Math.round(Math.pow(10, draws.unit() * 6) * 100);
  /** One of the last ACTIVE_PERSONS persons, or up to ID_LEAD beyond the last one. */
  const activePerson = (lastPerson: number): number => {
    const persons = lastPerson + 1;
    const active = Math.min(persons, ACTIVE_PERSONS);
    return persons - active + draws.below(active + ID_LEAD);
  };

  const person = (n: number, timestamp: number): GeneratedRecord => {
    const id = FIRST_ID + Math.floor(n / CYCLE) * PERSONS_PER_CYCLE;
    const name = `${draws.pick(FIRST_NAMES)} ${draws.pick(LAST_NAMES)}`;
    const emailAddress = `${words(7)}@${words(5)}.com`;
    const creditCard = [0, 1, 2, 3].map(() => String(draws.below(10_000)).padStart(4, '0')).join(' ');
    const city = draws.pick(CITIES);
    const state = draws.pick(STATES);
    const size = 16 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    return {
      value: {
        event_type: NEXMARK_EVENT_TYPE.person,
        person: { id, name, emailAddress, creditCard, city, state, dateTime: timestamp, extra: extra(AVG_PERSON_BYTES, size) },
      },
      timestamp,
    };
  };

  const auction = (n: number, timestamp: number): GeneratedRecord => {
    const cycle = Math.floor(n / CYCLE);
    const id = FIRST_ID + cycle * AUCTIONS_PER_CYCLE + (n % CYCLE) - PERSONS_PER_CYCLE;
    const itemName = words(20);
    const description = words(100);
    const initialBid = price();
    const reserve = initialBid + price();
    const horizon = Math.floor((n + AUCTION_HORIZON_EVENTS) * interval) - Math.floor(n * interval);
    const expires = timestamp + 1 + (horizon > 0 ? draws.below(2 * horizon) : 0);
    const lastPerson = cycle;
    const seller = FIRST_ID + (draws.below(HOT_SELLER_RATIO) > 0 ? Math.floor(lastPerson / HOT_GROUP) * HOT_GROUP : activePerson(lastPerson));
    const category = 10 + draws.below(5);
    const size = 56 + itemName.length + description.length;
    return {
      value: {
        event_type: NEXMARK_EVENT_TYPE.auction,
        auction: { id, itemName, description, initialBid, reserve, dateTime: timestamp, expires, seller, category, extra: extra(AVG_AUCTION_BYTES, size) },
      },
      timestamp,
    };
  };

  const bid = (n: number, timestamp: number): GeneratedRecord => {
    const cycle = Math.floor(n / CYCLE);
    const lastAuction = cycle * AUCTIONS_PER_CYCLE + AUCTIONS_PER_CYCLE - 1;
    let auctionId: number;
    if (draws.below(HOT_AUCTION_RATIO) > 0) {
      auctionId = Math.floor(lastAuction / HOT_GROUP) * HOT_GROUP;
    } else {
      const oldest = Math.max(lastAuction - IN_FLIGHT_AUCTIONS, 0);
      auctionId = oldest + draws.below(lastAuction - oldest + 1 + ID_LEAD);
    }
    const lastPerson = cycle;
    const bidder = FIRST_ID + (draws.below(HOT_BIDDER_RATIO) > 0 ? Math.floor(lastPerson / HOT_GROUP) * HOT_GROUP + 1 : activePerson(lastPerson));
    const amount = price();
    let channel: string;
    let link: string;
    if (draws.below(2) === 0) {
      const hot = draws.below(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[hot] as string;
      link = hotUrls[hot] as string;
    } else {
      const i = draws.below(CHANNELS);
      channel = `channel-${i}`;
      link = channelUrls[i] as string;
    }
    return {
      value: {
        event_type: NEXMARK_EVENT_TYPE.bid,
        bid: { auction: FIRST_ID + auctionId, bidder, price: amount, channel, url: link, dateTime: timestamp, extra: extra(AVG_BID_BYTES, 32) },
      },
      timestamp,
    };
  };

  return (n) => {
    const h = indexHash(records, n);
    draws.reset(h);
    const timestamp = timestampOf(n, h);
    const offset = n % CYCLE;
    if (offset < PERSONS_PER_CYCLE) return person(n, timestamp);
    if (offset < PERSONS_PER_CYCLE + AUCTIONS_PER_CYCLE) return auction(n, timestamp);
    return bid(n, timestamp);
  };
}
