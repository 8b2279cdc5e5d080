/**
 * What process functions see, after Flink's ProcessFunction family
 * (KeyedProcessFunction, KeyedCoProcessFunction, KeyedBroadcastProcessFunction).
 *
 * A process function is an object of hooks compiled from the node's `fn` code field:
 * `processElement(value, ctx)` (or `processElement1`/`processElement2`, or
 * `processElement`/`processBroadcastElement`), and optionally `onTimer(timestamp, ctx)`
 * and `open(ctx)`. Hooks are called as methods, so `this` is the hook object.
 *
 * The context is one object per operator, updated in place before each call: calling
 * a hook allocates nothing. Through it a function reaches
 *
 *   ctx.timestamp        event time of the record (the timer's time in onTimer)
 *   ctx.key              the current key (undefined where there is none)
 *   ctx.collect(r)       the main output, stamped with the record's time (an event-time
 *                        timer's time in onTimer; no timestamp for processing-time timers)
 *   ctx.output(tag, r)   a declared side output, stamped like collect
 *   ctx.state(name)      a declared keyed state (value, list, map, reducing, aggregating)
 *   ctx.timerService     timers of the current key, the watermark, processing time
 *   ctx.timeDomain       in onTimer: 'event-time' or 'processing-time'
 *   ctx.getOperatorListState(name, { redistribution })
 *                        a list of this parallel instance, not of a key (Flink's
 *                        operator ListState: 'even-split' or 'union' on restore);
 *                        also in open(), to read what was restored
 *
 * States and side outputs are declared in the node's config, so a typo fails loudly
 * with the declared names instead of creating state nobody inspects.
 */
import type { StateDeclaration } from '@sluice/graph-model';
import { NO_TIMESTAMP, type Key } from '../api/elements.js';
import type { CodeLoader } from '../api/functions.js';
import type { InternalTimerService, OperatorContext } from '../api/operator.js';
import type { Output } from '../api/output.js';
import type {
  AggregateFunction,
  AggregatingState,
  KeyedStateBackend,
  ListState,
  MapState,
  ReducingState,
  StateDescriptor,
  StateTtl,
  ValueState,
} from '../api/state.js';
import { VOID_NAMESPACE } from '../api/state.js';
import type { OperatorListState, OperatorListStateAccess, OperatorListStateOptions, OperatorListStateStore } from '../state/operator-list-state.js';

export type TimeDomain = 'event-time' | 'processing-time';

/** Any handle `ctx.state(name)` can return; which one depends on the declared kind. */
export type StateHandle = ValueState<unknown> | ListState<unknown> | MapState<string | number, unknown> | ReducingState<unknown> | AggregatingState<unknown, unknown>;

/** Timers of the current key (deduplicated per timestamp), after Flink's TimerService. */
export interface ProcessTimerService {
  registerEventTimeTimer(timestamp: number): void;
  deleteEventTimeTimer(timestamp: number): void;
  registerProcessingTimeTimer(timestamp: number): void;
  deleteProcessingTimeTimer(timestamp: number): void;
  currentWatermark(): number;
  currentProcessingTime(): number;
}

/** Read access to a broadcast map state: what the keyed side and timers see. */
export interface ReadOnlyBroadcastState<V = unknown> {
  get(key: string | number): V | undefined;
  contains(key: string | number): boolean;
  entries(): Array<[string | number, V]>;
  keys(): Array<string | number>;
  values(): V[];
  isEmpty(): boolean;
}

/** A broadcast map state as processBroadcastElement sees it: every subtask applies the same writes. */
export interface BroadcastState<V = unknown> extends ReadOnlyBroadcastState<V>, MapState<string | number, V> {}

interface FunctionInfo extends OperatorListStateAccess {
  readonly nodeId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
}

interface EmittingContext<OUT> extends FunctionInfo {
  /** Event time of the record; in onTimer the timer's time. */
  readonly timestamp: number;
  collect(record: OUT): void;
  /** Emits to a side output declared in the node's `sideOutputs`. */
  output(sideOutput: string, record: unknown): void;
}

