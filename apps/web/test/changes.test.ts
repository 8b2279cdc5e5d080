import { canonicalJson } from '@sluice/graph-model';
import { describe, expect, it } from 'vitest';
import { applyGraphChanges, applyWithInverse, getIn, setIn, type GraphChange } from '../src/model/changes';
import { allExamples, pipeline } from './helpers';

/** Applying the inverse must give back the input exactly, byte for byte when written out. */
function roundTrip(changes: GraphChange[], doc = pipeline()) {
  const before = JSON.stringify(doc);
  const { document, inverse } = applyWithInverse(doc, changes);
  expect(JSON.stringify(doc)).toBe(before); // the input is never mutated
  const restored = applyGraphChanges(document, inverse);
  expect(JSON.stringify(restored)).toBe(before);
  return document;
}

describe('applyGraphChanges', () => {
  it('adds a node at the end or at an index, and removes it', () => {
    const node = { id: 'map-1', type: 'map', config: { fn: '(v) => v' } };
    const added = roundTrip([{ type: 'add-node', node }]);
    expect(added.nodes.map((n) => n.id)).toEqual(['gen', 'by-page', 'window', 'out', 'map-1']);
    const inserted = roundTrip([{ type: 'add-node', node, index: 1 }]);
    expect(inserted.nodes.map((n) => n.id)).toEqual(['gen', 'map-1', 'by-page', 'window', 'out']);
  });

  it('removes a node with its edges, and undo restores both in their places', () => {
    const doc = roundTrip([{ type: 'remove-node', id: 'by-page' }]);
    expect(doc.nodes.map((n) => n.id)).toEqual(['gen', 'window', 'out']);
    expect(doc.edges.map((e) => e.id)).toEqual(['e3']);
  });

  it('moves a node, and a move to undefined removes the position', () => {
    const moved = roundTrip([{ type: 'move-node', id: 'gen', position: { x: 5, y: 6 } }]);
    expect(moved.nodes[0]?.position).toEqual({ x: 5, y: 6 });
    const unplaced = roundTrip([{ type: 'move-node', id: 'gen', position: undefined }]);
    expect(unplaced.nodes[0]).not.toHaveProperty('position');
  });

  it('updates node fields; undefined removes a field', () => {
    const doc = roundTrip([
      { type: 'update-node', id: 'gen', patch: { name: 'Clicks', parallelism: 2 } },
      { type: 'update-node', id: 'gen', patch: { parallelism: undefined, chaining: 'never' } },
    ]);
    expect(doc.nodes[0]).toMatchObject({ name: 'Clicks', chaining: 'never' });
    expect(doc.nodes[0]).not.toHaveProperty('parallelism');
  });

  it('sets config values at a path, creating objects on the way, and undo removes them again', () => {
    const doc = roundTrip([
      { type: 'update-config', id: 'window', path: ['sizeMs'], value: 30000 },
      { type: 'update-config', id: 'window', path: ['trigger', 'kind'], value: 'count' },
      { type: 'update-config', id: 'window', path: ['function', 'aggregations', 0, 'as'], value: 'views' },
    ]);
    expect(getIn(doc.nodes[2]?.config, ['sizeMs'])).toBe(30000);
    expect(getIn(doc.nodes[2]?.config, ['trigger'])).toEqual({ kind: 'count' });
    expect(getIn(doc.nodes[2]?.config, ['function', 'aggregations', 0])).toEqual({ op: 'count', as: 'views' });
  });

  it('removes config keys and array elements, and undo puts them back in order', () => {
    const doc = roundTrip([
      { type: 'update-config', id: 'window', path: ['function', 'aggregations'], value: [{ op: 'count' }, { op: 'sum', field: 'x' }, { op: 'max', field: 'y' }] },
      { type: 'update-config', id: 'window', path: ['function', 'aggregations', 1], value: undefined },
      { type: 'update-config', id: 'gen', path: ['count'], value: undefined },
    ]);
    expect(getIn(doc.nodes[2]?.config, ['function', 'aggregations'])).toEqual([{ op: 'count' }, { op: 'max', field: 'y' }]);
    expect(doc.nodes[0]?.config).toEqual({ profile: 'clickstream' });
  });

  it('adds, updates and removes edges', () => {
    const doc = roundTrip([
      { type: 'add-edge', edge: { id: 'e4', source: 'window', sourceOutput: 'late', target: 'out' } },
      { type: 'update-edge', id: 'e1', patch: { partitioning: 'rebalance' } },
      { type: 'remove-edge', id: 'e2' },
    ]);
    expect(doc.edges.map((e) => e.id)).toEqual(['e1', 'e3', 'e4']);
    expect(doc.edges[0]?.partitioning).toBe('rebalance');
  });

  it('updates the document and replaces the whole graph', () => {
    roundTrip([{ type: 'update-document', patch: { name: 'Renamed', description: 'x', job: { defaultParallelism: 4 } } }]);
    for (const { doc } of allExamples()) {
      const replaced = roundTrip([{ type: 'replace-graph', document: doc }]);
      expect(canonicalJson(replaced)).toBe(canonicalJson(doc));
    }
  });

  it('skips changes that do not apply and returns the same object when nothing changed', () => {
    const doc = pipeline();
    expect(applyGraphChanges(doc, [{ type: 'remove-node', id: 'nope' }])).toBe(doc);
    expect(applyGraphChanges(doc, [{ type: 'update-config', id: 'window', path: ['sizeMs'], value: 60000 }])).toBe(doc);
    expect(applyGraphChanges(doc, [{ type: 'move-node', id: 'gen', position: { x: 0, y: 0 } }])).toBe(doc);
    expect(applyWithInverse(doc, [{ type: 'remove-edge', id: 'nope' }]).inverse).toEqual([]);
  });

  it('shares unchanged nodes between versions (so memoized components skip them)', () => {
    const doc = pipeline();
    const next = applyGraphChanges(doc, [{ type: 'update-config', id: 'window', path: ['sizeMs'], value: 1000 }]);
    expect(next.nodes[0]).toBe(doc.nodes[0]);
    expect(next.nodes[2]).not.toBe(doc.nodes[2]);
    expect(next.edges).toBe(doc.edges);
  });

  it('round-trips long random change sequences exactly (seeded)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = mulberry32(seed);
      let doc = pipeline();
      const history: Array<{ before: string; inverse: readonly GraphChange[] }> = [];
      for (let step = 0; step < 40; step++) {
        const change = randomChange(doc, random, step);
        const before = JSON.stringify(doc);
        const result = applyWithInverse(doc, [change]);
        history.push({ before, inverse: result.inverse });
        doc = result.document;
      }
      for (const entry of history.reverse()) {
        doc = applyGraphChanges(doc, entry.inverse);
        expect(JSON.stringify(doc), `seed ${seed}`).toBe(entry.before);
      }
    }
  });
});

