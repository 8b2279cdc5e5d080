import { canonicalJson } from '@sluice/graph-model';
import { describe, expect, it } from 'vitest';
import { emptyDocument } from '../src/model/document';
import { createEditorStore } from '../src/store/editor-store';
import { pipeline } from './helpers';

describe('editor store', () => {
  it('adds nodes with fresh ids and the default config, selects them, and undoes and redoes', () => {
    const store = createEditorStore(emptyDocument());
    const s = () => store.getState();
    expect(s().addNode('tumbling-window', { x: 10.4, y: 20.6 })).toBe('tumbling-window-1');
    expect(s().addNode('tumbling-window', { x: 0, y: 0 })).toBe('tumbling-window-2');
    expect(s().doc.nodes[0]).toEqual({
      id: 'tumbling-window-1',
      type: 'tumbling-window',
      config: { sizeMs: 60000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } },
      position: { x: 10, y: 21 },
    });
    expect(s().selection.nodes).toEqual(['tumbling-window-2']);
    s().undo();
    expect(s().doc.nodes.map((n) => n.id)).toEqual(['tumbling-window-1']);
    expect(s().selection.nodes).toEqual([]);
    s().redo();
    expect(s().doc.nodes.map((n) => n.id)).toEqual(['tumbling-window-1', 'tumbling-window-2']);
    expect(s().addNode('no-such-type', { x: 0, y: 0 })).toBeUndefined();
  });

  it('merges typing in one field into one undo step', () => {
    let time = 0;
    const store = createEditorStore(pipeline(), () => time);
    const s = () => store.getState();
    for (const size of [1, 12, 120]) {
      time += 100;
      s().dispatch([{ type: 'update-config', id: 'window', path: ['sizeMs'], value: size }], { coalesceKey: 'window/sizeMs' });
    }
    expect(s().past).toHaveLength(1);
    s().undo();
    expect(canonicalJson(s().doc)).toBe(canonicalJson(pipeline()));
  });

  it('records a drag as one step from where it started', () => {
    const store = createEditorStore(pipeline());
    const s = () => store.getState();
    s().moveNodes([{ id: 'gen', position: { x: 5, y: 5 } }], true);
    s().moveNodes([{ id: 'gen', position: { x: 50, y: 60 } }], true);
    s().moveNodes([{ id: 'gen', position: { x: 50, y: 60 } }], false);
    expect(s().past).toHaveLength(1);
    expect(s().doc.nodes[0]?.position).toEqual({ x: 50, y: 60 });
    s().undo();
    expect(s().doc.nodes[0]?.position).toEqual({ x: 0, y: 0 });
  });

  it('deletes the selection with its edges, and undo restores the graph exactly', () => {
    const store = createEditorStore(pipeline());
    const s = () => store.getState();
    s().select({ nodes: ['by-page'], edges: ['e3'] });
    s().deleteSelection();
    expect(s().doc.nodes.map((n) => n.id)).toEqual(['gen', 'window', 'out']);
    expect(s().doc.edges).toEqual([]);
    s().undo();
    expect(JSON.stringify(s().doc)).toBe(JSON.stringify(pipeline()));
  });

  it('copies and pastes the selection with new ids, selecting the copy', () => {
    const store = createEditorStore(pipeline());
    const s = () => store.getState();
    s().selectAll();
    const payload = s().copy();
    s().paste(payload);
    expect(s().doc.nodes).toHaveLength(8);
    expect(s().selection.nodes).toEqual(['gen-1', 'by-page-1', 'window-1', 'out-1']);
    expect(s().doc.edges.slice(3).map((e) => `${e.source}>${e.target}`)).toEqual(['gen-1>by-page-1', 'by-page-1>window-1', 'window-1>out-1']);
  });

  it('refuses an invalid connection with a toast naming the reason', () => {
    const store = createEditorStore(pipeline());
    const s = () => store.getState();
    expect(s().connect({ source: 'gen', target: 'window', targetHandle: 'in' })).toBe(false);
    expect(s().toasts.at(-1)?.message).toMatch(/^Cannot connect: 'window' \(tumbling-window\) needs a keyed input/);
    expect(s().doc.edges).toHaveLength(3);
  });

  it('loads a document as one undoable step and tracks whether it was modified', () => {
    const store = createEditorStore(emptyDocument());
    const s = () => store.getState();
    s().loadDocument(pipeline(), 'Open example');
    expect(s().isModified()).toBe(false);
    s().dispatch([{ type: 'update-node', id: 'gen', patch: { name: 'Clicks' } }]);
    expect(s().isModified()).toBe(true);
    s().markSaved();
    expect(s().isModified()).toBe(false);
    s().undo();
    s().undo();
    expect(s().doc.nodes).toEqual([]);
  });
});

describe('validation scheduling', () => {
  it('knows when only positions changed (a drag needs no re-validation)', async () => {
    const { onlyPositionsDiffer } = await import('../src/store/use-editor');
    const { applyGraphChanges } = await import('../src/model/changes');
    const doc = pipeline();
    expect(onlyPositionsDiffer(doc, applyGraphChanges(doc, [{ type: 'move-node', id: 'gen', position: { x: 9, y: 9 } }]))).toBe(true);
    expect(onlyPositionsDiffer(doc, applyGraphChanges(doc, [{ type: 'update-node', id: 'gen', patch: { name: 'x' } }]))).toBe(false);
    expect(onlyPositionsDiffer(doc, applyGraphChanges(doc, [{ type: 'remove-edge', id: 'e1' }]))).toBe(false);
  });
});
