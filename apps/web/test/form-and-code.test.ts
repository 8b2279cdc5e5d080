import { codeFieldsOf, getOperator, OPERATORS, validateGraph, type CodeKindName } from '@sluice/graph-model';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { codeFieldTypings, recordTypesFor, RUNTIME_TYPINGS, typingsNamespace, unwrapCode, wrapCode, type RecordTypes } from '../src/model/code-typings';
import { codeTemplate, formSpecOf, initialValue, switchUnionOption, type FieldSpec } from '../src/model/form-spec';
import { allExamples, pipeline } from './helpers';

/** Every kind of field a spec holds, and the `json` fallbacks with their paths. */
function walk(spec: FieldSpec, path: string, visit: (spec: FieldSpec, path: string) => void): void {
  visit(spec, path);
  if (spec.kind === 'object') for (const p of spec.properties) walk(p.spec, `${path}.${p.name}`, visit);
  if (spec.kind === 'union') for (const o of spec.options) walk(o.spec, `${path}<${o.value}>`, visit);
  if (spec.kind === 'array') walk(spec.items, `${path}[]`, visit);
  if (spec.kind === 'nullable') walk(spec.inner, path, visit);
  if (spec.kind === 'record') walk(spec.values, `${path}{}`, visit);
}

describe('form specs from the catalog', () => {
  it('render every operator config; only free-form values fall back to JSON text', () => {
    const fallbacks: string[] = [];
    for (const op of OPERATORS) {
      walk(formSpecOf(op.configSchema), op.type, (spec, path) => {
        if (spec.kind === 'json') fallbacks.push(path);
      });
    }
    expect(fallbacks).toEqual(['filter-expression.conditions[].value', 'cep.steps[].conditions[].value']);
  });

  it('know units, code fields, unions and defaults', () => {
    const spec = formSpecOf(getOperator('tumbling-window')?.configSchema as never);
    if (spec.kind !== 'object') throw new Error('expected an object');
    const byName = new Map(spec.properties.map((p) => [p.name, p]));
    expect(byName.get('sizeMs')).toMatchObject({ required: true, spec: { kind: 'number', integer: true, unit: 'ms' } });
    expect(byName.get('allowedLatenessMs')?.spec).toMatchObject({ hasDefault: true, defaultValue: 0 });
    const trigger = byName.get('trigger')?.spec;
    expect(trigger).toMatchObject({ kind: 'union', discriminator: 'kind' });
    if (trigger?.kind !== 'union') throw new Error('expected a union');
    expect(trigger.options.map((o) => o.value)).toEqual(['default', 'count', 'continuous-event-time', 'continuous-processing-time', 'custom']);
    expect(switchUnionOption(trigger, { kind: 'default', purging: true }, 'count')).toEqual({ kind: 'count', count: 1, purging: true });
    const custom = trigger.options.find((o) => o.value === 'custom');
    expect(custom?.spec.properties.find((p) => p.name === 'trigger')?.spec).toMatchObject({ kind: 'string', code: 'trigger' });
  });

  it('make initial values that validate for every union option and array row', () => {
    for (const op of OPERATORS) {
      // A new node's config with each top-level union switched to each option stays a valid shape.
      const spec = formSpecOf(op.configSchema);
      if (spec.kind !== 'object') continue;
      for (const p of spec.properties) {
        if (p.spec.kind !== 'union') continue;
        for (const option of p.spec.options) {
          const config = { ...(op.defaultConfig as object), [p.name]: switchUnionOption(p.spec, undefined, option.value) };
          const result = op.configSchema.safeParse(config);
          const issues = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
          // Refinements across optional fields cannot be met generically: a global window refuses
          // the default trigger, a session needs gapMs or dynamicGap (the form then shows why).
          const expected = (op.type === 'global-window' && option.value === 'default') || option.value === 'session' ? 1 : 0;
          expect(issues.length, `${op.type}.${p.name} = ${option.value}: ${issues.join('; ')}`).toBe(expected);
        }
      }
    }
    expect(initialValue({ kind: 'array', items: { kind: 'string', hasDefault: false }, minItems: 1, hasDefault: false })).toEqual(['']);
  });
});

