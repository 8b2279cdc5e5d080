/**
 * The engine's REST API, typed by @sluice/protocol. Every error answer of the engine
 * is an `ApiError` naming what is wrong; it comes back as an `EngineError` with the
 * status, so that callers can tell "not available yet" (501) or "not running" (409)
 * from a failure, and show graph problems at their paths.
 */
import type { JobGraphDocument } from '@sluice/graph-model';
import type {
  ApiError,
  CancelAccepted,
  CheckpointDetail,
  CheckpointHistory,
  ExceptionHistory,
  Health,
  JobDetail,
  JobList,
  JobSubmitted,
  KafkaTopics,
  RedeployRequest,
  RedeployResult,
  SavepointAccepted,
  SavepointStatus,
  StateQueryResult,
} from '@sluice/protocol';

export class EngineError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.error);
    this.name = 'EngineError';
  }

  /** The engine answered that it cannot do this yet (501), rather than that something failed. */
  get notAvailable(): boolean {
    return this.status === 501;
  }
}

/** Reaching the engine failed (not running, wrong URL, refused by CORS): there is no answer to show. */
export class EngineUnreachable extends Error {
  constructor(readonly url: string) {
    super(`the engine at ${url} does not answer; start it with \`sluice serve\` (or npm run quickstart)`);
    this.name = 'EngineUnreachable';
  }
}

export class EngineClient {
  /** `token`: the bearer token an engine that is not on loopback needs (the admin's or a tenant's). */
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let response: Response;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new EngineUnreachable(this.baseUrl);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new EngineError(response.status, { error: `the engine answered ${method} ${path} with ${response.status} and a body that is not JSON` });
    }
    if (!response.ok) {
      const error = parsed as Partial<ApiError> | undefined;
      throw new EngineError(response.status, typeof error?.error === 'string' ? (error as ApiError) : { error: `${method} ${path} answered ${response.status}` });
    }
    return parsed as T;
  }

  health(signal?: AbortSignal): Promise<Health> {
    return this.call('GET', '/api/health', undefined, signal);
  }

  listJobs(): Promise<JobList> {
    return this.call('GET', '/api/jobs');
  }

  job(id: string): Promise<JobDetail> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }

  submit(graph: JobGraphDocument): Promise<JobSubmitted> {
    return this.call('POST', '/api/jobs', { graph });
  }

  cancel(id: string): Promise<CancelAccepted> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
  }

  checkpoints(id: string): Promise<CheckpointHistory> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/checkpoints`);
  }

  /** One checkpoint with every subtask's acknowledgement. */
  checkpoint(id: string, checkpointId: number): Promise<CheckpointDetail> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/checkpoints/${checkpointId}`);
  }

  exceptions(id: string): Promise<ExceptionHistory> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/exceptions`);
  }

  triggerSavepoint(id: string): Promise<SavepointAccepted> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/savepoints`);
  }

  savepoint(id: string, requestId: string): Promise<SavepointStatus> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/savepoints/${encodeURIComponent(requestId)}`);
  }

  redeploy(id: string, request: RedeployRequest): Promise<RedeployResult> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/redeploy`, request);
  }

  state(id: string, nodeId: string, key: string): Promise<StateQueryResult> {
    const query = new URLSearchParams({ node: nodeId, key });
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/state?${query.toString()}`);
  }

  /** The topics of a Kafka cluster as the engine sees it (400: malformed list, 502: cluster not reachable). */
  kafkaTopics(bootstrapServers: string, signal?: AbortSignal): Promise<KafkaTopics> {
    const query = new URLSearchParams({ bootstrapServers });
    return this.call('GET', `/api/kafka/topics?${query.toString()}`, undefined, signal);
  }
}

/** Polls a savepoint request until it completes or fails. */
export async function waitForSavepoint(client: EngineClient, jobId: string, requestId: string, pollMs = 250, timeoutMs = 120_000): Promise<SavepointStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.savepoint(jobId, requestId);
    if (status.status !== 'in-progress') return status;
    if (Date.now() > until) throw new Error(`savepoint ${requestId} of job ${jobId} was still in progress after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
