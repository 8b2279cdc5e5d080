'use client';
/**
 * The bottom panel: problems of the pipeline being edited and, with a job attached,
 * its checkpoint history (checkpoints and savepoints: status, duration, size,
 * location; a checkpoint opens to its subtasks' acknowledgements) and its exceptions (where each failure happened: operator, subtask,
 * key, record).
 */
import type { CheckpointDetail, CheckpointHistory, ExceptionEntry, ExceptionHistory } from '@sluice/protocol';
import { Fragment, useEffect, useState } from 'react';
import { errorMessage } from '../engine/engine-client';
import { formatDuration } from '../engine/live-model';
import type { BottomTab } from '../engine/live-store';
import { engineClient, getLiveStore, useLive } from '../engine/live-session';
import { getEditorStore } from '../store/use-editor';
import { ProblemsPanel } from './ProblemsPanel';
import { requestView } from './view-events';

const TABS: ReadonlyArray<{ id: BottomTab; label: string }> = [
  { id: 'problems', label: 'Problems' },
  { id: 'checkpoints', label: 'Checkpoints' },
  { id: 'exceptions', label: 'Exceptions' },
];

/** While a job runs, checkpoints are looked at again this often. */
const CHECKPOINT_POLL_MS = 2000;

export function BottomPanel() {
  const jobId = useLive((s) => s.job?.id);
  const tab = useLive((s) => s.bottomTab);
  const exceptionCount = useLive((s) => s.exceptions.length);
  if (jobId === undefined) return <ProblemsPanel />;
  return (
    <div className="bottom-panel">
      <div className="tabs tabs-small" role="tablist" aria-label="Job panels">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            className={tab === t.id ? 'is-active' : undefined}
            onClick={() => getLiveStore().getState().setBottomTab(t.id)}
            data-testid={`bottom-tab-${t.id}`}
          >
            {t.label}
            {t.id === 'exceptions' && exceptionCount > 0 ? <span className="op-badge op-badge-error">{exceptionCount}</span> : null}
          </button>
        ))}
      </div>
      <div className="bottom-panel-body" role="tabpanel">
        {tab === 'problems' ? <ProblemsPanel /> : tab === 'checkpoints' ? <CheckpointsPanel key={jobId} jobId={jobId} /> : <ExceptionsPanel key={jobId} jobId={jobId} />}
      </div>
    </div>
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function CheckpointsPanel({ jobId }: { jobId: string }) {
  const version = useLive((s) => s.checkpointsVersion);
  const running = useLive((s) => s.status === 'running' || s.status === 'restarting');
  const [history, setHistory] = useState<CheckpointHistory | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState<number | undefined>(undefined);
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      const client = engineClient();
      if (!client) return;
      try {
        const next = await client.checkpoints(jobId);
        if (!stopped) {
          setHistory(next);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(errorMessage(e));
      }
    };
    void load();
    const timer = running ? setInterval(() => void load(), CHECKPOINT_POLL_MS) : undefined;
    return () => {
      stopped = true;
      if (timer) clearInterval(timer);
    };
  }, [jobId, version, running]);
  return (
    <section className="job-panel" aria-label="Checkpoints" data-testid="checkpoints-panel">
      {error !== undefined ? <p className="live-error">{error}</p> : null}
      {!history ? (
        <p className="live-hint">Loading…</p>
      ) : history.history.length === 0 ? (
        <p className="live-hint" data-testid="checkpoints-empty">
          No checkpoints{running ? ' yet' : ''}. {history.counts.completed + history.counts.failed === 0 ? 'Checkpointing is set in the job settings (job.checkpointing.enabled).' : ''}
        </p>
      ) : (
        <>
          <p className="job-panel-counts" data-testid="checkpoint-counts">
            {history.counts.completed} completed · {history.counts.failed} failed · {history.counts.inProgress} in progress
          </p>
          <table className="live-table job-table" data-testid="checkpoint-table">
            <thead>
              <tr>
                <th scope="col">id</th>
                <th scope="col">kind</th>
                <th scope="col">status</th>
                <th scope="col">triggered</th>
                <th scope="col">duration</th>
                <th scope="col">state size</th>
                <th scope="col">location / failure</th>
              </tr>
            </thead>
            <tbody>
              {history.history.map((c) => (
                <Fragment key={c.id}>
                  <tr data-testid={`checkpoint-row-${c.id}`} data-kind={c.savepoint ? 'savepoint' : 'checkpoint'} data-status={c.status}>
                    <th scope="row">
                      <button
                        type="button"
                        className="link-button"
                        aria-expanded={open === c.id}
                        onClick={() => setOpen(open === c.id ? undefined : c.id)}
                        title="Show each subtask's acknowledgement"
                        data-testid={`checkpoint-open-${c.id}`}
                      >
                        {open === c.id ? '▾' : '▸'} {c.id}
                      </button>
                    </th>
                    <td>{c.savepoint ? 'savepoint' : 'checkpoint'}</td>
                    <td className={`cp-${c.status}`}>{c.status}</td>
                    <td>{new Date(c.triggeredAt).toLocaleTimeString()}</td>
                    <td>{formatDuration(c.durationMs)}</td>
                    <td>{formatBytes(c.stateSizeBytes)}</td>
                    <td className="cp-location">{c.failure ?? c.location}</td>
                  </tr>
                  {open === c.id ? (
                    <tr>
                      <td colSpan={7}>
                        <CheckpointSubtasks jobId={jobId} checkpointId={c.id} />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** Per task and subtask: when it acknowledged, its synchronous and asynchronous parts, alignment, state size (as Flink's checkpoint details). */
function CheckpointSubtasks({ jobId, checkpointId }: { jobId: string; checkpointId: number }) {
  const [detail, setDetail] = useState<CheckpointDetail | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    let stopped = false;
    const client = engineClient();
    if (!client) return;
    client.checkpoint(jobId, checkpointId).then(
      (d) => {
        if (!stopped) setDetail(d);
      },
      (e: unknown) => {
        if (!stopped) setError(errorMessage(e));
      },
    );
    return () => {
      stopped = true;
    };
  }, [jobId, checkpointId]);
  if (error !== undefined) return <p className="live-error">{error}</p>;
  if (!detail) return <p className="live-hint">Loading…</p>;
  return (
    <table className="live-table job-table cp-subtasks" data-testid={`checkpoint-subtasks-${checkpointId}`}>
      <caption className="live-hint">
        {detail.acknowledged} of {detail.expected} subtasks acknowledged
      </caption>
      <thead>
        <tr>
          <th scope="col">task</th>
          <th scope="col">subtask</th>
          <th scope="col">acknowledged after</th>
          <th scope="col">sync</th>
          <th scope="col">async</th>
          <th scope="col">alignment</th>
          <th scope="col">state size</th>
        </tr>
      </thead>
      <tbody>
        {detail.tasks.flatMap((task) =>
          task.subtasks.map((s) => (
            <tr key={`${task.taskId}/${s.subtask}`} data-testid={`checkpoint-subtask-${task.taskId}-${s.subtask}`}>
              <th scope="row">{task.name}</th>
              <td>
                {s.subtask + 1}/{task.parallelism}
              </td>
              <td>{formatDuration(s.acknowledgedAfterMs)}</td>
              <td>{formatDuration(s.syncMs)}</td>
              <td>{formatDuration(s.asyncMs)}</td>
              <td>{formatDuration(s.alignmentMs)}</td>
              <td>{formatBytes(s.stateSizeBytes)}</td>
            </tr>
          )),
        )}
      </tbody>
    </table>
  );
}

function ExceptionsPanel({ jobId }: { jobId: string }) {
  const pushed = useLive((s) => s.exceptions.length);
  const [history, setHistory] = useState<ExceptionHistory | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    let stopped = false;
    const client = engineClient();
    if (!client) return;
    client.exceptions(jobId).then(
      (next) => {
        if (!stopped) setHistory(next);
      },
      (e: unknown) => {
        if (!stopped) setError(errorMessage(e));
      },
    );
    return () => {
      stopped = true;
    };
  }, [jobId, pushed]);
  return (
    <section className="job-panel" aria-label="Exceptions" data-testid="exceptions-panel">
      {error !== undefined ? <p className="live-error">{error}</p> : null}
      {!history ? (
        <p className="live-hint">Loading…</p>
      ) : history.entries.length === 0 ? (
        <p className="live-hint" data-testid="exceptions-empty">
          The job has not failed.
        </p>
      ) : (
        <ol className="exception-list">
          {history.entries.map((e, i) => (
            <ExceptionItem key={`${e.timestamp}-${i}`} entry={e} index={i} />
          ))}
        </ol>
      )}
    </section>
  );
}

function ExceptionItem({ entry, index }: { entry: ExceptionEntry; index: number }) {
  const where = [entry.nodeId !== null ? `node ${entry.nodeId}` : undefined, entry.subtaskIndex !== null ? `subtask ${entry.subtaskIndex + 1}` : undefined, entry.key !== null ? `key ${String(entry.key)}` : undefined]
    .filter(Boolean)
    .join(' · ');
  return (
    <li className="exception" data-testid={`exception-${index}`}>
      <div className="exception-head">
        <time>{new Date(entry.timestamp).toLocaleTimeString()}</time>
        <span className="exception-attempt">attempt {entry.attempt}{entry.restarted ? ', restarted' : ''}</span>
        {entry.nodeId !== null ? (
          <button
            type="button"
            className="link-button"
            onClick={() => {
              const nodeId = entry.nodeId;
              if (nodeId === null) return;
              getEditorStore().getState().select({ nodes: [nodeId], edges: [] });
              requestView({ kind: 'center-node', id: nodeId });
            }}
          >
            {where}
          </button>
        ) : (
          <span>{where}</span>
        )}
      </div>
      <div className="exception-message">{entry.message}</div>
      {entry.record !== null || entry.stack !== null ? (
        <details>
          <summary>Record and stack</summary>
          {entry.record !== null ? <pre className="state-value">{entry.record}</pre> : null}
          {entry.stack !== null ? <pre className="state-value">{entry.stack}</pre> : null}
        </details>
      ) : null}
    </li>
  );
}
