/**
 * User functions are TypeScript source kept in the graph (the editor's code boxes).
 *
 * A code field holds one TypeScript *expression*: either a function
 * (`(event) => event.amount > 100`) or, for operators with several callbacks, an
 * object literal of hooks (`({ processElement(e, ctx) {...}, onTimer(t, ctx) {...} })`).
 * An expression rather than a module keeps the snippet small, makes its line and
 * column numbers the user's own, and lets the engine compile it without a loader.
 *
 * This module only checks syntax and shape, so it runs in the browser as well as
 * in the engine; compiling and type checking belong to the engine and the editor.
 */
import { parseExpression } from '@babel/parser';
import type { Expression } from '@babel/types';

export type CodeShape =
  | { readonly kind: 'function' }
  | { readonly kind: 'hooks'; readonly required: readonly string[]; readonly optional: readonly string[] };

export interface CodeKind {
  readonly shape: CodeShape;
  /** TypeScript text of the expected type, shown in the editor and used for its typings. */
  readonly signature: string;
  readonly doc: string;
}

const fn = (signature: string, doc: string): CodeKind => ({ shape: { kind: 'function' }, signature, doc });
const hooks = (required: string[], optional: string[], signature: string, doc: string): CodeKind => ({
  shape: { kind: 'hooks', required, optional },
  signature,
  doc,
});

/** Every kind of user function an operator can take, by name. */
export const CODE_KINDS = {
  map: fn('(value: In, ctx: FunctionContext) => Out', 'Returns one output record per input record.'),
  filter: fn('(value: In, ctx: FunctionContext) => boolean', 'Keeps the records for which it returns true.'),
  'flat-map': fn(
    '(value: In, ctx: FunctionContext) => Iterable<Out>',
    'Returns zero or more output records per input record (an array or any iterable).',
  ),
  'key-selector': fn('(value: In) => string | number', 'Returns the key of a record; equal keys go to the same subtask.'),
  'timestamp-assigner': fn(
    '(value: In, previousTimestamp: number) => number',
    'Returns the event time of a record in epoch milliseconds.',
  ),
  reduce: fn('(accumulated: T, value: T) => T', 'Combines two records of the same type into one.'),
  aggregate: hooks(
    ['createAccumulator', 'add', 'getResult'],
    ['merge'],
    '{ createAccumulator(): Acc; add(value: In, acc: Acc): Acc; getResult(acc: Acc): Out; merge?(a: Acc, b: Acc): Acc }',
    'Incremental aggregation: only the accumulator is stored. `merge` is needed for session windows.',
  ),
  'process-window': fn(
    '(key: Key, window: WindowContext, elements: readonly In[], out: Collector<Out>) => void',
    'Sees every element of a window plus its start, end and key when it fires.',
  ),
  'window-result': fn(
    '(key: Key, window: WindowContext, result: Agg, out: Collector<Out>) => void',
    'Receives the pre-aggregated result of a window together with its start, end and key.',
  ),
  'keyed-process': hooks(
    ['processElement'],
    ['onTimer', 'open'],
    '{ processElement(value: In, ctx: KeyedProcessContext<Out>): void; onTimer?(timestamp: number, ctx: OnTimerContext<Out>): void; open?(ctx: OpenContext): void }',
    'Per-record logic with keyed state, event-time and processing-time timers, and side outputs.',
  ),
  'co-process': hooks(
    ['processElement1', 'processElement2'],
    ['onTimer', 'open'],
    '{ processElement1(value: In1, ctx: CoProcessContext<Out>): void; processElement2(value: In2, ctx: CoProcessContext<Out>): void; onTimer?(timestamp: number, ctx: OnTimerContext<Out>): void }',
    'Logic over two connected inputs that share keyed state and timers.',
  ),
  'broadcast-process': hooks(
    ['processElement', 'processBroadcastElement'],
    ['onTimer', 'open'],
    '{ processElement(value: In, ctx: ReadOnlyBroadcastContext<Out>): void; processBroadcastElement(value: B, ctx: BroadcastContext<Out>): void; onTimer?(timestamp: number, ctx: OnTimerContext<Out>): void }',
    'A keyed stream connected to a broadcast stream: broadcast elements update state that every key can read.',
  ),
  join: fn('(left: L, right: R) => Out', 'Builds the output record of a matching pair.'),
  'session-gap': fn('(value: In) => number', 'Returns the session gap in milliseconds for a record (dynamic gap).'),
  trigger: hooks(
    ['onElement'],
    ['onEventTime', 'onProcessingTime', 'clear'],
    "{ onElement(value: In, timestamp: number, window: WindowContext, ctx: TriggerContext): TriggerResult; onEventTime?(time: number, window: WindowContext, ctx: TriggerContext): TriggerResult; onProcessingTime?(time: number, window: WindowContext, ctx: TriggerContext): TriggerResult; clear?(window: WindowContext, ctx: TriggerContext): void }",
    "A custom trigger. Returns 'CONTINUE', 'FIRE', 'PURGE' or 'FIRE_AND_PURGE', as in Flink.",
  ),
  condition: fn(
    '(value: In, ctx: PatternContext) => boolean',
    'Decides whether a record matches a pattern step; `ctx.events(name)` returns the records already matched by an earlier step.',
  ),
  'pattern-select': fn(
    '(match: Readonly<Record<string, readonly In[]>>) => Out',
    'Builds the output of a complete pattern match from the records matched by each named step.',
  ),
} as const satisfies Record<string, CodeKind>;

