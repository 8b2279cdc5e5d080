'use client';
/**
 * A form generated from a config schema's field model (model/form-spec.ts):
 * objects, enums (select), booleans, numbers with units (ms, with a human hint),
 * strings, arrays (add/remove rows), discriminated unions (a select on the tag
 * that swaps the sub-form), nullable values, optional fields (a toggle), and code
 * fields (the Monaco editor). Field descriptions are the help text.
 *
 * Every control has `data-field-path` (and `data-testid="field-<path>"`) with its
 * path relative to the edited object (`config.key.field`): validation problems
 * point at fields by the same path.
 *
 * Changes go up as (relative path, value): a field inside an object that is only
 * shown by its default first writes the whole object, so defaults are never lost.
 */
import { formatPath, type CodeKindName, type PathSegment } from '@sluice/graph-model';
import { lazy, memo, Suspense, useId, useState, type ReactNode } from 'react';
import { setIn } from '../model/changes';
import { isPlainObject } from '../model/document';
import { currentOption, initialValue, switchUnionOption, type FieldSpec, type ObjectSpec, type PropertySpec } from '../model/form-spec';
import { humanMs } from '../model/units';

const CodeEditor = lazy(() => import('./CodeEditor'));

export type FieldChange = (relative: readonly PathSegment[], value: unknown) => void;

export interface CodeFieldInfo {
  readonly nodeId: string;
  /** Problem inside the code, 1-based in the user's code. */
  readonly problem?: { readonly line: number; readonly column: number; readonly message: string };
}

export interface FormContext {
  /** Problem messages by field path. */
  readonly problems: ReadonlyMap<string, readonly string[]>;
  /** Code problems by field path. */
  readonly codeProblems: ReadonlyMap<string, { line: number; column: number; message: string }>;
  /** The node whose code fields these are (typings need its upstream). */
  readonly nodeId?: string;
  /**
   * An extra control beside a text field (the engine's suggestions, e.g. a Kafka
   * topic picker), by field path; undefined for fields without one. The form knows
   * nothing of where the values come from: the inspector decides.
   */
  readonly fieldAddon?: (fieldPath: string, pick: (value: string) => void) => ReactNode;
}

interface FieldProps {
  readonly spec: FieldSpec;
  readonly value: unknown;
  readonly path: readonly PathSegment[];
  readonly label: string;
  readonly required: boolean;
  readonly onChange: FieldChange;
  readonly ctx: FormContext;
  /** Extra control in the label row (the optional-field toggle). */
  readonly toggle?: ReactNode;
}

/** The fields of an object schema, without a frame (the top level of a form). */
export const SchemaForm = memo(function SchemaForm(props: { spec: FieldSpec; value: unknown; path: readonly PathSegment[]; onChange: FieldChange; ctx: FormContext }) {
  const { spec, value, path, onChange, ctx } = props;
  if (spec.kind !== 'object') {
    return <Field spec={spec} value={value} path={path} label={humanize(String(path[path.length - 1] ?? 'value'), spec)} required onChange={onChange} ctx={ctx} />;
  }
  return <ObjectFields spec={spec} value={value} path={path} onChange={onChange} ctx={ctx} />;
});

export function shownValue(spec: FieldSpec, value: unknown): unknown {
  return value !== undefined ? value : spec.hasDefault ? spec.defaultValue : undefined;
}

const ObjectFields = memo(function ObjectFields(props: {
  spec: ObjectSpec;
  value: unknown;
  path: readonly PathSegment[];
  onChange: FieldChange;
  ctx: FormContext;
  omit?: string;
}) {
  const { spec, value, path, onChange, ctx, omit } = props;
  const shown = shownValue(spec, value);
  const record = isPlainObject(shown) ? shown : {};
  const child = (name: string): FieldChange => (relative, next) => {
    // Not written yet (shown by its default): write the whole object.
    if (value === undefined || !isPlainObject(value)) onChange([], setIn(record, [name, ...relative], next));
    else onChange([name, ...relative], next);
  };
  return (
    <>
      {spec.properties
        .filter((p) => p.name !== omit)
        .map((p) => (
          <Property key={p.name} property={p} value={record[p.name]} path={[...path, p.name]} onChange={child(p.name)} ctx={ctx} />
        ))}
    </>
  );
});