/** Type-checks a code field the way the editor's language service does. */
function typeCheck(kind: CodeKindName, code: string, types: RecordTypes = {}): string[] {
  const ns = typingsNamespace(`test-${kind}`);
  const files = new Map<string, string>([
    ['/runtime.d.ts', RUNTIME_TYPINGS],
    ['/field.d.ts', codeFieldTypings(ns, kind, types)],
    ['/code.ts', wrapCode(ns, code)],
  ]);
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2020, lib: ['lib.es2020.d.ts'], strict: true, noImplicitAny: false, noEmit: true, types: [] };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  host.fileExists = (name) => files.has(name) || ts.sys.fileExists(name);
  host.getSourceFile = (name, version) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile(name, version) : ts.createSourceFile(name, text, version);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

describe('code typings', () => {
  it('wrap and unwrap code exactly, and tolerate edits into the wrapper', () => {
    const ns = typingsNamespace('n/fn');
    const code = '(value) =>\n  value';
    expect(unwrapCode(ns, wrapCode(ns, code))).toBe(code);
    expect(unwrapCode(ns, wrapCode(ns, code).replace('(\n', '('))).toBe(code);
  });

  it('type-check every code field of every example', () => {
    for (const { name, doc } of allExamples()) {
      const validated = validateGraph(doc);
      if (!validated.ok) continue;
      for (const node of validated.graph.nodes) {
        for (const field of codeFieldsOf(node.definition.configSchema, node.config)) {
          expect(typeCheck(field.kind, field.source, recordTypesFor(doc, node.id)), `${name} ${node.id} ${field.path.join('.')}`).toEqual([]);
        }
      }
    }
  });

  it('type-check every code template', () => {
    for (const op of OPERATORS) {
      walk(formSpecOf(op.configSchema), op.type, (spec) => {
        if (spec.kind === 'string' && spec.code) expect(typeCheck(spec.code, codeTemplate(spec.code)), spec.code).toEqual([]);
      });
    }
  });

  it('report misuse of the context and of the record type', () => {
    expect(typeCheck('keyed-process', '({ processElement(v, ctx) { ctx.colect(v); } })').join()).toMatch(/colect/);
    expect(typeCheck('map', '(click) => click.pagee', { In: '{ page: string }' }).join()).toMatch(/pagee/);
    expect(typeCheck('process-window', '(key, w, els, out) => out.collect(w.start + w.end + els.length)')).toEqual([]);
    expect(typeCheck('condition', "(e, ctx) => ctx.events('first').length > 0 && ctx.timestamp > 0")).toEqual([]);
    expect(typeCheck('trigger', "({ onElement(v, t, w, ctx) { return 'FIRE'; } })")).toEqual([]);
    expect(typeCheck('trigger', "({ onElement(v, t, w, ctx) { return 'FIRED'; } })").join()).toMatch(/FIRED/);
  });

  it('know operator list state on the contexts of map, filter, flat-map and process functions', () => {
    expect(typeCheck('map', "(v, ctx) => { ctx.getOperatorListState<number>('seen').add(1); return ctx.getOperatorListState('seen').get().length; }")).toEqual([]);
    expect(typeCheck('filter', "(v, ctx) => ctx.getOperatorListState('all', { redistribution: 'union' }).get().length > 0")).toEqual([]);
    expect(typeCheck('flat-map', "(v, ctx) => { const b = ctx.getOperatorListState('batch'); b.add(v); return b.get(); }")).toEqual([]);
    expect(typeCheck('keyed-process', "({ open(ctx) { ctx.getOperatorListState('keys').get(); }, processElement(v, ctx) { ctx.getOperatorListState('keys').add(ctx.key); } })")).toEqual([]);
    expect(typeCheck('co-process', "({ processElement1(v, ctx) { ctx.getOperatorListState('l').clear(); }, processElement2(v, ctx) { ctx.getOperatorListState('l').update([v]); } })")).toEqual([]);
    expect(typeCheck('map', "(v, ctx) => ctx.getOperatorListState('s', { redistribution: 'round-robin' })").join()).toMatch(/round-robin/);
    expect(typeCheck('map', "(v, ctx) => ctx.getOperatorListState('s').push(v)").join()).toMatch(/push/);
  });

  it('know the record type that a generator sends down through filters and key-bys', () => {
    const types = recordTypesFor(pipeline(), 'window');
    expect(types.In).toMatch(/^\{ userId: string, page: string, action: 'view' \| 'click' \| 'purchase'/);
    expect(recordTypesFor(pipeline(), 'gen').In).toBeUndefined();
  });
});
