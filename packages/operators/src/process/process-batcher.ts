/**
 * A keyed-process function run as a ProcessProgram (sandboxed user code): records are
 * buffered and handed over in batches, with the values of the batch's keys in each value
 * state, so that a batch crosses into the sandbox once instead of every record and every
 * state access crossing on its own.
 *
 *   element   buffered with its key (the task set it) and timestamp; BATCH_SIZE entries,
 *             or anything that must not overtake them (a watermark, a timer, idleness, a
 *             barrier, the end, the end of a task step), run the batch
 *   timer     runs the pending elements, then itself as a batch of one: a timer it
 *             registers at or before the watermark still fires in the same advance
 *   after     the state entries the batch wrote are written back (final value per key),
 *             then its timer registrations and deletions are applied in call order, then
 *             its outputs are emitted in order, each with its entry's timestamp
 *   held      a key whose final values the program says it keeps (small, immutable ones)
 *             is not read for its next batch (reading it again each batch was most of
 *             what prefetching cost). A failed batch, a new generation of key numbers,
 *             or a program that says the host may have been changed behind its back
 *             makes everything read again; a state with a TTL is read for every batch
 *             (its values expire on the host)
 *   deferred  a held key's writes may stay with the program (writing them back after
 *             each batch cost a sandboxed keyed job ~6 % of its rate): the batcher takes them
 *             into the backend before anything reads it (a barrier, finish, a state
 *             inspection: syncState), before key numbers start over or holds are
 *             dropped, and at least once a second of processing time, so that the
 *             state-size limit sees new keys
 *
 * Per record, the function sees what it sees when called directly: its key, its
 * timestamp, the current watermark (constant within a batch: watermarks run batches
 * first), its own and earlier records' state writes. Processing time is read once per
 * batch. A failing entry is reported with its key (set as the backend's current key) and
 * its record (BatchRecordError), so the task names those, not the record it was handling.
 */
import { NO_TIMESTAMP, type Key } from '../api/elements.js';
import {
  BatchRecordError,
  ENTRY_ELEMENT,
  ENTRY_EVENT_TIMER,
  ProcessBatchError,
  TIMER_DELETE_EVENT,
  TIMER_DELETE_PROCESSING,
  TIMER_REGISTER_EVENT,
  TIMER_REGISTER_PROCESSING,
  type ProcessBatch,
  type ProcessBatchResult,
  type ProcessProgram,
  type ProcessProgramHost,
  type ProcessProgramSpec,
} from '../api/functions.js';
import { runBatch } from '../api/context.js';
import type { InternalTimerService, OperatorContext } from '../api/operator.js';
import type { Output } from '../api/output.js';
import { VOID_NAMESPACE, type KeyedStateBackend, type StateDescriptor, type ValueState } from '../api/state.js';
import type { ProcessFunctionContext, StateHandle } from './context.js';

/**
 * Entries a batch collects before it runs. Each call into an isolate has a cost of its own
 * (argument copies; the first call after the host's own work is slower still), which a
 * bigger batch spreads thinner. On the keyed benchmark's sandboxed side, 2048 against 1024
 * gave medians 2 % and 9 % higher in two runs of six alternating pairs; 4096 was slower.
 */
const BATCH_SIZE = 2048;
/** Keys the dictionary holds before it starts over (a new generation). */
const MAX_KEY_IDS = 65_536;
/** Processing time between takes of the writes a program keeps back, at most (ms). */
const TAKE_INTERVAL_MS = 1000;

/** State methods the program may call on the host (the public methods of the state handles). */
const STATE_METHODS = new Set(['value', 'update', 'clear', 'get', 'add', 'addAll', 'put', 'remove', 'contains', 'entries', 'keys', 'values', 'isEmpty']);

/**
 * Value states are prefetched per batch, except those whose TTL is refreshed on every read:
 * reading them for a key the function then leaves alone would extend their life.
 */
export function programSpec(type: string, descriptors: readonly StateDescriptor[], sideOutputs: readonly string[]): ProcessProgramSpec {
  const prefetch = (d: StateDescriptor) => d.kind === 'value' && d.ttl?.update !== 'on-read-and-write';
  return {
    type,
    states: descriptors.map((d) => ({ name: d.name, kind: d.kind, prefetch: prefetch(d) })),
    sideOutputs: [...sideOutputs],
    holdable: descriptors.every((d) => !prefetch(d) || d.ttl === undefined),
  };
}

