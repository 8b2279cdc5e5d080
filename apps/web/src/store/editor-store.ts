/**
 * The editor's one store: the document, the selection, and the undo/redo history
 * of change batches. Every edit goes through `dispatch(changes)`, which applies the
 * changes with the pure `applyWithInverse` and records the batch with its inverse;
 * undo applies the inverse, redo the batch again. Components stay thin: they read
 * slices of this store and call its actions.
 *
 * Vanilla zustand (no React here), so the history logic is unit-tested directly;
 * `use-editor.ts` binds one instance to React and schedules validation.
 */
import { canonicalJson, getOperator } from '@sluice/graph-model';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { applyWithInverse, type GraphChange } from '../model/changes';
import { copySelection, planPaste, type ClipboardPayload } from '../model/clipboard';
import { planConnection, type ConnectionRequest } from '../model/connection';
import { cloneJson, emptyDocument, type GraphDocument, type XY } from '../model/document';
import { freshNodeId } from '../model/ids';
import { EMPTY_PROBLEMS, type ProblemIndex } from '../model/problems';

export interface HistoryEntry {
  readonly label: string;
  readonly changes: readonly GraphChange[];
  readonly inverse: readonly GraphChange[];
  /** Consecutive edits with the same key (typing in one field) merge into one entry. */
  readonly coalesceKey?: string;
  readonly time: number;
}

export interface Selection {
  readonly nodes: readonly string[];
  readonly edges: readonly string[];
}

export interface Toast {
  readonly id: number;
  readonly kind: 'error' | 'info' | 'success';
  readonly message: string;
}

/** Where the inspector should put the keyboard focus (a problem was clicked). */
export interface FocusRequest {
  readonly kind: 'node' | 'edge' | 'document';
  readonly id?: string;
  readonly fieldPath: string | undefined;
  /** Changes on every request, so that asking for the same field twice focuses it again. */
  readonly nonce: number;
  /** For code problems: where in the code. */
  readonly line?: number;
  readonly column?: number;
}

export interface DispatchOptions {
  readonly label?: string;
  readonly coalesceKey?: string;
}

export interface ValidationState {
  /** The document the problems were computed for (problem paths index into it). */
  readonly document: GraphDocument | undefined;
  readonly index: ProblemIndex;
}

export interface EditorState {
  readonly doc: GraphDocument;
  /** The document as last loaded, imported or exported: "modified" compares against it. */
  readonly savedDoc: GraphDocument;
  readonly selection: Selection;
  readonly past: readonly HistoryEntry[];
  readonly future: readonly HistoryEntry[];
  readonly validation: ValidationState;
  readonly toasts: readonly Toast[];
  readonly focus: FocusRequest | undefined;
  /** Used when the system clipboard is not available. */
  readonly clipboard: ClipboardPayload | undefined;

  dispatch(changes: readonly GraphChange[], options?: DispatchOptions): void;
  undo(): void;
  redo(): void;
  /** Moves while a drag is in progress: shown at once, recorded as one entry by `endMove`. */
  moveNodes(moves: ReadonlyArray<{ id: string; position: XY }>, dragging: boolean): void;
  select(selection: Partial<Selection>, mode?: 'replace' | 'add' | 'toggle'): void;
  selectAll(): void;
  clearSelection(): void;
  deleteSelection(): void;
  copy(): ClipboardPayload | undefined;
  paste(payload: ClipboardPayload | undefined, offset?: XY): void;
  addNode(type: string, position: XY): string | undefined;
  connect(request: ConnectionRequest): boolean;
  /** Replaces the document (import, example, new), as one undoable step. */
  loadDocument(document: GraphDocument, label: string): void;
  /** The current document was saved (exported): it is no longer "modified". */
  markSaved(): void;
  isModified(): boolean;
  setValidation(document: GraphDocument, problems: ProblemIndex): void;
  toast(kind: Toast['kind'], message: string): void;
  dismissToast(id: number): void;
  requestFocus(request: Omit<FocusRequest, 'nonce'>): void;
}

export type EditorStore = StoreApi<EditorState>;

const COALESCE_MS = 1500;
const MAX_HISTORY = 500;
let toastIds = 0;
let focusNonce = 0;

