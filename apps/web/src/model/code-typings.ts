/**
 * Typings for the code editor. A code field holds one TypeScript expression whose
 * expected type is its code kind's signature (`CODE_KINDS[kind].signature`, such as
 * `(value: In, ctx: FunctionContext) => Out`). The editor gives the TypeScript
 * language service three things:
 *
 *   RUNTIME_TYPINGS      one global .d.ts: the contexts user functions receive
 *                        (FunctionContext, KeyedProcessContext, Collector,
 *                        WindowContext, TriggerContext, PatternContext, states…),
 *                        as the engine's operators implement them;
 *   codeFieldTypings()   per field, a .d.ts namespace binding the signature's type
 *                        parameters (In = the upstream record type where known);
 *   wrapCode()           the field's text inside `export const fn: <ns>.Fn = (` … `);`,
 *                        whose first and last lines the editor hides, so the user's
 *                        expression is contextually typed: completion and errors work.
 */
import { CODE_KINDS, GENERATOR_PROFILES, getOperator, type CodeKindName } from '@sluice/graph-model';
import { isPlainObject, type GraphDocument } from './document';

export const RUNTIME_TYPINGS = `/** Sluice user-function runtime: what the engine passes to your functions. */
/** A record key: what a key-by selected. */
type SluiceKey = string | number;
/** Any record. */
type SluiceRecord = { [field: string]: any };

/**
 * A list that belongs to this parallel instance, not to a key, checkpointed with it
 * (Flink's operator ListState). On a restore at another parallelism an 'even-split'
 * list is cut into even, contiguous parts of all instances' lists; a 'union' list goes
 * whole to every instance. Not available to sandboxed user code (a hosted engine
 * refuses the job).
 */
interface OperatorListState<T = any> {
  /** The current contents; change them with add, addAll or update. */
  get(): readonly T[];
  add(value: T): void;
  addAll(values: readonly T[]): void;
  update(values: readonly T[]): void;
  clear(): void;
}
interface OperatorListStateOptions {
  /** 'even-split' (default, Flink's getListState) or 'union' (getUnionListState). */
  redistribution?: 'even-split' | 'union';
}
/** Reaches this parallel instance's operator list states by name. */
interface OperatorListStateAccess {
  getOperatorListState<T = any>(name: string, options?: OperatorListStateOptions): OperatorListState<T>;
}

/** What every map, filter and flat-map function receives besides the record. */
interface FunctionContext extends OperatorListStateAccess {
  /** Event time of the current record in epoch ms (-Infinity when it has none). */
  timestamp: number;
  /** The node's id (its operator uid). */
  readonly nodeId: string;
  /** Which parallel instance runs this call, from 0. */
  readonly subtaskIndex: number;
  readonly parallelism: number;
}

/** Emits records. */
interface Collector<T = any> {
  collect(record: T): void;
}

interface ValueState<T = any> {
  value(): T | undefined;
  update(value: T): void;
  clear(): void;
}
interface ListState<T = any> {
  get(): readonly T[];
  add(value: T): void;
  addAll(values: readonly T[]): void;
  update(values: readonly T[]): void;
  clear(): void;
}
interface MapState<K extends string | number = string | number, V = any> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  remove(key: K): void;
  contains(key: K): boolean;
  entries(): Array<[K, V]>;
  keys(): K[];
  values(): V[];
  isEmpty(): boolean;
  clear(): void;
}
interface ReducingState<T = any> {
  get(): T | undefined;
  add(value: T): void;
  clear(): void;
}
interface AggregatingState<In = any, Out = any> {
  get(): Out | undefined;
  add(value: In): void;
  clear(): void;
}
/** A state declared under the node's \`states\`; which handle depends on its kind. */
type StateHandle = ValueState & ListState & MapState & ReducingState & AggregatingState;

/** Timers of the current key, the watermark and processing time (Flink's TimerService). */
interface TimerService {
  registerEventTimeTimer(timestamp: number): void;
  deleteEventTimeTimer(timestamp: number): void;
  registerProcessingTimeTimer(timestamp: number): void;
  deleteProcessingTimeTimer(timestamp: number): void;
  currentWatermark(): number;
  currentProcessingTime(): number;
}

interface EmittingContext<Out = any> extends OperatorListStateAccess {
  readonly nodeId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  /** Event time of the record; in onTimer the timer's time. */
  readonly timestamp: number;
  /** Emits to the main output. */
  collect(record: Out): void;
  /** Emits to a side output declared in the node's \`sideOutputs\`. */
  output(sideOutput: string, record: unknown): void;
}

/** The context of keyed-process hooks (Flink's KeyedProcessFunction.Context). */
interface KeyedProcessContext<Out = any> extends EmittingContext<Out> {
  /** The current key. */
  readonly key: SluiceKey;
  readonly timerService: TimerService;
  /** A keyed state declared in the node's \`states\`. */
  state<S = StateHandle>(name: string): S;
}

/** The context of onTimer. */
interface OnTimerContext<Out = any> extends KeyedProcessContext<Out> {
  readonly timeDomain: 'event-time' | 'processing-time';
}

/** The context of open(): state handles may be fetched, restored operator list state read; nothing has a key yet. */
interface OpenContext extends OperatorListStateAccess {
  readonly nodeId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  state<S = StateHandle>(name: string): S;
}

/** The context of co-process hooks; key, state and timers exist when both inputs are keyed. */
interface CoProcessContext<Out = any> extends EmittingContext<Out> {
  readonly key: SluiceKey | undefined;
  readonly timerService: TimerService;
  state<S = StateHandle>(name: string): S;
}

interface ReadOnlyBroadcastState<V = any> {
  get(key: string | number): V | undefined;
  contains(key: string | number): boolean;
  entries(): Array<[string | number, V]>;
  keys(): Array<string | number>;
  values(): V[];
  isEmpty(): boolean;
}
interface BroadcastState<V = any> extends ReadOnlyBroadcastState<V> {
  put(key: string | number, value: V): void;
  remove(key: string | number): void;
  clear(): void;
}

/** The keyed side of a broadcast-process (Flink's ReadOnlyContext). */
interface ReadOnlyBroadcastContext<Out = any> extends KeyedProcessContext<Out> {
  broadcastState<V = any>(name: string): ReadOnlyBroadcastState<V>;
  readonly timeDomain?: 'event-time' | 'processing-time';
}

/** The broadcast side: no key, writable broadcast state. */
interface BroadcastContext<Out = any> extends EmittingContext<Out> {
  readonly key: undefined;
  readonly timerService: Pick<TimerService, 'currentWatermark' | 'currentProcessingTime'>;
  broadcastState<V = any>(name: string): BroadcastState<V>;
  /** Visits every key of this subtask with a value in keyed state \`stateName\`. */
  applyToKeyedState<S = StateHandle>(stateName: string, fn: (key: SluiceKey, state: S) => void): void;
}

/** The window that fires. */
interface WindowContext {
  readonly start: number;
  readonly end: number;
  /** end - 1: the largest timestamp in the window. */
  readonly maxTimestamp: number;
  readonly currentWatermark: number;
}

/** What a custom trigger returns, as in Flink. */
type TriggerResult = 'CONTINUE' | 'FIRE' | 'PURGE' | 'FIRE_AND_PURGE';

/** What a trigger may do for the window and key being handled. */
interface TriggerContext {
  currentWatermark(): number;
  currentProcessingTime(): number;
  registerEventTimeTimer(time: number): void;
  registerProcessingTimeTimer(time: number): void;
  deleteEventTimeTimer(time: number): void;
  deleteProcessingTimeTimer(time: number): void;
  /** A per-window, per-key value for the trigger's own bookkeeping. */
  getValue(name: string): unknown;
  setValue(name: string, value: unknown): void;
}

/** What a pattern step's condition receives besides the record. */
interface PatternContext<In = any> {
  /** The records already matched for an earlier step, in order. */
  events(step: string): In[];
  /** Event time of the record being tested. */
  readonly timestamp: number;
}
`;

