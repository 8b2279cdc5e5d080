'use client';
/**
 * "Why doesn't my window fire?" answered on screen: a node's watermark is the
 * minimum over its inputs (idle inputs excluded, as Flink's StatusWatermarkValve
 * does), and over its subtasks. The debugger names the input — the upstream
 * operator, its subtask and the edge — that holds it back, and flags idle inputs.
 */
import type { HoldingBack, JobDetail } from '@sluice/protocol';
import { explainWatermark, formatDuration, formatWatermark } from '../engine/live-model';
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
          <p className="live-hint">A source makes its watermark from the timestamps of its own records (its watermark strategy): it has no inputs to take a minimum over. Per subtask:</p>
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
            </section>
          ))}
        </>
      )}
    </div>
  );
}
