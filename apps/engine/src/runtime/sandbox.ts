/**
 * Sandboxed user functions (hosted mode).
 *
 * User code runs in a V8 isolate of its own (isolated-vm): no `require`, `process`,
 * file system, sockets, timers or engine objects exist there, and its heap is bounded.
 * Each job gets one isolate per task-manager slot (its memory limit is the job's
 * budget on that slot; a memory bomb disposes that isolate only, so only that job
 * fails). Each subtask gets its own context in it (its own globals and prototypes).
 *
 * No object is shared across the boundary; batches' columns cross through two areas of
 * shared memory that only the bootstrap holds (shared-columns.ts). Three ways in:
 *
 *   batch   map / filter / flat-map: the operator buffers records and hands over a
 *           batch; records travel as columns when they share one flat shape
 *           (flat-records.ts), else as msgpack bytes (the channels' format); the isolate
 *           runs the function per record with ctx.timestamp set per record, and
 *           returns records the same way (map, flat-map) or keep flags (filter).
 *           Consecutive ones of a chain are fused (fuse, fusion.ts): one call for all of
 *           them, through a loop generated for their kinds.
 *   program keyed-process functions (loadProcess): a batch of records and timers with
 *           the value states of its keys; state writes, timers and outputs come back
 *           with it (process-batcher.ts in @sluice/operators has the host side).
 *   call    everything else (process functions, triggers, aggregates, joins, key
 *           selectors): one call per invocation; plain data is copied. Context
 *           objects (ctx, out, state handles, timerService) are passed as handles:
 *           the isolate sees a stand-in whose methods call back into the host, and
 *           whose data fields (ctx.timestamp, ctx.key) are refreshed on every call.
 *           Only members in MEMBERS are visible: engine internals behind a context
 *           (backend, operator, output) stay out of reach whatever user code asks.
 *
 * Every call into the isolate has a time limit (a batch counts as one call); an endless
 * loop ends with a SandboxError that the task attributes to job, operator and subtask.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  BatchRecordError,
  ProcessBatchError,
  type BatchFunction,
  type BatchKind,
  type BatchResult,
  type FunctionContext,
  type FusedBatchResult,
  type Logger,
  type ProcessBatch,
  type ProcessBatchResult,
  type ProcessProgram,
  type ProcessProgramHost,
  type ProcessProgramSpec,
} from '@sluice/operators';
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { FLAT_CODEC_SOURCE, flatCodec, type FlatBatch, type FlatWriter } from './flat-records.js';
import { SharedColumns } from './shared-columns.js';

/**
 * The part of isolated-vm's API the sandbox uses, declared here rather than imported:
 * the package is an optional dependency (see loadIvm), so the engine must type-check
 * where it could not be installed.
 */
interface IvmIsolate {
  readonly isDisposed: boolean;
  /** CPU time this isolate has used, in nanoseconds. */
  readonly cpuTime: bigint;
  createContextSync(): IvmContext;
  getHeapStatisticsSync(): { used_heap_size: number; externally_allocated_size: number };
  dispose(): void;
}
interface IvmContext {
  readonly global: IvmReference;
  evalSync(code: string, options?: { reference?: boolean }): unknown;
  release(): void;
}
interface IvmTransferOptions {
  readonly timeout?: number;
  readonly arguments?: { readonly copy?: boolean };
  readonly result?: { readonly copy?: boolean; readonly reference?: boolean };
}
interface IvmReference {
  applySync(receiver: unknown, args: unknown[], options?: IvmTransferOptions): unknown;
  getSync(name: string, options?: { reference?: boolean }): IvmReference;
  derefInto(): unknown;
}
interface IvmExternalCopy {
  copyInto(options?: { release?: boolean }): unknown;
}
interface Ivm {
  readonly Isolate: new (options: { memoryLimit: number }) => IvmIsolate;
  readonly Reference: new (value: unknown) => IvmReference;
  readonly ExternalCopy: new (value: ArrayBufferLike, options?: { transferOut?: boolean }) => IvmExternalCopy;
}

/** How user code runs: an engine-wide setting, fixed when the task manager starts. */
export interface UserCodeSettings {
  /**
   * 'trusted': in the engine's own threads, at full speed; for local, single-user use.
   * 'sandboxed': in a V8 isolate per job (the hosted default).
   * 'process': in the job's own process, confined by Node's permission model and Linux
   * namespaces (ProcessTaskManager); records never cross a boundary.
   */
  readonly mode: 'trusted' | 'sandboxed' | 'process';
  /**
   * Longest one call into user code may run (one batch of records, or one hook call), in ms.
   * Default 1000. In 'process' mode, how long a slot of the job's process may go without
   * answering a heartbeat (at least 5000 ms).
   */
  readonly cpuMsPerCall?: number | undefined;
  /**
   * Heap of one job's isolate on one slot, in MB. Default 128. In 'process' mode, the
   * resident memory of the job's whole process (default 1024).
   */
  readonly memoryMbPerJob?: number | undefined;
  /** Largest msgpack size of a record a user function may emit, in bytes. Default 1 MiB; TaskManagerOptions.maxRecordBytes sets it. */
  readonly maxRecordBytes?: number | undefined;
}

export const DEFAULT_CPU_MS_PER_CALL = 1000;
export const DEFAULT_MEMORY_MB_PER_JOB = 128;
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

/** User code broke a sandbox limit or rule; the message says which and what to do. */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';
}

/**
 * isolated-vm builds per Node ABI, and no one version covers every Node the engine runs on:
 * 5.0.4 builds from source on Node 20 only; 6.x needs Node 22+ and ships prebuilt binaries
 * for Node 22 and 24 (ABI 127 and 137). Both are optional dependencies (the second under
 * the alias isolated-vm-6), so `npm install` succeeds everywhere and npm skips the one whose
 * `engines` does not match (or whose build fails); the first that loads is used.
 */
const IVM_PACKAGES = ['isolated-vm', 'isolated-vm-6'] as const;

type IvmLoad = { readonly ok: true; readonly ivm: Ivm; readonly from: string } | { readonly ok: false; readonly error: string };
let ivmLoad: IvmLoad | undefined;

function tryLoadIvm(): IvmLoad {
  if (ivmLoad) return ivmLoad;
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  for (const name of IVM_PACKAGES) {
    try {
      const ivm = require(name) as Ivm;
      return (ivmLoad = { ok: true, ivm, from: name });
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
      reasons.push(`${name}: ${message}`);
    }
  }
  return (ivmLoad = {
    ok: false,
    error:
      `sandboxed user code needs the isolated-vm package (5.0.4 on Node 20, 6.x on Node 22 and 24), which could not be loaded on Node ${process.versions.node} (${reasons.join('; ')}); ` +
      'reinstall with `npm install` on this Node version, or run user code trusted (sluice serve --trusted, userCode.mode \'trusted\') only where every job\'s author is trusted',
  });
}

/** Whether sandboxed user code can run here; when not, why (the message says what to do). */
export function sandboxAvailability(): { readonly available: true; readonly from: string } | { readonly available: false; readonly reason: string } {
  const load = tryLoadIvm();
  return load.ok ? { available: true, from: load.from } : { available: false, reason: load.error };
}

function loadIvm(): Ivm {
  const load = tryLoadIvm();
  if (!load.ok) throw new SandboxError(load.error);
  return load.ivm;
}

let msgpackrSource: string | undefined;
/** msgpackr's browser build, evaluated inside each context so records cross as bytes. */
function msgpackrScript(): string {
  if (msgpackrSource === undefined) {
    const require = createRequire(import.meta.url);
    // The package's main file lives in its dist/ folder, beside the browser build.
    msgpackrSource = readFileSync(join(dirname(require.resolve('msgpackr')), 'index.js'), 'utf8');
  }
  return msgpackrSource;
}

/**
 * Public members of the context objects user code receives (see the code kinds in
 * @sluice/graph-model). Anything else on a host object (private fields such as the
 * state backend or the operator's output) does not exist for the isolate.
 */
const MEMBERS = new Set([
  // function and process contexts
  'timestamp', 'timeDomain', 'key', 'nodeId', 'subtaskIndex', 'parallelism', 'attemptNumber',
  'collect', 'output', 'state', 'broadcastState', 'applyToKeyedState', 'timerService',
  // timers (process and trigger contexts)
  'registerEventTimeTimer', 'deleteEventTimeTimer', 'registerProcessingTimeTimer', 'deleteProcessingTimeTimer', 'currentWatermark', 'currentProcessingTime',
  'getValue', 'setValue',
  // state handles, broadcast state
  'value', 'update', 'clear', 'get', 'add', 'addAll', 'put', 'remove', 'contains', 'entries', 'keys', 'values', 'isEmpty',
  // windows, patterns
  'start', 'end', 'maxTimestamp', 'events',
]);

/** What the isolate gets to build a stand-in: [handle id, member kinds or undefined when known, data fields]. */
type HandleDescriptor = [number, Record<string, 'f' | 'o'> | undefined, Record<string, unknown>];

interface HostShape {
  readonly id: number;
  readonly functions: string[];
  readonly objects: string[];
  readonly data: string[];
  described: boolean;
}

