'use client';
/**
 * The inspector edits what is selected: a node (name, id, parallelism, chaining
 * and its config form, generated from the operator's schema), an edge, or — with
 * nothing selected — the document and its job settings. Every edit is a
 * GraphChange; typing in one field is one undo step.
 */
import {
  CHAINING_STRATEGIES,
  formatPath,
  getOperator,
  jobConfig,
  PARTITIONINGS,
  type GraphProblem,
  type PathSegment,
} from '@sluice/graph-model';
import { useCallback, useEffect, useId, useMemo, useRef } from 'react';
import { setIn, type GraphChange } from '../model/changes';
import type { GraphDocument, GraphEdge, GraphNode } from '../model/document';
import { configWithDefaults, suggestionSource } from '../engine/field-suggestions';
import { formSpecOf, type FieldSpec } from '../model/form-spec';
import { portsOf } from '../model/ports';
import { codeProblemLocation, problemTarget } from '../model/problems';
import { getEditorStore, useEditor } from '../store/use-editor';
import { CategoryIcon } from './CategoryIcon';
import { SchemaForm, type FormContext } from './SchemaForm';
import { SuggestionPicker } from './SuggestionPicker';

export function Inspector() {
  const selection = useEditor((s) => s.selection);
  const doc = useEditor((s) => s.doc);
  const focus = useEditor((s) => s.focus);
  const root = useRef<HTMLDivElement>(null);

  const node = selection.nodes.length === 1 && selection.edges.length === 0 ? doc.nodes.find((n) => n.id === selection.nodes[0]) : undefined;
  const edge = selection.edges.length === 1 && selection.nodes.length === 0 ? doc.edges.find((e) => e.id === selection.edges[0]) : undefined;
  const multiple = selection.nodes.length + selection.edges.length > 1;

  // A clicked problem asks for its field: focus it (or its nearest shown parent).
  useEffect(() => {
    if (!focus || !root.current) return;
    const container = root.current;
    const timer = setTimeout(() => {
      const element = findField(container, focus.fieldPath);
      if (element) {
        element.scrollIntoView({ block: 'center' });
        element.focus();
      } else {
        container.querySelector<HTMLElement>('h2')?.focus();
      }
    }, 30);
    return () => clearTimeout(timer);
  }, [focus]);

  return (
    <aside className="inspector" aria-label="Inspector" data-testid="inspector" ref={root}>
      {node ? (
        <NodeInspector key={node.id} node={node} doc={doc} />
      ) : edge ? (
        <EdgeInspector key={edge.id} edge={edge} />
      ) : multiple ? (
        <MultipleSelection count={selection.nodes.length} edges={selection.edges.length} />
      ) : (
        <DocumentInspector doc={doc} />
      )}
    </aside>
  );
}

function findField(container: HTMLElement, fieldPath: string | undefined): HTMLElement | undefined {
  if (fieldPath === undefined) return undefined;
  let path = fieldPath;
  for (;;) {
    const element = container.querySelector<HTMLElement>(`[data-field-path="${CSS.escape(path)}"]`);
    if (element) return element;
    const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
    if (cut <= 0) return undefined;
    path = path.slice(0, cut);
  }
}

/** Problems of one object, by field path relative to it, and code problems with line/column. */
function useFieldProblems(kind: 'node' | 'edge' | 'document', id: string | undefined) {
  const index = useEditor((s) => s.validation.index);
  const validated = useEditor((s) => s.validation.document);
  return useMemo(() => {
    const doc = getEditorStore().getState().doc;
    const list: GraphProblem[] = [];
    const byPath = new Map<string, string[]>();
    const code = new Map<string, { line: number; column: number; message: string }>();
    const basis = validated ?? doc;
    const source = kind === 'node' && id !== undefined ? index.byNode.get(id) : kind === 'edge' && id !== undefined ? index.byEdge.get(id) : index.problems;
    for (const problem of source ?? []) {
      const target = problemTarget(basis, problem);
      if (target.kind !== kind || (target.kind !== 'document' && target.id !== id)) continue;
      list.push(problem);
      if (target.fieldPath === undefined) continue;
      const messages = byPath.get(target.fieldPath) ?? [];
      messages.push(problem.message);
      byPath.set(target.fieldPath, messages);
      if (problem.code === 'invalid-code') {
        const location = codeProblemLocation(problem.message);
        if (location) code.set(target.fieldPath, location);
      }
    }
    return { list, byPath, code };
  }, [index, validated, kind, id]);
}

