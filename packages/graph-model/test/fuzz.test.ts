/**
 * Seeded fuzzing of the validator: thousands of mutated graphs (wrong types, missing
 * fields, huge arrays, deep nesting, cycles, hostile names). The validator must never
 * throw, and every problem it reports must name a real place in the document.
 *
 * SLUICE_FUZZ_RUNS raises the count for a soak run; SLUICE_FUZZ_SEED replays one seed.
 * A seed that ever fails goes into PINNED_SEEDS below.
 */
import { describe, expect, it } from 'vitest';
import { OPERATORS, formatPath, validateGraph, type PathSegment } from '@sluice/graph-model';
import { exampleFiles, loadExample, windowedGraph } from './helpers.js';

const RUNS = Number(process.env['SLUICE_FUZZ_RUNS'] ?? 4000);
const ONLY_SEED = process.env['SLUICE_FUZZ_SEED'];
/** Seeds that once broke the validator; they run on every test run. */
const PINNED_SEEDS: readonly number[] = [];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

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

class Fuzzer {
  private readonly random: () => number;
  constructor(seed: number) {
    this.random = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.random() < p;
  }

  value(depth = 0): Json {
    switch (this.int(depth > 2 ? 9 : 12)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1, 1.5, -0.25, 1e308, -1e308, 2 ** 53 + 2, 128, 32_769]);
      case 3:
        return this.pick(['', ' ', 'x', 'main', 'late', 'map', 'generator', '__proto__', 'constructor', 'toString', '(v) => v', '({', 'sizeMs']);
      case 4:
        return 'z'.repeat(this.pick([200, 5_000, 200_000]));
      case 5:
        return this.pick(OPERATORS).type;
      case 6:
        return this.pick(['e1', 'gen', 'key', 'win', 'sink', 'nope']);
      case 7:
        return this.int(1000);
      case 8:
        return JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {}}}') as Json;
      case 9:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      case 10:
        return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.pick(['a', 'kind', 'op', 'field', 'type', 'id']), this.value(depth + 1)]));
      default:
        return { kind: this.pick(['field', 'function', 'aggregations', 'reduce', 'tumbling', 'count', 'nope']) };
    }
  }

  /** A random container in the document and the path to it. */
  container(root: Json): { path: PathSegment[]; target: Json[] | { [key: string]: Json } } | undefined {
    let current: Json = root;
    const path: PathSegment[] = [];
    let found: { path: PathSegment[]; target: Json[] | { [key: string]: Json } } | undefined;
    for (let depth = 0; depth < 8; depth++) {
      if (typeof current !== 'object' || current === null) break;
      found = { path: [...path], target: current };
      const keys: PathSegment[] = Array.isArray(current) ? current.map((_, i) => i) : Object.keys(current);
      if (keys.length === 0 || this.chance(0.2)) break;
      const key = this.pick(keys);
      path.push(key);
      current = (current as Record<PathSegment, Json>)[key] as Json;
    }
    return found;
  }

  mutate(document: Json): string {
    const spot = this.container(document);
    if (!spot) return 'none';
    const { target } = spot;
    const keys: PathSegment[] = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
    const key = keys.length > 0 ? this.pick(keys) : Array.isArray(target) ? 0 : 'x';
    const set = (k: PathSegment, v: Json) => ((target as Record<PathSegment, Json>)[k] = v);
    switch (this.int(11)) {
      case 0:
        if (Array.isArray(target)) target.splice(Number(key), 1);
        else Reflect.deleteProperty(target, String(key));
        return 'delete';
      case 1:
        set(key, this.value());
        return 'replace';
      case 2:
        if (!Array.isArray(target) && keys.length > 0) {
          const value = target[String(key)] as Json;
          Reflect.deleteProperty(target, String(key));
          target[`${String(key)}${this.pick(['s', 'X', '_', ''])}`.replace(/^./, (c) => (this.chance(0.5) ? c.toUpperCase() : c))] = value;
        }
        return 'rename';
      case 3:
        if (Array.isArray(target) && target.length > 0) target.push(target[this.int(target.length)] as Json);
        return 'duplicate';
      case 4: {
        const size = this.pick([1_000, 20_000, 60_000]);
        set(key, Array.from({ length: size }, (_, i) => (this.chance(0.5) ? i : { id: `n${i}`, type: 'map', config: {} })));
        return 'huge-array';
      }
      case 5: {
        let deep: Json = this.value(3);
        const depth = this.pick([100, 5_000, 50_000]);
        for (let i = 0; i < depth; i++) deep = this.chance(0.5) ? [deep] : { a: deep };
        set(key, deep);
        return 'deep';
      }
      case 6: {
        const graph = document as { nodes?: Json; edges?: Json };
        if (Array.isArray(graph.nodes) && Array.isArray(graph.edges) && graph.nodes.length > 1) {
          const ids = graph.nodes.map((n) => (typeof n === 'object' && n !== null && !Array.isArray(n) ? n['id'] : null));
          graph.edges.push({ id: `fz${this.int(1e6)}`, source: this.pick(ids) as Json, target: this.pick(ids) as Json });
        }
        return 'edge';
      }
      case 7: {
        const graph = document as { edges?: Json };
        if (Array.isArray(graph.edges) && graph.edges.length > 0) {
          const edge = this.pick(graph.edges);
          if (typeof edge === 'object' && edge !== null && !Array.isArray(edge)) {
            // The same connection backwards: a cycle whenever the original was valid.
            graph.edges.push({ ...edge, id: `rev${this.int(1e6)}`, source: edge['target'] as Json, target: edge['source'] as Json });
          }
        }
        return 'reverse-edge';
      }
      case 8: {
        const graph = document as { nodes?: Json };
        if (Array.isArray(graph.nodes) && graph.nodes.length > 0) {
          const node = this.pick(graph.nodes);
          if (typeof node === 'object' && node !== null && !Array.isArray(node)) node['type'] = this.pick(OPERATORS).type;
        }
        return 'retype';
      }
      case 9:
        set(key, this.pick(['(v) => {', 'v =>', '({ processElement })', 'function () { return', '`', '(a, b) => a +* b', '"use strict"; (v) => v', ')']));
        return 'bad-code';
      default:
        set(key, this.pick(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', '', 'a'.repeat(65)]));
        return 'hostile-name';
    }
  }
}

function exists(root: unknown, segments: readonly PathSegment[]): boolean {
  let current = root;
  for (const segment of segments) {
    if (typeof current !== 'object' || current === null || !Object.prototype.hasOwnProperty.call(current, segment)) return false;
    current = (current as Record<PathSegment, unknown>)[segment];
  }
  return true;
}

const bases: Json[] = [windowedGraph() as unknown as Json, ...exampleFiles().map((f) => loadExample(f) as unknown as Json)];

function check(seed: number, seen?: Set<string>): void {
  const fuzz = new Fuzzer(seed);
  const document = structuredClone(fuzz.pick(bases));
  const applied: string[] = [];
  const count = 1 + fuzz.int(4);
  for (let i = 0; i < count; i++) applied.push(fuzz.mutate(document));
  const context = `seed ${seed} (${applied.join(', ')})`;

  let result: ReturnType<typeof validateGraph>;
  try {
    result = validateGraph(document);
  } catch (error) {
    throw new Error(`validateGraph threw for ${context}: ${String(error)}`, { cause: error });
  }
  const errors = result.problems.filter((p) => p.severity === 'error');
  expect(result.ok, context).toBe(errors.length === 0);
  for (const p of result.problems) {
    seen?.add(p.code);
    expect(p.message, context).not.toMatch(/internal validator error/);
    expect(p.message.length, context).toBeGreaterThan(0);
    expect(p.path, context).toBe(formatPath(p.segments));
    if (p.code === 'too-many-problems' || p.segments.some((s) => typeof s === 'string' && s.endsWith('…'))) continue;
    // A problem names an existing place, or a missing field of an existing object.
    expect(exists(document, p.segments) || exists(document, p.segments.slice(0, -1)), `${context}: ${p.path} ${p.message}`).toBe(true);
  }
}

describe('validator fuzzing', () => {
  if (ONLY_SEED !== undefined) {
    it(`replays seed ${ONLY_SEED}`, () => check(Number(ONLY_SEED)));
    return;
  }

  it.each(PINNED_SEEDS)('pinned seed %i', (seed) => check(seed));

  it(`never throws and always names a place, over ${RUNS} mutated graphs`, () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= RUNS; seed++) check(seed, seen);
    // The mutations must reach the graph-level checks, not only field parsing.
    const expected = ['invalid-field', 'unknown-field', 'unknown-type', 'invalid-config', 'invalid-code', 'duplicate-id', 'dangling-edge', 'cycle', 'too-large'];
    if (RUNS >= 4000) expect([...seen].sort()).toEqual(expect.arrayContaining(expected.sort()));
  }, Math.max(30_000, RUNS * 10));

  it('rejects most mutations, so the fuzzer really reaches the validator', () => {
    let rejected = 0;
    const sample = 500;
    for (let seed = 1; seed <= sample; seed++) {
      const fuzz = new Fuzzer(seed);
      const document = structuredClone(fuzz.pick(bases));
      fuzz.mutate(document);
      if (!validateGraph(document).ok) rejected++;
    }
    expect(rejected).toBeGreaterThan(sample * 0.5);
  });

  it('handles a 100,000-deep config and a long valid chain of nodes', () => {
    let deep: Json = 1;
    for (let i = 0; i < 100_000; i++) deep = { nested: deep };
    const graph = windowedGraph() as unknown as { nodes: Array<{ config: Json }> };
    (graph.nodes[0] as { config: Json }).config = deep;
    expect(validateGraph(graph).problems.map((p) => p.path)).toContain('nodes[0].config.nested');

    const chain = windowedGraph();
    const maps = Array.from({ length: 5_000 }, (_, i) => ({ id: `m${i}`, type: 'map', config: { fn: '(v) => v' } }));
    chain.nodes.splice(1, 0, ...maps);
    chain.edges = [
      { id: 'first', source: 'gen', target: 'm0' },
      ...maps.slice(1).map((m, i) => ({ id: `c${i}`, source: `m${i}`, target: m.id })),
      { id: 'last', source: `m${maps.length - 1}`, target: 'key' },
      { id: 'e2', source: 'key', target: 'win' },
      { id: 'e3', source: 'win', target: 'sink' },
    ];
    expect(validateGraph(chain).problems).toEqual([]);
    chain.edges.push({ id: 'back', source: 'm4999', target: 'm0' });
    expect(validateGraph(chain).problems.map((p) => p.code)).toEqual(['cycle']);
  });
});
