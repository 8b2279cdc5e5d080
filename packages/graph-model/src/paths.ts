/**
 * JSON paths as users read them: `nodes[3].config.sizeMs`, `$` for the root.
 * Every validation problem carries one, and the CLI and the editor both resolve
 * it back to a location (a line in a file, a field in a form).
 */
export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') {
      out += `[${segment}]`;
    } else if (IDENTIFIER.test(segment)) {
      out += out === '' ? segment : `.${segment}`;
    } else {
      out += `[${JSON.stringify(segment)}]`;
    }
  }
  return out === '' ? '$' : out;
}

/** Inverse of {@link formatPath}; returns undefined for text that is not a path it produced. */
export function parsePath(path: string): PathSegment[] | undefined {
  if (path === '$') return [];
  const segments: PathSegment[] = [];
  let i = 0;
  while (i < path.length) {
    const ch = path[i];
    if (ch === '[') {
      const close = path[i + 1] === '"' ? findStringEnd(path, i + 1) : path.indexOf(']', i);
      if (close < 0) return undefined;
      const inner = path.slice(i + 1, path[i + 1] === '"' ? close + 1 : close);
      if (inner.startsWith('"')) {
        try {
          segments.push(JSON.parse(inner) as string);
        } catch {
          return undefined;
        }
        if (path[close + 1] !== ']') return undefined;
        i = close + 2;
      } else {
        if (!/^\d+$/.test(inner)) return undefined;
        segments.push(Number(inner));
        i = close + 1;
      }
    } else {
      if (ch === '.') {
        if (segments.length === 0) return undefined;
        i += 1;
      } else if (segments.length > 0) {
        return undefined;
      }
      const match = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(path.slice(i));
      if (!match) return undefined;
      segments.push(match[0]);
      i += match[0].length;
    }
  }
  return segments;
}

function findStringEnd(text: string, openQuote: number): number {
  for (let i = openQuote + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}
