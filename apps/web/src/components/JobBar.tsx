'use client';
/**
 * The top bar's engine side: where the engine is, Deploy, the job list, and — with
 * a job attached — its status, Savepoint, Redeploy (the edited pipeline replaces
 * the job, keeping its state), Cancel and Detach.
 */
import { useMemo, useState } from 'react';
import { diffGraphs, isEmptyDiff } from '../model/diff';
import { cancelJob, deploy, detach, setEngineToken, takeSavepoint, useLive } from '../engine/live-session';
import { getEditorStore, useEditor } from '../store/use-editor';

export interface JobBarActions {
  readonly onJobs: () => void;
  readonly onRedeploy: () => void;
}

export function JobBar({ onJobs, onRedeploy }: JobBarActions) {
  const engine = useLive((s) => s.engine);
  const job = useLive((s) => s.job);
  const deployedGraph = useLive((s) => s.deployedGraph);
  const status = useLive((s) => s.status);
  const busy = useLive((s) => s.busy);
  const doc = useEditor((s) => s.doc);
  const validated = useEditor((s) => s.validation.document === s.doc);
  const errors = useEditor((s) => s.validation.index.errors);
  const edited = useMemo(() => (deployedGraph ? !isEmptyDiff(diffGraphs(deployedGraph, doc)) : false), [deployedGraph, doc]);

  const online = engine.kind === 'online';
  const deployBlocked = !online
    ? engine.kind === 'offline'
      ? `The engine is not reachable: ${engine.reason}`
      : engine.kind === 'locked'
        ? `The engine needs a token: ${engine.reason}`
        : 'Connecting to the engine…'
    : busy !== undefined
      ? busy
      : doc.nodes.length === 0
        ? 'The pipeline is empty.'
        : errors > 0
          ? `Fix the ${errors} error${errors === 1 ? '' : 's'} in Problems first.`
          : !validated
            ? 'Validating…'
            : undefined;
  const running = status === 'running';
  const checkpointing = job?.graph.job?.checkpointing?.enabled === true;
  const savepointBlocked = !running ? 'The job is not running.' : !checkpointing ? 'The job does not enable checkpointing (job settings), which savepoints need.' : busy;
  const redeployBlocked = savepointBlocked ?? (!edited ? 'Edit the pipeline first: it equals the running job.' : deployBlocked);

  return (
    <div className="jobbar" aria-label="Engine">
      <span
        className={`engine-dot engine-${engine.kind}`}
        data-testid="engine-status"
        data-state={engine.kind}
        role="img"
        aria-label={
          online
            ? `Engine connected at ${engine.url}`
            : engine.kind === 'offline'
              ? `Engine not reachable: ${engine.reason}`
              : engine.kind === 'locked'
                ? `Engine at ${engine.url} needs a token: ${engine.reason}`
                : 'Connecting to the engine'
        }
        title={online ? `Engine ${engine.version} at ${engine.url}` : engine.kind === 'offline' || engine.kind === 'locked' ? engine.reason : 'Connecting…'}
      />
      {engine.kind === 'locked' ? <EngineTokenForm url={engine.url} /> : null}
      <button type="button" className="bar-button" onClick={onJobs} disabled={!online} data-testid="btn-jobs" title="Jobs on the engine: attach to one">
        Jobs…
      </button>
      {job ? (
        <div className="job-chip" data-testid="job-chip">
          <span className={`job-status status-${status ?? 'unknown'}`} data-testid="job-status">
            {status}
          </span>
          <span className="job-chip-name" title={`job ${job.id}`}>
            {job.name}
          </span>
          <button type="button" className="bar-button" onClick={() => void takeSavepoint()} disabled={savepointBlocked !== undefined} title={savepointBlocked ?? 'Take a savepoint now'} data-testid="btn-savepoint">
            Savepoint
          </button>
          <button
            type="button"
            className="bar-button"
            onClick={onRedeploy}
            disabled={redeployBlocked !== undefined}
            title={redeployBlocked ?? 'Replace the job by the edited pipeline, keeping its state'}
            data-testid="btn-redeploy"
          >
            Redeploy…
          </button>
          <button type="button" className="bar-button" onClick={() => void cancelJob()} disabled={!running && status !== 'restarting'} title="Cancel the job" data-testid="btn-cancel-job">
            Cancel job
          </button>
          <button type="button" className="icon-button bar-button" onClick={detach} aria-label="Detach from the job" title="Stop watching the job (it keeps running)" data-testid="btn-detach">
            ×
          </button>
        </div>
      ) : null}
      <div className="deploy" title={deployBlocked ?? 'Start this pipeline on the engine'} data-testid="deploy-wrapper">
        <button
          type="button"
          className="primary-button"
          disabled={deployBlocked !== undefined}
          aria-describedby="deploy-note"
          onClick={() => void deploy(getEditorStore().getState().doc)}
          data-testid="btn-deploy"
        >
          {busy === 'Deploying…' ? busy : 'Deploy'}
        </button>
        <span id="deploy-note" className="visually-hidden" data-testid="deploy-note">
          {deployBlocked ?? 'Starts this pipeline as a new job on the engine.'}
        </span>
      </div>
    </div>
  );
}

/** Asks for the engine's bearer token; it is kept in this browser for the next visits. */
function EngineTokenForm({ url }: { readonly url: string }) {
  const [token, setToken] = useState('');
  return (
    <form
      className="engine-token"
      data-testid="engine-token-form"
      onSubmit={(event) => {
        event.preventDefault();
        setEngineToken(token);
      }}
    >
      <input
        type="password"
        className="engine-token-input"
        aria-label={`Token for the engine at ${url}`}
        placeholder="Engine token"
        autoComplete="off"
        value={token}
        onChange={(event) => setToken(event.target.value)}
        data-testid="engine-token"
      />
      <button type="submit" className="bar-button" disabled={token.trim() === ''} data-testid="engine-token-connect">
        Connect
      </button>
    </form>
  );
}
