'use client';
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { Example } from '../examples/load-examples';

/** A modal dialog: focus moves in on open, Escape closes, focus returns on close. */
export function Dialog(props: { title: string; onClose: () => void; children: ReactNode; testId: string; wide?: boolean }) {
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    const first = ref.current?.querySelector<HTMLElement>('[data-autofocus], textarea, input, button');
    first?.focus();
    return () => previous?.focus();
  }, []);
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div
        className={`dialog${props.wide ? ' dialog-wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={props.testId}
        ref={ref}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            props.onClose();
          }
        }}
      >
        <header className="dialog-header">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" className="icon-button" aria-label="Close" onClick={props.onClose} data-testid="dialog-close">
            ×
          </button>
        </header>
        {props.children}
      </div>
    </div>
  );
}

export function ImportDialog(props: { onClose: () => void; onImport: (text: string, label: string) => string | undefined }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const fileId = useId();
  const textId = useId();
  const submit = (value: string, label: string) => setError(props.onImport(value, label));
  return (
    <Dialog title="Import a pipeline" onClose={props.onClose} testId="import-dialog">
      <div className="field">
        <label className="field-label" htmlFor={fileId}>
          From a file
        </label>
        <input
          id={fileId}
          type="file"
          accept=".json,application/json"
          data-testid="import-file"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void file.text().then((content) => submit(content, `Import ${file.name}`));
          }}
        />
      </div>
      <div className="field">
        <label className="field-label" htmlFor={textId}>
          Or paste the JSON
        </label>
        <textarea
          id={textId}
          rows={12}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setError(undefined);
          }}
          spellCheck={false}
          className="mono"
          data-testid="import-text"
          placeholder='{ "schemaVersion": 1, "name": "…", "nodes": [], "edges": [] }'
        />
      </div>
      {error !== undefined ? (
        <p className="dialog-error" role="alert" data-testid="import-error">
          {error}
        </p>
      ) : null}
      <footer className="dialog-actions">
        <button type="button" className="text-button" onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" className="primary-button" disabled={text.trim() === ''} onClick={() => submit(text, 'Import pasted JSON')} data-testid="import-load">
          Load pasted JSON
        </button>
      </footer>
    </Dialog>
  );
}

export function ExamplesDialog(props: { examples: readonly Example[]; onClose: () => void; onOpen: (example: Example) => void }) {
  return (
    <Dialog title="Examples" onClose={props.onClose} testId="examples-dialog" wide>
      {props.examples.length === 0 ? <p>No examples were found when this app was built.</p> : null}
      <ul className="examples">
        {props.examples.map((example) => (
          <li key={example.file}>
            <button type="button" className="example-card" onClick={() => props.onOpen(example)} data-testid={`example-${example.file.replace(/\.json$/, '')}`}>
              <span className="example-name">{example.name}</span>
              <span className="example-description">{example.description}</span>
              <span className="example-meta">
                {example.nodeCount} nodes · {example.edgeCount} edges · {example.operatorTypes.join(', ')}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}

export function DiffDialog(props: { what: string; changes: readonly string[]; onConfirm: () => void; onClose: () => void }) {
  return (
    <Dialog title="Replace the current pipeline?" onClose={props.onClose} testId="diff-dialog" wide>
      <p>
        The current pipeline has changes that were not exported. {props.what} will change it like this (layout and key order aside):
      </p>
      <ul className="diff-list mono" data-testid="diff-list">
        {props.changes.map((line, i) => (
          <li key={i} className={`diff-${line[0] === '+' ? 'add' : line[0] === '−' ? 'remove' : 'change'}`} data-testid="diff-line">
            {line}
          </li>
        ))}
      </ul>
      <footer className="dialog-actions">
        <button type="button" className="text-button" onClick={props.onClose} data-testid="diff-cancel">
          Keep the current pipeline
        </button>
        <button type="button" className="primary-button" onClick={props.onConfirm} data-testid="diff-confirm" data-autofocus>
          Replace
        </button>
      </footer>
    </Dialog>
  );
}
