/**
 * Starting the service the way `sluice serve` does: an embedded task manager, the
 * service on top, a banner saying where it listens (and the token, when one was
 * generated), and a clean stop on abort (Ctrl-C).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TaskManager } from '../cluster/task-manager.js';
import { createEngineService, type EngineService, type EngineServiceOptions } from './service.js';

export interface StartOptions extends Omit<EngineServiceOptions, 'dataDir' | 'jobManager' | 'taskManager'> {
  /** Default: $SLUICE_DATA_DIR, else ~/.sluice. */
  readonly dataDir?: string;
  /** Worker threads; default one per core. */
  readonly slots?: number;
  /** Pick up the jobs that were running when the engine last stopped, from their newest checkpoints. */
  readonly resume?: boolean;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['SLUICE_DATA_DIR'] ?? join(homedir(), '.sluice');
}

/** Starts a task manager and the service on it; close() stops both. */
export async function startEngineService(options: StartOptions = {}): Promise<EngineService> {
  const dataDir = options.dataDir ?? defaultDataDir();
  // Working RocksDB instances beside the checkpoints, so checkpoints hard-link their files instead of copying.
  const taskManager = new TaskManager({ slots: options.slots, localStateDirectory: join(dataDir, 'local-state') });
  try {
    const service = await createEngineService({ ...options, dataDir, taskManager });
    return {
      ...service,
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

export interface ServeIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Aborted on Ctrl-C: the service stops and the promise resolves. */
  readonly signal?: AbortSignal | undefined;
}

/** `sluice serve`: runs until the signal aborts. Returns the exit code (0, or 2 when it cannot start). */
export async function serveEngine(options: StartOptions, io: ServeIo): Promise<number> {
  let service: EngineService;
  try {
    service = await startEngineService(options);
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
  io.stdout(`Sluice engine listening on ${service.url}\n`);
  io.stdout(`  REST API     ${service.url}/api  (OpenAPI: ${service.url}/api/openapi.json)\n`);
  io.stdout(`  telemetry    Socket.IO on ${service.url}\n`);
  io.stdout(`  metrics      ${service.url}/metrics\n`);
  if (service.authRequired) {
    if (service.tokenGenerated) io.stdout(`  token        ${service.token ?? ''}  (generated; kept in ${service.tokenFile ?? ''})\n`);
    else io.stdout(`  token        required${service.tokenFile !== undefined ? ` (kept in ${service.tokenFile})` : ''}\n`);
  } else {
    io.stdout('  access       this machine only (no token needed)\n');
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