/** A batch's columns of numbers, BATCH_SIZE long: filled from the start. */
interface EntryColumns {
  readonly kinds: Uint8Array;
  readonly timestamps: Float64Array;
  readonly keyIndex: Int32Array;
  /** Per key of the batch (there are at most as many as entries): ProcessBatch.held. */
  readonly held: Uint8Array;
}

function entryColumns(): EntryColumns {
  return { kinds: new Uint8Array(BATCH_SIZE), timestamps: new Float64Array(BATCH_SIZE), keyIndex: new Int32Array(BATCH_SIZE), held: new Uint8Array(BATCH_SIZE) };
}

export class ProcessBatcher implements ProcessProgramHost {
  /**
   * The batch being filled: its entries' numbers in columns of fixed length (arrays grown
   * by push cost more than the rest of adding an entry), and their records. A batch
   * that ran leaves its columns for a later one (spare).
   */
  private size = 0;
  private columns = entryColumns();
  private spare: EntryColumns | undefined;
  private values: unknown[] = [];
  private keys: Key[] = [];
  private keyIds: number[] = [];
  /**
   * Keys by number, across batches (ProcessBatch.dictionary): finding a key's place in the
   * batch takes one lookup in a map that is already there, not one in a map built anew
   * for each batch, and a program sends each key over once. For each number, the batch
   * it was last added to (batchNumber) and its place in that batch's keys.
   */
  private dictionary: Key[] = [];
  private generation = 0;
  private ids = new Map<Key, number>();
  private seenIn = new Int32Array(1024);
  private placeIn = new Int32Array(1024);
  /**
   * For each number, 1 while the program holds the key's prefetched values (it said so
   * after the last batch the key was in): they are not read for its next batch. Reset
   * when the numbers start over, when a batch fails, and when the program says what it
   * holds may be stale.
   */
  private held = new Uint8Array(1024);
  private batchNumber = 1;
  /** The batch being run, for stateCall. */
  private running: ProcessBatch | undefined;
  /**
   * While the program keeps writes back (ProcessBatchResult.deferred): the dictionary
   * their key numbers belong to, and when they were last taken (processing time).
   */
  private deferredKeys: readonly unknown[] | undefined;
  private lastTake = Number.NEGATIVE_INFINITY;
  private prefetchHandles: ValueState<unknown>[] = [];
  private backend!: KeyedStateBackend;
  private timers!: InternalTimerService;
  private output!: Output<unknown>;
  private op!: OperatorContext;

  constructor(
    private readonly program: ProcessProgram,
    private readonly spec: ProcessProgramSpec,
    private readonly context: ProcessFunctionContext,
    private readonly watermark: () => number,
  ) {}

  bind(op: OperatorContext, output: Output<unknown>, backend: KeyedStateBackend, timers: InternalTimerService): void {
    this.op = op;
    this.output = output;
    this.backend = backend;
    this.timers = timers;
    this.prefetchHandles = this.spec.states.filter((s) => s.prefetch).map((s) => this.context.state(s.name) as ValueState<unknown>);
  }

  open(): void {
    this.program.open(this);
  }

  /** Whether the function has an onTimer hook (timers of one without are not sent over). */
  get hasOnTimer(): boolean {
    const hooks = this.program.hooks as Record<string, unknown> | null;
    return typeof hooks?.['onTimer'] === 'function';
  }

  addElement(value: unknown, timestamp: number): void {
    this.add(ENTRY_ELEMENT, value, timestamp, this.backend.getCurrentKey());
    if (this.size >= BATCH_SIZE) this.flush();
  }

  /** A timer of the backend's current key fired: what was buffered runs first. */
  runTimer(kind: number, timestamp: number): void {
    this.flush();
    this.add(kind, undefined, timestamp, this.backend.getCurrentKey());
    this.flush();
  }

  private add(kind: number, value: unknown, timestamp: number, key: Key): void {
    let id = this.ids.get(key);
    if (id === undefined) id = this.number(key);
    let position: number;
    if (this.seenIn[id] === this.batchNumber) {
      position = this.placeIn[id] as number;
    } else {
      position = this.keys.length;
      this.seenIn[id] = this.batchNumber;
      this.placeIn[id] = position;
      this.keys.push(key);
      this.keyIds.push(id);
    }
    const columns = this.columns;
    const at = this.size++;
    columns.kinds[at] = kind;
    columns.timestamps[at] = timestamp;
    columns.keyIndex[at] = position;
    this.values.push(value);
  }

