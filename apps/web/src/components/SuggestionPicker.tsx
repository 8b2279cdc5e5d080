'use client';
/**
 * "Pick…" beside a config field whose values the engine can list
 * (engine/field-suggestions.ts): asks the engine when clicked, with the node's
 * config as it is at that moment, and shows the values or the engine's own error.
 */
import { useEffect, useRef, useState } from 'react';
import { errorMessage } from '../engine/engine-client';
import { engineNotReady, type FieldSuggestion, type SuggestionSource } from '../engine/field-suggestions';
import { engineClient, getLiveStore } from '../engine/live-session';

type PickerState =
  | { readonly kind: 'closed' }
  | { readonly kind: 'loading'; readonly from: string }
  | { readonly kind: 'loaded'; readonly from: string; readonly values: readonly FieldSuggestion[] }
  | { readonly kind: 'failed'; readonly from: string; readonly error: string };

export function SuggestionPicker(props: {
  source: SuggestionSource;
  fieldPath: string;
  /** The node's config with defaults filled in, read when the user asks. */
  config: () => Readonly<Record<string, unknown>>;
  pick: (value: string) => void;
}) {
  const { source, fieldPath, config, pick } = props;
  const [state, setState] = useState<PickerState>({ kind: 'closed' });
  const request = useRef<AbortController | undefined>(undefined);
  useEffect(() => () => request.current?.abort(), []);
  const testId = `field-${fieldPath}-pick`;

  const ask = () => {
    request.current?.abort();
    const current = config();
    const from = source.describe(current);
    const client = engineClient();
    const notReady = engineNotReady(getLiveStore().getState().engine, client);
    if (notReady !== null || client === undefined) {
      setState({ kind: 'failed', from, error: notReady ?? 'no engine connected' });
      return;
    }
    const controller = new AbortController();
    request.current = controller;
    setState({ kind: 'loading', from });
    source.load(client, current, controller.signal).then(
      (values) => {
        if (!controller.signal.aborted) setState({ kind: 'loaded', from, values });
      },
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ kind: 'failed', from, error: errorMessage(error) });
      },
    );
  };
  const close = () => {
    request.current?.abort();
    setState({ kind: 'closed' });
  };

  return (
    <div className="suggestion-picker">
      <button type="button" className="text-button" onClick={ask} data-testid={testId} title={`List the ${source.noun}s the engine finds`}>
        {state.kind === 'closed' ? `Pick ${source.noun}…` : `Ask again`}
      </button>
      {state.kind === 'closed' ? null : (
        <div className="suggestion-panel" data-testid={`${testId}-panel`} aria-live="polite">
          <div className="suggestion-head">
            <span>
              {state.kind === 'loading' ? 'Asking the engine for the ' : ''}
              {source.noun}s of {state.from}
              {state.kind === 'loading' ? '…' : ''}
            </span>
            <button type="button" className="icon-button" onClick={close} aria-label={`Close the ${source.noun} list`} data-testid={`${testId}-close`}>
              ×
            </button>
          </div>
          {state.kind === 'failed' ? (
            <p className="field-errors suggestion-error" role="alert" data-testid={`${testId}-error`}>
              {state.error}
            </p>
          ) : null}
          {state.kind === 'loaded' && state.values.length === 0 ? (
            <p className="live-hint" data-testid={`${testId}-empty`}>
              No {source.noun}s there yet.
            </p>
          ) : null}
          {state.kind === 'loaded' && state.values.length > 0 ? (
            <ul className="suggestion-list" aria-label={`${source.noun}s`} data-testid={`${testId}-list`}>
              {state.values.map((v) => (
                <li key={v.value}>
                  <button
                    type="button"
                    className="suggestion-item"
                    onClick={() => {
                      pick(v.value);
                      close();
                    }}
                    data-testid={`${testId}-option-${v.value}`}
                  >
                    <code>{v.value}</code>
                    <span className="suggestion-detail">{v.detail}</span>
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      )}
    </div>
  );
}
