/**
 * Operator list state for user functions, after Flink's OperatorStateStore
 * (CheckpointedFunction): named lists that belong to a parallel instance of an
 * operator, not to a key, and are redistributed when the job restores at another
 * parallelism.
 *
 *   ctx.getOperatorListState(name)                               even split (getListState)
 *   ctx.getOperatorListState(name, { redistribution: 'union' })  union (getUnionListState)
 *
 * Even split: the lists of all old subtasks are concatenated in subtask order and cut
 * into contiguous parts, one per new subtask, whose sizes differ by at most one (Flink's
 * RoundRobinOperatorStateRepartitioner; the subtask that gets the first of the larger
 * parts rotates from one list to the next, in name order). Union: every new subtask gets
 * the concatenation of all. At an unchanged parallelism an even-split list stays where it
 * was. A list restores with the redistribution it was written with; asking for it with the
 * other one fails, as in Flink ("incompatible assignment mode").
 *
 * In a snapshot every list of every subtask is one entry carrying its name, mode,
 * subtask index and parallelism, and the operator's snapshot is in `union` mode: every
 * new subtask receives every entry and cuts its own part here. So the engine's restore
 * needs nothing beyond the operator-state modes it already has, and several named lists
 * with different redistributions share one operator state.
 */
import type { OperatorContext, OperatorStateSnapshot } from '../api/operator.js';

export type OperatorListRedistribution = 'even-split' | 'union';

export interface OperatorListStateOptions {
  /** 'even-split' (the default, Flink's getListState) or 'union' (getUnionListState). */
  readonly redistribution?: OperatorListRedistribution;
}

/** A list of this parallel instance, checkpointed and redistributed on restore (Flink's ListState from the OperatorStateStore). */
export interface OperatorListState<T = unknown> {
  /** The current contents; the stored array itself, so do not change it: use add, addAll or update. */
  get(): readonly T[];
  add(value: T): void;
  addAll(values: readonly T[]): void;
  /** Replaces the contents. */
  update(values: readonly T[]): void;
  clear(): void;
}

/** What a user-function context offers to reach its operator list states. */
export interface OperatorListStateAccess {
  getOperatorListState<T = unknown>(name: string, options?: OperatorListStateOptions): OperatorListState<T>;
}

/** One list of one subtask in a snapshot. */
export interface OperatorListEntry {
  readonly operatorList: string;
  readonly redistribution: OperatorListRedistribution;
  readonly subtask: number;
  readonly parallelism: number;
  readonly values: readonly unknown[];
}

const REDISTRIBUTIONS: ReadonlySet<string> = new Set(['even-split', 'union']);

export function isOperatorListEntry(entry: unknown): entry is OperatorListEntry {
  if (typeof entry !== 'object' || entry === null) return false;
  const e = entry as Partial<Record<keyof OperatorListEntry, unknown>>;
  return (
    typeof e.operatorList === 'string' &&
    typeof e.redistribution === 'string' &&
    REDISTRIBUTIONS.has(e.redistribution) &&
    Number.isInteger(e.subtask) &&
    Number.isInteger(e.parallelism) &&
    Array.isArray(e.values)
  );
}

/** User code may pass anything: say so instead of spreading a string into characters. */
function requireArray(method: string, values: unknown): void {
  if (!Array.isArray(values)) throw new TypeError(`operator list state ${method} needs an array, got ${values === null ? 'null' : typeof values}`);
}

class ListHandle<T> implements OperatorListState<T> {
  values: T[];
  constructor(
    readonly redistribution: OperatorListRedistribution,
    values: T[],
  ) {
    this.values = values;
  }
  get(): readonly T[] {
    return this.values;
  }
  add(value: T): void {
    this.values.push(value);
  }
  addAll(values: readonly T[]): void {
    requireArray('addAll', values);
    for (const value of values) this.values.push(value);
  }
  update(values: readonly T[]): void {
    requireArray('update', values);
    this.values = [...values];
  }
  clear(): void {
    this.values = [];
  }
}

/**
 * The operator list states of one subtask. The owning operator restores it in
 * initializeState, hands `access` to its user function's context, and adds its
 * snapshot to its own in snapshotState.
 */
export class OperatorListStateStore {
  /**
   * The store of an operator whose only operator state is its function's lists: built
   * and restored from initializeState's `operatorState`, anything else in it refused.
   */
  static restoredFor(ctx: OperatorContext, operatorState: readonly unknown[] | undefined): OperatorListStateStore {
    const store = new OperatorListStateStore(`operator '${ctx.nodeId}' (${ctx.nodeType})`, ctx.subtaskIndex, ctx.parallelism);
    const others = store.restore(operatorState);
    if (others.length > 0) throw new Error(`cannot restore ${store.owner}: its snapshot holds ${others.length} operator state entries that are not operator list state`);
    return store;
  }

  private readonly lists = new Map<string, ListHandle<unknown>>();
  /** Restored lists not asked for yet: their part for this subtask and the mode they were written with. */
  private readonly restored = new Map<string, { redistribution: OperatorListRedistribution; values: unknown[] }>();

  constructor(
    /** Names the operator in errors: "operator 'dedup' (map)". */
    private readonly owner: string,
    private readonly subtaskIndex: number,
    private readonly parallelism: number,
  ) {}

