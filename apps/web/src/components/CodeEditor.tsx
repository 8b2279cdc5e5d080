'use client';
/**
 * The code editor of a code field: Monaco, loaded from the installed
 * `monaco-editor` package (never a CDN) through `@monaco-editor/react`'s
 * `loader.config({ monaco })`, with TypeScript workers bundled by Next.
 *
 * The model holds the user's expression between two hidden lines
 * (`export const fn: <ns>.Fn = (` … `);`), and a generated .d.ts declares `<ns>.Fn`
 * from the code kind's signature, so the expression is contextually typed:
 * completion on `ctx.` works and type errors show inline. The validator's own
 * problem for the field (a syntax or shape error with line and column) is shown
 * as a marker too.
 */
import Editor, { loader, type OnMount } from '@monaco-editor/react';
import type { CodeKindName } from '@sluice/graph-model';
import type * as Monaco from 'monaco-editor';
import { useEffect, useMemo, useRef, useState } from 'react';
import { codeFieldTypings, recordTypesFor, RUNTIME_TYPINGS, typingsNamespace, unwrapCode, wrapCode } from '../model/code-typings';
import { getEditorStore, useEditor } from '../store/use-editor';

type MonacoApi = typeof Monaco;

interface HiddenAreas {
  setHiddenAreas(ranges: Monaco.IRange[], source?: unknown): void;
}

let ready: Promise<MonacoApi> | undefined;

/** Loads Monaco once, from the bundle: workers are inline `new Worker(new URL(…))` so Turbopack bundles them. */
function loadMonaco(): Promise<MonacoApi> {
  ready ??= (async () => {
    (self as unknown as { MonacoEnvironment: Monaco.Environment }).MonacoEnvironment = {
      getWorker(_workerId: string, label: string) {
        if (label === 'typescript' || label === 'javascript') {
          return new Worker(new URL('monaco-editor/languages/features/typescript/ts.worker.js', import.meta.url), { type: 'module' });
        }
        if (label === 'json') {
          return new Worker(new URL('monaco-editor/languages/features/json/json.worker.js', import.meta.url), { type: 'module' });
        }
        return new Worker(new URL('monaco-editor/editor/editor.worker.js', import.meta.url), { type: 'module' });
      },
    };
    const monaco = await import('monaco-editor');
    loader.config({ monaco });
    const ts = typescriptApi(monaco);
    ts.typescriptDefaults.setCompilerOptions({
      target: ts.ScriptTarget.ES2020,
      lib: ['es2020'],
      module: ts.ModuleKind.ESNext,
      strict: true,
      noImplicitAny: false,
      allowNonTsExtensions: true,
      noEmit: true,
    });
    ts.typescriptDefaults.setEagerModelSync(true);
    ts.typescriptDefaults.addExtraLib(RUNTIME_TYPINGS, 'file:///sluice/runtime.d.ts');
    return monaco;
  })();
  return ready;
}

function typescriptApi(monaco: MonacoApi): typeof Monaco.typescript {
  return monaco.typescript;
}

export interface CodeEditorProps {
  /** Unique per field: `<node id>/<field path>`. */
  readonly modelKey: string;
  readonly nodeId: string | undefined;
  readonly kind: CodeKindName;
  readonly value: string;
  readonly onChange: (value: string) => void;
  readonly problem: { readonly line: number; readonly column: number; readonly message: string } | undefined;
  readonly label: string;
}

