'use client';
/**
 * The right-hand panel. Without a job it is the inspector; with a job attached it
 * has tabs: the inspector (to edit the pipeline for a redeploy), Live (figures of
 * the selected node per subtask, with charts; the job and its restore plan when
 * nothing is selected; a record tap for a selected edge), Watermarks (the
 * debugger) and State (state inspector and hot keys of keyed operators).
 */
import { getOperator } from '@sluice/graph-model';
import type { JobDetail } from '@sluice/protocol';
import { useId } from 'react';
import {
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
  formatWatermark,
  splitRows,
  subtaskRows,
  totalLag,
  transactionRows,
  type NodeHistory,
  type SplitRow,
  type TransactionRow,
} from '../engine/live-model';
import type { LiveTab } from '../engine/live-store';
import { getLiveStore, useLive } from '../engine/live-session';
import { useEditor } from '../store/use-editor';
import { Inspector } from './Inspector';
import { Sparkline } from './Sparkline';
import { HotKeysPanel, StateInspector, TapPanel } from './StatePanels';
import { WatermarkDebugger } from './WatermarkDebugger';

const TABS: ReadonlyArray<{ id: LiveTab; label: string }> = [
  { id: 'inspector', label: 'Inspector' },
  { id: 'live', label: 'Live' },
  { id: 'watermarks', label: 'Watermarks' },
  { id: 'state', label: 'State' },
];

export function SidePanel() {
  const job = useLive((s) => s.job);
  const tab = useLive((s) => s.tab);
  const tabsId = useId();
  if (!job) return <Inspector />;
  return (
    <div className="side-panel">
      <div className="tabs" role="tablist" aria-label="Panels">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`${tabsId}-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`${tabsId}-panel`}
            className={tab === t.id ? 'is-active' : undefined}
            onClick={() => getLiveStore().getState().setTab(t.id)}
            data-testid={`tab-${t.id}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="side-panel-body" role="tabpanel" id={`${tabsId}-panel`} aria-labelledby={`${tabsId}-${tab}`}>
        {tab === 'inspector' ? <Inspector /> : <LiveContent tab={tab} job={job} />}
      </div>
    </div>
  );
}

function LiveContent({ tab, job }: { tab: Exclude<LiveTab, 'inspector'>; job: JobDetail }) {
  const selection = useEditor((s) => s.selection);
  const nodeId = selection.nodes.length === 1 ? selection.nodes[0] : undefined;
  const edgeId = selection.nodes.length === 0 && selection.edges.length === 1 ? selection.edges[0] : undefined;
  const inJob = nodeId !== undefined && job.graph.nodes.some((n) => n.id === nodeId);
  return (
    <aside className="live-panel" aria-label={`${tab} view`} data-testid={`live-panel-${tab}`}>
      {tab === 'live' ? (
        inJob ? (
          <NodeLive nodeId={nodeId} job={job} />
        ) : edgeId !== undefined ? (
          <TapPanel key={`${job.id}/${edgeId}`} edgeId={edgeId} job={job} />
        ) : (
          <JobOverview job={job} />
        )
      ) : inJob ? (
        tab === 'watermarks' ? (
          <WatermarkDebugger nodeId={nodeId} job={job} />
        ) : (
          <StateTab key={`${job.id}/${nodeId}`} nodeId={nodeId} job={job} />
        )
      ) : (
        <p className="live-hint">{nodeId !== undefined ? `'${nodeId}' is not part of the running job (redeploy to add it).` : 'Select a node on the canvas.'}</p>
      )}
    </aside>
  );
}

function NodeTitle({ nodeId, job, sub }: { nodeId: string; job: JobDetail; sub: string }) {
  const node = job.graph.nodes.find((n) => n.id === nodeId);
  const definition = node ? getOperator(node.type) : undefined;
  return (
    <header className="live-header">
      <h2 tabIndex={-1}>{node?.name ?? definition?.title ?? nodeId}</h2>
      <p className="inspector-subtitle">
        <code>{nodeId}</code> · {sub}
      </p>
    </header>
  );
}

const EMPTY: readonly (number | null)[] = [];