const SANDBOX_BOOTSTRAP = String.raw`(function (hostCall, hostGet, hostState, hostLog, logLimit, msgpackr) {
  'use strict';
  const COPY = { arguments: { copy: true }, result: { copy: true } };
  const apply = Function.prototype.apply;
  // Captured before user code runs: user code may replace the globals of its context.
  const setPrototypeOf = Object.setPrototypeOf;
  const freeze = Object.freeze;
  const isFinite = Number.isFinite;
  const now = Date.now;
  const programs = [];
  /** The definition (values index) whose code runs now: console lines name its operator. */
  let owner = -1;
  /** The fused run whose loop runs now: its st.s says which function (console lines name it). */
  let running;

  /**
   * console.log/info/debug/warn/error: lines go to the engine's log, at most logLimit per
   * second per subtask; what is dropped is counted and reported with the next line (and
   * when the subtask ends), so a loop cannot flood the log nor cross per line.
   */
  let logWindow = 0;
  let logLines = 0;
  let logDropped = 0;
  const MAX_LINE = 2000;
  function show(a) {
    if (typeof a === 'string') return a;
    if (a instanceof Error) return String(a.stack || a.message);
    let text;
    try { text = JSON.stringify(a); } catch (_) { text = undefined; }
    return text === undefined ? String(a) : text;
  }
  function log(level, args) {
    const t = now();
    if (t - logWindow >= 1000) { logWindow = t; logLines = 0; }
    if (logLines >= logLimit) { logDropped++; return; }
    logLines++;
    let text = '';
    try {
      for (let i = 0; i < args.length && text.length <= MAX_LINE; i++) text += (i > 0 ? ' ' : '') + show(args[i]);
    } catch (_) {
      text += '[a value that cannot be shown]';
    }
    if (text.length > MAX_LINE) text = text.slice(0, MAX_LINE) + '…';
    const dropped = logDropped;
    logDropped = 0;
    hostLog.applySync(undefined, [level, text, running === undefined ? owner : running.ids[running.st.s], dropped]);
  }
  globalThis.console = {
    log(...args) { log('info', args); },
    info(...args) { log('info', args); },
    debug(...args) { log('info', args); },
    warn(...args) { log('warn', args); },
    error(...args) { log('error', args); },
  };
  const fusedRuns = [];
  const values = [];
  const callbacks = [];
  const standIns = new Map();
  let depth = 0;
  /**
   * The results of the last map or flat-map batch, untouched since they were packed. Not a
   * filter's kept records: the filter function may have changed them, and downstream must
   * see what the host copies hold (it does when a batch is packed anew).
   */
  let lastOut;
  // Self-contained messages (no structures shared across calls): a reply the host throws
  // away (over the CPU limit) cannot leave the next one unreadable.
  const inPackr = new msgpackr.Unpackr();
  const outPackr = new msgpackr.Packr();
  // Packed output is copied out at once: one buffer serves every call instead of a new one whenever it fills.
  const RESET = msgpackr.RESET_BUFFER_MODE;
  // Batches of flat records cross as columns (flat-records.ts); one reader and one writer per direction.
  const flatCodec = (${FLAT_CODEC_SOURCE})(Function, Object.getPrototypeOf, Object.prototype, JSON.stringify);
  const flatIn = flatCodec.reader();
  const flatOut = flatCodec.writer();
  const flatWrites = flatCodec.writer();
  // Columns also cross through two areas of memory the host shares (shared-columns.ts):
  // sharedIn, written by the host before a call, and sharedOut, written here during a
  // call whose host side reads it there (so) once it returns. Columns in one cross as
  // their place, { o, l }. Only this closure holds them.
  const F64 = Float64Array;
  let sharedIn;
  let sharedOut;
  let outAt = 0;

  /** Columns the host placed in sharedIn ({ o, l }). */
  function placed(x) { return sharedIn.subarray(x.o, x.o + x.l); }

  /** Columns from the host: their place in sharedIn, else an ArrayBuffer of their own. */
  function floats(x) { return typeof x.o === 'number' ? placed(x) : new F64(x); }

  /** Room in sharedOut for a reply's next columns, when its host side reads them there. */
  function outRoom(so) { return so && sharedOut !== undefined ? sharedOut.subarray(outAt) : undefined; }

  /** size float64s for a reply: in sharedOut when they fit there (put them with putColumns). */
  function outNumbers(size, so) {
    const room = outRoom(so);
    return room !== undefined && room.length >= size ? room.subarray(0, size) : new F64(size);
  }

  /** Columns going out, onto reply r: their place in sharedOut (o, l), else themselves (f). */
  function putColumns(r, columns) {
    if (sharedOut === undefined || columns.buffer !== sharedOut.buffer) { r.f = columns; return; }
    r.o = columns.byteOffset / 8;
    r.l = columns.length;
    outAt = r.o + r.l;
  }

  /** A list's items one at a time, as FlatReader.cursor hands a flat batch's records. */
  function listCursor(list) {
    let i = 0;
    return function () { return list[i++]; };
  }

  /**
   * Records of a batch (a cursor: see FlatReader.cursor) and their timestamps. msgpack
   * (flat undefined): the records' bytes (length of them), then the timestamps (float64,
   * 8-aligned). Columns (flat = [definition, text]): the records' columns, then the timestamps.
   */
  function readBatch(bytes, n, length, flat) {
    if (flat === undefined) return [listCursor(inPackr.unpack(new Uint8Array(bytes, 0, length))), new Float64Array(bytes, (length + 7) & ~7, n)];
    const columns = floats(bytes);
    return [flatIn.cursor(flat[0], columns, flat[1], n), columns.subarray(columns.length - n)];
  }

  /**
   * A list (keys, state values) from the host: { d, f or o and l, t } columns when flat,
   * else { b } msgpack bytes; p (a Uint8Array or undefined) marks the entries that have a
   * value when only those crossed.
   */
  function readList(x, n) {
    if (x.b !== undefined) return inPackr.unpack(new Uint8Array(x.b));
    const present = x.p;
    const f = x.f !== undefined ? x.f : placed(x);
    if (present === undefined) return flatIn.decode(x.d, f, x.t, n).records;
    let count = 0;
    for (let i = 0; i < n; i++) count += present[i];
    const dense = flatIn.decode(x.d, f, x.t, count).records;
    const list = [];
    for (let i = 0, j = 0; i < n; i++) list[i] = present[i] === 1 ? dense[j++] : undefined;
    return list;
  }

  /** A list going to the host: as columns when flat, else msgpack bytes (see readList). */
  function writeList(writer, list, so) {
    const c = writer.encode(list, 0, outRoom(so));
    if (c === undefined) return { b: packBytes(list) };
    const x = { d: c.definition, t: c.text };
    putColumns(x, c.columns);
    return x;
  }

  /**
   * Records going out, with the rest of the reply (extra, copied as it is): as columns
   * (f or o and l, t, d, n) when they share a flat shape, else as msgpack bytes (b).
   */
  function writeRecords(out, extra, so) {
    const b = flatOut.encode(out, 0, outRoom(so));
    if (b !== undefined) { putColumns(extra, b.columns); extra.t = b.text; extra.d = b.definition; extra.n = out.length; return extra; }
    extra.b = packBytes(out);
    return extra;
  }

  /** msgpack bytes of a value, in an ArrayBuffer of their own. */
  function packBytes(value) {
    const packed = outPackr.pack(value, RESET);
    return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength);
  }

  function describeError(e) {
    try {
      if (e instanceof Error) return { message: String(e.message), name: String(e.name), stack: String(e.stack) };
      let text;
      try { text = JSON.stringify(e); } catch (_) { text = undefined; }
      if (text === undefined) text = String(e);
      if (text.length > 500) text = text.slice(0, 500) + '…';
      return { message: 'a non-Error value was thrown: ' + text, name: 'Error', stack: '' };
    } catch (_) {
      return { message: 'a value was thrown that cannot be shown', name: 'Error', stack: '' };
    }
  }

  /** Records are data: msgpack would quietly turn a function or a promise into something else. */
  function checkRecord(r) {
    if (typeof r === 'function') throw new TypeError('a user function returned a function; records must be data');
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') throw new TypeError('user functions must return their result, not a promise (async functions are not supported)');
    return r;
  }

  const Fn = Function;
  const ITERATOR = Symbol.iterator;
  function notIterable(r) { return new TypeError('flat-map must return an array or another iterable, got ' + typeof r); }

  /**
   * The loop of a fused run, generated for its kinds: each function's call inlined in the
   * next one's place, depth first as chained calls would go, with no recursion and no
   * dispatch on kinds per record. It counts records out per function and outputs per input
   * (for filters only: 1 if the input passed all), and keeps in st which function runs
   * (s), on what (v), at which input (i): errors and console lines name them.
   *
   * Timed (some batches, see StageShares in fusion.ts): it also adds up each function's
   * own time in ms[s]. Date.now() is all an isolate has; its whole milliseconds still add
   * up right over many calls, a call counting 1 when a millisecond begins during it, and
   * it costs far less than asking the host for the time.
   */
  function compileRun(kinds, filtersOnly, timed) {
    const ns = kinds.length;
    // Statements that start and stop stage s's clock (nothing when not timed).
    const start = (s) => (timed ? 't' + s + ' = now(); ' : '');
    const stop = (s) => (timed ? 'ms[' + s + '] += now() - t' + s + '; ' : '');
    function stage(s, v, pad) {
      if (s === ns) return pad + (filtersOnly ? 'm++;\n' : 'out[m++] = ' + v + ';\n');
      const f = 'f' + s;
      const c = 'c' + s;
      let code = pad + 'st.s = ' + s + '; st.v = ' + v + ';\n';
      if (kinds[s] === 'map') {
        code += pad + start(s) + 'const r' + s + ' = check(' + f + '(' + v + ', ctx)); ' + stop(s) + c + '++;\n' + stage(s + 1, 'r' + s, pad);
      } else if (kinds[s] === 'filter') {
        code += pad + start(s) + 'const k' + s + ' = ' + f + '(' + v + ', ctx) === true; ' + stop(s) + '\n' +
          pad + 'if (k' + s + ') {\n' + pad + '  ' + c + '++;\n' + stage(s + 1, v, pad + '  ') + pad + '}\n';
      } else {
        const r = 'r' + s;
        // The iterator's items are this function's work too: its clock runs between them.
        code += pad + start(s) + 'const ' + r + ' = ' + f + '(' + v + ', ctx);\n' +
          pad + 'if (' + r + ' !== undefined && ' + r + ' !== null) {\n' +
          pad + '  if (typeof ' + r + ' !== "object" || typeof ' + r + '[ITERATOR] !== "function") throw notIterable(' + r + ');\n' +
          pad + '  for (const x' + s + ' of ' + r + ') {\n' +
          pad + '    const y' + s + ' = check(x' + s + '); ' + stop(s) + c + '++;\n' +
          stage(s + 1, 'y' + s, pad + '    ') +
          // The iterator's next item is this function's work again.
          pad + '    st.s = ' + s + '; st.v = ' + v + '; ' + start(s) + '\n' +
          pad + '  }\n' + pad + '}\n' + (timed ? pad + stop(s) + '\n' : '');
      }
      return code;
    }
    let head = '';
    let tail = '';
    for (let s = 0; s < ns; s++) { head += 'const f' + s + ' = fs[' + s + ']; let c' + s + ' = 0;' + (timed ? ' let t' + s + ' = 0;' : '') + '\n'; tail += 'stageOut[' + s + '] = c' + s + ';\n'; }
    const src = '"use strict";\nreturn function (records, timestamps, n, fs, ctx, out, counts, stageOut, st, ms) {\n' + head +
      'let m = 0;\nlet i = 0;\ntry {\n' +
      '  for (; i < n; i++) {\n    ctx.timestamp = timestamps[i];\n    const before = m;\n    const record = records();\n' + stage(0, 'record', '    ') +
      '    counts[i] = m - before;\n  }\n} finally {\n' + tail + 'st.i = i;\n}\n};';
    return Fn('check', 'notIterable', 'ITERATOR', 'now', src)(checkRecord, notIterable, ITERATOR, now);
  }

  function standIn(d) {
    let s = standIns.get(d[0]);
    if (s === undefined) {
      const id = d[0];
      const members = d[1];
      s = {};
      for (const name of Object.keys(members)) {
        if (members[name] === 'f') {
          s[name] = function () { return callHost(id, name, arguments); };
        } else {
          let cached;
          Object.defineProperty(s, name, { enumerable: true, get() { if (cached === undefined) cached = fromHost(hostGet.applySync(undefined, [id, name], COPY)); return cached; } });
        }
      }
      standIns.set(id, s);
    }
    const data = d[2];
    for (const name of Object.keys(data)) s[name] = data[name];
    return s;
  }

  function fromHost(r) {
    if (r.e !== undefined) { const e = new Error(r.e); throw e; }
    return r.h !== undefined ? standIn(r.h) : r.v;
  }

  function callHost(id, name, args) {
    const list = [];
    const fns = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (typeof a === 'function') { fns.push([i, callbacks.length]); callbacks.push(a); list.push(null); }
      else list.push(a);
    }
    return fromHost(hostCall.applySync(undefined, [id, name, list, fns], COPY));
  }

  function decodeArgs(args, handles) {
    for (let i = 0; i < handles.length; i++) args[handles[i][0]] = standIn(handles[i][1]);
    return args;
  }

  function define(code) {
      lastOut = undefined;
      owner = values.length;
      try {
        const v = (0, eval)(code);
        const id = values.length;
        values.push(v);
        if (typeof v === 'function') return { id, shape: 'function' };
        if (typeof v === 'object' && v !== null) {
          const hooks = [];
          const data = {};
          for (const k of Object.keys(v)) {
            if (typeof v[k] === 'function') hooks.push(k); else data[k] = v[k];
          }
          return { id, shape: 'hooks', hooks, data };
        }
        return { id, shape: 'value', value: v };
      } catch (e) {
        return { error: describeError(e) };
      }
  }

  function copyArgs(args) {
    const list = [];
    for (let i = 0; i < args.length; i++) list[i] = args[i];
    return list;
  }

  const STATE_METHODS = {
    value: ['value', 'update', 'clear'],
    list: ['get', 'add', 'addAll', 'update', 'clear'],
    map: ['get', 'put', 'remove', 'contains', 'entries', 'keys', 'values', 'isEmpty', 'clear'],
    reducing: ['get', 'add', 'clear'],
    aggregating: ['get', 'add', 'clear'],
  };

  /**
   * A keyed-process function run over batches (see process-batcher.ts on the host). Its
   * context lives here: key, timestamp, outputs, timers and prefetched value states are
   * answered in the isolate; everything else (other state kinds, error messages for
   * undeclared names, members this file does not know) goes to the host's context, which
   * is the prototype of the one here.
   */
  function makeProgram(target, spec) {
    const states = new Map();
    let slots = 0;
    for (const s of spec.states) states.set(s.name, { kind: s.kind, slot: s.prefetch ? slots++ : -1 });
    const sides = new Map();
    for (let i = 0; i < spec.sideOutputs.length; i++) sides.set(spec.sideOutputs[i], i);
    const handles = new Map();
    // The batcher's key dictionary as far as it was sent (see ProcessBatch.dictionary).
    let keyById = [];
    let base = {};
    let batch;
    let entry = -1;
    let keyIndex = -1;
    const dirtyFlags = [];
    const flagsKept = [];
    const dirtyValues = [];
    // Prefetched values kept across batches (ProcessBatch.held), by key number: those of
    // keys whose every value is small and immutable (holdable). keptOk[id]: all are there.
    const holdable = spec.holdable === true;
    const keptValues = [];
    for (let s = 0; s < slots; s++) keptValues[s] = [];
    let keptOk = new Uint8Array(1024);
    // Writes kept back (ProcessBatchResult.deferred): those of the keys held after their
    // batch, per state by key number, 1 updated (to keptValues[s][id]) or 2 cleared, until
    // the host takes them (take); pendingIds lists the numbers marked in pendingMark.
    const pendingFlags = [];
    for (let s = 0; s < slots; s++) pendingFlags[s] = new Uint8Array(1024);
    let pendingMark = new Uint8Array(1024);
    let pendingIds = [];
    /** Room for key number id in the arrays by key number. */
    function room(id) {
      if (id < keptOk.length) return;
      const size = 2 * id;
      const grow = (a) => { const b = new Uint8Array(size); b.set(a); return b; };
      keptOk = grow(keptOk);
      pendingMark = grow(pendingMark);
      for (let s = 0; s < slots; s++) pendingFlags[s] = grow(pendingFlags[s]);
    }
    // Per key of the batch: its number, whether its values were kept (not sent), and
    // whether they are kept after it.
    let batchIds = new Int32Array(1024);
    let batchHeld = new Uint8Array(1024);
    let batchKeep = new Uint8Array(1024);
    function holdableValue(v) {
      const t = typeof v;
      return v === undefined || t === 'number' || t === 'boolean' || (t === 'string' && v.length <= 64);
    }
    let outs, outEntry, outTag, m, timers, tn;

    function stateCall(name, method, args) {
      return fromHost(hostState.applySync(undefined, [entry, name, method, args], COPY));
    }
    function state(name) {
      let h = handles.get(name);
      if (h !== undefined) return h;
      const s = states.get(name);
      // The host names undeclared states (and the declared ones).
      if (s === undefined) return stateCall(name, 'value', []);
      h = {};
      if (s.slot >= 0) {
        const slot = s.slot;
        // Per key of the batch: 0 as prefetched, 1 updated (value in dirtyValues), 2 cleared.
        h.value = function () {
          if (batch === undefined) return stateCall(name, 'value', []);
          const d = dirtyFlags[slot][keyIndex];
          if (d === 0) return batch.p[slot][keyIndex];
          return d === 1 ? dirtyValues[slot][keyIndex] : undefined;
        };
        h.update = function (v) {
          if (batch === undefined) return stateCall(name, 'update', [v]);
          dirtyFlags[slot][keyIndex] = 1;
          dirtyValues[slot][keyIndex] = v;
        };
        h.clear = function () {
          if (batch === undefined) return stateCall(name, 'clear', []);
          dirtyFlags[slot][keyIndex] = 2;
          dirtyValues[slot][keyIndex] = undefined;
        };
      } else {
        for (const method of STATE_METHODS[s.kind] || []) h[method] = function () { return stateCall(name, method, copyArgs(arguments)); };
      }
      freeze(h);
      handles.set(name, h);
      return h;
    }
    function timer(op, name, t) {
      // Invalid times (and any use outside a record or timer) get the host's error.
      if (batch === undefined || typeof t !== 'number' || !isFinite(t)) { base.timerService[name](t); return; }
      timers[tn++] = op; timers[tn++] = entry; timers[tn++] = t;
    }
    const timerService = freeze({
      registerEventTimeTimer(t) { timer(0, 'registerEventTimeTimer', t); },
      deleteEventTimeTimer(t) { timer(1, 'deleteEventTimeTimer', t); },
      registerProcessingTimeTimer(t) { timer(2, 'registerProcessingTimeTimer', t); },
      deleteProcessingTimeTimer(t) { timer(3, 'deleteProcessingTimeTimer', t); },
      currentWatermark() { return batch === undefined ? base.timerService.currentWatermark() : batch.w; },
      currentProcessingTime() { return batch === undefined ? base.timerService.currentProcessingTime() : batch.n; },
    });
    const ctx = {
      timestamp: -Infinity,
      key: undefined,
      timeDomain: undefined,
      timerService,
      state,
      collect(r) {
        if (batch === undefined) return base.collect(r);
        outs[m] = checkRecord(r); outEntry[m] = entry; outTag[m] = -1; m++;
      },
      output(tag, r) {
        const side = sides.get(tag);
        if (batch === undefined || side === undefined) return base.output(tag, r);
        outs[m] = checkRecord(r); outEntry[m] = entry; outTag[m] = side; m++;
      },
    };
    const openCtx = { state };

    return {
      open(b) {
        base = b;
        setPrototypeOf(openCtx, base);
        if (typeof target.open !== 'function') return undefined;
        return apply.call(target.open, target, [openCtx]);
      },
      /**
       * A batch: nums holds (after the records' columns when flat = [definition, text])
       * timestamps, kinds and key indexes, n each, then the numbers of the batch's keys in
       * the key dictionary; recordBytes the records' msgpack when not flat; keyList the
       * dictionary's keys from number s on (a list, x, of n; r: it starts over);
       * prefetched (one per prefetched state) are lists (readList); meta [n, watermark,
       * processing time, records, keys]. Records are those of the element entries, in order.
       */
      run(nums, flat, recordBytes, keyList, prefetched, meta, b, so) {
        base = b;
        setPrototypeOf(ctx, base);
        const n = meta[0];
        const nKeys = meta[4];
        if (so) outAt = 0;
        const f = floats(nums);
        const records = flat === undefined ? listCursor(inPackr.unpack(new Uint8Array(recordBytes))) : flatIn.cursor(flat[0], f, flat[1], meta[3]);
        const at = f.length - 3 * n - nKeys;
        if (keyList.r) {
          // The host takes what was kept back before it numbers keys anew.
          if (pendingIds.length > 0) return { error: { message: 'internal: writes kept back across a new key generation', name: 'Error', stack: '' } };
          keyById = [];
          keptOk.fill(0);
        }
        if (keyList.n > 0) {
          const added = readList(keyList.x, keyList.n);
          for (let i = 0; i < keyList.n; i++) keyById[keyList.s + i] = added[i];
        }
        if (batchIds.length < nKeys) { batchIds = new Int32Array(nKeys); batchHeld = new Uint8Array(nKeys); batchKeep = new Uint8Array(nKeys); }
        const keys = [];
        // A kept key's number comes as -1 - number.
        let fetched = 0;
        for (let k = 0, ids = at + 3 * n; k < nKeys; k++) {
          let id = f[ids + k];
          if (id < 0) { id = -1 - id; batchHeld[k] = 1; } else { batchHeld[k] = 0; fetched++; }
          batchIds[k] = id;
          keys[k] = keyById[id];
        }
        const p = [];
        for (let s = 0; s < slots; s++) {
          const got = fetched === 0 ? [] : readList(prefetched[s], fetched);
          if (fetched === nKeys) { p[s] = got; continue; }
          const kept = keptValues[s];
          const list = [];
          for (let k = 0, j = 0; k < nKeys; k++) {
            if (batchHeld[k] === 0) { list[k] = got[j++]; continue; }
            const id = batchIds[k];
            if (keptOk[id] !== 1) return { error: { message: 'internal: a kept state value is missing', name: 'Error', stack: '' } };
            list[k] = kept[id];
          }
          p[s] = list;
        }
        // Flags are kept from batch to batch: a typed array made in here costs the isolate's
        // allocator more than clearing one.
        for (let s = 0; s < slots; s++) {
          let flags = flagsKept[s];
          if (flags === undefined || flags.length < nKeys) flags = flagsKept[s] = new Uint8Array(Math.max(nKeys, 1024));
          else flags.fill(0, 0, nKeys);
          dirtyFlags[s] = flags;
          dirtyValues[s] = [];
        }
        outs = []; outEntry = []; outTag = []; m = 0; timers = []; tn = 0;
        batch = { p, w: meta[1], n: meta[2] };
        let e = 0;
        try {
          for (; e < n; e++) {
            entry = e;
            keyIndex = f[at + 2 * n + e];
            const t = f[at + e];
            ctx.timestamp = t;
            ctx.key = keys[keyIndex];
            const kind = f[at + n + e];
            let r;
            if (kind === 0) {
              ctx.timeDomain = undefined;
              r = target.processElement(records(), ctx);
            } else {
              ctx.timeDomain = kind === 1 ? 'event-time' : 'processing-time';
              r = target.onTimer(t, ctx);
            }
            if (r !== null && typeof r === 'object' && typeof r.then === 'function') throw new TypeError('user functions must return their result, not a promise (async functions are not supported)');
          }
          entry = -1;
          // Per key: whether the program keeps its values now (holdable programs, every
          // value small and immutable). A kept key's writes are kept back with them; the
          // others' go out now, with any of theirs that an earlier batch kept back.
          let writes = 0;
          for (let k = 0; k < nKeys; k++) {
            const id = batchIds[k];
            let ok = 0;
            if (holdable) {
              room(id);
              ok = 1;
              for (let s = 0; s < slots; s++) {
                const d = dirtyFlags[s][k];
                const v = d === 0 ? p[s][k] : d === 1 ? dirtyValues[s][k] : undefined;
                if (holdableValue(v)) keptValues[s][id] = v;
                else ok = 0;
              }
              keptOk[id] = ok;
            }
            batchKeep[k] = ok;
            for (let s = 0; s < slots; s++) {
              const d = dirtyFlags[s][k];
              if (ok === 1) {
                if (d === 0) continue;
                pendingFlags[s][id] = d;
                if (pendingMark[id] === 0) { pendingMark[id] = 1; pendingIds[pendingIds.length] = id; }
              } else if (d !== 0 || (holdable && pendingFlags[s][id] !== 0)) {
                writes++;
              }
            }
          }
          // Timers, then entries, tags, writes and what is kept (per key) as int32s, in one column (outNumbers).
          const ints = 2 * m + 3 * writes + (holdable ? nKeys : 0);
          const column = outNumbers(tn + ((ints + 1) >> 1), so);
          const placedColumn = {};
          putColumns(placedColumn, column);
          const timerList = column.subarray(0, tn);
          for (let i = 0; i < tn; i++) timerList[i] = timers[i];
          const int32 = new Int32Array(column.buffer, column.byteOffset + 8 * tn, ints);
          for (let o = 0; o < m; o++) { int32[o] = outEntry[o]; int32[m + o] = outTag[o]; }
          const w = int32.subarray(2 * m);
          const x = [];
          let wn = 0;
          let xn = 0;
          for (let k = 0; k < nKeys; k++) {
            if (batchKeep[k] === 1) continue;
            const id = batchIds[k];
            for (let s = 0; s < slots; s++) {
              let d = dirtyFlags[s][k];
              let v = dirtyValues[s][k];
              if (holdable) {
                // Unwritten here, but kept back from an earlier batch (keptValues has its value).
                if (d === 0) { d = pendingFlags[s][id]; v = keptValues[s][id]; }
                pendingFlags[s][id] = 0;
              }
              if (d === 0) continue;
              // Values of updates only: a clear has none.
              w[wn++] = s; w[wn++] = k; w[wn++] = d === 2 ? 1 : 0; if (d === 1) x[xn++] = v;
            }
          }
          if (holdable) {
            const holds = int32.subarray(2 * m + 3 * writes);
            for (let k = 0; k < nKeys; k++) holds[k] = batchKeep[k];
          }
          return writeRecords(outs, { c: placedColumn, m: tn, w: writes, h: holdable ? 1 : 0, q: pendingIds.length > 0 ? 1 : 0, x: writeList(flatWrites, x, so) }, so);
        } catch (err) {
          return { error: describeError(err), index: entry };
        } finally {
          batch = undefined; entry = -1; keyIndex = -1; outs = undefined;
          for (let s = 0; s < slots; s++) { dirtyFlags[s] = undefined; dirtyValues[s] = undefined; }
        }
      },
      /**
       * The writes kept back, forgotten here: [state, key number, cleared] triples as int32s
       * in one column, and the updates' values (x).
       */
      take(so) {
        let writes = 0;
        for (let i = 0; i < pendingIds.length; i++) for (let s = 0; s < slots; s++) if (pendingFlags[s][pendingIds[i]] !== 0) writes++;
        const column = outNumbers((3 * writes + 1) >> 1, so);
        const placedColumn = {};
        putColumns(placedColumn, column);
        const w = new Int32Array(column.buffer, column.byteOffset, 3 * writes);
        const x = [];
        let wn = 0;
        let xn = 0;
        for (let i = 0; i < pendingIds.length; i++) {
          const id = pendingIds[i];
          pendingMark[id] = 0;
          for (let s = 0; s < slots; s++) {
            const d = pendingFlags[s][id];
            if (d === 0) continue;
            pendingFlags[s][id] = 0;
            w[wn++] = s; w[wn++] = id; w[wn++] = d === 2 ? 1 : 0; if (d === 1) x[xn++] = keptValues[s][id];
          }
        }
        pendingIds = [];
        return { c: placedColumn, w: writes, x: writeList(flatWrites, x, so) };
      },
    };
  }

  return {
    define,
    defineProcess(code, spec) {
      const r = define(code);
      if (r.shape === 'hooks') programs[r.id] = makeProgram(values[r.id], spec);
      return r;
    },
    processOpen(id, b) {
      lastOut = undefined;
      owner = id;
      try {
        const r = programs[id].open(standIn(b));
        if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
          return { error: { message: 'user functions must return their result, not a promise (async functions are not supported)', name: 'TypeError', stack: '' } };
        }
        return {};
      } catch (e) {
        return { error: describeError(e) };
      }
    },
    processRun(id, nums, flat, recordBytes, keys, prefetched, meta, b, so) {
      lastOut = undefined;
      owner = id;
      return programs[id].run(nums, flat, recordBytes, keys, prefetched, meta, standIn(b), so);
    },
    processTake(id, so) {
      lastOut = undefined;
      if (so) outAt = 0;
      return programs[id].take(so);
    },
    /** The host's areas for columns (see sharedIn). */
    share(toIsolate, fromIsolate) {
      sharedIn = new F64(toIsolate);
      sharedOut = new F64(fromIsolate);
    },
    call(id, hook, args, handles) {
      lastOut = undefined;
      depth++;
      const caller = owner;
      owner = id;
      try {
        const target = values[id];
        const f = hook === null ? target : target[hook];
        const result = apply.call(f, hook === null ? undefined : target, decodeArgs(args, handles));
        if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
          return { error: { message: 'user functions must return their result, not a promise (async functions are not supported)', name: 'TypeError', stack: '' } };
        }
        return { value: result };
      } catch (e) {
        return { error: describeError(e) };
      } finally {
        owner = caller;
        if (--depth === 0) callbacks.length = 0;
      }
    },
    callback(index, args, handles) {
      try {
        const result = apply.call(callbacks[index], undefined, decodeArgs(args, handles));
        return { value: result };
      } catch (e) {
        return { error: describeError(e) };
      }
    },
    forgetHandles() { standIns.clear(); },
    /** Lines dropped since the last one that went out (reported when the subtask ends). */
    takeDropped() { const n = logDropped; logDropped = 0; return n; },
    /** A fused run of defined batch functions (see fused); its id. */
    defineFused(ids, kinds, info) {
      const fs = [];
      for (let s = 0; s < ids.length; s++) fs[s] = values[ids[s]];
      const ctx = { timestamp: 0, nodeId: info.nodeId, subtaskIndex: info.subtaskIndex, parallelism: info.parallelism, attemptNumber: info.attemptNumber };
      let filtersOnly = true;
      for (let s = 0; s < kinds.length; s++) if (kinds[s] !== 'filter') filtersOnly = false;
      fusedRuns.push({ ids, fs, ctx, filtersOnly, loop: compileRun(kinds, filtersOnly, false), timedLoop: compileRun(kinds, filtersOnly, true), st: { s: 0, v: undefined, i: 0 } });
      return fusedRuns.length - 1;
    },
    /**
     * Functions of consecutive map, filter and flat-map operators of a chain, applied record
     * by record, depth first (as chained calls would): only what the last one emits crosses
     * back. Where all are filters, keep flags say which inputs passed them all. In: records
     * and timestamps (readBatch); out: { k: keep flags, s: records out per function }, or
     * the records (writeRecords) with c: outputs per input and s. Timed: ms, each
     * function's own milliseconds (compileRun).
     */
    fused(runId, bytes, n, length, flat, timed, so) {
      lastOut = undefined;
      if (so) outAt = 0;
      const run = fusedRuns[runId];
      const st = run.st;
      st.s = 0; st.v = undefined; st.i = -1;
      const stageOut = [];
      const out = [];
      const ms = timed ? new Float64Array(run.fs.length) : undefined;
      const loop = timed ? run.timedLoop : run.loop;
      let records;
      try {
        const batchIn = readBatch(bytes, n, length, flat);
        records = batchIn[0];
        running = run;
        if (run.filtersOnly) {
          const keep = new Uint8Array(n);
          loop(records, batchIn[1], n, run.fs, run.ctx, out, keep, stageOut, st, ms);
          return { k: keep, s: stageOut, ms };
        }
        const counts = new Int32Array(n);
        loop(records, batchIn[1], n, run.fs, run.ctx, out, counts, stageOut, st, ms);
        running = undefined;
        return writeRecords(out, { c: counts, s: stageOut, ms }, so);
      } catch (e) {
        let record;
        // The record the failing function got; a later function's input exists only here.
        if (st.s > 0) { try { record = JSON.stringify(st.v); } catch (_) { record = undefined; } }
        return { error: describeError(e), index: records === undefined || st.i < 0 ? -1 : st.i, stage: st.s, record };
      } finally {
        running = undefined;
      }
    },
    batch(id, kind, bytes, timestamps, info, flat, so) {
      owner = id;
      if (so) outAt = 0;
      const f = values[id];
      const ctx = { timestamp: 0, nodeId: info.nodeId, subtaskIndex: info.subtaskIndex, parallelism: info.parallelism, attemptNumber: info.attemptNumber };
      let records;
      let i = 0;
      try {
        // null: the host hands over exactly what the previous batch emitted (see lastOutputs on the host).
        // flat: [definition, text], and bytes are the records' columns (see readBatch).
        if (bytes === null) records = lastOut;
        else if (flat === undefined) records = inPackr.unpack(new Uint8Array(bytes));
        else records = flatIn.decode(flat[0], floats(bytes), flat[1], timestamps.length).records;
        lastOut = undefined;
        const n = records.length;
        if (kind === 'filter') {
          const keep = new Uint8Array(n);
          for (; i < n; i++) { ctx.timestamp = timestamps[i]; keep[i] = f(records[i], ctx) === true ? 1 : 0; }
          return { keep };
        }
        // Indexing, not push: user code may have replaced Array.prototype.push in this context.
        const out = [];
        let m = 0;
        const counts = kind === 'flat-map' ? new Int32Array(n) : undefined;
        for (; i < n; i++) {
          ctx.timestamp = timestamps[i];
          const r = f(records[i], ctx);
          if (counts === undefined) { out[m++] = checkRecord(r); continue; }
          if (r === undefined || r === null) continue;
          if (typeof r !== 'object' || typeof r[Symbol.iterator] !== 'function') throw new TypeError('flat-map must return an array or another iterable, got ' + typeof r);
          const before = m;
          for (const item of r) out[m++] = checkRecord(item);
          counts[i] = m - before;
        }
        const reply = writeRecords(out, counts === undefined ? {} : { c: counts }, so);
        lastOut = out;
        return reply;
      } catch (e) {
        return { error: describeError(e), index: records === undefined ? -1 : i };
      }
    },
  };
})`;

