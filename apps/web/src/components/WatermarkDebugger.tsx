'use client';
/**
 * "Why doesn't my window fire?" answered on screen: a node's watermark is the
 * minimum over its inputs (idle inputs excluded, as Flink's StatusWatermarkValve
 * does), and over its subtasks. The debugger names the input — the upstream
 * operator, its subtask and the edge — that holds it back, and flags idle inputs.
 */
import type { ChannelTelemetry, HoldingBack, JobDetail, SplitTelemetry } from '@sluice/protocol';
import { explainWatermark, formatDuration, formatWatermark, type WatermarkInputRow } from '../engine/live-model';
import { useLive } from '../engine/live-session';
import { getEditorStore } from '../store/use-editor';
import { requestView } from './view-events';

function HoldingBackLink({ holdingBack }: { holdingBack: HoldingBack }) {
  return (
    <button
      type="button"
      className="link-button"
      data-testid="wm-holding-back-link"
      onClick={() => {
        getEditorStore().getState().select({ nodes: [holdingBack.nodeId], edges: [] });
        requestView({ kind: 'center-node', id: holdingBack.nodeId });
      }}
      title="Select the upstream operator"
    >
      {holdingBack.description}
    </button>
  );
}

function lastRecord(ageMs: number | null): string {
  return ageMs === null ? 'none yet' : `${formatDuration(ageMs)} ago`;
}

