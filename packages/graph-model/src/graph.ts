/**
 * The job graph as stored: what the editor saves, exports and submits, what the
 * CLI validates and the engine compiles. Versioned by `schemaVersion`.
 */
import { z } from 'zod';
import { jobConfig, MAX_KEY_GROUPS } from './job.js';

export const CURRENT_SCHEMA_VERSION = 1;

/** Limits that keep validation and compilation bounded whatever a file contains. */
export const LIMITS = { nodes: 10_000, edges: 50_000, nameLength: 200, descriptionLength: 10_000 } as const;

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * A node id is the operator uid: a redeploy matches state to nodes by it, so the
 * editor never changes an existing node's id.
 */
export const nodeId = z
  .string()
  .regex(ID_PATTERN, { message: 'expected an id of letters, digits, _, . and - (at most 64), starting with a letter or digit' })
  .meta({ description: 'Stable id; state is matched by it when a job is redeployed.' });

export const PARTITIONINGS = ['forward', 'hash', 'rebalance', 'rescale', 'broadcast'] as const;
export type Partitioning = (typeof PARTITIONINGS)[number];

export const CHAINING_STRATEGIES = ['auto', 'never', 'head'] as const;

export const position = z.strictObject({ x: z.number(), y: z.number() }).meta({ description: 'Where the editor draws the node.' });

/** Everything of a node but its config, which the node's type validates. */
export const nodeBase = z.strictObject({
  id: nodeId,
  type: z.string().min(1).max(100).meta({ description: 'Operator type from the catalog.' }),
  name: z.string().max(LIMITS.nameLength).optional().meta({ description: 'Label shown on the canvas; defaults to the type’s title.' }),
  description: z.string().max(LIMITS.descriptionLength).optional(),
  parallelism: z.number().int().min(1).max(MAX_KEY_GROUPS).optional().meta({ description: 'Parallel subtasks; defaults to the job’s.' }),
  chaining: z
    .enum(CHAINING_STRATEGIES)
    .default('auto')
    .meta({ description: "'auto' chains with neighbours where possible; 'never' runs alone; 'head' starts a new chain (Flink’s startNewChain)." }),
  // Checked against the node's operator type separately, with a message naming the type.
  config: z.unknown().optional(),
  position: position.optional(),
});

export const edge = z.strictObject({
  id: nodeId.meta({ description: 'Stable edge id; record taps and metrics name edges by it.' }),
  source: nodeId,
  sourceOutput: z.string().min(1).max(100).default('main').meta({ description: "Output of the source node: 'main' or a side output such as 'late'." }),
  target: nodeId,
  targetInput: z.string().min(1).max(100).optional().meta({ description: "Input of a two-input target, such as 'left' or 'right'." }),
  partitioning: z
    .enum(PARTITIONINGS)
    .optional()
    .meta({
      description:
        "How records travel to the target's subtasks. Out of a key-by it is always 'hash'; otherwise it defaults to 'forward' at equal parallelism and 'rebalance' otherwise.",
    }),
});

export const graphEnvelope = z.strictObject({
  schemaVersion: z.literal(CURRENT_SCHEMA_VERSION),
  name: z.string().min(1).max(LIMITS.nameLength),
  description: z.string().max(LIMITS.descriptionLength).optional(),
  job: jobConfig.default(jobConfig.parse({})),
  nodes: z.array(z.unknown()),
  edges: z.array(z.unknown()),
});

export type NodeBase = z.output<typeof nodeBase>;
export type EdgeInput = z.input<typeof edge>;
export type Edge = z.output<typeof edge>;

/** A node as written in a file (config not yet validated). */
export interface GraphNodeInput {
  id: string;
  type: string;
  name?: string;
  description?: string;
  parallelism?: number;
  chaining?: (typeof CHAINING_STRATEGIES)[number];
  config: unknown;
  position?: { x: number; y: number };
}

/** A job graph as written in a file: what export produces and import reads. */
export interface JobGraphDocument {
  schemaVersion: typeof CURRENT_SCHEMA_VERSION;
  name: string;
  description?: string;
  job?: z.input<typeof jobConfig>;
  nodes: GraphNodeInput[];
  edges: EdgeInput[];
}
