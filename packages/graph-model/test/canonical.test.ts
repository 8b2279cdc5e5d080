import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@sluice/graph-model';
import { windowedGraph } from './helpers.js';

function shuffleKeys(value: unknown, seed: { n: number }): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  entries.sort(() => ((seed.n = (seed.n * 1103515245 + 12345) % 2 ** 31) % 2 === 0 ? -1 : 1));
  return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, seed)]));
}

describe('canonical JSON', () => {
  it('writes the document, nodes and edges in a fixed key order with 2-space indent', () => {
    const text = canonicalJson(windowedGraph());
    expect(text.startsWith('{\n  "schemaVersion": 1,\n  "name": "windowed",\n  "nodes": [\n    {\n      "id": "gen",\n      "type": "generator",\n      "config"')).toBe(true);
    expect(text).toContain('{\n      "id": "e1",\n      "source": "gen",\n      "target": "key"\n    }');
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('sorts config keys alphabetically', () => {
    const text = canonicalJson({ schemaVersion: 1, nodes: [{ id: 'a', config: { zeta: 1, alpha: { y: 1, b: 2 } } }] });
    expect(text.indexOf('"alpha"')).toBeLessThan(text.indexOf('"zeta"'));
    expect(text.indexOf('"b"')).toBeLessThan(text.indexOf('"y"'));
  });

  it('gives the same bytes whatever the input key order', () => {
    const expected = canonicalJson(windowedGraph());
    for (let n = 1; n <= 20; n++) expect(canonicalJson(shuffleKeys(windowedGraph(), { n }))).toBe(expected);
  });

  it('is idempotent and keeps array order', () => {
    const once = canonicalJson(windowedGraph());
    expect(canonicalJson(JSON.parse(once))).toBe(once);
    expect((JSON.parse(once) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id)).toEqual(['gen', 'key', 'win', 'sink']);
  });

  it('drops undefined fields and writes -0 as 0', () => {
    expect(canonicalJson({ schemaVersion: 1, name: undefined, x: -0 })).toBe('{\n  "schemaVersion": 1,\n  "x": 0\n}\n');
  });
});
