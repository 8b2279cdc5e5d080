/**
 * The operator catalog: one entry per operator type, declaring everything the
 * editor (palette, forms, docs), the validator and the engine need to agree on.
 */
import type { z } from 'zod';

export const CATEGORIES = ['source', 'transform', 'window', 'join', 'process', 'sink'] as const;
export type OperatorCategory = (typeof CATEGORIES)[number];

export type KeyedRequirement = 'required' | 'forbidden' | 'any';

export interface InputDefinition {
  /** Referenced by `edges[].targetInput`; single-input operators use `in`. */
  readonly name: string;
  readonly title: string;
  /** Whether the stream arriving here must come straight from a key-by. */
  readonly keyed: KeyedRequirement;
  /** Edges into this input must use this partitioning (the broadcast side of a broadcast-process). */
  readonly partitioning?: 'broadcast';
}

export interface OutputDefinition {
  /** Referenced by `edges[].sourceOutput`; the main output is `main`. */
  readonly name: string;
  readonly doc: string;
}

export type ChangelogKind = 'append' | 'changelog' | 'passthrough';

/**
 * Changelog streams (Flink's dynamic tables): `produces` says whether this operator's
 * main output carries update/delete changes; `accepts` whether it can consume them.
 * `passthrough` forwards whatever its input carries.
 */
export interface ChangelogBehaviour<Config = unknown> {
  /** A function when it depends on the config (a window that can fire more than once emits updates). */
  readonly produces: ChangelogKind | ((config: Config) => ChangelogKind);
  /** A function when it depends on the config (an upsert-capable sink accepts changes only in upsert mode). */
  readonly accepts: boolean | ((config: Config) => boolean);
}

export interface OperatorDefinition<Config extends z.ZodType = z.ZodType> {
  /** Kebab-case, unique, stable: stored in every graph. */
  readonly type: string;
  readonly category: OperatorCategory;
  readonly title: string;
  /** A few sentences for the palette and the inspector. */
  readonly doc: string;
  readonly configSchema: Config;
  /** What a new node of this type gets when dropped on the canvas; must validate. */
  readonly defaultConfig: z.input<Config>;
  readonly inputs: readonly InputDefinition[];
  /** Outputs for a given (valid) config; side outputs may depend on it. Sinks have none. */
  readonly outputs: (config: z.output<Config>) => readonly OutputDefinition[];
  /** A key-by: the stream it emits is keyed, and edges out of it are hash-partitioned. */
  readonly keysStream?: true;
  /** All-windows and other global operators run with exactly this parallelism. */
  readonly fixedParallelism?: number;
  readonly changelog: ChangelogBehaviour<z.output<Config>>;
  /** Two-input operators whose inputs must be keyed together or not at all (a co-process). */
  readonly inputsKeyedTogether?: true;
  /**
   * Config fields naming network endpoints the engine connects to for this node. A hosted
   * engine checks them against its allow-list at submit (the SSRF guard), with the field's path.
   */
  readonly endpoints?: readonly EndpointField[];
}

/**
 * A config field that names where the engine connects or what it opens: a Kafka bootstrap
 * list (`host:port,…`), or a file-system path the operator reads (a file or a directory of
 * files) or writes into (a directory). A job in its own process may touch only these.
 */
export type EndpointField =
  | { readonly field: string; readonly kind: 'kafka-bootstrap-servers' }
  | { readonly field: string; readonly kind: 'file-path'; readonly access: 'read' | 'write' };

/** Identity helper that keeps the config type of an entry. */
export function defineOperator<Config extends z.ZodType>(definition: OperatorDefinition<Config>): OperatorDefinition<Config> {
  return definition;
}

export const MAIN_OUTPUT: OutputDefinition = { name: 'main', doc: 'The operator’s results.' };
export const LATE_OUTPUT: OutputDefinition = {
  name: 'late',
  doc: 'Records that arrived after the watermark passed their window’s end plus the allowed lateness.',
};
export const DEAD_LETTER_OUTPUT: OutputDefinition = {
  name: 'dead-letter',
  doc: 'Input that could not be parsed, with the reason and where it came from.',
};

export const IN: InputDefinition = { name: 'in', title: 'Input', keyed: 'any' };
export const KEYED_IN: InputDefinition = { name: 'in', title: 'Keyed input', keyed: 'required' };
export const APPEND: ChangelogBehaviour = { produces: 'append', accepts: false };
