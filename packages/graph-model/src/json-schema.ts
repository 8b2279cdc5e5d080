/**
 * The JSON Schema of the graph format, generated from the same zod schemas that
 * validate graphs (checked in as schema/job-graph.schema.json; a test keeps it fresh).
 * It covers structure and field types; rules across nodes (cycles, keyed inputs,
 * partitioning, …) only `validateGraph` checks.
 */
import { z } from 'zod';
import { OPERATORS } from './catalog/index.js';
import { CURRENT_SCHEMA_VERSION, edge, graphEnvelope, nodeBase } from './graph.js';

export const JSON_SCHEMA_ID = `https://sluice.dev/schema/job-graph/v${CURRENT_SCHEMA_VERSION}.json`;

export function graphJsonSchema(): Record<string, unknown> {
  const nodeVariants = OPERATORS.map((op) =>
    nodeBase.extend({ type: z.literal(op.type), config: op.configSchema as z.ZodType }).meta({ title: op.title, description: op.doc }),
  );
  const [first, ...rest] = nodeVariants;
  if (!first) throw new Error('the operator catalog is empty');
  const node = z.discriminatedUnion('type', [first, ...rest]);
  const schema = graphEnvelope.extend({ nodes: z.array(node), edges: z.array(edge) });
  const generated = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...body } = generated;
  return {
    $schema,
    $id: JSON_SCHEMA_ID,
    title: 'Sluice job graph',
    description: `A Sluice job graph, schemaVersion ${CURRENT_SCHEMA_VERSION}. Generated from packages/graph-model; do not edit by hand.`,
    ...body,
  };
}
