/**
 * Inspector forms are generated from the operator's config schema: zod →
 * `z.toJSONSchema(schema, { io: 'input' })` → a small field model that the form
 * renders. The model knows which fields are optional, which have defaults, units
 * (`unit: 'ms'`), code fields (`x-sluice-code`) and discriminated unions, and makes
 * initial values for new array rows, union options and optional fields.
 */
import { CODE_KINDS, type CodeKindName } from '@sluice/graph-model';
import { z } from 'zod';
import { isPlainObject } from './document';

interface Base {
  readonly description?: string;
  readonly hasDefault: boolean;
  readonly defaultValue?: unknown;
}

export interface PropertySpec {
  readonly name: string;
  readonly spec: FieldSpec;
  readonly required: boolean;
}

export interface UnionOption {
  readonly value: string;
  readonly spec: ObjectSpec;
  readonly description?: string;
}

export interface ObjectSpec extends Base {
  readonly kind: 'object';
  readonly properties: readonly PropertySpec[];
}

export type FieldSpec =
  | ObjectSpec
  | (Base & { readonly kind: 'union'; readonly discriminator: string; readonly options: readonly UnionOption[] })
  | (Base & { readonly kind: 'enum'; readonly values: readonly string[] })
  | (Base & { readonly kind: 'const'; readonly value: unknown })
  | (Base & { readonly kind: 'boolean' })
  | (Base & {
      readonly kind: 'number';
      readonly integer: boolean;
      readonly unit?: 'ms';
      readonly minimum?: number;
      readonly maximum?: number;
      readonly exclusiveMinimum?: number;
    })
  | (Base & { readonly kind: 'string'; readonly code?: CodeKindName; readonly pattern?: string; readonly minLength?: number; readonly maxLength?: number })
  | (Base & { readonly kind: 'array'; readonly items: FieldSpec; readonly minItems?: number; readonly maxItems?: number })
  | (Base & { readonly kind: 'nullable'; readonly inner: FieldSpec })
  | (Base & { readonly kind: 'record'; readonly values: FieldSpec })
  /** Anything else (a value that may be a string, number, list…): edited as JSON text. */
  | (Base & { readonly kind: 'json' });

type Json = Record<string, unknown>;

const specCache = new WeakMap<z.ZodType, FieldSpec>();

/** The form model of a zod schema (cached per schema). */
export function formSpecOf(schema: z.ZodType): FieldSpec {
  let spec = specCache.get(schema);
  if (!spec) {
    spec = fromJsonSchema(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }));
    specCache.set(schema, spec);
  }
  return spec;
}

function base(node: Json): Base {
  const hasDefault = Object.prototype.hasOwnProperty.call(node, 'default');
  return {
    ...(typeof node['description'] === 'string' ? { description: node['description'] } : {}),
    hasDefault,
    ...(hasDefault ? { defaultValue: node['default'] } : {}),
  };
}

export function fromJsonSchema(node: Json): FieldSpec {
  const common = base(node);
  const options = (Array.isArray(node['oneOf']) ? node['oneOf'] : Array.isArray(node['anyOf']) ? node['anyOf'] : undefined) as Json[] | undefined;
  if (options) {
    const nonNull = options.filter((o) => o['type'] !== 'null');
    if (nonNull.length === 1 && options.length === 2) {
      const inner = fromJsonSchema(nonNull[0] as Json);
      // The description sits on the nullable wrapper; the inner field shows it.
      return { ...common, kind: 'nullable', inner: inner.description === undefined && common.description !== undefined ? { ...inner, description: common.description } : inner };
    }
    const discriminator = discriminatorOf(options);
    if (discriminator !== undefined) {
      return {
        ...common,
        kind: 'union',
        discriminator,
        options: options.map((o) => {
          const spec = fromJsonSchema(o) as ObjectSpec;
          const value = ((o['properties'] as Json)[discriminator] as Json)['const'] as string;
          return { value, spec, ...(typeof o['description'] === 'string' ? { description: o['description'] } : {}) };
        }),
      };
    }
    return { ...common, kind: 'json' };
  }
  if ('const' in node) return { ...common, kind: 'const', value: node['const'] };
  if (Array.isArray(node['enum']) && node['enum'].every((v) => typeof v === 'string')) {
    return { ...common, kind: 'enum', values: node['enum'] };
  }
  const code = node['x-sluice-code'];
  switch (node['type']) {
    case 'object': {
      if (isPlainObject(node['properties'])) {
        const required = new Set(Array.isArray(node['required']) ? (node['required'] as string[]) : []);
        return {
          ...common,
          kind: 'object',
          properties: Object.entries(node['properties']).map(([name, child]) => ({
            name,
            spec: fromJsonSchema(child as Json),
            required: required.has(name),
          })),
        };
      }
      if (isPlainObject(node['additionalProperties'])) return { ...common, kind: 'record', values: fromJsonSchema(node['additionalProperties']) };
      return { ...common, kind: 'object', properties: [] };
    }
    case 'boolean':
      return { ...common, kind: 'boolean' };
    case 'integer':
    case 'number':
      return {
        ...common,
        kind: 'number',
        integer: node['type'] === 'integer',
        ...(node['unit'] === 'ms' ? { unit: 'ms' as const } : {}),
        ...(typeof node['minimum'] === 'number' ? { minimum: node['minimum'] } : {}),
        ...(typeof node['maximum'] === 'number' ? { maximum: node['maximum'] } : {}),
        ...(typeof node['exclusiveMinimum'] === 'number' ? { exclusiveMinimum: node['exclusiveMinimum'] } : {}),
      };
    case 'string':
      return {
        ...common,
        kind: 'string',
        ...(typeof code === 'string' && code in CODE_KINDS ? { code: code as CodeKindName } : {}),
        ...(typeof node['pattern'] === 'string' ? { pattern: node['pattern'] } : {}),
        ...(typeof node['minLength'] === 'number' ? { minLength: node['minLength'] } : {}),
        ...(typeof node['maxLength'] === 'number' ? { maxLength: node['maxLength'] } : {}),
      };
    case 'array':
      return {
        ...common,
        kind: 'array',
        items: isPlainObject(node['items']) ? fromJsonSchema(node['items']) : { kind: 'json', hasDefault: false },
        ...(typeof node['minItems'] === 'number' ? { minItems: node['minItems'] } : {}),
        ...(typeof node['maxItems'] === 'number' ? { maxItems: node['maxItems'] } : {}),
      };
    default:
      return { ...common, kind: 'json' };
  }
}

