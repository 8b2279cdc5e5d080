'use client';
/**
 * The canvas: React Flow as a thin view of the document. Nodes and edges are
 * derived from the store and cached per document node, so that a change to one
 * node re-renders one node (300-node graphs stay smooth); React Flow's changes
 * (drags, selection, measured sizes) go back to the store as actions.
 */
import { getOperator } from '@sluice/graph-model';
import {
  Background,
  BackgroundVariant,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type Edge as FlowEdge,
  type EdgeChange,
  type NodeChange,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useState, type DragEvent } from 'react';
import type { GraphEdge, GraphNode } from '../model/document';
import { DEFAULT_NODE_SIZE, type NodeSize } from '../model/layout';
import { portsOf, targetHandleOf, type NodePorts } from '../model/ports';
import type { ProblemIndex } from '../model/problems';
import { getEditorStore, useEditor } from '../store/use-editor';
import { OperatorNode, type OperatorFlowNode, type OperatorNodeData } from './OperatorNode';
import { onViewRequest, requestView } from './view-events';

export const OPERATOR_MIME = 'application/x-sluice-operator';
const nodeTypes = { operator: OperatorNode };

const CATEGORY_COLORS: Record<string, string> = {
  source: '#2f855a',
  transform: '#2b6cb0',
  window: '#b7791f',
  join: '#6b46c1',
  process: '#c05621',
  sink: '#4a5568',
  unknown: '#c53030',
};

interface DataEntry {
  readonly signature: string;
  readonly data: OperatorNodeData;
}

/** The shared size map of measured nodes (auto-layout uses it too). */
export const measuredSizes = new Map<string, NodeSize>();

/**
 * The React Flow node of each document node, reused while nothing it shows has
 * changed, so that memoized node components skip rendering (300 nodes stay smooth).
 */
class NodeViewCache {
  private data = new Map<string, DataEntry>();
  private nodes = new Map<string, OperatorFlowNode>();

  /** `measureVersion` changes when measured sizes (kept outside React) change. */
  build(
    docNodes: readonly GraphNode[],
    portsById: ReadonlyMap<string, NodePorts>,
    selected: ReadonlySet<string>,
    problems: ProblemIndex,
    _measureVersion: number,
  ): OperatorFlowNode[] {
    const nextData = new Map<string, DataEntry>();
    const nextNodes = new Map<string, OperatorFlowNode>();
    const list = docNodes.map((node, index) => {
      const ports = portsById.get(node.id) ?? { definition: undefined, inputs: [], outputs: [] };
      const entry = nodeData(node, ports, problems, this.data.get(node.id));
      nextData.set(node.id, entry);
      const position = node.position ?? { x: (index % 6) * 240, y: Math.floor(index / 6) * 140 };
      const size = measuredSizes.get(node.id);
      const isSelected = selected.has(node.id);
      const previous = this.nodes.get(node.id);
      const flowNode: OperatorFlowNode =
        previous &&
        previous.data === entry.data &&
        previous.position.x === position.x &&
        previous.position.y === position.y &&
        previous.selected === isSelected &&
        previous.measured?.width === size?.width &&
        previous.measured?.height === size?.height
          ? previous
          : { id: node.id, type: 'operator', position, data: entry.data, selected: isSelected, ...(size ? { measured: size } : {}) };
      nextNodes.set(node.id, flowNode);
      return flowNode;
    });
    this.data = nextData;
    this.nodes = nextNodes;
    return list;
  }
}