/** One isolate per job attempt on this slot, shared by that job's subtasks here. */
interface JobIsolate {
  readonly isolate: IvmIsolate;
  users: number;
}
const isolates = new Map<string, JobIsolate>();

interface CallReply {
  readonly value?: unknown;
  readonly error?: { message: string; name: string; stack: string };
}

/** The sandbox of one subtask: its context, the user functions defined in it, and the host objects it may reach. */
export class TaskSandbox {
  private readonly ivm: Ivm;
  private readonly jobKey: string;
  private readonly job: JobIsolate;
  private readonly context: IvmContext;
  private readonly api: {
    define: IvmReference;
    call: IvmReference;
    callback: IvmReference;
    batch: IvmReference;
    fused: IvmReference;
    defineFused: IvmReference;
    forgetHandles: IvmReference;
    takeDropped: IvmReference;
    defineProcess: IvmReference;
    processOpen: IvmReference;
    processRun: IvmReference;
    processTake: IvmReference;
    share: IvmReference;
  };
  private readonly cpuMs: number;
  /**
   * isolated-vm's timeout is wall-clock time: on a loaded machine a batch that needs little
   * CPU can still take longer than cpuMs. Calls get WALL_FACTOR × cpuMs of wall time, and
   * the CPU time the isolate really used is checked against cpuMs after each call.
   */
  private readonly wallMs: number;
  private readonly memoryMb: number;
  private readonly maxRecordBytes: number;
  /** Packs with RESET_BUFFER_MODE (its bytes are copied before the next call, so one buffer serves them all); self-contained messages, as in the isolate. */
  private readonly packr = new Packr();
  private readonly unpackr = new Packr();
  /** Batches of flat records cross as columns (flat-records.ts); these mirror the isolate's flatIn and flatOut. */
  private readonly flatOut = flatCodec().writer();
  private readonly flatIn = flatCodec().reader();
  /** Keyed batches: their keys, and their prefetched state values. */
  private readonly flatKeys = flatCodec().writer();
  private readonly flatStates = flatCodec().writer();
  /** Where batches' columns cross without being copied (shared-columns.ts). */
  private readonly shared = new SharedColumns();
  /** Host objects handed to user code, by handle id. */
  private readonly hostObjects: object[] = [];
  private shapes = new WeakMap<object, HostShape>();
  private disposed = false;
  /**
   * What the last map or flat-map batch emitted (host copies), while the isolate still holds
   * the same records as its `lastOut`: a next batch of exactly these (element by element the
   * same objects: map → filter in one chain) is handed over as null instead of bytes. Any
   * other call forgets them.
   */
  private lastOutputs: unknown[] | undefined;
  /** The operator of each definition in the isolate, by its id (console lines name it). */
  private readonly owners: Array<string | undefined> = [];
  private logWindow = 0;
  private logLines = 0;
  private logDropped = 0;
  /** Batch functions made by loadBatch: their definitions in the isolate, for fuse(). */
  private readonly batchFunctions = new WeakMap<BatchFunction, { id: number; kind: BatchKind }>();
  /** The process program running now (its open or a batch), which answers its state calls. */
  private processHost: ProcessProgramHost | undefined;
  /** Whether user code called a host object while a process batch ran (ProcessBatchResult.stale). */
  private hostTouched = false;