export default function CodeEditor(props: CodeEditorProps) {
  const { modelKey, nodeId, kind, value, onChange, problem, label } = props;
  const [monaco, setMonaco] = useState<MonacoApi | undefined>(undefined);
  const editorRef = useRef<Monaco.editor.IStandaloneCodeEditor | undefined>(undefined);
  const namespace = useMemo(() => typingsNamespace(modelKey), [modelKey]);

  useEffect(() => {
    let cancelled = false;
    void loadMonaco().then((m) => {
      if (!cancelled) setMonaco(m);
    });
    return () => {
      cancelled = true;
    };
  }, []);

  // The field's typings: its code kind's signature with the upstream record type.
  const doc = getEditorStore().getState().doc;
  const types = nodeId !== undefined ? recordTypesFor(doc, nodeId) : {};
  const typings = codeFieldTypings(namespace, kind, types);
  useEffect(() => {
    if (!monaco) return;
    const lib = typescriptApi(monaco).typescriptDefaults.addExtraLib(typings, `file:///sluice/types/${namespace}.d.ts`);
    return () => lib.dispose();
  }, [monaco, typings, namespace]);

  // The validator's problem inside this code, as a marker.
  useEffect(() => {
    const model = editorRef.current?.getModel();
    if (!monaco || !model) return;
    const markers: Monaco.editor.IMarkerData[] = [];
    if (problem) {
      const line = Math.min(problem.line + 1, model.getLineCount() - 1);
      markers.push({
        severity: monaco.MarkerSeverity.Error,
        message: problem.message,
        startLineNumber: line,
        startColumn: problem.column,
        endLineNumber: line,
        endColumn: Math.max(problem.column + 1, model.getLineMaxColumn(line)),
        source: 'sluice validate',
      });
    }
    monaco.editor.setModelMarkers(model, 'sluice', markers);
  }, [monaco, problem]);

  // A clicked problem inside this code puts the cursor where it is.
  const focus = useEditor((s) => s.focus);
  useEffect(() => {
    const editor = editorRef.current;
    if (!editor || focus?.kind !== 'node' || focus.id !== nodeId || focus.fieldPath !== label || focus.line === undefined) return;
    const position = { lineNumber: focus.line + 1, column: focus.column ?? 1 };
    editor.setPosition(position);
    editor.revealPositionInCenter(position);
    editor.focus();
  }, [focus, nodeId, label]);

  if (!monaco) {
    return (
      <pre className="code-fallback" aria-busy="true">
        {value}
      </pre>
    );
  }

  const hideWrapper = (editor: Monaco.editor.IStandaloneCodeEditor) => {
    const model = editor.getModel();
    if (!model) return;
    const last = model.getLineCount();
    (editor as unknown as Partial<HiddenAreas>).setHiddenAreas?.(
      [new monaco.Range(1, 1, 1, 1), new monaco.Range(last, 1, last, 1)],
      'sluice-wrapper',
    );
  };

  const userRange = (model: Monaco.editor.ITextModel) => {
    const last = model.getLineCount() - 1;
    return new monaco.Range(2, 1, last, model.getLineMaxColumn(last));
  };

  const onMount: OnMount = (editor) => {
    editorRef.current = editor;
    hideWrapper(editor);
    const model = editor.getModel();
    if (model) {
      editor.setPosition({ lineNumber: 2, column: 1 });
      editor.addAction({
        id: 'sluice.selectCode',
        label: 'Select all code',
        keybindings: [monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyA],
        run: () => {
          editor.setSelection(userRange(model));
        },
      });
    }
    // Keep the cursor out of the hidden lines: no joining the first line with the wrapper.
    editor.onKeyDown((event) => {
      const selection = editor.getSelection();
      const m = editor.getModel();
      if (!selection || !m || !selection.isEmpty()) return;
      const last = m.getLineCount() - 1;
      const atStart = selection.startLineNumber === 2 && selection.startColumn === 1;
      const atEnd = selection.startLineNumber === last && selection.startColumn === m.getLineMaxColumn(last);
      if ((event.keyCode === monaco.KeyCode.Backspace && atStart) || (event.keyCode === monaco.KeyCode.Delete && atEnd)) {
        event.preventDefault();
        event.stopPropagation();
      }
    });
    editor.onDidChangeModelContent(() => hideWrapper(editor));
    editor.onDidChangeCursorPosition((event) => {
      const m = editor.getModel();
      if (!m) return;
      const last = m.getLineCount() - 1;
      if (event.position.lineNumber < 2) editor.setPosition({ lineNumber: 2, column: 1 });
      else if (event.position.lineNumber > last) editor.setPosition({ lineNumber: last, column: m.getLineMaxColumn(last) });
    });
  };

  const wrapped = wrapCode(namespace, value);
  return (
    <div className="code-editor" aria-label={`Code editor for ${label}`}>
      <Editor
        height="100%"
        language="typescript"
        path={`file:///sluice/code/${namespace}.ts`}
        defaultValue={wrapped}
        value={wrapped}
        onMount={onMount}
        onChange={(text) => {
          if (text === undefined) return;
          const code = unwrapCode(namespace, text);
          if (code !== value) onChange(code);
          // An edit that broke into the wrapper is put back by the `value` prop on the next render.
          else if (text !== wrapped) editorRef.current?.getModel()?.setValue(wrapped);
        }}
        options={{
          minimap: { enabled: false },
          fontSize: 13,
          lineNumbers: (n: number) => String(n - 1),
          lineNumbersMinChars: 2,
          folding: false,
          glyphMargin: false,
          scrollBeyondLastLine: false,
          wordWrap: 'on',
          tabSize: 2,
          automaticLayout: true,
          fixedOverflowWidgets: true,
          renderLineHighlight: 'line',
          ariaLabel: `Code of ${label}`,
          scrollbar: { alwaysConsumeMouseWheel: false },
          // Typing stays literal: `.`, `(` or `,` never accept a suggestion by themselves.
          acceptSuggestionOnCommitCharacter: false,
          // A plain textarea for input: key handlers of the page recognise it as a text field.
          editContext: false,
          // Typing a closing bracket over an auto-inserted one never doubles it.
          autoClosingOvertype: 'always',
        }}
      />
    </div>
  );
}
