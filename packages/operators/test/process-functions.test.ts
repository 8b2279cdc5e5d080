/**
 * Process functions (keyed-process, co-process, broadcast-process) through the
 * operator harness, named after the Flink behaviours they reproduce: the fraud
 * detector of the examples runs unchanged; timers fire per key in timestamp order,
 * deduplicated and deletable, before the watermark that fired them; TTL hides expired
 * values; snapshot → restore into a fresh operator → continue gives what an
 * uninterrupted run gives, pending timers included.
 *
 * User code is TypeScript in the graph; like the engine, these tests strip its types
 * (here with the TypeScript compiler) and evaluate the JavaScript.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { getOperator, jobConfig } from '@sluice/graph-model';
import { NO_TIMESTAMP, RowKind } from '../src/api/elements.js';
import { subtaskForKey } from '../src/state/key-groups.js';
import { OneInputHarness, TwoInputHarness, type HarnessSnapshot, type OutputElement } from '../src/harness/harness.js';
import type { OperatorEnv } from '../src/registry.js';
import { KeyedProcessOperator, type KeyedProcessConfig } from '../src/process/keyed-process.js';
import { CoProcessOperator, type CoProcessConfig } from '../src/process/co-process.js';
import { BroadcastProcessOperator, type BroadcastProcessConfig } from '../src/process/broadcast-process.js';

/** Strips TypeScript and evaluates the expression, as the engine's compile step and workers do. */
function compile(source: string): unknown {
  const js = ts.transpileModule(`const __fn = (\n${source}\n);`, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  return (new Function(`${js}\nreturn __fn;`) as () => unknown)();
}

const env: OperatorEnv = {
  job: jobConfig.parse({}),
  fn: compile,
  collector: () => ({ push() {}, commit() {} }),
  print() {},
};

/** A config as the graph validator hands it over: parsed by the catalog schema, defaults applied. */
function parsed(type: string, config: unknown): unknown {
  const definition = getOperator(type);
  if (!definition) throw new Error(`no catalog entry for ${type}`);
  return definition.configSchema.parse(config);
}
const keyedProcess = (config: unknown) => new KeyedProcessOperator(parsed('keyed-process', config) as KeyedProcessConfig, env);
const coProcess = (config: unknown) => new CoProcessOperator(parsed('co-process', config) as CoProcessConfig, env);
const broadcastProcess = (config: unknown) => new BroadcastProcessOperator(parsed('broadcast-process', config) as BroadcastProcessConfig, env);

/** Records between two watermarks in any order (Flink's harness compares them sorted); watermarks in exact position. */
function normalized(elements: readonly OutputElement[]): string[][] {
  const segments: string[][] = [[]];
  for (const e of elements) {
    if (e.type === 'record') (segments[segments.length - 1] as string[]).push(JSON.stringify([e.value, e.timestamp, e.kind]));
    else segments.push([JSON.stringify(e)], []);
  }
  return segments.map((s) => [...s].sort());
}

// ---------------------------------------------------------------------------------
// The fraud detector of examples/card-fraud-detection.json, unchanged.

interface Tx {
  transactionId: string;
  cardId: string;
  amount: number;
}

const example = JSON.parse(readFileSync(new URL('../../../examples/card-fraud-detection.json', import.meta.url), 'utf8')) as {
  nodes: Array<{ id: string; type: string; config: { fn: string } }>;
};
const detectorNode = example.nodes.find((n) => n.type === 'keyed-process');
if (!detectorNode) throw new Error('the fraud example has no keyed-process node');
const detectorConfig = detectorNode.config;

const byCard = (tx: Tx) => tx.cardId;
let txSeq = 0;
const tx = (cardId: string, amount: number): Tx => ({ transactionId: `t${++txSeq}`, cardId, amount });
const fraudDetector = (restore?: HarnessSnapshot) => new OneInputHarness<Tx>(keyedProcess(detectorConfig), { keySelector: byCard }).open(restore);

describe('keyed-process: the fraud detector example', () => {
  it('alerts when a charge under 1.00 is followed by one over 500.00 on the same card within a minute', () => {
    const h = fraudDetector();
    const small = tx('c1', 0.5);
    const large = tx('c1', 700);
    h.processElement(small, 1_000);
    h.processElement(tx('c2', 900), 2_000); // large, but no small charge on c2
    h.processElement(large, 30_000);
    expect(h.records()).toEqual([
      { value: { cardId: 'c1', transactionId: large.transactionId, amount: 700, at: 30_000 }, timestamp: 30_000, kind: RowKind.INSERT },
    ]);
  });

  it('does not alert once the event-time timer fired and cleared the flag', () => {
    const h = fraudDetector();
    h.processElement(tx('c1', 0.5), 1_000);
    h.processWatermark(61_000);
    expect(h.ctx.heapBackend?.describeKey('c1')).toEqual({});
    h.processElement(tx('c1', 700), 62_000);
    expect(h.records()).toEqual([]);
    expect(h.watermarks()).toEqual([61_000]);
  });

  it('a normal charge in between resets the flag', () => {
    const h = fraudDetector();
    h.processElement(tx('c1', 0.5), 1_000);
    h.processElement(tx('c1', 50), 2_000);
    h.processElement(tx('c1', 700), 3_000);
    expect(h.records()).toEqual([]);
  });

  it('a second small charge deletes the first timer and starts a new minute', () => {
    const h = fraudDetector();
    h.processElement(tx('c1', 0.5), 1_000); // timer at 61 000
    h.processElement(tx('c1', 0.2), 20_000); // deletes it, timer at 80 000
    h.processWatermark(70_000); // the deleted timer must not clear the flag
    h.processElement(tx('c1', 600), 75_000);
    expect(h.values()).toEqual([expect.objectContaining({ cardId: 'c1', amount: 600, at: 75_000 })]);
  });

  it('keeps the flag and the pending timer across snapshot and restore', () => {
    const before = fraudDetector();
    before.processElement(tx('c1', 0.5), 1_000);
    before.processElement(tx('c2', 0.5), 2_000);
    const snapshot = before.snapshot();

    const after = fraudDetector(snapshot);
    after.processElement(tx('c1', 800), 10_000); // flag restored: alert
    after.processWatermark(62_000); // c2's restored timer fires and clears its flag
    after.processElement(tx('c2', 800), 63_000);
    expect(after.values()).toEqual([expect.objectContaining({ cardId: 'c1', amount: 800 })]);
  });
});

// ---------------------------------------------------------------------------------
// Timers.

interface TimerCommand {
  k: string;
  event?: number[];
  deleteEvent?: number[];
  processing?: number[];
  deleteProcessing?: number[];
}

const TIMER_PROBE = `({
  processElement(v, ctx) {
    for (const t of v.event ?? []) ctx.timerService.registerEventTimeTimer(t);
    for (const t of v.deleteEvent ?? []) ctx.timerService.deleteEventTimeTimer(t);
    for (const t of v.processing ?? []) ctx.timerService.registerProcessingTimeTimer(t);
    for (const t of v.deleteProcessing ?? []) ctx.timerService.deleteProcessingTimeTimer(t);
  },
  onTimer(timestamp, ctx) {
    ctx.collect({
      key: ctx.key,
      timestamp,
      ctxTimestamp: ctx.timestamp,
      domain: ctx.timeDomain,
      watermark: ctx.timerService.currentWatermark(),
      now: ctx.timerService.currentProcessingTime(),
    });
  },
})`;

const timerProbe = (fn = TIMER_PROBE) => new OneInputHarness<TimerCommand>(keyedProcess({ fn }), { keySelector: (v: TimerCommand) => v.k }).open();

describe('keyed-process: timers', () => {
  it('event-time timers fire in timestamp order across keys, before the watermark that fired them is forwarded', () => {
    const h = timerProbe();
    h.processElement({ k: 'a', event: [300, 100, 200] }, 10);
    h.processElement({ k: 'b', event: [150] }, 10);
    h.processWatermark(250);
    expect(h.output.elements.map((e) => (e.type === 'record' ? `${(e.value as { key: string }).key}@${e.timestamp}` : e.type))).toEqual([
      'a@100',
      'b@150',
      'a@200',
      'watermark',
    ]);
    expect(h.values()[0]).toEqual({ key: 'a', timestamp: 100, ctxTimestamp: 100, domain: 'event-time', watermark: 250, now: 0 });
    h.processWatermark(1_000);
    expect(h.values().map((v) => (v as { timestamp: number }).timestamp)).toEqual([100, 150, 200, 300]);
  });

  it('a timer registered twice for a key fires once; the same time on another key is another timer', () => {
    const h = timerProbe();
    h.processElement({ k: 'a', event: [100, 100] }, 10);
    h.processElement({ k: 'a', event: [100] }, 20);
    h.processElement({ k: 'b', event: [100] }, 30);
    h.processWatermark(100);
    expect(h.values().map((v) => (v as { key: string }).key).sort()).toEqual(['a', 'b']);
  });

  it('the harness reads the registered timers of a key: one per (key, timestamp), without deleted or fired ones', () => {
    const h = timerProbe();
    h.processElement({ k: 'a', event: [300, 100, 300], processing: [50, 50] }, 10);
    h.processElement({ k: 'a', event: [200], deleteEvent: [100] }, 20);
    h.processElement({ k: 'b', event: [300] }, 30);
    expect(h.timers('a')).toEqual({
      event: [
        { timestamp: 200, namespace: '' },
        { timestamp: 300, namespace: '' },
      ],
      processing: [{ timestamp: 50, namespace: '' }],
    });
    h.processWatermark(250);
    h.setProcessingTime(50);
    expect(h.timers('a')).toEqual({ event: [{ timestamp: 300, namespace: '' }], processing: [] });
    expect(h.timers('b')).toEqual({ event: [{ timestamp: 300, namespace: '' }], processing: [] });
  });

  it('every pending event-time timer fires at the end of input, in timestamp order, before the final watermark', () => {
    const h = timerProbe();
    h.processElement({ k: 'a', event: [9_000_000, 5] }, 1);
    h.processElement({ k: 'b', event: [7] }, 2);
    h.endInput();
    expect(h.output.elements.map((e) => (e.type === 'record' ? `${(e.value as { key: string }).key}@${e.timestamp}` : e.type))).toEqual([
      'a@5',
      'b@7',
      'a@9000000',
      'watermark',
    ]);
    expect(h.timers('a')).toEqual({ event: [], processing: [] });
  });

  it('a deleted timer does not fire; deleting an unknown timer is a no-op', () => {
    const h = timerProbe();
    h.processElement({ k: 'a', event: [100, 200], deleteEvent: [100, 999] }, 10);
    h.processElement({ k: 'b', deleteEvent: [200] }, 10); // b has no timer at 200; a's stays
    h.processWatermark(300);
    expect(h.values()).toEqual([expect.objectContaining({ key: 'a', timestamp: 200 })]);
  });

  it('a timer at or before the current watermark fires with the next watermark', () => {
    const h = timerProbe();
    h.processWatermark(500);
    h.processElement({ k: 'a', event: [400] }, 600);
    expect(h.values()).toEqual([]);
    h.processWatermark(501);
    expect(h.records()).toEqual([{ value: expect.objectContaining({ key: 'a', timestamp: 400, watermark: 501 }), timestamp: 400, kind: RowKind.INSERT }]);
  });

  it('processing-time timers fire when processing time reaches them; their results carry no timestamp', () => {
    const h = timerProbe();
    h.processElement({ k: 'a', processing: [50, 20] }, 10);
    h.processElement({ k: 'b', processing: [30, 60], deleteProcessing: [60] }, 10);
    h.setProcessingTime(40);
    expect(h.records()).toEqual([
      { value: { key: 'a', timestamp: 20, ctxTimestamp: 20, domain: 'processing-time', watermark: Number.NEGATIVE_INFINITY, now: 20 }, timestamp: NO_TIMESTAMP, kind: RowKind.INSERT },
      { value: { key: 'b', timestamp: 30, ctxTimestamp: 30, domain: 'processing-time', watermark: Number.NEGATIVE_INFINITY, now: 30 }, timestamp: NO_TIMESTAMP, kind: RowKind.INSERT },
    ]);
    h.setProcessingTime(1_000);
    expect(h.values().map((v) => (v as { timestamp: number }).timestamp)).toEqual([20, 30, 50]);
  });

  it('onTimer sees the timer key state and can collect and write side outputs', () => {
    const h = new OneInputHarness<{ k: string; v: number }>(
      keyedProcess({
        fn: `({
          processElement(e, ctx) {
            const sum = ctx.state('sum');
            sum.update((sum.value() ?? 0) + e.v);
            ctx.timerService.registerEventTimeTimer(1000);
          },
          onTimer(t, ctx) {
            ctx.collect({ key: ctx.key, sum: ctx.state('sum').value() });
            ctx.output('audit', ctx.key);
            ctx.state('sum').clear();
          },
        })`,
        states: [{ kind: 'value', name: 'sum' }],
        sideOutputs: ['audit'],
      }),
      { keySelector: (e: { k: string }) => e.k },
    ).open();
    h.processElement({ k: 'x', v: 2 }, 1);
    h.processElement({ k: 'y', v: 5 }, 2);
    h.processElement({ k: 'x', v: 3 }, 3);
    h.processWatermark(1_000);
    expect(h.values<{ key: string }>().sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: 'x', sum: 5 },
      { key: 'y', sum: 5 },
    ]);
    expect(h.side('audit').map((r) => [r.value, r.timestamp]).sort()).toEqual([
      ['x', 1_000],
      ['y', 1_000],
    ]);
    expect(h.ctx.heapBackend?.size().entries).toBe(0);
  });

  it('onTimer is optional: timers of a function without it fire silently', () => {
    const h = timerProbe(`({ processElement(v, ctx) { ctx.timerService.registerEventTimeTimer(5); } })`);
    h.processElement({ k: 'a' }, 1);
    h.processWatermark(10);
    expect(h.output.elements).toEqual([{ type: 'watermark', watermark: 10 }]);
  });

  it('registering an event-time timer for a record without a timestamp is a clear error', () => {
    const h = timerProbe(`({ processElement(v, ctx) { ctx.timerService.registerEventTimeTimer(ctx.timestamp + 1000); } })`);
    expect(() => h.processElement({ k: 'a' })).toThrow(/registerEventTimeTimer needs a finite time.*no event-time timestamp/);
  });
});

