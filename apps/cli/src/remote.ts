/**
 * `sluice submit | list | status | cancel | savepoint`: the CLI as a client of a running engine
 * service (`sluice serve`), over its REST API. The engine is at --url, else
 * $SLUICE_URL, else http://127.0.0.1:8081 (Flink's REST port); a token, when the
 * engine needs one, comes from --token or $SLUICE_TOKEN.
 *
 * Exit codes as every command: 0 fine, 1 the input has problems (a rejected graph,
 * an unknown job), 2 the command cannot run (engine unreachable, no token).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { locatePath, parseJsonText, parsePath } from '@sluice/graph-model';
import type { ApiError, CancelAccepted, JobDetail, JobList, JobSubmitted, JobSummary, SavepointAccepted, SavepointStatus } from '@sluice/protocol';

export const DEFAULT_ENGINE_URL = 'http://127.0.0.1:8081';

/** What the commands write through (the CLI's CliIo fits). */
export interface RemoteIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly cwd: string;
}

export interface RemoteOptions {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly json?: boolean | undefined;
  /** Defaults to process.env (for SLUICE_URL and SLUICE_TOKEN). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Per request; default 10 s. */
  readonly timeoutMs?: number;
}

const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

/** Why a call did not get an answer to show: printed as it is, with the exit code. */
class RemoteFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface Answer<T> {
  readonly status: number;
  readonly body: T | ApiError;
}

class EngineClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: RemoteOptions) {
    const env = options.env ?? process.env;
    const raw = options.url ?? env['SLUICE_URL'] ?? DEFAULT_ENGINE_URL;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new RemoteFailure(`--url: '${raw}' is not a URL (example: ${DEFAULT_ENGINE_URL})`, EXIT.usage);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RemoteFailure(`--url: '${raw}' must start with http:// or https://`, EXIT.usage);
    this.url = url.href.replace(/\/+$/, '');
    this.token = options.token ?? env['SLUICE_TOKEN'];
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer<T>> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new RemoteFailure(this.unreachable(error), EXIT.usage);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new RemoteFailure(`the engine at ${this.url} answered ${response.status} with something that is not JSON; is this a Sluice engine?`, EXIT.usage);
    }
    if (response.status === 401) {
      throw new RemoteFailure(
        `the engine at ${this.url} needs a token: ${this.token === undefined ? 'pass --token or set SLUICE_TOKEN (sluice serve printed it; it is kept in <dataDir>/token)' : 'the one given is not valid'}`,
        EXIT.usage,
      );
    }
    if (response.status === 403) throw new RemoteFailure(`the engine at ${this.url} refused the request: ${(parsed as ApiError).error}`, EXIT.usage);
    if (response.status >= 500) throw new RemoteFailure(`the engine at ${this.url} failed: ${(parsed as ApiError).error}`, EXIT.usage);
    return { status: response.status, body: parsed as T | ApiError };
  }

  private unreachable(error: unknown): string {
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    const name = (error as { name?: unknown }).name;
    const why =
      name === 'TimeoutError'
        ? `no answer within ${this.timeoutMs / 1000} s`
        : code === 'ECONNREFUSED'
          ? 'connection refused'
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? 'unknown host'
            : code ?? (typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error));
    return `cannot reach the Sluice engine at ${this.url} (${why}). Is it running? Start one with 'sluice serve', or point --url (or SLUICE_URL) at it.`;
  }
}

