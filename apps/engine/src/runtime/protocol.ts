/** Messages between the job manager (main thread) and task-manager slots (workers). */
import type { TaskDeployment, TaskMetrics } from './task.js';

export type ToWorker = { readonly type: 'deploy'; readonly deployment: TaskDeployment } | { readonly type: 'cancel'; readonly jobId: string };

export interface FailureReport {
  readonly message: string;
  readonly jobId?: string;
  readonly nodeId?: string;
  readonly subtaskIndex?: number;
  readonly key?: string | number;
  readonly record?: string;
  readonly stack?: string;
}

export type FromWorker =
  | { readonly type: 'finished' | 'cancelled'; readonly jobId: string; readonly taskId: number; readonly subtaskIndex: number }
  | { readonly type: 'failed'; readonly jobId: string; readonly taskId: number; readonly subtaskIndex: number; readonly failure: FailureReport }
  | { readonly type: 'collect'; readonly jobId: string; readonly nodeId: string; readonly name: string; readonly rows: Array<[unknown, number, number]> }
  | { readonly type: 'print'; readonly jobId: string; readonly lines: string[] }
  | {
      readonly type: 'metrics';
      readonly jobId: string;
      readonly tasks: Array<{ readonly taskId: number; readonly subtaskIndex: number; readonly metrics: TaskMetrics }>;
    }
  | {
      readonly type: 'log';
      readonly jobId: string;
      readonly level: 'info' | 'warn' | 'error';
      readonly message: string;
      readonly fields?: Record<string, unknown> | undefined;
    };