export function Canvas() {
  const doc = useEditor((s) => s.doc);
  const selection = useEditor((s) => s.selection);
  const problems = useEditor((s) => s.validation.index);
  const store = getEditorStore();
  const flow = useReactFlow<OperatorFlowNode>();
  const [measureVersion, setMeasureVersion] = useState(0);

  const portsById = useMemo(() => {
    const touching = new Map<string, GraphEdge[]>();
    for (const e of doc.edges) {
      for (const end of [e.source, e.target]) {
        const list = touching.get(end);
        if (list) list.push(e);
        else touching.set(end, [e]);
      }
    }
    return new Map<string, NodePorts>(doc.nodes.map((n) => [n.id, portsOf(n, touching.get(n.id) ?? [])]));
  }, [doc.nodes, doc.edges]);

  const [views] = useState(() => new NodeViewCache());
  const nodes = useMemo(
    () => views.build(doc.nodes, portsById, new Set(selection.nodes), problems, measureVersion),
    [views, doc.nodes, portsById, selection.nodes, problems, measureVersion],
  );

  const keyByIds = useMemo(() => keyByNodes(doc.nodes), [doc.nodes]);
  const [edgeViews] = useState(() => new EdgeViewCache());
  const edges = useMemo(
    () => edgeViews.build(doc.edges, portsById, keyByIds, new Set(selection.edges), problems),
    [edgeViews, doc.edges, portsById, keyByIds, selection.edges, problems],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<OperatorFlowNode>[]) => {
      const state = store.getState();
      const moves: Array<{ id: string; position: { x: number; y: number } }> = [];
      let dragging = false;
      let resized = false;
      let nodeSelection: Set<string> | undefined;
      for (const change of changes) {
        if (change.type === 'position') {
          const position = change.position ?? state.doc.nodes.find((n) => n.id === change.id)?.position;
          if (position) moves.push({ id: change.id, position });
          if (change.dragging === true) dragging = true;
        } else if (change.type === 'dimensions' && change.dimensions) {
          const old = measuredSizes.get(change.id);
          if (old?.width !== change.dimensions.width || old.height !== change.dimensions.height) {
            measuredSizes.set(change.id, change.dimensions);
            resized = true;
          }
        } else if (change.type === 'select') {
          nodeSelection ??= new Set(state.selection.nodes);
          if (change.selected) nodeSelection.add(change.id);
          else nodeSelection.delete(change.id);
        }
      }
      if (moves.length > 0) state.moveNodes(moves, dragging);
      if (nodeSelection && !sameMembers(nodeSelection, state.selection.nodes)) {
        store.getState().select({ nodes: [...nodeSelection], edges: store.getState().selection.edges });
      }
      if (resized) setMeasureVersion((v) => v + 1);
    },
    [store],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      const state = store.getState();
      let edgeSelection: Set<string> | undefined;
      for (const change of changes) {
        if (change.type === 'select') {
          edgeSelection ??= new Set(state.selection.edges);
          if (change.selected) edgeSelection.add(change.id);
          else edgeSelection.delete(change.id);
        }
      }
      if (edgeSelection && !sameMembers(edgeSelection, state.selection.edges)) {
        state.select({ nodes: store.getState().selection.nodes, edges: [...edgeSelection] });
      }
    },
    [store],
  );

  const onConnect = useCallback(
    (connection: Connection) => {
      store.getState().connect({
        source: connection.source,
        sourceHandle: connection.sourceHandle,
        target: connection.target,
        targetHandle: connection.targetHandle,
      });
    },
    [store],
  );

  const onDragOver = useCallback((event: DragEvent) => {
    if (event.dataTransfer.types.includes(OPERATOR_MIME)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    }
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const type = event.dataTransfer.getData(OPERATOR_MIME);
      if (!type) return;
      event.preventDefault();
      const point = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      store.getState().addNode(type, { x: point.x - DEFAULT_NODE_SIZE.width / 2, y: point.y - 24 });
    },
    [flow, store],
  );

  // A document restored from the last session: show all of it once (a new, empty one keeps zoom 1).
  useEffect(() => {
    if (store.getState().doc.nodes.length > 0) requestView({ kind: 'fit' });
  }, [store]);

  useEffect(
    () =>
      onViewRequest((request) => {
        // Let React Flow measure freshly loaded nodes first.
        setTimeout(() => {
          if (request.kind === 'fit') {
            void flow.fitView({ padding: 0.08, duration: 0, maxZoom: 1.2 });
          } else {
            const node = flow.getNode(request.id);
            if (node) {
              const size = measuredSizes.get(node.id) ?? DEFAULT_NODE_SIZE;
              void flow.setCenter(node.position.x + size.width / 2, node.position.y + size.height / 2, { zoom: Math.max(flow.getZoom(), 0.8), duration: 200 });
            }
          }
        }, 60);
      }),
    [flow],
  );

  return (
    <div className="canvas" data-testid="canvas" aria-label="Pipeline canvas">
      <ReactFlow<OperatorFlowNode>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onDragOver={onDragOver}
        onDrop={onDrop}
        deleteKeyCode={null}
        // Space stays a character for the code editor and the forms; pan by dragging the canvas.
        panActivationKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={['Meta', 'Control']}
        minZoom={0.1}
        maxZoom={2}
        defaultEdgeOptions={{ type: 'smoothstep' }}
        connectionRadius={24}
        proOptions={{ hideAttribution: true }}
        ariaLabelConfig={{ 'node.a11yDescription.default': 'Press Enter or Space to select a node. Delete removes it; arrow keys move it.' }}
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1} />
        <MiniMap
          pannable
          zoomable
          ariaLabel="Minimap"
          nodeColor={(n) => CATEGORY_COLORS[(n.data as OperatorNodeData | undefined)?.category ?? 'unknown'] ?? '#888'}
          nodeStrokeWidth={2}
        />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

