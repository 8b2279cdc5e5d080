import { describe, expect, it } from 'vitest';
import type { GeneratorProfile } from '@sluice/graph-model';
import { recordFactory, type GeneratedRecord, type GeneratorSpec } from '../src/sources/generator-data.js';

/** The flat record profiles; `nexmark` (nested events) has its own test, nexmark-generator.test.ts. */
type FlatProfile = Exclude<GeneratorProfile, 'nexmark'>;
const PROFILES: readonly FlatProfile[] = ['sequence', 'clickstream', 'sensor', 'transactions', 'orders', 'shipments', 'logins'];

const BASE: Omit<GeneratorSpec, 'profile'> = {
  seed: 42,
  keys: 1000,
  startTime: 1_700_000_000_000,
  eventIntervalMs: 10,
  maxOutOfOrdernessMs: 0,
  lateFraction: 0,
  lateByMs: 0,
};

function spec(profile: GeneratorProfile, overrides: Partial<GeneratorSpec> = {}): GeneratorSpec {
  return { ...BASE, profile, ...overrides };
}

function records(s: GeneratorSpec, count: number): GeneratedRecord[] {
  const next = recordFactory(s);
  const out: GeneratedRecord[] = [];
  for (let n = 0; n < count; n++) out.push(next(n));
  return out;
}

/** A deterministic shuffle (LCG-driven Fisher–Yates), so the test itself repeats exactly. */
function shuffled(count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  let state = 12345;
  for (let i = count - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
  }
  return order;
}

// Plain checks rather than expect(): these run for hundreds of thousands of records.
function text(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function num(value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`expected a number, got ${JSON.stringify(value)}`);
  return value;
}

/** The numeric suffix of an id like `user-17`. */
function idNumber(id: unknown, prefix: string): number {
  const match = new RegExp(`^${prefix}-(\\d+)$`).exec(text(id));
  expect(match).not.toBeNull();
  return Number(match?.[1]);
}

const SHAPES: Readonly<Record<FlatProfile, Readonly<Record<string, 'string' | 'number' | 'boolean'>>>> = {
  sequence: { id: 'number', key: 'string', value: 'number', timestamp: 'number' },
  clickstream: { userId: 'string', page: 'string', action: 'string', referrer: 'string', durationMs: 'number', timestamp: 'number' },
  sensor: { sensorId: 'string', site: 'string', temperature: 'number', humidity: 'number', timestamp: 'number' },
  transactions: { transactionId: 'string', cardId: 'string', amount: 'number', merchant: 'string', country: 'string', timestamp: 'number' },
  orders: { orderId: 'string', customerId: 'string', amount: 'number', items: 'number', timestamp: 'number' },
  shipments: { shipmentId: 'string', orderId: 'string', carrier: 'string', timestamp: 'number' },
  logins: { userId: 'string', success: 'boolean', ip: 'string', timestamp: 'number' },
};

/** The field holding each profile's key, with its id prefix; shipments are keyed by order, which has its own test. */
const KEY_FIELDS: readonly (readonly [GeneratorProfile, string, string])[] = [
  ['sequence', 'key', 'key'],
  ['clickstream', 'userId', 'user'],
  ['sensor', 'sensorId', 'sensor'],
  ['transactions', 'cardId', 'card'],
  ['orders', 'customerId', 'customer'],
  ['logins', 'userId', 'user'],
];

describe('recordFactory: determinism', () => {
  it.each(PROFILES)('%s: the same index twice, and from a fresh factory, gives an equal record', (profile) => {
    const s = spec(profile, { maxOutOfOrdernessMs: 300, lateFraction: 0.1, lateByMs: 5000 });
    const a = recordFactory(s);
    const b = recordFactory({ ...s });
    for (const n of [0, 1, 2, 4095, 4096, 123_456, 2 ** 32 + 7, 2 ** 40 + 3]) {
      expect(a(n)).toEqual(a(n));
      expect(b(n)).toEqual(a(n));
    }
  });

  it.each(PROFILES)('%s: shuffled access equals in-order access', (profile) => {
    const s = spec(profile, { maxOutOfOrdernessMs: 300, lateFraction: 0.1, lateByMs: 5000 });
    const inOrder = records(s, 6000);
    const next = recordFactory(s);
    for (const n of shuffled(6000)) expect(next(n)).toEqual(inOrder[n]);
  });

  it('different seeds give different data', () => {
    const a = records(spec('clickstream', { seed: 1 }), 50).map((r) => r.value);
    const b = records(spec('clickstream', { seed: 2 }), 50).map((r) => r.value);
    expect(a).not.toEqual(b);
  });

  it('handles indices beyond 2^32', () => {
    const next = recordFactory(spec('sequence', { maxOutOfOrdernessMs: 100 }));
    const n = 2 ** 40 + 5;
    const record = next(n);
    expect(record.value.id).toBe(n);
    expect(BASE.startTime + n * BASE.eventIntervalMs - record.timestamp).toBeGreaterThanOrEqual(0);
    expect(next(n + 1)).not.toEqual(record);
  });
});