export function createEditorStore(initial: GraphDocument = emptyDocument(), now: () => number = Date.now): EditorStore {
  // Positions before a drag started, per node: the inverse of the whole drag.
  let dragOrigins = new Map<string, XY | undefined>();

  return createStore<EditorState>()((set, get) => {
    const commit = (entry: Omit<HistoryEntry, 'time'>, document: GraphDocument) => {
      const state = get();
      const last = state.past[state.past.length - 1];
      const time = now();
      let past: HistoryEntry[];
      if (entry.coalesceKey !== undefined && last?.coalesceKey === entry.coalesceKey && time - last.time < COALESCE_MS) {
        past = [
          ...state.past.slice(0, -1),
          { ...last, changes: [...last.changes, ...entry.changes], inverse: [...entry.inverse, ...last.inverse], time },
        ];
      } else {
        past = [...state.past, { ...entry, time }].slice(-MAX_HISTORY);
      }
      set({ doc: document, past, future: [], selection: pruneSelection(state.selection, document) });
    };

    return {
      doc: initial,
      savedDoc: initial,
      selection: { nodes: [], edges: [] },
      past: [],
      future: [],
      validation: { document: undefined, index: EMPTY_PROBLEMS },
      toasts: [],
      focus: undefined,
      clipboard: undefined,

      dispatch(changes, options = {}) {
        const { document, inverse } = applyWithInverse(get().doc, changes);
        if (document === get().doc) return;
        commit(
          { label: options.label ?? describeChanges(changes), changes, inverse, ...(options.coalesceKey !== undefined ? { coalesceKey: options.coalesceKey } : {}) },
          document,
        );
      },

      undo() {
        const { past, future, doc, selection } = get();
        const entry = past[past.length - 1];
        if (!entry) return;
        const document = applyWithInverse(doc, entry.inverse).document;
        set({ doc: document, past: past.slice(0, -1), future: [...future, entry], selection: pruneSelection(selection, document) });
      },

      redo() {
        const { past, future, doc, selection } = get();
        const entry = future[future.length - 1];
        if (!entry) return;
        const document = applyWithInverse(doc, entry.changes).document;
        set({ doc: document, past: [...past, { ...entry, time: 0 }], future: future.slice(0, -1), selection: pruneSelection(selection, document) });
      },

      moveNodes(moves, dragging) {
        const state = get();
        for (const m of moves) {
          if (!dragOrigins.has(m.id)) dragOrigins.set(m.id, state.doc.nodes.find((n) => n.id === m.id)?.position);
        }
        const changes: GraphChange[] = moves.map((m) => ({ type: 'move-node', id: m.id, position: { x: Math.round(m.position.x), y: Math.round(m.position.y) } }));
        const { document } = applyWithInverse(state.doc, changes);
        if (dragging) {
          if (document !== state.doc) set({ doc: document });
          return;
        }
        // The drag ended: one history entry from the origins to where the nodes are now.
        const origins = dragOrigins;
        dragOrigins = new Map();
        const final: GraphChange[] = [];
        const inverse: GraphChange[] = [];
        for (const [id, origin] of origins) {
          const position = document.nodes.find((n) => n.id === id)?.position;
          if (position && (origin?.x !== position.x || origin.y !== position.y)) {
            final.push({ type: 'move-node', id, position });
            inverse.push({ type: 'move-node', id, position: origin });
          }
        }
        if (final.length === 0) {
          if (document !== state.doc) set({ doc: document });
          return;
        }
        commit({ label: final.length === 1 ? 'Move node' : `Move ${final.length} nodes`, changes: final, inverse }, document);
      },

      select(selection, mode = 'replace') {
        const current = get().selection;
        const nodes = selection.nodes ?? [];
        const edges = selection.edges ?? [];
        if (mode === 'replace') {
          set({ selection: { nodes: [...nodes], edges: [...edges] } });
        } else if (mode === 'add') {
          set({ selection: { nodes: union(current.nodes, nodes), edges: union(current.edges, edges) } });
        } else {
          set({ selection: { nodes: toggle(current.nodes, nodes), edges: toggle(current.edges, edges) } });
        }
      },

      selectAll() {
        const { doc } = get();
        set({ selection: { nodes: doc.nodes.map((n) => n.id), edges: doc.edges.map((e) => e.id) } });
      },

      clearSelection() {
        const { selection } = get();
        if (selection.nodes.length > 0 || selection.edges.length > 0) set({ selection: { nodes: [], edges: [] } });
      },

      deleteSelection() {
        const { selection, doc } = get();
        const nodes = new Set(selection.nodes);
        const changes: GraphChange[] = [
          // Edges first, so that undo re-adds nodes before the edges that need them.
          ...doc.edges.filter((e) => selection.edges.includes(e.id) && !nodes.has(e.source) && !nodes.has(e.target)).map((e): GraphChange => ({ type: 'remove-edge', id: e.id })),
          ...selection.nodes.map((id): GraphChange => ({ type: 'remove-node', id })),
        ];
        if (changes.length === 0) return;
        const count = selection.nodes.length + selection.edges.length;
        get().dispatch(changes, { label: count === 1 ? 'Delete' : `Delete ${count} items` });
        set({ selection: { nodes: [], edges: [] } });
      },

      copy() {
        const { doc, selection } = get();
        const payload = copySelection(doc, selection.nodes);
        if (payload) set({ clipboard: payload });
        return payload;
      },

      paste(payload, offset = { x: 40, y: 40 }) {
        const source = payload ?? get().clipboard;
        if (!source) return;
        const plan = planPaste(get().doc, source, offset);
        if (plan.changes.length === 0) return;
        get().dispatch(plan.changes, { label: `Paste ${plan.nodeIds.length} node${plan.nodeIds.length === 1 ? '' : 's'}` });
        set({ selection: { nodes: [...plan.nodeIds], edges: [...plan.edgeIds] }, clipboard: source });
      },

      addNode(type, position) {
        const definition = getOperator(type);
        if (!definition) return undefined;
        const id = freshNodeId(type, new Set(get().doc.nodes.map((n) => n.id)));
        get().dispatch(
          [{ type: 'add-node', node: { id, type, config: cloneJson(definition.defaultConfig), position: { x: Math.round(position.x), y: Math.round(position.y) } } }],
          { label: `Add ${definition.title}` },
        );
        set({ selection: { nodes: [id], edges: [] } });
        return id;
      },

      connect(request) {
        const { doc, validation } = get();
        const plan = planConnection(doc, request, validation.document === doc ? validation.index.problems : undefined);
        if (!plan.ok) {
          get().toast('error', `Cannot connect: ${plan.reason}`);
          return false;
        }
        get().dispatch([{ type: 'add-edge', edge: plan.edge }], { label: 'Connect' });
        return true;
      },

      loadDocument(document, label) {
        get().dispatch([{ type: 'replace-graph', document }], { label });
        set({ savedDoc: get().doc, selection: { nodes: [], edges: [] } });
      },

      markSaved() {
        set({ savedDoc: get().doc });
      },

      isModified() {
        const { doc, savedDoc } = get();
        return doc !== savedDoc && canonicalJson(doc) !== canonicalJson(savedDoc);
      },

      setValidation(document, index) {
        set({ validation: { document, index } });
      },

      toast(kind, message) {
        const id = ++toastIds;
        set({ toasts: [...get().toasts.slice(-3), { id, kind, message }] });
      },

      dismissToast(id) {
        set({ toasts: get().toasts.filter((t) => t.id !== id) });
      },

      requestFocus(request) {
        set({ focus: { ...request, nonce: ++focusNonce } });
      },
    };
  });
}

function pruneSelection(selection: Selection, doc: GraphDocument): Selection {
  if (selection.nodes.length === 0 && selection.edges.length === 0) return selection;
  const nodes = selection.nodes.filter((id) => doc.nodes.some((n) => n.id === id));
  const edges = selection.edges.filter((id) => doc.edges.some((e) => e.id === id));
  return nodes.length === selection.nodes.length && edges.length === selection.edges.length ? selection : { nodes, edges };
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

function toggle(a: readonly string[], b: readonly string[]): string[] {
  const set = new Set(a);
  for (const id of b) {
    if (set.has(id)) set.delete(id);
    else set.add(id);
  }
  return [...set];
}

function describeChanges(changes: readonly GraphChange[]): string {
  const first = changes[0];
  if (!first) return 'Edit';
  return first.type.replace(/-/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