// ---------------------------------------------------------------------------------
// State, TTL, side outputs, errors.

describe('keyed-process: state', () => {
  it('gives every declared state kind, with the reduce and aggregate code of its declaration', () => {
    const h = new OneInputHarness<{ k: string; type: string; v: number }>(
      keyedProcess({
        fn: `({
          processElement(e, ctx) {
            ctx.state('last').update(e.v);
            ctx.state('all').add(e.v);
            ctx.state('byType').put(e.type, (ctx.state('byType').get(e.type) ?? 0) + 1);
            ctx.state('sum').add(e.v);
            ctx.state('avg').add(e.v);
            ctx.collect({
              key: ctx.key,
              last: ctx.state('last').value(),
              all: [...ctx.state('all').get()], // the heap backend hands out the stored list itself
              byType: Object.fromEntries(ctx.state('byType').entries()),
              sum: ctx.state('sum').get(),
              avg: ctx.state('avg').get(),
            });
          },
        })`,
        states: [
          { kind: 'value', name: 'last' },
          { kind: 'list', name: 'all' },
          { kind: 'map', name: 'byType' },
          { kind: 'reducing', name: 'sum', reduce: '(a: number, b: number) => a + b' },
          {
            kind: 'aggregating',
            name: 'avg',
            aggregate: '({ createAccumulator: () => ({ s: 0, n: 0 }), add: (v, acc) => ({ s: acc.s + v, n: acc.n + 1 }), getResult: (acc) => acc.s / acc.n })',
          },
        ],
      }),
      { keySelector: (e: { k: string }) => e.k },
    ).open();
    h.processElement({ k: 'a', type: 'x', v: 2 }, 1);
    h.processElement({ k: 'b', type: 'x', v: 10 }, 2);
    h.processElement({ k: 'a', type: 'y', v: 4 }, 3);
    expect(h.values()).toEqual([
      { key: 'a', last: 2, all: [2], byType: { x: 1 }, sum: 2, avg: 2 },
      { key: 'b', last: 10, all: [10], byType: { x: 1 }, sum: 10, avg: 10 },
      { key: 'a', last: 4, all: [2, 4], byType: { x: 1, y: 1 }, sum: 6, avg: 3 },
    ]);
  });

  it('open(ctx) runs once before the first element and may fetch state handles', () => {
    const h = new OneInputHarness<{ k: string }>(
      keyedProcess({
        fn: `({
          open(ctx) {
            this.count = ctx.state('count');
            this.opened = (this.opened ?? 0) + 1;
            this.where = ctx.nodeId + '#' + ctx.subtaskIndex + '/' + ctx.parallelism;
          },
          processElement(e, ctx) {
            this.count.update((this.count.value() ?? 0) + 1);
            ctx.collect([ctx.key, this.count.value(), this.opened, this.where]);
          },
        })`,
        states: [{ kind: 'value', name: 'count' }],
      }),
      { keySelector: (e: { k: string }) => e.k },
    ).open();
    h.processElement({ k: 'a' }, 1);
    h.processElement({ k: 'a' }, 2);
    expect(h.values()).toEqual([
      ['a', 1, 1, 'under-test#0/1'],
      ['a', 2, 1, 'under-test#0/1'],
    ]);
  });

  const ttlProbe = (update: 'on-create-and-write' | 'on-read-and-write') =>
    new OneInputHarness<{ k: string; write?: string }>(
      keyedProcess({
        fn: `({
          processElement(e, ctx) {
            const seen = ctx.state('seen');
            if (e.write !== undefined) seen.update(e.write);
            else ctx.collect(seen.value() ?? null);
          },
        })`,
        states: [{ kind: 'value', name: 'seen', ttl: { ttlMs: 1_000, update } }],
      }),
      { keySelector: (e: { k: string }) => e.k },
    ).open();

  it('TTL: an expired value is never returned (StateTtlConfig, OnCreateAndWrite)', () => {
    const h = ttlProbe('on-create-and-write');
    h.processElement({ k: 'a', write: 'x' });
    h.setProcessingTime(900);
    h.processElement({ k: 'a' }); // a read does not renew
    h.setProcessingTime(1_000);
    h.processElement({ k: 'a' });
    h.processElement({ k: 'a', write: 'y' }); // a write does
    h.setProcessingTime(1_999);
    h.processElement({ k: 'a' });
    expect(h.values()).toEqual(['x', null, 'y']);
  });

  it('TTL: OnReadAndWrite renews the expiry on every read', () => {
    const h = ttlProbe('on-read-and-write');
    h.processElement({ k: 'a', write: 'x' });
    h.setProcessingTime(900);
    h.processElement({ k: 'a' }); // expires at 1 900 now
    h.setProcessingTime(1_800);
    h.processElement({ k: 'a' }); // expires at 2 800 now
    h.setProcessingTime(2_800);
    h.processElement({ k: 'a' });
    expect(h.values()).toEqual(['x', 'x', null]);
  });

  it('TTL: a restored value keeps its expiry time, and an expired one is not in the snapshot', () => {
    const before = ttlProbe('on-create-and-write');
    before.processElement({ k: 'a', write: 'x' });
    before.setProcessingTime(600);
    before.processElement({ k: 'b', write: 'y' });
    before.setProcessingTime(1_200); // a expired, b lives until 1 600
    const snapshot = before.snapshot();
    expect(snapshot.keyedState?.keyGroups.flatMap((g) => Object.values(g.states).flatMap((s) => s.flatMap(([, entries]) => entries.map(([k]) => k))))).toEqual(['b']);

    const after = new OneInputHarness<{ k: string; write?: string }>(
      keyedProcess({ fn: `({ processElement(e, ctx) { ctx.collect(ctx.state('seen').value() ?? null); } })`, states: [{ kind: 'value', name: 'seen', ttl: { ttlMs: 1_000 } }] }),
      { keySelector: (e: { k: string }) => e.k, processingTime: 1_200 },
    ).open(snapshot);
    after.processElement({ k: 'b' });
    after.setProcessingTime(1_600);
    after.processElement({ k: 'b' });
    expect(after.values()).toEqual(['y', null]);
  });

  it('TTL: map entries and list elements of a user function expire one by one (Flink TtlMapState / TtlListState)', () => {
    const h = new OneInputHarness<{ k: string; put?: string }>(
      keyedProcess({
        fn: `({
          processElement(e, ctx) {
            if (e.put !== undefined) {
              ctx.state('seen').put(e.put, true);
              ctx.state('log').add(e.put);
            } else ctx.collect({ seen: ctx.state('seen').keys().sort(), log: ctx.state('log').get() });
          },
        })`,
        states: [
          { kind: 'map', name: 'seen', ttl: { ttlMs: 1_000 } },
          { kind: 'list', name: 'log', ttl: { ttlMs: 1_000 } },
        ],
      }),
      { keySelector: (e: { k: string }) => e.k },
    ).open();
    h.processElement({ k: 'a', put: 'x' });
    h.setProcessingTime(400);
    h.processElement({ k: 'a', put: 'y' });
    h.setProcessingTime(999);
    h.processElement({ k: 'a' });
    h.setProcessingTime(1_000); // x expired, y lives until 1 400
    h.processElement({ k: 'a' });
    const snapshot = h.snapshot();
    h.setProcessingTime(1_400);
    h.processElement({ k: 'a' });
    expect(h.values()).toEqual([
      { seen: ['x', 'y'], log: ['x', 'y'] },
      { seen: ['y'], log: ['y'] },
      { seen: [], log: [] },
    ]);
    const restored = new OneInputHarness<{ k: string; put?: string }>(
      keyedProcess({
        fn: `({ processElement(e, ctx) { ctx.collect({ seen: ctx.state('seen').keys(), log: ctx.state('log').get() }); } })`,
        states: [
          { kind: 'map', name: 'seen', ttl: { ttlMs: 1_000 } },
          { kind: 'list', name: 'log', ttl: { ttlMs: 1_000 } },
        ],
      }),
      { keySelector: (e: { k: string }) => e.k, processingTime: 1_399 },
    ).open(snapshot);
    restored.processElement({ k: 'a' });
    restored.setProcessingTime(1_400);
    restored.processElement({ k: 'a' });
    expect(restored.values()).toEqual([{ seen: ['y'], log: ['y'] }, { seen: [], log: [] }]);
  });

  it('ctx.output writes to a declared side output with the record timestamp', () => {
    const h = new OneInputHarness<Tx>(
      keyedProcess({
        fn: `({ processElement(tx, ctx) { if (tx.amount < 1) ctx.output('small', tx); else ctx.collect(tx); } })`,
        sideOutputs: ['small', 'large'],
      }),
      { keySelector: byCard },
    ).open();
    const small = tx('c1', 0.5);
    const normal = tx('c1', 20);
    h.processElement(small, 5);
    h.processElement(normal, 6);
    expect(h.side('small')).toEqual([{ value: small, timestamp: 5, kind: RowKind.INSERT }]);
    expect(h.records()).toEqual([{ value: normal, timestamp: 6, kind: RowKind.INSERT }]);
  });

  it('an undeclared side output is an error that names the declared ones', () => {
    const h = new OneInputHarness<Tx>(keyedProcess({ fn: `({ processElement(tx, ctx) { ctx.output('smal', tx); } })`, sideOutputs: ['small', 'large'] }), {
      keySelector: byCard,
    }).open();
    expect(() => h.processElement(tx('c1', 1), 1)).toThrow("side output 'smal' is not declared by this keyed-process; declared side outputs: 'small', 'large'");
  });

  it('an undeclared state is an error that names the declared ones', () => {
    const h = new OneInputHarness<Tx>(
      keyedProcess({ ...detectorConfig, fn: detectorConfig.fn.replace("ctx.state('expiry')", "ctx.state('expiri')") }),
      { keySelector: byCard },
    ).open();
    expect(() => h.processElement(tx('c1', 1), 1)).toThrow("state 'expiri' is not declared by this keyed-process; declared states: 'smallSeen', 'expiry'");
  });

  it('an error thrown by user code propagates unchanged', () => {
    const h = timerProbe(`({ processElement(v) { throw new RangeError('bad record ' + v.k); } })`);
    expect(() => h.processElement({ k: 'z' }, 1)).toThrow(new RangeError('bad record z'));
  });

  it('a function without processElement is rejected when the operator is built', () => {
    expect(() => new KeyedProcessOperator({ fn: '({ onTimer() {} })' }, env)).toThrow(/has no processElement\(…\) hook/);
    expect(() => new KeyedProcessOperator({ fn: '(v) => v' }, env)).toThrow(/must be an object of hooks \{ processElement, onTimer\?, open\? \}, got function/);
  });
});