describe('recordFactory: timestamps', () => {
  it.each(PROFILES)('%s: the formula, within the jitter bound, equal to the timestamp field', (profile) => {
    const s = spec(profile, { eventIntervalMs: 7, maxOutOfOrdernessMs: 500, lateFraction: 0.1, lateByMs: 10_000 });
    let late = 0;
    let maxJitter = 0;
    const problems: string[] = [];
    records(s, 10_000).forEach((record, n) => {
      if (record.value.timestamp !== record.timestamp) problems.push(`record ${n}: timestamp field differs`);
      if (!Number.isInteger(record.timestamp)) problems.push(`record ${n}: timestamp ${record.timestamp} is not an integer`);
      let shift = s.startTime + n * s.eventIntervalMs - record.timestamp;
      if (shift > s.maxOutOfOrdernessMs) {
        late++;
        shift -= s.lateByMs;
      }
      if (!(shift >= 0 && shift <= s.maxOutOfOrdernessMs)) problems.push(`record ${n}: jitter ${shift} out of bounds`);
      maxJitter = Math.max(maxJitter, shift);
    });
    expect(problems.slice(0, 10)).toEqual([]);
    expect(late).toBeGreaterThan(850);
    expect(late).toBeLessThan(1150);
    expect(maxJitter).toBeGreaterThan(450);
  });

  it('lateFraction 0 gives no late records, and no shift at all without out-of-orderness', () => {
    records(spec('sensor', { maxOutOfOrdernessMs: 200, lateByMs: 60_000 }), 10_000).forEach((record, n) => {
      const shift = BASE.startTime + n * BASE.eventIntervalMs - record.timestamp;
      expect(shift).toBeGreaterThanOrEqual(0);
      expect(shift).toBeLessThanOrEqual(200);
    });
    records(spec('sequence'), 1000).forEach((record, n) => {
      expect(record.timestamp).toBe(BASE.startTime + n * BASE.eventIntervalMs);
    });
  });

  it('lateFraction 1 makes every record late', () => {
    records(spec('logins', { lateFraction: 1, lateByMs: 1000 }), 1000).forEach((record, n) => {
      expect(record.timestamp).toBe(BASE.startTime + n * BASE.eventIntervalMs - 1000);
    });
  });
});

