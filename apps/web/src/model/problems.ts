/**
 * Validation problems as the editor uses them: grouped by node and edge, and each
 * resolved to where it can be fixed — a node's, an edge's or the document's form
 * field, addressed by the path relative to that object (`config.key.field`), which
 * is also the inspector field's `data-field-path`.
 */
import { formatPath, type GraphProblem, type PathSegment } from '@sluice/graph-model';
import type { GraphDocument } from './document';

export interface ProblemIndex {
  readonly problems: readonly GraphProblem[];
  readonly byNode: ReadonlyMap<string, readonly GraphProblem[]>;
  readonly byEdge: ReadonlyMap<string, readonly GraphProblem[]>;
  readonly errors: number;
  readonly warnings: number;
}

export type ProblemTarget =
  | { readonly kind: 'node'; readonly id: string; readonly fieldPath: string | undefined; readonly segments: readonly PathSegment[] }
  | { readonly kind: 'edge'; readonly id: string; readonly fieldPath: string | undefined; readonly segments: readonly PathSegment[] }
  | { readonly kind: 'document'; readonly fieldPath: string | undefined; readonly segments: readonly PathSegment[] };

export const EMPTY_PROBLEMS: ProblemIndex = { problems: [], byNode: new Map(), byEdge: new Map(), errors: 0, warnings: 0 };

export function problemTarget(doc: GraphDocument, problem: GraphProblem): ProblemTarget {
  const [head, index, ...rest] = problem.segments;
  if (head === 'nodes' && typeof index === 'number') {
    const id = problem.nodeId ?? doc.nodes[index]?.id;
    if (id !== undefined) return { kind: 'node', id, fieldPath: rest.length > 0 ? formatPath(rest) : undefined, segments: rest };
  }
  if (head === 'edges' && typeof index === 'number') {
    const id = problem.edgeId ?? doc.edges[index]?.id;
    if (id !== undefined) return { kind: 'edge', id, fieldPath: rest.length > 0 ? formatPath(rest) : undefined, segments: rest };
  }
  if (problem.nodeId !== undefined) return { kind: 'node', id: problem.nodeId, fieldPath: undefined, segments: [] };
  if (problem.edgeId !== undefined) return { kind: 'edge', id: problem.edgeId, fieldPath: undefined, segments: [] };
  const segments = problem.segments;
  // `nodes` / `edges` on their own (no source, no sink) belong to the graph as a whole.
  const documentLevel = segments.length === 0 || head === 'nodes' || head === 'edges';
  return { kind: 'document', fieldPath: documentLevel ? undefined : formatPath(segments), segments: documentLevel ? [] : segments };
}

export function indexProblems(doc: GraphDocument, problems: readonly GraphProblem[]): ProblemIndex {
  const byNode = new Map<string, GraphProblem[]>();
  const byEdge = new Map<string, GraphProblem[]>();
  let errors = 0;
  let warnings = 0;
  for (const problem of problems) {
    if (problem.severity === 'error') errors++;
    else warnings++;
    const target = problemTarget(doc, problem);
    if (target.kind === 'node') push(byNode, target.id, problem);
    if (target.kind === 'edge') push(byEdge, target.id, problem);
    // An edge problem about a node's input (keyed input required) shows on both.
    if (target.kind === 'edge' && problem.nodeId !== undefined) push(byNode, problem.nodeId, problem);
  }
  return { problems, byNode, byEdge, errors, warnings };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Parses "line L, column C: …" at the start of a code problem's message. */
export function codeProblemLocation(message: string): { line: number; column: number; message: string } | undefined {
  const match = /^line (\d+), column (\d+): (.*)$/s.exec(message);
  if (!match) return undefined;
  return { line: Number(match[1]), column: Number(match[2]), message: match[3] ?? '' };
}
