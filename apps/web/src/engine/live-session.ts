'use client';
/**
 * The page's connection to the engine service: where it is (asked of the web
 * server at /config.json, so that the engine's address is configuration, not part
 * of the build), one Socket.IO connection for telemetry, and the actions of the top
 * bar and panels (deploy, attach, savepoint, redeploy, cancel, taps and hot keys).
 *
 *   page load ──GET /config.json──▶ engine URL ──GET /api/health──▶ online
 *                                                └─ socket: subscribe-jobs (job list)
 *   attach(job) ──GET /api/jobs/:id──▶ socket: subscribe { jobId } ──▶ metrics frames
 *                                                                     ──▶ live store
 */
import type { JobGraphDocument } from '@sluice/graph-model';
import type { ClientToServerEvents, HotKeysEvent, RedeployResult, ServerToClientEvents, TapRecordsEvent } from '@sluice/protocol';
import { io, type Socket } from 'socket.io-client';
import { useStore } from 'zustand';
import { getEditorStore } from '../store/use-editor';
import { EngineClient, EngineError, errorMessage, waitForSavepoint } from './engine-client';
import { createLiveStore, type LiveState, type LiveStore } from './live-store';

/** How often a missing engine is asked for again. */
const RETRY_MS = 5000;

let store: LiveStore | undefined;
let client: EngineClient | undefined;
let socket: Socket<ServerToClientEvents, ClientToServerEvents> | undefined;
let started = false;
const tapListeners = new Map<string, (event: TapRecordsEvent) => void>();
const hotKeyListeners = new Set<(event: HotKeysEvent) => void>();

export function getLiveStore(): LiveStore {
  store ??= createLiveStore();
  return store;
}

export function useLive<T>(selector: (state: LiveState) => T): T {
  return useStore(getLiveStore(), selector);
}

export function engineClient(): EngineClient | undefined {
  return client;
}

/** The engine URL from the web server's configuration (SLUICE_ENGINE_URL). */
async function configuredEngineUrl(): Promise<string> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  const config = (await response.json()) as { engineUrl?: unknown };
  if (typeof config.engineUrl !== 'string') throw new Error('/config.json has no engineUrl');
  return config.engineUrl.replace(/\/+$/, '');
}

/** Finds the engine and keeps a telemetry connection to it; once per page. */
export function startLiveSession(): void {
  if (started) return;
  started = true;
  void connect();
}

/** Where this browser keeps the engine's bearer token (an engine off loopback needs one). */
const TOKEN_KEY = 'sluice.engineToken';

function storedToken(): string | undefined {
  try {
    const token = window.localStorage.getItem(TOKEN_KEY);
    return token === null || token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}

/** Keeps the token in this browser (an empty one forgets it) and connects with it. */
export function setEngineToken(token: string): void {
  try {
    if (token.trim() === '') window.localStorage.removeItem(TOKEN_KEY);
    else window.localStorage.setItem(TOKEN_KEY, token.trim());
  } catch {
    // Storage refused (private mode): the token lasts until the page is left.
  }
  sessionToken = token.trim() === '' ? undefined : token.trim();
  socket?.disconnect();
  socket = undefined;
  void connect();
}

let sessionToken: string | undefined;

async function connect(): Promise<void> {
  const live = getLiveStore().getState();
  let url: string;
  try {
    url = await configuredEngineUrl();
  } catch (error) {
    live.setEngine({ kind: 'offline', url: undefined, reason: `the web server did not say where the engine is: ${errorMessage(error)}` });
    return;
  }
  const token = sessionToken ?? storedToken();
  const c = new EngineClient(url, token);
  client = c;
  getLiveStore().getState().setEngine({ kind: 'connecting', url });
  let jobs: Awaited<ReturnType<EngineClient['listJobs']>>;
  try {
    const health = await c.health();
    // Health needs no token; the job list does, when the engine asks for one.
    jobs = await c.listJobs();
    getLiveStore().getState().setEngine({ kind: 'online', url, version: health.version });
  } catch (error) {
    if (error instanceof EngineError && (error.status === 401 || error.status === 403)) {
      // Nothing to retry until someone gives a token: the bar asks for it.
      getLiveStore().getState().setEngine({ kind: 'locked', url, reason: token === undefined ? 'it needs a token (`sluice serve` printed it; a tenant token comes from `sluice token create`)' : `it refused this token: ${error.message}` });
      return;
    }
    getLiveStore().getState().setEngine({ kind: 'offline', url, reason: errorMessage(error) });
    setTimeout(() => void connect(), RETRY_MS);
    return;
  }
  openSocket(url, token);
  getLiveStore().getState().setJobs(jobs.jobs);
}

function openSocket(url: string, token: string | undefined): void {
  if (socket) return;
  // WebSocket only: no long-polling requests while a job is watched.
  const s: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { path: '/socket.io', transports: ['websocket'], reconnectionDelayMax: RETRY_MS, ...(token !== undefined ? { auth: { token } } : {}) });
  socket = s;
  const live = () => getLiveStore().getState();
  s.on('connect', () => {
    const state = live();
    if (state.engine.kind !== 'online') state.setEngine({ kind: 'online', url, version: '' });
    s.emit('subscribe-jobs');
    // After a reconnect the server has forgotten the rooms this page was in.
    const attachedId = state.job?.id;
    if (attachedId !== undefined) s.emit('subscribe', { jobId: attachedId }, () => undefined);
    void refreshJobs();
  });
  s.on('disconnect', (reason) => {
    if (reason !== 'io client disconnect') live().setEngine({ kind: 'offline', url, reason: `the connection to the engine was lost (${reason}); reconnecting…` });
  });
  s.on('metrics', (frame) => live().frameArrived(frame));
  s.on('job-status', (event) => {
    const state = live();
    if (!state.jobs.some((j) => j.id === event.jobId)) void refreshJobs();
    state.statusChanged(event.jobId, event.status);
  });
  s.on('job-exception', (event) => live().exceptionArrived(event.jobId, event.exception));
  s.on('tap-records', (event) => tapListeners.get(event.tapId)?.(event));
  s.on('hot-keys', (event) => {
    for (const listener of hotKeyListeners) listener(event);
  });
}

