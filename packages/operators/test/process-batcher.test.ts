/**
 * The batcher's side of prefetched values a program keeps across batches
 * (ProcessBatch.held, ProcessBatchResult.holds): a key the program said it holds is not
 * read again for its next batch, and nothing is held after the numbers start over, after
 * a batch that failed, after one that says the host's state may have changed behind the
 * program's back, or for a state with a TTL (its values expire on the host).
 *
 * The program here is a plain reference implementation of the ProcessProgram contract
 * (a counter per key); the sandbox's own, in isolated-vm, is checked against trusted
 * runs in the engine's sandbox-batches tests.
 */
import { describe, expect, it } from 'vitest';
import { getOperator, jobConfig } from '@sluice/graph-model';
import { OneInputHarness } from '../src/harness/harness.js';
import type { OperatorEnv } from '../src/registry.js';
import { KeyedProcessOperator, type KeyedProcessConfig } from '../src/process/keyed-process.js';
import { ProcessBatchError, type ProcessBatch, type ProcessBatchResult, type ProcessProgram, type ProcessProgramSpec } from '../src/api/functions.js';

interface Seen {
  readonly keys: unknown[];
  readonly held: number[];
  readonly fetched: number;
}

/** Counts records per key in value state 'count'; keeps every final count it wrote or was given. */
class CountingProgram implements ProcessProgram {
  readonly hooks = { processElement: () => undefined };
  readonly batches: Seen[] = [];
  spec: ProcessProgramSpec | undefined;
  failNext = false;
  staleNext = false;
  private kept = new Map<number, unknown>();
  private generation = -1;

  open(): void {}

  run(batch: ProcessBatch): ProcessBatchResult {
    const keys = batch.keys.slice();
    const held = Array.from(batch.held.subarray(0, keys.length));
    const given = batch.prefetched[0] ?? [];
    this.batches.push({ keys, held, fetched: given.length });
    if (batch.dictionary.generation !== this.generation) {
      this.kept = new Map();
      this.generation = batch.dictionary.generation;
    }
    const values: unknown[] = [];
    for (let k = 0, j = 0; k < keys.length; k++) {
      const id = batch.keyIds[k] as number;
      if (held[k] === 1 && !this.kept.has(id)) throw new Error(`key ${String(keys[k])} is marked held but was never kept`);
      values.push(held[k] === 1 ? this.kept.get(id) : given[j++]);
    }
    if (this.failNext) {
      this.failNext = false;
      throw new ProcessBatchError('failed on purpose', 0);
    }
    const outputs: unknown[] = [];
    const outputEntry: number[] = [];
    for (let e = 0; e < batch.size; e++) {
      const k = batch.keyIndex[e] as number;
      values[k] = ((values[k] as number | undefined) ?? 0) + 1;
      outputs.push([keys[k], values[k]]);
      outputEntry.push(e);
    }
    const writes: number[] = [];
    for (let k = 0; k < keys.length; k++) {
      writes.push(0, k, 0);
      this.kept.set(batch.keyIds[k] as number, values[k]);
    }
    const stale = this.staleNext;
    this.staleNext = false;
    return { outputs, outputEntry, outputTag: outputEntry.map(() => -1), writes, updateValues: values, timers: [], holds: keys.map(() => 1), stale };
  }
}

function harness(states: unknown[]): { program: CountingProgram; h: OneInputHarness<{ k: string }>; flush: () => void } {
  const program = new CountingProgram();
  const env: OperatorEnv = {
    job: jobConfig.parse({}),
    fn: () => {
      throw new Error('not used: the program runs the function');
    },
    processProgram: (_source, spec) => {
      program.spec = spec;
      return program;
    },
    collector: () => ({ push() {}, commit() {} }),
    print() {},
  };
  const config = getOperator('keyed-process')?.configSchema.parse({ fn: '({ processElement() {} })', states }) as KeyedProcessConfig;
  const operator = new KeyedProcessOperator(config, env);
  const h = new OneInputHarness<{ k: string }>(operator, { keySelector: (v: { k: string }) => v.k }).open();
  return { program, h, flush: () => operator.flushBuffered?.() };
}

function feed(h: OneInputHarness<{ k: string }>, flush: () => void, keys: string[]): void {
  for (const k of keys) h.processElement({ k }, 1);
  flush();
}

describe('prefetched values a program holds across batches', () => {
  it('a key the program holds is not read again; its count goes on from what the program kept', () => {
    const { program, h, flush } = harness([{ kind: 'value', name: 'count' }]);
    feed(h, flush, ['a', 'b']);
    feed(h, flush, ['b', 'c', 'a']);
    feed(h, flush, ['c', 'a', 'a']);
    expect(program.spec?.holdable).toBe(true);
    expect(program.batches.map((b) => [b.keys, b.held, b.fetched])).toEqual([
      [['a', 'b'], [0, 0], 2],
      [['b', 'c', 'a'], [1, 0, 1], 1],
      [['c', 'a'], [1, 1], 0],
    ]);
    expect(h.values()).toEqual([['a', 1], ['b', 1], ['b', 2], ['c', 1], ['a', 2], ['c', 2], ['a', 3], ['a', 4]]);
    // The host's state has every count the program wrote: a snapshot holds them.
    expect(h.ctx.heapBackend?.inspectKey('a').states).toContainEqual(expect.objectContaining({ name: 'count', value: 4 }));
  });

  it('after a batch that failed, every key is read again', () => {
    const { program, h, flush } = harness([{ kind: 'value', name: 'count' }]);
    feed(h, flush, ['a', 'b']);
    program.failNext = true;
    expect(() => feed(h, flush, ['a'])).toThrow('failed on purpose');
    feed(h, flush, ['b', 'a']);
    expect(program.batches.map((b) => b.held)).toEqual([[0, 0], [1], [0, 0]]);
  });

  it('after a batch that says the host state may have changed behind its back, every key is read again', () => {
    const { program, h, flush } = harness([{ kind: 'value', name: 'count' }]);
    feed(h, flush, ['a', 'b']);
    program.staleNext = true;
    feed(h, flush, ['a']);
    feed(h, flush, ['b', 'a']);
    feed(h, flush, ['a']);
    expect(program.batches.map((b) => b.held)).toEqual([[0, 0], [1], [0, 0], [1]]);
  });

  it('a value state with a TTL is read for every batch: its values expire on the host', () => {
    const { program, h, flush } = harness([{ kind: 'value', name: 'count', ttl: { ttlMs: 60_000, update: 'on-create-and-write' } }]);
    feed(h, flush, ['a', 'b']);
    feed(h, flush, ['a', 'b']);
    expect(program.spec?.holdable).toBe(false);
    expect(program.batches.map((b) => [b.held, b.fetched])).toEqual([
      [[0, 0], 2],
      [[0, 0], 2],
    ]);
  });
});