/** The context of keyed-process hooks (Flink's KeyedProcessFunction.Context). */
export interface KeyedProcessContext<OUT = unknown> extends EmittingContext<OUT> {
  readonly key: Key;
  readonly timerService: ProcessTimerService;
  /** A state declared in the node's `states`; the type parameter only names the handle you expect. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed lookup, as document.querySelector<E>
  state<S extends StateHandle = StateHandle>(name: string): S;
}

/** The context of onTimer. */
export interface OnTimerContext<OUT = unknown> extends KeyedProcessContext<OUT> {
  readonly timeDomain: TimeDomain;
}

/** The context of open(): state handles may be fetched, but nothing has a key yet. */
export interface OpenContext extends FunctionInfo {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed lookup, as document.querySelector<E>
  state<S extends StateHandle = StateHandle>(name: string): S;
}

/** The context of co-process hooks; `key`, state and timers exist when both inputs are keyed. */
export interface CoProcessContext<OUT = unknown> extends EmittingContext<OUT> {
  readonly key: Key | undefined;
  readonly timerService: ProcessTimerService;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed lookup, as document.querySelector<E>
  state<S extends StateHandle = StateHandle>(name: string): S;
}

/** The keyed side of a broadcast-process (Flink's ReadOnlyContext); also its onTimer context, with timeDomain. */
export interface ReadOnlyBroadcastContext<OUT = unknown> extends KeyedProcessContext<OUT> {
  broadcastState<V = unknown>(name: string): ReadOnlyBroadcastState<V>;
  readonly timeDomain?: TimeDomain;
}

/** The broadcast side of a broadcast-process: no key, no keyed state or timers, writable broadcast state. */
export interface BroadcastContext<OUT = unknown> extends EmittingContext<OUT> {
  readonly key: undefined;
  readonly timerService: Pick<ProcessTimerService, 'currentWatermark' | 'currentProcessingTime'>;
  broadcastState<V = unknown>(name: string): BroadcastState<V>;
  /** Visits every key of this subtask that has a value in the keyed state `stateName` (Flink's applyToKeyedState). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed lookup, as document.querySelector<E>
  applyToKeyedState<S extends StateHandle = StateHandle>(stateName: string, fn: (key: Key, state: S) => void): void;
}

/** Where the operator is: decides what the context allows. */
export type Phase = 'open' | 'element' | 'timer' | 'broadcast';

/** The config fields every process operator shares (the catalog's schema output). */
export interface ProcessFunctionConfig {
  readonly fn: string;
  readonly states?: readonly StateDeclaration[] | undefined;
  readonly sideOutputs?: readonly string[] | undefined;
}

/**
 * Compiles the function's hook object and checks it has the hooks the operator needs.
 * Optional hooks may be missing; a present hook must be a function.
 */
export function loadHooks(type: string, source: string, load: CodeLoader, required: readonly string[], optional: readonly string[]): unknown {
  const hooks = load(source);
  const expected = [...required, ...optional.map((h) => `${h}?`)].join(', ');
  if (typeof hooks !== 'object' || hooks === null) {
    throw new TypeError(`the ${type} function must be an object of hooks { ${expected} }, got ${hooks === null ? 'null' : typeof hooks}`);
  }
  const record = hooks as Record<string, unknown>;
  for (const name of required) {
    if (typeof record[name] !== 'function') throw new TypeError(`the ${type} function has no ${name}(…) hook; expected { ${expected} }`);
  }
  for (const name of optional) {
    if (record[name] !== undefined && typeof record[name] !== 'function') throw new TypeError(`the ${type} function's ${name} must be a function`);
  }
  return hooks;
}

/** State declarations with their reduce/aggregate code compiled. */
export function compileStates(type: string, declarations: readonly StateDeclaration[], load: CodeLoader): StateDescriptor[] {
  return declarations.map((d): StateDescriptor => {
    const ttl: StateTtl | undefined = d.ttl ? { ttlMs: d.ttl.ttlMs, update: d.ttl.update } : undefined;
    switch (d.kind) {
      case 'value':
      case 'list':
      case 'map':
        return { kind: d.kind, name: d.name, ttl };
      case 'reducing': {
        const reduce = load(d.reduce);
        if (typeof reduce !== 'function') throw new TypeError(`${type} state '${d.name}': reduce must be a function (a, b) => combined`);
        return { kind: 'reducing', name: d.name, reduce: reduce as (a: unknown, b: unknown) => unknown, ttl };
      }
      case 'aggregating': {
        const aggregate = load(d.aggregate) as Partial<Record<keyof AggregateFunction<unknown, unknown, unknown>, unknown>> | null;
        const missing = (['createAccumulator', 'add', 'getResult'] as const).filter((h) => typeof aggregate?.[h] !== 'function');
        if (missing.length > 0) {
          throw new TypeError(`${type} state '${d.name}': the aggregate function needs ${missing.map((m) => `${m}(…)`).join(', ')}`);
        }
        return { kind: 'aggregating', name: d.name, aggregate: aggregate as AggregateFunction<unknown, unknown, unknown>, ttl };
      }
    }
  });
}

const quoted = (names: Iterable<string>): string => [...names].map((n) => `'${n}'`).join(', ');

function requireTime(method: string, timestamp: unknown): number {
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
    const hint = timestamp === Number.NEGATIVE_INFINITY ? ' (the record has no event-time timestamp?)' : '';
    throw new TypeError(`timerService.${method} needs a finite time in milliseconds, got ${String(timestamp)}${hint}`);
  }
  return timestamp;
}

/**
 * The one context object of a process operator. It implements every context
 * interface above; the operator sets the phase and times before each hook call
 * (`enterElement`, `enterTimer`, `enterBroadcast`), and the phase decides what is
 * allowed: no key on the broadcast side, no output in open().
 */
export class ProcessFunctionContext {
  timestamp = NO_TIMESTAMP;
  timeDomain: TimeDomain | undefined = undefined;
  readonly timerService: ProcessTimerService;
  /** @internal */
  phase: Phase = 'open';
  /** Timestamp given to collected records. */
  private emitTimestamp = NO_TIMESTAMP;
  private readonly handles = new Map<string, StateHandle>();
  private readonly declaredStates: ReadonlySet<string>;
  private readonly sideOutputs: ReadonlySet<string>;
  private op: OperatorContext | undefined;
  private out: Output<unknown> | undefined;
  private backend: KeyedStateBackend | undefined;
  private timers: InternalTimerService | undefined;
  private broadcastLookup: ((name: string) => BroadcastState) | undefined;
  private listStates: OperatorListStateStore | undefined;

