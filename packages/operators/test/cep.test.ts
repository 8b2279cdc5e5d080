/**
 * The `cep` operator (Flink CEP in event time) through the operator harness. Most
 * expectations are Flink's own: the failed-logins example of this repository, the
 * contiguity and looping-contiguity examples of the Flink CEP documentation, and the
 * after-match-skip cases of Flink's AfterMatchSkipITCase (including the documentation's
 * `b+ c` over `b1 b2 b3 c`). Event time follows CepOperator: records wait in a buffer
 * until the watermark passes them and are matched in timestamp order; partial matches
 * time out when the watermark reaches `first + within`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getOperator, jobConfig, OPERATORS } from '@sluice/graph-model';
import { MAX_WATERMARK, NO_TIMESTAMP, RowKind } from '../src/api/elements.js';
import { OneInputHarness, type HarnessSnapshot, type OutputElement } from '../src/harness/harness.js';
import type { OperatorEnv } from '../src/registry.js';
import { CepOperator, type CepOperatorConfig } from '../src/process/cep.js';

const env: OperatorEnv = {
  job: jobConfig.parse({}),
  fn: (s) => new Function('return (' + s + ')')() as unknown,
  collector: () => ({ push() {}, commit() {} }),
  print() {},
};

/** The catalog entry's config type, after defaults; assigning it to CepOperatorConfig checks at compile time that the two agree. */
type CatalogConfig = ReturnType<Extract<(typeof OPERATORS)[number], { configSchema: { shape: { afterMatchSkip: unknown; steps: unknown } } }>['configSchema']['parse']>;

/** A config as the graph validator hands it over: parsed by the catalog schema, defaults applied. */
function parsed(config: unknown): CepOperatorConfig {
  const definition = getOperator('cep');
  if (!definition) throw new Error('no catalog entry for cep');
  return definition.configSchema.parse(config) as CatalogConfig;
}

// ---------------------------------------------------------------------------------
// Letters: records named like Flink's test events (a1, b2, c…), the step condition
// being the name's first letter.

interface Ev {
  k: string;
  id: string;
  v?: number;
}

type Skip = 'no-skip' | 'skip-past-last-event' | 'skip-to-next';
type Contiguity = 'strict' | 'relaxed' | 'non-deterministic-relaxed';

/** A step matching records whose id starts with `letter` (the step is named after the letter). */
function step(letter: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: letter, where: `(e) => e.id.startsWith('${letter}')`, ...extra };
}

function cepHarness<T = Ev>(config: unknown, options: { restore?: HarnessSnapshot; connected?: string[]; key?: (v: T) => string } = {}): OneInputHarness<T> {
  const key = options.key ?? ((v: T) => (v as Ev).k);
  return new OneInputHarness<T>(new CepOperator(parsed(config), env), {
    keySelector: key,
    ...(options.connected ? { connectedOutputs: options.connected } : {}),
  }).open(options.restore);
}

/** A match as text: its records' ids in step order, e.g. 'b1 b2 b3 c'. */
function text(match: unknown): string {
  return Object.values(match as Record<string, Ev[]>)
    .flat()
    .map((e) => e.id)
    .join(' ');
}

/** Feeds ids one timestamp apart (1, 2, …) for one key, then ends the input; returns the matches as text. */
function matchesOf(config: Record<string, unknown>, ids: readonly string[]): string[] {
  const h = cepHarness(config);
  ids.forEach((id, i) => h.processElement({ k: 'key', id }, i + 1));
  h.endInput();
  return h.values().map(text);
}

const pattern = (steps: unknown[], rest: Record<string, unknown> = {}): Record<string, unknown> => ({ steps, ...rest });

// ---------------------------------------------------------------------------------
// The failed-logins example, with its config taken from the example file.

interface Login {
  userId: string;
  success: boolean | null;
  ip: string;
  timestamp: number;
}

const example = JSON.parse(readFileSync(new URL('../../../examples/failed-logins-cep.json', import.meta.url), 'utf8')) as {
  nodes: Array<{ id: string; type: string; config: Record<string, unknown> }>;
};
const loginsNode = example.nodes.find((n) => n.type === 'cep');
if (!loginsNode) throw new Error('the failed-logins example has no cep node');
const loginsConfig = loginsNode.config;

