/**
 * Resource limits per job: what one job may take of a shared (hosted) engine. Each limit
 * is enforced where the resource is used, and exceeding one fails (or, for taps, refuses)
 * that job only, with a message naming the job, the place and the limit:
 *
 *   maxParallelism          at submit: a 400 naming the graph path (job.defaultParallelism,
 *                           nodes[i].parallelism)
 *   maxStateEntries         while running: keyed-state entries summed over the job's
 *                           subtasks (each reports its count with its metrics, once a
 *                           second); over the limit the job fails and does not restart
 *   maxRecordBytes          while running: a record a sandboxed user function emits, or
 *                           one crossing an exchange, larger than this fails the job
 *   maxTapRecordsPerSecond  record taps (Socket.IO tap-start): a request above it is refused
 *
 * Absent means unlimited (the embedded engine of `sluice run` and tests); `sluice serve`
 * sets the defaults below.
 */
import type { ValidatedGraph } from '@sluice/graph-model';

export interface JobLimits {
  /** Highest parallelism any node of a job may run at. */
  readonly maxParallelism?: number | undefined;
  /** Most keyed-state entries (state × key × namespace) one job may hold over all its subtasks. */
  readonly maxStateEntries?: number | undefined;
  /** Largest record, in msgpack bytes, that a sandboxed user function may emit or an exchange may carry. */
  readonly maxRecordBytes?: number | undefined;
  /** Most records per second one record tap may ask for (a hosted engine's cap). */
  readonly maxTapRecordsPerSecond?: number | undefined;
}

/** The limits `sluice serve` applies unless told otherwise. */
export const SERVICE_DEFAULT_LIMITS = {
  maxParallelism: 32,
  maxStateEntries: 10_000_000,
  maxRecordBytes: 1024 * 1024,
  maxTapRecordsPerSecond: 100,
} as const satisfies Required<JobLimits>;

/** A limit was exceeded; the message names the job, where, and the limit's setting. */
export class LimitExceededError extends Error {
  override readonly name = 'LimitExceededError';
}

/** Every node whose parallelism is above the limit, as graph problems (path, message, node). */
export function parallelismProblems(graph: ValidatedGraph, maxParallelism: number | undefined): Array<{ path: string; message: string; nodeId: string }> {
  if (maxParallelism === undefined) return [];
  const problems: Array<{ path: string; message: string; nodeId: string }> = [];
  for (const node of graph.nodes) {
    // A key-by is an exchange, not a running operator.
    if (node.parallelism <= maxParallelism || node.definition.keysStream === true) continue;
    problems.push({
      path: node.declaredParallelism !== undefined ? `nodes[${node.index}].parallelism` : 'job.defaultParallelism',
      message: `parallelism ${node.parallelism} of node '${node.id}' is above this engine's limit of ${maxParallelism} (limits.maxParallelism)`,
      nodeId: node.id,
    });
  }
  return problems;
}