describe('setIn', () => {
  it('returns the same value when nothing changes', () => {
    const value = { a: { b: [1, 2] } };
    expect(setIn(value, ['a', 'b', 0], 1)).toBe(value);
    expect(setIn(value, ['x'], undefined)).toBe(value);
    expect(setIn(value, ['a', 'b', 5], undefined)).toBe(value);
  });
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChange(doc: ReturnType<typeof pipeline>, random: () => number, step: number): GraphChange {
  const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(random() * list.length)];
  const node = pick(doc.nodes);
  const edge = pick(doc.edges);
  switch (Math.floor(random() * 9)) {
    case 0:
      return { type: 'add-node', node: { id: `n${step}`, type: 'map', config: { fn: '(v) => v' } }, index: Math.floor(random() * (doc.nodes.length + 1)) };
    case 1:
      return { type: 'remove-node', id: node?.id ?? 'x' };
    case 2:
      return { type: 'move-node', id: node?.id ?? 'x', position: random() < 0.2 ? undefined : { x: step, y: -step } };
    case 3:
      return { type: 'update-node', id: node?.id ?? 'x', patch: { name: random() < 0.3 ? undefined : `name ${step}` } };
    case 4:
      return { type: 'update-config', id: node?.id ?? 'x', path: random() < 0.5 ? ['a', 'b'] : ['list', Math.floor(random() * 3)], value: random() < 0.3 ? undefined : step };
    case 5:
      return { type: 'add-edge', edge: { id: `x${step}`, source: node?.id ?? 'a', target: pick(doc.nodes)?.id ?? 'b' }, index: Math.floor(random() * (doc.edges.length + 1)) };
    case 6:
      return { type: 'remove-edge', id: edge?.id ?? 'x' };
    case 7:
      return { type: 'update-edge', id: edge?.id ?? 'x', patch: { partitioning: random() < 0.5 ? undefined : 'rebalance' } };
    default:
      return { type: 'update-document', patch: { name: `doc ${step}`, description: random() < 0.5 ? undefined : 'd' } };
  }
}