function Property(props: { property: PropertySpec; value: unknown; path: readonly PathSegment[]; onChange: FieldChange; ctx: FormContext }) {
  const { property, value, path, onChange, ctx } = props;
  const label = humanize(property.name, property.spec);
  const optional = !property.required && !property.spec.hasDefault;
  const fieldPath = formatPath(path);
  if (!optional) return <Field spec={property.spec} value={value} path={path} label={label} required={property.required} onChange={onChange} ctx={ctx} />;
  const toggle = (
    <label className="field-toggle">
      <input
        type="checkbox"
        checked={value !== undefined}
        onChange={(e) => onChange([], e.target.checked ? initialValue(property.spec) : undefined)}
        data-testid={`field-${fieldPath}-toggle`}
        data-field-path={value === undefined ? fieldPath : undefined}
        aria-label={value === undefined ? `Set ${label}` : `Leave out ${label}`}
      />
      <span>{value === undefined ? 'not set' : 'set'}</span>
    </label>
  );
  if (value === undefined) {
    return (
      <div className="field field-unset" data-testid={`field-${fieldPath}-unset`}>
        <div className="field-label-row">
          <span className="field-label">{label}</span>
          {toggle}
        </div>
        <Help spec={property.spec} />
        <FieldErrors ctx={ctx} fieldPath={fieldPath} />
      </div>
    );
  }
  return <Field spec={property.spec} value={value} path={path} label={label} required={false} onChange={onChange} ctx={ctx} toggle={toggle} />;
}

const Field = memo(function Field(props: FieldProps) {
  const { spec } = props;
  switch (spec.kind) {
    case 'object':
      return (
        <Group {...props}>
          <ObjectFields spec={spec} value={props.value} path={props.path} onChange={props.onChange} ctx={props.ctx} />
        </Group>
      );
    case 'union':
      return <UnionField {...props} spec={spec} />;
    case 'array':
      return <ArrayField {...props} spec={spec} />;
    case 'nullable':
      return <NullableField {...props} spec={spec} />;
    case 'record':
      return <RecordField {...props} />;
    default:
      return <LeafField {...props} />;
  }
});

function Group(props: FieldProps & { children: ReactNode; className?: string }) {
  const fieldPath = formatPath(props.path);
  return (
    <fieldset className={`field-group ${props.className ?? ''}`} data-testid={`field-${fieldPath}`}>
      <legend>
        <span className="field-label">{props.label}</span>
        {props.toggle}
      </legend>
      <Help spec={props.spec} />
      <FieldErrors ctx={props.ctx} fieldPath={fieldPath} />
      {props.children}
    </fieldset>
  );
}

function UnionField(props: FieldProps & { spec: FieldSpec & { kind: 'union' } }) {
  const { spec, value, path, onChange, ctx } = props;
  const shown = shownValue(spec, value);
  const option = currentOption(spec, shown);
  const tagPath = formatPath([...path, spec.discriminator]);
  const id = useId();
  const childChange: FieldChange = (relative, next) => {
    if (value === undefined) onChange([], setIn(shown, relative, next));
    else onChange(relative, next);
  };
  return (
    <Group {...props} className="field-union">
      <div className="field">
        <label className="field-label" htmlFor={id}>
          {humanize(spec.discriminator, spec)}
        </label>
        <select
          id={id}
          value={option?.value ?? ''}
          onChange={(e) => onChange([], switchUnionOption(spec, shown, e.target.value))}
          data-testid={`field-${tagPath}`}
          data-field-path={tagPath}
          aria-invalid={ctx.problems.has(tagPath) || undefined}
        >
          {option ? null : <option value="">— choose —</option>}
          {spec.options.map((o) => (
            <option key={o.value} value={o.value} title={o.description}>
              {o.value}
            </option>
          ))}
        </select>
        {option?.description ? <p className="field-help">{option.description}</p> : null}
        <FieldErrors ctx={ctx} fieldPath={tagPath} />
      </div>
      {option ? <ObjectFields spec={option.spec} value={shown} path={path} onChange={childChange} ctx={ctx} omit={spec.discriminator} /> : null}
    </Group>
  );
}

