/**
 * Job graph → execution plan.
 *
 * 1. Key-by nodes disappear: an edge X → key-by → Y becomes an exchange X → Y with
 *    hash partitioning on the key-by's selector (Flink's keyBy is a partitioner too).
 * 2. Chaining, with Flink's rule: X → Y run in one task when the edge is forward,
 *    their parallelism is equal, Y has no other input, Y is a one-input operator, and
 *    neither chaining setting (job, X's, Y's) forbids it.
 * 3. Every other edge becomes an exchange between tasks.
 */
import { keyGroupRangeOf } from '@sluice/operators';
import type { Partitioning, ValidatedEdge, ValidatedGraph, ValidatedNode } from '@sluice/graph-model';
import type { ChainedOperatorPlan, ExchangePlan, ExecutionPlan, KeySpec, OutputTarget, TaskPlan } from './plan.js';

interface Link {
  readonly edgeIds: string[];
  readonly source: ValidatedNode;
  readonly sourceOutput: string;
  readonly target: ValidatedNode;
  readonly targetInput: string;
  readonly partitioning: Partitioning;
  readonly key: KeySpec | undefined;
}

export interface CompileOptions {
  readonly jobId: string;
  /** Compiled JavaScript of every user function (see compileUserCode). */
  readonly code: Readonly<Record<string, string>>;
}

function isNonKeyedWindow(node: ValidatedNode): boolean {
  return node.definition.fixedParallelism !== undefined && node.definition.category === 'window';
}

export function compilePlan(graph: ValidatedGraph, options: CompileOptions): ExecutionPlan {
  const links = resolveKeyBys(graph);
  const nodes = graph.nodes.filter((n) => n.definition.keysStream !== true);
  const incoming = new Map<string, Link[]>();
  for (const link of links) {
    const list = incoming.get(link.target.id) ?? [];
    list.push(link);
    incoming.set(link.target.id, list);
  }

  const chainable = (link: Link): boolean =>
    graph.job.chaining &&
    link.partitioning === 'forward' &&
    link.source.parallelism === link.target.parallelism &&
    link.source.chaining !== 'never' &&
    link.target.chaining === 'auto' &&
    link.target.definition.inputs.length === 1 &&
    (incoming.get(link.target.id)?.length ?? 0) === 1 &&
    // An all-window keeps its state under a constant key, which only a task head gets (as
    // Flink's windowAll sits behind its own exchange), even when its input has parallelism 1 too.
    !isNonKeyedWindow(link.target);

  // Assign each node to a task: chain heads start tasks, chained nodes join their upstream's.
  const order = topological(nodes, links);
  const taskOf = new Map<string, number>();
  const members: ValidatedNode[][] = [];
  for (const node of order) {
    const inputs = incoming.get(node.id) ?? [];
    const first = inputs[0];
    if (inputs.length === 1 && first && chainable(first)) {
      const task = taskOf.get(first.source.id);
      if (task === undefined) throw new Error(`internal: '${first.source.id}' has no task yet`);
      taskOf.set(node.id, task);
      members[task]?.push(node);
    } else {
      taskOf.set(node.id, members.length);
      members.push([node]);
    }
  }

  const exchanges: ExchangePlan[] = [];
  const outputsOf = new Map<string, Map<string, OutputTarget[]>>();
  const operatorIndex = (node: ValidatedNode) => (members[taskOf.get(node.id) ?? -1] ?? []).indexOf(node);
  const taskInputs = members.map(() => [] as number[]);
  const taskKeys = members.map((m) => (m[0]?.definition.inputs ?? []).map(() => undefined as KeySpec | undefined));

  for (const link of links) {
    let byOutput = outputsOf.get(link.source.id);
    if (!byOutput) outputsOf.set(link.source.id, (byOutput = new Map<string, OutputTarget[]>()));
    const targets = byOutput.get(link.sourceOutput) ?? [];
    byOutput.set(link.sourceOutput, targets);
    const fromTask = taskOf.get(link.source.id) ?? -1;
    const toTask = taskOf.get(link.target.id) ?? -1;
    if (fromTask === toTask && chainable(link)) {
      targets.push({ kind: 'chained', operator: operatorIndex(link.target), edgeIds: link.edgeIds });
      continue;
    }
    const toInput = Math.max(0, link.target.definition.inputs.findIndex((i) => i.name === link.targetInput));
    const exchange: ExchangePlan = {
      id: exchanges.length,
      edgeIds: link.edgeIds,
      fromTask,
      fromOperator: operatorIndex(link.source),
      fromOutput: link.sourceOutput,
      toTask,
      toInput,
      partitioning: link.partitioning,
      key: link.key,
    };
    exchanges.push(exchange);
    targets.push({ kind: 'exchange', exchange: exchange.id });
    taskInputs[toTask]?.push(exchange.id);
    const keys = taskKeys[toTask];
    if (keys && link.key) keys[toInput] = link.key;
  }

  // A non-keyed operator with fixed parallelism keeps its state under one constant key.
  members.forEach((chain, id) => {
    const head = chain[0];
    const keys = taskKeys[id];
    if (head && isNonKeyedWindow(head) && keys && keys[0] === undefined) keys[0] = { kind: 'constant' };
  });

  const tasks: TaskPlan[] = members.map((chain, id) => {
    const head = chain[0] as ValidatedNode;
    const parallelism = head.parallelism;
    const keyed = (taskKeys[id] ?? []).some((k) => k !== undefined);
    const operators: ChainedOperatorPlan[] = chain.map((node) => ({
      nodeId: node.id,
      type: node.definition.type,
      name: node.name ?? node.definition.title,
      config: node.config,
      outputs: Object.fromEntries(outputsOf.get(node.id) ?? []),
    }));
    return {
      id,
      name: chain.map((n) => n.name ?? n.id).join(' → '),
      parallelism,
      operators,
      inputs: taskInputs[id] ?? [],
      keys: taskKeys[id] ?? [],
      subtasks: Array.from({ length: parallelism }, (_, index) => ({
        index,
        keyGroupRange: keyed ? keyGroupRangeOf(index, graph.job.maxParallelism, parallelism) : undefined,
      })),
    };
  });

  return { jobId: options.jobId, jobName: graph.name, job: graph.job, tasks, exchanges, code: options.code };
}

