/**
 * Starting the service the way `sluice serve` does: an embedded task manager, the
 * service on top, a banner saying where it listens (and the token, when one was
 * generated), and a clean stop on abort (Ctrl-C).
 *
 * User code is confined unless `trusted` is given: the engine runs code typed into a
 * browser, and whether a bind is "local" says nothing about who can reach it (a proxy,
 * a port forward). Trusted mode is the explicit choice for single-user local use.
 *
 * Confined means, by default, a process of its own for each job (job-process.ts: user
 * functions at full speed), where this machine can confine one (Linux with user
 * namespaces); elsewhere, V8 isolates inside the engine (sandbox.ts: every record is
 * copied across, 0.2–0.5 of trusted speed). `processPerJob` or `isolate` asks for one of
 * them, and the engine then refuses to start where that one is not available. Where
 * neither is, it refuses to start rather than quietly running untrusted code in-process.
 *
 * Kafka clusters and file directories: a trusted engine may use any (its user code could
 * open sockets and files anyway); otherwise the service's default applies (any without a
 * token, only `--kafka-allow` / `--file-allow` with one).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { JobManager, type JobManagerOptions } from '../cluster/job-manager.js';
import { SERVICE_DEFAULT_LIMITS, type JobLimits } from '../cluster/limits.js';
import { TaskManager, type TaskExecutor } from '../cluster/task-manager.js';
import { DEFAULT_DISK_MB_PER_JOB, DEFAULT_PROCESS_MEMORY_MB, ProcessTaskManager, processModeAvailability, type ProcessAvailability } from '../cluster/job-process.js';
import { DEFAULT_CPU_MS_PER_CALL, DEFAULT_MEMORY_MB_PER_JOB, sandboxAvailability, type UserCodeSettings } from '../runtime/sandbox.js';
import { authRequiredFor, isLoopbackHost } from './auth.js';
import { fileAllowEntries, fileAllowFor, fileGraphProblems } from './file-allow.js';
import { kafkaAllowEntries, kafkaAllowFor, kafkaGraphProblems } from './kafka-allow.js';
import { createEngineService, type EngineService, type EngineServiceOptions } from './service.js';

export interface StartOptions extends Omit<EngineServiceOptions, 'dataDir' | 'jobManager' | 'taskManager' | 'limits'> {
  /**
   * Run user functions in the engine's own threads, at full speed, instead of in the
   * sandbox (the default). Only for an engine whose every job author is trusted.
   */
  readonly trusted?: boolean;
  /**
   * Run each job in a process of its own, confined by Node's permission model and Linux
   * namespaces, with its user functions at full speed ('process' user-code mode).
   */
  readonly processPerJob?: boolean;
  /** Run user functions in V8 isolates inside the engine ('sandboxed' user-code mode), even where a process per job is available. */
  readonly isolate?: boolean;
  /** Per job process: CPUs it may use, all its threads together (ProcessTaskManagerOptions.maxCpusPerJob; default its slots + 1). */
  readonly maxCpusPerJob?: number;
  /** Per job process: disk its directories may take (ProcessTaskManagerOptions.maxDiskMbPerJob; default 10240). */
  readonly maxDiskMbPerJob?: number;
  /** Sandbox bounds: CPU time per call into user code, heap per job per slot (per job process: its memory). */
  readonly sandbox?: Pick<UserCodeSettings, 'cpuMsPerCall' | 'memoryMbPerJob'>;
  /** What one job may take; each unset field takes its SERVICE_DEFAULT_LIMITS value. */
  readonly limits?: JobLimits;
  /** Default: $SLUICE_DATA_DIR, else ~/.sluice. */
  readonly dataDir?: string;
  /** Worker threads; default one per core. */
  readonly slots?: number;
  /** Pick up the jobs that were running when the engine last stopped, from their newest checkpoints. */
  readonly resume?: boolean;
  /** The job manager's log (a job that cannot be resumed says why here); default: none. */
  readonly log?: JobManagerOptions['log'];
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['SLUICE_DATA_DIR'] ?? join(homedir(), '.sluice');
}

export interface UserCodeChoice {
  readonly settings: UserCodeSettings;
  /** Set when the default fell back to the isolates: why this machine cannot confine a process per job. */
  readonly noProcess?: string | undefined;
}

/**
 * How a start runs user code: the mode asked for (`trusted`, `processPerJob`, `isolate`;
 * at most one), else a process per job where `processAvailable` says this machine can
 * confine one, else the isolates.
 */