function ArrayField(props: FieldProps & { spec: FieldSpec & { kind: 'array' } }) {
  const { spec, value, path, onChange, ctx, label } = props;
  const shown = shownValue(spec, value);
  const list = Array.isArray(shown) ? (shown as unknown[]) : [];
  const fieldPath = formatPath(path);
  const item = singular(label);
  const canAdd = spec.maxItems === undefined || list.length < spec.maxItems;
  const canRemove = list.length > (spec.minItems ?? 0);
  return (
    <Group {...props} label={`${label} (${list.length})`} className="field-array">
      {list.map((element, i) => (
        <div className="array-row" key={i}>
          <Field
            spec={spec.items}
            value={element}
            path={[...path, i]}
            label={`${item} ${i + 1}`}
            required
            ctx={ctx}
            onChange={(relative, next) => {
              if (value === undefined) onChange([], setIn(list, [i, ...relative], next));
              else onChange([i, ...relative], next);
            }}
          />
          <button
            type="button"
            className="icon-button array-remove"
            onClick={() => onChange([], list.filter((_, j) => j !== i))}
            disabled={!canRemove}
            aria-label={`Remove ${item.toLowerCase()} ${i + 1}`}
            title={canRemove ? `Remove ${item.toLowerCase()} ${i + 1}` : `At least ${spec.minItems ?? 0} needed`}
            data-testid={`field-${fieldPath}[${i}]-remove`}
          >
            ×
          </button>
        </div>
      ))}
      <button
        type="button"
        className="text-button array-add"
        onClick={() => onChange([], [...list, initialValue(spec.items)])}
        disabled={!canAdd}
        data-testid={`field-${fieldPath}-add`}
      >
        + Add {item.toLowerCase()}
      </button>
    </Group>
  );
}

function NullableField(props: FieldProps & { spec: FieldSpec & { kind: 'nullable' } }) {
  const { spec, value, path, onChange, ctx, label } = props;
  const shown = shownValue(spec, value);
  const fieldPath = formatPath(path);
  const isNull = shown === null;
  const toggle = (
    <>
      <label className="field-toggle">
        <input
          type="checkbox"
          checked={isNull}
          onChange={(e) => onChange([], e.target.checked ? null : initialValue(spec.inner))}
          data-testid={`field-${fieldPath}-null`}
          data-field-path={isNull ? fieldPath : undefined}
          aria-label={`${label}: none`}
        />
        <span>none</span>
      </label>
      {props.toggle}
    </>
  );
  if (!isNull) return <Field spec={spec.inner} value={shown} path={path} label={label} required onChange={onChange} ctx={ctx} toggle={toggle} />;
  return (
    <div className="field field-nullable">
      <div className="field-label-row">
        <span className="field-label">{label}</span>
        {toggle}
      </div>
      <Help spec={spec} />
      <FieldErrors ctx={ctx} fieldPath={fieldPath} />
    </div>
  );
}

function RecordField(props: FieldProps) {
  const { value, path, onChange, spec } = props;
  const shown = shownValue(spec, value);
  const record = isPlainObject(shown) ? shown : {};
  const entries = Object.entries(record);
  const fieldPath = formatPath(path);
  const rename = (from: string, to: string) => onChange([], Object.fromEntries(entries.map(([k, v]) => [k === from ? to : k, v])));
  return (
    <Group {...props} className="field-record">
      {entries.map(([key, v], i) => (
        <div className="array-row record-row" key={i}>
          <input type="text" value={key} aria-label={`Key ${i + 1}`} onChange={(e) => rename(key, e.target.value)} data-testid={`field-${fieldPath}-key-${i}`} />
          <input
            type="text"
            value={typeof v === 'string' ? v : JSON.stringify(v)}
            aria-label={`Value of ${key}`}
            onChange={(e) => onChange([], { ...record, [key]: e.target.value })}
            data-testid={`field-${formatPath([...path, key])}`}
            data-field-path={formatPath([...path, key])}
          />
          <button
            type="button"
            className="icon-button"
            aria-label={`Remove ${key}`}
            onClick={() => onChange([], Object.fromEntries(entries.filter(([k]) => k !== key)))}
          >
            ×
          </button>
        </div>
      ))}
      <button type="button" className="text-button" onClick={() => onChange([], { ...record, [freeKey(record)]: '' })} data-testid={`field-${fieldPath}-add`}>
        + Add entry
      </button>
    </Group>
  );
}

