/**
 * Whether a new edge may be drawn, and why not. The rules are the validator's: the
 * candidate graph (document plus the new edge) is validated, and the errors it has
 * that the document did not have and that concern the new edge are the reasons.
 * Nothing here restates a rule, so the canvas can never disagree with the CLI.
 */
import { getOperator, validateGraph, type GraphProblem } from '@sluice/graph-model';
import type { GraphDocument, GraphEdge } from './document';
import { freshEdgeId } from './ids';

export interface ConnectionRequest {
  readonly source: string;
  /** The source node's output (`main` when null). */
  readonly sourceHandle?: string | null | undefined;
  readonly target: string;
  /** The target node's input. */
  readonly targetHandle?: string | null | undefined;
}

export type ConnectionPlan =
  | { readonly ok: true; readonly edge: GraphEdge }
  | { readonly ok: false; readonly reason: string; readonly problems: readonly GraphProblem[] };

/** Problems that a new edge causes elsewhere than on itself. */
const GRAPH_WIDE: ReadonlySet<string> = new Set(['cycle', 'keyed-inputs-mismatch', 'changelog-not-accepted']);

/** Builds the edge a drag from one handle to another asks for, in its minimal written form. */
export function edgeFor(doc: GraphDocument, request: ConnectionRequest): GraphEdge {
  const sourceOutput = request.sourceHandle ?? 'main';
  const target = doc.nodes.find((n) => n.id === request.target);
  const inputs = target ? (getOperator(target.type)?.inputs ?? []) : [];
  // Single-input targets leave targetInput out, as the examples do.
  const targetInput = request.targetHandle ?? undefined;
  const omitInput = targetInput === undefined || (inputs.length === 1 && inputs[0]?.name === targetInput);
  return {
    id: freshEdgeId(new Set(doc.edges.map((e) => e.id))),
    source: request.source,
    ...(sourceOutput !== 'main' ? { sourceOutput } : {}),
    target: request.target,
    ...(omitInput ? {} : { targetInput }),
  };
}

/**
 * `currentProblems`: the document's problems when they are known already (the
 * editor's live validation), saving one validation.
 */
export function planConnection(doc: GraphDocument, request: ConnectionRequest, currentProblems?: readonly GraphProblem[]): ConnectionPlan {
  const edge = edgeFor(doc, request);
  const candidate: GraphDocument = { ...doc, edges: [...doc.edges, edge] };
  const index = candidate.edges.length - 1;
  const before = new Set((currentProblems ?? validateGraph(doc).problems).map(problemKey));
  const after = validateGraph(candidate).problems;
  const reasons = after.filter((p) => {
    if (p.severity !== 'error' || before.has(problemKey(p))) return false;
    const onEdge = p.edgeId === edge.id || (p.segments[0] === 'edges' && p.segments[1] === index);
    return onEdge || GRAPH_WIDE.has(p.code);
  });
  const first = reasons[0];
  if (first) return { ok: false, reason: first.message, problems: reasons };
  return { ok: true, edge };
}

function problemKey(p: GraphProblem): string {
  return `${p.code}\u0000${p.nodeId ?? ''}\u0000${p.message}`;
}