// ---------------------------------------------------------------------------------
// Snapshot → restore → continue equals an uninterrupted run.

type Step =
  | { readonly el: { k: string; v: number }; readonly ts: number }
  | { readonly wm: number }
  | { readonly pt: number };

const SESSION_SUM = `({
  processElement(e, ctx) {
    ctx.state('sum').add(e.v);
    ctx.state('seen').add(e.v);
    ctx.state('last').update({ v: e.v, at: ctx.timestamp });
    ctx.timerService.registerEventTimeTimer(Math.floor(ctx.timestamp / 100) * 100 + 99);
    if (ctx.state('seen').get().length === 1) ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 50);
  },
  onTimer(t, ctx) {
    if (ctx.timeDomain === 'event-time') {
      ctx.collect({ key: ctx.key, at: t, sum: ctx.state('sum').get(), seen: [...ctx.state('seen').get()], last: ctx.state('last').value() });
      ctx.state('sum').clear();
    } else {
      ctx.output('heartbeat', { key: ctx.key, at: t, count: ctx.state('seen').get().length });
    }
  },
})`;

const sessionSumConfig = {
  fn: SESSION_SUM,
  states: [
    { kind: 'reducing', name: 'sum', reduce: '(a, b) => a + b' },
    { kind: 'list', name: 'seen' },
    { kind: 'value', name: 'last' },
  ],
  sideOutputs: ['heartbeat'],
};