  constructor(
    settings: UserCodeSettings,
    jobId: string,
    attempt: number,
    private readonly where: string,
    /** Where console lines of user code go; without it they are dropped. */
    private readonly console?: { readonly log: Logger; readonly subtaskIndex: number },
  ) {
    this.ivm = loadIvm();
    this.cpuMs = settings.cpuMsPerCall ?? DEFAULT_CPU_MS_PER_CALL;
    this.wallMs = this.cpuMs * WALL_FACTOR;
    this.memoryMb = settings.memoryMbPerJob ?? DEFAULT_MEMORY_MB_PER_JOB;
    this.maxRecordBytes = settings.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.jobKey = `${jobId}/${attempt}`;
    let job = isolates.get(this.jobKey);
    if (!job || job.isolate.isDisposed) {
      job = { isolate: new this.ivm.Isolate({ memoryLimit: this.memoryMb }), users: 0 };
      isolates.set(this.jobKey, job);
    }
    job.users++;
    this.job = job;
    this.context = job.isolate.createContextSync();
    // What V8 gives every context but a stream function never needs: shared memory could
    // block the slot's thread in Atomics.wait, and WebAssembly memory lives outside the heap limit.
    this.context.evalSync('delete globalThis.SharedArrayBuffer; delete globalThis.Atomics; delete globalThis.WebAssembly;');
    this.context.evalSync(msgpackrScript());
    const boot = this.context.evalSync(SANDBOX_BOOTSTRAP, { reference: true }) as IvmReference;
    const hostCall = new this.ivm.Reference((id: number, name: string, args: unknown[], fns: Array<[number, number]>) => this.hostCall(id, name, args, fns));
    const hostGet = new this.ivm.Reference((id: number, name: string) => this.hostGet(id, name));
    const hostState = new this.ivm.Reference((entry: number, name: string, method: string, args: unknown[]) => this.hostState(entry, name, method, args));
    const msgpackr = this.context.global.getSync('msgpackr', { reference: true });
    const hostLog = new this.ivm.Reference((level: unknown, text: unknown, owner: unknown, dropped: unknown) => this.hostLog(level, text, owner, dropped));
    const api = boot.applySync(undefined, [hostCall, hostGet, hostState, hostLog, CONSOLE_LINES_PER_SECOND, msgpackr.derefInto()], { result: { reference: true } }) as IvmReference;
    this.context.evalSync('delete globalThis.msgpackr;');
    this.api = {
      define: api.getSync('define', { reference: true }),
      call: api.getSync('call', { reference: true }),
      callback: api.getSync('callback', { reference: true }),
      batch: api.getSync('batch', { reference: true }),
      fused: api.getSync('fused', { reference: true }),
      defineFused: api.getSync('defineFused', { reference: true }),
      forgetHandles: api.getSync('forgetHandles', { reference: true }),
      takeDropped: api.getSync('takeDropped', { reference: true }),
      defineProcess: api.getSync('defineProcess', { reference: true }),
      processOpen: api.getSync('processOpen', { reference: true }),
      processRun: api.getSync('processRun', { reference: true }),
      processTake: api.getSync('processTake', { reference: true }),
      share: api.getSync('share', { reference: true }),
    };
  }