export type CodeKindName = keyof typeof CODE_KINDS;

export interface CodeProblem {
  readonly message: string;
  /** 1-based position inside the code field. */
  readonly line: number;
  readonly column: number;
}

/** Longer code is refused before parsing: a code box is for a small function, not a library. */
export const MAX_CODE_LENGTH = 100_000;

/** Checks syntax and shape; returns undefined when the code is acceptable. */
export function checkCode(source: string, kindName: CodeKindName): CodeProblem | undefined {
  if (source.trim() === '') return { message: 'code is empty', line: 1, column: 1 };
  if (source.length > MAX_CODE_LENGTH) {
    return { message: `code is ${source.length} characters long; the limit is ${MAX_CODE_LENGTH}`, line: 1, column: 1 };
  }
  let expression: Expression;
  try {
    expression = parseExpression(source, { plugins: ['typescript'], sourceType: 'module', errorRecovery: false });
  } catch (error) {
    return syntaxProblem(error);
  }
  const node = unwrap(expression);
  const kind: CodeKind = CODE_KINDS[kindName];
  const at = { line: node.loc?.start.line ?? 1, column: (node.loc?.start.column ?? 0) + 1 };
  if (kind.shape.kind === 'function') {
    if (node.type !== 'ArrowFunctionExpression' && node.type !== 'FunctionExpression') {
      return { message: `expected a function such as \`${exampleFor(kindName)}\`, found ${describe(node.type)}`, ...at };
    }
    return undefined;
  }
  if (node.type !== 'ObjectExpression') {
    return {
      message: `expected an object of functions { ${kind.shape.required.join(', ')} }, found ${describe(node.type)}`,
      ...at,
    };
  }
  const allowed = new Set([...kind.shape.required, ...kind.shape.optional]);
  const present = new Set<string>();
  for (const property of node.properties) {
    if (property.type === 'SpreadElement') {
      return { message: 'spread is not allowed here: name each function', ...position(property, at) };
    }
    const name = propertyName(property.key);
    if (name === undefined || property.computed) {
      return { message: 'computed names are not allowed here: name each function', ...position(property, at) };
    }
    if (!allowed.has(name)) {
      return {
        message: `unknown function '${name}'; expected ${[...allowed].map((n) => `'${n}'`).join(', ')}`,
        ...position(property, at),
      };
    }
    present.add(name);
  }
  const missing = kind.shape.required.filter((name) => !present.has(name));
  if (missing.length > 0) {
    return { message: `missing ${missing.map((n) => `'${n}'`).join(', ')}`, ...at };
  }
  return undefined;
}

type Expr = Expression;

/** `(x)`, `x as T` and `x satisfies T` are the same function to us. */
function unwrap(node: Expr): Expr {
  let current: Expr = node;
  for (;;) {
    if (current.type === 'TSAsExpression' || current.type === 'TSSatisfiesExpression' || current.type === 'TSNonNullExpression') {
      current = current.expression;
    } else if (current.type === 'ParenthesizedExpression') {
      current = current.expression;
    } else {
      return current;
    }
  }
}

function propertyName(key: { type: string; name?: string; value?: unknown }): string | undefined {
  if (key.type === 'Identifier' && typeof key.name === 'string') return key.name;
  if (key.type === 'StringLiteral' && typeof key.value === 'string') return key.value;
  return undefined;
}

function position(node: { loc?: { start: { line: number; column: number } } | null }, fallback: { line: number; column: number }) {
  return node.loc ? { line: node.loc.start.line, column: node.loc.start.column + 1 } : fallback;
}

function syntaxProblem(error: unknown): CodeProblem {
  if (error instanceof SyntaxError) {
    const loc = (error as SyntaxError & { loc?: { line: number; column: number } }).loc;
    const message = error.message.replace(/\s*\(\d+:\d+\)\s*$/, '');
    return { message: `syntax error: ${message}`, line: loc?.line ?? 1, column: (loc?.column ?? 0) + 1 };
  }
  return { message: `cannot parse: ${String(error)}`, line: 1, column: 1 };
}

function describe(nodeType: string): string {
  const words = nodeType.replace(/Expression$|Literal$/, (m) => ` ${m.toLowerCase()}`).replace(/([a-z])([A-Z])/g, '$1 $2');
  return `a ${words.toLowerCase().trim()}`;
}

function exampleFor(kindName: CodeKindName): string {
  switch (kindName) {
    case 'filter':
      return '(value) => value.amount > 100';
    case 'key-selector':
      return '(value) => value.userId';
    case 'timestamp-assigner':
      return '(value) => value.timestamp';
    case 'reduce':
      return '(a, b) => ({ ...a, total: a.total + b.total })';
    default:
      return '(value) => value';
  }
}