/** The property every option pins with a `const` (a discriminated union's tag). */
function discriminatorOf(options: readonly Json[]): string | undefined {
  const first = options[0];
  if (!first || !isPlainObject(first['properties'])) return undefined;
  for (const key of Object.keys(first['properties'])) {
    const tagged = options.every((o) => {
      const property = isPlainObject(o['properties']) ? o['properties'][key] : undefined;
      return o['type'] === 'object' && isPlainObject(property) && typeof property['const'] === 'string';
    });
    if (tagged) return key;
  }
  return undefined;
}

/** A template for a new code field of `kind`: valid, and type-correct against its signature. */
export function codeTemplate(kind: CodeKindName): string {
  switch (kind) {
    case 'aggregate':
      return '({\n  createAccumulator() {\n    return { count: 0 };\n  },\n  add(value, acc) {\n    return { count: acc.count + 1 };\n  },\n  getResult(acc) {\n    return acc;\n  },\n  merge(a, b) {\n    return { count: a.count + b.count };\n  },\n})';
    case 'keyed-process':
      return '({\n  processElement(value, ctx) {\n    ctx.collect(value);\n  },\n})';
    case 'co-process':
      return '({\n  processElement1(value, ctx) {\n    ctx.collect(value);\n  },\n  processElement2(value, ctx) {\n    ctx.collect(value);\n  },\n})';
    case 'broadcast-process':
      return '({\n  processElement(value, ctx) {\n    ctx.collect(value);\n  },\n  processBroadcastElement(value, ctx) {\n  },\n})';
    case 'trigger':
      return "({\n  onElement(value, timestamp, window, ctx) {\n    return 'CONTINUE';\n  },\n})";
    case 'filter':
    case 'condition':
      return '(value) => true';
    case 'flat-map':
      return '(value) => [value]';
    case 'key-selector':
      return '(value) => value.key';
    case 'timestamp-assigner':
      return '(value) => value.timestamp';
    case 'reduce':
      return '(a, b) => b';
    case 'join':
      return '(left, right) => ({ ...left, ...right })';
    case 'session-gap':
      return '(value) => 60000';
    case 'process-window':
      return '(key, window, elements, out) => {\n  out.collect({ key, count: elements.length, end: window.end });\n}';
    case 'window-result':
      return '(key, window, result, out) => {\n  out.collect({ key, result, end: window.end });\n}';
    case 'pattern-select':
      return '(match) => match';
    case 'map':
      return '(value) => ({ ...value })';
  }
}

/**
 * A value for a field that has none yet: its default if it has one, else the
 * smallest value of its shape (required fields only, for objects).
 */
export function initialValue(spec: FieldSpec): unknown {
  if (spec.hasDefault) return structuredClone(spec.defaultValue);
  switch (spec.kind) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const p of spec.properties) if (p.required) out[p.name] = initialValue(p.spec);
      return out;
    }
    case 'union':
      return spec.options[0] ? initialValue(spec.options[0].spec) : {};
    case 'enum':
      return spec.values[0];
    case 'const':
      return spec.value;
    case 'boolean':
      return false;
    case 'number':
      if (spec.minimum !== undefined && spec.minimum > Number.MIN_SAFE_INTEGER) return spec.minimum;
      if (spec.exclusiveMinimum !== undefined) return spec.exclusiveMinimum + 1;
      return 0;
    case 'string':
      if (spec.code) return codeTemplate(spec.code);
      // A pattern (a field path, a name) would refuse ''; 'key' is what the generator's records have.
      return spec.pattern !== undefined && new RegExp(spec.pattern).test('key') ? 'key' : '';
    case 'array':
      return Array.from({ length: spec.minItems ?? 0 }, () => initialValue(spec.items));
    case 'nullable':
      return null;
    case 'record':
      return {};
    case 'json':
      return null;
  }
}

/** Switching a union to another option: the new option's initial value, keeping fields both share. */
export function switchUnionOption(spec: FieldSpec & { kind: 'union' }, current: unknown, optionValue: string): unknown {
  const option = spec.options.find((o) => o.value === optionValue);
  if (!option) return current;
  const next = initialValue(option.spec) as Record<string, unknown>;
  next[spec.discriminator] = optionValue;
  if (isPlainObject(current)) {
    for (const p of option.spec.properties) {
      if (p.name !== spec.discriminator && current[p.name] !== undefined) next[p.name] = current[p.name];
    }
  }
  return next;
}

/** The option of a union that a value currently has. */
export function currentOption(spec: FieldSpec & { kind: 'union' }, value: unknown): UnionOption | undefined {
  const tag = isPlainObject(value) ? value[spec.discriminator] : undefined;
  return spec.options.find((o) => o.value === tag);
}