const MINUTE = 60_000;
const T0 = 1_700_000_000_000;
const byUser = (l: Login) => l.userId;
const login = (userId: string, success: boolean | null, atMinutes: number, ip = '10.0.0.1'): Login => ({ userId, success, ip, timestamp: T0 + atMinutes * MINUTE });
const logins = (options: { restore?: HarnessSnapshot; connected?: string[] } = {}) => cepHarness<Login>(loginsConfig, { ...options, key: byUser });

function feed(h: OneInputHarness<Login>, records: readonly Login[]): void {
  for (const r of records) h.processElement(r, r.timestamp);
}

describe('cep: the failed-logins example (three failures, then a success, within ten minutes)', () => {
  it('matches three failures followed by a success, and emits select(match) stamped with the success’s time', () => {
    const h = logins();
    const success = login('u1', true, 3, '192.168.7.7');
    feed(h, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), success]);
    h.processWatermark(success.timestamp);
    expect(h.records()).toEqual([
      { value: { userId: 'u1', ip: '192.168.7.7', failures: 3, at: success.timestamp }, timestamp: success.timestamp, kind: RowKind.INSERT },
    ]);
  });

  it('keeps users apart: interleaved users match independently', () => {
    const h = logins();
    feed(h, [login('u1', false, 0), login('u2', false, 0.5), login('u1', false, 1), login('u2', true, 1.5), login('u1', false, 2), login('u2', false, 2.5), login('u1', true, 3)]);
    h.endInput();
    expect(h.values()).toEqual([{ userId: 'u1', ip: '10.0.0.1', failures: 3, at: T0 + 3 * MINUTE }]);
  });

  it('does not match a success after only two failures', () => {
    const h = logins();
    feed(h, [login('u1', false, 0), login('u1', false, 1), login('u1', true, 2)]);
    h.endInput();
    expect(h.values()).toEqual([]);
  });

  it('does not match when anything comes between the last failure and the success (strict contiguity of `success`)', () => {
    const h = logins();
    // A record that is neither a failure nor a success breaks next().
    feed(h, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), login('u1', null, 3), login('u1', true, 4)]);
    h.endInput();
    expect(h.values()).toEqual([]);
    // With relaxed contiguity the same input matches.
    const relaxedConfig = { ...loginsConfig, steps: (loginsConfig.steps as Array<Record<string, unknown>>).map((s) => (s.name === 'success' ? { ...s, contiguity: 'relaxed' } : s)) };
    const relaxed = cepHarness<Login>(relaxedConfig, { key: byUser });
    feed(relaxed, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), login('u1', null, 3), login('u1', true, 4)]);
    relaxed.endInput();
    expect(relaxed.values()).toHaveLength(1);
  });

  it('counts failures with relaxed contiguity inside times(3), as Flink’s default: a success between failures does not reset the count', () => {
    // Flink's times() has relaxed internal contiguity unless consecutive() is set (the catalog has no such option):
    // f f s f s matches with failures [f1, f2, f4]; only the step after the loop is strict.
    const h = logins();
    const records = [login('u1', false, 0), login('u1', false, 1), login('u1', true, 2), login('u1', false, 3), login('u1', true, 4)];
    feed(h, records);
    h.endInput();
    expect(h.values()).toEqual([{ userId: 'u1', ip: '10.0.0.1', failures: 3, at: T0 + 4 * MINUTE }]);
  });

  it('skips past the last event: four failures and a success give one match, with the last three failures', () => {
    const config = { ...loginsConfig, select: undefined };
    const h = cepHarness<Login>(config, { key: byUser });
    const records = [0, 1, 2, 3].map((m) => login('u1', false, m));
    feed(h, [...records, login('u1', true, 4)]);
    h.endInput();
    expect(h.values()).toEqual([{ failures: records.slice(1), success: [login('u1', true, 4)] }]);
  });

  it('times out a slow sequence into `timed-out` as { key, matched } at first + within, and does not match it', () => {
    const h = logins();
    // The success comes 11 minutes after the first failure: that partial match is older than within (10 minutes).
    feed(h, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), login('u1', true, 11)]);
    h.processWatermark(T0 + 11 * MINUTE);
    expect(h.values()).toEqual([]);
    expect(h.side('timed-out')).toEqual([
      { value: { key: 'u1', matched: { failures: [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2)] } }, timestamp: T0 + 10 * MINUTE, kind: RowKind.INSERT },
      { value: { key: 'u1', matched: { failures: [login('u1', false, 1), login('u1', false, 2)] } }, timestamp: T0 + 11 * MINUTE, kind: RowKind.INSERT },
    ]);
    // The partial match from the third failure (9 minutes old) is still alive; the end of input times it out.
    h.endInput();
    expect(h.side('timed-out').slice(2)).toEqual([
      { value: { key: 'u1', matched: { failures: [login('u1', false, 2)] } }, timestamp: T0 + 12 * MINUTE, kind: RowKind.INSERT },
    ]);
    expect(h.values()).toEqual([]);
    // Nothing is left behind for the key.
    expect(h.ctx.heapBackend?.size().entries).toBe(0);
  });

  it('times out a match that would span exactly `within` (Flink: timestamp - first >= within), and keeps one just under it', () => {
    const h = logins();
    feed(h, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), login('u1', true, 10)]);
    h.endInput();
    expect(h.values()).toEqual([]);
    const g = logins();
    const justUnder = { ...login('u1', true, 10), timestamp: T0 + 10 * MINUTE - 1 };
    feed(g, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), justUnder]);
    g.endInput();
    expect(g.values()).toHaveLength(1);
  });

  it('times out on the watermark alone, without further records for the key', () => {
    const h = logins();
    feed(h, [login('u1', false, 0), login('u1', false, 1)]);
    h.processWatermark(T0 + 9 * MINUTE);
    expect(h.side('timed-out')).toEqual([]);
    h.processWatermark(T0 + 10 * MINUTE);
    expect(h.side('timed-out').map((r) => r.timestamp)).toEqual([T0 + 10 * MINUTE]);
    h.processWatermark(T0 + 11 * MINUTE);
    expect(h.side('timed-out').map((r) => r.timestamp)).toEqual([T0 + 10 * MINUTE, T0 + 11 * MINUTE]);
    // Timed-out partial matches are emitted before the watermark that timed them out.
    expect(h.output.elements.filter((e) => e.type === 'watermark').map((e) => (e as { watermark: number }).watermark)).toEqual([
      T0 + 9 * MINUTE,
      T0 + 10 * MINUTE,
      T0 + 11 * MINUTE,
    ]);
  });

  it('drops timed-out partial matches when `timed-out` is not connected', () => {
    const h = logins({ connected: [] });
    feed(h, [login('u1', false, 0), login('u1', false, 1), login('u1', false, 2), login('u1', true, 11)]);
    h.endInput();
    expect(h.values()).toEqual([]);
    expect(h.output.sides.size).toBe(0);
    expect(h.ctx.heapBackend?.size().entries).toBe(0);
  });
});

