import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateGraph, type JobGraphDocument, type ValidatedGraph } from '@sluice/graph-model';
import { compilePlan } from '@sluice/engine';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function valid(graph: unknown): ValidatedGraph {
  const result = validateGraph(graph);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.graph;
}

const compile = (graph: unknown) => compilePlan(valid(graph), { jobId: 'j', code: {} });

function linear(extra: Partial<JobGraphDocument> = {}, sinkParallelism?: number): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'linear',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence' } },
      { id: 'm', type: 'map', config: { fn: '(v) => v' } },
      { id: 'f', type: 'filter', config: { fn: '(v) => true' } },
      { id: 'sink', type: 'collect-sink', config: {}, ...(sinkParallelism ? { parallelism: sinkParallelism } : {}) },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'm' },
      { id: 'e2', source: 'm', target: 'f' },
      { id: 'e3', source: 'f', target: 'sink' },
    ],
    ...extra,
  };
}

describe('compiling a job graph into an execution plan', () => {
  it('chains consecutive forward edges at equal parallelism into one task', () => {
    const plan = compile(linear());
    expect(plan.tasks.map((t) => t.operators.map((o) => o.nodeId))).toEqual([['gen', 'm', 'f', 'sink']]);
    expect(plan.exchanges).toEqual([]);
    expect(plan.tasks[0]?.operators[0]?.outputs).toEqual({ main: [{ kind: 'chained', operator: 1, edgeIds: ['e1'] }] });
  });

  it('runs every operator in its own task when chaining is off for the job', () => {
    const plan = compile(linear({ job: { chaining: false } }));
    expect(plan.tasks.map((t) => t.operators.map((o) => o.nodeId))).toEqual([['gen'], ['m'], ['f'], ['sink']]);
    expect(plan.exchanges.map((e) => [e.fromTask, e.toTask, e.partitioning])).toEqual([
      [0, 1, 'forward'],
      [1, 2, 'forward'],
      [2, 3, 'forward'],
    ]);
  });

  it("honours a node's chaining setting: never runs alone, head starts a new chain", () => {
    const never = linear();
    never.nodes[1]!.chaining = 'never';
    expect(compile(never).tasks.map((t) => t.operators.map((o) => o.nodeId))).toEqual([['gen'], ['m'], ['f', 'sink']]);
    const head = linear();
    head.nodes[2]!.chaining = 'head';
    expect(compile(head).tasks.map((t) => t.operators.map((o) => o.nodeId))).toEqual([['gen', 'm'], ['f', 'sink']]);
  });

  it('breaks the chain where parallelism changes, with a rebalance exchange', () => {
    const plan = compile(linear({}, 3));
    expect(plan.tasks.map((t) => [t.name, t.parallelism])).toEqual([
      ['gen → m → f', 1],
      ['sink', 3],
    ]);
    expect(plan.exchanges[0]).toMatchObject({ partitioning: 'rebalance', edgeIds: ['e3'] });
  });

  it('turns a key-by into a hash exchange that carries both edges and the key', () => {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/clickstream-page-views.json`, 'utf8')) as JobGraphDocument;
    const plan = compile(graph);
    expect(plan.tasks.map((t) => t.name)).toEqual(['Clicks → Views only', 'Views per minute → Page views']);
    expect(plan.exchanges).toEqual([
      { id: 0, edgeIds: ['e2', 'e3'], fromTask: 0, fromOperator: 1, fromOutput: 'main', toTask: 1, toInput: 0, partitioning: 'hash', key: { kind: 'field', field: 'page' } },
    ]);
    expect(plan.tasks[1]?.keys).toEqual([{ kind: 'field', field: 'page' }]);
    expect(plan.tasks[1]?.subtasks.map((s) => s.keyGroupRange)).toEqual([
      { start: 0, end: 63 },
      { start: 64, end: 127 },
    ]);
    expect(plan.tasks[0]?.subtasks.map((s) => s.keyGroupRange)).toEqual([undefined, undefined]);
  });

  it('connects both inputs of a join to the right input index', () => {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/order-shipment-join.json`, 'utf8')) as JobGraphDocument;
    const plan = compile(graph);
    const join = plan.tasks.find((t) => t.operators[0]?.nodeId === 'shipped-orders');
    expect(join?.inputs.map((i) => plan.exchanges[i]?.toInput).sort()).toEqual([0, 1]);
    expect(join?.keys).toEqual([
      { kind: 'field', field: 'orderId' },
      { kind: 'field', field: 'orderId' },
    ]);
  });

  it('routes side outputs to their own targets', () => {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/iot-sensor-averages.json`, 'utf8')) as JobGraphDocument;
    const plan = compile(graph);
    const window = plan.tasks.find((t) => t.operators[0]?.nodeId === 'averages');
    expect(Object.keys(window?.operators[0]?.outputs ?? {}).sort()).toEqual(['late', 'main']);
  });

  it('gives a non-keyed all-window one constant key', () => {
    const graph = linear();
    graph.nodes.splice(3, 0, {
      id: 'all',
      type: 'all-window',
      config: { assigner: { kind: 'tumbling', sizeMs: 1000 }, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } },
    });
    graph.edges[2] = { id: 'e3', source: 'f', target: 'all' };
    graph.edges.push({ id: 'e4', source: 'all', target: 'sink' });
    graph.job = { defaultParallelism: 2 };
    const plan = compile(graph);
    const all = plan.tasks.find((t) => t.operators[0]?.nodeId === 'all');
    expect(all?.parallelism).toBe(1);
    expect(all?.keys).toEqual([{ kind: 'constant' }]);
  });

  it('is plain data that survives a JSON round trip', () => {
    const graph = JSON.parse(readFileSync(`${ROOT}examples/user-sessions.json`, 'utf8')) as JobGraphDocument;
    const plan = compile(graph);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });
});
