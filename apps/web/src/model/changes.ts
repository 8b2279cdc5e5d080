/**
 * Editor edits are data. Every edit of the graph — from the canvas, the inspector,
 * the keyboard or an import — is a `GraphChange`, applied by the pure function
 * `applyGraphChanges`. Undo and redo fall out of it: `applyWithInverse` also returns
 * the changes that take the result back to the input, exactly (same key and array
 * order), so a history is a list of change batches and their inverses.
 *
 * Changes that do not apply (an unknown id, say) are skipped, never thrown: a
 * stale change after a concurrent edit must not break the editor.
 */
import type { PathSegment } from '@sluice/graph-model';
import { isPlainObject, withoutKey, type GraphDocument, type GraphEdge, type GraphNode, type XY } from './document';

/** Fields of a node besides id, type, config and position; `undefined` removes a field. */
export interface NodePatch {
  readonly name?: string | undefined;
  readonly description?: string | undefined;
  readonly parallelism?: number | undefined;
  readonly chaining?: GraphNode['chaining'] | undefined;
}

/** Fields of an edge besides its id; `undefined` removes a field. */
export interface EdgePatch {
  readonly source?: string;
  readonly target?: string;
  readonly sourceOutput?: string | undefined;
  readonly targetInput?: string | undefined;
  readonly partitioning?: GraphEdge['partitioning'] | undefined;
}

/** Document-level fields; `undefined` removes `description` or `job`. */
export interface DocumentPatch {
  readonly name?: string;
  readonly description?: string | undefined;
  readonly job?: GraphDocument['job'] | undefined;
}

export type GraphChange =
  /** Inserts a node at `index` (default: last); skipped when its id is taken. */
  | { readonly type: 'add-node'; readonly node: GraphNode; readonly index?: number }
  /** Removes a node and every edge touching it. */
  | { readonly type: 'remove-node'; readonly id: string }
  /** Sets (or, with undefined, removes) a node's position. */
  | { readonly type: 'move-node'; readonly id: string; readonly position: XY | undefined }
  | { readonly type: 'update-node'; readonly id: string; readonly patch: NodePatch }
  /** Replaces the node with the same id as a whole (the inverse of node edits). */
  | { readonly type: 'replace-node'; readonly node: GraphNode }
  /** Sets the value at `path` inside the node's config (`[]`: the whole config); undefined removes it. */
  | { readonly type: 'update-config'; readonly id: string; readonly path: readonly PathSegment[]; readonly value: unknown }
  | { readonly type: 'add-edge'; readonly edge: GraphEdge; readonly index?: number }
  | { readonly type: 'remove-edge'; readonly id: string }
  | { readonly type: 'update-edge'; readonly id: string; readonly patch: EdgePatch }
  /** Replaces the edge with the same id as a whole (the inverse of edge edits). */
  | { readonly type: 'replace-edge'; readonly edge: GraphEdge }
  | { readonly type: 'update-document'; readonly patch: DocumentPatch }
  /** Replaces the whole document (import, example, new). */
  | { readonly type: 'replace-graph'; readonly document: GraphDocument };

export interface AppliedChanges {
  readonly document: GraphDocument;
  /** Applying these to `document` gives back the input, exactly. Empty when nothing changed. */
  readonly inverse: readonly GraphChange[];
}

/** Applies changes in order; returns the input object itself when nothing changed. */
export function applyGraphChanges(document: GraphDocument, changes: readonly GraphChange[]): GraphDocument {
  return applyWithInverse(document, changes).document;
}

export function applyWithInverse(document: GraphDocument, changes: readonly GraphChange[]): AppliedChanges {
  let current = document;
  const inverses: GraphChange[][] = [];
  for (const change of changes) {
    const result = applyOne(current, change);
    if (result) {
      current = result.document;
      inverses.push(result.inverse);
    }
  }
  return { document: current, inverse: inverses.reverse().flat() };
}

interface Step {
  document: GraphDocument;
  inverse: GraphChange[];
}