describe('cep: event time (Flink’s CepOperator)', () => {
  it('matches nothing before the watermark passes the records, then sorts them by timestamp', () => {
    const h = logins();
    // Arrival order: success, then failures out of order.
    feed(h, [login('u1', true, 4), login('u1', false, 2), login('u1', false, 1), login('u1', false, 3)]);
    expect(h.values()).toEqual([]);
    h.processWatermark(T0 + 3 * MINUTE);
    expect(h.values()).toEqual([]);
    h.processWatermark(T0 + 4 * MINUTE);
    const [match] = h.records();
    expect(match?.timestamp).toBe(T0 + 4 * MINUTE);
    const raw = cepHarness<Login>({ ...loginsConfig, select: undefined }, { key: byUser });
    feed(raw, [login('u1', true, 4), login('u1', false, 2), login('u1', false, 1), login('u1', false, 3)]);
    raw.processWatermark(T0 + 4 * MINUTE);
    expect(raw.values()).toEqual([{ failures: [1, 2, 3].map((m) => login('u1', false, m)), success: [login('u1', true, 4)] }]);
  });

  it('keeps arrival order among records of the same timestamp', () => {
    const h = cepHarness(pattern([step('a'), step('b', { contiguity: 'strict' })]));
    h.processElement({ k: 'key', id: 'b1' }, 5);
    h.processElement({ k: 'key', id: 'a1' }, 5);
    h.processElement({ k: 'key', id: 'b2' }, 5);
    h.endInput();
    expect(h.values().map(text)).toEqual(['a1 b2']);
  });

  it('drops records at or behind the watermark as late, counting them in lateRecordsDropped', () => {
    const h = logins();
    h.processWatermark(T0 + 5 * MINUTE);
    feed(h, [login('u1', false, 5), login('u1', false, 4), login('u1', false, 6)]);
    expect(h.ctx.metrics.lateRecordsDropped).toBe(2);
    expect(h.ctx.heapBackend?.describeKey('u1')['cep-buffer']).toHaveLength(1);
  });

  it('rejects records without a timestamp and retractions', () => {
    const h = logins();
    expect(() => h.processElement(login('u1', false, 0), NO_TIMESTAMP)).toThrow(/no event-time timestamp/);
    expect(() => h.processElement(login('u1', false, 0), T0, RowKind.DELETE)).toThrow(/retractions/);
  });

  it('emits each match before the watermark that completed it, stamped with its last record’s time', () => {
    const h = cepHarness(pattern([step('a'), step('b')]));
    h.processElement({ k: 'key', id: 'a1' }, 10);
    h.processElement({ k: 'key', id: 'b1' }, 20);
    h.processElement({ k: 'key', id: 'b2' }, 30);
    h.processWatermark(25);
    h.processWatermark(MAX_WATERMARK);
    const shape = h.output.elements.map((e: OutputElement) => (e.type === 'record' ? `${text(e.value)}@${e.timestamp}` : e.type === 'watermark' ? `wm ${e.watermark}` : 'idle'));
    expect(shape).toEqual(['a1 b1@20', 'wm 25', `wm ${MAX_WATERMARK}`]);
  });
});