/** Type parameters a signature may use, and what they stand for. */
const TYPE_PARAMETERS = ['In', 'Out', 'T', 'Key', 'Acc', 'Agg', 'In1', 'In2', 'B', 'L', 'R'] as const;
type TypeParameter = (typeof TYPE_PARAMETERS)[number];

export type RecordTypes = Partial<Record<TypeParameter, string>>;

/** A namespace name for one code field (a model of the editor). */
export function typingsNamespace(key: string): string {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) | 0;
  return `SluiceField_${(hash >>> 0).toString(36)}_${key.replace(/[^A-Za-z0-9]/g, '_').slice(0, 40)}`;
}

/** The per-field .d.ts: the signature of `kind`, with its type parameters bound. */
export function codeFieldTypings(namespace: string, kind: CodeKindName, types: RecordTypes = {}): string {
  const record = types.In ?? 'SluiceRecord';
  const bound: Record<TypeParameter, string> = {
    In: record,
    Out: types.Out ?? 'any',
    T: types.T ?? record,
    Key: types.Key ?? 'SluiceKey',
    Acc: types.Acc ?? 'any',
    Agg: types.Agg ?? 'any',
    In1: types.In1 ?? 'SluiceRecord',
    In2: types.In2 ?? 'SluiceRecord',
    B: types.B ?? 'SluiceRecord',
    L: types.L ?? 'SluiceRecord',
    R: types.R ?? 'SluiceRecord',
  };
  const kindDef = CODE_KINDS[kind];
  const lines = [
    `/** Typings of a ${kind} function (generated from its code kind). */`,
    `declare namespace ${namespace} {`,
    ...TYPE_PARAMETERS.map((p) => `  type ${p} = ${bound[p]};`),
    `  /** ${kindDef.doc.replace(/\*\//g, '* /')} */`,
    `  type Fn = ${kindDef.signature};`,
    '}',
    '',
  ];
  return lines.join('\n');
}

