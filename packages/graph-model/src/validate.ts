/**
 * Validation of job graphs: one function shared by the editor (live, as you type),
 * the CLI and the engine (before it compiles anything).
 *
 * It reports every problem at once, each with a JSON path the editor can highlight
 * and the CLI can turn into a line number, and it never throws, whatever the input:
 * the work is bounded by LIMITS and MAX_PROBLEMS, loops are iterative (no recursion
 * over user data), and operator types are looked up in a Map, never on an object.
 *
 * Three passes:
 *   1. the document: version (migrating old ones), top-level fields, job config;
 *   2. each node and edge on its own: base fields, the node's config against its
 *      operator's schema (user code is parsed here), references and names;
 *   3. the graph: inputs and outputs, cycles, keyed inputs, partitioning,
 *      parallelism, changelog compatibility, sources and sinks.
 */
import type { z } from 'zod';
import {
  getOperator,
  operatorTypes,
  type InputDefinition,
  type OperatorDefinition,
  type OutputDefinition,
} from './catalog/index.js';
import { CURRENT_SCHEMA_VERSION, LIMITS, edge as edgeSchema, graphEnvelope, nodeBase, type Edge, type NodeBase, type Partitioning } from './graph.js';
import type { JobConfig } from './job.js';
import { migrate, type Migration } from './migrate.js';
import { formatPath, type PathSegment } from './paths.js';
import { allowedKeysAt } from './schema-walk.js';
import { closest } from './suggest.js';

export type ProblemCode =
  | 'invalid-document'
  | 'unsupported-version'
  | 'invalid-field'
  | 'unknown-field'
  | 'unknown-type'
  | 'invalid-config'
  | 'invalid-code'
  | 'duplicate-id'
  | 'dangling-edge'
  | 'self-loop'
  | 'duplicate-edge'
  | 'unknown-output'
  | 'unknown-input'
  | 'unconnected-input'
  | 'cycle'
  | 'keyed-input-required'
  | 'keyed-input-forbidden'
  | 'keyed-inputs-mismatch'
  | 'invalid-partitioning'
  | 'invalid-parallelism'
  | 'changelog-not-accepted'
  | 'no-source'
  | 'no-sink'
  | 'dead-end'
  | 'too-large'
  | 'too-many-problems';

export interface GraphProblem {
  readonly severity: 'error' | 'warning';
  readonly code: ProblemCode;
  /** `nodes[3].config.sizeMs`; `$` for the document itself. */
  readonly path: string;
  readonly segments: readonly PathSegment[];
  readonly message: string;
  readonly nodeId?: string;
  readonly edgeId?: string;
}

/** A node that passed validation, with its config defaults applied and derived facts attached. */
export interface ValidatedNode extends Omit<NodeBase, 'config' | 'parallelism'> {
  readonly index: number;
  readonly config: unknown;
  readonly definition: OperatorDefinition;
  /** Effective parallelism: fixed by the type, set on the node, or the job default. */
  readonly parallelism: number;
  /** The parallelism written on the node, if any. */
  readonly declaredParallelism: number | undefined;
  readonly outputs: readonly OutputDefinition[];
  /** Whether the main output is a changelog (updates and deletes), not append-only. */
  readonly changelog: boolean;
}

export interface ValidatedEdge extends Omit<Edge, 'partitioning' | 'targetInput'> {
  readonly index: number;
  /** Effective partitioning: given, derived from a key-by (hash), or the default. */
  readonly partitioning: Partitioning;
  readonly targetInput: string;
  /** Records on this edge are keyed (it leaves a key-by). */
  readonly keyed: boolean;
}

export interface ValidatedGraph {
  readonly schemaVersion: typeof CURRENT_SCHEMA_VERSION;
  readonly name: string;
  readonly description?: string;
  readonly job: JobConfig;
  readonly nodes: readonly ValidatedNode[];
  readonly edges: readonly ValidatedEdge[];
}

export type ValidationResult =
  | { readonly ok: true; readonly graph: ValidatedGraph; readonly problems: readonly GraphProblem[]; readonly migrations: readonly string[] }
  | { readonly ok: false; readonly problems: readonly GraphProblem[]; readonly migrations: readonly string[] };

export interface ValidateOptions {
  /** Stop collecting after this many problems (default 500). */
  readonly maxProblems?: number;
  /** Migrations to apply to older documents; the real ones by default (tests inject others). */
  readonly migrations?: readonly Migration[];
}