  constructor(
    private readonly type: string,
    private readonly descriptors: readonly StateDescriptor[],
    sideOutputs: readonly string[],
    currentWatermark: () => number,
  ) {
    this.declaredStates = new Set(descriptors.map((d) => d.name));
    this.sideOutputs = new Set(sideOutputs);
    this.timerService = {
      registerEventTimeTimer: (t) => this.timerServiceFor('registerEventTimeTimer').registerEventTimeTimer(VOID_NAMESPACE, requireTime('registerEventTimeTimer', t)),
      deleteEventTimeTimer: (t) => this.timerServiceFor('deleteEventTimeTimer').deleteEventTimeTimer(VOID_NAMESPACE, requireTime('deleteEventTimeTimer', t)),
      registerProcessingTimeTimer: (t) =>
        this.timerServiceFor('registerProcessingTimeTimer').registerProcessingTimeTimer(VOID_NAMESPACE, requireTime('registerProcessingTimeTimer', t)),
      deleteProcessingTimeTimer: (t) =>
        this.timerServiceFor('deleteProcessingTimeTimer').deleteProcessingTimeTimer(VOID_NAMESPACE, requireTime('deleteProcessingTimeTimer', t)),
      currentWatermark,
      currentProcessingTime: () => this.operator.processingTime.now(),
    };
  }

  get nodeId(): string {
    return this.operator.nodeId;
  }
  get subtaskIndex(): number {
    return this.operator.subtaskIndex;
  }
  get parallelism(): number {
    return this.operator.parallelism;
  }

  /** The current key: set by the task before each keyed record, by the timer service before each timer. */
  get key(): Key | undefined {
    if (!this.backend || this.phase === 'broadcast' || this.phase === 'open') return undefined;
    return this.backend.getCurrentKey();
  }

  readonly collect = (record: unknown): void => {
    if (this.phase === 'open') throw new Error('ctx.collect cannot be called in open(): there is no record yet');
    (this.out as Output<unknown>).collect(record, this.emitTimestamp);
  };

  readonly output = (sideOutput: string, record: unknown): void => {
    if (!this.sideOutputs.has(sideOutput)) {
      const declared = this.sideOutputs.size > 0 ? `declared side outputs: ${quoted(this.sideOutputs)}` : 'it declares none; add it under sideOutputs';
      throw new Error(`side output '${sideOutput}' is not declared by this ${this.type}; ${declared}`);
    }
    if (this.phase === 'open') throw new Error('ctx.output cannot be called in open(): there is no record yet');
    (this.out as Output<unknown>).collectSide(sideOutput, record, this.emitTimestamp);
  };

  readonly state = (name: string): StateHandle => {
    if (this.phase === 'broadcast') {
      throw new Error(
        `keyed state '${name}' is not available in processBroadcastElement: broadcast elements have no key; use ctx.applyToKeyedState('${name}', (key, state) => …) to visit every key`,
      );
    }
    return this.keyedState(name);
  };