function dispatch(changes: GraphChange[], coalesceKey?: string) {
  getEditorStore().getState().dispatch(changes, coalesceKey !== undefined ? { coalesceKey } : {});
}

function NodeInspector({ node, doc }: { node: GraphNode; doc: GraphDocument }) {
  const definition = getOperator(node.type);
  const problems = useFieldProblems('node', node.id);
  const ids = { name: useId(), id: useId(), parallelism: useId(), chaining: useId() };
  const spec = useMemo(() => (definition ? formSpecOf(definition.configSchema) : undefined), [definition]);
  const fieldAddon = useMemo(() => engineSuggestions(node.type, node.id, spec), [node.type, node.id, spec]);
  const ctx: FormContext = useMemo(
    () => ({ problems: problems.byPath, codeProblems: problems.code, nodeId: node.id, ...(fieldAddon ? { fieldAddon } : {}) }),
    [problems, node.id, fieldAddon],
  );
  const ports = portsOf(node, doc.edges);
  const nodeId = node.id;
  const onConfigChange = useCallback(
    (relative: readonly PathSegment[], value: unknown) =>
      dispatch([{ type: 'update-config', id: nodeId, path: relative, value }], `${nodeId}/config/${formatPath(relative)}`),
    [nodeId],
  );
  const errorsFor = (path: string) => problems.byPath.get(path);

  return (
    <div className={`inspector-body cat-${definition?.category ?? 'unknown'}`} data-testid="node-inspector">
      <header className="inspector-header">
        <CategoryIcon category={definition?.category ?? 'unknown'} />
        <div>
          <h2 tabIndex={-1}>{node.name ?? definition?.title ?? node.type}</h2>
          <p className="inspector-subtitle">{definition ? `${definition.title} · ${definition.category}` : `Unknown operator type '${node.type}'`}</p>
        </div>
      </header>
      {problems.list.length > 0 ? (
        <ul className="inspector-problems" aria-label="Problems of this node">
          {problems.list.map((p, i) => (
            <li key={i} className={`sev-${p.severity}`}>
              <code>{p.path}</code> {p.message}
            </li>
          ))}
        </ul>
      ) : null}
      {definition ? (
        <details className="inspector-doc">
          <summary>About this operator</summary>
          <p>{definition.doc}</p>
        </details>
      ) : null}
      <div className="field">
        <label className="field-label" htmlFor={ids.name}>
          Name
        </label>
        <input
          id={ids.name}
          type="text"
          value={node.name ?? ''}
          placeholder={definition?.title ?? node.type}
          onChange={(e) => dispatch([{ type: 'update-node', id: node.id, patch: { name: e.target.value === '' ? undefined : e.target.value } }], `${node.id}/name`)}
          data-testid="field-name"
          data-field-path="name"
          aria-describedby={`${ids.name}-help`}
        />
        <p className="field-help" id={`${ids.name}-help`}>
          The label on the canvas. Renaming keeps the node’s state.
        </p>
        <FieldErrorList messages={errorsFor('name')} />
      </div>
      <div className="field">
        <label className="field-label" htmlFor={ids.id}>
          Id
        </label>
        <input id={ids.id} type="text" value={node.id} readOnly data-testid="field-id" data-field-path="id" aria-describedby={`${ids.id}-help`} className="is-readonly" />
        <p className="field-help" id={`${ids.id}-help`}>
          The node’s state uid: a redeploy matches saved state to nodes by id, so it is fixed once the node is created. Rename the node instead.
        </p>
        <FieldErrorList messages={errorsFor('id')} />
      </div>
      <div className="field-pair">
        <div className="field">
          <label className="field-label" htmlFor={ids.parallelism}>
            Parallelism
          </label>
          <input
            id={ids.parallelism}
            type="number"
            min={1}
            step={1}
            value={definition?.fixedParallelism ?? node.parallelism ?? ''}
            disabled={definition?.fixedParallelism !== undefined}
            placeholder={`job default (${doc.job?.defaultParallelism ?? 1})`}
            onChange={(e) => {
              const n = e.target.value === '' ? undefined : Number(e.target.value);
              if (n === undefined || Number.isFinite(n)) dispatch([{ type: 'update-node', id: node.id, patch: { parallelism: n } }], `${node.id}/parallelism`);
            }}
            data-testid="field-parallelism"
            data-field-path="parallelism"
            aria-describedby={`${ids.parallelism}-help`}
          />
          <p className="field-help" id={`${ids.parallelism}-help`}>
            {definition?.fixedParallelism !== undefined ? `Always ${definition.fixedParallelism} for this operator.` : 'Parallel subtasks; empty uses the job’s default.'}
          </p>
          <FieldErrorList messages={errorsFor('parallelism')} />
        </div>
        <div className="field">
          <label className="field-label" htmlFor={ids.chaining}>
            Chaining
          </label>
          <select
            id={ids.chaining}
            value={node.chaining ?? 'auto'}
            onChange={(e) => dispatch([{ type: 'update-node', id: node.id, patch: { chaining: e.target.value === 'auto' ? undefined : (e.target.value as GraphNode['chaining']) } }])}
            data-testid="field-chaining"
            data-field-path="chaining"
            aria-describedby={`${ids.chaining}-help`}
          >
            {CHAINING_STRATEGIES.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
          <p className="field-help" id={`${ids.chaining}-help`}>
            auto: with neighbours where possible; never: alone; head: starts a new chain.
          </p>
        </div>
      </div>
      {spec ? (
        <section className="inspector-config" aria-label="Configuration">
          <h3>Configuration</h3>
          <SchemaForm spec={spec} value={node.config} path={CONFIG_PATH} onChange={onConfigChange} ctx={ctx} />
        </section>
      ) : null}
      {ports.outputs.length > 0 ? (
        <section className="inspector-ports" aria-label="Outputs">
          <h3>Outputs</h3>
          <ul>
            {ports.outputs.map((o) => (
              <li key={o.name}>
                <code>{o.name}</code> {o.doc ?? (o.unknown ? 'not declared by this operator' : '')}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <div className="inspector-actions">
        <button type="button" className="danger-button" onClick={() => dispatch([{ type: 'remove-node', id: node.id }])} data-testid="delete-node">
          Delete node
        </button>
      </div>
    </div>
  );
}

function EdgeInspector({ edge }: { edge: GraphEdge }) {
  const problems = useFieldProblems('edge', edge.id);
  const id = useId();
  return (
    <div className="inspector-body" data-testid="edge-inspector">
      <header className="inspector-header">
        <div>
          <h2 tabIndex={-1}>Edge {edge.id}</h2>
          <p className="inspector-subtitle">
            {edge.source}
            {edge.sourceOutput && edge.sourceOutput !== 'main' ? `.${edge.sourceOutput}` : ''} → {edge.target}
            {edge.targetInput ? `.${edge.targetInput}` : ''}
          </p>
        </div>
      </header>
      {problems.list.length > 0 ? (
        <ul className="inspector-problems" aria-label="Problems of this edge">
          {problems.list.map((p, i) => (
            <li key={i} className={`sev-${p.severity}`}>
              {p.message}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="field">
        <label className="field-label" htmlFor={id}>
          Partitioning
        </label>
        <select
          id={id}
          value={edge.partitioning ?? ''}
          onChange={(e) => dispatch([{ type: 'update-edge', id: edge.id, patch: { partitioning: e.target.value === '' ? undefined : (e.target.value as GraphEdge['partitioning']) } }])}
          data-testid="field-partitioning"
          data-field-path="partitioning"
        >
          <option value="">default</option>
          {PARTITIONINGS.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <p className="field-help">Default: hash out of a key-by, broadcast into a broadcast input, forward at equal parallelism, rebalance otherwise.</p>
        <FieldErrorList messages={problems.byPath.get('partitioning')} />
      </div>
      <div className="inspector-actions">
        <button type="button" className="danger-button" onClick={() => dispatch([{ type: 'remove-edge', id: edge.id }])} data-testid="delete-edge">
          Delete edge
        </button>
      </div>
    </div>
  );
}

const JOB_SPEC = formSpecOf(jobConfig);
const JOB_PATH = ['job'] as const;
const EMPTY_JOB = {};
const CONFIG_PATH = ['config'] as const;

function onJobChange(relative: readonly PathSegment[], value: unknown): void {
  const job = getEditorStore().getState().doc.job ?? {};
  const next = (relative.length === 0 ? value : setIn(job, relative, value)) as GraphDocument['job'];
  dispatch([{ type: 'update-document', patch: { job: next } }], `document/job/${formatPath(relative)}`);
}

/** The "Pick…" controls of fields whose values the engine can list (field-suggestions.ts); undefined when the form has none. */
function engineSuggestions(nodeType: string, nodeId: string, spec: FieldSpec | undefined): FormContext['fieldAddon'] {
  if (spec?.kind !== 'object') return undefined;
  // The config is read when the user asks, not on every render: typing elsewhere must not re-render every field.
  const config = () => configWithDefaults(spec, getEditorStore().getState().doc.nodes.find((n) => n.id === nodeId)?.config);
  return (fieldPath, pick) => {
    const source = suggestionSource(nodeType, fieldPath);
    return source ? <SuggestionPicker key={`${nodeId}/${fieldPath}`} source={source} fieldPath={fieldPath} config={config} pick={pick} /> : undefined;
  };
}

function DocumentInspector({ doc }: { doc: GraphDocument }) {
  const problems = useFieldProblems('document', undefined);
  const ctx: FormContext = useMemo(() => ({ problems: problems.byPath, codeProblems: problems.code }), [problems]);
  const ids = { name: useId(), description: useId() };
  return (
    <div className="inspector-body" data-testid="document-inspector">
      <header className="inspector-header">
        <div>
          <h2 tabIndex={-1}>Pipeline</h2>
          <p className="inspector-subtitle">
            {doc.nodes.length} node{doc.nodes.length === 1 ? '' : 's'}, {doc.edges.length} edge{doc.edges.length === 1 ? '' : 's'}. Select a node to edit it.
          </p>
        </div>
      </header>
      <div className="field">
        <label className="field-label" htmlFor={ids.name}>
          Name
        </label>
        <input
          id={ids.name}
          type="text"
          value={doc.name}
          onChange={(e) => dispatch([{ type: 'update-document', patch: { name: e.target.value } }], 'document/name')}
          data-testid="field-document-name"
          data-field-path="name"
        />
        <FieldErrorList messages={problems.byPath.get('name')} />
      </div>
      <div className="field">
        <label className="field-label" htmlFor={ids.description}>
          Description
        </label>
        <textarea
          id={ids.description}
          rows={2}
          value={doc.description ?? ''}
          onChange={(e) => dispatch([{ type: 'update-document', patch: { description: e.target.value === '' ? undefined : e.target.value } }], 'document/description')}
          data-testid="field-document-description"
          data-field-path="description"
        />
      </div>
      <section className="inspector-config" aria-label="Job settings">
        <h3>Job settings</h3>
        <SchemaForm
          spec={JOB_SPEC}
          value={doc.job ?? EMPTY_JOB}
          path={JOB_PATH}
          ctx={ctx}
          onChange={onJobChange}
        />
      </section>
    </div>
  );
}

function MultipleSelection({ count, edges }: { count: number; edges: number }) {
  return (
    <div className="inspector-body" data-testid="multi-inspector">
      <header className="inspector-header">
        <div>
          <h2 tabIndex={-1}>
            {count} node{count === 1 ? '' : 's'}
            {edges > 0 ? `, ${edges} edge${edges === 1 ? '' : 's'}` : ''} selected
          </h2>
          <p className="inspector-subtitle">Ctrl+C copies them, Delete removes them. Select one to edit it.</p>
        </div>
      </header>
      <div className="inspector-actions">
        <button type="button" className="danger-button" onClick={() => getEditorStore().getState().deleteSelection()} data-testid="delete-selection">
          Delete selection
        </button>
      </div>
    </div>
  );
}

function FieldErrorList({ messages }: { messages: readonly string[] | undefined }) {
  if (!messages) return null;
  return (
    <ul className="field-errors">
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}
