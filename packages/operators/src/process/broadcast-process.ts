/**
 * Broadcast process function, after Flink's CoBroadcastWithKeyedOperator
 * (KeyedBroadcastProcessFunction): a keyed stream (input 1) connected to a broadcast
 * stream (input 2) of rules or configuration.
 *
 *   processElement(value, ctx)            keyed side: keyed state, timers, broadcast state read-only
 *   processBroadcastElement(value, ctx)   broadcast side: no key; broadcast state writable,
 *                                         ctx.applyToKeyedState visits every local key
 *   onTimer(timestamp, ctx)               a timer of ctx.key fired; broadcast state read-only
 *   open(ctx)                             once, after state was restored
 *
 * Every subtask receives every broadcast element and applies the same writes, so the
 * broadcast state is the same everywhere (as long as the function is deterministic and
 * does not write from the keyed side, which is why that side is read-only). It is
 * operator state: each subtask snapshots its copy in `union` mode, and a restore at
 * any parallelism takes the first copy. The function's operator list states
 * (ctx.getOperatorListState) travel beside it in the same union (see
 * state/operator-list-state.ts), each cut for its own redistribution.
 */
import type { Key, RowKind } from '../api/elements.js';
import { AbstractTwoInputOperator, type OperatorRestore, type OperatorStateSnapshot } from '../api/operator.js';
import type { InternalTimer } from '../api/time.js';
import type { OperatorEnv } from '../registry.js';
import { OperatorListStateStore } from '../state/operator-list-state.js';
import {
  compileStates,
  loadHooks,
  ProcessFunctionContext,
  type BroadcastContext,
  type BroadcastState,
  type OpenContext,
  type ProcessFunctionConfig,
  type ReadOnlyBroadcastContext,
} from './context.js';

/** The hook object of a broadcast-process node's `fn`. */
export interface BroadcastProcessFunction {
  processElement(value: unknown, ctx: ReadOnlyBroadcastContext): void;
  processBroadcastElement(value: unknown, ctx: BroadcastContext): void;
  onTimer?(timestamp: number, ctx: ReadOnlyBroadcastContext): void;
  open?(ctx: OpenContext): void;
}

export interface BroadcastProcessConfig extends ProcessFunctionConfig {
  readonly broadcastStates: readonly string[];
}

/** One subtask's broadcast state in a snapshot: state name → [key, plain value] pairs. */
export interface BroadcastStateSnapshotEntry {
  readonly broadcastStates: Readonly<Record<string, ReadonlyArray<readonly [Key, unknown]>>>;
}

export class BroadcastProcessOperator extends AbstractTwoInputOperator<unknown, unknown> {
  private readonly fn: BroadcastProcessFunction;
  private readonly context: ProcessFunctionContext;
  private readonly broadcastStates = new Map<string, BroadcastMapState>();
  private listStates: OperatorListStateStore | undefined;
  private readonly lookup = (name: string): BroadcastState => {
    const state = this.broadcastStates.get(name);
    if (state) return state;
    throw new Error(`broadcast state '${name}' is not declared by this broadcast-process; declared broadcast states: ${[...this.broadcastStates.keys()].map((n) => `'${n}'`).join(', ')}`);
  };

  constructor(config: BroadcastProcessConfig, env: OperatorEnv) {
    super();
    this.fn = loadHooks('broadcast-process', config.fn, env.fn, ['processElement', 'processBroadcastElement'], ['onTimer', 'open']) as BroadcastProcessFunction;
    this.context = new ProcessFunctionContext(
      'broadcast-process',
      compileStates('broadcast-process', config.states ?? [], env.fn),
      config.sideOutputs ?? [],
      () => this.currentWatermark,
    );
    for (const name of config.broadcastStates) this.broadcastStates.set(name, new BroadcastMapState(name, this.context));
  }

  override initializeState(restore: OperatorRestore): void {
    const listStates = new OperatorListStateStore(`operator '${this.ctx.nodeId}' (${this.ctx.nodeType})`, this.ctx.subtaskIndex, this.ctx.parallelism);
    const copies = listStates.restore(restore.operatorState);
    this.listStates = listStates;
    this.context.bindListStates(listStates);
    // Union redistribution hands every subtask every copy; they are equal, so take the first.
    const first = copies[0];
    if (first === undefined) return;
    const states: unknown = typeof first === 'object' && first !== null ? (first as Partial<BroadcastStateSnapshotEntry>).broadcastStates : undefined;
    if (typeof states !== 'object' || states === null) throw new Error('cannot restore broadcast state: the snapshot entry has no broadcastStates');
    for (const [name, entries] of Object.entries(states as BroadcastStateSnapshotEntry['broadcastStates'])) {
      const state = this.broadcastStates.get(name);
      if (!state) {
        this.ctx.log.warn(`broadcast state '${name}' in the snapshot is no longer declared; its ${entries.length} entries are dropped`, { nodeId: this.ctx.nodeId });
        continue;
      }
      state.restore(entries);
    }
  }

