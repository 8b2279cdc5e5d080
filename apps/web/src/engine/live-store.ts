/**
 * The live view's one store: which engine, which job is attached, its newest
 * telemetry frame and the figures drawn from it. Separate from the editor store:
 * the document being edited and the job that runs are two things (a redeploy is
 * exactly the moment they differ).
 *
 * Vanilla zustand, so that the frame handling is unit-tested without React. Every
 * telemetry frame is one `set` (the whole job at once): React renders the nodes
 * whose overlay changed in one commit per tick.
 */
import type { JobGraphDocument } from '@sluice/graph-model';
import type { ExceptionEntry, JobDetail, JobStatus, JobSummary, MetricsFrame } from '@sluice/protocol';
import { createStore, type StoreApi } from 'zustand/vanilla';
import { applyFrame, NO_FIGURES, type LiveFigures } from './live-model';

export type EngineConnection =
  /** Not asked yet, or asking. */
  | { readonly kind: 'connecting'; readonly url: string | undefined }
  | { readonly kind: 'online'; readonly url: string; readonly version: string }
  | { readonly kind: 'offline'; readonly url: string | undefined; readonly reason: string }
  /** The engine answers but needs a bearer token this browser does not have (or one it refused). */
  | { readonly kind: 'locked'; readonly url: string; readonly reason: string };

/** What the panels of the live view show; 'inspector' is the editor's own form. */
export type LiveTab = 'inspector' | 'live' | 'watermarks' | 'state';
export type BottomTab = 'problems' | 'checkpoints' | 'exceptions';

export interface LiveState {
  readonly engine: EngineConnection;
  /** Every job of the engine, newest first (refreshed when one changes status). */
  readonly jobs: readonly JobSummary[];
  /** The attached job as the engine described it when attached. */
  readonly job: JobDetail | undefined;
  /**
   * The graph as this page deployed it (or as the engine showed it when attached):
   * what "edited since deployed" compares against. The engine's copy has defaults
   * and effective partitioning filled in, which is not an edit.
   */
  readonly deployedGraph: JobGraphDocument | undefined;
  readonly status: JobStatus | undefined;
  readonly frame: MetricsFrame | undefined;
  readonly figures: LiveFigures;
  /** Exceptions announced while attached (the panel also loads the history). */
  readonly exceptions: readonly ExceptionEntry[];
  /** Bumped when something the checkpoint table shows may have changed. */
  readonly checkpointsVersion: number;
  /** A long action in progress ('Deploying…'), shown on the buttons. */
  readonly busy: string | undefined;
  readonly tab: LiveTab;
  readonly bottomTab: BottomTab;

  setEngine(engine: EngineConnection): void;
  setJobs(jobs: readonly JobSummary[]): void;
  /** A job was attached: its figures start empty. `graph`: the document it was deployed from, when this page deployed it. */
  attached(job: JobDetail, graph?: JobGraphDocument): void;
  detached(): void;
  /** One telemetry frame (ignored unless it is the attached job's). */
  frameArrived(frame: MetricsFrame): void;
  statusChanged(jobId: string, status: JobStatus): void;
  exceptionArrived(jobId: string, exception: ExceptionEntry): void;
  checkpointsChanged(): void;
  setBusy(busy: string | undefined): void;
  setTab(tab: LiveTab): void;
  setBottomTab(tab: BottomTab): void;
}

export type LiveStore = StoreApi<LiveState>;

export function createLiveStore(): LiveStore {
  return createStore<LiveState>()((set, get) => ({
    engine: { kind: 'connecting', url: undefined },
    jobs: [],
    job: undefined,
    deployedGraph: undefined,
    status: undefined,
    frame: undefined,
    figures: NO_FIGURES,
    exceptions: [],
    checkpointsVersion: 0,
    busy: undefined,
    tab: 'inspector',
    bottomTab: 'problems',

    setEngine(engine) {
      set({ engine });
    },
    setJobs(jobs) {
      set({ jobs });
    },
    attached(job, graph = job.graph) {
      set({ job, deployedGraph: graph, status: job.status, frame: undefined, figures: NO_FIGURES, exceptions: [], tab: 'live', checkpointsVersion: get().checkpointsVersion + 1 });
    },
    detached() {
      set({ job: undefined, deployedGraph: undefined, status: undefined, frame: undefined, figures: NO_FIGURES, exceptions: [], tab: 'inspector', bottomTab: 'problems' });
    },
    frameArrived(frame) {
      const state = get();
      if (state.job?.id !== frame.jobId) return;
      set({ frame, status: frame.status, figures: applyFrame(state.figures, frame) });
    },
    statusChanged(jobId, status) {
      const state = get();
      const jobs = state.jobs.map((j) => (j.id === jobId && j.status !== status ? { ...j, status } : j));
      set({ jobs, ...(state.job?.id === jobId ? { status, checkpointsVersion: state.checkpointsVersion + 1 } : {}) });
    },
    exceptionArrived(jobId, exception) {
      const state = get();
      if (state.job?.id !== jobId) return;
      set({ exceptions: [exception, ...state.exceptions] });
    },
    checkpointsChanged() {
      set({ checkpointsVersion: get().checkpointsVersion + 1 });
    },
    setBusy(busy) {
      set({ busy });
    },
    setTab(tab) {
      set({ tab });
    },
    setBottomTab(tab) {
      set({ bottomTab: tab });
    },
  }));
}
