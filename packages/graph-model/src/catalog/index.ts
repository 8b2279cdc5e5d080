import type { OperatorCategory, OperatorDefinition } from './define.js';
import { allWindow, globalWindow, sessionWindow, slidingWindow, tumblingWindow } from './windows.js';
import { intervalJoin, regularJoin, windowJoin } from './joins.js';
import { aggregate, broadcastProcess, cep, coProcess, keyedProcess } from './process.js';
import { blackholeSink, collectSink, consoleSink, fileSink, kafkaSink } from './sinks.js';
import { fileSource, generator, kafkaSource } from './sources.js';
import { filter, filterExpression, flatMap, keyBy, map, project, union } from './transforms.js';

export * from './define.js';
export { aggregationOutputName, type Aggregation } from './aggregations.js';
export { GENERATOR_PROFILES, type GeneratorProfile } from './sources.js';
export { CONDITION_OPERATORS } from './transforms.js';
export { windowEmitsUpdates } from './windows.js';
export type { StateDeclaration } from './state.js';

/** Every operator type, in palette order. */
export const OPERATORS = [
  generator,
  fileSource,
  kafkaSource,
  map,
  filter,
  filterExpression,
  flatMap,
  project,
  keyBy,
  union,
  tumblingWindow,
  slidingWindow,
  sessionWindow,
  globalWindow,
  allWindow,
  intervalJoin,
  windowJoin,
  regularJoin,
  keyedProcess,
  coProcess,
  broadcastProcess,
  aggregate,
  cep,
  collectSink,
  consoleSink,
  fileSink,
  kafkaSink,
  blackholeSink,
] as const;

type AnyOperator = (typeof OPERATORS)[number];
export type OperatorType = AnyOperator['type'];

/** The config type of one operator type, after defaults are applied. */
export type OperatorConfig<T extends OperatorType> = Extract<AnyOperator, { type: T }> extends OperatorDefinition<infer S>
  ? import('zod').output<S>
  : never;

// A Map, not an object: graph input is untrusted, and `type: "constructor"` must not find Object.prototype.
const BY_TYPE: ReadonlyMap<string, OperatorDefinition> = new Map(OPERATORS.map((op) => [op.type, op as unknown as OperatorDefinition]));

export function getOperator(type: string): OperatorDefinition | undefined {
  return BY_TYPE.get(type);
}

export function operatorTypes(): string[] {
  return [...BY_TYPE.keys()];
}

export function operatorsByCategory(): ReadonlyMap<OperatorCategory, readonly OperatorDefinition[]> {
  const groups = new Map<OperatorCategory, OperatorDefinition[]>();
  for (const op of BY_TYPE.values()) {
    const list = groups.get(op.category) ?? [];
    list.push(op);
    groups.set(op.category, list);
  }
  return groups;
}