async function guarded(io: RemoteIo, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof RemoteFailure) {
      io.stderr(`${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

function isError(body: unknown): body is ApiError {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

/** `sluice submit <graph>`: validates on the engine and starts the job. */
export function submitCommand(file: string, options: RemoteOptions, io: RemoteIo): Promise<number> {
  return guarded(io, async () => {
    let text: string;
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (error) {
      io.stderr(`${file}: ${(error as { code?: unknown }).code === 'ENOENT' ? 'no such file' : String(error)}\n`);
      return EXIT.invalid;
    }
    const parsed = parseJsonText(text);
    if (!parsed.ok) {
      io.stderr(`${file}:${parsed.error.line}:${parsed.error.column}: ${parsed.error.message}\n`);
      return EXIT.invalid;
    }
    const client = new EngineClient(options);
    const answer = await client.call<JobSubmitted>('POST', '/api/jobs', { graph: parsed.value });
    if (isError(answer.body)) {
      io.stderr(`${file}: the engine refused the job: ${answer.body.error}\n`);
      for (const p of answer.body.problems ?? []) {
        const segments = p.in === 'graph' ? parsePath(p.path) : undefined;
        const at = segments ? locatePath(text, segments) : undefined;
        io.stderr(`  ${at ? `${file}:${at.line}:${at.column}: ` : ''}${p.path}: ${p.message}\n`);
      }
      return EXIT.invalid;
    }
    const job = answer.body;
    if (options.json === true) {
      io.stdout(`${JSON.stringify(job, null, 2)}\n`);
    } else {
      for (const w of job.warnings) io.stderr(`${file}: warning ${w.path}: ${w.message}\n`);
      io.stdout(`submitted job ${job.id} (${job.name}) to ${client.url}\n`);
      io.stdout(`  status: sluice status ${job.id}    cancel: sluice cancel ${job.id}\n`);
    }
    return EXIT.ok;
  });
}

/** `sluice list`: the engine's jobs, newest first. */
export function listCommand(options: RemoteOptions, io: RemoteIo): Promise<number> {
  return guarded(io, async () => {
    const client = new EngineClient(options);
    const answer = await client.call<JobList>('GET', '/api/jobs');
    if (isError(answer.body)) {
      io.stderr(`${answer.body.error}\n`);
      return EXIT.invalid;
    }
    const jobs = answer.body.jobs;
    if (options.json === true) {
      io.stdout(`${JSON.stringify(jobs, null, 2)}\n`);
      return EXIT.ok;
    }
    if (jobs.length === 0) {
      io.stdout(`no jobs on ${client.url}\n`);
      return EXIT.ok;
    }
    const rows = jobs.map((j) => [j.id, j.status, new Date(j.startTime).toISOString().replace('T', ' ').slice(0, 19), formatDuration(j.durationMs), j.name]);
    // A hosted engine's admin sees every tenant's jobs: say whose each is (a tenant sees only its own).
    if (jobs.some((j) => j.tenant !== null)) {
      io.stdout(table(['ID', 'TENANT', 'STATUS', 'STARTED (UTC)', 'DURATION', 'NAME'], rows.map(([id = '', ...rest], i) => [id, jobs[i]?.tenant ?? '-', ...rest])));
    } else {
      io.stdout(table(['ID', 'STATUS', 'STARTED (UTC)', 'DURATION', 'NAME'], rows));
    }
    return EXIT.ok;
  });
}

/** `sluice status <id>`: one job's status, tasks and failure. */
export function statusCommand(id: string, options: RemoteOptions, io: RemoteIo): Promise<number> {
  return guarded(io, async () => {
    const client = new EngineClient(options);
    const answer = await client.call<JobDetail>('GET', `/api/jobs/${encodeURIComponent(id)}`);
    if (isError(answer.body)) {
      io.stderr(`${answer.body.error}\n`);
      return EXIT.invalid;
    }
    const job = answer.body;
    if (options.json === true) {
      io.stdout(`${JSON.stringify(job, null, 2)}\n`);
      return EXIT.ok;
    }
    io.stdout(`${summaryLine(job)}\n`);
    for (const task of job.plan.tasks) io.stdout(`  task ${task.id}: ${task.name} ×${task.parallelism}\n`);
    for (const sink of job.sinks) io.stdout(`  collect sink '${sink.name}': ${sink.rows} rows${sink.dropped > 0 ? ` (${sink.dropped} older ones dropped)` : ''}\n`);
    if (job.failure) io.stdout(`  failure: ${job.failure.message}\n`);
    return EXIT.ok;
  });
}

/** `sluice cancel <id>`. */
export function cancelCommand(id: string, options: RemoteOptions, io: RemoteIo): Promise<number> {
  return guarded(io, async () => {
    const client = new EngineClient(options);
    const answer = await client.call<CancelAccepted>('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
    if (isError(answer.body)) {
      io.stderr(`${answer.body.error}\n`);
      return EXIT.invalid;
    }
    io.stdout(options.json === true ? `${JSON.stringify(answer.body)}\n` : `cancelled job ${answer.body.id}\n`);
    return EXIT.ok;
  });
}

export interface SavepointOptions extends RemoteOptions {
  /** Stop the job once the savepoint completes (Flink's `stop --savepointPath`). */
  readonly stop?: boolean | undefined;
  /** With stop: emit the final watermark first (Flink's `stop --drain`). */
  readonly drain?: boolean | undefined;
  /** How long to wait for the savepoint; default 120 s. */
  readonly waitMs?: number;
  /** Between status polls; default 200 ms. */
  readonly pollMs?: number;
}

/**
 * Takes a savepoint of a running job (and, with --stop, stops it there) and waits for it,
 * printing the directory to redeploy or restore from.
 */
export function savepointCommand(id: string, options: SavepointOptions, io: RemoteIo): Promise<number> {
  return guarded(io, async () => {
    const client = new EngineClient(options);
    const job = encodeURIComponent(id);
    const accepted =
      options.stop === true
        ? await client.call<SavepointAccepted>('POST', `/api/jobs/${job}/stop`, options.drain === true ? { drain: true } : {})
        : await client.call<SavepointAccepted>('POST', `/api/jobs/${job}/savepoints`, {});
    if (isError(accepted.body)) {
      io.stderr(`${accepted.body.error}\n`);
      return EXIT.invalid;
    }
    const requestId = encodeURIComponent(accepted.body.requestId);
    const until = Date.now() + (options.waitMs ?? 120_000);
    for (;;) {
      const answer = await client.call<SavepointStatus>('GET', `/api/jobs/${job}/savepoints/${requestId}`);
      if (isError(answer.body)) {
        io.stderr(`${answer.body.error}\n`);
        return EXIT.invalid;
      }
      const status = answer.body;
      if (status.status === 'completed') {
        io.stdout(
          options.json === true
            ? `${JSON.stringify(status)}\n`
            : `savepoint ${String(status.checkpointId)} of job ${status.jobId} at ${status.location ?? '?'}${status.kind === 'stop-with-savepoint' ? '; the job stopped' : ''}\n`,
        );
        return EXIT.ok;
      }
      if (status.status === 'failed') {
        io.stderr(`the savepoint of job ${status.jobId} failed: ${status.failure ?? 'no reason given'}\n`);
        return EXIT.invalid;
      }
      if (Date.now() > until) throw new RemoteFailure(`the savepoint of job ${id} did not complete within ${Math.round((options.waitMs ?? 120_000) / 1000)} s (request ${accepted.body.requestId}); it may still complete`, EXIT.usage);
      await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
    }
  });
}

function summaryLine(job: JobSummary): string {
  return `job ${job.id} (${job.name}): ${job.status}, ${formatDuration(job.durationMs)}${job.pipeline ? `, pipeline ${job.pipeline.name} v${job.pipeline.version}` : ''}`;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