export async function refreshJobs(): Promise<void> {
  if (!client) return;
  try {
    const list = await client.listJobs();
    getLiveStore().getState().setJobs(list.jobs);
  } catch {
    // The socket's disconnect handler reports a lost engine.
  }
}

function toast(kind: 'error' | 'info' | 'success', message: string): void {
  getEditorStore().getState().toast(kind, message);
}

function requireClient(): EngineClient {
  if (!client) throw new Error('the engine is not connected');
  return client;
}

/** Runs a long action with its label on the buttons, and reports failure as a toast. */
async function busy<T>(label: string, action: () => Promise<T>): Promise<T | undefined> {
  const live = getLiveStore().getState();
  if (live.busy !== undefined) return undefined;
  live.setBusy(label);
  try {
    return await action();
  } catch (error) {
    toast('error', errorMessage(error));
    return undefined;
  } finally {
    getLiveStore().getState().setBusy(undefined);
  }
}

/** Submits the editor's graph and shows it live on the canvas. */
export async function deploy(graph: JobGraphDocument): Promise<void> {
  await busy('Deploying…', async () => {
    const job = await requireClient().submit(graph);
    for (const warning of job.warnings.slice(0, 2)) toast('info', `Deployed with a warning: ${warning.path}: ${warning.message}`);
    await attach(job.id, graph);
    toast('success', `Deployed job ${job.id}`);
    await refreshJobs();
  });
}

/** Shows a job's live figures on the canvas (the caller decides whether its graph is loaded); `graph`: the document it was deployed from. */
export async function attach(jobId: string, graph?: JobGraphDocument): Promise<void> {
  const c = requireClient();
  const detail = await c.job(jobId);
  const previous = getLiveStore().getState().job;
  if (previous && previous.id !== jobId) socket?.emit('unsubscribe', { jobId: previous.id });
  getLiveStore().getState().attached(detail, graph);
  const s = socket;
  if (!s) return;
  await new Promise<void>((resolve, reject) => {
    s.emit('subscribe', { jobId, detail: 'full' }, (reply) => {
      if (reply.ok) resolve();
      else reject(new Error(reply.error));
    });
  });
}

export function detach(): void {
  const job = getLiveStore().getState().job;
  if (job) socket?.emit('unsubscribe', { jobId: job.id });
  getLiveStore().getState().detached();
}

export async function cancelJob(): Promise<void> {
  const job = getLiveStore().getState().job;
  if (!job) return;
  await busy('Cancelling…', async () => {
    await requireClient().cancel(job.id);
    toast('info', `Cancelled job ${job.id}`);
  });
}

