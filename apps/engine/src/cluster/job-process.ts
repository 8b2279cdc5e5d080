/**
 * The 'process' user-code mode: every job runs in a process of its own, and its user
 * functions run there at full speed, in the slots' own threads, as trusted code does.
 * What keeps them in is the process, not a boundary records cross:
 *
 *   engine process                        job process (one per job)
 *   ┌───────────────────────────┐ frames  ┌─────────────────────────────────────┐
 *   │ JobManager                │ ──────▶ │ job-host.ts: a TaskManager of its   │
 *   │ ProcessTaskManager ───────┼─────────│ own; slots are worker threads that  │
 *   │  · checks every message   │ ◀────── │ run subtasks and user code          │
 *   │  · fsyncs acked state     │         │                                     │
 *   │  · watches memory and CPU │  unix   │ Node permission model: reads only   │
 *   │ KafkaRelay ◀──────────────┼─────────│ the engine's code, the job's own    │
 *   │  · only the job's brokers │ socket  │ state and its file endpoints;       │
 *   └───────────────────────────┘         │ writes only its state and its file  │
 *                                         │ sinks' directories; no child        │
 *                                         │ processes, no addons (RocksDB jobs: │
 *                                         │ addons, still inside the jail)      │
 *                                         │ Linux namespaces (unshare): no      │
 *                                         │ network, no other process visible,  │
 *                                         │ a root with only the above mounted  │
 *                                         │ (job-jail.ts)                       │
 *                                         │ environment: empty                  │
 *                                         └─────────────────────────────────────┘
 *
 * A job process can do anything to itself: the engine treats what it says as untrusted
 * (messages about another job, state files outside the job's directories, malformed
 * messages and ones above maxMessageBytes stop it; one faster than messageBytesPerSecond is
 * read slower: frames.ts), and stops it when it outgrows its memory or its CPUs (proc-stats.ts),
 * or when a slot stops answering heartbeats (a user function that never returns).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Key, KeyInspection } from '@sluice/operators';
import { graphEndpoints, type ValidatedGraph } from '@sluice/graph-model';
import type { ExecutionPlan } from '../compile/plan.js';
import type { Barrier } from '../runtime/messages.js';
import type { FromWorker, SubtaskAddress, ToWorker } from '../runtime/protocol.js';
import { inside, realish } from '../paths.js';
import { fsyncPath } from '../runtime/state-files.js';
import type { UserCodeSettings } from '../runtime/sandbox.js';
import { jailArgs, NAMESPACES, systemMounts, type JailMount } from './job-jail.js';
import { KafkaRelay } from './kafka-relay.js';
import { diskUse } from './disk-use.js';
import { encodeFrame, FrameDecoder, FrameFlow } from './frames.js';
import { cpuSecondsOfTree, CpuWindow, processTree, residentBytesOfTree } from './proc-stats.js';
import type { SubtaskRestore } from '../runtime/task.js';
import type { JobAccess, JobListener, Placement, SubtaskList, TaskExecutor, TaskManagerOptions } from './task-manager.js';

export const DEFAULT_PROCESS_MEMORY_MB = 1024;
export const DEFAULT_DISK_MB_PER_JOB = 10_240;
/**
 * A slot's heartbeat timeout never goes below this: a loaded machine answers late, and a
 * slot's first answer waits for its thread to start and load the engine (the process
 * starts its slots at once, before the job's deployment arrives).
 */
const MIN_HEARTBEAT_TIMEOUT_MS = 5000;
const MEMORY_CHECK_MS = 200;
/** CPU time is read every fifth memory check (once a second), over this window. */
const CPU_CHECK_EVERY = 5;
const DEFAULT_CPU_WINDOW_MS = 10_000;
/** Disk use is walked every tenth memory check (every 2 s), one walk at a time. */
const DISK_CHECK_EVERY = 10;
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_MESSAGE_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** What handling a message costs beyond its bytes, in the message rate's budget. */
const MESSAGE_COST_BYTES = 4096;
/**
 * A message unfolds to at most this many times its size; ordinary messages are trees
 * (unfoldedSize at most their size), and a few shared objects stay well within it.
 */
const MAX_UNFOLDING = 4;
/** Messages read but not handled (waiting for a state file's fsync) above which the engine stops reading. */
const MAX_PENDING_MESSAGES = 1000;