  /** A key's number in the dictionary, new. */
  private number(key: Key): number {
    const id = this.dictionary.length;
    if (id === this.seenIn.length) {
      const seenIn = new Int32Array(2 * id);
      seenIn.set(this.seenIn);
      this.seenIn = seenIn;
      const placeIn = new Int32Array(2 * id);
      placeIn.set(this.placeIn);
      this.placeIn = placeIn;
      const held = new Uint8Array(2 * id);
      held.set(this.held);
      this.held = held;
    }
    this.dictionary.push(key);
    this.ids.set(key, id);
    return id;
  }

  flush(): void {
    if (this.size === 0) return;
    runBatch(this.op, this.runBuffered);
  }

  private readonly runBuffered = (): void => {
    const backend = this.backend;
    const keys = this.keys;
    const keyIds = this.keyIds;
    const columns = this.columns;
    const handles = this.prefetchHandles;
    const prefetched: unknown[][] = handles.map(() => []);
    const heldById = this.held;
    const held = columns.held;
    for (let k = 0; k < keys.length; k++) {
      if (heldById[keyIds[k] as number] === 1) {
        held[k] = 1;
        continue;
      }
      held[k] = 0;
      if (handles.length === 0) continue;
      backend.setCurrentKey(keys[k] as Key);
      for (let s = 0; s < handles.length; s++) (prefetched[s] as unknown[]).push((handles[s] as ValueState<unknown>).value());
    }
    const batch: ProcessBatch = {
      size: this.size,
      kinds: columns.kinds,
      values: this.values,
      timestamps: columns.timestamps,
      keyIndex: columns.keyIndex,
      keys,
      keyIds,
      dictionary: { generation: this.generation, keys: this.dictionary },
      prefetched,
      held,
      watermark: this.watermark(),
      processingTime: this.op.processingTime.now(),
    };
    // A batch that runs while this one does (none should) gets columns of its own.
    this.columns = this.spare ?? entryColumns();
    this.spare = undefined;
    this.size = 0;
    this.values = [];
    this.keys = [];
    this.keyIds = [];
    if (++this.batchNumber === 0x7fffffff) {
      this.seenIn.fill(0);
      this.batchNumber = 1;
    }
    // The batch keeps the list it was given; numbers from the next batch on are new ones.
    if (this.dictionary.length >= MAX_KEY_IDS) {
      this.dictionary = [];
      this.ids = new Map();
      this.generation++;
      this.held.fill(0);
    }
    // Calls the program makes back into the host belong to an element or timer.
    this.context.enterElement(NO_TIMESTAMP);
    this.running = batch;
    let result: ProcessBatchResult;
    try {
      result = this.program.run(batch, this);
    } catch (error) {
      // The program may have kept values this batch was to write: trust none.
      this.held.fill(0);
      if (!(error instanceof ProcessBatchError)) throw error;
      const entry = error.entry;
      const key = keys[batch.keyIndex[entry] as number];
      if (key !== undefined) backend.setCurrentKey(key);
      throw new BatchRecordError(error.message, batch.kinds[entry] === ENTRY_ELEMENT ? batch.values[entry] : undefined);
    } finally {
      this.running = undefined;
    }
    try {
      this.apply(batch, result);
    } catch (error) {
      this.held.fill(0);
      throw error;
    }
    if (result.deferred === true) this.deferredKeys = batch.dictionary.keys;
    // Its numbers are of an older generation than the next batch's, or the program's
    // holds are dropped (stale): what it kept back is taken now.
    if (batch.dictionary.generation !== this.generation || result.stale === true || batch.processingTime - this.lastTake >= TAKE_INTERVAL_MS) this.takeWrites();
    this.hold(batch, result);
    this.spare = columns;
  };

  /** Writes the program kept back (ProcessBatchResult.deferred) into the backend. */
  takeWrites(): void {
    const keys = this.deferredKeys;
    if (keys === undefined) return;
    this.lastTake = this.op.processingTime.now();
    const taken = this.program.takeWrites?.();
    this.deferredKeys = undefined;
    if (taken === undefined) throw new Error('internal: a process program kept writes back and cannot hand them over');
    this.write(taken.writes, taken.updateValues, keys);
  }

