import { describe, expect, it } from 'vitest';
import { applyGraphChanges } from '../src/model/changes';
import { edgeFor, planConnection } from '../src/model/connection';
import type { GraphDocument } from '../src/model/document';
import { pipeline } from './helpers';

function refused(doc: GraphDocument, request: Parameters<typeof planConnection>[1]): string {
  const plan = planConnection(doc, request);
  if (plan.ok) throw new Error(`expected the connection to be refused, got ${JSON.stringify(plan.edge)}`);
  return plan.reason;
}

const withNodes = (...nodes: GraphDocument['nodes']) => applyGraphChanges(pipeline(), nodes.map((node) => ({ type: 'add-node' as const, node })));

describe('planConnection', () => {
  it('accepts a valid connection and writes the minimal edge', () => {
    const doc = withNodes({ id: 'console', type: 'console-sink', config: {} });
    const plan = planConnection(doc, { source: 'window', sourceHandle: 'late', target: 'console', targetHandle: 'in' });
    expect(plan).toEqual({ ok: true, edge: { id: 'e4', source: 'window', sourceOutput: 'late', target: 'console' } });
  });

  it('keeps targetInput for two-input operators', () => {
    const doc = withNodes({ id: 'join', type: 'interval-join', config: { lowerBoundMs: 0, upperBoundMs: 1000 } });
    expect(edgeFor(doc, { source: 'by-page', sourceHandle: 'main', target: 'join', targetHandle: 'left' })).toEqual({
      id: 'e4',
      source: 'by-page',
      target: 'join',
      targetInput: 'left',
    });
  });

  it('refuses an edge into a source', () => {
    expect(refused(pipeline(), { source: 'by-page', target: 'gen', targetHandle: 'in' })).toMatch(/is a source \(generator\) and takes no input/);
  });

  it('refuses an edge out of a sink', () => {
    const doc = withNodes({ id: 'm', type: 'map', config: { fn: '(v) => v' } });
    expect(refused(doc, { source: 'out', sourceHandle: 'main', target: 'm', targetHandle: 'in' })).toMatch(/a sink has no outputs/);
  });

  it('refuses an unknown input', () => {
    const doc = withNodes({ id: 'join', type: 'interval-join', config: { lowerBoundMs: 0, upperBoundMs: 1000 } });
    expect(refused(doc, { source: 'by-page', target: 'join', targetHandle: 'middle' })).toMatch(/has no input 'middle'; its inputs: 'left' or 'right'/);
  });

  it('refuses a duplicate edge', () => {
    expect(refused(pipeline(), { source: 'gen', sourceHandle: 'main', target: 'by-page', targetHandle: 'in' })).toMatch(/repeats edges\[0\]/);
  });

  it('refuses a cycle and a self-loop', () => {
    const doc = withNodes({ id: 'm', type: 'map', config: { fn: '(v) => v' } }, { id: 'f', type: 'filter', config: { fn: '(v) => true' } });
    const chain = applyGraphChanges(doc, [
      { type: 'add-edge', edge: { id: 'x1', source: 'gen', target: 'm' } },
      { type: 'add-edge', edge: { id: 'x2', source: 'm', target: 'f' } },
    ]);
    expect(refused(chain, { source: 'f', target: 'm', targetHandle: 'in' })).toMatch(/^cycle 'm' → 'f' → 'm'|^cycle 'f' → 'm' → 'f'/);
    expect(refused(chain, { source: 'm', target: 'm', targetHandle: 'in' })).toMatch(/to itself/);
  });

  it('refuses a keyed-only input from a non-key-by node, naming the fix', () => {
    const doc = withNodes({ id: 'w2', type: 'tumbling-window', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } });
    expect(refused(doc, { source: 'gen', target: 'w2', targetHandle: 'in' })).toMatch(/needs a keyed input: .*Connect 'in' from a key-by node instead of 'gen'/);
  });

  it('refuses a keyed stream into a broadcast input', () => {
    const doc = withNodes({
      id: 'bp',
      type: 'broadcast-process',
      config: { fn: '({ processElement(v, ctx) {}, processBroadcastElement(r, ctx) {} })', broadcastStates: ['rules'] },
    });
    expect(refused(doc, { source: 'by-page', target: 'bp', targetHandle: 'broadcast' })).toMatch(/input 'broadcast' of 'bp' \(broadcast-process\) takes a non-keyed stream/);
    expect(planConnection(doc, { source: 'gen', target: 'bp', targetHandle: 'broadcast' }).ok).toBe(true);
  });

  it('does not blame a new edge for problems the graph already had', () => {
    const doc = withNodes({ id: 'lonely', type: 'map', config: { fn: '(v) => v' } }, { id: 'sink2', type: 'blackhole-sink', config: {} });
    expect(planConnection(doc, { source: 'lonely', target: 'sink2', targetHandle: 'in' }).ok).toBe(true);
  });
});