/** What the engine sends a job process. */
export type ToJobHost =
  | {
      readonly type: 'deploy';
      readonly plan: ExecutionPlan;
      readonly attempt: number;
      /** By task id, then subtask index. */
      readonly restores: ReadonlyArray<ReadonlyArray<SubtaskRestore | undefined>>;
    }
  | { readonly type: 'trigger-checkpoint'; readonly attempt: number; readonly subtasks: SubtaskList; readonly barrier: Barrier }
  | { readonly type: 'notify-checkpoint'; readonly attempt: number; readonly checkpointId: number; readonly outcome: 'complete' | 'aborted' }
  | { readonly type: 'cancel'; readonly attempt?: number | undefined }
  | { readonly type: 'forget-attempt'; readonly attempt: number }
  | {
      readonly type: 'inspect-state';
      readonly requestId: number;
      readonly where: SubtaskAddress;
      readonly nodeId: string;
      readonly key: Key;
      readonly timeoutMs: number;
    }
  | { readonly type: 'to-subtasks'; readonly attempt: number; readonly messages: ReadonlyArray<{ taskId: number; subtaskIndex: number; message: ToWorker }> };

/** What a job process sends the engine. */
export type FromJobHost =
  | { readonly type: 'worker'; readonly message: FromWorker }
  | { readonly type: 'inspection'; readonly requestId: number; readonly inspection?: KeyInspection | undefined; readonly error?: string | undefined };

/**
 * How a job process starts (its first argument, as JSON): its job, and the options of its
 * own task manager (job-host.ts adds trusted user code and durableWrites: false). kafkaRelay
 * is KafkaRelay.path when the job has Kafka endpoints; localStateDirectory is JobAccess.localState.
 */
export interface JobHostSettings {
  readonly jobId: string;
  readonly taskManager: Pick<TaskManagerOptions, 'slots' | 'maxHeapMb' | 'heartbeatTimeoutMs' | 'maxRecordBytes' | 'kafkaRelay' | 'localStateDirectory'>;
}

export type ProcessAvailability = { readonly available: true; readonly unshare: string } | { readonly available: false; readonly reason: string };

let availability: ProcessAvailability | undefined;

/**
 * Whether job processes can be confined here: Linux, util-linux's unshare, and user
 * namespaces this user may create (some distributions turn them off for unprivileged
 * users, e.g. Ubuntu 24.04's AppArmor default).
 */
export function processModeAvailability(): ProcessAvailability {
  if (availability) return availability;
  if (process.platform !== 'linux') {
    availability = { available: false, reason: `the 'process' user-code mode confines jobs with Linux namespaces, and this is ${process.platform}` };
    return availability;
  }
  const unshare = (process.env['PATH'] ?? '/usr/bin:/bin')
    .split(delimiter)
    .map((dir) => join(dir, 'unshare'))
    .find((path) => isAbsolute(path) && existsSync(path));
  if (!unshare) {
    availability = { available: false, reason: "the 'process' user-code mode needs unshare (util-linux) on the PATH" };
    return availability;
  }
  // The whole confinement once, with `true` for the job: namespaces, mounts, pivot_root.
  const root = mkdtempSync(join(tmpdir(), 'sluice-jail-'));
  const probe = spawnSync(unshare, [...NAMESPACES, ...jailArgs(root, '/', systemMounts(), ['true'])], { env: {}, encoding: 'utf8', timeout: 10_000 });
  rmSync(root, { recursive: true, force: true });
  availability =
    probe.status === 0
      ? { available: true, unshare }
      : { available: false, reason: `this user cannot create the namespaces and mounts a job process runs in (unshare ${NAMESPACES.join(' ')} with a root of its own said: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()})` };
  return availability;
}


/** Node 20 calls the permission model experimental; 22.13+ and 23.5+ name the flag --permission. */
function permissionFlag(): string {
  return process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
}

/**
 * What a job process may read to load the engine: the engine's package, every
 * node_modules directory its imports resolve through, and the packages those link to
 * (workspace packages are symlinks). Not the directories around them, which may hold
 * the engine's data (tokens, other jobs' state).
 */