const STEPS: readonly Step[] = [
  { el: { k: 'a', v: 1 }, ts: 10 },
  { el: { k: 'b', v: 2 }, ts: 20 },
  { pt: 30 },
  { el: { k: 'a', v: 3 }, ts: 120 },
  { wm: 99 },
  { el: { k: 'c', v: 4 }, ts: 130 },
  { pt: 60 },
  { el: { k: 'b', v: 5 }, ts: 150 },
  { wm: 150 },
  { el: { k: 'a', v: 6 }, ts: 210 },
  { pt: 200 },
  { wm: 199 },
  { el: { k: 'c', v: 7 }, ts: 250 },
  { wm: 400 },
];

function runSteps(h: OneInputHarness<{ k: string; v: number }>, steps: readonly Step[]): void {
  for (const s of steps) {
    if ('el' in s) h.processElement(s.el, s.ts);
    else if ('wm' in s) h.processWatermark(s.wm);
    else h.setProcessingTime(s.pt);
  }
}

describe('keyed-process: snapshot and restore', () => {
  const sessionSum = (processingTime = 0, restore?: HarnessSnapshot) =>
    new OneInputHarness<{ k: string; v: number }>(keyedProcess(sessionSumConfig), { keySelector: (e: { k: string }) => e.k, processingTime }).open(restore);

  it('restoring into a fresh operator and continuing gives the output of an uninterrupted run (state and pending timers survive)', () => {
    const straight = sessionSum();
    runSteps(straight, STEPS);
    expect(straight.values().length).toBeGreaterThan(3);
    expect(straight.side('heartbeat').length).toBe(3);

    for (let cut = 0; cut <= STEPS.length; cut++) {
      const first = sessionSum();
      runSteps(first, STEPS.slice(0, cut));
      const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as HarnessSnapshot; // what a checkpoint stores is plain data
      const second = sessionSum(first.processingTime.now(), snapshot);
      runSteps(second, STEPS.slice(cut));
      expect(normalized([...first.output.elements, ...second.output.elements]), `cut at ${cut}`).toEqual(normalized(straight.output.elements));
      const heartbeats = [...first.side('heartbeat'), ...second.side('heartbeat')].map((r) => JSON.stringify(r)).sort();
      expect(heartbeats, `cut at ${cut}`).toEqual(straight.side('heartbeat').map((r) => JSON.stringify(r)).sort());
    }
  });
});