  /**
   * Takes this subtask's part of the restored lists out of `entries` (every entry of
   * every old subtask, as union redistribution delivers them) and returns the entries
   * that are not operator list state, for the operator's own state.
   */
  restore(entries: readonly unknown[] | undefined): unknown[] {
    const others: unknown[] = [];
    const byName = new Map<string, OperatorListEntry[]>();
    for (const entry of entries ?? []) {
      if (!isOperatorListEntry(entry)) {
        others.push(entry);
        continue;
      }
      const parts = byName.get(entry.operatorList) ?? [];
      parts.push(entry);
      byName.set(entry.operatorList, parts);
    }
    // Name order: the rotation of the larger parts must not depend on the order entries arrived in.
    let start = 0;
    for (const name of [...byName.keys()].sort()) {
      const parts = (byName.get(name) as OperatorListEntry[]).sort((a, b) => a.subtask - b.subtask);
      const redistribution = (parts[0] as OperatorListEntry).redistribution;
      if (parts.some((p) => p.redistribution !== redistribution)) {
        throw new Error(`cannot restore operator list state '${name}' of ${this.owner}: the snapshot holds it as both even-split and union`);
      }
      const oldParallelism = (parts[0] as OperatorListEntry).parallelism;
      let values: unknown[];
      if (redistribution === 'union') {
        values = parts.flatMap((p) => p.values);
      } else if (oldParallelism === this.parallelism) {
        values = parts.filter((p) => p.subtask === this.subtaskIndex).flatMap((p) => p.values);
      } else {
        const all = parts.flatMap((p) => p.values);
        const share = evenSplitShare(all.length, this.parallelism, start, this.subtaskIndex);
        values = all.slice(share.from, share.to);
        start = share.nextStart;
      }
      this.restored.set(name, { redistribution, values });
    }
    return others;
  }

  getOperatorListState<T>(name: string, options: OperatorListStateOptions | undefined): OperatorListState<T> {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`getOperatorListState needs a non-empty state name, got ${JSON.stringify(name)}`);
    const redistribution = options?.redistribution ?? 'even-split';
    if (!REDISTRIBUTIONS.has(redistribution)) {
      throw new TypeError(`operator list state '${name}' of ${this.owner}: redistribution must be 'even-split' or 'union', got ${JSON.stringify(redistribution)}`);
    }
    const existing = this.lists.get(name);
    if (existing) {
      if (existing.redistribution !== redistribution) throw incompatible(name, this.owner, existing.redistribution, redistribution);
      return existing as OperatorListState<T>;
    }
    const restored = this.restored.get(name);
    if (restored && restored.redistribution !== redistribution) throw incompatible(name, this.owner, restored.redistribution, redistribution, true);
    this.restored.delete(name);
    const handle = new ListHandle<unknown>(redistribution, restored?.values ?? []);
    this.lists.set(name, handle);
    return handle as OperatorListState<T>;
  }

  /** Whether any list was asked for or restored: an operator without them snapshots nothing extra. */
  get isEmpty(): boolean {
    return this.lists.size === 0 && this.restored.size === 0;
  }

  /**
   * This subtask's lists as snapshot entries: copies, since the function goes on
   * changing its lists while the checkpoint is written. Restored lists the function has
   * not asked for again are kept too, so a run that does not touch them loses nothing.
   */
  snapshotEntries(): OperatorListEntry[] {
    const entries: OperatorListEntry[] = [];
    const entry = (name: string, redistribution: OperatorListRedistribution, values: readonly unknown[]): OperatorListEntry => ({
      operatorList: name,
      redistribution,
      subtask: this.subtaskIndex,
      parallelism: this.parallelism,
      values: structuredClone(values),
    });
    for (const [name, list] of this.lists) entries.push(entry(name, list.redistribution, list.values));
    for (const [name, list] of this.restored) entries.push(entry(name, list.redistribution, list.values));
    return entries;
  }

  /** The operator state of an operator that has no state of its own: undefined when it has no lists. */
  snapshot(): OperatorStateSnapshot | undefined {
    if (this.isEmpty) return undefined;
    return { mode: 'union', entries: this.snapshotEntries() };
  }
}

function incompatible(name: string, owner: string, stored: OperatorListRedistribution, asked: OperatorListRedistribution, restored = false): Error {
  return new Error(
    `operator list state '${name}' of ${owner} is ${stored === 'union' ? 'a union list' : 'an even-split list'}${restored ? ' in the snapshot it was restored from' : ''}, ` +
      `but was asked for with redistribution '${asked}'; ask for it with { redistribution: '${stored}' }`,
  );
}

/**
 * Subtask `subtask`'s contiguous part of `total` concatenated elements cut into
 * `parallelism` parts, as Flink's round-robin repartitioner cuts them: parts in subtask
 * order starting at `start` (wrapping around), the first `total % parallelism` of them
 * one longer. `nextStart` is where the next list starts: the first subtask that got a
 * shorter part, so the longer parts rotate across lists.
 */
export function evenSplitShare(total: number, parallelism: number, start: number, subtask: number): { from: number; to: number; nextStart: number } {
  const base = Math.floor(total / parallelism);
  let remainder = total % parallelism;
  let nextStart = start;
  let offset = 0;
  let mine = { from: 0, to: 0 };
  for (let i = 0; i < parallelism; i++) {
    const index = (i + start) % parallelism;
    let size = base;
    if (remainder > 0) {
      size++;
      remainder--;
    } else if (remainder === 0) {
      nextStart = index;
      remainder--;
    }
    if (index === subtask) mine = { from: offset, to: offset + size };
    offset += size;
  }
  return { ...mine, nextStart };
}