  /** Evaluates compiled user code in the sandbox; returns a host function, or a hook object of host functions. */
  load(compiled: string, binding: string, nodeId?: string): unknown {
    const reply = this.define(compiled, binding, nodeId);
    const id = reply.id;
    if (reply.shape === 'function') return (...args: unknown[]) => this.call(id, null, args);
    if (reply.shape === 'hooks') {
      const hooks: Record<string, unknown> = { ...reply.data };
      for (const name of reply.hooks ?? []) hooks[name] = (...args: unknown[]) => this.call(id, name, args);
      return hooks;
    }
    return reply.value;
  }

  /** A batch version of a map, filter or flat-map function (see the batch path above). */
  loadBatch(compiled: string, binding: string, kind: BatchKind, nodeId?: string): (values: unknown[], timestamps: number[], ctx: FunctionContext) => BatchResult {
    const defined = this.define(compiled, binding, nodeId);
    if (defined.shape !== 'function') throw new SandboxError(`the ${kind} function must be a function, got ${defined.shape === 'hooks' ? 'an object' : typeof defined.value}`);
    const id = defined.id;
    const batchFunction = (values: unknown[], timestamps: number[], ctx: FunctionContext): BatchResult => this.withColumns((sharing) => {
      // A chain (map → filter → …) hands each stage exactly what the stage before it emitted:
      // the isolate still holds those records, so they need not be packed and unpacked again.
      const reuse = this.lastOutputs !== undefined && sameRecords(values, this.lastOutputs);
      this.lastOutputs = undefined;
      let bytes: unknown = null;
      let flat: unknown[] | undefined;
      if (!reuse) {
        const columns = this.encodeColumns(this.flatOut, values, 0);
        if (columns !== undefined) {
          bytes = this.shared.place(columns.columns) ?? this.transfer(columns.columns.buffer);
          flat = [columns.definition, columns.text];
        } else {
          bytes = this.transfer(this.packBytes(values));
        }
      }
      const info = { nodeId: ctx.nodeId, subtaskIndex: ctx.subtaskIndex, parallelism: ctx.parallelism, attemptNumber: ctx.attemptNumber };
      const r = this.enter(() =>
        this.api.batch.applySync(undefined, [id, kind, bytes, timestamps, info, flat, sharing], { timeout: this.wallMs, arguments: { copy: true }, result: { copy: true } }),
      ) as { keep?: unknown; error?: CallReply['error']; index?: number };
      if (r.error) {
        // The task names the record the function failed on (the host's copy of it).
        if (typeof r.index === 'number' && r.index >= 0 && r.index < values.length) throw new BatchRecordError(r.error.message, values[r.index]);
        throw new SandboxError(r.error.message);
      }
      if (kind === 'filter') {
        if (!(r.keep instanceof Uint8Array) || r.keep.length !== values.length) throw new SandboxError('the sandbox returned no keep flags (was its runtime tampered with?)');
        return { keep: r.keep };
      }
      const { outputs, reply } = this.readRecords<{ c: unknown }>(r, kind);
      if (kind === 'map') {
        if (outputs.length !== values.length) throw new SandboxError('the sandbox returned a different number of records (was its runtime tampered with?)');
        this.lastOutputs = outputs;
        return { outputs };
      }
      const counts = countsOf(reply.c, values.length);
      this.lastOutputs = outputs;
      return { outputs, counts };
    });
    this.batchFunctions.set(batchFunction, { id, kind });
    return batchFunction;
  }

