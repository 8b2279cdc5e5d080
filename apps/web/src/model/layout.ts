/**
 * Auto-layout: elkjs's layered algorithm (Sugiyama), left to right, with each
 * node's inputs on its west side and outputs on its east side in declared order,
 * so side outputs (`late`, `dead-letter`) fan out below the main one. The bundled
 * elkjs runs in the page's own thread: nothing is loaded from anywhere.
 */
import ELK, { type ElkNode } from 'elkjs/lib/elk.bundled.js';
import type { GraphChange } from './changes';
import type { GraphDocument } from './document';
import { portsOf, targetHandleOf } from './ports';

export interface NodeSize {
  readonly width: number;
  readonly height: number;
}

export const DEFAULT_NODE_SIZE: NodeSize = { width: 180, height: 84 };

let elk: InstanceType<typeof ELK> | undefined;

/** `move-node` changes that lay the graph out; nodes keep their order. */
export async function layoutChanges(doc: GraphDocument, sizes: ReadonlyMap<string, NodeSize> = new Map()): Promise<GraphChange[]> {
  if (doc.nodes.length === 0) return [];
  elk ??= new ELK();
  const ids = new Set(doc.nodes.map((n) => n.id));
  const portsById = new Map(doc.nodes.map((n) => [n.id, portsOf(n, doc.edges)]));
  const graph: ElkNode = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '80',
      'elk.spacing.nodeNode': '40',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.separateConnectedComponents': 'true',
    },
    children: doc.nodes.map((n) => {
      const size = sizes.get(n.id) ?? DEFAULT_NODE_SIZE;
      const ports = portsById.get(n.id);
      return {
        id: n.id,
        width: size.width,
        height: size.height,
        layoutOptions: { 'elk.portConstraints': 'FIXED_ORDER' },
        ports: [
          ...(ports?.inputs ?? []).map((p, i) => ({ id: `${n.id}::in::${p.name}`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'WEST', 'elk.port.index': String(i) } })),
          ...(ports?.outputs ?? []).map((p, i) => ({ id: `${n.id}::out::${p.name}`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'EAST', 'elk.port.index': String(i) } })),
        ],
      };
    }),
    edges: doc.edges
      .filter((e) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
      .map((e) => ({
        id: e.id,
        sources: [`${e.source}::out::${e.sourceOutput ?? 'main'}`],
        targets: [`${e.target}::in::${targetHandleOf(e, portsById.get(e.target)?.inputs ?? [])}`],
      })),
  };
  const laid = await elk.layout(graph);
  const changes: GraphChange[] = [];
  for (const child of laid.children ?? []) {
    changes.push({ type: 'move-node', id: child.id, position: { x: Math.round(child.x ?? 0), y: Math.round(child.y ?? 0) } });
  }
  return changes;
}