  override open(): void {
    // this.backend fails with a clear message when the keyed input is not keyed.
    this.context.bind(this.ctx, this.output, this.backend, this.useTimers(), this.lookup);
    this.fn.open?.(this.context as unknown as OpenContext);
  }

  override snapshotState(_checkpointId: number): OperatorStateSnapshot {
    const broadcastStates: Record<string, Array<readonly [Key, unknown]>> = {};
    for (const [name, state] of this.broadcastStates) broadcastStates[name] = state.snapshot();
    const entry: BroadcastStateSnapshotEntry = { broadcastStates };
    return { mode: 'union', entries: [entry, ...(this.listStates?.snapshotEntries() ?? [])] };
  }

  /** A record of the keyed input. */
  processElement1(value: unknown, timestamp: number, _kind: RowKind): void {
    const context = this.context;
    context.enterElement(timestamp);
    this.fn.processElement(value, context as unknown as ReadOnlyBroadcastContext);
  }

  /** A record of the broadcast input. */
  processElement2(value: unknown, timestamp: number, _kind: RowKind): void {
    const context = this.context;
    context.enterBroadcast(timestamp);
    this.fn.processBroadcastElement(value, context as unknown as BroadcastContext);
  }

  override onEventTime(timer: InternalTimer): void {
    if (!this.fn.onTimer) return;
    this.context.enterTimer(timer.timestamp, 'event-time');
    this.fn.onTimer(timer.timestamp, this.context as unknown as ReadOnlyBroadcastContext);
  }

  override onProcessingTime(timer: InternalTimer): void {
    if (!this.fn.onTimer) return;
    this.context.enterTimer(timer.timestamp, 'processing-time');
    this.fn.onTimer(timer.timestamp, this.context as unknown as ReadOnlyBroadcastContext);
  }
}

/** A broadcast map state; writes are allowed only while the context is on the broadcast side. */
class BroadcastMapState implements BroadcastState {
  private readonly data = new Map<Key, unknown>();

  constructor(
    private readonly name: string,
    private readonly context: ProcessFunctionContext,
  ) {}

  get(key: Key): unknown {
    return this.data.get(key);
  }
  contains(key: Key): boolean {
    return this.data.has(key);
  }
  entries(): Array<[Key, unknown]> {
    return [...this.data.entries()];
  }
  keys(): Key[] {
    return [...this.data.keys()];
  }
  values(): unknown[] {
    return [...this.data.values()];
  }
  isEmpty(): boolean {
    return this.data.size === 0;
  }
  put(key: Key, value: unknown): void {
    this.checkWritable('put');
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new TypeError(`broadcast state '${this.name}': keys must be strings or numbers, got ${typeof key}`);
    }
    this.data.set(key, value);
  }
  remove(key: Key): void {
    this.checkWritable('remove');
    this.data.delete(key);
  }
  clear(): void {
    this.checkWritable('clear');
    this.data.clear();
  }

  snapshot(): Array<readonly [Key, unknown]> {
    return [...this.data.entries()].map(([k, v]) => [k, toPlain(v)] as const);
  }

  restore(entries: ReadonlyArray<readonly [Key, unknown]>): void {
    this.data.clear();
    for (const [k, v] of entries) this.data.set(k, fromPlain(v));
  }

  private checkWritable(method: string): void {
    if (this.context.phase !== 'broadcast') {
      throw new Error(`broadcast state is read-only on the keyed side: ${method} on '${this.name}' is only allowed in processBroadcastElement`);
    }
  }
}

/** Same tag as the heap backend uses, so snapshots of both kinds of state look alike. */
const MAP_TAG = '__sluice_map__';

/** Snapshot values are plain data built afresh: Maps become tagged entry lists. */
function toPlain(value: unknown): unknown {
  if (value instanceof Map) return { [MAP_TAG]: [...(value as Map<unknown, unknown>).entries()].map(([k, v]) => [k, toPlain(v)]) };
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  return value;
}

function fromPlain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromPlain);
  if (typeof value === 'object' && value !== null) {
    if (MAP_TAG in value) return new Map((value as Record<string, Array<[unknown, unknown]>>)[MAP_TAG]?.map(([k, v]) => [k, fromPlain(v)]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromPlain(v)]));
  }
  return value;
}