export const MAX_PROBLEMS = 500;
const MAX_MESSAGE = 400;

class TooManyProblems extends Error {}

class Problems {
  readonly list: GraphProblem[] = [];
  constructor(private readonly max: number) {}

  add(
    severity: GraphProblem['severity'],
    code: ProblemCode,
    segments: readonly PathSegment[],
    message: string,
    refs: { nodeId?: string | undefined; edgeId?: string | undefined } = {},
  ): void {
    if (this.list.length >= this.max) {
      this.list.push({
        severity: 'error',
        code: 'too-many-problems',
        path: '$',
        segments: [],
        message: `more than ${this.max} problems; fix these and validate again to see the rest`,
      });
      throw new TooManyProblems();
    }
    const safeSegments = segments.map((s) => (typeof s === 'string' && s.length > 200 ? `${s.slice(0, 200)}…` : s));
    this.list.push({
      severity,
      code,
      path: formatPath(safeSegments),
      segments: safeSegments,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message,
      ...(refs.nodeId !== undefined ? { nodeId: refs.nodeId } : {}),
      ...(refs.edgeId !== undefined ? { edgeId: refs.edgeId } : {}),
    });
  }

  error(code: ProblemCode, segments: readonly PathSegment[], message: string, refs?: { nodeId?: string | undefined; edgeId?: string | undefined }) {
    this.add('error', code, segments, message, refs);
  }

  warn(code: ProblemCode, segments: readonly PathSegment[], message: string, refs?: { nodeId?: string | undefined; edgeId?: string | undefined }) {
    this.add('warning', code, segments, message, refs);
  }

  get hasErrors(): boolean {
    return this.list.some((p) => p.severity === 'error');
  }
}