describe('cep: event time over seeded random input', () => {
  function mulberry32(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Per key and output: the matches and the timed-out partial matches (text and timestamp), in output order. */
  function perKey(h: OneInputHarness<Ev>): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    const add = (key: string, line: string) => (out[key] ??= []).push(line);
    for (const r of h.records()) {
      const first = Object.values(r.value as Record<string, Ev[]>)[0]?.[0];
      add(`${first?.k ?? '?'} main`, `match ${text(r.value)} @${r.timestamp}`);
    }
    for (const r of h.side<{ key: string; matched: unknown }>('timed-out')) add(`${r.value.key} timed-out`, `timeout ${text(r.value.matched)} @${r.timestamp}`);
    return out;
  }

  const SEEDS = Array.from({ length: 12 }, (_, i) => 500 + i);
  const skips: Skip[] = ['no-skip', 'skip-to-next', 'skip-past-last-event'];

  it.each(SEEDS)('out-of-order arrival with watermarks, and a snapshot/restore on the way, give what in-order arrival gives (seed %i)', (seed) => {
    const random = mulberry32(seed);
    const letters = ['a', 'b', 'b', 'c', 'x'];
    const records: Array<[Ev, number]> = Array.from({ length: 150 }, (_, i) => {
      const letter = letters[Math.floor(random() * letters.length)] as string;
      return [{ k: `k${Math.floor(random() * 3)}`, id: `${letter}${i}` }, i + 1];
    });
    // Bounded out-of-orderness of 10: each record arrives at most 10 time units late.
    const arrival = records.map((r) => ({ r, at: r[1] + Math.floor(random() * 11) })).sort((x, y) => x.at - y.at);
    const cut = Math.floor(random() * arrival.length);
    for (const afterMatchSkip of skips) {
      const config = pattern([step('a'), step('b', { quantifier: { kind: 'one-or-more' } }), step('c', { contiguity: 'non-deterministic-relaxed' })], { afterMatchSkip, withinMs: 25 });

      const inOrder = cepHarness(config);
      for (const [e, t] of records) inOrder.processElement(e, t);
      inOrder.endInput();

      let maxSeen = Number.NEGATIVE_INFINITY;
      const feedFrom = (h: OneInputHarness<Ev>, from: number, to: number) => {
        for (const { r } of arrival.slice(from, to)) {
          h.processElement(r[0], r[1]);
          maxSeen = Math.max(maxSeen, r[1]);
          h.processWatermark(maxSeen - 11);
        }
      };
      const first = cepHarness(config);
      feedFrom(first, 0, cut);
      const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as HarnessSnapshot;
      const second = cepHarness(config, { restore: snapshot });
      feedFrom(second, cut, arrival.length);
      second.endInput();
      expect(first.ctx.metrics.lateRecordsDropped + second.ctx.metrics.lateRecordsDropped).toBe(0);

      const expected = perKey(inOrder);
      const a = perKey(first);
      const b = perKey(second);
      const actual: Record<string, string[]> = {};
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) actual[key] = [...(a[key] ?? []), ...(b[key] ?? [])];
      if (afterMatchSkip === 'no-skip') {
        expect(actual, afterMatchSkip).toEqual(expected);
      } else {
        // A match held back by the skip strategy is released at the time advanced to, which depends on the watermarks.
        const withoutTime = (m: Record<string, string[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.map((line) => (line.startsWith('match') ? line.replace(/ @.*$/, '') : line))]));
        expect(withoutTime(actual), afterMatchSkip).toEqual(withoutTime(expected));
      }
      expect(Object.values(expected).flat().length).toBeGreaterThan(0);
    }
  });
});

