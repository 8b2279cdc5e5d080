import { describe, expect, it } from 'vitest';
import { OneInputHarness, PaneWindowOperator, WindowOperator, panesApply, type PaneWindowConfig } from '../src/index.js';

const fn = (source: string) => new Function(`return (${source})`)() as unknown;

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Ev = { k: string; v: number };
type Step = { kind: 'element'; ev: Ev; t: number } | { kind: 'watermark'; t: number };

function both(config: PaneWindowConfig) {
  const generic = new WindowOperator(
    {
      assigner: { kind: 'sliding', sizeMs: config.sizeMs, slideMs: config.slideMs, offsetMs: config.offsetMs },
      timeCharacteristic: config.timeCharacteristic,
      allowedLatenessMs: 0,
      trigger: { kind: 'default', purging: false },
      function: config.function,
    },
    fn,
  );
  const options = { keySelector: ((e: Ev) => e.k) as never, connectedOutputs: ['late'] };
  return [new OneInputHarness<Ev>(generic, options).open(), new OneInputHarness<Ev>(new PaneWindowOperator(config, fn), options).open()] as const;
}

function run(h: OneInputHarness<Ev>, steps: readonly Step[]) {
  for (const s of steps) {
    if (s.kind === 'element') h.processElement(s.ev, s.t);
    else h.processWatermark(s.t);
  }
  h.endInput();
  const key = (r: { value: unknown; timestamp: number; kind: number }) => JSON.stringify([r.timestamp, r.kind, r.value]);
  return { records: h.records().map(key).sort(), late: h.side('late').map(key).sort(), dropped: h.ctx.metrics.lateRecordsDropped };
}

describe('sliding windows on panes', () => {
  it('applies only where the result is identical', () => {
    const base = { timeCharacteristic: 'event-time' as const, allowedLatenessMs: 0, trigger: { kind: 'default' } };
    expect(panesApply({ ...base, function: { kind: 'aggregations' } })).toBe(true);
    expect(panesApply({ ...base, function: { kind: 'reduce' } })).toBe(true);
    expect(panesApply({ ...base, function: { kind: 'aggregate', aggregate: '({ createAccumulator, add, getResult, merge })' } })).toBe(true);
    expect(panesApply({ ...base, function: { kind: 'aggregate', aggregate: '({ createAccumulator, add, getResult })' } })).toBe(false);
    expect(panesApply({ ...base, function: { kind: 'process' } })).toBe(false);
    expect(panesApply({ ...base, allowedLatenessMs: 5, function: { kind: 'aggregations' } })).toBe(false);
    expect(panesApply({ ...base, trigger: { kind: 'count' }, function: { kind: 'aggregations' } })).toBe(false);
    expect(panesApply({ ...base, timeCharacteristic: 'processing-time', function: { kind: 'aggregations' } })).toBe(false);
  });

  const PINNED: number[] = [];
  it.each([...PINNED, ...Array.from({ length: 80 }, (_, i) => i + 1)])('gives what the general window operator gives (seed %i)', (seed) => {
    const random = mulberry32(seed);
    const slide = 2 + Math.floor(random() * 9);
    const size = slide * (1 + Math.floor(random() * 4)) + (random() < 0.3 ? Math.floor(random() * slide) : 0);
    const offset = random() < 0.3 ? Math.floor(random() * slide) - Math.floor(slide / 2) : 0;
    random(); // (was: processing time; panes apply to event time only)
    const functions: PaneWindowConfig['function'][] = [
      { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'v', as: 'sum' }, { op: 'max', field: 'v', as: 'max' }, { op: 'first', field: 'v', as: 'first' }] },
      { kind: 'reduce', reduce: '(a, b) => ({ k: a.k, v: a.v + b.v })' },
      {
        kind: 'aggregate',
        aggregate: '({ createAccumulator: () => [0, 0], add: (e, a) => [a[0] + 1, a[1] + e.v], getResult: (a) => a[1] / a[0], merge: (a, b) => [a[0] + b[0], a[1] + b[1]] })',
        process: '(key, w, avg, out) => out.collect({ key, start: w.start, avg })',
      },
    ];
    const config: PaneWindowConfig = {
      sizeMs: size,
      slideMs: slide,
      offsetMs: offset,
      timeCharacteristic: 'event-time',
      function: functions[Math.floor(random() * functions.length)]!,
    };
    const steps: Step[] = [];
    let max = 100;
    for (let i = 0; i < 300; i++) {
      const t = Math.max(0, max - Math.floor(random() * 25) + Math.floor(random() * 6));
      max = Math.max(max, t);
      steps.push({ kind: 'element', ev: { k: `k${Math.floor(random() * 3)}`, v: Math.floor(random() * 50) }, t });
      if (random() < 0.15) steps.push({ kind: 'watermark', t: max - Math.floor(random() * 15) });
    }
    const [generic, panes] = both(config);
    expect(run(panes, steps)).toEqual(run(generic, steps));
  });
});

