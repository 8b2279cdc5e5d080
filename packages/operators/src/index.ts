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
export * from './harness/harness.js';
export { ManualProcessingTime } from './harness/processing-time.js';
export * from './api/functions.js';
export { compileKeySelector, type KeySpecConfig } from './functions/key-selector.js';
export { createOperator, implementedTypes, isImplemented, type OperatorEnv, type OperatorFactory } from './registry.js';
export { WindowOperator, type WindowOperatorConfig, type WindowContext } from './windows/window-operator.js';
export * from './windows/assigners.js';
export { TriggerResult } from './windows/triggers.js';
export { recordFactory, type GeneratorSpec, type GeneratedRecord } from './sources/generator-data.js';