describe('cep: quantifiers', () => {
  it('one: each step takes one record', () => {
    expect(matchesOf(pattern([step('a'), step('b')]), ['a1', 'x', 'b1'])).toEqual(['a1 b1']);
  });

  it('times(3): every three records in a row (Flink AfterMatchSkipITCase.testNoSkip)', () => {
    expect(matchesOf(pattern([step('a', { quantifier: { kind: 'times', times: 3 } })]), ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'])).toEqual([
      'a1 a2 a3',
      'a2 a3 a4',
      'a3 a4 a5',
      'a4 a5 a6',
    ]);
  });

  it('times-range(2, 3): two or three records', () => {
    expect(matchesOf(pattern([step('a', { quantifier: { kind: 'times-range', from: 2, to: 3 } })]), ['a1', 'a2', 'a3'])).toEqual(['a1 a2', 'a1 a2 a3', 'a2 a3']);
  });

  it('times-range(0, 2): the step may be left out (Flink’s times(0, n) is optional)', () => {
    const config = pattern([step('a', { quantifier: { kind: 'times-range', from: 0, to: 2 } }), step('b', { contiguity: 'strict' })]);
    expect(matchesOf(config, ['b1'])).toEqual(['b1']);
    expect(matchesOf(config, ['a1', 'b1'])).toEqual(['a1 b1', 'b1']);
    expect(matchesOf(config, ['a1', 'a2', 'b1'])).toEqual(['a1 a2 b1', 'a2 b1', 'b1']);
  });

  it('one-or-more with relaxed contiguity inside the loop (Flink docs, “Contiguity within looping patterns”: C D A1 A2 A3 D A4 B)', () => {
    const config = pattern([step('c'), step('a', { quantifier: { kind: 'one-or-more' } }), step('b')]);
    // All four complete on b and start at c: Flink's order among them is unspecified (a priority queue by first record).
    expect(matchesOf(config, ['c', 'd1', 'a1', 'a2', 'a3', 'd2', 'a4', 'b']).sort()).toEqual(['c a1 a2 a3 a4 b', 'c a1 a2 a3 b', 'c a1 a2 b', 'c a1 b']);
  });

  it('one-or-more at the end completes a match with every record it takes (Flink AfterMatchSkipITCase: a next b+)', () => {
    const config = pattern([step('a'), step('b', { quantifier: { kind: 'one-or-more' }, contiguity: 'strict' })]);
    expect(matchesOf(config, ['a1', 'b1', 'b2', 'b3'])).toEqual(['a1 b1', 'a1 b1 b2', 'a1 b1 b2 b3']);
  });

  it('times-or-more(2): at least two records', () => {
    const config = pattern([step('a'), step('b', { quantifier: { kind: 'times-or-more', times: 2 } })]);
    expect(matchesOf(config, ['a1', 'b1', 'x', 'b2', 'b3'])).toEqual(['a1 b1 b2', 'a1 b1 b2 b3']);
  });

  it('optional: a step that may be left out, with both branches kept', () => {
    const config = pattern([step('a'), step('b', { optional: true }), step('c')]);
    expect(matchesOf(config, ['a1', 'x', 'c1'])).toEqual(['a1 c1']);
    expect(matchesOf(config, ['a1', 'b1', 'c1'])).toEqual(['a1 b1 c1', 'a1 c1']);
  });

  it('a step with neither where nor conditions matches any record', () => {
    const config = pattern([step('a'), { name: 'any', contiguity: 'strict' }]);
    // z9 completes a1's match; the final a2 has nothing after it, so it stays a partial match.
    expect(matchesOf(config, ['a1', 'z9', 'a2'])).toEqual(['a1 z9']);
    expect(matchesOf(config, ['a1', 'a2', 'a3'])).toEqual(['a1 a2', 'a2 a3']);
  });
});