describe('sliding windows on panes: snapshot and restore', () => {
  it('restore from a snapshot into a fresh operator and continue exactly as an uninterrupted run, at every cut', () => {
    const config: PaneWindowConfig = {
      sizeMs: 30,
      slideMs: 10,
      offsetMs: 3,
      timeCharacteristic: 'event-time',
      function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'v', as: 'sum' }] },
    };
    const random = mulberry32(99);
    const steps: Step[] = [];
    let max = 0;
    for (let i = 0; i < 120; i++) {
      const t = Math.max(0, max - Math.floor(random() * 45) + Math.floor(random() * 12));
      max = Math.max(max, t);
      steps.push({ kind: 'element', ev: { k: `k${Math.floor(random() * 3)}`, v: i }, t });
      if (i % 7 === 6) steps.push({ kind: 'watermark', t: max - 2 });
    }
    const options = { keySelector: ((e: Ev) => e.k) as never, connectedOutputs: ['late'] };
    const make = (restore?: ReturnType<OneInputHarness<Ev>['snapshot']>) => new OneInputHarness<Ev>(new PaneWindowOperator(config, fn), options).open(restore);
    const feed = (h: OneInputHarness<Ev>, part: readonly Step[]) => {
      for (const s of part) {
        if (s.kind === 'element') h.processElement(s.ev, s.t);
        else h.processWatermark(s.t);
      }
    };
    const straight = make();
    feed(straight, steps);
    straight.endInput();
    expect(straight.side('late').length).toBeGreaterThan(0);
    for (let cut = 10; cut < steps.length; cut += 25) {
      const first = make();
      feed(first, steps.slice(0, cut));
      const restored = make(JSON.parse(JSON.stringify(first.snapshot())) as ReturnType<OneInputHarness<Ev>['snapshot']>);
      // A snapshot holds no watermark (as in Flink's DataStream operators, FLINK-5601): until the next one
      // arrives, nothing would be late. Upstream re-sends the last one here, so lateness is judged as before.
      const last = first.watermarks().at(-1);
      if (last !== undefined) restored.processWatermark(last);
      feed(restored, steps.slice(cut));
      restored.endInput();
      // Records compared sorted (Flink's harness does too: timers of one timestamp fire in no fixed order).
      const records = (hs: Array<OneInputHarness<Ev>>) => hs.flatMap((h) => h.records()).map((r) => JSON.stringify(r)).sort();
      const rising = (hs: Array<OneInputHarness<Ev>>) => hs.flatMap((h) => h.watermarks()).filter((w, i, all) => i === 0 || w > (all[i - 1] as number));
      expect(records([first, restored]), `cut ${cut}`).toEqual(records([straight]));
      expect(rising([first, restored])).toEqual(rising([straight]));
      expect([...first.side('late'), ...restored.side('late')]).toEqual(straight.side('late'));
    }
  });
});