  /**
   * One batch call for consecutive functions of a chain (see FusedBatch in @sluice/operators):
   * `functions` are batch functions this sandbox made (loadBatch), in chain order, with the
   * node ids of their operators. Undefined when one of them is not from this sandbox. A
   * timed call also measures each function's own time (FusedBatchResult.stageMs).
   */
  fuse(
    functions: ReadonlyArray<{ readonly fn: BatchFunction; readonly nodeId: string }>,
  ): ((values: unknown[], timestamps: number[], ctx: FunctionContext, timed: boolean) => FusedBatchResult) | undefined {
    const stages = functions.map((f) => this.batchFunctions.get(f.fn));
    if (stages.length < 2 || stages.some((s) => s === undefined)) return undefined;
    const ids = stages.map((s) => (s as { id: number }).id);
    const kinds = stages.map((s) => (s as { kind: BatchKind }).kind);
    const nodeIds = functions.map((f) => f.nodeId);
    let runId: number | undefined;
    return (values, timestamps, ctx, timed) => this.withColumns((sharing) => {
      this.lastOutputs = undefined;
      runId ??= this.enterAt(() =>
        this.api.defineFused.applySync(undefined, [ids, kinds, { nodeId: ctx.nodeId, subtaskIndex: ctx.subtaskIndex, parallelism: ctx.parallelism, attemptNumber: ctx.attemptNumber }], {
          timeout: this.wallMs,
          arguments: { copy: true },
          result: { copy: true },
        }),
      ) as number;
      const id = runId;
      // One buffer crosses: the records (columns or msgpack), then their timestamps.
      const n = values.length;
      let buffer: ArrayBufferLike;
      let times: Float64Array;
      let length = 0;
      let flat: unknown[] | undefined;
      const columns = this.encodeColumns(this.flatOut, values, n);
      if (columns !== undefined) {
        buffer = columns.columns.buffer;
        times = columns.columns.subarray(columns.columns.length - n);
        flat = [columns.definition, columns.text];
      } else {
        const packed = this.packr.pack(values, RESET_BUFFER_MODE);
        length = packed.byteLength;
        const offset = (length + 7) & ~7;
        buffer = new ArrayBuffer(offset + 8 * n);
        new Uint8Array(buffer, 0, length).set(packed);
        times = new Float64Array(buffer, offset, n);
      }
      for (let i = 0; i < n; i++) times[i] = timestamps[i] as number;
      const bytes = (columns && this.shared.place(columns.columns)) ?? this.transfer(buffer);
      const r = this.enter(() => this.api.fused.applySync(undefined, [id, bytes, n, length, flat, timed, sharing], { timeout: this.wallMs, arguments: { copy: true }, result: { copy: true } })) as {
        error?: CallReply['error'];
        index?: number;
        stage?: number;
        record?: string;
        k?: unknown;
        s?: unknown;
        ms?: unknown;
      };
      if (r.error !== undefined) {
        const message = r.error.message;
        const stage = typeof r.stage === 'number' && r.stage >= 0 && r.stage < stages.length ? r.stage : 0;
        const nodeId = nodeIds[stage];
        if (typeof r.index === 'number' && r.index >= 0 && r.index < n) {
          let record: unknown = values[r.index];
          if (stage > 0) record = typeof r.record === 'string' ? parseRecord(r.record) : undefined;
          throw new BatchRecordError(message, record, nodeId);
        }
        throw new BatchRecordError(message, undefined, nodeId);
      }
      let stageMs: Float64Array | undefined;
      if (timed) {
        if (!(r.ms instanceof Float64Array) || r.ms.length !== stages.length || !r.ms.every(Number.isFinite)) {
          throw new SandboxError('the sandbox returned no times for a timed batch (was its runtime tampered with?)');
        }
        stageMs = r.ms;
      }
      if (r.k !== undefined) {
        if (!(r.k instanceof Uint8Array) || r.k.length !== n) throw new SandboxError('the sandbox returned no keep flags (was its runtime tampered with?)');
        return { keep: r.k, stageOutputs: stageCounts(r.s, stages.length), ...(stageMs ? { stageMs } : {}) };
      }
      const { outputs, reply } = this.readRecords<{ c: unknown; s: unknown }>(r, kinds[stages.length - 1] as BatchKind);
      return { outputs, counts: countsOf(reply.c, n), stageOutputs: stageCounts(reply.s, stages.length), ...(stageMs ? { stageMs } : {}) };
    });
  }

  /**
   * A keyed-process function run over batches (the batch path of process functions): its
   * context lives in the isolate, `context` (the operator's own) answers what that one
   * passes on. See process-batcher.ts in @sluice/operators for the host side.
   */
  loadProcess(compiled: string, binding: string, spec: ProcessProgramSpec, context: object, nodeId?: string): ProcessProgram {
    this.lastOutputs = undefined;
    this.owners.push(nodeId);
    const reply = this.enterAt(() =>
      this.api.defineProcess.applySync(undefined, [`(() => { ${compiled}\nreturn ${binding}; })()`, spec], {
        timeout: this.wallMs,
        arguments: { copy: true },
        result: { copy: true },
      }),
    ) as { id?: number; shape?: 'function' | 'hooks' | 'value'; hooks?: string[]; data?: Record<string, unknown>; value?: unknown; error?: CallReply['error'] };
    if (reply.error) throw new SandboxError(reply.error.message);
    if (typeof reply.id !== 'number' || reply.shape === undefined) throw new SandboxError('the sandbox could not define the function');
    const id = reply.id;
    let hooks: unknown = reply.value;
    if (reply.shape === 'function') hooks = () => undefined;
    if (reply.shape === 'hooks') {
      const shape: Record<string, unknown> = { ...reply.data };
      for (const name of reply.hooks ?? []) shape[name] = unusable;
      hooks = shape;
    }
    const within = <T>(host: ProcessProgramHost, call: () => T): T => {
      this.lastOutputs = undefined;
      this.processHost = host;
      try {
        return this.enter(call);
      } finally {
        this.processHost = undefined;
      }
    };
    const transfer = { timeout: this.wallMs, arguments: { copy: true }, result: { copy: true } };
    // How much of the batcher's key dictionary the isolate holds (ProcessBatch.dictionary).
    let sentGeneration = -1;
    let sentKeys = 0;
    return {
      hooks,
      open: (host) => {
        const r = within(host, () => this.api.processOpen.applySync(undefined, [id, this.describe(context)], transfer)) as CallReply;
        if (r.error) throw new SandboxError(r.error.message);
      },
      run: (batch: ProcessBatch, host): ProcessBatchResult => this.withColumns((sharing) => {
        // The records of the element entries (not timers), in order: as columns when flat.
        const n = batch.size;
        const kinds = batch.kinds.subarray(0, n);
        let records = batch.values;
        if (kinds.some((k) => k !== 0)) records = batch.values.filter((_, e) => kinds[e] === 0);
        const nKeys = batch.keys.length;
        const size = 3 * n + nKeys;
        const columns = this.encodeColumns(this.flatOut, records, size);
        const nums = columns?.columns ?? this.shared.take(size);
        const at = nums.length - size;
        nums.set(batch.timestamps.subarray(0, n), at);
        nums.set(kinds, at + n);
        nums.set(batch.keyIndex.subarray(0, n), at + 2 * n);
        // A key whose values the isolate keeps (ProcessBatch.held) goes as -1 - its number.
        for (let k = 0; k < nKeys; k++) nums[at + 3 * n + k] = batch.held[k] === 1 ? -1 - (batch.keyIds[k] as number) : (batch.keyIds[k] as number);
        // The dictionary's keys the isolate was not sent yet; all of a new generation's.
        const dictionary = batch.dictionary;
        const restart = dictionary.generation !== sentGeneration;
        const from = restart ? 0 : sentKeys;
        const known = dictionary.keys.length;
        let recordBytes: unknown;
        if (!columns) {
          recordBytes = this.transfer(this.packBytes(records));
        }
        const args = [
          id,
          this.shared.place(nums) ?? this.transfer(nums.buffer),
          columns ? [columns.definition, columns.text] : undefined,
          recordBytes,
          { s: from, r: restart, n: known - from, x: known > from ? this.writeList(this.flatKeys, dictionary.keys.slice(from)) : undefined },
          batch.prefetched.map((list) => (list.length === 0 ? undefined : this.writeList(this.flatStates, list))),
          [n, batch.watermark, batch.processingTime, records.length, nKeys],
          this.describe(context),
          sharing,
        ];
        this.hostTouched = false;
        const r = within(host, () => this.api.processRun.applySync(undefined, args, transfer)) as { error?: CallReply['error']; index?: number };
        // A call that failed may not have kept them: the next one sends them again (to the same numbers).
        if (!r.error) {
          sentGeneration = dictionary.generation;
          sentKeys = known;
        }
        if (r.error) {
          if (typeof r.index === 'number' && r.index >= 0 && r.index < n) throw new ProcessBatchError(r.error.message, r.index);
          throw new SandboxError(r.error.message);
        }
        const { outputs, reply } = this.readRecords<{ c: unknown; w: unknown; h: unknown; q: unknown; x: unknown; m: unknown }>(r, 'keyed-process');
        // One column: timers (m float64s), then outputs' entries and tags and writes (int32s).
        const timerCount = reply.m;
        const writeCount = reply.w;
        const column = typeof reply.c === 'object' && reply.c !== null ? this.shared.received((reply.c as { f?: unknown }).f, reply.c) : undefined;
        const holding = reply.h === 1;
        const ints = 2 * outputs.length + 3 * (writeCount as number) + (holding ? nKeys : 0);
        if (column === undefined || !isCount(timerCount) || timerCount % 3 !== 0 || !isCount(writeCount) || column.length !== timerCount + Math.ceil(ints / 2)) {
          throw new SandboxError('the sandbox returned a malformed batch result (was its runtime tampered with?)');
        }
        // Copied out: emitting the outputs may run a chained sandboxed call, which reuses the area.
        const m = column.slice(0, timerCount);
        const int32 = new Int32Array(column.buffer, column.byteOffset + 8 * timerCount, ints).slice();
        const e = int32.subarray(0, outputs.length);
        const g = int32.subarray(outputs.length, 2 * outputs.length);
        const w = int32.subarray(2 * outputs.length, 2 * outputs.length + 3 * writeCount);
        const holds = holding ? int32.subarray(2 * outputs.length + 3 * writeCount) : undefined;
        const updateValues = this.updateValuesOf(w, reply.x);
        // User code that reached the host's context may have written the state behind the isolate's back.
        return { outputs, outputEntry: e, outputTag: g, writes: w, updateValues, timers: m, holds, deferred: holding && reply.q === 1, stale: this.hostTouched };
      }),
      takeWrites: () => this.withColumns((sharing) => {
        this.lastOutputs = undefined;
        const r = this.enter(() => this.api.processTake.applySync(undefined, [id, sharing], transfer)) as { c?: unknown; w?: unknown; x?: unknown; error?: CallReply['error'] };
        if (r.error) throw new SandboxError(r.error.message);
        const writeCount = r.w;
        const column = typeof r.c === 'object' && r.c !== null ? this.shared.received((r.c as { f?: unknown }).f, r.c) : undefined;
        if (column === undefined || !isCount(writeCount) || column.length !== Math.ceil((3 * writeCount) / 2)) {
          throw new SandboxError('the sandbox returned malformed kept-back writes (was its runtime tampered with?)');
        }
        const writes = new Int32Array(column.buffer, column.byteOffset, 3 * writeCount).slice();
        return { writes, updateValues: this.updateValuesOf(writes, r.x) };
      }),
    };
  }