describe('recordFactory: record shapes', () => {
  it.each(PROFILES)('%s: exactly the documented fields, with their types', (profile) => {
    const shape = SHAPES[profile];
    for (const { value } of records(spec(profile), 2000)) {
      expect(Object.keys(value).sort()).toEqual(Object.keys(shape).sort());
      for (const [field, type] of Object.entries(shape)) expect(typeof value[field]).toBe(type);
    }
  });

  it.each(KEY_FIELDS)('%s: %s stays below `keys`, and every key occurs', (profile, field, prefix) => {
    const keys = 7;
    const seen = new Set<number>();
    for (const { value } of records(spec(profile, { keys }), 5000)) {
      const key = idNumber(value[field], prefix);
      expect(key).toBeLessThan(keys);
      seen.add(key);
    }
    expect(seen.size).toBe(keys);
  });

  it('sequence: id and value count up, key is key-<id mod keys>, also past the cached ids', () => {
    const next = recordFactory(spec('sequence', { keys: 250_000 }));
    expect(next(5).value).toEqual({ id: 5, key: 'key-5', value: 5, timestamp: BASE.startTime + 50 });
    expect(next(150_000).value.key).toBe('key-150000');
    expect(next(250_003).value.key).toBe('key-3');
    expect(recordFactory(spec('sequence', { keys: 1 }))(99).value.key).toBe('key-0');
  });

  it('clickstream: a fixed set of shop pages; mostly views, some clicks, few purchases', () => {
    const actions = new Map<string, number>();
    const pages = new Set<string>();
    for (const { value } of records(spec('clickstream'), 20_000)) {
      const page = text(value.page);
      expect(page.startsWith('/')).toBe(true);
      pages.add(page);
      actions.set(text(value.action), (actions.get(text(value.action)) ?? 0) + 1);
      expect(Number.isInteger(num(value.durationMs))).toBe(true);
      expect(num(value.durationMs)).toBeGreaterThan(0);
    }
    expect(pages.size).toBeGreaterThanOrEqual(15);
    expect(pages.size).toBeLessThanOrEqual(25);
    expect([...actions.keys()].sort()).toEqual(['click', 'purchase', 'view']);
    const share = (action: string): number => (actions.get(action) ?? 0) / 20_000;
    expect(share('view')).toBeGreaterThan(0.7);
    expect(share('click')).toBeGreaterThan(0.05);
    expect(share('purchase')).toBeGreaterThan(0.001);
    expect(share('purchase')).toBeLessThan(0.05);
  });

  it('clickstream: users come in sessions that a 30 s gap separates', () => {
    const last = new Map<string, number>();
    let sessions = 0;
    for (const { value, timestamp } of records(spec('clickstream', { seed: 3, keys: 200, eventIntervalMs: 50 }), 20_000)) {
      const user = text(value.userId);
      const previous = last.get(user);
      if (previous === undefined || timestamp - previous > 30_000) sessions++;
      last.set(user, timestamp);
    }
    // Several clicks per session, yet more than one session per user.
    expect(sessions).toBeGreaterThan(200);
    expect(sessions).toBeLessThan(20_000 / 5);
  });

  it('sensor: one decimal, a stable level per sensor, and a fixed site per sensor', () => {
    const readings = new Map<string, number[]>();
    const sites = new Map<string, string>();
    for (const { value } of records(spec('sensor', { keys: 20, eventIntervalMs: 10 }), 20_000)) {
      const id = text(value.sensorId);
      const temperature = num(value.temperature);
      const humidity = num(value.humidity);
      expect(Math.round(temperature * 10) / 10).toBe(temperature);
      expect(Math.round(humidity * 10) / 10).toBe(humidity);
      expect(temperature).toBeGreaterThan(-30);
      expect(temperature).toBeLessThan(60);
      expect(humidity).toBeGreaterThanOrEqual(0);
      expect(humidity).toBeLessThanOrEqual(100);
      expect(sites.get(id) ?? value.site).toBe(value.site);
      sites.set(id, text(value.site));
      const list = readings.get(id) ?? [];
      list.push(temperature);
      readings.set(id, list);
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN;
    const levels: number[] = [];
    for (const values of readings.values()) {
      const half = values.length >> 1;
      // Over these 200 s of event time the level holds to well within a degree.
      expect(Math.abs(median(values.slice(0, half)) - median(values.slice(half)))).toBeLessThan(0.5);
      levels.push(median(values));
    }
    // …while sensors differ from one another.
    expect(Math.max(...levels) - Math.min(...levels)).toBeGreaterThan(5);
  });

  it('transactions and orders: amounts in cents; most payments ordinary', () => {
    let ordinary = 0;
    for (const { value } of records(spec('transactions'), 10_000)) {
      const amount = num(value.amount);
      expect(Math.round(amount * 100) / 100).toBe(amount);
      expect(amount).toBeGreaterThan(0);
      if (amount >= 1 && amount <= 500) ordinary++;
    }
    expect(ordinary / 10_000).toBeGreaterThan(0.95);
    for (const { value } of records(spec('orders'), 5000)) {
      const amount = num(value.amount);
      expect(Math.round(amount * 100) / 100).toBe(amount);
      expect(amount).toBeGreaterThan(0);
      expect(Number.isInteger(num(value.items))).toBe(true);
      expect(num(value.items)).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('recordFactory: planted patterns', () => {
  it('transactions: some card is charged under 1.00, then over 500.00 within a minute (the fraud example)', () => {
    // The detector of examples/card-fraud-detection.json: any charge on the card clears the small one.
    const smallAt = new Map<string, number>();
    const flagged = new Set<string>();
    const next = recordFactory(spec('transactions', { seed: 21, keys: 2000, eventIntervalMs: 20 }));
    for (let n = 0; n < 200_000; n++) {
      const { value, timestamp } = next(n);
      const card = text(value.cardId);
      const amount = num(value.amount);
      const small = smallAt.get(card);
      if (small !== undefined && amount > 500 && timestamp - small <= 60_000) flagged.add(card);
      smallAt.delete(card);
      if (amount < 1) smallAt.set(card, timestamp);
    }
    expect(flagged.size).toBeGreaterThanOrEqual(5);
    // A pattern, not the norm.
    expect(flagged.size).toBeLessThan(200);
  });

  it('logins: some user fails three or more times in a row, then succeeds (the CEP example)', () => {
    const failures = new Map<string, number>();
    let bursts = 0;
    for (const { value } of records(spec('logins', { seed: 9, keys: 300, eventIntervalMs: 200 }), 50_000)) {
      const user = text(value.userId);
      if (value.success === true) {
        if ((failures.get(user) ?? 0) >= 3) bursts++;
        failures.set(user, 0);
      } else {
        failures.set(user, (failures.get(user) ?? 0) + 1);
      }
      expect(text(value.ip)).toMatch(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
    }
    // Chance alone (5% failed logins) gives a handful; the planted bursts give a few dozen.
    expect(bursts).toBeGreaterThanOrEqual(15);
  });

  it.each([
    ['the join example', { seed: 5, keys: 50_000, eventIntervalMs: 100 }],
    ['a fast stream', { seed: 8, keys: 100, eventIntervalMs: 1 }],
    ['no event time between records', { seed: 6, keys: 100, eventIntervalMs: 0 }],
  ] as const)('shipments (%s) reference orders produced earlier by the orders profile', (_name, overrides) => {
    const count = 40_000;
    const timed = overrides.eventIntervalMs > 0;
    const orderIndex = new Map<string, number>();
    const orderTime = new Map<string, number>();
    records(spec('orders', overrides), count).forEach(({ value, timestamp }, m) => {
      orderIndex.set(text(value.orderId), m);
      orderTime.set(text(value.orderId), timestamp);
    });
    expect(orderIndex.size).toBe(count);
    // The warm-up: shipments before half an hour may ship an order a second time.
    const settled = timed ? 1_800_000 / overrides.eventIntervalMs : 500;
    const shippedAfterWarmUp = new Set<string>();
    // Collected rather than asserted one by one, so a failure lists its first cases.
    const problems: string[] = [];
    records(spec('shipments', overrides), count).forEach(({ value, timestamp }, n) => {
      const id = text(value.orderId);
      const m = orderIndex.get(id);
      const shippedAfter = timestamp - (orderTime.get(id) ?? Number.NaN);
      if (m === undefined) problems.push(`shipment ${n}: unknown ${id}`);
      else if (n > 0 && m >= n) problems.push(`shipment ${n}: order index ${m} is not earlier`);
      else if (n > 0 && timed && !(shippedAfter > 0)) problems.push(`shipment ${n}: shipped ${shippedAfter} ms after the order`);
      if (n < settled) return;
      if (timed && !(shippedAfter >= 60_000 && shippedAfter <= 1_800_000)) {
        problems.push(`shipment ${n}: shipped ${shippedAfter} ms after the order, not 1 to 30 minutes`);
      }
      if (shippedAfterWarmUp.has(id)) problems.push(`shipment ${n}: ${id} shipped twice`);
      shippedAfterWarmUp.add(id);
    });
    expect(problems.slice(0, 10)).toEqual([]);
    // After the warm-up, nearly every order old enough to ship has been shipped.
    expect(shippedAfterWarmUp.size).toBeGreaterThan((count - settled) * 0.9);
  });

  it('shipments: the same order always goes with the same carrier', () => {
    const carriers = new Map<string, string>();
    for (const { value } of records(spec('shipments', { keys: 100, eventIntervalMs: 0 }), 5000)) {
      const id = text(value.orderId);
      expect(carriers.get(id) ?? value.carrier).toBe(value.carrier);
      carriers.set(id, text(value.carrier));
    }
  });
});

describe('recordFactory: spec checks', () => {
  it.each([
    ['keys 0', { keys: 0 }],
    ['fractional keys', { keys: 2.5 }],
    ['fractional seed', { seed: 0.5 }],
    ['negative interval', { eventIntervalMs: -1 }],
    ['negative out-of-orderness', { maxOutOfOrdernessMs: -1 }],
    ['lateFraction above 1', { lateFraction: 1.5 }],
    ['NaN lateByMs', { lateByMs: Number.NaN }],
  ] as const)('rejects %s', (_name, overrides) => {
    expect(() => recordFactory(spec('sequence', overrides))).toThrow(RangeError);
  });
});
