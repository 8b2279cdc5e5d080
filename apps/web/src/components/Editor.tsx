'use client';
/**
 * The editor's shell: top bar, palette, canvas, problems, inspector, dialogs,
 * and the keyboard: undo/redo (Ctrl/Cmd+Z, Shift+Ctrl+Z, Ctrl+Y), copy/paste
 * (Ctrl+C/V), delete (Delete/Backspace) and select all (Ctrl+A) — whenever the
 * focus is not in a text field or the code editor, which keep their own keys.
 */
import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { useEffect, useState } from 'react';
import type { JobSummary } from '@sluice/protocol';
import { errorMessage } from '../engine/engine-client';
import { attach, engineClient, startLiveSession } from '../engine/live-session';
import { readClipboardPayload } from '../model/clipboard';
import { diffGraphs, describeDiff, isEmptyDiff } from '../model/diff';
import { emptyDocument, type GraphDocument } from '../model/document';
import type { Example } from '../examples/load-examples';
import { getEditorStore } from '../store/use-editor';
import { Canvas } from './Canvas';
import { DiffDialog, ExamplesDialog, ImportDialog } from './Dialogs';
import { autoLayout, copyJson, downloadJson, loadDocument, planImport } from './file-actions';
import { BottomPanel } from './JobPanels';
import { JobsDialog, RedeployDialog } from './JobDialogs';
import { SidePanel } from './LiveSidePanel';
import { Palette } from './Palette';
import { Toasts } from './Toasts';
import { TopBar } from './TopBar';

type DialogState =
  | { readonly kind: 'import' }
  | { readonly kind: 'examples' }
  | { readonly kind: 'jobs' }
  | { readonly kind: 'redeploy'; readonly graph: GraphDocument }
  | { readonly kind: 'confirm'; readonly what: string; readonly document: GraphDocument; readonly label: string; readonly changes: readonly string[] };

export default function Editor({ examples }: { examples: readonly Example[] }) {
  return (
    <ReactFlowProvider>
      <EditorShell examples={examples} />
    </ReactFlowProvider>
  );
}

function EditorShell({ examples }: { examples: readonly Example[] }) {
  const [dialog, setDialog] = useState<DialogState | undefined>(undefined);
  const flow = useReactFlow();
  useKeyboard(dialog !== undefined);
  useEffect(() => startLiveSession(), []);

  /** Attaches to a job, showing its graph on the canvas (asking first when that replaces unsaved edits). */
  const attachJob = async (summary: JobSummary) => {
    setDialog(undefined);
    const state = getEditorStore().getState();
    try {
      const detail = await engineClient()?.job(summary.id);
      if (!detail) return;
      const changes = describeDiff(diffGraphs(state.doc, detail.graph));
      if (!isEmptyDiff(diffGraphs(state.doc, detail.graph))) {
        const unsaved = state.doc.nodes.length > 0 && state.isModified();
        if (unsaved && !window.confirm(`Show the graph of job ${detail.id} on the canvas? It replaces the pipeline there (${changes.length} change${changes.length === 1 ? '' : 's'}, not exported).`)) return;
        await loadDocument(detail.graph, `Attach to job ${detail.id}`);
      }
      await attach(detail.id);
    } catch (error) {
      state.toast('error', errorMessage(error));
    }
  };

  /** Returns an error message for the import dialog, or undefined when it is done. */
  const importText = (text: string, label: string, what: string): string | undefined => {
    const plan = planImport(text, label);
    if (plan.kind === 'error') return plan.message;
    if (plan.kind === 'confirm') {
      setDialog({ kind: 'confirm', what, document: plan.document, label: plan.label, changes: plan.changes });
      return undefined;
    }
    setDialog(undefined);
    void loadDocument(plan.document, plan.label);
    return undefined;
  };

  return (
    <div className="app">
      <TopBar
        onNew={() => {
          const store = getEditorStore().getState();
          if (store.doc.nodes.length > 0 && store.isModified() && !window.confirm('Discard the current pipeline? Its changes were not exported.')) return;
          void loadDocument(emptyDocument(), 'New pipeline');
        }}
        onImport={() => setDialog({ kind: 'import' })}
        onExamples={() => setDialog({ kind: 'examples' })}
        onExport={downloadJson}
        onCopy={() => void copyJson()}
        onUndo={() => getEditorStore().getState().undo()}
        onRedo={() => getEditorStore().getState().redo()}
        onLayout={() => void autoLayout()}
        onFit={() => void flow.fitView({ padding: 0.08, maxZoom: 1.2 })}
        onJobs={() => setDialog({ kind: 'jobs' })}
        onRedeploy={() => setDialog({ kind: 'redeploy', graph: getEditorStore().getState().doc })}
      />
      <main className="workspace">
        <Palette />
        <div className="center">
          <Canvas />
          <BottomPanel />
        </div>
        <SidePanel />
      </main>
      <Toasts />
      {dialog?.kind === 'import' ? <ImportDialog onClose={() => setDialog(undefined)} onImport={(text, label) => importText(text, label, 'The import')} /> : null}
      {dialog?.kind === 'examples' ? (
        <ExamplesDialog
          examples={examples}
          onClose={() => setDialog(undefined)}
          onOpen={(example) => {
            const error = importText(example.text, `Open example ${example.name}`, `The example “${example.name}”`);
            if (error !== undefined) getEditorStore().getState().toast('error', error);
          }}
        />
      ) : null}
      {dialog?.kind === 'jobs' ? <JobsDialog onClose={() => setDialog(undefined)} onAttach={(job) => void attachJob(job)} /> : null}
      {dialog?.kind === 'redeploy' ? <RedeployDialog graph={dialog.graph} onClose={() => setDialog(undefined)} /> : null}
      {dialog?.kind === 'confirm' ? (
        <DiffDialog
          what={dialog.what}
          changes={dialog.changes}
          onClose={() => setDialog(undefined)}
          onConfirm={() => {
            setDialog(undefined);
            void loadDocument(dialog.document, dialog.label);
          }}
        />
      ) : null}
    </div>
  );
}

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.closest('.monaco-editor, .dialog')) return true;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}