  /** A state call of the running process program (ProcessProgramHost.stateCall). */
  private hostState(entry: number, name: string, method: string, args: unknown[]): { v?: unknown; h?: HandleDescriptor; e?: string } {
    const host = this.processHost;
    if (!host) return { e: 'keyed state can only be used while the function processes a record or a timer' };
    try {
      const value = host.stateCall(entry, name, method, args);
      return isHostObject(value) ? { e: `state '${name}' returned something that cannot be handed to user code` } : { v: value };
    } catch (error) {
      return { e: error instanceof Error ? error.message : String(error) };
    }
  }

  private define(compiled: string, binding: string, nodeId: string | undefined): { id: number; shape: 'function' | 'hooks' | 'value'; hooks?: string[]; data?: Record<string, unknown>; value?: unknown } {
    this.lastOutputs = undefined;
    // Definitions are numbered in order on both sides: owners[id] is the operator of definition id.
    this.owners.push(nodeId);
    const reply = this.enterAt(() =>
      this.api.define.applySync(undefined, [`(() => { ${compiled}\nreturn ${binding}; })()`], { timeout: this.wallMs, result: { copy: true } }),
    ) as { id?: number; shape?: 'function' | 'hooks' | 'value'; hooks?: string[]; data?: Record<string, unknown>; value?: unknown; error?: CallReply['error'] };
    if (reply.error) throw new SandboxError(reply.error.message);
    if (typeof reply.id !== 'number' || reply.shape === undefined) throw new SandboxError('the sandbox could not define the function');
    return { id: reply.id, shape: reply.shape, hooks: reply.hooks, data: reply.data, value: reply.value };
  }

  /**
   * A list (keys, state values) for the isolate (readList there): columns when its values
   * are numbers, strings or booleans, with `p` marking the entries that have one when
   * some are undefined (state a key does not have yet); else msgpack bytes.
   */
  private writeList(writer: FlatWriter, list: readonly unknown[]): object {
    let dense = list;
    let present: Uint8Array | undefined;
    if (list.includes(undefined)) {
      present = new Uint8Array(list.length);
      dense = [];
      for (let i = 0; i < list.length; i++) {
        if (list[i] === undefined) continue;
        present[i] = 1;
        (dense as unknown[]).push(list[i]);
      }
    }
    const c = dense.length > 0 ? this.encodeColumns(writer, dense, 0) : undefined;
    if (!c) return { b: this.packBytes(list) };
    const place = this.shared.place(c.columns);
    return place ? { d: c.definition, o: place.o, l: place.l, t: c.text, p: present } : { d: c.definition, f: c.columns, t: c.text, p: present };
  }

  /**
   * Values as columns for the isolate (see FlatWriter.encode; written into the shared area
   * when they fit there), with their text made flat (see flatten).
   */
  private encodeColumns(writer: FlatWriter, values: readonly unknown[], extra: number): FlatBatch | undefined {
    const batch = writer.encode(values, extra, this.shared.room());
    if (batch !== undefined) flatten(batch.text);
    return batch;
  }

  /** The values of the updates among [state, key, cleared] write triples (a clear has none), from the list x. */
  private updateValuesOf(writes: Int32Array, x: unknown): unknown[] {
    let updates = 0;
    for (let i = 2; i < writes.length; i += 3) if (writes[i] === 0) updates++;
    return this.readList(x, updates);
  }

  /** A list from the isolate (writeList there): n values. */
  private readList(x: unknown, n: number): unknown[] {
    const list = this.received(x, n);
    if (list === undefined || list.values.length !== n) throw new SandboxError('the sandbox returned a malformed batch result (was its runtime tampered with?)');
    return list.values;
  }

  /**
   * What the isolate sent as msgpack bytes ({ b }) or as n records in columns ({ d, f, t });
   * undefined when neither is there. `bytes` bounds the msgpack size of any one of them.
   */
  private received(x: unknown, n: unknown): { values: unknown[]; bytes: number } | undefined {
    const sent = (typeof x === 'object' && x !== null ? x : {}) as { b?: unknown; d?: unknown; f?: unknown; o?: unknown; l?: unknown; t?: unknown };
    if (sent.b instanceof ArrayBuffer) {
      const values = this.unpackr.unpack(new Uint8Array(sent.b)) as unknown;
      return Array.isArray(values) ? { values, bytes: sent.b.byteLength } : undefined;
    }
    const columns = this.shared.received(sent.f, sent);
    if (columns === undefined) return undefined;
    try {
      const batch = this.flatIn.decode(sent.d, columns, sent.t, n);
      // No record can be larger than its shape's fixed part and all of the batch's strings.
      return { values: batch.records, bytes: batch.fixedBytes + 3 * (sent.t as string).length };
    } catch (error) {
      throw new SandboxError(`the sandbox returned malformed records: ${error instanceof Error ? error.message : String(error)} (was its runtime tampered with?)`);
    }
  }

  /** msgpack bytes of a value, in an ArrayBuffer of their own (this.packr reuses its buffer). */
  private packBytes(value: unknown): ArrayBuffer {
    const packed = this.packr.pack(value, RESET_BUFFER_MODE);
    return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
  }

  /**
   * Runs a call that may pass columns through the shared areas (sharing: the isolate may
   * reply through them too); a call made while another is in flight copies them.
   */
  private withColumns<T>(call: (sharing: boolean) => T): T {
    const sharing = this.shared.begin();
    try {
      const areas = sharing ? this.shared.changed() : undefined;
      if (areas) this.enter(() => this.api.share.applySync(undefined, [...areas], { arguments: { copy: true } }));
      return call(sharing);
    } finally {
      this.shared.end();
    }
  }

  /** An ArrayBuffer moved (not copied) into the isolate. */
  private transfer(buffer: ArrayBufferLike): unknown {
    return new this.ivm.ExternalCopy(buffer, { transferOut: true }).copyInto({ release: true });
  }

  /**
   * The records of a batch reply (writeRecords in the bootstrap): columns (f, t, d, n) or
   * msgpack bytes (b); the reply comes back too, for its other fields. A record over the
   * engine's size limit fails the batch.
   */
  private readRecords<R extends object>(r: unknown, kind: string): { outputs: unknown[]; reply: Partial<R> } {
    const reply = (typeof r === 'object' && r !== null ? r : {}) as { n?: unknown } & Partial<R>;
    const records = this.received(reply, reply.n);
    if (records === undefined) throw new SandboxError('the sandbox returned no records (was its runtime tampered with?)');
    // Only a batch larger than one record may hold one: check record by record only then.
    if (records.bytes > this.maxRecordBytes) this.checkRecordSizes(records.values, kind);
    return { outputs: records.values, reply };
  }

  private checkRecordSizes(outputs: readonly unknown[], kind: string): void {
    const measure = new Packr();
    for (const record of outputs) {
      const size = measure.pack(record).byteLength;
      if (size > this.maxRecordBytes) {
        throw new SandboxError(`the ${kind} function emitted a record of ${size} bytes; the engine's limit is ${this.maxRecordBytes} bytes per record (limits.maxRecordBytes)`);
      }
    }
  }