// ---------------------------------------------------------------------------------
// Co-process.

interface Order {
  orderId: string;
  item: string;
}
interface Payment {
  orderId: string;
  amount: number;
}

const ORDER_PAYMENT = `({
  // Whichever side arrives first waits in keyed state for the other, at most a minute.
  processElement1(order, ctx) {
    const payment = ctx.state('payment').value();
    if (payment === undefined) {
      ctx.state('order').update(order);
      ctx.state('deadline').update(ctx.timestamp + 60000);
      ctx.timerService.registerEventTimeTimer(ctx.timestamp + 60000);
      return;
    }
    ctx.collect({ orderId: ctx.key, item: order.item, paid: payment.amount });
    ctx.timerService.deleteEventTimeTimer(ctx.state('deadline').value());
    ctx.state('payment').clear();
    ctx.state('deadline').clear();
  },
  processElement2(payment, ctx) {
    const order = ctx.state('order').value();
    if (order === undefined) {
      ctx.state('payment').update(payment);
      ctx.state('deadline').update(ctx.timestamp + 60000);
      ctx.timerService.registerEventTimeTimer(ctx.timestamp + 60000);
      return;
    }
    ctx.collect({ orderId: ctx.key, item: order.item, paid: payment.amount });
    ctx.timerService.deleteEventTimeTimer(ctx.state('deadline').value());
    ctx.state('order').clear();
    ctx.state('deadline').clear();
  },
  onTimer(t, ctx) {
    ctx.output('unmatched', ctx.state('order').value() ?? ctx.state('payment').value());
    ctx.state('order').clear();
    ctx.state('payment').clear();
    ctx.state('deadline').clear();
  },
})`;

