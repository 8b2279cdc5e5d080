/**
 * Reading graph files as text: parse errors and validation problems are turned
 * into line and column numbers, so `sluice validate` and the editor's import can
 * point at the exact place in the file.
 */
import { findNodeAtLocation, parseTree, printParseErrorCode, visit, type ParseError } from 'jsonc-parser';
import { formatPath, type PathSegment } from './paths.js';

export interface TextLocation {
  /** 1-based. */
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

export interface JsonTextProblem extends TextLocation {
  readonly message: string;
  readonly path?: string;
}

export type JsonTextResult =
  | { readonly ok: true; readonly value: unknown; readonly duplicateKeys: readonly JsonTextProblem[] }
  | { readonly ok: false; readonly error: JsonTextProblem };

export function parseJsonText(text: string): JsonTextResult {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, error: describeSyntaxError(body) };
  }
  return { ok: true, value, duplicateKeys: findDuplicateKeys(body) };
}

function describeSyntaxError(text: string): JsonTextProblem {
  const errors: ParseError[] = [];
  parseTree(text, errors, { allowTrailingComma: false, disallowComments: true, allowEmptyContent: false });
  const first = errors[0];
  if (!first) {
    return { message: 'not valid JSON', ...locationOf(text, 0) };
  }
  const what = printParseErrorCode(first.error)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return { message: `invalid JSON: ${what}`, ...locationOf(text, first.offset) };
}

function findDuplicateKeys(text: string): JsonTextProblem[] {
  const found: JsonTextProblem[] = [];
  const stack: Array<Set<string>> = [];
  visit(text, {
    onObjectBegin: () => {
      stack.push(new Set());
    },
    onObjectEnd: () => {
      stack.pop();
    },
    onObjectProperty: (property, offset, _length, _line, _column, pathSupplier) => {
      const keys = stack[stack.length - 1];
      if (!keys) return;
      if (keys.has(property) && found.length < 100) {
        const path = formatPath(pathSupplier());
        found.push({ message: `duplicate key '${property}' in ${path}; JSON keeps only the last one`, path, ...locationOf(text, offset) });
      }
      keys.add(property);
    },
  });
  return found;
}

/** Where a path points in the text: the value, or for a missing field its nearest existing parent. */
export function locatePath(text: string, segments: readonly PathSegment[]): TextLocation | undefined {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const root = parseTree(body, [], { disallowComments: true });
  if (!root) return undefined;
  for (let length = segments.length; length >= 0; length--) {
    const node = findNodeAtLocation(root, segments.slice(0, length));
    if (node) {
      // For an unknown field, point at its key rather than its value.
      const target = length === segments.length && node.parent?.type === 'property' ? node.parent : node;
      return locationOf(body, target.offset);
    }
  }
  return undefined;
}

export function locationOf(text: string, offset: number): TextLocation {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1, offset: end };
}
