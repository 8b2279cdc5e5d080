/**
 * Operator type → implementation. The catalog in @sluice/graph-model declares each
 * type; this registry builds a running instance from a validated config.
 */
import type { JobConfig } from '@sluice/graph-model';
import type { BatchLoader, CodeLoader, CollectOutlet, ProcessProgramLoader } from './api/functions.js';
import type { AnyOperator } from './api/operator.js';
import { BlackholeSink, CollectSink, ConsoleSink } from './sinks/basic.js';
import { GeneratorSource } from './sources/generator.js';
import { PaneWindowOperator, panesApply, type PaneWindowConfig } from './windows/pane-window-operator.js';
import { WindowOperator, type WindowOperatorConfig } from './windows/window-operator.js';
import { IntervalJoinOperator } from './joins/interval-join.js';
import { CepOperator } from './process/cep.js';
import { GroupAggregateOperator } from './process/group-aggregate.js';
import { FileSink } from './sinks/file-sink.js';
import { KafkaSink } from './kafka/kafka-sink.js';
import { KafkaSource } from './kafka/kafka-source.js';
import { FileSource } from './sources/file-source.js';
import { BroadcastProcessOperator } from './process/broadcast-process.js';
import { CoProcessOperator } from './process/co-process.js';
import { KeyedProcessOperator } from './process/keyed-process.js';
import { RegularJoinOperator } from './joins/regular-join.js';
import { WindowJoinOperator } from './joins/window-join.js';
import { FilterExpressionOperator, FilterOperator, FlatMapOperator, MapOperator, ProjectOperator, UnionOperator } from './transforms/stateless.js';

export interface OperatorEnv {
  readonly job: JobConfig;
  /** The user function compiled from a code field's source text. */
  readonly fn: CodeLoader;
  /** Batch versions of map, filter and flat-map functions, where the engine offers them (sandboxed user code). */
  readonly batch?: BatchLoader | undefined;
  /** Keyed-process functions run over batches with their state, where the engine offers it (sandboxed user code). */
  readonly processProgram?: ProcessProgramLoader | undefined;
  /** Where a collect sink named `name` delivers its records. */
  collector(name: string): CollectOutlet;
  /** Where a console sink writes a line. */
  print(line: string): void;
}

export type OperatorFactory = (config: never, env: OperatorEnv) => AnyOperator;

const FACTORIES = new Map<string, OperatorFactory>([
  ['generator', (c, env) => new GeneratorSource(c, env)],
  ['map', (c, env) => new MapOperator(c, env)],
  ['filter', (c, env) => new FilterOperator(c, env)],
  ['flat-map', (c, env) => new FlatMapOperator(c, env)],
  ['filter-expression', (c) => new FilterExpressionOperator(c)],
  ['project', (c) => new ProjectOperator(c)],
  ['union', () => new UnionOperator()],
  ['collect-sink', (c, env) => new CollectSink(c, env)],
  ['console-sink', (c, env) => new ConsoleSink(c, env)],
  ['blackhole-sink', (c) => new BlackholeSink(c)],
  ['tumbling-window', (c: WindowConfig & { sizeMs: number; offsetMs: number }, env) => window({ kind: 'tumbling', sizeMs: c.sizeMs, offsetMs: c.offsetMs }, c, env)],
  [
    'sliding-window',
    (c: WindowConfig & { sizeMs: number; slideMs: number; offsetMs: number }, env) =>
      panesApply(c)
        ? new PaneWindowOperator({ ...c, function: c.function as PaneWindowConfig['function'] }, env.fn)
        : window({ kind: 'sliding', sizeMs: c.sizeMs, slideMs: c.slideMs, offsetMs: c.offsetMs }, c, env),
  ],
  [
    'session-window',
    (c: WindowConfig & { gapMs?: number; dynamicGap?: string }, env) => window({ kind: 'session', gapMs: c.gapMs, dynamicGap: c.dynamicGap }, c, env),
  ],
  ['global-window', (c: Pick<WindowOperatorConfig, 'trigger' | 'function'>, env) => window({ kind: 'global' }, { ...c, timeCharacteristic: 'event-time', allowedLatenessMs: 0 }, env)],
  ['all-window', (c: WindowConfig & { assigner: WindowOperatorConfig['assigner'] }, env) => window(c.assigner, c, env)],
  ['interval-join', (c, env) => new IntervalJoinOperator(c, env)],
  ['window-join', (c, env) => new WindowJoinOperator(c, env)],
  ['regular-join', (c, env) => new RegularJoinOperator(c, env)],
  ['keyed-process', (c, env) => new KeyedProcessOperator(c, env)],
  ['co-process', (c, env) => new CoProcessOperator(c, env)],
  ['broadcast-process', (c, env) => new BroadcastProcessOperator(c, env)],
  ['file-source', (c, env) => new FileSource(c, env)],
  ['file-sink', (c, env) => new FileSink(c, { checkpointing: env.job.checkpointing.enabled })],
  ['kafka-source', (c, env) => new KafkaSource(c, env)],
  ['kafka-sink', (c, env) => new KafkaSink(c, { checkpointing: env.job.checkpointing.enabled })],
  ['aggregate', (c) => new GroupAggregateOperator(c)],
  ['cep', (c, env) => new CepOperator(c, env)],
]);

type WindowConfig = Omit<WindowOperatorConfig, 'assigner'>;

function window(assigner: WindowOperatorConfig['assigner'], c: WindowConfig, env: OperatorEnv): WindowOperator {
  return new WindowOperator(
    { assigner, timeCharacteristic: c.timeCharacteristic, allowedLatenessMs: c.allowedLatenessMs, trigger: c.trigger, function: c.function },
    env.fn,
  );
}

export function isImplemented(type: string): boolean {
  return FACTORIES.has(type);
}

export function implementedTypes(): string[] {
  return [...FACTORIES.keys()];
}

export function createOperator(type: string, config: unknown, env: OperatorEnv): AnyOperator {
  const factory = FACTORIES.get(type);
  if (!factory) throw new Error(`operator type '${type}' is not implemented by this engine yet`);
  return factory(config as never, env);
}