  readonly broadcastState = (name: string): BroadcastState => {
    if (!this.broadcastLookup) throw new Error(`ctx.broadcastState is only available in a broadcast-process, not in a ${this.type}`);
    return this.broadcastLookup(name);
  };

  readonly getOperatorListState = <T>(name: string, options?: OperatorListStateOptions): OperatorListState<T> => {
    if (!this.listStates) throw new Error(`ctx.getOperatorListState('${name}') is used before the ${this.type} was initialized`);
    return this.listStates.getOperatorListState<T>(name, options);
  };

  /** The operator's list states, from its initializeState (before open, so open() can read what was restored). */
  bindListStates(store: OperatorListStateStore): void {
    this.listStates = store;
  }

  /** Flink's applyToKeyedState: only on the broadcast side, where no key is current. */
  readonly applyToKeyedState = (stateName: string, fn: (key: Key, state: StateHandle) => void): void => {
    if (this.phase !== 'broadcast') throw new Error('ctx.applyToKeyedState is only available in processBroadcastElement');
    const handle = this.keyedState(stateName);
    const backend = this.backend as KeyedStateBackend;
    backend.setCurrentNamespace(VOID_NAMESPACE);
    for (const key of backend.keys(stateName, VOID_NAMESPACE)) {
      backend.setCurrentKey(key);
      fn(key, handle);
    }
  };

  /**
   * Binds the context to its operator (from the operator's open()): state handles
   * come from the keyed backend when there is one (`op.keyedBackend`); `timers` is the
   * operator's timer service, already created so that restored timers are back.
   */
  bind(
    op: OperatorContext,
    out: Output<unknown>,
    backend: KeyedStateBackend | undefined,
    timers: InternalTimerService | undefined,
    broadcastLookup?: (name: string) => BroadcastState,
  ): void {
    this.op = op;
    this.out = out;
    this.backend = backend;
    this.timers = timers;
    this.broadcastLookup = broadcastLookup;
    this.phase = 'open';
    this.handles.clear();
    if (backend) for (const d of this.descriptors) this.handles.set(d.name, backend.getState(d));
  }

  /** Before processElement (any keyed or unkeyed data input). */
  enterElement(timestamp: number): void {
    this.phase = 'element';
    this.timestamp = timestamp;
    this.emitTimestamp = timestamp;
    this.timeDomain = undefined;
  }

  /** Before processBroadcastElement. */
  enterBroadcast(timestamp: number): void {
    this.phase = 'broadcast';
    this.timestamp = timestamp;
    this.emitTimestamp = timestamp;
    this.timeDomain = undefined;
  }

  /**
   * Before onTimer. As Flink's KeyedProcessOperator: results of an event-time timer
   * carry the timer's time; those of a processing-time timer carry no timestamp
   * (wall-clock time is not event time), though ctx.timestamp is the timer's time.
   */
  enterTimer(timestamp: number, domain: TimeDomain): void {
    this.phase = 'timer';
    this.timestamp = timestamp;
    this.emitTimestamp = domain === 'event-time' ? timestamp : NO_TIMESTAMP;
    this.timeDomain = domain;
  }

  private get operator(): OperatorContext {
    if (!this.op) throw new Error(`the ${this.type} context is used before the operator was opened`);
    return this.op;
  }

  private keyedState(name: string): StateHandle {
    const handle = this.handles.get(name);
    if (handle) return handle;
    if (!this.backend) {
      if (this.op) throw new Error(`ctx.state('${name}'): state and timers need both inputs keyed; key both inputs of this ${this.type} by the same key`);
      throw new Error(`ctx.state('${name}') is used before the operator was opened`);
    }
    const declared = this.declaredStates.size > 0 ? `declared states: ${quoted(this.declaredStates)}` : 'it declares none; add it under states';
    throw new Error(`state '${name}' is not declared by this ${this.type}; ${declared}`);
  }

  private timerServiceFor(method: string): InternalTimerService {
    if (this.phase === 'element' || this.phase === 'timer') {
      if (this.timers) return this.timers;
      throw new Error(`timerService.${method}: state and timers need both inputs keyed; key both inputs of this ${this.type} by the same key`);
    }
    if (this.phase === 'broadcast') {
      throw new Error(`timerService.${method} is not available in processBroadcastElement: broadcast elements have no key, and timers belong to a key`);
    }
    throw new Error(`timerService.${method} can only be called while processing an element or a timer, not in open()`);
  }
}
