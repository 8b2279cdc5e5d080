/**
 * The execution plan: what the job manager deploys. It is plain data (it crosses
 * into worker threads and is shown as JSON in the UI and the CLI).
 *
 *   job graph ──compile──▶ plan: tasks (operator chains) × parallelism, joined by exchanges
 *
 * A task is a chain of operators that run in one thread and pass records by function
 * call. Exchanges connect tasks; each is split into channels, one per pair of
 * producer and consumer subtasks.
 */
import type { JobConfig, Partitioning } from '@sluice/graph-model';
import type { KeyGroupRange } from '@sluice/operators';

export type KeySpec =
  | { readonly kind: 'field'; readonly field: string }
  | { readonly kind: 'fields'; readonly fields: readonly string[] }
  | { readonly kind: 'function'; readonly fn: string }
  | { readonly kind: 'constant' };

export type OutputTarget =
  | { readonly kind: 'chained'; readonly operator: number; readonly edgeIds: readonly string[] }
  | { readonly kind: 'exchange'; readonly exchange: number };

export interface ChainedOperatorPlan {
  readonly nodeId: string;
  readonly type: string;
  readonly name: string;
  /** The validated config, defaults applied. */
  readonly config: unknown;
  /** Output name → where its records go. Outputs without targets are not listed. */
  readonly outputs: Readonly<Record<string, readonly OutputTarget[]>>;
}

export interface SubtaskPlan {
  readonly index: number;
  /** Key groups owned, for tasks whose head has a keyed input. */
  readonly keyGroupRange: KeyGroupRange | undefined;
}

export interface TaskPlan {
  readonly id: number;
  /** "generator → map → filter" */
  readonly name: string;
  readonly parallelism: number;
  /** In chain order: index 0 is the head, every other operator's input comes from an earlier one. */
  readonly operators: readonly ChainedOperatorPlan[];
  /** Exchanges that feed the head. */
  readonly inputs: readonly number[];
  /** Key selector per head input (index 0, and 1 for two-input heads), when keyed. */
  readonly keys: readonly (KeySpec | undefined)[];
  readonly subtasks: readonly SubtaskPlan[];
}

export interface ExchangePlan {
  readonly id: number;
  /** Graph edges this exchange carries (two when it bridges a key-by). */
  readonly edgeIds: readonly string[];
  readonly fromTask: number;
  readonly fromOperator: number;
  readonly fromOutput: string;
  readonly toTask: number;
  /** Input of the consuming head: 0, or 1 for the second input of a two-input operator. */
  readonly toInput: number;
  readonly partitioning: Partitioning;
  readonly key: KeySpec | undefined;
}

export interface ExecutionPlan {
  readonly jobId: string;
  readonly jobName: string;
  readonly job: JobConfig;
  readonly tasks: readonly TaskPlan[];
  readonly exchanges: readonly ExchangePlan[];
  /** TypeScript source of each user function → compiled JavaScript. */
  readonly code: Readonly<Record<string, string>>;
}