describe('co-process', () => {
  const orderPaymentConfig = {
    fn: ORDER_PAYMENT,
    states: [
      { kind: 'value', name: 'order' },
      { kind: 'value', name: 'payment' },
      { kind: 'value', name: 'deadline' },
    ],
    sideOutputs: ['unmatched'],
  };
  const matcher = (restore?: HarnessSnapshot) =>
    new TwoInputHarness<Order, Payment>(coProcess(orderPaymentConfig), { keySelector: (v: { orderId: string }) => v.orderId }).open(restore);

  it('keyed co-process: both inputs share the keyed state of their key (KeyedCoProcessFunction)', () => {
    const h = matcher();
    h.processElement1({ orderId: 'o1', item: 'book' }, 1_000);
    h.processElement2({ orderId: 'o2', amount: 7 }, 1_500);
    h.processElement2({ orderId: 'o1', amount: 12 }, 2_000);
    h.processElement1({ orderId: 'o2', item: 'pen' }, 2_500);
    expect(h.records()).toEqual([
      { value: { orderId: 'o1', item: 'book', paid: 12 }, timestamp: 2_000, kind: RowKind.INSERT },
      { value: { orderId: 'o2', item: 'pen', paid: 7 }, timestamp: 2_500, kind: RowKind.INSERT },
    ]);
    h.processBothWatermarks(100_000); // matched: their timers were deleted
    expect(h.side('unmatched')).toEqual([]);
    expect(h.ctx.heapBackend?.size().entries).toBe(0);
  });

  it('timers fire when the combined watermark (the minimum of both inputs) passes them', () => {
    const h = matcher();
    h.processElement1({ orderId: 'o1', item: 'book' }, 1_000);
    h.processWatermark1(70_000);
    expect(h.side('unmatched')).toEqual([]);
    h.processWatermark2(61_000);
    expect(h.side('unmatched')).toEqual([{ value: { orderId: 'o1', item: 'book' }, timestamp: 61_000, kind: RowKind.INSERT }]);
    expect(h.watermarks()).toEqual([61_000]);
  });

  it('keyed state and timers of both sides survive snapshot and restore', () => {
    const before = matcher();
    before.processElement1({ orderId: 'o1', item: 'book' }, 1_000);
    before.processElement2({ orderId: 'o2', amount: 3 }, 1_000);
    const after = matcher(before.snapshot());
    after.processElement2({ orderId: 'o1', amount: 12 }, 2_000);
    after.processBothWatermarks(61_000);
    expect(after.values()).toEqual([{ orderId: 'o1', item: 'book', paid: 12 }]);
    expect(after.side('unmatched').map((r) => r.value)).toEqual([{ orderId: 'o2', amount: 3 }]);
  });

  it('without keyed inputs it is a plain CoProcessFunction: collect works, state and timers need both inputs keyed', () => {
    const h = new TwoInputHarness<{ n: number }, { n: number }>(
      coProcess({
        fn: `({
          processElement1(v, ctx) { ctx.collect({ side: 1, n: v.n, key: ctx.key ?? null }); },
          processElement2(v, ctx) {
            if (v.n === 1) ctx.state('count');
            else ctx.timerService.registerEventTimeTimer(5);
          },
        })`,
        states: [{ kind: 'value', name: 'count' }],
      }),
    ).open();
    h.processElement1({ n: 7 }, 3);
    expect(h.records()).toEqual([{ value: { side: 1, n: 7, key: null }, timestamp: 3, kind: RowKind.INSERT }]);
    expect(() => h.processElement2({ n: 1 }, 4)).toThrow(/state and timers need both inputs keyed/);
    expect(() => h.processElement2({ n: 2 }, 4)).toThrow(/state and timers need both inputs keyed/);
    h.processBothWatermarks(10);
    expect(h.watermarks()).toEqual([10]);
  });
});