function useKeyboard(suspended: boolean): void {
  useEffect(() => {
    if (suspended) return;
    const store = getEditorStore();
    let pendingPaste: ReturnType<typeof setTimeout> | undefined;

    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented || isEditable(event.target)) return;
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      const state = store.getState();
      if (mod && key === 'z' && !event.shiftKey) {
        event.preventDefault();
        state.undo();
      } else if (mod && ((key === 'z' && event.shiftKey) || key === 'y')) {
        event.preventDefault();
        state.redo();
      } else if (mod && key === 'a') {
        event.preventDefault();
        state.selectAll();
      } else if (mod && key === 'c') {
        // The copy event that follows also puts the nodes on the system clipboard.
        state.copy();
      } else if (mod && key === 'v') {
        // Prefer what the paste event brings (nodes copied in another tab); else our own clipboard.
        pendingPaste = setTimeout(() => {
          pendingPaste = undefined;
          store.getState().paste(undefined);
        }, 50);
      } else if ((event.key === 'Delete' || event.key === 'Backspace') && !mod) {
        if (state.selection.nodes.length + state.selection.edges.length > 0) {
          event.preventDefault();
          state.deleteSelection();
        }
      } else if (event.key === 'Escape') {
        state.clearSelection();
      }
    };
    const onCopy = (event: ClipboardEvent) => {
      if (isEditable(event.target)) return;
      const payload = store.getState().copy();
      if (payload && event.clipboardData) {
        event.clipboardData.setData('text/plain', JSON.stringify(payload, null, 2));
        event.preventDefault();
      }
    };
    const onPaste = (event: ClipboardEvent) => {
      if (isEditable(event.target)) return;
      const text = event.clipboardData?.getData('text/plain');
      let payload;
      try {
        payload = text ? readClipboardPayload(JSON.parse(text)) : undefined;
      } catch {
        payload = undefined;
      }
      if (pendingPaste !== undefined) {
        clearTimeout(pendingPaste);
        pendingPaste = undefined;
      }
      event.preventDefault();
      store.getState().paste(payload);
    };
    window.addEventListener('keydown', onKeyDown);
    document.addEventListener('copy', onCopy);
    document.addEventListener('paste', onPaste);
    return () => {
      window.removeEventListener('keydown', onKeyDown);
      document.removeEventListener('copy', onCopy);
      document.removeEventListener('paste', onPaste);
      if (pendingPaste !== undefined) clearTimeout(pendingPaste);
    };
  }, [suspended]);
}

