/**
 * @sluice/engine: compiles job graphs into parallel tasks and runs them on worker
 * threads with credit-based exchanges, event time and keyed state.
 */
export { compilePlan, type CompileOptions } from './compile/compile.js';
export type * from './compile/plan.js';
export { compileUserCode, instantiateCode, type CodeProblem, type CompiledCode } from './compile/user-code.js';
export { TaskManager, type TaskManagerOptions, type Placement, type TaskExecutor, type JobAccess } from './cluster/task-manager.js';
export { ProcessTaskManager, processModeAvailability, type ProcessTaskManagerOptions } from './cluster/job-process.js';
export { processTree } from './cluster/proc-stats.js';
export {
  Job,
  JobManager,
  SubmissionError,
  type CollectedRow,
  type ExceptionEntry,
  type JobManagerOptions,
  type JobSnapshot,
  type JobStatus,
  type SubmitOptions,
} from './cluster/job-manager.js';
export { LimitExceededError, SERVICE_DEFAULT_LIMITS, type JobLimits } from './cluster/limits.js';
export { SandboxError, sandboxAvailability, type UserCodeSettings } from './runtime/sandbox.js';
export { JobHotKeys, JobTaps, LiveDebugError, TAP_DEFAULTS, tapPoint, type HotKeysAnswer, type TapBatch, type TapEnd, type TappedRecord } from './cluster/live-debug.js';
export { SpaceSaving, KeyCountingSelector, type HotKeyReport, type TapSpec } from './runtime/taps.js';
export { CheckpointCoordinator, type CheckpointSettings, type CheckpointStats, type CoordinatorContext, type SubtaskCheckpointStats } from './checkpoint/coordinator.js';
export { RestartStrategy, type RestartDecision } from './checkpoint/restart.js';
export { planRestore, subtaskRestores, type RestorePlan, type RestorePlanEntry, type RestoreStatus } from './checkpoint/restore.js';
export { CheckpointStorage, METADATA_FILE, type CheckpointMetadata, type StoredCheckpoint } from './checkpoint/storage.js';
export { encodeSnapshot, decodeSnapshot, SnapshotEncoder, readSnapshotFile, writeAtomically, type OutputChannelRecord, type SubtaskSnapshotData } from './runtime/state-files.js';
export { StreamTask, TaskFailure, type TaskDeployment, type TaskHost, type TaskMetrics, type OperatorCounters } from './runtime/task.js';
export type { FailureReport } from './runtime/protocol.js';
export { InputGate, type ChannelStatus, type GateChannelSpec, type GateListener, type InputWatermark } from './runtime/input-gate.js';
export { allocateBell, allocateChannel, ChannelReader, ChannelWriter, type ChannelMemory } from './runtime/channel.js';
export { MessageDecoder, MessageEncoder, MessageType, type Message } from './runtime/messages.js';
export { channelSelector, connectedConsumers } from './runtime/partitioner.js';
export {
  buildOpenApiDocument,
  createEngineService,
  DEFAULT_PORT,
  defaultDataDir,
  isLoopbackHost,
  parseKafkaAllow,
  parseFileAllow,
  type FileAllowList,
  serveEngine,
  TenantTokens,
  tenantNameProblem,
  type CreatedToken,
  type KafkaAllowList,
  type TokenInfo,
  startEngineService,
  type EngineService,
  type EngineServiceOptions,
  type InjectRequest,
  type InjectResponse,
  type ServeIo,
  type StartedEngineService,
  type StartOptions,
  type UserCodeChoice,
  userCodeFor,
} from './service/index.js';
