/**
 * A semantic diff of two job graphs: what a person would call a change. Layout
 * (`position`) and key order are ignored, and values are compared after defaults
 * are applied (a window with no `trigger` has the default trigger), so an import
 * that only moved nodes around shows no change. Nodes are matched by id (their
 * state uid), edges by what they connect.
 */
import { formatPath, getOperator, jobConfig, type PathSegment } from '@sluice/graph-model';
import { isPlainObject, type GraphDocument, type GraphEdge, type GraphNode } from './document';

export interface ValueChange {
  /** Relative to the node, edge or document: `config.sizeMs`, `job.defaultParallelism`. */
  readonly path: string;
  /** undefined: the field is absent on that side. */
  readonly before: unknown;
  readonly after: unknown;
}

export interface NodeSummary {
  readonly id: string;
  readonly type: string;
  readonly name?: string | undefined;
}

export interface EdgeSummary {
  readonly id: string;
  readonly source: string;
  readonly sourceOutput: string;
  readonly target: string;
  readonly targetInput: string;
}

export interface GraphDiff {
  readonly document: readonly ValueChange[];
  readonly nodesAdded: readonly NodeSummary[];
  readonly nodesRemoved: readonly NodeSummary[];
  readonly nodesChanged: ReadonlyArray<NodeSummary & { readonly changes: readonly ValueChange[] }>;
  readonly edgesAdded: readonly EdgeSummary[];
  readonly edgesRemoved: readonly EdgeSummary[];
  readonly edgesChanged: ReadonlyArray<{ readonly before: EdgeSummary; readonly after: EdgeSummary; readonly changes: readonly ValueChange[] }>;
}

export function diffGraphs(before: GraphDocument, after: GraphDocument): GraphDiff {
  const document = [
    ...diffValues(before.name, after.name, ['name']),
    ...diffValues(before.description, after.description, ['description']),
    ...diffValues(normalizeJob(before.job), normalizeJob(after.job), ['job']),
  ];

  const beforeNodes = new Map(before.nodes.map((n) => [n.id, n]));
  const afterNodes = new Map(after.nodes.map((n) => [n.id, n]));
  const nodesAdded = after.nodes.filter((n) => !beforeNodes.has(n.id)).map(summary);
  const nodesRemoved = before.nodes.filter((n) => !afterNodes.has(n.id)).map(summary);
  const nodesChanged: Array<NodeSummary & { changes: ValueChange[] }> = [];
  for (const node of after.nodes) {
    const old = beforeNodes.get(node.id);
    if (!old) continue;
    const changes = diffValues(normalizeNode(old), normalizeNode(node), []);
    if (changes.length > 0) nodesChanged.push({ ...summary(node), changes });
  }

  const unmatched = new Map<string, EdgeSummary[]>();
  for (const e of before.edges) {
    const s = edgeSummary(e, before);
    const list = unmatched.get(edgeKey(s)) ?? [];
    list.push(s);
    unmatched.set(edgeKey(s), list);
  }
  const rawBefore = new Map(before.edges.map((e) => [e.id, e]));
  const edgesAdded: EdgeSummary[] = [];
  const edgesChanged: Array<{ before: EdgeSummary; after: EdgeSummary; changes: ValueChange[] }> = [];
  for (const e of after.edges) {
    const s = edgeSummary(e, after);
    const match = unmatched.get(edgeKey(s))?.shift();
    if (!match) {
      edgesAdded.push(s);
      continue;
    }
    const old = rawBefore.get(match.id);
    const changes = [
      ...diffValues(match.id, s.id, ['id']),
      ...diffValues(old?.partitioning, e.partitioning, ['partitioning']),
    ];
    if (changes.length > 0) edgesChanged.push({ before: match, after: s, changes });
  }
  const edgesRemoved = [...unmatched.values()].flat();
  return { document, nodesAdded, nodesRemoved, nodesChanged, edgesAdded, edgesRemoved, edgesChanged };
}

