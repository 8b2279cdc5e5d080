/** Messages between the job manager (main thread) and task-manager slots (workers). */
import type { Key, KeyInspection } from '@sluice/operators';
import type { Barrier } from './messages.js';
import type { CheckpointAck, TaskDeployment, TaskMetrics } from './task.js';
import type { HotKeyReport, TapDrain, TapSpec } from './taps.js';

/** One subtask of a job attempt, as messages about it name it. */
export interface SubtaskAddress {
  readonly jobId: string;
  /** Restart attempt; messages about an older attempt are ignored by both sides. */
  readonly attempt: number;
  readonly taskId: number;
  readonly subtaskIndex: number;
}

export type ToWorker =
  | { readonly type: 'deploy'; readonly deployment: TaskDeployment }
  | { readonly type: 'cancel'; readonly jobId: string; readonly attempt?: number }
  | ({ readonly type: 'trigger-checkpoint'; readonly barrier: Barrier } & SubtaskAddress)
  | { readonly type: 'checkpoint-complete' | 'checkpoint-aborted'; readonly jobId: string; readonly attempt: number; readonly checkpointId: number }
  | { readonly type: 'diagnose'; readonly requestId: number }
  | ({ readonly type: 'inspect-state'; readonly requestId: number; readonly nodeId: string; readonly key: Key } & SubtaskAddress)
  | ({ readonly type: 'tap-start'; readonly spec: TapSpec } & SubtaskAddress)
  | ({ readonly type: 'tap-stop'; readonly tapId: string } & SubtaskAddress)
  | ({ readonly type: 'count-keys'; readonly exchange: number; readonly on: boolean } & SubtaskAddress)
  | { readonly type: 'heartbeat' };

export interface FailureReport {
  readonly message: string;
  readonly jobId?: string;
  readonly nodeId?: string;
  readonly subtaskIndex?: number;
  readonly key?: string | number;
  readonly record?: string;
  readonly stack?: string;
}

export type CollectedRowTuple = [unknown, number, number];

/** What a subtask's loop is doing right now: for stuck jobs. */
export interface SubtaskDiagnosis {
  readonly jobId: string;
  readonly attempt: number;
  readonly taskId: number;
  readonly subtaskIndex: number;
  readonly loop: string;
  readonly mails: number;
  readonly inputs: ReadonlyArray<{ exchange: number; producerSubtask: number; published: number; consumed: number; blocked: boolean; ended: boolean }>;
  readonly outputs: ReadonlyArray<{ credits: number; spilledBytes: number }>;
}

export type FromWorker =
  | ({ readonly type: 'started' | 'finished' | 'cancelled' | 'awaiting-final-commit' } & SubtaskAddress)
  | ({ readonly type: 'failed'; readonly failure: FailureReport } & SubtaskAddress)
  | ({ readonly type: 'checkpoint-ack'; readonly ack: CheckpointAck } & SubtaskAddress)
  | ({ readonly type: 'checkpoint-declined'; readonly checkpointId: number; readonly reason: string } & SubtaskAddress)
  | {
      readonly type: 'collect';
      readonly jobId: string;
      readonly attempt: number;
      readonly nodeId: string;
      readonly name: string;
      readonly rows: CollectedRowTuple[];
      /** Rows released by a checkpoint: applied once per id, however often it is sent. */
      readonly commitId?: string | undefined;
    }
  | { readonly type: 'print'; readonly jobId: string; readonly attempt: number; readonly lines: string[] }
  | {
      readonly type: 'metrics';
      readonly jobId: string;
      readonly attempt: number;
      readonly tasks: Array<{ readonly taskId: number; readonly subtaskIndex: number; readonly metrics: TaskMetrics }>;
    }
  | { readonly type: 'diagnosis'; readonly jobId: ''; readonly requestId: number; readonly subtasks: SubtaskDiagnosis[]; readonly eventLoopAt: number }
  | { readonly type: 'heartbeat'; readonly jobId: '' }
  | ({ readonly type: 'tap-records'; readonly taps: TapDrain[] } & SubtaskAddress)
  | ({ readonly type: 'hot-keys'; readonly reports: HotKeyReport[] } & SubtaskAddress)
  | { readonly type: 'state-inspection'; readonly jobId: ''; readonly requestId: number; readonly inspection?: KeyInspection; readonly error?: string }
  | {
      readonly type: 'log';
      readonly jobId: string;
      readonly attempt: number;
      readonly level: 'info' | 'warn' | 'error';
      readonly message: string;
      readonly fields?: Record<string, unknown> | undefined;
    };