function codeDirectories(): string[] {
  const engineRoot = fileURLToPath(new URL('../../', import.meta.url));
  const found = new Set<string>([realpathSync(engineRoot)]);
  for (let dir = engineRoot; ; dir = dirname(dir)) {
    const modules = join(dir, 'node_modules');
    if (existsSync(modules)) {
      found.add(realpathSync(modules));
      for (const entry of readdirSync(modules, { withFileTypes: true })) {
        const scoped = entry.name.startsWith('@') && entry.isDirectory() ? readdirSync(join(modules, entry.name), { withFileTypes: true }).map((e) => ({ e, at: join(modules, entry.name, e.name) })) : [{ e: entry, at: join(modules, entry.name) }];
        for (const { e, at } of scoped) if (e.isSymbolicLink()) found.add(realpathSync(at));
      }
    }
    if (dirname(dir) === dir) break;
  }
  return [...found];
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

let codeReads: string[] | undefined;
/** codeDirectories() and their package.json files, read from disk once: they do not move while the engine runs. */
function codeReadPaths(): string[] {
  if (!codeReads) {
    const code = codeDirectories();
    codeReads = [...code, ...packageFiles(code)];
  }
  return codeReads;
}

/** The package.json files Node's module resolution reads on the way up from the engine's code. */
function packageFiles(directories: readonly string[]): string[] {
  const files = new Set<string>();
  for (const start of directories) {
    for (let dir = start; ; dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) files.add(file);
      if (dirname(dir) === dir) break;
    }
  }
  return [...files];
}

const WORKER_TYPES = new Set<string>([
  'started',
  'finished',
  'cancelled',
  'awaiting-final-commit',
  'failed',
  'checkpoint-ack',
  'checkpoint-declined',
  'collect',
  'print',
  'metrics',
  'tap-records',
  'hot-keys',
  'log',
]);

/** Strictly inside one of the directories (a state file, not a directory itself). */
const within = (path: string, directories: readonly string[]) => directories.some((dir) => resolve(dir) !== resolve(path) && inside(resolve(dir), resolve(path)));

/** Why a message from a job process is refused, or undefined when it may reach the job manager. */
export function refusal(message: unknown, jobId: string, files: JobAccess): string | undefined {
  if (typeof message !== 'object' || message === null) return 'a message that is not an object';
  const m = message as { type?: unknown; jobId?: unknown; attempt?: unknown; ack?: { file?: unknown; native?: unknown } };
  if (typeof m.type !== 'string' || !WORKER_TYPES.has(m.type)) return `a message of unknown type ${JSON.stringify(m.type)}`;
  if (m.jobId !== jobId) return `a '${m.type}' message about another job (${JSON.stringify(m.jobId)})`;
  if (typeof m.attempt !== 'number') return `a '${m.type}' message without an attempt number`;
  if (m.type === 'checkpoint-ack') {
    if (typeof m.ack?.file !== 'string' || !within(m.ack.file, files.writable)) return `a checkpoint acknowledgement naming a state file outside the job's directories (${JSON.stringify(m.ack?.file)})`;
    if (m.ack.native !== undefined) {
      if (typeof m.ack.native !== 'object' || m.ack.native === null) return 'a checkpoint acknowledgement whose native state is not an object';
      for (const [nodeId, handle] of Object.entries(m.ack.native)) {
        const problem = nativeHandleProblem(handle, files.writable);
        if (problem !== undefined) return `a checkpoint acknowledgement whose native state of '${nodeId}' ${problem}`;
      }
    }
  }
  return undefined;
}

/** A file name alone: the engine, and later restores in any mode, join it to a directory. */
const plainName = (name: unknown) => typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\') && !name.includes('\0');

/**
 * What is wrong with a native (RocksDB) checkpoint handle from a job process: its
 * directories must lie inside the job's own, and its files be plain names there. The
 * engine syncs those files, and the checkpoint's metadata keeps the handle for restores
 * that may run outside any job process (a later engine in another user-code mode).
 */
function nativeHandleProblem(handle: unknown, writable: readonly string[]): string | undefined {
  if (typeof handle !== 'object' || handle === null) return 'is not an object';
  const h = handle as { privateDirectory?: unknown; sharedDirectory?: unknown; private?: unknown; shared?: unknown };
  for (const dir of [h.privateDirectory, h.sharedDirectory]) {
    if (typeof dir !== 'string' || !within(dir, writable)) return `names a directory outside the job's directories (${JSON.stringify(dir)})`;
  }
  if (!Array.isArray(h.private) || !Array.isArray(h.shared)) return 'lists no private or shared files';
  for (const file of [...(h.private as unknown[]), ...(h.shared as unknown[])]) {
    const f = (typeof file === 'object' && file !== null ? file : {}) as { name?: unknown; localName?: unknown; bytes?: unknown };
    if (!plainName(f.name) || (f.localName !== undefined && !plainName(f.localName)) || typeof f.bytes !== 'number') return `lists a file that is not a plain name with a size (${JSON.stringify(file)})`;
  }
  return undefined;
}