/** Each producer subtask feeding one input: its watermark, idleness and last delivery. */
function ChannelTable({ subtask, input }: { subtask: number; input: WatermarkInputRow }) {
  if (input.channels.length === 0) return null;
  const minimum = input.channels.filter((c) => !c.idle && !c.ended).reduce<ChannelTelemetry | undefined>((best, c) => (best === undefined || Number(c.watermark) < Number(best.watermark) ? c : best), undefined);
  return (
    <table className="live-table wm-channels" data-testid={`wm-channels-${subtask}-${input.inputName}`}>
      <caption className="live-hint">Channels of input {input.inputName}</caption>
      <thead>
        <tr>
          <th scope="col">from</th>
          <th scope="col">watermark</th>
          <th scope="col">state</th>
          <th scope="col">last record</th>
        </tr>
      </thead>
      <tbody>
        {input.channels.map((c) => (
          <tr
            key={`${c.exchange}/${c.subtask}`}
            className={c === minimum ? 'wm-limiting' : undefined}
            data-testid={`wm-channel-${subtask}-${c.nodeId}-${c.subtask}`}
            data-idle={c.idle}
            data-ended={c.ended}
            data-holding-back={c === minimum}
          >
            <th scope="row">
              <code>{c.nodeId}</code> {c.subtask + 1}
              <span className="wm-edge"> ({c.edgeIds.join(', ')})</span>
            </th>
            <td>{formatWatermark(c.watermark)}</td>
            <td>{c.ended ? 'ended' : c.idle ? <span className="wm-tag wm-idle">idle</span> : c === minimum ? <span className="wm-tag">min</span> : 'active'}</td>
            <td data-testid="wm-channel-age">{lastRecord(c.lastRecordAgeMs)}</td>
          </tr>
        ))}
        {input.channelsOmitted > 0 ? (
          <tr>
            <td colSpan={4} className="live-hint">
              … and {input.channelsOmitted} more channel{input.channelsOmitted === 1 ? '' : 's'} ahead of these
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

/** A source subtask's splits (generator splits, Kafka partitions). */
function SplitTable({ subtask, splits }: { subtask: number; splits: readonly SplitTelemetry[] }) {
  if (splits.length === 0) return null;
  return (
    <table className="live-table" data-testid={`wm-splits-${subtask}`}>
      <caption className="live-hint">Splits of subtask {subtask + 1}</caption>
      <thead>
        <tr>
          <th scope="col">split</th>
          <th scope="col">watermark</th>
          <th scope="col">state</th>
          <th scope="col">last record</th>
        </tr>
      </thead>
      <tbody>
        {splits.map((s) => (
          <tr key={s.split} data-testid={`wm-split-${subtask}-${s.split}`} data-idle={s.idle}>
            <th scope="row">{s.split}</th>
            <td>{formatWatermark(s.watermark)}</td>
            <td>{s.idle ? <span className="wm-tag wm-idle">idle</span> : 'active'}</td>
            <td>{lastRecord(s.lastRecordAgeMs)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function WatermarkDebugger({ nodeId, job }: { nodeId: string; job: JobDetail }) {
  const frame = useLive((s) => s.frame);
  const node = job.graph.nodes.find((n) => n.id === nodeId);
  const title = (
    <header className="live-header">
      <h2 tabIndex={-1}>Watermark of {node?.name ?? nodeId}</h2>
      <p className="inspector-subtitle">
        <code>{nodeId}</code>
      </p>
    </header>
  );
  if (!frame) {
    return (
      <div data-testid="watermark-debugger">
        {title}
        <p className="live-hint">Waiting for the first telemetry frame…</p>
      </div>
    );
  }
  const explanation = explainWatermark(frame, nodeId);
  return (
    <div data-testid="watermark-debugger" data-kind={explanation.kind}>
      {title}
      {explanation.kind === 'unknown' ? (
        <p className="live-hint">
          &apos;{nodeId}&apos; does not run as an operator of its own (a key-by becomes the exchange into the next operator): look at the operator after it.
        </p>
      ) : explanation.kind === 'source' ? (
        <>
          <dl className="wm-facts">
            <dt>Watermark</dt>
            <dd data-testid="wm-value">{formatWatermark(explanation.watermark)}</dd>
            <dt>Event-time lag</dt>
            <dd>{formatDuration(explanation.lagMs)}</dd>
          </dl>
          <p className="live-hint">
            A source makes its watermark from the timestamps of its own records (its watermark strategy): the minimum over its splits that are not idle. Per subtask:
          </p>
          <table className="live-table">
            <thead>
              <tr>
                <th scope="col">subtask</th>
                <th scope="col">watermark out</th>
              </tr>
            </thead>
            <tbody>
              {explanation.subtasks.map((s) => (
                <tr key={s.subtask}>
                  <th scope="row">{s.subtask + 1}</th>
                  <td>{formatWatermark(s.watermark)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {explanation.subtasks.map((s) => (
            <SplitTable key={s.subtask} subtask={s.subtask} splits={s.splits} />
          ))}
        </>
      ) : explanation.kind === 'chained' ? (
        <>
          <dl className="wm-facts">
            <dt>Watermark</dt>
            <dd data-testid="wm-value">{formatWatermark(explanation.watermark)}</dd>
            <dt>Event-time lag</dt>
            <dd>{formatDuration(explanation.lagMs)}</dd>
          </dl>
          <p className="live-hint" data-testid="wm-chained">
            Chained behind <code>{explanation.upstream}</code> in the same thread: it receives exactly the watermark <code>{explanation.upstream}</code> emits. Open the debugger on{' '}
            <code>{explanation.upstream}</code> (or the head of the chain) to see which input holds it back.
          </p>
        </>
      ) : (
        <>
          <dl className="wm-facts">
            <dt>Watermark</dt>
            <dd data-testid="wm-value">{formatWatermark(explanation.watermark)}</dd>
            <dt>Event-time lag</dt>
            <dd>{formatDuration(explanation.lagMs)}</dd>
            <dt>Held back by</dt>
            <dd data-testid="wm-holding-back">
              {explanation.idle ? 'nothing: every input is idle' : explanation.holdingBack ? <HoldingBackLink holdingBack={explanation.holdingBack} /> : 'nothing (no watermark has arrived yet, or every channel ended)'}
            </dd>
          </dl>
          <p className="live-hint">
            The watermark is the minimum over the inputs of each subtask (idle inputs do not count) and then over the subtasks
            {explanation.slowestSubtask !== null ? `; the slowest is subtask ${explanation.slowestSubtask + 1}` : ''}.
          </p>
          {explanation.subtasks.map((s) => (
            <section key={s.subtask} className="wm-subtask" data-testid={`wm-subtask-${s.subtask}`}>
              <h3 className="live-section">
                Subtask {s.subtask + 1}
                {s.subtask === explanation.slowestSubtask ? <span className="wm-tag">slowest</span> : null}
                {s.idle ? <span className="wm-tag wm-idle">idle</span> : null}
              </h3>
              <table className="live-table">
                <thead>
                  <tr>
                    <th scope="col">input</th>
                    <th scope="col">watermark</th>
                    <th scope="col">held back by</th>
                  </tr>
                </thead>
                <tbody>
                  {s.inputs.map((input) => (
                    <tr key={input.input} className={input.limiting ? 'wm-limiting' : undefined} data-testid={`wm-input-${s.subtask}-${input.inputName}`} data-limiting={input.limiting} data-idle={input.idle}>
                      <th scope="row">
                        {input.inputName}
                        {input.limiting ? <span className="wm-tag">min</span> : null}
                        {input.idle ? <span className="wm-tag wm-idle">idle</span> : null}
                      </th>
                      <td>{formatWatermark(input.watermark)}</td>
                      <td>{input.idle ? 'idle: not counted' : (input.holdingBack?.description ?? '–')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {s.inputs.map((input) => (
                <ChannelTable key={input.input} subtask={s.subtask} input={input} />
              ))}
            </section>
          ))}
        </>
      )}
    </div>
  );
}