  private call(id: number, hook: string | null, args: unknown[]): unknown {
    this.lastOutputs = undefined;
    const handles = this.encodeArgs(args);
    const reply = this.enter(() =>
      this.api.call.applySync(undefined, [id, hook, args.map((a, i) => (handles.some((h) => h[0] === i) ? null : a)), handles], {
        timeout: this.wallMs,
        arguments: { copy: true },
        result: { copy: true },
      }),
    ) as CallReply;
    if (this.hostObjects.length > MAX_HANDLES) this.forgetHandles();
    if (reply.error) throw new SandboxError(reply.error.message);
    return reply.value;
  }

  /**
   * Operators may hand user code a fresh context object per call (a window's collector);
   * handles of those would pile up, so past a bound both sides forget all and describe anew.
   */
  private forgetHandles(): void {
    this.hostObjects.length = 0;
    this.shapes = new WeakMap();
    this.api.forgetHandles.applySync(undefined, []);
  }

  /** Host objects among the arguments become handles; plain data is copied as it is. */
  private encodeArgs(args: unknown[]): Array<[number, HandleDescriptor]> {
    const handles: Array<[number, HandleDescriptor]> = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (isHostObject(a)) handles.push([i, this.describe(a)]);
    }
    return handles;
  }

  private describe(object: object): HandleDescriptor {
    let shape = this.shapes.get(object);
    if (!shape) {
      const functions: string[] = [];
      const objects: string[] = [];
      const data: string[] = [];
      for (const name of MEMBERS) {
        if (!(name in object) || name in Object.prototype) continue;
        let value: unknown;
        try {
          value = (object as Record<string, unknown>)[name];
        } catch {
          value = undefined;
        }
        if (typeof value === 'function') functions.push(name);
        else if (isHostObject(value)) objects.push(name);
        else data.push(name);
      }
      shape = { id: this.hostObjects.length, functions, objects, data, described: false };
      this.hostObjects.push(object);
      this.shapes.set(object, shape);
    }
    const data: Record<string, unknown> = {};
    for (const name of shape.data) {
      try {
        data[name] = (object as Record<string, unknown>)[name];
      } catch {
        data[name] = undefined;
      }
    }
    if (shape.described) return [shape.id, undefined, data];
    shape.described = true;
    const members: Record<string, 'f' | 'o'> = {};
    for (const name of shape.functions) members[name] = 'f';
    for (const name of shape.objects) members[name] = 'o';
    return [shape.id, members, data];
  }

  /** A call from user code to a host object's method. */
  private hostCall(id: number, name: string, args: unknown[], fns: Array<[number, number]>): { v?: unknown; h?: HandleDescriptor; e?: string } {
    if (this.processHost) this.hostTouched = true;
    try {
      const object = this.hostObjects[id];
      const shape = object ? this.shapes.get(object) : undefined;
      if (!object || !shape?.functions.includes(name)) return { e: `'${name}' is not a function here` };
      for (const [index, callback] of fns) args[index] = (...callbackArgs: unknown[]) => this.callback(callback, callbackArgs);
      const result = (object as Record<string, (...a: unknown[]) => unknown>)[name]?.(...args);
      return this.toIsolate(result);
    } catch (error) {
      return { e: error instanceof Error ? error.message : String(error) };
    }
  }

  private hostGet(id: number, name: string): { v?: unknown; h?: HandleDescriptor; e?: string } {
    const object = this.hostObjects[id];
    const shape = object ? this.shapes.get(object) : undefined;
    if (!object || !shape?.objects.includes(name)) return { e: `'${name}' is not available here` };
    return this.toIsolate((object as Record<string, unknown>)[name]);
  }

  private toIsolate(value: unknown): { v?: unknown; h?: HandleDescriptor } {
    if (isHostObject(value)) {
      // Iterators and other iterables of data (map state entries) cross as arrays.
      if (typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function' && !hasMembers(value)) return { v: Array.from(value as Iterable<unknown>) };
      return { h: this.describe(value) };
    }
    return { v: value };
  }

  private callback(index: number, args: unknown[]): unknown {
    const handles = this.encodeArgs(args);
    const reply = this.api.callback.applySync(undefined, [index, args.map((a, i) => (handles.some((h) => h[0] === i) ? null : a)), handles], {
      timeout: this.wallMs,
      arguments: { copy: true },
      result: { copy: true },
    }) as CallReply;
    if (reply.error) throw new SandboxError(reply.error.message);
    return reply.value;
  }

  /** As enter, for calls outside record processing (while the task is built), which nothing else attributes. */
  private enterAt<T>(call: () => T): T {
    try {
      return this.enter(call);
    } catch (error) {
      if (error instanceof SandboxError) throw new SandboxError(`${error.message} (${this.where})`);
      throw error;
    }
  }

  /** Runs a call into the isolate, turning the isolate's own failures into errors that say what to do. */
  private enter<T>(call: () => T): T {
    const isolate = this.job.isolate;
    if (isolate.isDisposed) {
      throw new SandboxError(`the job's sandbox was disposed (it exceeded its memory limit of ${this.memoryMb} MB earlier)`);
    }
    const cpuBefore = isolate.cpuTime;
    let result: T;
    try {
      result = call();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes('timed out')) {
        const cpuMs = isolateGone(this.job) ? undefined : Math.round(Number(isolate.cpuTime - cpuBefore) / 1e6);
        throw new SandboxError(
          `user function ran longer than ${this.cpuMs} ms in one call (userCode.cpuMsPerCall) and was stopped after ${this.wallMs} ms${cpuMs === undefined ? '' : ` (${cpuMs} ms of it on the CPU)`}: an endless loop?`,
        );
      }
      if (isolateGone(this.job) || message.includes('memory limit')) {
        throw new SandboxError(`user code exceeded the job's memory limit of ${this.memoryMb} MB (userCode.memoryMbPerJob) and was stopped`);
      }
      throw error;
    }
    const cpuMs = Number(isolate.cpuTime - cpuBefore) / 1e6;
    if (cpuMs > this.cpuMs) {
      throw new SandboxError(`user function ran longer than ${this.cpuMs} ms in one call (userCode.cpuMsPerCall): it used ${Math.round(cpuMs)} ms of CPU`);
    }
    return result;
  }

  /** Heap the job's isolate uses now, in bytes. */
  heapBytes(): number {
    if (this.job.isolate.isDisposed) return 0;
    const stats = this.job.isolate.getHeapStatisticsSync();
    return stats.used_heap_size + stats.externally_allocated_size;
  }

  /**
   * A console line of user code. The isolate already holds lines to the rate; this counts
   * again, so that the limit holds whatever happens in there.
   */
  private hostLog(level: unknown, text: unknown, owner: unknown, dropped: unknown): void {
    const sink = this.console;
    if (!sink) return;
    const t = performance.now();
    if (t - this.logWindow >= 1000) {
      this.logWindow = t;
      this.logLines = 0;
    }
    if (this.logLines >= CONSOLE_LINES_PER_SECOND) {
      this.logDropped++;
      return;
    }
    this.logLines++;
    const operator = typeof owner === 'number' ? this.owners[owner] : undefined;
    const fields = { operator, subtask: sink.subtaskIndex, source: 'user-code' };
    this.reportDropped((typeof dropped === 'number' && dropped > 0 ? Math.floor(dropped) : 0), fields);
    const line = String(text).slice(0, 2001);
    if (level === 'warn') sink.log.warn(line, fields);
    else if (level === 'error') sink.log.error(line, fields);
    else sink.log.info(line, fields);
  }

  private reportDropped(inIsolate: number, fields: Record<string, unknown>): void {
    const dropped = inIsolate + this.logDropped;
    this.logDropped = 0;
    if (dropped > 0) this.console?.log.warn(`console: ${dropped} lines of user code dropped (at most ${CONSOLE_LINES_PER_SECOND} per second per subtask)`, fields);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.console) {
      let dropped = 0;
      try {
        if (!this.job.isolate.isDisposed) dropped = Number(this.api.takeDropped.applySync(undefined, [], { timeout: this.wallMs }));
      } catch {
        dropped = 0;
      }
      this.reportDropped(Number.isFinite(dropped) ? dropped : 0, { subtask: this.console.subtaskIndex, source: 'user-code' });
    }
    this.hostObjects.length = 0;
    try {
      this.context.release();
    } catch {
      // Already gone with its isolate.
    }
    if (--this.job.users === 0) {
      isolates.delete(this.jobKey);
      if (!this.job.isolate.isDisposed) this.job.isolate.dispose();
    }
  }
}

const MAX_HANDLES = 10_000;
/** Console lines user code may log per second per subtask; the rest are counted and dropped. */
export const CONSOLE_LINES_PER_SECOND = 20;

/** Stands for a hook in the shape a process program reports; the operator only checks it is a function. */
function unusable(): never {
  throw new Error('internal: a process program hook was called on the host');
}
const WALL_FACTOR = 3;

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function sameRecords(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A reply's outputs per input record. */
function countsOf(counts: unknown, n: number): Int32Array {
  if (counts instanceof Int32Array && counts.length === n) return counts;
  throw new SandboxError('the sandbox returned no counts (was its runtime tampered with?)');
}

/** A fused reply's records out per function. */
function stageCounts(counts: unknown, n: number): number[] {
  if (!Array.isArray(counts) || counts.length !== n) throw new SandboxError('the sandbox returned no counts per function (was its runtime tampered with?)');
  return counts as number[];
}

/** Where flatten() puts the character it reads, so that no compiler drops the read. */
let _flattenProbe = 0;

/**
 * Makes the text of a batch's strings flat. The codec builds it by concatenation, a rope
 * of a piece per string, and isolated-vm copies a rope into the isolate several times
 * slower than a flat string: 20 to 45 µs for the 1024 keys of a batch, against about 10
 * to flatten it and copy it. Reading a character of a rope makes V8 flatten it in place.
 */
function flatten(text: string): void {
  if (text.length > 0) _flattenProbe = text.charCodeAt(0);
}

function parseRecord(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Read again after a call: the isolate may have been disposed during it (memory limit). */
function isolateGone(job: JobIsolate): boolean {
  return job.isolate.isDisposed;
}

/** True for objects user code must not get a copy of: class instances and objects with methods. */
function isHostObject(value: unknown): value is object {
  if (typeof value === 'function') return true;
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Array.prototype || ArrayBuffer.isView(value) || value instanceof Date || value instanceof Map || value instanceof Set || value instanceof RegExp) return false;
  if (proto !== Object.prototype && proto !== null) return true;
  return hasMembers(value);
}

function hasMembers(value: object): boolean {
  for (const key in value) if (typeof (value as Record<string, unknown>)[key] === 'function') return true;
  return false;
}
