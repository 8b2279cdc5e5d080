import { describe, expect, it } from 'vitest';
import { applyGraphChanges } from '../src/model/changes';
import { describeDiff, diffGraphs, isEmptyDiff } from '../src/model/diff';
import { allExamples, example, pipeline } from './helpers';

describe('diffGraphs', () => {
  it('finds nothing between a graph and itself, or one with other positions and key order', () => {
    for (const { doc } of allExamples()) {
      expect(isEmptyDiff(diffGraphs(doc, doc))).toBe(true);
      const shuffled = JSON.parse(JSON.stringify(doc, (_key, value: unknown) => {
        if (value && typeof value === 'object' && !Array.isArray(value)) {
          return Object.fromEntries(Object.entries(value).reverse());
        }
        return value;
      })) as typeof doc;
      const moved = { ...shuffled, nodes: shuffled.nodes.map((n) => ({ ...n, position: { x: 1, y: 2 } })) };
      expect(describeDiff(diffGraphs(doc, moved))).toEqual([]);
    }
  });

  it('ignores values equal to defaults (a written default is the same graph)', () => {
    const before = pipeline();
    const after = applyGraphChanges(before, [
      { type: 'update-config', id: 'window', path: ['allowedLatenessMs'], value: 0 },
      { type: 'update-node', id: 'gen', patch: { chaining: 'auto' } },
      { type: 'update-document', patch: { job: { defaultParallelism: 1 } } },
    ]);
    expect(describeDiff(diffGraphs(before, after))).toEqual([]);
  });

  it('lists added, removed and changed nodes and edges, and job changes, per path', () => {
    const before = pipeline();
    const after = applyGraphChanges(before, [
      { type: 'update-config', id: 'window', path: ['sizeMs'], value: 30000 },
      { type: 'update-config', id: 'window', path: ['function', 'aggregations', 0, 'as'], value: 'views' },
      { type: 'update-node', id: 'gen', patch: { name: 'Clicks' } },
      { type: 'remove-node', id: 'out' },
      { type: 'add-node', node: { id: 'console', type: 'console-sink', config: {} } },
      { type: 'add-edge', edge: { id: 'e9', source: 'window', target: 'console' } },
      { type: 'update-edge', id: 'e1', patch: { partitioning: 'rebalance' } },
      { type: 'update-document', patch: { job: { defaultParallelism: 4 } } },
    ]);
    expect(describeDiff(diffGraphs(before, after))).toEqual([
      'document job.defaultParallelism: 1 → 4',
      "+ node 'console' (console-sink)",
      "− node 'out' (collect-sink)",
      "~ node 'gen' name: set to \"Clicks\"",
      "~ node 'window' config.function.aggregations[0].as: set to \"views\"",
      "~ node 'window' config.sizeMs: 60000 → 30000",
      '+ edge window → console',
      '− edge window → out',
      '~ edge gen → by-page partitioning: set to "rebalance"',
    ]);
  });

  it('matches edges by what they connect, not by id', () => {
    const before = example('clickstream-page-views');
    const after = { ...before, edges: before.edges.map((e, i) => ({ ...e, id: `edge-${i}` })) };
    const diff = diffGraphs(before, after);
    expect(diff.edgesAdded).toEqual([]);
    expect(diff.edgesRemoved).toEqual([]);
    expect(describeDiff(diff)[0]).toBe('~ edge clicks → views-only id: "e1" → "edge-0"');
  });

  it('tells side outputs and named inputs apart', () => {
    const before = example('iot-sensor-averages');
    const late = before.edges.find((e) => e.sourceOutput === 'late');
    expect(late).toBeDefined();
    const after = { ...before, edges: before.edges.filter((e) => e !== late) };
    expect(describeDiff(diffGraphs(before, after))).toEqual([`− edge ${late?.source ?? ''}.late → ${late?.target ?? ''}`]);
  });
});
