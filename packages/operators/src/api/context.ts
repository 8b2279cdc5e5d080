/**
 * Building an OperatorContext: one place for the engine's tasks and the test
 * harness, so operators see the same thing in both.
 */
import type { KeySelector } from './elements.js';
import type { CheckpointableKeyedStateBackend, KeyGroupRange } from './state.js';
import type { InternalTimerService, Logger, OperatorContext, OperatorMetrics } from './operator.js';
import type { ProcessingTimeService, Triggerable } from './time.js';
import { HeapKeyedStateBackend } from '../state/heap-backend.js';
import { keyGroupRangeOf } from '../state/key-groups.js';

export interface SubtaskInfo {
  readonly jobId: string;
  readonly nodeId: string;
  readonly nodeType: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  /** How many times the job restarted before this run (Flink's getAttemptNumber); 0 in tests by default. */
  readonly attemptNumber?: number;
}

export interface ContextOptions {
  readonly processingTime: ProcessingTimeService;
  readonly keySelectors?: readonly (KeySelector<unknown> | undefined)[];
  readonly connectedOutputs?: ReadonlySet<string>;
  readonly log?: Logger;
  /** Builds the keyed backend of a keyed operator (default: HeapKeyedStateBackend). */
  readonly keyedBackend?: ((keyGroupRange: KeyGroupRange) => CheckpointableKeyedStateBackend) | undefined;
  /** OperatorContext.runBatch: how the engine times an operator's batches. */
  readonly runBatch?: (run: () => void) => void;
}

export const SILENT_LOGGER: Logger = { info() {}, warn() {}, error() {} };

/** Runs an operator's buffered batch through OperatorContext.runBatch, or directly where there is none. */
export function runBatch(ctx: OperatorContext, run: () => void): void {
  const timed = ctx.runBatch;
  if (timed) timed(run);
  else run();
}

export function newOperatorMetrics(): OperatorMetrics {
  return { lateRecordsDropped: 0, lateRecordsRouted: 0, deadLetters: 0 };
}

/** A context with a keyed backend (on the heap unless `options.keyedBackend` says otherwise) when any input is keyed. */
export function createOperatorContext(
  info: SubtaskInfo,
  options: ContextOptions,
): OperatorContext & { readonly heapBackend: HeapKeyedStateBackend | undefined; readonly stateBackend: CheckpointableKeyedStateBackend | undefined } {
  const keySelectors = options.keySelectors ?? [];
  const keyed = keySelectors.some((s) => s !== undefined);
  const keyGroupRange = keyGroupRangeOf(info.subtaskIndex, info.maxParallelism, info.parallelism);
  const backend: CheckpointableKeyedStateBackend | undefined = keyed
    ? (options.keyedBackend?.(keyGroupRange) ??
      new HeapKeyedStateBackend({
        maxParallelism: info.maxParallelism,
        keyGroupRange,
        now: () => options.processingTime.now(),
      }))
    : undefined;
  return {
    ...info,
    attemptNumber: info.attemptNumber ?? 0,
    processingTime: options.processingTime,
    keyedBackend: backend,
    heapBackend: backend instanceof HeapKeyedStateBackend ? backend : undefined,
    stateBackend: backend,
    keySelectors,
    connectedOutputs: options.connectedOutputs ?? new Set(['main']),
    metrics: newOperatorMetrics(),
    firing: { start: Number.NaN, end: Number.NaN },
    log: options.log ?? SILENT_LOGGER,
    ...(options.runBatch ? { runBatch: options.runBatch } : {}),
    createTimerService(target: Triggerable): InternalTimerService {
      if (!backend) throw new Error(`operator '${info.nodeId}' (${info.nodeType}) uses timers, which need a keyed input`);
      return backend.createTimerService(target, options.processingTime);
    },
  };
}
