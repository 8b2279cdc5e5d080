/**
 * The endpoints a graph names: the config fields its operators' catalog entries declare
 * (`endpoints`: Kafka clusters, file paths), with what was written there. The engine's
 * allow-lists and a job process's file access all start from this one walk.
 */
import type { EndpointField } from './catalog/define.js';
import type { ValidatedGraph, ValidatedNode } from './validate.js';

export interface GraphEndpoint {
  readonly node: ValidatedNode;
  readonly endpoint: EndpointField;
  /** The field's value as written (a bootstrap list, a path). */
  readonly value: string;
  /** The field's JSON path in the document, as errors name it: `nodes[2].config.path`. */
  readonly path: string;
}

/** Every endpoint field of the graph that holds a string, in node order. */
export function graphEndpoints(graph: ValidatedGraph): GraphEndpoint[] {
  const found: GraphEndpoint[] = [];
  for (const node of graph.nodes) {
    for (const endpoint of node.definition.endpoints ?? []) {
      const value = (node.config as Record<string, unknown> | null)?.[endpoint.field];
      if (typeof value === 'string') found.push({ node, endpoint, value, path: `nodes[${node.index}].config.${endpoint.field}` });
    }
  }
  return found;
}