// ---------------------------------------------------------------------------------
// Broadcast-process.

interface Charge {
  card: string;
  category: string;
  amount: number;
}
type Rule = { op?: undefined; category: string; threshold: number } | { op: 'delete'; category: string } | { op: 'reset' };

const RULES = `({
  processElement(charge, ctx) {
    const count = ctx.state('count');
    count.update((count.value() ?? 0) + 1);
    const rule = ctx.broadcastState('rules').get(charge.category);
    if (rule !== undefined && charge.amount > rule.threshold) {
      ctx.collect({ card: ctx.key, amount: charge.amount, threshold: rule.threshold, charges: count.value() });
    }
  },
  processBroadcastElement(rule, ctx) {
    if (rule.op === 'reset') ctx.applyToKeyedState('count', (key, state) => state.clear());
    else if (rule.op === 'delete') ctx.broadcastState('rules').remove(rule.category);
    else ctx.broadcastState('rules').put(rule.category, rule);
    ctx.output('ruleLog', { key: ctx.key ?? null, rules: ctx.broadcastState('rules').keys() });
  },
})`;

const rulesConfig = {
  fn: RULES,
  broadcastStates: ['rules'],
  states: [{ kind: 'value', name: 'count' }],
  sideOutputs: ['ruleLog'],
};
const byChargeCard = (c: Charge) => c.card;
const ruleEngine = (options: { restore?: HarnessSnapshot | HarnessSnapshot[]; parallelism?: number; subtaskIndex?: number } = {}) =>
  new TwoInputHarness<Charge, Rule>(broadcastProcess(rulesConfig), {
    keySelector: byChargeCard,
    ...(options.parallelism !== undefined ? { parallelism: options.parallelism, subtaskIndex: options.subtaskIndex ?? 0 } : {}),
  }).open(options.restore);