describe('cep: conditions', () => {
  it('field conditions (compileConditions, all must hold)', () => {
    const config = pattern([
      { name: 'big', conditions: [{ field: 'v', op: 'gt', value: 100 }] },
      { name: 'small', conditions: [{ field: 'v', op: 'lt', value: 10 }, { field: 'id', op: 'starts-with', value: 's' }], contiguity: 'strict' },
    ]);
    const h = cepHarness(config);
    const input: Ev[] = [
      { k: 'key', id: 'b1', v: 500 },
      { k: 'key', id: 'x1', v: 5 },
      { k: 'key', id: 'b2', v: 200 },
      { k: 'key', id: 's1', v: 3 },
    ];
    input.forEach((e, i) => h.processElement(e, i + 1));
    h.endInput();
    expect(h.values().map(text)).toEqual(['b2 s1']);
  });

  it('iterative conditions: ctx.events(step) holds the records this partial match took for a step so far', () => {
    // Each later price must exceed the previous one of the same run (Flink's IterativeCondition).
    const rising = `(e, ctx) => { const run = ctx.events('run'); return run.length === 0 || e.v > run[run.length - 1].v; }`;
    const config = pattern([
      { name: 'start', where: `(e) => e.id === 'start'` },
      { name: 'run', where: rising, quantifier: { kind: 'times', times: 3 }, contiguity: 'strict' },
      { name: 'end', where: `(e, ctx) => e.id === 'end' && ctx.events('start').length === 1 && ctx.events('nope').length === 0` },
    ]);
    const h = cepHarness(config);
    const values = [1, 5, 3, 4, 6, 9];
    h.processElement({ k: 'key', id: 'start' }, 1);
    values.forEach((v, i) => h.processElement({ k: 'key', id: `p${v}`, v }, i + 2));
    h.processElement({ k: 'key', id: 'end' }, 20);
    h.endInput();
    // p1 p5 then p3 is skipped (relaxed inside times), p4 is not above p5, p6 is: start p1 p5 p6 end.
    expect(h.values().map(text)).toEqual(['start p1 p5 p6 end']);
  });
});

describe('cep: failing user code', () => {
  it('fails the task when a condition throws, naming the step', () => {
    const h = cepHarness(pattern([step('a'), { name: 'broken', where: '(e) => e.missing.field' }]));
    h.processElement({ k: 'key', id: 'a1' }, 1);
    h.processElement({ k: 'key', id: 'b1' }, 2);
    expect(() => h.processWatermark(2)).toThrow(/condition of pattern step 'broken' failed/);
  });
});