  /** What the program holds after a batch (ProcessBatchResult.holds), for the next ones. */
  private hold(batch: ProcessBatch, result: ProcessBatchResult): void {
    if (result.stale === true) {
      this.held.fill(0);
      return;
    }
    const holds = result.holds;
    // Numbers of an earlier generation are not this one's.
    if (!this.spec.holdable || holds === undefined || batch.dictionary.generation !== this.generation) return;
    const keyIds = batch.keyIds;
    for (let k = 0; k < keyIds.length; k++) this.held[keyIds[k] as number] = holds[k] === 1 ? 1 : 0;
  }

  /** [state, key, cleared] triples and the updates' values into the backend; `keys` by the triples' key field. */
  private write(writes: ArrayLike<number>, values: ArrayLike<unknown>, keys: readonly unknown[]): void {
    const backend = this.backend;
    for (let w = 0, v = 0; w < writes.length; w += 3) {
      const handle = this.prefetchHandles[writes[w] as number];
      const key = keys[writes[w + 1] as number];
      if (!handle || key === undefined) throw new Error('internal: a process batch wrote a state or key it was not given');
      backend.setCurrentKey(key as Key);
      if (writes[w + 2] === 1) handle.clear();
      else handle.update(values[v++]);
    }
  }

  private apply(batch: ProcessBatch, result: ProcessBatchResult): void {
    const backend = this.backend;
    const keys = batch.keys;
    this.write(result.writes, result.updateValues, keys);
    const timers = result.timers;
    for (let t = 0; t < timers.length; t += 3) {
      const key = keys[batch.keyIndex[timers[t + 1] as number] as number];
      if (key === undefined) throw new Error('internal: a process batch registered a timer for an entry it was not given');
      backend.setCurrentKey(key as Key);
      const time = timers[t + 2] as number;
      if (!Number.isFinite(time)) throw new Error('internal: a process batch registered a timer without a finite time');
      switch (timers[t]) {
        case TIMER_REGISTER_EVENT:
          this.timers.registerEventTimeTimer(VOID_NAMESPACE, time);
          break;
        case TIMER_DELETE_EVENT:
          this.timers.deleteEventTimeTimer(VOID_NAMESPACE, time);
          break;
        case TIMER_REGISTER_PROCESSING:
          this.timers.registerProcessingTimeTimer(VOID_NAMESPACE, time);
          break;
        case TIMER_DELETE_PROCESSING:
          this.timers.deleteProcessingTimeTimer(VOID_NAMESPACE, time);
          break;
        default:
          throw new Error('internal: unknown timer operation from a process batch');
      }
    }
    const output = this.output;
    const { outputs, outputEntry, outputTag } = result;
    for (let o = 0; o < outputs.length; o++) {
      const entry = outputEntry[o] as number;
      const kind = batch.kinds[entry];
      // As the direct path: results of a processing-time timer carry no timestamp.
      const timestamp = kind === ENTRY_ELEMENT || kind === ENTRY_EVENT_TIMER ? (batch.timestamps[entry] as number) : NO_TIMESTAMP;
      const tag = outputTag[o] as number;
      if (tag < 0) output.collect(outputs[o], timestamp);
      else output.collectSide(this.spec.sideOutputs[tag] as string, outputs[o], timestamp);
    }
  }

  /** ProcessProgramHost: a state that is not prefetched, for the key of an entry of the running batch. */
  stateCall(entry: number, name: string, method: string, args: unknown[]): unknown {
    const batch = this.running;
    if (entry >= 0) {
      const key = batch ? batch.keys[batch.keyIndex[entry] as number] : undefined;
      if (key === undefined) throw new Error('internal: a state call for an entry outside the running batch');
      this.backend.setCurrentKey(key as Key);
    }
    // The context names undeclared states (and says which are declared) as on the direct path.
    const handle = this.context.state(name) as StateHandle & Record<string, unknown>;
    const f = handle[method];
    if (!STATE_METHODS.has(method) || typeof f !== 'function') throw new TypeError(`state '${name}' has no method ${method}()`);
    return (f as (...a: unknown[]) => unknown).apply(handle, args);
  }
}
