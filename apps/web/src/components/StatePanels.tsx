'use client';
/**
 * Looking inside a running job: the keyed state of one key (every state value and
 * pending timer), the hottest keys of a keyed exchange, and records sampled on an
 * edge (with the watermark at arrival and, after a window, the window or 'late').
 * Each asks the engine; when it refuses (a node without keyed state, a rate above the
 * engine's cap), the panel shows the engine's own message.
 */
import type { HotKeysEvent, JobDetail, StateQueryResult, TapRecordsEvent } from '@sluice/protocol';
import { useEffect, useId, useRef, useState } from 'react';
import { EngineError, errorMessage } from '../engine/engine-client';
import { formatRate, formatWatermark } from '../engine/live-model';
import { engineClient, startTap, stopTap, subscribeHotKeys } from '../engine/live-session';

function json(value: unknown): string {
  try {
    return value === undefined ? 'undefined' : JSON.stringify(value, null, 1);
  } catch {
    return String(value);
  }
}

type StateAnswer =
  | { readonly kind: 'idle' }
  | { readonly kind: 'loading' }
  | { readonly kind: 'ok'; readonly result: StateQueryResult }
  | { readonly kind: 'unavailable'; readonly message: string }
  | { readonly kind: 'error'; readonly message: string };

export function StateInspector({ nodeId, job }: { nodeId: string; job: JobDetail }) {
  const [key, setKey] = useState('');
  const [answer, setAnswer] = useState<StateAnswer>({ kind: 'idle' });
  const inputId = useId();
  const query = async () => {
    const client = engineClient();
    if (!client) return;
    setAnswer({ kind: 'loading' });
    try {
      setAnswer({ kind: 'ok', result: await client.state(job.id, nodeId, key) });
    } catch (error) {
      setAnswer(error instanceof EngineError && error.notAvailable ? { kind: 'unavailable', message: error.message } : { kind: 'error', message: errorMessage(error) });
    }
  };
  return (
    <section className="live-block" aria-labelledby={`${inputId}-title`} data-testid="state-inspector">
      <h3 className="live-section" id={`${inputId}-title`}>
        Keyed state
      </h3>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void query();
        }}
      >
        <label htmlFor={inputId} className="field-label">
          Key
        </label>
        <input id={inputId} type="text" value={key} onChange={(e) => setKey(e.target.value)} placeholder="a key, e.g. /home or 42" data-testid="state-key" />
        <button type="submit" className="text-button" disabled={answer.kind === 'loading'} data-testid="state-query">
          Show state
        </button>
      </form>
      {answer.kind === 'loading' ? <p className="live-hint">Asking the engine…</p> : null}
      {answer.kind === 'unavailable' ? (
        <p className="live-note" role="status" data-testid="state-unavailable">
          The engine cannot show state yet: {answer.message}
        </p>
      ) : null}
      {answer.kind === 'error' ? (
        <p className="live-error" role="alert" data-testid="state-error">
          {answer.message}
        </p>
      ) : null}
      {answer.kind === 'ok' ? <StateResult result={answer.result} /> : null}
    </section>
  );
}

