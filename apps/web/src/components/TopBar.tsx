'use client';
import { useEditor } from '../store/use-editor';
import { JobBar, type JobBarActions } from './JobBar';

export interface TopBarActions extends JobBarActions {
  readonly onNew: () => void;
  readonly onImport: () => void;
  readonly onExamples: () => void;
  readonly onExport: () => void;
  readonly onCopy: () => void;
  readonly onUndo: () => void;
  readonly onRedo: () => void;
  readonly onLayout: () => void;
  readonly onFit: () => void;
}

/** Pipeline actions, and the engine's: deploy, jobs, and the attached job's controls. */
export function TopBar(props: TopBarActions) {
  const name = useEditor((s) => s.doc.name);
  const modified = useEditor((s) => s.doc !== s.savedDoc);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const undoLabel = useEditor((s) => s.past[s.past.length - 1]?.label);
  const redoLabel = useEditor((s) => s.future[s.future.length - 1]?.label);
  return (
    <header className="topbar">
      <div className="brand" aria-label="Sluice">
        <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true">
          <path d="M2 4h8l4 4-4 4H2" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round" />
          <path d="M5 8h6" stroke="currentColor" strokeWidth="1.6" />
        </svg>
        Sluice
      </div>
      <div className="doc-title" data-testid="doc-title" title={modified ? 'Changed since it was loaded or exported' : undefined}>
        {name}
        {modified ? <span className="modified-dot" aria-label="(modified)"> •</span> : null}
      </div>
      <nav className="toolbar" aria-label="Pipeline">
        <button type="button" onClick={props.onNew} data-testid="btn-new">
          New
        </button>
        <button type="button" onClick={props.onImport} data-testid="btn-import">
          Import…
        </button>
        <button type="button" onClick={props.onExamples} data-testid="btn-examples">
          Examples…
        </button>
        <button type="button" onClick={props.onExport} data-testid="btn-export" title="Download as canonical JSON">
          Export
        </button>
        <button type="button" onClick={props.onCopy} data-testid="btn-copy-json" title="Copy the canonical JSON to the clipboard">
          Copy JSON
        </button>
        <span className="toolbar-separator" aria-hidden="true" />
        <button
          type="button"
          className="icon-button"
          onClick={props.onUndo}
          disabled={!canUndo}
          aria-label={undoLabel ? `Undo ${undoLabel}` : 'Undo'}
          title={`Undo${undoLabel ? ` ${undoLabel}` : ''} (Ctrl+Z)`}
          data-testid="btn-undo"
        >
          ↶
        </button>
        <button
          type="button"
          className="icon-button"
          onClick={props.onRedo}
          disabled={!canRedo}
          aria-label={redoLabel ? `Redo ${redoLabel}` : 'Redo'}
          title={`Redo${redoLabel ? ` ${redoLabel}` : ''} (Ctrl+Shift+Z)`}
          data-testid="btn-redo"
        >
          ↷
        </button>
        <button type="button" onClick={props.onLayout} data-testid="btn-layout" title="Lay the graph out left to right">
          Auto-layout
        </button>
        <button type="button" onClick={props.onFit} data-testid="btn-fit" title="Fit the whole graph in view">
          Fit view
        </button>
      </nav>
      <JobBar onJobs={props.onJobs} onRedeploy={props.onRedeploy} />
    </header>
  );
}