/** Takes a savepoint and waits for it (polling its request id), then reports where it is. */
export async function takeSavepoint(): Promise<void> {
  const job = getLiveStore().getState().job;
  if (!job) return;
  await busy('Taking a savepoint…', async () => {
    const c = requireClient();
    const { requestId } = await c.triggerSavepoint(job.id);
    const status = await waitForSavepoint(c, job.id, requestId);
    getLiveStore().getState().checkpointsChanged();
    if (status.status === 'completed') toast('success', `Savepoint ${status.checkpointId ?? ''} completed: ${status.location ?? ''}`);
    else toast('error', `The savepoint failed: ${status.failure ?? 'no reason given'}`);
  });
}

export type RedeployPlanAnswer = { readonly ok: true; readonly result: RedeployResult } | { readonly ok: false; readonly error: string; readonly problems: readonly string[] };

/** The restore plan of redeploying `graph` (a dry run: nothing stops or starts). */
export async function planRedeploy(graph: JobGraphDocument, allowNonRestoredState: boolean): Promise<RedeployPlanAnswer> {
  const job = getLiveStore().getState().job;
  if (!job) return { ok: false, error: 'no job is attached', problems: [] };
  try {
    const result = await requireClient().redeploy(job.id, { graph, dryRun: true, allowNonRestoredState });
    return { ok: true, result };
  } catch (error) {
    const problems = error instanceof EngineError ? (error.body.problems ?? []).map((p) => `${p.path}: ${p.message}`) : [];
    return { ok: false, error: errorMessage(error), problems };
  }
}

/** Stops the job with a savepoint and starts `graph` from it; attaches to the new job. */
export async function redeploy(graph: JobGraphDocument, allowNonRestoredState: boolean): Promise<RedeployResult | undefined> {
  const job = getLiveStore().getState().job;
  if (!job) return undefined;
  return busy('Redeploying…', async () => {
    const result = await requireClient().redeploy(job.id, { graph, allowNonRestoredState });
    if (result.job) {
      await attach(result.job.id, graph);
      const restored = result.restorePlan.entries.filter((e) => e.status === 'restored').length;
      toast('success', `Redeployed as job ${result.job.id}, ${restored} node${restored === 1 ? '' : 's'} restored from ${result.savepoint}`);
    }
    await refreshJobs();
    return result;
  });
}

export type StartAnswer = { readonly ok: true; readonly id: string } | { readonly ok: false; readonly error: string };

/** Starts a record tap on an edge of the attached job; records go to `onRecords`. */
export async function startTap(edgeId: string, onRecords: (event: TapRecordsEvent) => void): Promise<StartAnswer> {
  const job = getLiveStore().getState().job;
  const s = socket;
  if (!job || !s) return { ok: false, error: 'no job is attached' };
  return new Promise((resolve) => {
    s.emit('tap-start', { jobId: job.id, edgeId, maxRecordsPerSecond: 10, limit: 100 }, (reply) => {
      if (!reply.ok) {
        resolve({ ok: false, error: reply.error });
        return;
      }
      tapListeners.set(reply.tapId, (event) => {
        // The last event of a tap (limit, job end, stop) says why; nothing follows it.
        if (event.ended !== undefined) tapListeners.delete(event.tapId);
        onRecords(event);
      });
      resolve({ ok: true, id: reply.tapId });
    });
  });
}

export function stopTap(tapId: string): void {
  tapListeners.delete(tapId);
  socket?.emit('tap-stop', { tapId });
}

/** Subscribes to the top keys of a keyed exchange; the listener gets every job's events (filter by node). */
export async function subscribeHotKeys(nodeId: string, listener: (event: HotKeysEvent) => void): Promise<{ readonly ok: true; readonly unsubscribe: () => void } | { readonly ok: false; readonly error: string }> {
  const job = getLiveStore().getState().job;
  const s = socket;
  if (!job || !s) return { ok: false, error: 'no job is attached' };
  return new Promise((resolve) => {
    s.emit('hot-keys-subscribe', { jobId: job.id, nodeId, k: 10 }, (reply) => {
      if (!reply.ok) {
        resolve({ ok: false, error: reply.error });
        return;
      }
      const filtered = (event: HotKeysEvent) => {
        if (event.jobId === job.id && event.nodeId === nodeId) listener(event);
      };
      hotKeyListeners.add(filtered);
      resolve({
        ok: true,
        unsubscribe: () => {
          hotKeyListeners.delete(filtered);
          // The engine counts keys only while someone subscribes: tell it.
          socket?.emit('hot-keys-unsubscribe', { jobId: job.id, nodeId });
        },
      });
    });
  });
}