export function isEmptyDiff(diff: GraphDiff): boolean {
  return (
    diff.document.length === 0 &&
    diff.nodesAdded.length === 0 &&
    diff.nodesRemoved.length === 0 &&
    diff.nodesChanged.length === 0 &&
    diff.edgesAdded.length === 0 &&
    diff.edgesRemoved.length === 0 &&
    diff.edgesChanged.length === 0
  );
}

/** One line per change, for dialogs and logs. */
export function describeDiff(diff: GraphDiff): string[] {
  const lines: string[] = [];
  for (const c of diff.document) lines.push(`document ${describeChange(c)}`);
  for (const n of diff.nodesAdded) lines.push(`+ node '${n.id}' (${n.type})`);
  for (const n of diff.nodesRemoved) lines.push(`− node '${n.id}' (${n.type})`);
  for (const n of diff.nodesChanged) for (const c of n.changes) lines.push(`~ node '${n.id}' ${describeChange(c)}`);
  for (const e of diff.edgesAdded) lines.push(`+ edge ${describeEdge(e)}`);
  for (const e of diff.edgesRemoved) lines.push(`− edge ${describeEdge(e)}`);
  for (const e of diff.edgesChanged) for (const c of e.changes) lines.push(`~ edge ${describeEdge(e.after)} ${describeChange(c)}`);
  return lines;
}

export function describeEdge(e: EdgeSummary): string {
  const from = e.sourceOutput === 'main' ? e.source : `${e.source}.${e.sourceOutput}`;
  return `${from} → ${e.target}${e.targetInput === 'in' ? '' : `.${e.targetInput}`}`;
}

export function describeChange(c: ValueChange): string {
  if (c.before === undefined) return `${c.path}: set to ${show(c.after)}`;
  if (c.after === undefined) return `${c.path}: removed (was ${show(c.before)})`;
  return `${c.path}: ${show(c.before)} → ${show(c.after)}`;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function summary(n: GraphNode): NodeSummary {
  return { id: n.id, type: n.type, ...(n.name !== undefined ? { name: n.name } : {}) };
}

function edgeSummary(e: GraphEdge, doc: GraphDocument): EdgeSummary {
  const target = doc.nodes.find((n) => n.id === e.target);
  const inputs = target ? (getOperator(target.type)?.inputs ?? []) : [];
  const targetInput = e.targetInput ?? (inputs.length === 1 ? (inputs[0]?.name ?? 'in') : 'in');
  return { id: e.id, source: e.source, sourceOutput: e.sourceOutput ?? 'main', target: e.target, targetInput };
}

function edgeKey(e: EdgeSummary): string {
  return JSON.stringify([e.source, e.sourceOutput, e.target, e.targetInput]);
}

function normalizeJob(job: unknown): unknown {
  const parsed = jobConfig.safeParse(job ?? {});
  return parsed.success ? parsed.data : job;
}

function normalizeNode(n: GraphNode): Record<string, unknown> {
  const definition = getOperator(n.type);
  const parsed = definition?.configSchema.safeParse(n.config);
  return {
    type: n.type,
    name: n.name,
    description: n.description,
    parallelism: n.parallelism,
    chaining: n.chaining ?? 'auto',
    config: parsed?.success ? parsed.data : n.config,
  };
}

/** Leaf-level differences between two JSON values; key order never matters. */
export function diffValues(before: unknown, after: unknown, path: readonly PathSegment[]): ValueChange[] {
  const out: ValueChange[] = [];
  const stack: Array<{ before: unknown; after: unknown; path: readonly PathSegment[] }> = [{ before, after, path }];
  while (stack.length > 0) {
    const item = stack.pop();
    if (!item) break;
    const { before: a, after: b } = item;
    if (Object.is(a, b)) continue;
    if (isPlainObject(a) && isPlainObject(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().reverse();
      for (const key of keys) stack.push({ before: a[key], after: b[key], path: [...item.path, key] });
    } else if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = Math.max(a.length, b.length) - 1; i >= 0; i--) {
        stack.push({ before: i < a.length ? a[i] : undefined, after: i < b.length ? b[i] : undefined, path: [...item.path, i] });
      }
    } else {
      out.push({ path: formatPath(item.path), before: a, after: b });
    }
  }
  return out;
}
