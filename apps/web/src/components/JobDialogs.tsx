'use client';
/**
 * Job dialogs: the engine's jobs (attach to one, loading its graph onto the
 * canvas), and Redeploy: the restore plan of the edited pipeline as a dry run (per
 * node: restored, new, dropped or incompatible), then — confirmed — stop with a
 * savepoint and start the edited pipeline from it.
 */
import type { JobGraphDocument } from '@sluice/graph-model';
import type { JobSummary } from '@sluice/protocol';
import { useEffect, useState } from 'react';
import { formatDuration } from '../engine/live-model';
import { planRedeploy, redeploy, refreshJobs, useLive, type RedeployPlanAnswer } from '../engine/live-session';
import { describeDiff, diffGraphs } from '../model/diff';
import { Dialog } from './Dialogs';
import { RestorePlanTable } from './LiveSidePanel';

export function JobsDialog(props: { onClose: () => void; onAttach: (job: JobSummary) => void }) {
  const jobs = useLive((s) => s.jobs);
  const attachedId = useLive((s) => s.job?.id);
  useEffect(() => {
    void refreshJobs();
  }, []);
  return (
    <Dialog title="Jobs on the engine" onClose={props.onClose} testId="jobs-dialog" wide>
      {jobs.length === 0 ? (
        <p className="live-hint" data-testid="jobs-empty">
          No jobs yet: Deploy the pipeline on the canvas.
        </p>
      ) : (
        <table className="live-table job-table" data-testid="jobs-table">
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">status</th>
              <th scope="col">started</th>
              <th scope="col">duration</th>
              <th scope="col">
                <span className="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-testid={`job-row-${job.id}`}>
                <th scope="row">
                  {job.name}
                  <div className="mono job-id">{job.id}</div>
                </th>
                <td>
                  <span className={`job-status status-${job.status}`}>{job.status}</span>
                </td>
                <td>{new Date(job.startTime).toLocaleTimeString()}</td>
                <td>{formatDuration(job.durationMs)}</td>
                <td>
                  <button type="button" className="text-button" onClick={() => props.onAttach(job)} disabled={job.id === attachedId} data-testid={`job-attach-${job.id}`} aria-label={`Attach to ${job.name} (${job.id})`}>
                    {job.id === attachedId ? 'Attached' : 'Attach'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Dialog>
  );
}

export function RedeployDialog(props: { graph: JobGraphDocument; onClose: () => void }) {
  const job = useLive((s) => s.job);
  const deployedGraph = useLive((s) => s.deployedGraph);
  const busy = useLive((s) => s.busy);
  const [allow, setAllow] = useState(false);
  // The plan of the current choice of `allow`; an answer for the other choice is stale.
  const [answer, setAnswer] = useState<{ allow: boolean; plan: RedeployPlanAnswer } | undefined>(undefined);
  const { graph } = props;
  useEffect(() => {
    let stale = false;
    void planRedeploy(graph, allow).then((plan) => {
      if (!stale) setAnswer({ allow, plan });
    });
    return () => {
      stale = true;
    };
  }, [graph, allow]);
  const plan = answer?.allow === allow ? answer.plan : undefined;
  if (!job) return null;
  const changes = describeDiff(diffGraphs(deployedGraph ?? job.graph, graph));
  const blocked = !plan ? 'Computing the restore plan…' : !plan.ok ? plan.error : plan.result.restorePlan.problems.length > 0 ? 'The state does not fit the edited pipeline.' : undefined;
  const hasDropped = plan?.ok === true && plan.result.restorePlan.entries.some((e) => e.status === 'dropped');
  return (
    <Dialog title={`Redeploy ${job.name}`} onClose={props.onClose} testId="redeploy-dialog" wide>
      <h3 className="live-section">What changes</h3>
      <ul className="diff-list" data-testid="redeploy-changes">
        {changes.map((c, i) => (
          <li key={i}>{c}</li>
        ))}
      </ul>
      <h3 className="live-section">Restore plan (dry run)</h3>
      {!plan ? (
        <p className="live-hint">Asking the engine…</p>
      ) : !plan.ok ? (
        <div className="live-error" role="alert" data-testid="redeploy-error">
          {plan.error}
          {plan.problems.length > 0 ? (
            <ul>
              {plan.problems.map((p, i) => (
                <li key={i}>{p}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : (
        <>
          <p className="live-hint" data-testid="redeploy-source">
            Planned from {plan.result.restorePlan.savepoint ? 'savepoint' : 'checkpoint'} {plan.result.restorePlan.checkpointId} (the latest completed). On confirmation the job stops with a new savepoint and the edited pipeline starts from
            it, matching state to nodes by id.
          </p>
          <RestorePlanTable plan={plan.result.restorePlan} testId="restore-plan" />
          {plan.result.restorePlan.problems.length > 0 ? (
            <ul className="live-error" data-testid="restore-problems">
              {plan.result.restorePlan.problems.map((p, i) => (
                <li key={i}>{p}</li>
              ))}
            </ul>
          ) : null}
        </>
      )}
      {hasDropped || (plan?.ok === true && plan.result.restorePlan.problems.some((p) => p.includes('allowNonRestoredState'))) || allow ? (
        <label className="checkbox-row">
          <input type="checkbox" checked={allow} onChange={(e) => setAllow(e.target.checked)} data-testid="redeploy-allow-drop" /> Drop the state of removed nodes (allowNonRestoredState)
        </label>
      ) : null}
      <div className="dialog-actions">
        <button type="button" className="text-button" onClick={props.onClose} data-testid="redeploy-cancel">
          Cancel
        </button>
        <button
          type="button"
          className="primary-button"
          disabled={blocked !== undefined || busy !== undefined}
          title={blocked}
          onClick={() => {
            void redeploy(graph, allow).then((result) => {
              if (result) props.onClose();
            });
          }}
          data-testid="redeploy-confirm"
        >
          {busy ?? 'Stop with savepoint and redeploy'}
        </button>
      </div>
    </Dialog>
  );
}
