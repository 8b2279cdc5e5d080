'use client';
/**
 * Every validation problem of the graph (the same validator as the CLI and the
 * engine), with severity, path and message. Clicking one selects its node or edge,
 * centres it, and focuses the exact form field the path points at.
 */
import type { GraphProblem } from '@sluice/graph-model';
import { codeProblemLocation, problemTarget } from '../model/problems';
import { getEditorStore, useEditor } from '../store/use-editor';
import { requestView } from './view-events';

export function goToProblem(problem: GraphProblem): void {
  const state = getEditorStore().getState();
  const target = problemTarget(state.validation.document ?? state.doc, problem);
  const location = problem.code === 'invalid-code' ? codeProblemLocation(problem.message) : undefined;
  const where = location ? { line: location.line, column: location.column } : {};
  if (target.kind === 'node') {
    state.select({ nodes: [target.id], edges: [] });
    state.requestFocus({ kind: 'node', id: target.id, fieldPath: target.fieldPath, ...where });
    requestView({ kind: 'center-node', id: target.id });
  } else if (target.kind === 'edge') {
    state.select({ nodes: [], edges: [target.id] });
    state.requestFocus({ kind: 'edge', id: target.id, fieldPath: target.fieldPath });
  } else {
    state.clearSelection();
    state.requestFocus({ kind: 'document', fieldPath: target.fieldPath });
  }
}

export function ProblemsPanel() {
  const index = useEditor((s) => s.validation.index);
  const { problems, errors, warnings } = index;
  const summary = problems.length === 0 ? 'No problems' : [errors > 0 ? `${errors} error${errors === 1 ? '' : 's'}` : '', warnings > 0 ? `${warnings} warning${warnings === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ');
  return (
    <section className="problems" aria-labelledby="problems-title" data-testid="problems-panel">
      <header className="problems-header">
        <h2 id="problems-title">Problems</h2>
        <span className={`problems-summary${errors > 0 ? ' has-errors' : ''}`} data-testid="problems-summary" aria-live="polite">
          {summary}
        </span>
      </header>
      {problems.length === 0 ? (
        <p className="problems-empty">The pipeline is valid.</p>
      ) : (
        <ol className="problems-list">
          {problems.map((p, i) => (
            <li key={i}>
              <button type="button" className={`problem sev-${p.severity}`} onClick={() => goToProblem(p)} data-testid={`problem-${i}`} data-problem-code={p.code}>
                <span className="problem-severity">{p.severity}</span>
                <code className="problem-path">{p.path}</code>
                <span className="problem-message">{p.message}</span>
              </button>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
