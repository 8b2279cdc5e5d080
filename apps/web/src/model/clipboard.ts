/**
 * Copy and paste: the selected nodes with the edges between them, as a small JSON
 * payload (so it survives the system clipboard), pasted back with fresh ids so that
 * a copy never takes over the state of its original.
 */
import type { GraphChange } from './changes';
import { cloneJson, isPlainObject, type GraphDocument, type GraphEdge, type GraphNode } from './document';
import { copyId, freshEdgeId } from './ids';

export const CLIPBOARD_KIND = 'sluice/nodes';

export interface ClipboardPayload {
  readonly kind: typeof CLIPBOARD_KIND;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

export function copySelection(doc: GraphDocument, nodeIds: Iterable<string>): ClipboardPayload | undefined {
  const ids = new Set(nodeIds);
  const nodes = doc.nodes.filter((n) => ids.has(n.id));
  if (nodes.length === 0) return undefined;
  const edges = doc.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  return cloneJson({ kind: CLIPBOARD_KIND, nodes, edges });
}

export function readClipboardPayload(value: unknown): ClipboardPayload | undefined {
  if (!isPlainObject(value) || value['kind'] !== CLIPBOARD_KIND) return undefined;
  const nodes = value['nodes'];
  const edges = value['edges'];
  if (!Array.isArray(nodes) || !Array.isArray(edges)) return undefined;
  if (!nodes.every((n) => isPlainObject(n) && typeof n['id'] === 'string' && typeof n['type'] === 'string')) return undefined;
  if (!edges.every((e) => isPlainObject(e) && typeof e['source'] === 'string' && typeof e['target'] === 'string')) return undefined;
  return value as unknown as ClipboardPayload;
}

export interface PastePlan {
  readonly changes: readonly GraphChange[];
  /** Ids of the pasted nodes, in payload order. */
  readonly nodeIds: readonly string[];
  readonly edgeIds: readonly string[];
}

/** Changes that add a copy of the payload, moved by `offset`, with fresh node and edge ids. */
export function planPaste(doc: GraphDocument, payload: ClipboardPayload, offset: { x: number; y: number }): PastePlan {
  const takenNodes = new Set(doc.nodes.map((n) => n.id));
  const takenEdges = new Set(doc.edges.map((e) => e.id));
  const renamed = new Map<string, string>();
  const changes: GraphChange[] = [];
  for (const original of payload.nodes) {
    const id = copyId(original.id, takenNodes);
    takenNodes.add(id);
    renamed.set(original.id, id);
    const node: GraphNode = cloneJson({ ...original, id });
    const position = original.position;
    changes.push({ type: 'add-node', node: position ? { ...node, position: { x: position.x + offset.x, y: position.y + offset.y } } : node });
  }
  const edgeIds: string[] = [];
  for (const original of payload.edges) {
    const source = renamed.get(original.source);
    const target = renamed.get(original.target);
    if (source === undefined || target === undefined) continue;
    const id = freshEdgeId(takenEdges);
    takenEdges.add(id);
    edgeIds.push(id);
    changes.push({ type: 'add-edge', edge: cloneJson({ ...original, id, source, target }) });
  }
  return { changes, nodeIds: [...renamed.values()], edgeIds };
}
