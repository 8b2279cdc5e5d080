/**
 * @sluice/operators: the operator contract (lifecycle, output, keyed state, timers),
 * the operator implementations, and the test harness they are tested with.
 */
export * from './api/elements.js';
export * from './api/output.js';
export * from './api/operator.js';
export * from './api/state.js';
export * from './api/time.js';
export * from './api/context.js';
export * from './state/key-groups.js';
export { HeapKeyedStateBackend, type HeapBackendOptions } from './state/heap-backend.js';
export { HeapTimerService } from './state/timers.js';
export {
  OperatorListStateStore,
  evenSplitShare,
  isOperatorListEntry,
  type OperatorListState,
  type OperatorListStateOptions,
  type OperatorListStateAccess,
  type OperatorListRedistribution,
  type OperatorListEntry,
} from './state/operator-list-state.js';
export { decodeKeyGroup, keyGroupOfStored, storedKeyGroup, type StoredKeyGroup, type TimerRow } from './state/snapshot-bytes.js';
export * from './harness/harness.js';
export { ManualProcessingTime } from './harness/processing-time.js';
export * from './api/functions.js';
export { compileKeySelector, type KeySpecConfig } from './functions/key-selector.js';
export { createOperator, implementedTypes, isImplemented, type OperatorEnv, type OperatorFactory } from './registry.js';
export { WindowOperator, type WindowOperatorConfig, type WindowContext } from './windows/window-operator.js';
export * from './windows/assigners.js';
export { TriggerResult } from './windows/triggers.js';
export { recordFactory, type GeneratorSpec, type GeneratedRecord } from './sources/generator-data.js';
export { IntervalJoinOperator, type IntervalJoinConfig, type IntervalJoinContext } from './joins/interval-join.js';
export { WindowJoinOperator, type WindowJoinConfig, type WindowJoinContext, type WindowJoinAssigner } from './joins/window-join.js';
export { RegularJoinOperator, type RegularJoinConfig } from './joins/regular-join.js';
export { KeyedProcessOperator, type KeyedProcessConfig, type KeyedProcessFunction } from './process/keyed-process.js';
export { CoProcessOperator, type CoProcessConfig, type CoProcessFunction } from './process/co-process.js';
export { BroadcastProcessOperator, type BroadcastProcessConfig, type BroadcastProcessFunction, type BroadcastStateSnapshotEntry } from './process/broadcast-process.js';
export type {
  KeyedProcessContext,
  OnTimerContext,
  OpenContext,
  CoProcessContext,
  ReadOnlyBroadcastContext,
  BroadcastContext,
  ProcessTimerService,
  ReadOnlyBroadcastState,
  BroadcastState,
  StateHandle,
  TimeDomain,
  ProcessFunctionConfig,
} from './process/context.js';
export { FileSource, listFiles, type FileSourceConfig, type FileSourceOptions, type FileSplit, type FileDeadLetter } from './sources/file-source.js';
export { BlackholeSink } from './sinks/basic.js';
export { FileSink, type FileSinkConfig, type FileSinkOptions } from './sinks/file-sink.js';
export { GroupAggregateOperator, type GroupAggregateConfig } from './process/group-aggregate.js';
export { CepOperator, TIMED_OUT_OUTPUT, type CepOperatorConfig, type PatternStepConfig } from './process/cep.js';
export { PaneWindowOperator, panesApply, type PaneWindowConfig } from './windows/pane-window-operator.js';
export { TwoPhaseCommitSink } from './sinks/two-phase-commit.js';
export { KafkaSource, KAFKA_DEAD_LETTER, type KafkaSourceConfig, type KafkaSourceOptions, type KafkaPartitionState, type KafkaPartitionStatus, type KafkaDeadLetter } from './kafka/kafka-source.js';
export { KafkaSink, type KafkaSinkConfig, type KafkaSinkOptions, type KafkaSinkState } from './kafka/kafka-sink.js';
export { listKafkaBrokers, listKafkaTopics, type KafkaTopicInfo } from './kafka/admin.js';
export { relayKafkaThrough, relaySocketFactory, RELAY_MAX_LINE } from './kafka/relay.js';
export { brokerKey, isBrokerAddress, partitionOwner, parseBootstrapServers } from './kafka/client.js';
