import { validateGraph } from '@sluice/graph-model';
import { describe, expect, it } from 'vitest';
import { applyGraphChanges } from '../src/model/changes';
import { copySelection, planPaste, readClipboardPayload } from '../src/model/clipboard';
import { copyId, freshEdgeId, freshNodeId, kebab } from '../src/model/ids';
import { layoutChanges } from '../src/model/layout';
import { portsOf } from '../src/model/ports';
import { codeProblemLocation, indexProblems, problemTarget } from '../src/model/problems';
import { humanDuration } from '../src/model/units';
import { findExamplesDirectory, loadExamples } from '../src/examples/load-examples';
import { allExamples, example, pipeline } from './helpers';

describe('ids', () => {
  it('makes kebab ids from the type, numbered from 1', () => {
    expect(freshNodeId('tumbling-window', new Set())).toBe('tumbling-window-1');
    expect(freshNodeId('tumbling-window', new Set(['tumbling-window-1']))).toBe('tumbling-window-2');
    expect(freshEdgeId(new Set(['e1', 'e2']))).toBe('e3');
    expect(copyId('by-page-3', new Set(['by-page-1']))).toBe('by-page-2');
    expect(kebab('KeyedProcess Fn')).toBe('keyed-process-fn');
  });
});

describe('clipboard', () => {
  it('copies nodes with the edges between them and pastes them with fresh ids', () => {
    const doc = pipeline();
    const payload = copySelection(doc, ['by-page', 'window']);
    expect(payload?.nodes.map((n) => n.id)).toEqual(['by-page', 'window']);
    expect(payload?.edges.map((e) => e.id)).toEqual(['e2']);
    const roundTripped = readClipboardPayload(JSON.parse(JSON.stringify(payload)));
    expect(roundTripped).toBeDefined();
    const plan = planPaste(doc, roundTripped ?? (payload as never), { x: 10, y: 20 });
    expect(plan.nodeIds).toEqual(['by-page-1', 'window-1']);
    const pasted = applyGraphChanges(doc, plan.changes);
    expect(pasted.edges.at(-1)).toEqual({ id: 'e4', source: 'by-page-1', target: 'window-1' });
    expect(pasted.nodes.at(-1)?.position).toEqual({ x: 410, y: 20 });
    expect(readClipboardPayload({ kind: 'other' })).toBeUndefined();
  });
});

describe('humanDuration', () => {
  it.each([
    [0, '0 ms'],
    [250, '250 ms'],
    [1500, '1.5 s'],
    [60_000, '1 min'],
    [90_000, '1 min 30 s'],
    [3_600_000, '1 h'],
    [86_400_000, '1 d'],
    [1_800_000, '30 min'],
    [-5000, '−5 s'],
    [3_723_004, '1 h 2 min 3 s 4 ms'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('ports', () => {
  it('shows side outputs the config declares, and inputs by name', () => {
    const fraud = example('card-fraud-detection');
    for (const node of fraud.nodes) {
      const ports = portsOf(node, fraud.edges);
      expect(ports.outputs.every((p) => p.unknown === undefined)).toBe(true);
    }
    expect(portsOf({ id: 'w', type: 'tumbling-window', config: {} }).outputs.map((o) => o.name)).toEqual(['main', 'late']);
    expect(portsOf({ id: 'k', type: 'keyed-process', config: { fn: '({ processElement() {} })', sideOutputs: ['alerts'] } }).outputs.map((o) => o.name)).toEqual([
      'main',
      'alerts',
    ]);
    expect(portsOf({ id: 'j', type: 'broadcast-process', config: {} }).inputs.map((i) => i.name)).toEqual(['keyed', 'broadcast']);
    expect(portsOf({ id: 's', type: 'collect-sink', config: {} }).outputs).toEqual([]);
  });

  it('keeps a port that an edge refers to even when the operator has none', () => {
    const ports = portsOf({ id: 'm', type: 'map', config: {} }, [{ id: 'e', source: 'm', sourceOutput: 'ghost', target: 'x' }]);
    expect(ports.outputs.map((o) => [o.name, o.unknown])).toEqual([
      ['main', undefined],
      ['ghost', true],
    ]);
  });
});

describe('problems', () => {
  it('resolves a problem to the node and the field path inside it', () => {
    const doc = applyGraphChanges(pipeline(), [
      { type: 'update-config', id: 'by-page', path: ['key', 'field'], value: 'not a path' },
      { type: 'update-document', patch: { job: { defaultParallelism: 0 } } },
    ]);
    const { problems } = validateGraph(doc);
    const targets = problems.map((p) => problemTarget(doc, p));
    expect(targets).toContainEqual({ kind: 'node', id: 'by-page', fieldPath: 'config.key.field', segments: ['config', 'key', 'field'] });
    expect(targets).toContainEqual({ kind: 'document', fieldPath: 'job.defaultParallelism', segments: ['job', 'defaultParallelism'] });
    const index = indexProblems(doc, problems);
    expect(index.byNode.get('by-page')?.length).toBe(1);
    expect(index.errors).toBe(problems.filter((p) => p.severity === 'error').length);
  });

  it('reads the line and column of code problems', () => {
    expect(codeProblemLocation('line 2, column 5: syntax error: Unexpected token')).toEqual({ line: 2, column: 5, message: 'syntax error: Unexpected token' });
    expect(codeProblemLocation('expected a number')).toBeUndefined();
  });
});

describe('layout', () => {
  it('lays every example out left to right, offline', async () => {
    for (const { doc } of allExamples()) {
      const changes = await layoutChanges(doc);
      expect(changes).toHaveLength(doc.nodes.length);
      const laid = applyGraphChanges(doc, changes);
      const x = new Map(laid.nodes.map((n) => [n.id, n.position?.x ?? Number.NaN]));
      for (const e of laid.edges) expect(x.get(e.source) ?? 0).toBeLessThan(x.get(e.target) ?? 0);
    }
  });
});

describe('examples loader', () => {
  it('reads every example with its name', () => {
    const dir = findExamplesDirectory(import.meta.dirname);
    const examples = loadExamples(dir);
    expect(examples.length).toBe(allExamples().length);
    expect(examples.find((e) => e.file === 'clickstream-page-views.json')?.name).toBe('Clickstream: page views per minute');
  });
});

describe('humanMs', () => {
  it('shows epoch times as dates and the rest as durations', async () => {
    const { humanMs } = await import('../src/model/units');
    expect(humanMs(1_700_000_000_000)).toBe('2023-11-14 22:13:20 UTC');
    expect(humanMs(60_000)).toBe('1 min');
  });
});