function StateResult({ result }: { result: StateQueryResult }) {
  const timers = [...result.timers.event.map((t) => ({ ...t, domain: 'event time' })), ...result.timers.processing.map((t) => ({ ...t, domain: 'processing time' }))];
  return (
    <div data-testid="state-result">
      <p className="live-hint">
        Key <code>{String(result.key)}</code> · key group {result.keyGroup} · subtask {result.subtask + 1} (attempt {result.attempt})
      </p>
      {result.states.length === 0 ? (
        <p className="live-hint" data-testid="state-empty">
          No state for this key.
        </p>
      ) : (
        <table className="live-table">
          <thead>
            <tr>
              <th scope="col">state</th>
              <th scope="col">namespace</th>
              <th scope="col">value</th>
            </tr>
          </thead>
          <tbody>
            {result.states.map((s, i) => (
              <tr key={i} data-testid={`state-row-${s.name}`}>
                <th scope="row">
                  {s.name}
                  {s.kind !== null ? <span className="wm-tag">{s.kind}</span> : null}
                </th>
                <td>{s.namespace === null ? '–' : String(s.namespace)}</td>
                <td>
                  <pre className="state-value">{json(s.value)}</pre>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h4 className="live-subsection">Pending timers</h4>
      {timers.length === 0 ? (
        <p className="live-hint">None.</p>
      ) : (
        <ul className="timer-list" data-testid="state-timers">
          {timers.map((t, i) => (
            <li key={i}>
              {t.domain}: {formatWatermark(t.timestamp)}
              {t.namespace !== null ? ` (${String(t.namespace)})` : ''}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

type Subscription = { readonly kind: 'off' } | { readonly kind: 'starting' } | { readonly kind: 'on' } | { readonly kind: 'refused'; readonly message: string };

export function HotKeysPanel({ nodeId, job }: { nodeId: string; job: JobDetail }) {
  const [sub, setSub] = useState<Subscription>({ kind: 'off' });
  const [event, setEvent] = useState<HotKeysEvent | undefined>(undefined);
  const stop = useRef<(() => void) | undefined>(undefined);
  useEffect(() => () => stop.current?.(), []);
  const stopCounting = () => {
    stop.current?.();
    stop.current = undefined;
    setSub({ kind: 'off' });
    setEvent(undefined);
  };
  const start = async () => {
    setSub({ kind: 'starting' });
    const reply = await subscribeHotKeys(nodeId, setEvent);
    if (reply.ok) {
      stop.current = reply.unsubscribe;
      setSub({ kind: 'on' });
    } else {
      setSub({ kind: 'refused', message: reply.error });
    }
  };
  return (
    <section className="live-block" data-testid="hot-keys">
      <h3 className="live-section">Hot keys</h3>
      {sub.kind === 'off' || sub.kind === 'starting' ? (
        <button type="button" className="text-button" onClick={() => void start()} disabled={sub.kind === 'starting'} data-testid="hot-keys-start">
          Count keys on {job.plan.exchanges.some((x) => x.keyed && x.to.nodeId === nodeId) ? 'the keyed input' : 'this exchange'}
        </button>
      ) : null}
      {sub.kind === 'refused' ? (
        <p className="live-note" role="status" data-testid="hot-keys-unavailable">
          The engine did not start counting keys: {sub.message}
        </p>
      ) : null}
      {sub.kind === 'on' ? (
        <button type="button" className="text-button" onClick={stopCounting} data-testid="hot-keys-stop">
          Stop counting
        </button>
      ) : null}
      {sub.kind === 'on' && !event ? <p className="live-hint">Counting… the first figures come within two seconds.</p> : null}
      {event ? (
        <>
          <p className="live-hint">
            {formatRate(event.totalPerSecond)} records/s in total, over the last {Math.round(event.windowMs / 1000)} s.
          </p>
          <table className="live-table" data-testid="hot-keys-table">
            <thead>
              <tr>
                <th scope="col">key</th>
                <th scope="col">/s</th>
                <th scope="col">share</th>
                <th scope="col">subtask</th>
              </tr>
            </thead>
            <tbody>
              {event.keys.map((k) => (
                <tr key={String(k.key)} data-testid="hot-key-row" data-key={String(k.key)}>
                  <th scope="row">
                    <code>{String(k.key)}</code>
                  </th>
                  <td>{formatRate(k.perSecond)}</td>
                  <td>
                    <span className="share-bar" style={{ width: `${Math.round(k.share * 60)}px` }} aria-hidden="true" /> {Math.round(k.share * 100)}%
                  </td>
                  <td title={`key group ${k.keyGroup}`}>{k.subtask + 1}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}

const TAP_KEEP = 100;

export function TapPanel({ edgeId, job }: { edgeId: string; job: JobDetail }) {
  const edge = job.graph.edges.find((e) => e.id === edgeId);
  const [sub, setSub] = useState<Subscription>({ kind: 'off' });
  const [records, setRecords] = useState<TapRecordsEvent['records']>([]);
  const [skipped, setSkipped] = useState(0);
  const [ended, setEnded] = useState<TapRecordsEvent['ended']>(undefined);
  const tapId = useRef<string | undefined>(undefined);
  useEffect(
    () => () => {
      if (tapId.current !== undefined) stopTap(tapId.current);
    },
    [],
  );
  if (!edge) return <p className="live-hint">Edge &apos;{edgeId}&apos; is not part of the running job.</p>;
  const start = async () => {
    setSub({ kind: 'starting' });
    setEnded(undefined);
    const reply = await startTap(edgeId, (event) => {
      setRecords((list) => [...[...event.records].reverse(), ...list].slice(0, TAP_KEEP));
      setSkipped((n) => n + event.skipped);
      if (event.ended !== undefined) {
        tapId.current = undefined;
        setEnded(event.ended);
        setSub({ kind: 'off' });
      }
    });
    if (reply.ok) {
      tapId.current = reply.id;
      setSub({ kind: 'on' });
    } else {
      setSub({ kind: 'refused', message: reply.error });
    }
  };
  return (
    <section className="live-block" data-testid="tap-panel">
      <header className="live-header">
        <h2 tabIndex={-1}>Records on {edgeId}</h2>
        <p className="inspector-subtitle">
          <code>{edge.source}</code> → <code>{edge.target}</code>
        </p>
      </header>
      {sub.kind === 'off' || sub.kind === 'starting' ? (
        <button type="button" className="text-button" onClick={() => void start()} disabled={sub.kind === 'starting'} data-testid="tap-start">
          Tap this edge (10 records/s at most)
        </button>
      ) : null}
      {sub.kind === 'on' ? (
        <button
          type="button"
          className="text-button"
          onClick={() => {
            if (tapId.current !== undefined) stopTap(tapId.current);
            tapId.current = undefined;
            setSub({ kind: 'off' });
          }}
          data-testid="tap-stop"
        >
          Stop
        </button>
      ) : null}
      {sub.kind === 'refused' ? (
        <p className="live-note" role="status" data-testid="tap-unavailable">
          The engine did not start the tap: {sub.message}
        </p>
      ) : null}
      {ended !== undefined ? (
        <p className="live-hint" data-testid="tap-ended">
          {ended === 'limit' ? 'The tap stopped after 100 records (its limit).' : ended === 'job-ended' ? 'The tap ended with the job.' : 'The tap was stopped.'}
        </p>
      ) : null}
      {records.length > 0 ? (
        <>
          <p className="live-hint">
            {records.length} newest records{skipped > 0 ? `; ${skipped} skipped by the rate limit` : ''}. The watermark is the one the producer had emitted when the record left it.
          </p>
          <table className="live-table" data-testid="tap-records">
            <thead>
              <tr>
                <th scope="col">timestamp</th>
                <th scope="col">watermark</th>
                <th scope="col">window</th>
                <th scope="col">kind</th>
                <th scope="col">from</th>
                <th scope="col">value</th>
              </tr>
            </thead>
            <tbody>
              {records.map((r, i) => (
                <tr key={i} data-testid="tap-record" data-late={r.window === 'late'}>
                  <td>{r.timestamp === null ? '–' : formatWatermark(r.timestamp)}</td>
                  <td>{formatWatermark(r.watermark)}</td>
                  <td>{r.window === null ? '–' : r.window === 'late' ? <span className="wm-tag wm-late">late</span> : `[${formatWatermark(r.window.start)}, ${formatWatermark(r.window.end)})`}</td>
                  <td>{r.kind}</td>
                  <td>{r.subtask + 1}</td>
                  <td>
                    <pre className="state-value">{json(r.value)}</pre>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : sub.kind === 'on' ? (
        <p className="live-hint">Waiting for records…</p>
      ) : null}
    </section>
  );
}