describe('cep: contiguity (Flink docs: pattern "a b", input a, c, b1, b2)', () => {
  const run = (contiguity: Contiguity) => matchesOf(pattern([step('a'), step('b', { contiguity })]), ['a', 'c', 'b1', 'b2']);

  it('strict (next): no match', () => {
    expect(run('strict')).toEqual([]);
  });

  it('relaxed (followedBy): {a b1}', () => {
    expect(run('relaxed')).toEqual(['a b1']);
  });

  it('non-deterministic relaxed (followedByAny): {a b1}, {a b2}: more matches than followedBy on the same input', () => {
    expect(run('non-deterministic-relaxed')).toEqual(['a b1', 'a b2']);
    expect(run('non-deterministic-relaxed').length).toBeGreaterThan(run('relaxed').length);
  });

  it('followedByAny with the skip strategies (Flink AfterMatchSkipITCase, a1 b1 a2 b2)', () => {
    const config = (afterMatchSkip: Skip) => pattern([step('a'), step('b', { contiguity: 'non-deterministic-relaxed' })], { afterMatchSkip });
    expect(matchesOf(config('no-skip'), ['a1', 'b1', 'a2', 'b2'])).toEqual(['a1 b1', 'a1 b2', 'a2 b2']);
    expect(matchesOf(config('skip-to-next'), ['a1', 'b1', 'a2', 'b2'])).toEqual(['a1 b1', 'a2 b2']);
    expect(matchesOf(config('skip-past-last-event'), ['a1', 'b1', 'a2', 'b2'])).toEqual(['a1 b1', 'a2 b2']);
  });

  it('followedByAny through several steps, skipping past the last event (Flink AfterMatchSkipITCase.testSkipPastLast2)', () => {
    const config = pattern(
      [step('a'), step('b', { contiguity: 'non-deterministic-relaxed' }), step('c', { contiguity: 'non-deterministic-relaxed' }), step('d')],
      { afterMatchSkip: 'skip-past-last-event' },
    );
    expect(matchesOf(config, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2', 'd1', 'd2'])).toEqual(['a1 b1 c1 d1']);
  });
});

describe('cep: after-match skip strategies (Flink docs: pattern b+ c, input b1 b2 b3 c)', () => {
  const run = (afterMatchSkip: Skip) =>
    matchesOf(pattern([step('b', { quantifier: { kind: 'one-or-more' } }), step('c', { contiguity: 'strict' })], { afterMatchSkip }), ['b1', 'b2', 'b3', 'c']);

  it('no-skip: b1 b2 b3 c, b2 b3 c, b3 c', () => {
    expect(run('no-skip')).toEqual(['b1 b2 b3 c', 'b2 b3 c', 'b3 c']);
  });

  it('skip-to-next: b1 b2 b3 c, b2 b3 c, b3 c (no other match could start at b1)', () => {
    expect(run('skip-to-next')).toEqual(['b1 b2 b3 c', 'b2 b3 c', 'b3 c']);
  });

  it('skip-past-last-event: b1 b2 b3 c only', () => {
    expect(run('skip-past-last-event')).toEqual(['b1 b2 b3 c']);
  });

  it('skip-to-next keeps one match per first record (Flink AfterMatchSkipITCase: a next b+ gives a1 b1 only)', () => {
    const config = pattern([step('a'), step('b', { quantifier: { kind: 'one-or-more' }, contiguity: 'strict' })], { afterMatchSkip: 'skip-to-next' });
    expect(matchesOf(config, ['a1', 'b1', 'b2', 'b3'])).toEqual(['a1 b1']);
  });

  it('skip-past-last-event never overlaps matches (Flink AfterMatchSkipITCase.testSkipPastLast: a{3} over a1…a6)', () => {
    const config = pattern([step('a', { quantifier: { kind: 'times', times: 3 } })], { afterMatchSkip: 'skip-past-last-event' });
    expect(matchesOf(config, ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'])).toEqual(['a1 a2 a3', 'a4 a5 a6']);
  });

  it('holds a match back while an earlier partial match may still complete, and releases it when that one times out', () => {
    // b must carry the same v as the a it follows: a1(v=1) waits while a2(v=2) b(v=2) completes.
    const config = (afterMatchSkip: Skip) =>
      pattern([{ name: 'a', where: `(e) => e.id.startsWith('a')` }, { name: 'b', where: `(e, ctx) => e.id.startsWith('b') && e.v === ctx.events('a')[0].v` }], {
        afterMatchSkip,
        withinMs: 10,
      });
    const input: Array<[Ev, number]> = [
      [{ k: 'key', id: 'a1', v: 1 }, 1],
      [{ k: 'key', id: 'a2', v: 2 }, 2],
      [{ k: 'key', id: 'b2', v: 2 }, 3],
    ];

    const noSkip = cepHarness(config('no-skip'));
    for (const [e, t] of input) noSkip.processElement(e, t);
    noSkip.processWatermark(5);
    expect(noSkip.records().map((r) => `${text(r.value)}@${r.timestamp}`)).toEqual(['a2 b2@3']);

    const skipping = cepHarness(config('skip-past-last-event'));
    for (const [e, t] of input) skipping.processElement(e, t);
    skipping.processWatermark(5);
    expect(skipping.values()).toEqual([]);
    // a1's partial match times out at 1 + 10; the match is released at the time advanced to (Flink), here watermark 20.
    skipping.processWatermark(20);
    expect(skipping.records().map((r) => `${text(r.value)}@${r.timestamp}`)).toEqual(['a2 b2@20']);
    expect(skipping.side('timed-out')).toEqual([{ value: { key: 'key', matched: { a: [{ k: 'key', id: 'a1', v: 1 }] } }, timestamp: 11, kind: RowKind.INSERT }]);

    // At the end of input the final watermark has no time: the release takes the time of the timeout.
    const ended = cepHarness(config('skip-past-last-event'));
    for (const [e, t] of input) ended.processElement(e, t);
    ended.endInput();
    expect(ended.records().map((r) => `${text(r.value)}@${r.timestamp}`)).toEqual(['a2 b2@11']);
  });
});

describe('cep: select', () => {
  it('emits the match object itself when there is no select, with only the steps that took records, in step order', () => {
    const h = cepHarness(pattern([step('a'), step('b', { optional: true }), step('c')]));
    h.processElement({ k: 'key', id: 'a1' }, 1);
    h.processElement({ k: 'key', id: 'c1' }, 2);
    h.endInput();
    expect(h.values()).toEqual([{ a: [{ k: 'key', id: 'a1' }], c: [{ k: 'key', id: 'c1' }] }]);
    expect(Object.keys(h.values()[0] as object)).toEqual(['a', 'c']);
  });

  it('emits select(match) when configured', () => {
    const h = cepHarness(pattern([step('a'), step('b')], { select: `(m) => m.a[0].id + '->' + m.b.map((e) => e.id).join('+')` }));
    h.processElement({ k: 'key', id: 'a1' }, 1);
    h.processElement({ k: 'key', id: 'b1' }, 2);
    h.endInput();
    expect(h.values()).toEqual(['a1->b1']);
  });
});

describe('cep: snapshot and restore', () => {
  type Step = { record: Login } | { watermark: number };
  const script: Step[] = [
    { record: login('u1', false, 0) },
    { record: login('u2', false, 0.2) },
    { record: login('u1', false, 1) },
    { watermark: T0 + 1 * MINUTE },
    { record: login('u2', false, 1.5) },
    { record: login('u1', false, 2) },
    // Buffered, not yet matched, when some snapshots are taken.
    { record: login('u1', true, 3, '172.16.0.9') },
    { record: login('u2', false, 2.5) },
    { watermark: T0 + 2.5 * MINUTE },
    { record: login('u3', false, 3) },
    { watermark: T0 + 3 * MINUTE },
    { record: login('u2', true, 12) },
    { watermark: T0 + 12 * MINUTE },
    { record: login('u3', false, 14) },
  ];

  function run(h: OneInputHarness<Login>, steps: readonly Step[]): void {
    for (const s of steps) {
      if ('record' in s) h.processElement(s.record, s.record.timestamp);
      else h.processWatermark(s.watermark);
    }
  }

  const shape = (h: OneInputHarness<Login>) => ({
    main: h.output.elements,
    timedOut: h.side('timed-out'),
  });

  it('gives after snapshot → restore into a fresh operator → continue exactly what an uninterrupted run gives, at every cut', () => {
    const straight = logins();
    run(straight, script);
    straight.endInput();
    expect(straight.values()).toHaveLength(1);
    expect(straight.side('timed-out').length).toBeGreaterThan(0);

    for (let cut = 0; cut <= script.length; cut++) {
      const first = logins();
      run(first, script.slice(0, cut));
      // Checkpoints are serialized: a restore must work from JSON.
      const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as HarnessSnapshot;
      const before = shape(first);
      first.close();
      const second = logins({ restore: snapshot });
      // The watermark is not part of a snapshot (as in Flink): the restored operator learns it again.
      const lastWatermark = script.slice(0, cut).reduce((wm, s) => ('watermark' in s ? s.watermark : wm), Number.NEGATIVE_INFINITY);
      if (lastWatermark > Number.NEGATIVE_INFINITY) second.processWatermark(lastWatermark);
      run(second, script.slice(cut));
      second.endInput();
      const after = shape(second);
      const restoredWatermark = lastWatermark > Number.NEGATIVE_INFINITY ? 1 : 0;
      expect([...before.main, ...after.main.slice(restoredWatermark)], `cut at ${cut}`).toEqual(straight.output.elements);
      expect([...before.timedOut, ...after.timedOut], `cut at ${cut}`).toEqual(shape(straight).timedOut);
    }
  });

  it('restores a partial match mid-pattern and completes it', () => {
    const first = logins();
    feed(first, [login('u1', false, 0), login('u1', false, 1)]);
    first.processWatermark(T0 + 1 * MINUTE);
    feed(first, [login('u1', false, 2)]);
    const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as HarnessSnapshot;
    const state = first.ctx.heapBackend?.describeKey('u1') ?? {};
    expect(Object.keys(state).sort()).toEqual(['cep-buffer', 'cep-nfa', 'cep-wake-up']);
    first.close();

    const second = logins({ restore: snapshot });
    feed(second, [login('u1', true, 3)]);
    second.processWatermark(T0 + 3 * MINUTE);
    expect(second.values()).toEqual([{ userId: 'u1', ip: '10.0.0.1', failures: 3, at: T0 + 3 * MINUTE }]);
  });
});
