'use client';
/**
 * The React side of the editor store: one store per page, validation scheduled
 * ~150 ms after the last edit (typing does not re-validate on every keystroke, and
 * an unchanged document is never re-validated), and the document kept in
 * localStorage so that a reload does not lose work.
 */
import { validateGraph } from '@sluice/graph-model';
import { useStore } from 'zustand';
import { emptyDocument, toEditableDocument, type GraphDocument } from '../model/document';
import { indexProblems } from '../model/problems';
import { createEditorStore, type EditorState, type EditorStore } from './editor-store';

export const VALIDATION_DELAY_MS = 150;
const STORAGE_KEY = 'sluice.editor.document.v1';

let store: EditorStore | undefined;

export function getEditorStore(): EditorStore {
  if (!store) {
    store = createEditorStore(restore() ?? emptyDocument());
    scheduleValidation(store);
    autosave(store);
  }
  return store;
}

export function useEditor<T>(selector: (state: EditorState) => T): T {
  return useStore(getEditorStore(), selector);
}

function scheduleValidation(target: EditorStore): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    timer = undefined;
    const doc = target.getState().doc;
    if (target.getState().validation.document === doc) return;
    target.getState().setValidation(doc, indexProblems(doc, validateGraph(doc).problems));
  };
  run();
  target.subscribe((state, previous) => {
    if (state.doc === previous.doc) return;
    const validated = state.validation.document;
    // Dragging nodes changes positions only, which validation ignores: nothing to redo.
    if (timer === undefined && validated !== undefined && onlyPositionsDiffer(validated, state.doc)) {
      state.setValidation(state.doc, state.validation.index);
      return;
    }
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(run, VALIDATION_DELAY_MS);
  });
}

/** Whether two documents differ in node positions at most (same nodes, edges and settings). */
export function onlyPositionsDiffer(a: GraphDocument, b: GraphDocument): boolean {
  if (a.edges !== b.edges || a.name !== b.name || a.description !== b.description || a.job !== b.job || a.nodes.length !== b.nodes.length) return false;
  for (const key of Object.keys(b)) if (!['nodes', 'edges', 'name', 'description', 'job', 'schemaVersion'].includes(key) && a[key as keyof GraphDocument] !== b[key as keyof GraphDocument]) return false;
  return a.nodes.every((node, i) => {
    const other = b.nodes[i];
    if (node === other) return true;
    if (!other) return false;
    const keys = new Set([...Object.keys(node), ...Object.keys(other)]);
    keys.delete('position');
    for (const key of keys) if (node[key as keyof typeof node] !== other[key as keyof typeof other]) return false;
    return true;
  });
}

function restore(): GraphDocument | undefined {
  try {
    const text = typeof localStorage === 'undefined' ? null : localStorage.getItem(STORAGE_KEY);
    return text === null ? undefined : toEditableDocument(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function autosave(target: EditorStore): void {
  if (typeof localStorage === 'undefined') return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  target.subscribe((state, previous) => {
    if (state.doc === previous.doc) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        localStorage.setItem(STORAGE_KEY, JSON.stringify(target.getState().doc));
      } catch {
        // Storage full or disabled: the editor works without it.
      }
    }, 500);
  });
}