/** Validates anything (typically the result of JSON.parse) as a job graph. Never throws. */
export function validateGraph(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const problems = new Problems(options.maxProblems ?? MAX_PROBLEMS);
  const migrations: string[] = [];
  let graph: ValidatedGraph | undefined;
  try {
    graph = run(input, problems, migrations, options);
  } catch (error) {
    if (!(error instanceof TooManyProblems)) {
      // A bug of ours must not become a crash of the editor or the engine: report it where it happened.
      problems.list.push({
        severity: 'error',
        code: 'invalid-document',
        path: '$',
        segments: [],
        message: `internal validator error (please report): ${error instanceof Error ? error.message : String(error)}`,
      });
    }
    graph = undefined;
  }
  if (graph && !problems.hasErrors) return { ok: true, graph, problems: problems.list, migrations };
  return { ok: false, problems: problems.list, migrations };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function run(input: unknown, problems: Problems, appliedMigrations: string[], options: ValidateOptions): ValidatedGraph | undefined {
  // ---- Pass 1: the document -------------------------------------------------------------
  if (!isPlainObject(input)) {
    problems.error('invalid-document', [], `expected a job graph object, got ${typeName(input)}`);
    return undefined;
  }
  const migrated = migrate(input, options.migrations);
  if (!migrated.ok) {
    problems.error('unsupported-version', ['schemaVersion'], migrated.message);
    return undefined;
  }
  appliedMigrations.push(...migrated.applied.map((m) => m.description));
  const document = migrated.document;

  if (Array.isArray(document['nodes']) && document['nodes'].length > LIMITS.nodes) {
    problems.error('too-large', ['nodes'], `a graph may have at most ${LIMITS.nodes} nodes; this one has ${document['nodes'].length}`);
    return undefined;
  }
  if (Array.isArray(document['edges']) && document['edges'].length > LIMITS.edges) {
    problems.error('too-large', ['edges'], `a graph may have at most ${LIMITS.edges} edges; this one has ${document['edges'].length}`);
    return undefined;
  }

  const envelope = graphEnvelope.safeParse(document);
  if (!envelope.success) reportZodIssues(problems, envelope.error.issues, [], document, 'invalid-field', {}, graphEnvelope);
  const rawNodes = Array.isArray(document['nodes']) ? (document['nodes'] as unknown[]) : [];
  const rawEdges = Array.isArray(document['edges']) ? (document['edges'] as unknown[]) : [];
  const job = envelope.success ? envelope.data.job : undefined;

  // ---- Pass 2: nodes and edges one by one ------------------------------------------------
  const nodes: ValidatedNode[] = [];
  const nodeById = new Map<string, ValidatedNode>();
  const seenNodeIds = new Map<string, number>();
  // Types of every node with a known type, valid or not: input names can be checked
  // against the type even when the node's config is broken.
  const definitionById = new Map<string, OperatorDefinition>();
  const knownTypes = operatorTypes();
  rawNodes.forEach((raw, index) => {
    const at: PathSegment[] = ['nodes', index];
    const base = nodeBase.safeParse(raw);
    const rawId = isPlainObject(raw) && typeof raw['id'] === 'string' ? raw['id'] : undefined;
    if (!base.success) {
      reportZodIssues(problems, base.error.issues, at, raw, 'invalid-field', { nodeId: rawId }, nodeBase);
    }
    if (rawId !== undefined) {
      const first = seenNodeIds.get(rawId);
      if (first !== undefined) {
        problems.error('duplicate-id', [...at, 'id'], `node id '${rawId}' is already used by nodes[${first}]; node ids must be unique`, { nodeId: rawId });
      } else {
        seenNodeIds.set(rawId, index);
      }
    }
    const rawType = isPlainObject(raw) ? raw['type'] : undefined;
    const definition = typeof rawType === 'string' ? getOperator(rawType) : undefined;
    if (typeof rawType === 'string' && definition === undefined) {
      const guess = closest(rawType, knownTypes);
      problems.error(
        'unknown-type',
        [...at, 'type'],
        `unknown operator type '${rawType}'` + (guess ? `; did you mean '${guess}'?` : `; known types: ${knownTypes.join(', ')}`),
        { nodeId: rawId },
      );
    }
    if (definition && rawId !== undefined && !definitionById.has(rawId)) definitionById.set(rawId, definition);
    let config: unknown;
    let configOk = false;
    if (definition && isPlainObject(raw)) {
      if (!('config' in raw)) {
        problems.error('invalid-config', [...at, 'config'], `config is required for a ${definition.type} node`, { nodeId: rawId });
      } else {
        const parsed = definition.configSchema.safeParse(raw['config']);
        if (parsed.success) {
          config = parsed.data;
          configOk = true;
        } else {
          reportZodIssues(problems, parsed.error.issues, [...at, 'config'], raw['config'], 'invalid-config', { nodeId: rawId }, definition.configSchema);
        }
      }
    }
    if (base.success && definition && configOk && seenNodeIds.get(base.data.id) === index) {
      const { parallelism: declared, config: _ignored, ...rest } = base.data;
      const outputs = definition.outputs(config);
      const node: ValidatedNode = {
        ...rest,
        index,
        config,
        definition,
        parallelism: definition.fixedParallelism ?? declared ?? job?.defaultParallelism ?? 1,
        declaredParallelism: declared,
        outputs,
        changelog: false,
      };
      nodes.push(node);
      nodeById.set(node.id, node);
    }
  });

  const edges: Array<Omit<ValidatedEdge, 'partitioning' | 'targetInput' | 'keyed'> & { partitioning?: Partitioning; targetInput?: string }> = [];
  const seenEdgeIds = new Map<string, number>();
  const seenConnections = new Map<string, number>();
  rawEdges.forEach((raw, index) => {
    const at: PathSegment[] = ['edges', index];
    const parsed = edgeSchema.safeParse(raw);
    const rawId = isPlainObject(raw) && typeof raw['id'] === 'string' ? raw['id'] : undefined;
    if (!parsed.success) {
      reportZodIssues(problems, parsed.error.issues, at, raw, 'invalid-field', { edgeId: rawId }, edgeSchema);
      return;
    }
    const e = parsed.data;
    const refs = { edgeId: e.id };
    const firstId = seenEdgeIds.get(e.id);
    if (firstId !== undefined) {
      problems.error('duplicate-id', [...at, 'id'], `edge id '${e.id}' is already used by edges[${firstId}]; edge ids must be unique`, refs);
      return;
    }
    seenEdgeIds.set(e.id, index);
    let dangling = false;
    for (const end of ['source', 'target'] as const) {
      if (!seenNodeIds.has(e[end])) {
        const guess = closest(e[end], seenNodeIds.keys());
        problems.error('dangling-edge', [...at, end], `${end} node '${e[end]}' does not exist` + (guess ? `; did you mean '${guess}'?` : ''), refs);
        dangling = true;
      }
    }
    if (dangling) return;
    if (e.source === e.target) {
      problems.error('self-loop', [...at, 'target'], `edge '${e.id}' connects node '${e.source}' to itself; a job graph has no cycles`, refs);
      return;
    }
    const connection = JSON.stringify([e.source, e.sourceOutput, e.target, e.targetInput ?? null]);
    const firstConnection = seenConnections.get(connection);
    if (firstConnection !== undefined) {
      problems.error(
        'duplicate-edge',
        at,
        `edge '${e.id}' repeats edges[${firstConnection}] (same source, output, target and input); each record would be delivered twice`,
        refs,
      );
      return;
    }
    seenConnections.set(connection, index);
    edges.push({ ...e, index });
  });

  if (!job) return undefined;

  // ---- Pass 3: the graph ---------------------------------------------------------------
  // Only nodes and edges that passed pass 2 take part, so one bad node does not hide
  // the structural problems of the rest; edges touching a bad node are skipped.
  const validEdges = edges.filter((e) => nodeById.has(e.source) && nodeById.has(e.target));
  for (const e of edges) {
    const definition = definitionById.get(e.target);
    if (!nodeById.has(e.target) && definition && e.targetInput !== undefined && !definition.inputs.some((i) => i.name === e.targetInput)) {
      const names = definition.inputs.map((i) => `'${i.name}'`).join(' or ');
      problems.error('unknown-input', ['edges', e.index, 'targetInput'], `'${e.target}' (${definition.type}) has no input '${e.targetInput}'; its inputs: ${names || 'none'}`, {
        edgeId: e.id,
      });
    }
  }
  const resolved: ValidatedEdge[] = [];
  const inEdges = new Map<string, ValidatedEdge[]>();

  for (const e of validEdges) {
    const at: PathSegment[] = ['edges', e.index];
    const refs = { edgeId: e.id };
    const source = nodeById.get(e.source) as ValidatedNode;
    const target = nodeById.get(e.target) as ValidatedNode;
    if (source.outputs.length === 0) {
      problems.error('unknown-output', [...at, 'source'], `'${source.id}' is a ${source.definition.type}: a sink has no outputs`, refs);
      continue;
    }
    if (!source.outputs.some((o) => o.name === e.sourceOutput)) {
      const names = source.outputs.map((o) => `'${o.name}'`).join(', ');
      problems.error('unknown-output', [...at, 'sourceOutput'], `'${source.id}' (${source.definition.type}) has no output '${e.sourceOutput}'; its outputs: ${names}`, refs);
      continue;
    }
    const input = resolveInput(target, e.targetInput, at, refs, problems);
    if (!input) continue;
    const keyed = source.definition.keysStream === true && e.sourceOutput === 'main';
    const partitioning = resolvePartitioning(e, source, target, input, keyed, at, refs, problems);
    if (!partitioning) continue;
    const full: ValidatedEdge = { ...e, targetInput: input.name, partitioning, keyed };
    resolved.push(full);
    pushTo(inEdges, e.target, full);
  }

  // Connectivity counts every edge between existing nodes, including ones reported
  // above, so that one mistake is not echoed as "not connected" elsewhere.
  const connectedInputs = new Set<string>();
  const connectedOutputs = new Set<string>();
  for (const e of edges) {
    connectedOutputs.add(e.source);
    const target = nodeById.get(e.target);
    const inputName = e.targetInput ?? (target?.definition.inputs.length === 1 ? target.definition.inputs[0]?.name : undefined);
    connectedInputs.add(JSON.stringify([e.target, inputName ?? null]));
  }

  checkParallelism(nodes, job, problems);
  checkInputs(nodes, inEdges, connectedInputs, problems);
  const order = topologicalOrder(nodes, resolved, problems);
  if (order) checkChangelog(order, inEdges, nodeById, problems);

  const sources = nodes.filter((n) => n.definition.inputs.length === 0);
  const sinks = nodes.filter((n) => n.definition.category === 'sink');
  if (rawNodes.length > 0 || envelope.success) {
    if (sources.length === 0 && !rawNodes.some((n) => isPlainObject(n) && isSourceType(n['type']))) {
      problems.error('no-source', ['nodes'], 'the job has no source; add a generator, file or Kafka source');
    }
    if (sinks.length === 0 && !rawNodes.some((n) => isPlainObject(n) && isSinkType(n['type']))) {
      problems.error('no-sink', ['nodes'], 'the job has no sink, so its results would go nowhere; add a sink');
    }
  }
  for (const node of nodes) {
    if (node.definition.category !== 'sink' && !connectedOutputs.has(node.id)) {
      problems.warn('dead-end', ['nodes', node.index], `the output of '${node.id}' is not connected to anything and will be discarded`, {
        nodeId: node.id,
      });
    }
  }

  if (!envelope.success) return undefined;
  const finalNodes = order ?? nodes;
  return {
    schemaVersion: CURRENT_SCHEMA_VERSION,
    name: envelope.data.name,
    ...(envelope.data.description !== undefined ? { description: envelope.data.description } : {}),
    job,
    nodes: [...finalNodes].sort((a, b) => a.index - b.index),
    edges: resolved,
  };
}

function isSourceType(type: unknown): boolean {
  return typeof type === 'string' && getOperator(type)?.inputs.length === 0;
}

function isSinkType(type: unknown): boolean {
  return typeof type === 'string' && getOperator(type)?.category === 'sink';
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

type Refs = { edgeId: string };

function resolveInput(target: ValidatedNode, requested: string | undefined, at: PathSegment[], refs: Refs, problems: Problems): InputDefinition | undefined {
  const inputs = target.definition.inputs;
  const names = inputs.map((i) => `'${i.name}'`).join(' or ');
  if (inputs.length === 0) {
    problems.error('unknown-input', [...at, 'target'], `'${target.id}' is a source (${target.definition.type}) and takes no input`, refs);
    return undefined;
  }
  if (requested === undefined) {
    if (inputs.length === 1) return inputs[0];
    problems.error('unknown-input', [...at, 'targetInput'], `'${target.id}' (${target.definition.type}) has two inputs; set targetInput to ${names}`, refs);
    return undefined;
  }
  const input = inputs.find((i) => i.name === requested);
  if (!input) {
    problems.error('unknown-input', [...at, 'targetInput'], `'${target.id}' (${target.definition.type}) has no input '${requested}'; its inputs: ${names}`, refs);
  }
  return input;
}

function resolvePartitioning(
  e: { partitioning?: Partitioning; index: number; id: string },
  source: ValidatedNode,
  target: ValidatedNode,
  input: InputDefinition,
  keyed: boolean,
  at: PathSegment[],
  refs: Refs,
  problems: Problems,
): Partitioning | undefined {
  const given = e.partitioning;
  const where = [...at, 'partitioning'];
  if (input.partitioning === 'broadcast') {
    if (given !== undefined && given !== 'broadcast') {
      problems.error('invalid-partitioning', where, `input '${input.name}' of '${target.id}' receives a broadcast stream; partitioning must be 'broadcast'`, refs);
      return undefined;
    }
    return 'broadcast';
  }
  if (keyed) {
    if (given !== undefined && given !== 'hash') {
      problems.error(
        'invalid-partitioning',
        where,
        `edges out of a key-by are hash-partitioned by the key; '${given}' would send a key to several subtasks. Remove partitioning or set 'hash'`,
        refs,
      );
      return undefined;
    }
    return 'hash';
  }
  if (given === 'hash') {
    problems.error('invalid-partitioning', where, `hash partitioning needs a key: put a key-by node between '${source.id}' and '${target.id}'`, refs);
    return undefined;
  }
  if (given === 'forward' && source.parallelism !== target.parallelism) {
    problems.error(
      'invalid-partitioning',
      where,
      `forward partitioning needs equal parallelism, but '${source.id}' has ${source.parallelism} and '${target.id}' has ${target.parallelism}; use 'rebalance' or 'rescale', or make them equal`,
      refs,
    );
    return undefined;
  }
  return given ?? (source.parallelism === target.parallelism ? 'forward' : 'rebalance');
}

function checkParallelism(nodes: readonly ValidatedNode[], job: JobConfig, problems: Problems): void {
  let defaultReported = false;
  for (const node of nodes) {
    const fixed = node.definition.fixedParallelism;
    const refs = { nodeId: node.id };
    if (fixed !== undefined) {
      if (node.declaredParallelism !== undefined && node.declaredParallelism !== fixed) {
        problems.error(
          'invalid-parallelism',
          ['nodes', node.index, 'parallelism'],
          `a ${node.definition.type} always runs with parallelism ${fixed}; remove parallelism or set it to ${fixed}`,
          refs,
        );
      }
      continue;
    }
    if (node.parallelism <= job.maxParallelism) continue;
    const message = `parallelism ${node.parallelism} of '${node.id}' exceeds the job's maxParallelism ${job.maxParallelism} (the number of key groups)`;
    if (node.declaredParallelism !== undefined) {
      problems.error('invalid-parallelism', ['nodes', node.index, 'parallelism'], message, refs);
    } else if (!defaultReported) {
      defaultReported = true;
      problems.error(
        'invalid-parallelism',
        ['job', 'defaultParallelism'],
        `defaultParallelism ${job.defaultParallelism} exceeds maxParallelism ${job.maxParallelism} (the number of key groups)`,
      );
    }
  }
}

function checkInputs(
  nodes: readonly ValidatedNode[],
  inEdges: Map<string, ValidatedEdge[]>,
  connectedInputs: ReadonlySet<string>,
  problems: Problems,
): void {
  for (const node of nodes) {
    const incoming = inEdges.get(node.id) ?? [];
    const refs = { nodeId: node.id };
    const keyedByInput = new Map<string, boolean>();
    for (const input of node.definition.inputs) {
      const edgesIn = incoming.filter((e) => e.targetInput === input.name);
      if (!connectedInputs.has(JSON.stringify([node.id, input.name]))) {
        problems.error(
          'unconnected-input',
          ['nodes', node.index],
          node.definition.inputs.length === 1 ? `'${node.id}' (${node.definition.type}) has no input connected` : `input '${input.name}' of '${node.id}' (${node.definition.type}) is not connected`,
          refs,
        );
        continue;
      }
      if (edgesIn.length === 0) continue;
      for (const e of edgesIn) {
        const at: PathSegment[] = ['edges', e.index];
        if (input.keyed === 'required' && !e.keyed) {
          problems.error(
            'keyed-input-required',
            at,
            `'${node.id}' (${node.definition.type}) needs a keyed input: windows, keyed state and timers are per key. Connect '${input.name}' from a key-by node instead of '${e.source}'`,
            { nodeId: node.id, edgeId: e.id },
          );
        } else if (input.keyed === 'forbidden' && e.keyed) {
          problems.error(
            'keyed-input-forbidden',
            at,
            `input '${input.name}' of '${node.id}' (${node.definition.type}) takes a non-keyed stream; remove the key-by '${e.source}' or use a keyed operator`,
            { nodeId: node.id, edgeId: e.id },
          );
        }
      }
      keyedByInput.set(input.name, edgesIn.every((e) => e.keyed));
      if (edgesIn.some((e) => e.keyed) && edgesIn.some((e) => !e.keyed) && input.keyed === 'any') {
        problems.error(
          'keyed-inputs-mismatch',
          ['nodes', node.index],
          `input '${input.name}' of '${node.id}' mixes keyed and non-keyed streams; key all of them or none`,
          refs,
        );
      }
    }
    if (node.definition.inputsKeyedTogether && keyedByInput.size === node.definition.inputs.length) {
      const values = [...keyedByInput.values()];
      if (values.some((v) => v) && values.some((v) => !v)) {
        problems.error(
          'keyed-inputs-mismatch',
          ['nodes', node.index],
          `'${node.id}' (${node.definition.type}) has one keyed and one non-keyed input; keyed state and timers need both inputs keyed (or neither)`,
          refs,
        );
      }
    }
  }
}

/**
 * Kahn's algorithm: returns the nodes in topological order, or reports each cycle
 * (as a readable path) and returns undefined. Iterative, so a long chain cannot
 * overflow the stack.
 */
function topologicalOrder(nodes: readonly ValidatedNode[], edges: readonly ValidatedEdge[], problems: Problems): ValidatedNode[] | undefined {
  const indegree = new Map<string, number>();
  const successors = new Map<string, ValidatedEdge[]>();
  for (const n of nodes) indegree.set(n.id, 0);
  for (const e of edges) {
    indegree.set(e.target, (indegree.get(e.target) ?? 0) + 1);
    pushTo(successors, e.source, e);
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const queue = nodes.filter((n) => indegree.get(n.id) === 0);
  const order: ValidatedNode[] = [];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i] as ValidatedNode;
    order.push(n);
    for (const e of successors.get(n.id) ?? []) {
      const d = (indegree.get(e.target) ?? 0) - 1;
      indegree.set(e.target, d);
      if (d === 0) queue.push(byId.get(e.target) as ValidatedNode);
    }
  }
  if (order.length === nodes.length) return order;

  // Nodes left over lie on a cycle or downstream of one. Peel off those with no
  // successor among the rest (reverse Kahn): what remains is only cycles, so a walk
  // forward from any of them must come back to a node it has seen.
  const remaining = new Set(nodes.filter((n) => (indegree.get(n.id) ?? 0) > 0).map((n) => n.id));
  const predecessors = new Map<string, string[]>();
  const outdegree = new Map<string, number>();
  for (const e of edges) {
    if (!remaining.has(e.source) || !remaining.has(e.target)) continue;
    pushTo(predecessors, e.target, e.source);
    outdegree.set(e.source, (outdegree.get(e.source) ?? 0) + 1);
  }
  const peel = [...remaining].filter((id) => (outdegree.get(id) ?? 0) === 0);
  for (let i = 0; i < peel.length; i++) {
    const id = peel[i] as string;
    remaining.delete(id);
    for (const before of predecessors.get(id) ?? []) {
      const d = (outdegree.get(before) ?? 0) - 1;
      outdegree.set(before, d);
      if (d === 0) peel.push(before);
    }
  }
  const reported = new Set<string>();
  for (const startId of remaining) {
    if (reported.has(startId)) continue;
    const seenAt = new Map<string, number>();
    const path: ValidatedEdge[] = [];
    let current = startId;
    while (!seenAt.has(current)) {
      seenAt.set(current, path.length);
      const next = (successors.get(current) ?? []).find((e) => remaining.has(e.target));
      if (!next) break;
      path.push(next);
      current = next.target;
    }
    const begin = seenAt.get(current) ?? path.length;
    const cycle = path.slice(begin);
    for (const e of path) reported.add(e.source);
    if (cycle.length === 0) continue;
    const closing = cycle[cycle.length - 1] as ValidatedEdge;
    const names = [...cycle.map((e) => e.source), closing.target].map((id) => `'${id}'`).join(' → ');
    problems.error('cycle', ['edges', closing.index], `cycle ${names}: a job graph must not loop back on itself`, { edgeId: closing.id });
  }
  if (reported.size === 0) {
    // Unreachable by construction; kept so that a cyclic graph can never pass silently.
    problems.error('cycle', ['edges'], 'the graph contains a cycle');
  }
  return undefined;
}

function checkChangelog(order: readonly ValidatedNode[], inEdges: Map<string, ValidatedEdge[]>, nodeById: Map<string, ValidatedNode>, problems: Problems): void {
  const changelog = new Map<string, boolean>();
  for (const node of order) {
    const incoming = inEdges.get(node.id) ?? [];
    const changingInputs = incoming.filter((e) => e.sourceOutput === 'main' && changelog.get(e.source) === true);
    const accepts = node.definition.changelog.accepts;
    const acceptsChanges = typeof accepts === 'function' ? accepts(node.config) : accepts;
    if (!acceptsChanges) {
      for (const e of changingInputs) {
        const source = nodeById.get(e.source) as ValidatedNode;
        problems.error(
          'changelog-not-accepted',
          ['edges', e.index],
          `'${node.id}' (${node.definition.type}) cannot consume the changelog of '${source.id}' (${source.definition.type}): its updates and deletes would be taken as new records` +
            (node.definition.type === 'kafka-sink' ? '. Turn on upsert mode with a keyField' : ''),
          { nodeId: node.id, edgeId: e.id },
        );
      }
    }
    const declared = node.definition.changelog.produces;
    const produces = typeof declared === 'function' ? declared(node.config) : declared;
    const isChangelog = produces === 'changelog' || (produces === 'passthrough' && changingInputs.length > 0);
    changelog.set(node.id, isChangelog);
    (node as { changelog: boolean }).changelog = isChangelog;
  }
}

// ---- zod issues → problems ------------------------------------------------------------

type Issue = z.core.$ZodIssue;

function reportZodIssues(
  problems: Problems,
  issues: readonly Issue[],
  base: readonly PathSegment[],
  value: unknown,
  code: ProblemCode,
  refs: { nodeId?: string | undefined; edgeId?: string | undefined } = {},
  schema?: z.ZodType,
): void {
  // A strict object reports a misspelt field twice: unknown `sizeMS`, missing `sizeMs`.
  // Pair them into one helpful message.
  const missingByObject = new Map<string, Array<{ key: string; issue: Issue }>>();
  for (const issue of issues) {
    if (issue.code === 'invalid_type' && issue.path.length > 0 && lookup(value, issue.path) === undefined) {
      const parent = issue.path.slice(0, -1);
      const key = issue.path[issue.path.length - 1];
      if (typeof key === 'string') pushTo(missingByObject, JSON.stringify(parent.map(String)), { key, issue });
    }
  }
  const explained = new Set<Issue>();
  for (const issue of issues) {
    const path = [...base, ...issue.path.map(toSegment)];
    if (issue.code === 'unrecognized_keys') {
      const candidates = missingByObject.get(JSON.stringify(issue.path.map(String))) ?? [];
      const allowed = schema ? allowedKeysAt(schema, value, issue.path.map(toSegment)) : [];
      for (const key of issue.keys) {
        const guess = closest(key, candidates.map((c) => c.key)) ?? closest(key, allowed.filter((k) => !hasKey(lookup(value, issue.path), k)));
        const match = candidates.find((c) => c.key === guess);
        if (match) explained.add(match.issue);
        problems.error('unknown-field', [...path, key], guess ? `unknown field '${key}'; did you mean '${guess}'?` : `unknown field '${key}'`, refs);
      }
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys' || explained.has(issue)) continue;
    const path = [...base, ...issue.path.map(toSegment)];
    const isCode = issue.code === 'custom' && (issue.params as { sluice?: string } | undefined)?.sluice === 'code';
    problems.error(isCode ? 'invalid-code' : code, path, describeIssue(issue, value), refs);
  }
}

function hasKey(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, key);
}

function toSegment(key: PropertyKey): PathSegment {
  return typeof key === 'number' ? key : String(key);
}

function lookup(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(value) ? 'a whole number' : 'a number';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function describeIssue(issue: Issue, root: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      const actual = lookup(root, issue.path);
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (actual === undefined) return `required: expected ${expected}`;
      return `expected ${expected}, got ${typeName(actual)}`;
    }
    case 'too_small': {
      const bound = String(issue.minimum);
      if (issue.origin === 'string') return `must be at least ${bound} character${bound === '1' ? '' : 's'} long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `needs at least ${bound} item${bound === '1' ? '' : 's'}`;
      return issue.inclusive ? `must be at least ${bound}` : `must be greater than ${bound}`;
    }
    case 'too_big': {
      const bound = String(issue.maximum);
      if (issue.origin === 'string') return `must be at most ${bound} characters long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `may have at most ${bound} items`;
      return issue.inclusive ? `must be at most ${bound}` : `must be less than ${bound}`;
    }
    case 'invalid_value': {
      const actual = lookup(root, issue.path);
      const options = issue.values.map((v) => JSON.stringify(v));
      const guess = typeof actual === 'string' ? closest(actual, issue.values.filter((v): v is string => typeof v === 'string')) : undefined;
      if (options.length === 1) return `must be ${options[0]}`;
      return `expected one of ${options.join(', ')}` + (guess ? `; did you mean '${guess}'?` : '');
    }
    case 'invalid_union': {
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        const options = (issue as { options?: unknown[] }).options;
        const actual = lookup(root, issue.path);
        const names = Array.isArray(options) ? options.map((o) => JSON.stringify(o)) : [];
        const guess =
          typeof actual === 'string' && Array.isArray(options) ? closest(actual, options.filter((o): o is string => typeof o === 'string')) : undefined;
        if (actual === undefined) return `required: expected one of ${names.join(', ')}`;
        return `expected one of ${names.join(', ')}` + (guess ? `; did you mean '${guess}'?` : '');
      }
      return 'does not match any of the allowed shapes';
    }
    case 'invalid_format':
      return issue.message.startsWith('Invalid') ? `has the wrong format (${issue.format})` : issue.message;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_key':
      return 'has an invalid key';
    case 'invalid_element':
      return 'has an invalid element';
    default:
      return issue.message;
  }
}