export function userCodeFor(
  options: Pick<StartOptions, 'trusted' | 'sandbox' | 'processPerJob' | 'isolate'>,
  processAvailable: () => ProcessAvailability = processModeAvailability,
): UserCodeChoice {
  const asked = [options.trusted === true && '--trusted', options.processPerJob === true && '--process-per-job', options.isolate === true && '--isolate'].filter((flag) => flag !== false);
  if (asked.length > 1) throw new Error(`${asked.join(' and ')} exclude each other: choose one way to run user code`);
  if (options.trusted === true) return { settings: { mode: 'trusted' } };
  const cpuMsPerCall = options.sandbox?.cpuMsPerCall ?? DEFAULT_CPU_MS_PER_CALL;
  const isolates: UserCodeSettings = { mode: 'sandboxed', cpuMsPerCall, memoryMbPerJob: options.sandbox?.memoryMbPerJob ?? DEFAULT_MEMORY_MB_PER_JOB };
  if (options.isolate === true) return { settings: isolates };
  const processes: UserCodeSettings = { mode: 'process', cpuMsPerCall, memoryMbPerJob: options.sandbox?.memoryMbPerJob ?? DEFAULT_PROCESS_MEMORY_MB };
  if (options.processPerJob === true) return { settings: processes };
  const available = processAvailable();
  return available.available ? { settings: processes } : { settings: isolates, noProcess: available.reason };
}

/** Starts a task manager and the service on it; close() stops both. */
export async function startEngineService(options: StartOptions = {}): Promise<StartedEngineService> {
  const dataDir = options.dataDir ?? defaultDataDir();
  const choice = userCodeFor(options);
  const userCode = choice.settings;
  if (userCode.mode === 'sandboxed') {
    const sandbox = sandboxAvailability();
    if (!sandbox.available) {
      throw new Error(
        (choice.noProcess !== undefined
          ? `user code runs confined by default, and neither way is available here: a process per job (${choice.noProcess}) nor the isolate sandbox (${sandbox.reason}). `
          : `the isolate sandbox (--isolate) is not available: ${sandbox.reason}. `) +
          'Start with --trusted (startEngineService({ trusted: true })) to run user code in-process, only where every job author is trusted',
      );
    }
  }
  if (userCode.mode === 'process') {
    const available = processModeAvailability();
    if (!available.available) throw new Error(`--process-per-job cannot confine jobs here: ${available.reason}`);
  }
  const limits: JobLimits = { ...SERVICE_DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) };
  // Working RocksDB instances beside the checkpoints, so checkpoints hard-link their files instead of copying.
  const taskManager: TaskExecutor =
    userCode.mode === 'process'
      ? new ProcessTaskManager({
          userCode,
          maxRecordBytes: limits.maxRecordBytes,
          ...(options.slots !== undefined ? { slotsPerJob: options.slots } : {}),
          ...(options.maxCpusPerJob !== undefined ? { maxCpusPerJob: options.maxCpusPerJob } : {}),
          ...(options.maxDiskMbPerJob !== undefined ? { maxDiskMbPerJob: options.maxDiskMbPerJob } : {}),
          ...(options.log ? { log: options.log } : {}),
        })
      : new TaskManager({ slots: options.slots, localStateDirectory: join(dataDir, 'local-state'), userCode, maxRecordBytes: limits.maxRecordBytes });
  try {
    // The job manager applies the allow-list too, so `--resume` does not restart a job whose cluster is no longer allowed.
    const authRequired = options.requireToken ?? authRequiredFor(options.host ?? '127.0.0.1', options.token);
    const kafkaAllow = kafkaAllowFor(options.kafkaAllow ?? (userCode.mode === 'trusted' ? ['*'] : undefined), authRequired);
    const fileAllow = fileAllowFor(options.fileAllow ?? (userCode.mode === 'trusted' ? ['*'] : undefined), authRequired);
    const jobManager = new JobManager(taskManager, {
      dataDir,
      limits,
      admit: (graph, tenant) => [...kafkaGraphProblems(kafkaAllow, graph), ...fileGraphProblems(fileAllow, [dataDir], graph, tenant)],
      ...(options.log ? { log: options.log } : {}),
    });
    const service = await createEngineService({ ...options, dataDir, taskManager, jobManager, limits, kafkaAllow: kafkaAllowEntries(kafkaAllow), fileAllow: fileAllowEntries(fileAllow) });
    return {
      ...service,
      userCode: choice,
      close: async () => {
        await service.close();
        await taskManager.shutdown();
      },
    };
  } catch (error) {
    await taskManager.shutdown();
    throw error;
  }
}

export interface StartedEngineService extends EngineService {
  /** How this engine runs user code, and why not in processes where it fell back. */
  readonly userCode: UserCodeChoice;
}

export interface ServeIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Aborted on Ctrl-C: the service stops and the promise resolves. */
  readonly signal?: AbortSignal | undefined;
}