/**
 * Graph problems that keep a job out of a job process (in what it needs, not what it does):
 * a file path in or around the engine's data directory `dataDir` (every job's
 * checkpoints, and the service's tokens), which the job process would be given access to.
 */
export function processModeProblems(graph: ValidatedGraph, dataDir: string): Array<{ path: string; message: string; nodeId?: string }> {
  const problems: Array<{ path: string; message: string; nodeId?: string }> = [];
  const data = realish(resolve(dataDir));
  for (const { node, endpoint, value, path } of graphEndpoints(graph)) {
    if (endpoint.kind !== 'file-path') continue;
    const file = realish(resolve(value));
    if (inside(data, file) || inside(file, data)) {
      problems.push({ path, message: `operator '${node.id}' (${node.definition.type}): file path '${value}' is in or around the engine's data directory, which a job may not touch`, nodeId: node.id });
    }
  }
  return problems;
}

/**
 * What the graph's endpoints need (JobAccess.endpoints): file paths as absolute paths
 * from the engine's working directory (the job process starts there, so the operators open
 * the same), and the bootstrap lists of its Kafka sources and sinks.
 */
export function endpointAccess(graph: ValidatedGraph): NonNullable<JobAccess['endpoints']> {
  const reads: string[] = [];
  const writes: string[] = [];
  const kafka: string[] = [];
  for (const { endpoint, value } of graphEndpoints(graph)) {
    if (endpoint.kind === 'kafka-bootstrap-servers') kafka.push(value);
    else (endpoint.access === 'read' ? reads : writes).push(resolve(value));
  }
  return { reads, writes, kafka };
}

export interface ProcessTaskManagerOptions {
  /** cpuMsPerCall and memoryMbPerJob, as UserCodeSettings describes them for 'process'. */
  readonly userCode?: Omit<UserCodeSettings, 'mode'>;
  /** Slots of each job process; default: one per core, at most one per subtask. */
  readonly slotsPerJob?: number;
  /** As TaskManagerOptions.maxRecordBytes, inside each job process. */
  readonly maxRecordBytes?: number;
  /**
   * CPUs one job process may use, all its threads together, averaged over `cpuWindowMs`
   * (default 10 s); above it the job is stopped. Default: its slots and one more (its main
   * thread, the garbage collector, RocksDB's background threads).
   */
  readonly maxCpusPerJob?: number;
  readonly cpuWindowMs?: number;
  /** Largest message a job process may send the engine (frames.ts); above it the job is stopped. Default 64 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * Bytes a second the engine reads from one job process, on average (each message counts
   * 4 KiB more for its handling); above it the engine reads that job slower. Default 32 MiB.
   */
  readonly messageBytesPerSecond?: number;
  /** Bytes a second one job's Kafka connections carry through the relay, both ways together (KafkaRelayOptions). Default 64 MiB. */
  readonly kafkaBytesPerSecond?: number;
  /** Connections one job may have open through the Kafka relay. Default 256. */
  readonly kafkaConnectionsPerJob?: number;
  /**
   * Disk one job's directories may take beyond what they held when its first process
   * started (its checkpoints, savepoints and working databases, its file sinks' directories:
   * disk-use.ts), checked every 2 s; above it the job is stopped. Default 10240 MB.
   */
  readonly maxDiskMbPerJob?: number;
  /** Structured log (JobManagerOptions.log's shape): the Kafka relay's refusals. */
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

interface JobProcess {
  readonly child: ChildProcess;
  /** The job process's fd 3: frames both ways (frames.ts). */
  readonly pipe: Socket;
  readonly flow: FrameFlow;
  readonly files: JobAccess;
  listener: JobListener;
  /** Messages reach the job manager in order; an acknowledged state file is synced first. */
  delivered: Promise<void>;
  attempts: Set<number>;
  placements: Map<number, Placement[]>;
  /** Set once the engine stopped the process on purpose, so its exit is not reported as a crash. */
  stopping?: string;
  /** The checks of its memory, CPUs and disk (watch()). */
  watch?: NodeJS.Timeout;
  /** Its Kafka clients' way to their brokers, when the job has Kafka sources or sinks. */
  readonly relay?: KafkaRelay | undefined;
}

/** Runs each job in a confined process of its own (see the top of this file). */
export class ProcessTaskManager implements TaskExecutor {
  /** Slots of each job process, at most (a job gets no more than it has subtasks). */
  readonly slots: number;
  readonly userCode: UserCodeSettings;
  private readonly jobs = new Map<string, JobProcess>();
  private readonly inspections = new Map<number, (message: Extract<FromJobHost, { type: 'inspection' }>) => void>();
  /** What each job's directories held when its first process started (files its sinks found there are not its own). */
  private readonly diskBaselines = new Map<string, Promise<number>>();
  private nextRequest = 0;
  private closed = false;

