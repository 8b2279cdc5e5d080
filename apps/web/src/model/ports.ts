/**
 * The handles a node shows: its operator's inputs, and the outputs its current
 * config declares (`definition.outputs(config)`: `main`, `late`, `dead-letter`,
 * `timed-out`, declared side outputs). While a config is invalid the outputs of the
 * default config are shown, plus any port an existing edge refers to, so that no
 * edge loses its end while the user is typing.
 */
import { getOperator, type OperatorDefinition } from '@sluice/graph-model';
import type { GraphEdge, GraphNode } from './document';

export interface Port {
  readonly name: string;
  readonly title: string;
  /** Keyed requirement for inputs; undefined for outputs. */
  readonly keyed?: 'required' | 'forbidden' | 'any';
  /** The operator does not declare this port; an edge refers to it anyway. */
  readonly unknown?: true;
  readonly doc?: string;
}

export interface NodePorts {
  readonly definition: OperatorDefinition | undefined;
  readonly inputs: readonly Port[];
  readonly outputs: readonly Port[];
}

// Parsing a config runs its code checks; cache per config object (configs are immutable).
const outputsCache = new WeakMap<object, { definition: OperatorDefinition; ports: readonly Port[] }>();

export function declaredOutputs(definition: OperatorDefinition, config: unknown): readonly Port[] {
  if (typeof config === 'object' && config !== null) {
    const cached = outputsCache.get(config);
    if (cached?.definition === definition) return cached.ports;
    const ports = computeOutputs(definition, config);
    outputsCache.set(config, { definition, ports });
    return ports;
  }
  return computeOutputs(definition, config);
}

function computeOutputs(definition: OperatorDefinition, config: unknown): readonly Port[] {
  const parsed = definition.configSchema.safeParse(config);
  const usable = parsed.success ? parsed : definition.configSchema.safeParse(definition.defaultConfig);
  if (!usable.success) return [];
  return definition.outputs(usable.data).map((o) => ({ name: o.name, title: o.name, doc: o.doc }));
}

export function portsOf(node: GraphNode, edges: readonly GraphEdge[] = []): NodePorts {
  const definition = getOperator(node.type);
  const inputs: Port[] = definition ? definition.inputs.map((i) => ({ name: i.name, title: i.title, keyed: i.keyed })) : [];
  const outputs: Port[] = definition ? [...declaredOutputs(definition, node.config)] : [];
  for (const e of edges) {
    if (e.source === node.id) {
      const name = e.sourceOutput ?? 'main';
      if (!outputs.some((o) => o.name === name)) outputs.push({ name, title: name, unknown: true });
    }
    if (e.target === node.id) {
      const name = e.targetInput ?? (inputs.length === 1 ? (inputs[0] as Port).name : 'in');
      if (!inputs.some((i) => i.name === name)) inputs.push({ name, title: name, unknown: true });
    }
  }
  return { definition, inputs, outputs };
}

/** The handle id an edge attaches to on its target. */
export function targetHandleOf(edge: GraphEdge, targetInputs: readonly Port[]): string {
  if (edge.targetInput !== undefined) return edge.targetInput;
  return targetInputs.length === 1 ? (targetInputs[0] as Port).name : 'in';
}