/** Lines before and after the user's code in the editor model (hidden). */
export function codeWrapper(namespace: string): { prefix: string; suffix: string } {
  return { prefix: `export const fn: ${namespace}.Fn = (`, suffix: ');' };
}

export function wrapCode(namespace: string, code: string): string {
  const { prefix, suffix } = codeWrapper(namespace);
  return `${prefix}\n${code}\n${suffix}`;
}

/**
 * The user's code back from a model's text. Tolerates an edit that ran into the
 * hidden lines (a joined line, a deleted bracket): whatever is left of the wrapper
 * is taken off.
 */
export function unwrapCode(namespace: string, text: string): string {
  const { prefix, suffix } = codeWrapper(namespace);
  let body = text;
  if (body.startsWith(`${prefix}\n`)) body = body.slice(prefix.length + 1);
  else if (body.startsWith(prefix)) body = body.slice(prefix.length);
  if (body.endsWith(`\n${suffix}`)) body = body.slice(0, -(suffix.length + 1));
  else if (body.endsWith(suffix)) body = body.slice(0, -suffix.length);
  return body;
}

/** Operators that pass records through unchanged, so the record type flows through them. */
const SAME_RECORDS: ReadonlySet<string> = new Set(['filter', 'filter-expression', 'key-by', 'union']);

/**
 * The TypeScript type of the records arriving at `input` of node `nodeId`, when it
 * can be known without running anything: a generator's profile, through filters and
 * key-bys. Otherwise undefined (the typings then say `SluiceRecord`).
 */
export function upstreamRecordType(doc: GraphDocument, nodeId: string, input?: string): string | undefined {
  let current = nodeId;
  let inputName = input;
  for (let guard = 0; guard < 1000; guard++) {
    const edge = doc.edges.find((e) => e.target === current && (inputName === undefined || e.targetInput === undefined || e.targetInput === inputName));
    if (!edge || (edge.sourceOutput ?? 'main') !== 'main') return undefined;
    const source = doc.nodes.find((n) => n.id === edge.source);
    if (!source) return undefined;
    if (source.type === 'generator') {
      const profile = isPlainObject(source.config) ? source.config['profile'] : undefined;
      return typeof profile === 'string' && Object.prototype.hasOwnProperty.call(GENERATOR_PROFILES, profile)
        ? profileType(GENERATOR_PROFILES[profile as keyof typeof GENERATOR_PROFILES])
        : undefined;
    }
    if (!SAME_RECORDS.has(source.type)) return undefined;
    current = source.id;
    inputName = undefined;
  }
  return undefined;
}

/** The type literal at the start of a generator profile's description. */
export function profileType(description: string): string | undefined {
  if (!description.startsWith('{')) return undefined;
  let depth = 0;
  for (let i = 0; i < description.length; i++) {
    const ch = description[i];
    if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return description.slice(0, i + 1);
  }
  return undefined;
}

/** Record types for a code field of node `nodeId`, from its inputs. */
export function recordTypesFor(doc: GraphDocument, nodeId: string): RecordTypes {
  const node = doc.nodes.find((n) => n.id === nodeId);
  const inputs = node ? (getOperator(node.type)?.inputs ?? []) : [];
  const types: Record<string, string> = {};
  const set = (name: TypeParameter, type: string | undefined) => {
    if (type !== undefined) types[name] = type;
  };
  if (inputs.length <= 1) {
    set('In', upstreamRecordType(doc, nodeId));
  } else {
    const [first, second] = inputs;
    const a = upstreamRecordType(doc, nodeId, first?.name);
    const b = upstreamRecordType(doc, nodeId, second?.name);
    set('L', a);
    set('R', b);
    set('In1', a);
    set('In2', b);
    set('In', a);
    set('B', b);
  }
  return types;
}