  constructor(private readonly options: ProcessTaskManagerOptions = {}) {
    this.userCode = { ...options.userCode, mode: 'process' };
    this.slots = Math.max(1, options.slotsPerJob ?? availableParallelism());
  }

  private get memoryMb(): number {
    return this.userCode.memoryMbPerJob ?? DEFAULT_PROCESS_MEMORY_MB;
  }

  deploy(
    plan: ExecutionPlan,
    attempt: number,
    restore: (taskId: number, subtaskIndex: number) => SubtaskRestore | undefined,
    listener: JobListener,
    files: JobAccess = { writable: [], readable: [] },
  ): Placement[] {
    if (this.closed) throw new Error('the task manager is shut down');
    let job = this.jobs.get(plan.jobId);
    if (job && job.child.exitCode === null && job.child.signalCode === null && job.stopping === undefined) job.listener = listener;
    else job = this.start(plan, listener, files);
    const restores = plan.tasks.map((t) => t.subtasks.map((s) => restore(t.id, s.index)));
    const slots = this.slotsFor(plan);
    let next = 0;
    const placements = plan.tasks.flatMap((t) => t.subtasks.map((s) => ({ taskId: t.id, subtaskIndex: s.index, slot: next++ % slots })));
    job.attempts.add(attempt);
    job.placements.set(attempt, placements);
    this.send(job, { type: 'deploy', plan, attempt, restores });
    return placements;
  }

  private slotsFor(plan: ExecutionPlan): number {
    const subtasks = plan.tasks.reduce((n, t) => n + t.parallelism, 0);
    return Math.max(1, Math.min(this.slots, subtasks));
  }