/** Replaces key-by nodes by hash-partitioned links from their inputs to their outputs. */
function resolveKeyBys(graph: ValidatedGraph): Link[] {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const node = (id: string) => byId.get(id) as ValidatedNode;
  const into = new Map<string, ValidatedEdge[]>();
  for (const e of graph.edges) {
    const list = into.get(e.target) ?? [];
    list.push(e);
    into.set(e.target, list);
  }
  const links: Link[] = [];
  for (const e of graph.edges) {
    const source = node(e.source);
    const target = node(e.target);
    if (target.definition.keysStream) continue;
    if (!source.definition.keysStream) {
      links.push({ edgeIds: [e.id], source, sourceOutput: e.sourceOutput, target, targetInput: e.targetInput, partitioning: e.partitioning, key: undefined });
      continue;
    }
    const key = (source.config as { key: KeySpec }).key;
    for (const upstream of into.get(source.id) ?? []) {
      links.push({
        edgeIds: [upstream.id, e.id],
        source: node(upstream.source),
        sourceOutput: upstream.sourceOutput,
        target,
        targetInput: e.targetInput,
        partitioning: 'hash',
        key,
      });
    }
  }
  return links;
}

function topological(nodes: readonly ValidatedNode[], links: readonly Link[]): ValidatedNode[] {
  const indegree = new Map(nodes.map((n) => [n.id, 0]));
  const next = new Map<string, ValidatedNode[]>();
  for (const l of links) {
    indegree.set(l.target.id, (indegree.get(l.target.id) ?? 0) + 1);
    const list = next.get(l.source.id) ?? [];
    list.push(l.target);
    next.set(l.source.id, list);
  }
  const queue = nodes.filter((n) => indegree.get(n.id) === 0);
  const order: ValidatedNode[] = [];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i] as ValidatedNode;
    order.push(n);
    for (const m of next.get(n.id) ?? []) {
      const d = (indegree.get(m.id) ?? 0) - 1;
      indegree.set(m.id, d);
      if (d === 0) queue.push(m);
    }
  }
  return order;
}