function nodeData(node: GraphNode, ports: NodePorts, problems: ProblemIndex, previous: DataEntry | undefined): DataEntry {
  const definition = ports.definition;
  const list = problems.byNode.get(node.id) ?? [];
  const errors = list.filter((p) => p.severity === 'error').length;
  const warnings = list.length - errors;
  const messages = list.map((p) => `${p.severity}: ${p.path}: ${p.message}`).join('\n');
  const portKey = (p: { name: string; unknown?: true; keyed?: string }) => `${p.name}${p.unknown ? '?' : ''}${p.keyed ?? ''}`;
  const signature = [
    node.type,
    node.name ?? '',
    node.parallelism ?? '',
    ports.inputs.map(portKey).join(','),
    ports.outputs.map(portKey).join(','),
    errors,
    warnings,
    messages,
  ].join('\u0000');
  if (previous?.signature === signature) return previous;
  return {
    signature,
    data: {
      type: node.type,
      title: definition?.title ?? `Unknown type '${node.type}'`,
      name: node.name,
      category: definition?.category ?? 'unknown',
      inputs: ports.inputs,
      outputs: ports.outputs,
      errors,
      warnings,
      messages,
      parallelism: node.parallelism,
    },
  };
}

/** Ids of key-by nodes, as one string-keyed value that stays equal while node types do. */
function keyByNodes(nodes: readonly GraphNode[]): string {
  return nodes
    .filter((n) => getOperator(n.type)?.keysStream === true)
    .map((n) => n.id)
    .join('\u0000');
}

/** React Flow edges, reused while nothing they show has changed (a drag re-renders no edge). */
class EdgeViewCache {
  private edges = new Map<string, { signature: string; edge: FlowEdge }>();

  build(
    docEdges: readonly GraphEdge[],
    portsById: ReadonlyMap<string, NodePorts>,
    keyByIds: string,
    selected: ReadonlySet<string>,
    problems: ProblemIndex,
  ): FlowEdge[] {
    const keyBy = new Set(keyByIds.split('\u0000'));
    const next = new Map<string, { signature: string; edge: FlowEdge }>();
    const list: FlowEdge[] = [];
    for (const e of docEdges) {
      if (!portsById.has(e.source) || !portsById.has(e.target)) continue;
      const errors = (problems.byEdge.get(e.id) ?? []).filter((p) => p.severity === 'error');
      const output = e.sourceOutput ?? 'main';
      const keyed = keyBy.has(e.source) && output === 'main';
      const targetHandle = targetHandleOf(e, portsById.get(e.target)?.inputs ?? []);
      const isSelected = selected.has(e.id);
      const ariaLabel = `Edge ${e.id} from ${e.source} to ${e.target}${errors.length > 0 ? `: ${errors.map((p) => p.message).join('; ')}` : ''}`;
      const signature = [e.source, output, e.target, targetHandle, isSelected, keyed, ariaLabel].join('\u0000');
      const previous = this.edges.get(e.id);
      const entry =
        previous?.signature === signature
          ? previous
          : {
              signature,
              edge: {
                id: e.id,
                source: e.source,
                target: e.target,
                sourceHandle: output,
                targetHandle,
                selected: isSelected,
                className: `${errors.length > 0 ? 'has-errors' : ''}${keyed ? ' is-keyed' : ''}${output !== 'main' ? ' is-side' : ''}`,
                ...(output !== 'main' ? { label: output } : keyed ? { label: 'hash' } : {}),
                ariaLabel,
              },
            };
      next.set(e.id, entry);
      list.push(entry.edge);
    }
    this.edges = next;
    return list;
  }
}

function sameMembers(set: ReadonlySet<string>, list: readonly string[]): boolean {
  return set.size === list.length && list.every((id) => set.has(id));
}