/** `sluice serve`: runs until the signal aborts. Returns the exit code (0, or 2 when it cannot start). */
export async function serveEngine(options: StartOptions, io: ServeIo): Promise<number> {
  let service: StartedEngineService;
  try {
    service = await startEngineService({
      ...options,
      log: options.log ?? ((level, message) => {
        if (level !== 'info') io.stderr(`sluice serve: ${level === 'warn' ? 'warning' : 'error'}: ${message}\n`);
      }),
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const where = `${options.host ?? '127.0.0.1'}:${options.port ?? 8081}`;
    io.stderr(
      code === 'EADDRINUSE'
        ? `sluice serve: ${where} is in use (another engine?); choose another with --port\n`
        : code === 'EADDRNOTAVAIL'
          ? `sluice serve: ${options.host ?? ''} is not an address of this machine\n`
          : `sluice serve: cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 2;
  }
  if (options.resume === true) {
    const resumed = await service.jobManager.resume();
    for (const job of resumed) io.stdout(`resumed job ${job.id} (${job.name})${job.restorePlan ? ` from checkpoint ${job.restorePlan.checkpointId}` : ' from the beginning'}\n`);
  }
  // Read before the banner, which is printed in one go (tests and scripts wait for its first line).
  const tenantTokens = await service.tenants.list().catch((error: unknown) => {
    io.stderr(`sluice serve: warning: ${error instanceof Error ? error.message : String(error)}\n`);
    return [];
  });
  io.stdout(`Sluice engine listening on ${service.url}\n`);
  io.stdout(`  REST API     ${service.url}/api  (OpenAPI: ${service.url}/api/openapi.json)\n`);
  io.stdout(`  telemetry    Socket.IO on ${service.url}\n`);
  io.stdout(`  metrics      ${service.url}/metrics\n`);
  const userCode = service.userCode.settings;
  if (userCode.mode === 'process') {
    io.stdout(
      `  user code    a confined process per job (${userCode.memoryMbPerJob ?? DEFAULT_PROCESS_MEMORY_MB} MB of memory, ${options.maxCpusPerJob ?? 'its slots + 1'} CPUs and ${options.maxDiskMbPerJob ?? DEFAULT_DISK_MB_PER_JOB} MB of disk per job; --isolate runs it in V8 isolates, --trusted in-process)\n`,
    );
  } else if (userCode.mode === 'sandboxed') {
    io.stdout(`  user code    sandboxed in V8 isolates (${userCode.cpuMsPerCall ?? DEFAULT_CPU_MS_PER_CALL} ms CPU per call, ${userCode.memoryMbPerJob ?? DEFAULT_MEMORY_MB_PER_JOB} MB heap per job; --trusted runs it in-process)\n`);
    if (service.userCode.noProcess !== undefined) io.stderr(`sluice serve: warning: user code runs in V8 isolates, at a fraction of its speed, because a process per job is not available here: ${service.userCode.noProcess}\n`);
  } else {
    io.stdout('  user code    trusted: runs in the engine\'s own threads (--trusted); only for code you trust\n');
    if (!isLoopbackHost(options.host ?? '127.0.0.1')) io.stderr('sluice serve: warning: --trusted on a network address runs whatever code a token holder submits inside the engine\n');
  }
  const kafka = service.kafkaAllow;
  io.stdout(
    `  kafka        ${kafka.any ? 'any cluster' : kafka.addresses.length === 0 ? 'no cluster allowed (--kafka-allow host:port,… names those jobs may use)' : `only ${kafka.addresses.join(', ')} (--kafka-allow)`}\n`,
  );
  const files = service.fileAllow;
  io.stdout(
    `  files        ${files.any ? 'any path' : files.directories.length === 0 ? 'no directory allowed (--file-allow DIR names those file sources and sinks may use)' : `only under ${files.directories.join(', ')} (tenants: <dir>/<tenant>; --file-allow)`}\n`,
  );
  if (service.authRequired) {
    if (service.tokenGenerated) io.stdout(`  admin token  ${service.token ?? ''}  (generated; kept in ${service.tokenFile ?? ''})\n`);
    else io.stdout(`  admin token  required${service.tokenFile !== undefined ? ` (kept in ${service.tokenFile})` : ''}\n`);
    const tenantNames = new Set(tenantTokens.map((t) => t.tenant));
    io.stdout(`  tenants      ${tenantNames.size} with ${tenantTokens.length} token${tenantTokens.length === 1 ? '' : 's'} in ${service.tenants.file} (sluice token create <tenant>)\n`);
  } else {
    io.stdout('  access       this machine only (no token needed)\n');
    if (tenantTokens.length > 0) io.stderr(`sluice serve: warning: ${service.tenants.file} holds tenant tokens, but this engine needs no token, so every caller acts as the admin; give --token (or bind a network address) to enforce tenants\n`);
  }
  await new Promise<void>((resolve) => {
    if (!io.signal) return; // runs until the process ends
    if (io.signal.aborted) resolve();
    else io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  io.stderr('stopping the engine…\n');
  await service.close();
  return 0;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