function applyOne(doc: GraphDocument, change: GraphChange): Step | undefined {
  switch (change.type) {
    case 'add-node': {
      // Ids are unique: a second node with the same id could not be told apart by later changes.
      if (doc.nodes.some((n) => n.id === change.node.id)) return undefined;
      const index = clampIndex(change.index, doc.nodes.length);
      const nodes = [...doc.nodes];
      nodes.splice(index, 0, change.node);
      return { document: { ...doc, nodes }, inverse: [{ type: 'remove-node', id: change.node.id }] };
    }
    case 'remove-node': {
      const index = doc.nodes.findIndex((n) => n.id === change.id);
      const node = doc.nodes[index];
      if (!node) return undefined;
      const removedEdges: GraphChange[] = [];
      const edges = doc.edges.filter((e, i) => {
        const touches = e.source === change.id || e.target === change.id;
        if (touches) removedEdges.push({ type: 'add-edge', edge: e, index: i });
        return !touches;
      });
      return {
        document: { ...doc, nodes: doc.nodes.filter((_, i) => i !== index), edges: removedEdges.length > 0 ? edges : doc.edges },
        // Re-adding edges at their old indices, lowest first, restores the edge order.
        inverse: [{ type: 'add-node', node, index }, ...removedEdges],
      };
    }
    case 'move-node':
      return updateNode(doc, change.id, (node) => {
        if (samePosition(node.position, change.position)) return undefined;
        const next = change.position === undefined ? withoutKey(node, 'position') : { ...node, position: { x: change.position.x, y: change.position.y } };
        return next;
      });
    case 'update-node':
      return updateNode(doc, change.id, (node) => {
        let next: GraphNode = node;
        for (const [key, value] of Object.entries(change.patch) as Array<[keyof NodePatch, unknown]>) {
          if (next[key] !== value) next = value === undefined ? withoutKey(next, key) : { ...next, [key]: value };
        }
        return next;
      });
    case 'update-config':
      return updateNode(doc, change.id, (node) => {
        // Undo restores the value at the deepest part of the path that existed, so that
        // objects created on the way are removed again.
        const config = setIn(node.config, change.path, change.value);
        if (config === node.config) return undefined;
        return config === undefined ? withoutKey(node, 'config') : { ...node, config };
      });
    case 'replace-node':
      return updateNode(doc, change.node.id, () => change.node);
    case 'add-edge': {
      if (doc.edges.some((e) => e.id === change.edge.id)) return undefined;
      const index = clampIndex(change.index, doc.edges.length);
      const edges = [...doc.edges];
      edges.splice(index, 0, change.edge);
      return { document: { ...doc, edges }, inverse: [{ type: 'remove-edge', id: change.edge.id }] };
    }
    case 'remove-edge': {
      const index = doc.edges.findIndex((e) => e.id === change.id);
      const edge = doc.edges[index];
      if (!edge) return undefined;
      return { document: { ...doc, edges: doc.edges.filter((_, i) => i !== index) }, inverse: [{ type: 'add-edge', edge, index }] };
    }
    case 'update-edge': {
      const index = doc.edges.findIndex((e) => e.id === change.id);
      const edge = doc.edges[index];
      if (!edge) return undefined;
      let next: GraphEdge = edge;
      for (const [key, value] of Object.entries(change.patch) as Array<[keyof EdgePatch, unknown]>) {
        if (next[key] !== value) next = value === undefined ? withoutKey(next, key) : { ...next, [key]: value };
      }
      return replaceEdgeAt(doc, index, next);
    }
    case 'replace-edge': {
      const index = doc.edges.findIndex((e) => e.id === change.edge.id);
      return index < 0 ? undefined : replaceEdgeAt(doc, index, change.edge);
    }
    case 'update-document': {
      let next: GraphDocument = doc;
      for (const [key, value] of Object.entries(change.patch) as Array<[keyof DocumentPatch, unknown]>) {
        if (next[key] !== value) next = value === undefined ? withoutKey(next, key) : { ...next, [key]: value };
      }
      if (next === doc) return undefined;
      // The old document itself: exact, and it shares every node and edge with the new one.
      return { document: next, inverse: [{ type: 'replace-graph', document: doc }] };
    }
    case 'replace-graph':
      if (change.document === doc) return undefined;
      return { document: change.document, inverse: [{ type: 'replace-graph', document: doc }] };
  }
}

/** Replaces one node by `update(node)`; the inverse is the old node object. */
function updateNode(doc: GraphDocument, id: string, update: (node: GraphNode) => GraphNode | undefined): Step | undefined {
  const index = doc.nodes.findIndex((n) => n.id === id);
  const node = doc.nodes[index];
  if (!node) return undefined;
  const next = update(node);
  if (!next || next === node) return undefined;
  const nodes = [...doc.nodes];
  nodes[index] = next;
  return { document: { ...doc, nodes }, inverse: [{ type: 'replace-node', node }] };
}

function replaceEdgeAt(doc: GraphDocument, index: number, next: GraphEdge): Step | undefined {
  const edge = doc.edges[index];
  if (!edge || edge === next) return undefined;
  const edges = [...doc.edges];
  edges[index] = next;
  return { document: { ...doc, edges }, inverse: [{ type: 'replace-edge', edge }] };
}

function clampIndex(index: number | undefined, length: number): number {
  if (index === undefined || !Number.isInteger(index)) return length;
  return Math.max(0, Math.min(length, index));
}

function samePosition(a: XY | undefined, b: XY | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.x === b.x && a.y === b.y;
}

// ---- immutable paths into JSON values ------------------------------------------------

/** The value at `path`, or undefined where the path does not exist. */
export function getIn(value: unknown, path: readonly PathSegment[]): unknown {
  let current = value;
  for (const segment of path) {
    if (typeof segment === 'number' && Array.isArray(current)) {
      current = current[segment];
    } else if (typeof segment === 'string' && isPlainObject(current) && Object.prototype.hasOwnProperty.call(current, segment)) {
      current = current[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/**
 * A copy of `value` with `newValue` at `path`, sharing everything else; undefined
 * removes an object key (or an array element). Missing containers are created: an
 * array for a numeric segment, an object otherwise. Returns `value` itself when
 * nothing changes.
 */
export function setIn(value: unknown, path: readonly PathSegment[], newValue: unknown): unknown {
  if (path.length === 0) return newValue;
  const [head, ...rest] = path as [PathSegment, ...PathSegment[]];
  if (typeof head === 'number') {
    const list = Array.isArray(value) ? (value as unknown[]) : undefined;
    const old: unknown = list?.[head];
    const child = setIn(old, rest, newValue);
    if (child === old && (child !== undefined || !list || head >= list.length)) return value;
    if (child === undefined) {
      if (!list || head >= list.length) return value;
      const copy = [...list];
      copy.splice(head, 1);
      return copy;
    }
    const copy = list ? [...list] : [];
    copy[head] = child;
    return copy;
  }
  const record = isPlainObject(value) ? value : {};
  const had = Object.prototype.hasOwnProperty.call(record, head);
  const child = setIn(had ? record[head] : undefined, rest, newValue);
  if (child === undefined) {
    if (!had) return value;
    return withoutKey(record, head);
  }
  if (had && child === record[head] && isPlainObject(value)) return value;
  return { ...record, [head]: child };
}
