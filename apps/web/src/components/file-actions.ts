/**
 * Files: export in canonical form (the same bytes `sluice fmt` writes), import of a
 * file or pasted text (JSON syntax errors with line and column; a graph that parses
 * is loaded even with validation problems, so that it can be fixed), and "what will
 * change" when an import would replace unsaved work.
 */
import { canonicalJson, parseJsonText, validateGraph } from '@sluice/graph-model';
import { describeDiff, diffGraphs } from '../model/diff';
import { toEditableDocument, type GraphDocument } from '../model/document';
import { kebab } from '../model/ids';
import { applyGraphChanges } from '../model/changes';
import { layoutChanges } from '../model/layout';
import { getEditorStore } from '../store/use-editor';
import { measuredSizes } from './Canvas';
import { requestView } from './view-events';

export function exportFileName(doc: GraphDocument): string {
  return `${kebab(doc.name) || 'pipeline'}.json`;
}

export function downloadJson(): void {
  const state = getEditorStore().getState();
  const text = canonicalJson(state.doc);
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = exportFileName(state.doc);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  state.markSaved();
  state.toast('success', `Exported ${link.download}`);
}

export async function copyJson(): Promise<void> {
  const state = getEditorStore().getState();
  try {
    await navigator.clipboard.writeText(canonicalJson(state.doc));
    state.markSaved();
    state.toast('success', 'Copied the pipeline as JSON');
  } catch {
    state.toast('error', 'The browser did not allow writing to the clipboard; use Export instead');
  }
}

export type ImportPlan =
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'load'; readonly document: GraphDocument; readonly label: string }
  | { readonly kind: 'confirm'; readonly document: GraphDocument; readonly label: string; readonly changes: readonly string[] };

/** Parses text as a graph and decides whether loading it needs a confirmation. */
export function planImport(text: string, label: string): ImportPlan {
  const parsed = parseJsonText(text);
  if (!parsed.ok) return { kind: 'error', message: `line ${parsed.error.line}, column ${parsed.error.column}: ${parsed.error.message}` };
  const document = toEditableDocument(parsed.value);
  if (!document) return { kind: 'error', message: 'line 1, column 1: expected a job graph object ({ "schemaVersion": 1, … })' };
  const state = getEditorStore().getState();
  if (state.doc.nodes.length > 0 && state.isModified()) {
    const changes = describeDiff(diffGraphs(state.doc, document));
    if (changes.length > 0) return { kind: 'confirm', document, label, changes };
  }
  return { kind: 'load', document, label };
}

/** Loads a document (laying it out first when it has no positions) and reports its problems. */
export async function loadDocument(document: GraphDocument, label: string): Promise<void> {
  let doc = document;
  if (doc.nodes.some((n) => n.position === undefined)) {
    doc = applyGraphChanges(doc, await layoutChanges(doc, measuredSizes));
  }
  const state = getEditorStore().getState();
  state.loadDocument(doc, label);
  requestView({ kind: 'fit' });
  const { problems } = validateGraph(doc);
  const errors = problems.filter((p) => p.severity === 'error').length;
  if (errors > 0) state.toast('info', `Loaded “${doc.name}” with ${errors} problem${errors === 1 ? '' : 's'}: see Problems`);
  else state.toast('success', `Loaded “${doc.name}”`);
}

export async function autoLayout(): Promise<void> {
  const state = getEditorStore().getState();
  const changes = await layoutChanges(state.doc, measuredSizes);
  state.dispatch(changes, { label: 'Auto-layout' });
  requestView({ kind: 'fit' });
}