function NodeLive({ nodeId, job }: { nodeId: string; job: JobDetail }) {
  const frame = useLive((s) => s.frame);
  const history: NodeHistory | undefined = useLive((s) => s.figures.history.get(nodeId));
  const overlay = useLive((s) => s.figures.overlays.get(nodeId));
  const node = job.graph.nodes.find((n) => n.id === nodeId);
  if (node && getOperator(node.type)?.keysStream === true) {
    return (
      <div data-testid="node-live-detail">
        <NodeTitle nodeId={nodeId} job={job} sub="key-by" />
        <p className="live-hint">A key-by runs as the exchange into the next operator (records are hash-partitioned by key group): its figures are the input figures of the operator after it. See State for its hot keys.</p>
      </div>
    );
  }
  const rows = frame ? subtaskRows(frame, nodeId) : [];
  return (
    <div data-testid="node-live-detail">
      <NodeTitle nodeId={nodeId} job={job} sub={overlay ? `parallelism ${overlay.parallelism}` : 'waiting for figures…'} />
      <div className="charts">
        <Sparkline label="in / s" values={history?.inPerSecond ?? EMPTY} format={formatRate} testId="chart-in" />
        <Sparkline label="out / s" values={history?.outPerSecond ?? EMPTY} format={formatRate} testId="chart-out" />
        <Sparkline label="busy" values={history?.busy ?? EMPTY} max={1} format={formatPercent} testId="chart-busy" />
        <Sparkline label="backpressured" values={history?.backpressured ?? EMPTY} max={1} format={formatPercent} testId="chart-backpressure" />
        <Sparkline label="event-time lag" values={history?.lagMs ?? EMPTY} format={formatDuration} testId="chart-lag" />
      </div>
      <h3 className="live-section">Subtasks</h3>
      {rows.length === 0 ? (
        <p className="live-hint">No per-subtask figures yet.</p>
      ) : (
        <div className="table-scroll">
          <table className="live-table" data-testid="subtask-table">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col" title="Records per second in">in/s</th>
                <th scope="col" title="Records per second out">out/s</th>
                <th scope="col" title="Busy share of this operator">busy</th>
                <th scope="col" title="Backpressured share of the task">backpr.</th>
                <th scope="col" title="Idle share of the task">idle</th>
                <th scope="col" title="Event-time lag: now − watermark">lag</th>
                <th scope="col">late</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.subtask} data-testid={`subtask-row-${r.subtask}`}>
                  <th scope="row">{r.subtask + 1}</th>
                  <td title={`${formatCount(r.recordsIn)} in total`}>{formatRate(r.inPerSecond)}</td>
                  <td title={`${formatCount(r.recordsOut)} in total`}>{formatRate(r.outPerSecond)}</td>
                  <td>{formatPercent(r.busy)}</td>
                  <td>
                    <span className={`bp-chip${r.level ? ` bp-${r.level}` : ''}`}>{formatPercent(r.backpressured)}</span>
                  </td>
                  <td>{formatPercent(r.idle)}</td>
                  <td title={formatWatermark(r.inputWatermark ?? r.outputWatermark)}>{formatDuration(r.eventTimeLagMs)}</td>
                  <td>{r.late === null ? '–' : formatCount(r.late)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="live-hint">Lag: now − the subtask&apos;s watermark (hover for the watermark). Rates are per second over the last sample; busy is the operator&apos;s own share, backpressured and idle the task&apos;s.</p>
      {node?.type === 'kafka-source' ? <PartitionTable rows={frame ? splitRows(frame, nodeId) : []} /> : null}
      {node?.type === 'kafka-sink' ? <TransactionTable rows={frame ? transactionRows(frame, nodeId) : []} semantics={(node.config as { semantics?: unknown } | undefined)?.semantics} /> : null}
    </div>
  );
}

/** A Kafka source's partitions: where each stands in event time and how far it is behind the topic. */
function PartitionTable({ rows }: { rows: readonly SplitRow[] }) {
  const lag = totalLag(rows);
  return (
    <>
      <h3 className="live-section">
        Partitions <span className="live-section-note" data-testid="partition-total-lag">consumer lag {lag === null ? '–' : formatCount(lag)}</span>
      </h3>
      {rows.length === 0 ? (
        <p className="live-hint" data-testid="partition-table-empty">
          No partitions reported yet (the subtasks list theirs once they have fetched the topic&apos;s metadata).
        </p>
      ) : (
        <div className="table-scroll">
          <table className="live-table" data-testid="partition-table">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col" title="Topic and partition">partition</th>
                <th scope="col" title="The partition's watermark">watermark</th>
                <th scope="col" title="No record for the idleness timeout: holds nothing back">idle</th>
                <th scope="col" title="Time since the partition's last record">last record</th>
                <th scope="col" title="Records between the position and the end of the partition, as of the last fetch">lag</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.subtask}/${r.split}`} data-testid={`partition-row-${r.split}`} data-idle={r.idle}>
                  <th scope="row">{r.subtask + 1}</th>
                  <td>{r.split}</td>
                  <td>{formatWatermark(r.watermark)}</td>
                  <td>{r.idle ? 'idle' : '–'}</td>
                  <td>{r.lastRecordAgeMs === null ? 'none yet' : `${formatDuration(r.lastRecordAgeMs)} ago`}</td>
                  <td>{r.lag === null ? '–' : formatCount(r.lag)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** A Kafka sink's transactions that read_committed readers cannot see yet, oldest first. */
function TransactionTable({ rows, semantics }: { rows: readonly TransactionRow[]; semantics: unknown }) {
  return (
    <>
      <h3 className="live-section">Open transactions</h3>
      {rows.length === 0 ? (
        <p className="live-hint" data-testid="transaction-table-empty">
          {semantics === 'exactly-once'
            ? 'None open right now.'
            : `None: the sink writes ${typeof semantics === 'string' ? semantics : 'at-least-once'}, without transactions (only exactly-once uses them).`}
        </p>
      ) : (
        <div className="table-scroll">
          <table className="live-table" data-testid="transaction-table">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">transactional id</th>
                <th scope="col">records</th>
                <th scope="col" title="Since its first record">age</th>
                <th scope="col" title="open until the checkpoint barrier, pre-committed until the checkpoint completes, then committing">phase</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.subtask}/${r.transactionalId}`} data-testid={`transaction-row-${r.transactionalId}`}>
                  <th scope="row">{r.subtask + 1}</th>
                  <td>{r.transactionalId}</td>
                  <td>{formatCount(r.records)}</td>
                  <td>{formatDuration(r.ageMs)}</td>
                  <td>{r.phase}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="live-hint">A transaction stays invisible to read_committed readers until its checkpoint completes; one that stays open long blocks them.</p>
    </>
  );
}

function JobOverview({ job }: { job: JobDetail }) {
  const status = useLive((s) => s.status);
  const frame = useLive((s) => s.frame);
  const plan = job.restorePlan;
  return (
    <div data-testid="job-overview">
      <header className="live-header">
        <h2 tabIndex={-1}>{job.name}</h2>
        <p className="inspector-subtitle">
          job <code data-testid="job-overview-id">{job.id}</code> · <span data-testid="job-overview-status">{status ?? job.status}</span>
          {job.restarts > 0 ? ` · ${job.restarts} restart${job.restarts === 1 ? '' : 's'}` : ''}
        </p>
      </header>
      <p className="live-hint">Select a node for its figures per subtask, or an edge to tap its records.</p>
      <h3 className="live-section">Tasks</h3>
      <ul className="task-list">
        {job.plan.tasks.map((t) => (
          <li key={t.id}>
            <code>{t.name}</code> ×{t.parallelism}
          </li>
        ))}
      </ul>
      {frame ? <p className="live-hint">Figures as of {new Date(frame.at).toLocaleTimeString()}.</p> : null}
      <h3 className="live-section">Restored state</h3>
      {plan ? (
        <div data-testid="job-restore-plan">
          <p className="live-hint" data-testid="job-restore-summary">
            Started from {plan.savepoint ? 'savepoint' : 'checkpoint'} {plan.checkpointId}: {plan.entries.filter((e) => e.status === 'restored').length} node(s) restored.
          </p>
          <RestorePlanTable plan={plan} testId="job-restore-table" />
        </div>
      ) : (
        <p className="live-hint">The job started without state (not from a savepoint or checkpoint).</p>
      )}
    </div>
  );
}

export function RestorePlanTable({ plan, testId }: { plan: NonNullable<JobDetail['restorePlan']>; testId: string }) {
  return (
    <table className="live-table restore-table" data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">node</th>
          <th scope="col">state</th>
          <th scope="col">states</th>
        </tr>
      </thead>
      <tbody>
        {plan.entries.map((e) => (
          <tr key={e.nodeId} data-testid={`${testId}-${e.nodeId}`} data-status={e.status}>
            <th scope="row">
              <code>{e.nodeId}</code>
            </th>
            <td>
              <span className={`restore-status restore-${e.status}`}>{e.status}</span>
              {e.reason !== null ? <div className="restore-reason">{e.reason}</div> : null}
            </td>
            <td>{e.states.length > 0 ? e.states.join(', ') : '–'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function StateTab({ nodeId, job }: { nodeId: string; job: JobDetail }) {
  const keyedInto = job.plan.exchanges.filter((x) => x.keyed && x.to.nodeId === nodeId);
  const node = job.graph.nodes.find((n) => n.id === nodeId);
  const isKeyBy = node !== undefined && getOperator(node.type)?.keysStream === true;
  if (keyedInto.length === 0 && !isKeyBy) {
    return (
      <div>
        <NodeTitle nodeId={nodeId} job={job} sub="not keyed" />
        <p className="live-hint" data-testid="state-not-keyed">
          &apos;{nodeId}&apos; does not read a keyed stream, so it has no keyed state or hot keys. Keyed operators here: {keyedOperators(job).join(', ') || 'none'}.
        </p>
      </div>
    );
  }
  return (
    <div>
      <NodeTitle nodeId={nodeId} job={job} sub={isKeyBy ? 'key-by (keyed exchange)' : 'keyed operator'} />
      {isKeyBy ? null : <StateInspector nodeId={nodeId} job={job} />}
      <HotKeysPanel nodeId={nodeId} job={job} />
    </div>
  );
}

function keyedOperators(job: JobDetail): string[] {
  return [...new Set(job.plan.exchanges.filter((x) => x.keyed).map((x) => x.to.nodeId))];
}