  private start(plan: ExecutionPlan, listener: JobListener, files: JobAccess): JobProcess {
    const available = processModeAvailability();
    if (!available.available) throw new Error(available.reason);
    const jobId = plan.jobId;
    const kafka = files.endpoints?.kafka ?? [];
    const relay =
      kafka.length > 0
        ? new KafkaRelay(jobId, kafka, this.options.log ?? (() => {}), {
            ...(this.options.kafkaBytesPerSecond !== undefined ? { bytesPerSecond: this.options.kafkaBytesPerSecond } : {}),
            ...(this.options.kafkaConnectionsPerJob !== undefined ? { maxConnections: this.options.kafkaConnectionsPerJob } : {}),
          })
        : undefined;
    const slots = this.slotsFor(plan);
    const settings: JobHostSettings = {
      jobId,
      taskManager: {
        slots,
        // Below the process's limit, so that one slot's runaway heap ends as V8's own out-of-memory error.
        maxHeapMb: Math.max(64, Math.floor(this.memoryMb / 2)),
        heartbeatTimeoutMs: Math.max(MIN_HEARTBEAT_TIMEOUT_MS, this.userCode.cpuMsPerCall ?? MIN_HEARTBEAT_TIMEOUT_MS),
        ...(this.options.maxRecordBytes !== undefined ? { maxRecordBytes: this.options.maxRecordBytes } : {}),
        ...(relay ? { kafkaRelay: relay.path } : {}),
        ...(files.localState !== undefined ? { localStateDirectory: files.localState } : {}),
      },
    };
    // The job process may not create its own directories' parents.
    const writable = [...files.writable, ...(files.endpoints?.writes ?? [])];
    for (const dir of writable) mkdirSync(dir, { recursive: true });
    // A directory is granted with what is in it; a file (package.json, a file source's
    // single file, or a path that does not exist yet and fails when the source opens it) alone.
    const grant = (path: string) => (isDirectory(path) ? `${path}${sep}` : path);
    const sourceReads = (files.endpoints?.reads ?? []).filter((path) => existsSync(path));
    const reads = [...codeReadPaths(), ...writable, ...files.readable, ...sourceReads];
    const jailRoot = mkdtempSync(join(tmpdir(), 'sluice-jail-'));
    const mounts: JailMount[] = [
      ...systemMounts(),
      // A restore's directories inside the job's own stay as writable as those (new checkpoints link into their shared files).
      ...[...codeReadPaths(), ...files.readable.filter((path) => !writable.some((w) => inside(resolve(w), resolve(path)))), ...sourceReads].map((path) => ({ path, mode: 'ro' as const })),
      ...writable.map((path) => ({ path, mode: 'rw' as const })),
      ...(relay ? [{ path: relay.directory, mode: 'rw' as const }] : []),
    ];
    const node = [
      process.execPath,
      permissionFlag(),
      ...reads.map((path) => `--allow-fs-read=${grant(path)}`),
      ...writable.map((path) => `--allow-fs-write=${path}${sep}`),
      // Node 20 does not check a Unix socket's path; later versions may.
      ...(relay ? [`--allow-fs-read=${relay.path}`, `--allow-fs-write=${relay.path}`] : []),
      '--allow-worker',
      // RocksDB is an addon. Native code is past the permission model, not past the jail
      // (job-jail.ts). Its loader asks whether /etc/alpine-release exists, which Node 20
      // answers with a throw unless granted; the jail has no /etc to find it in.
      ...(plan.job.stateBackend.type === 'rocksdb' ? ['--allow-addons', '--allow-fs-read=/etc/alpine-release'] : []),
      `--max-old-space-size=${this.memoryMb}`,
      '--no-warnings',
      fileURLToPath(new URL('./job-host.js', import.meta.url)),
      JSON.stringify(settings),
    ];
    const args = [...NAMESPACES, ...jailArgs(jailRoot, process.cwd(), mounts, node)];
    const child = spawn(available.unshare, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: {} });
    const pipe = child.stdio[3] as Socket;
    const maxMessageBytes = this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const messageRate = this.options.messageBytesPerSecond ?? DEFAULT_MESSAGE_BYTES_PER_SECOND;
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
    });
    // Where the job can write, and the jail's root, which native code (RocksDB jobs) could write into as its owner.
    const diskPaths = [...writable, jailRoot, ...(relay ? [relay.directory] : [])];
    const job: JobProcess = {
      child,
      pipe,
      flow: new FrameFlow(pipe, {
        bytesPerSecond: messageRate,
        burstBytes: messageRate,
        perMessageBytes: MESSAGE_COST_BYTES,
        maxPending: MAX_PENDING_MESSAGES,
        onThrottled: () =>
          this.options.log?.('warn', `job ${jobId}'s process sends the engine more than ${messageRate} bytes a second (messageBytesPerSecond); the engine reads it slower`, { jobId }),
      }),
      files,
      listener,
      delivered: Promise.resolve(),
      attempts: new Set(),
      placements: new Map(),
      relay,
    };
    job.watch = this.watch(job, jobId, slots, diskPaths);
    this.jobs.set(jobId, job);
    const decoder = new FrameDecoder({
      maxBytes: maxMessageBytes,
      maxUnfolding: MAX_UNFOLDING,
      onMessage: (raw, bytes) => {
        // What was in the pipe behind the message that stopped it.
        if (job.stopping !== undefined) return;
        job.flow.took(bytes);
        this.receive(job, jobId, raw);
      },
      onProblem: (problem) => this.stop(job, `job ${jobId}'s process sent ${problem}; the engine stopped it`),
    });
    pipe.on('data', (chunk: Buffer) => decoder.push(chunk));
    // A write after the process died; its exit says why.
    pipe.on('error', () => {});
    child.on('exit', (code, signal) => {
      clearInterval(job.watch);
      job.flow.close();
      job.relay?.close();
      // Its mounts went with its mount namespace: what is left is an empty directory.
      rmSync(jailRoot, { recursive: true, force: true });
      // Working databases its attempts left (a killed process does not clean up); a process
      // started for the next attempt meanwhile has directories of its own.
      if (files.localState !== undefined) for (const attempt of job.attempts) rmSync(join(files.localState, jobId, `attempt-${attempt}`), { recursive: true, force: true });
      if (this.jobs.get(jobId) === job) this.jobs.delete(jobId);
      const reason =
        job.stopping ??
        `job ${jobId}'s process exited (${signal ? `signal ${signal}` : `code ${String(code)}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' ')}` : ''}`;
      if (job.stopping === 'released' || this.closed) return;
      for (const attempt of job.attempts) this.fail(job, jobId, attempt, reason);
    });
    child.on('error', (error) => {
      job.relay?.close();
      rmSync(jailRoot, { recursive: true, force: true });
      this.stop(job, `job ${jobId}'s process could not start: ${error.message}`);
    });
    return job;
  }

  /**
   * Stops a job above its limits: the resident memory of its process tree every
   * MEMORY_CHECK_MS, its CPUs over cpuWindowMs every second, and every 2 s what its
   * directories (`diskPaths`) gained since its first process started (one walk at a time).
   */
  private watch(job: JobProcess, jobId: string, slots: number, diskPaths: readonly string[]): NodeJS.Timeout {
    const maxCpus = this.options.maxCpusPerJob ?? slots + 1;
    const cpuWindowMs = this.options.cpuWindowMs ?? DEFAULT_CPU_WINDOW_MS;
    const cpu = new CpuWindow(cpuWindowMs);
    const maxDiskMb = this.options.maxDiskMbPerJob ?? DEFAULT_DISK_MB_PER_JOB;
    let baseline = this.diskBaselines.get(jobId);
    if (baseline === undefined) this.diskBaselines.set(jobId, (baseline = diskUse(diskPaths).then((use) => use.bytes)));
    const diskBaseline = baseline;
    let checks = 0;
    let walking = false;
    const checkDisk = async () => {
      const before = await diskBaseline;
      const use = await diskUse(diskPaths, before + maxDiskMb * 1024 * 1024);
      const grown = use.bytes - before;
      if (grown > maxDiskMb * 1024 * 1024) {
        this.stop(
          job,
          `job ${jobId}'s directories took ${use.over ? 'more than ' : ''}${Math.round(grown / 1048576)} MB more disk than when it started, above its limit of ${maxDiskMb} MB (maxDiskMbPerJob; its checkpoints, savepoints and file sinks' directories); it was stopped`,
        );
      }
    };
    const timer = setInterval(() => {
      const pid = job.child.pid;
      if (pid === undefined) return;
      const tree = processTree(pid);
      const bytes = residentBytesOfTree(pid, tree);
      if (bytes > this.memoryMb * 1024 * 1024) {
        this.stop(job, `job ${jobId}'s process used ${Math.round(bytes / 1048576)} MB of memory, above its limit of ${this.memoryMb} MB (userCode.memoryMbPerJob); it was stopped`);
        return;
      }
      checks++;
      if (checks % DISK_CHECK_EVERY === 0 && !walking) {
        walking = true;
        void checkDisk().finally(() => {
          walking = false;
        });
      }
      if (checks % CPU_CHECK_EVERY !== 0) return;
      const cpus = cpu.add(performance.now(), cpuSecondsOfTree(pid, tree));
      if (cpus !== undefined && cpus > maxCpus) {
        this.stop(
          job,
          `job ${jobId}'s process used ${cpus.toFixed(1)} CPUs over the last ${Math.round(cpuWindowMs / 1000)} s, above its limit of ${maxCpus} (maxCpusPerJob; threads the job starts itself count too); it was stopped`,
        );
      }
    }, MEMORY_CHECK_MS);
    timer.unref();
    return timer;
  }

  private receive(job: JobProcess, jobId: string, raw: unknown): void {
    const envelope = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<FromJobHost>;
    if (envelope.type === 'inspection') {
      this.inspections.get(envelope.requestId as number)?.(envelope as Extract<FromJobHost, { type: 'inspection' }>);
      return;
    }
    const message = envelope.type === 'worker' ? envelope.message : undefined;
    const refused = refusal(message, jobId, job.files);
    if (refused !== undefined) {
      this.stop(job, `job ${jobId}'s process sent ${refused}; the engine stopped it`);
      return;
    }
    let valid = message as FromWorker;
    job.flow.began();
    job.delivered = job.delivered.then(async () => {
      if (valid.type === 'checkpoint-ack') {
        try {
          await fsyncPath(valid.ack.file);
          for (const handle of Object.values(valid.ack.native ?? {})) {
            for (const file of handle.private) await fsyncPath(join(handle.privateDirectory, file.name));
            await fsyncPath(handle.privateDirectory);
            await fsyncPath(handle.sharedDirectory);
          }
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
            this.stop(job, `job ${jobId}: cannot sync state file ${valid.ack.file}: ${error instanceof Error ? error.message : String(error)}`);
            return;
          }
          // The checkpoint was dropped meanwhile, its directory with it (the job reached its
          // end, say), or the file was never written: it cannot complete with this file.
          const { ack, type: _type, ...where } = valid;
          valid = { type: 'checkpoint-declined', ...where, checkpointId: ack.checkpointId, reason: `its state file ${ack.file} is gone` };
        }
      }
      if (job.stopping !== undefined) return;
      try {
        job.listener(valid);
      } catch (error) {
        this.stop(job, `job ${jobId}'s process sent a '${valid.type}' message the engine could not take (${error instanceof Error ? error.message : String(error)}); the engine stopped it`);
      }
    }).finally(() => job.flow.handled());
  }

  private fail(job: JobProcess, jobId: string, attempt: number, message: string): void {
    job.listener({ type: 'failed', jobId, attempt, taskId: 0, subtaskIndex: 0, failure: { message, jobId } });
  }

  /** Kills a job process; its attempts fail with `reason` (unless the job was released). */
  private stop(job: JobProcess, reason: string): void {
    if (job.stopping !== undefined) return;
    job.stopping = reason;
    job.child.kill('SIGKILL');
  }

  private send(job: JobProcess, message: ToJobHost): void {
    if (job.pipe.writable) job.pipe.write(encodeFrame(message));
  }

  private job(jobId: string): JobProcess | undefined {
    const job = this.jobs.get(jobId);
    return job && job.stopping === undefined ? job : undefined;
  }

  triggerCheckpoint(jobId: string, attempt: number, subtasks: SubtaskList, barrier: Barrier): void {
    const job = this.job(jobId);
    if (job) this.send(job, { type: 'trigger-checkpoint', attempt, subtasks, barrier });
  }

  notifyCheckpoint(jobId: string, attempt: number, checkpointId: number, outcome: 'complete' | 'aborted'): void {
    const job = this.job(jobId);
    if (job) this.send(job, { type: 'notify-checkpoint', attempt, checkpointId, outcome });
  }

  cancel(jobId: string, attempt?: number): void {
    const job = this.job(jobId);
    if (job) this.send(job, { type: 'cancel', attempt });
  }

  forgetAttempt(jobId: string, attempt: number): void {
    const job = this.job(jobId);
    if (!job) return;
    job.attempts.delete(attempt);
    job.placements.delete(attempt);
    this.send(job, { type: 'forget-attempt', attempt });
  }

  release(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    this.jobs.delete(jobId);
    this.diskBaselines.delete(jobId);
    if (job.stopping === undefined) {
      job.stopping = 'released';
      job.child.kill('SIGKILL');
    }
  }

  async inspectState(where: SubtaskAddress, nodeId: string, key: Key, timeoutMs = 5000): Promise<KeyInspection> {
    const job = this.job(where.jobId);
    if (!job) throw new Error(`job ${where.jobId} has no running process`);
    const requestId = this.nextRequest++;
    try {
      return await new Promise<KeyInspection>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`subtask ${where.subtaskIndex} did not answer the state query within ${timeoutMs} ms`)), timeoutMs + 1000);
        this.inspections.set(requestId, (answer) => {
          clearTimeout(timer);
          if (answer.inspection) resolve(answer.inspection);
          else reject(new Error(typeof answer.error === 'string' ? answer.error : 'the state query failed'));
        });
        this.send(job, { type: 'inspect-state', requestId, where, nodeId, key, timeoutMs });
      });
    } finally {
      this.inspections.delete(requestId);
    }
  }

  sendToSubtasks(jobId: string, attempt: number, subtasks: SubtaskList, message: (where: SubtaskAddress) => ToWorker): void {
    const job = this.job(jobId);
    if (!job) return;
    this.send(job, { type: 'to-subtasks', attempt, messages: subtasks.map((s) => ({ ...s, message: message({ jobId, attempt, ...s }) })) });
  }

  /** A job process whose subtasks did not start is replaced as a whole: the next deployment starts a fresh one. */
  recycleSlots(jobId: string): Promise<void> {
    const job = this.job(jobId);
    if (job) this.stop(job, `job ${jobId}'s process did not start its subtasks and was replaced`);
    return Promise.resolve();
  }

  /** The pid of a job's process (its unshare), for tests. */
  pidOf(jobId: string): number | undefined {
    return this.jobs.get(jobId)?.child.pid;
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    const exits = [...this.jobs.values()].map((job) => {
      job.stopping ??= 'released';
      return new Promise<void>((resolve) => {
        if (job.child.exitCode !== null || job.child.signalCode !== null) resolve();
        else {
          job.child.once('exit', () => resolve());
          job.child.kill('SIGKILL');
        }
      });
    });
    this.jobs.clear();
    await Promise.all(exits);
  }
}