describe('broadcast-process', () => {
  it('broadcast rules update what the keyed side does (KeyedBroadcastProcessFunction)', () => {
    const h = ruleEngine();
    h.processElement1({ card: 'c1', category: 'travel', amount: 900 }, 1); // no rule yet
    h.processElement2({ category: 'travel', threshold: 500 }, 2);
    h.processElement1({ card: 'c1', category: 'travel', amount: 900 }, 3);
    h.processElement2({ category: 'travel', threshold: 1_000 }, 4);
    h.processElement1({ card: 'c2', category: 'travel', amount: 900 }, 5);
    h.processElement2({ category: 'food', threshold: 50 }, 6);
    h.processElement2({ op: 'delete', category: 'food' }, 7);
    h.processElement1({ card: 'c2', category: 'food', amount: 90 }, 8);
    expect(h.records()).toEqual([{ value: { card: 'c1', amount: 900, threshold: 500, charges: 2 }, timestamp: 3, kind: RowKind.INSERT }]);
    expect(h.side('ruleLog').map((r) => r.value)).toEqual([
      { key: null, rules: ['travel'] },
      { key: null, rules: ['travel'] },
      { key: null, rules: ['travel', 'food'] },
      { key: null, rules: ['travel'] },
    ]);
  });

  it('broadcast state is read-only on the keyed side and in onTimer', () => {
    const h = new TwoInputHarness<Charge, Rule>(
      broadcastProcess({
        fn: `({
          processElement(charge, ctx) {
            if (charge.amount === 1) ctx.broadcastState('rules').put('x', 1);
            else if (charge.amount === 2) ctx.broadcastState('rules').remove('x');
            else ctx.timerService.registerEventTimeTimer(10);
          },
          processBroadcastElement(rule, ctx) {},
          onTimer(t, ctx) { ctx.broadcastState('rules').clear(); },
        })`,
        broadcastStates: ['rules'],
      }),
      { keySelector: byChargeCard },
    ).open();
    expect(() => h.processElement1({ card: 'c1', category: 'x', amount: 1 }, 1)).toThrow('broadcast state is read-only on the keyed side');
    expect(() => h.processElement1({ card: 'c1', category: 'x', amount: 2 }, 1)).toThrow('broadcast state is read-only on the keyed side');
    h.processElement1({ card: 'c1', category: 'x', amount: 3 }, 1);
    expect(() => h.processBothWatermarks(10)).toThrow('broadcast state is read-only on the keyed side');
  });

  it('broadcast elements have no key: ctx.key is undefined, keyed state and timers are errors', () => {
    const h = new TwoInputHarness<Charge, { n: number }>(
      broadcastProcess({
        fn: `({
          processElement(charge, ctx) { ctx.collect(ctx.key); },
          processBroadcastElement(b, ctx) {
            if (b.n === 0) ctx.collect({ key: ctx.key === undefined ? 'none' : ctx.key, at: ctx.timestamp, wm: ctx.timerService.currentWatermark() });
            else if (b.n === 1) ctx.state('count');
            else if (b.n === 2) ctx.timerService.registerEventTimeTimer(5);
            else ctx.broadcastState('rulez');
          },
        })`,
        broadcastStates: ['rules'],
        states: [{ kind: 'value', name: 'count' }],
      }),
      { keySelector: byChargeCard },
    ).open();
    h.processElement1({ card: 'c1', category: 'x', amount: 1 }, 1); // the backend now has a current key
    h.processElement2({ n: 0 }, 2);
    expect(h.values()).toEqual(['c1', { key: 'none', at: 2, wm: Number.NEGATIVE_INFINITY }]);
    expect(() => h.processElement2({ n: 1 }, 3)).toThrow(/keyed state 'count' is not available in processBroadcastElement.*applyToKeyedState/);
    expect(() => h.processElement2({ n: 2 }, 3)).toThrow(/registerEventTimeTimer is not available in processBroadcastElement/);
    expect(() => h.processElement2({ n: 3 }, 3)).toThrow("broadcast state 'rulez' is not declared by this broadcast-process; declared broadcast states: 'rules'");
  });

  it('applyToKeyedState visits every key of the subtask with its keyed state', () => {
    const h = ruleEngine();
    h.processElement2({ category: 'travel', threshold: 100 }, 1);
    h.processElement1({ card: 'c1', category: 'food', amount: 1 }, 2);
    h.processElement1({ card: 'c1', category: 'food', amount: 1 }, 3);
    h.processElement1({ card: 'c2', category: 'food', amount: 1 }, 4);
    h.processElement2({ op: 'reset' }, 5);
    expect(h.ctx.heapBackend?.size().entries).toBe(0);
    h.processElement1({ card: 'c1', category: 'travel', amount: 200 }, 6);
    expect(h.values()).toEqual([{ card: 'c1', amount: 200, threshold: 100, charges: 1 }]);
  });

  it('broadcast state is snapshotted as union operator state and restored at another parallelism, with keyed state', () => {
    const cards = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const owner = (card: string) => subtaskForKey(card, 128, 2);
    expect(new Set(cards.map(owner)).size).toBe(2);
    const subtasks = [0, 1].map((subtaskIndex) => ruleEngine({ parallelism: 2, subtaskIndex }));
    for (const h of subtasks) h.processElement2({ category: 'travel', threshold: 100 }, 1); // broadcast: every subtask
    for (const card of cards) (subtasks[owner(card)] as TwoInputHarness<Charge, Rule>).processElement1({ card, category: 'food', amount: 1 }, 2);
    const snapshots = subtasks.map((h) => h.snapshot());
    for (const s of snapshots) {
      expect(s.operatorState?.mode).toBe('union');
      expect(s.operatorState?.entries).toEqual([{ broadcastStates: { rules: [['travel', { category: 'travel', threshold: 100 }]] } }]);
    }

    // Scale in to one subtask: every card's count and one copy of the rules.
    const merged = ruleEngine({ restore: snapshots });
    for (const card of cards) merged.processElement1({ card, category: 'travel', amount: 150 }, 3);
    expect(merged.values()).toEqual(cards.map((card) => ({ card, amount: 150, threshold: 100, charges: 2 })));

    // Scale out to three: every subtask gets the rules.
    const scaled = [0, 1, 2].map((subtaskIndex) => ruleEngine({ restore: snapshots, parallelism: 3, subtaskIndex }));
    for (const card of cards) (scaled[subtaskForKey(card, 128, 3)] as TwoInputHarness<Charge, Rule>).processElement1({ card, category: 'travel', amount: 150 }, 3);
    expect(scaled.flatMap((h) => h.values()).length).toBe(cards.length);
  });

  it('restore takes the first copy of the union broadcast state', () => {
    const a = ruleEngine();
    a.processElement2({ category: 'travel', threshold: 100 }, 1);
    const b = ruleEngine();
    b.processElement2({ category: 'travel', threshold: 999 }, 1);
    const restored = ruleEngine({ restore: [a.snapshot(), b.snapshot()] });
    restored.processElement1({ card: 'c1', category: 'travel', amount: 500 }, 2);
    expect(restored.values()).toEqual([{ card: 'c1', amount: 500, threshold: 100, charges: 1 }]);
  });
});