function LeafField(props: FieldProps) {
  const { spec, value, path, label, onChange, ctx } = props;
  const id = useId();
  const fieldPath = formatPath(path);
  const shown = shownValue(spec, value);
  const errors = ctx.problems.get(fieldPath);
  const describedBy = `${id}-help ${errors ? `${id}-errors` : ''}`.trim();
  const common = {
    id,
    'data-testid': `field-${fieldPath}`,
    'data-field-path': fieldPath,
    'aria-invalid': errors ? true : undefined,
    'aria-describedby': describedBy,
  } as const;
  let control: ReactNode;
  let hint: ReactNode = null;
  let addon: ReactNode = null;
  switch (spec.kind) {
    case 'enum':
      control = (
        <select {...common} value={typeof shown === 'string' ? shown : ''} onChange={(e) => onChange([], e.target.value)}>
          {typeof shown === 'string' && spec.values.includes(shown) ? null : <option value="">— choose —</option>}
          {spec.values.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      );
      break;
    case 'boolean':
      control = <input {...common} type="checkbox" checked={shown === true} onChange={(e) => onChange([], e.target.checked)} />;
      break;
    case 'number':
      control = <NumberInput common={common} spec={spec} value={shown} onChange={(v) => onChange([], v)} />;
      if (spec.unit === 'ms' && typeof shown === 'number') {
        hint = (
          <span className="field-hint" data-testid={`field-${fieldPath}-hint`}>
            = {humanMs(shown)}
          </span>
        );
      }
      break;
    case 'const':
      control = (
        <output {...common} className="field-const">
          {JSON.stringify(spec.value)}
        </output>
      );
      break;
    case 'string':
      if (spec.code) {
        return (
          <div className="field field-code">
            <div className="field-label-row">
              <label className="field-label" htmlFor={id}>
                {label}
              </label>
              <span className="field-code-kind" title="The code kind: what the function receives and returns">
                {spec.code}
              </span>
              {props.toggle}
            </div>
            <CodeField id={id} fieldPath={fieldPath} kind={spec.code} value={typeof shown === 'string' ? shown : ''} onChange={(v) => onChange([], v)} ctx={ctx} />
            <Help spec={spec} id={`${id}-help`} />
            <FieldErrors ctx={ctx} fieldPath={fieldPath} id={`${id}-errors`} />
          </div>
        );
      }
      control = (
        <input
          {...common}
          type="text"
          value={typeof shown === 'string' ? shown : ''}
          onChange={(e) => onChange([], e.target.value)}
          spellCheck={false}
          autoComplete="off"
        />
      );
      addon = ctx.fieldAddon?.(fieldPath, (v) => onChange([], v)) ?? null;
      break;
    default:
      control = <JsonInput common={common} value={shown} onChange={(v) => onChange([], v)} />;
      hint = <span className="field-hint">JSON, or plain text</span>;
  }
  const inline = spec.kind === 'boolean';
  return (
    <div className={`field field-${spec.kind}${inline ? ' field-inline' : ''}`}>
      <div className="field-label-row">
        {inline ? control : null}
        <label className="field-label" htmlFor={id}>
          {label}
          {props.required || spec.hasDefault ? null : <span className="field-optional"> (optional)</span>}
        </label>
        {props.toggle}
      </div>
      {inline ? null : (
        <div className="field-control">
          {control}
          {spec.kind === 'number' && spec.unit === 'ms' ? <span className="field-unit">ms</span> : null}
        </div>
      )}
      {addon}
      {hint}
      <Help spec={spec} id={`${id}-help`} />
      <FieldErrors ctx={ctx} fieldPath={fieldPath} id={`${id}-errors`} />
    </div>
  );
}

type CommonProps = Record<string, unknown> & { id: string };

function NumberInput(props: { common: CommonProps; spec: FieldSpec & { kind: 'number' }; value: unknown; onChange: (value: number | undefined) => void }) {
  const { common, spec, value, onChange } = props;
  const text = typeof value === 'number' ? String(value) : '';
  const [draft, setDraft] = useState(text);
  const [shown, setShown] = useState(text);
  // Follow outside changes (undo, import) but keep what is being typed ("1." stays "1.").
  if (shown !== text) {
    setShown(text);
    if (!(draft.trim() !== '' && Number(draft) === value)) setDraft(text);
  }
  return (
    <input
      {...common}
      type="number"
      inputMode={spec.integer ? 'numeric' : 'decimal'}
      step={spec.integer ? 1 : 'any'}
      min={spec.minimum !== undefined && spec.minimum > Number.MIN_SAFE_INTEGER ? spec.minimum : undefined}
      max={spec.maximum !== undefined && spec.maximum < Number.MAX_SAFE_INTEGER ? spec.maximum : undefined}
      value={draft}
      onChange={(e) => {
        setDraft(e.target.value);
        const n = e.target.value.trim() === '' ? undefined : Number(e.target.value);
        if (n === undefined || Number.isFinite(n)) onChange(n);
      }}
    />
  );
}

function JsonInput(props: { common: CommonProps; value: unknown; onChange: (value: unknown) => void }) {
  const { common, value, onChange } = props;
  const text = jsonText(value);
  const [draft, setDraft] = useState(text);
  const [shown, setShown] = useState(text);
  if (shown !== text) {
    setShown(text);
    if (jsonText(parseJsonOrText(draft)) !== text) setDraft(text);
  }
  return (
    <input
      {...common}
      type="text"
      value={draft}
      spellCheck={false}
      onChange={(e) => {
        setDraft(e.target.value);
        onChange(e.target.value === '' ? undefined : parseJsonOrText(e.target.value));
      }}
    />
  );
}

function jsonText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return parseJsonOrText(value) === value ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function CodeField(props: { id: string; fieldPath: string; kind: CodeKindName; value: string; onChange: (value: string) => void; ctx: FormContext }) {
  const fallback = (
    <pre className="code-fallback" aria-busy="true">
      {props.value}
    </pre>
  );
  return (
    <div
      className="code-field"
      data-testid={`field-${props.fieldPath}`}
      data-field-path={props.fieldPath}
      tabIndex={-1}
      id={props.id}
      // Focus sent to the field (a clicked problem) goes on into the code editor.
      onFocus={(e) => {
        if (e.target === e.currentTarget) e.currentTarget.querySelector<HTMLElement>('textarea')?.focus();
      }}
    >
      <Suspense fallback={fallback}>
        <CodeEditor
          modelKey={`${props.ctx.nodeId ?? 'document'}/${props.fieldPath}`}
          nodeId={props.ctx.nodeId}
          kind={props.kind}
          value={props.value}
          onChange={props.onChange}
          problem={props.ctx.codeProblems.get(props.fieldPath)}
          label={props.fieldPath}
        />
      </Suspense>
    </div>
  );
}

function Help({ spec, id }: { spec: FieldSpec; id?: string }) {
  if (!spec.description) return id ? <span id={id} hidden /> : null;
  return (
    <p className="field-help" id={id}>
      {spec.description}
    </p>
  );
}

function FieldErrors({ ctx, fieldPath, id }: { ctx: FormContext; fieldPath: string; id?: string }) {
  const messages = ctx.problems.get(fieldPath);
  if (!messages) return null;
  return (
    <ul className="field-errors" id={id} data-testid={`field-${fieldPath}-errors`}>
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

/** `allowedLatenessMs` → "Allowed lateness"; the unit is shown beside the input. */
export function humanize(name: string, spec?: FieldSpec): string {
  const base = spec?.kind === 'number' && spec.unit === 'ms' ? name.replace(/Ms$/, '') : name;
  const words = base
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[-_]/g, ' ')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function singular(label: string): string {
  const word = label.replace(/ \(\d+\)$/, '');
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s')) return word.slice(0, -1);
  return 'Item';
}

function freeKey(record: Record<string, unknown>): string {
  for (let i = 1; ; i++) if (!(`key${i}` in record)) return `key${i}`;
}
