/**
 * @sluice/engine: compiles job graphs into parallel tasks and runs them on worker
 * threads with credit-based exchanges, event time and keyed state.
 */
export { compilePlan, type CompileOptions } from './compile/compile.js';
export type * from './compile/plan.js';
export { compileUserCode, instantiateCode, type CodeProblem, type CompiledCode } from './compile/user-code.js';
export { TaskManager, type TaskManagerOptions, type Placement } from './cluster/task-manager.js';
export { Job, JobManager, SubmissionError, type CollectedRow, type JobSnapshot, type JobStatus } from './cluster/job-manager.js';
export { TaskFailure, type TaskMetrics, type OperatorCounters } from './runtime/task.js';
export type { FailureReport } from './runtime/protocol.js';
