/**
 * The examples gallery is read from the repository's `examples/*.json` at build
 * time: the page that calls this is prerendered by `next build`, so the built app
 * carries the examples in its own HTML and needs neither the files nor a network
 * at run time. Server-only (node:fs).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Example {
  /** File name, such as `clickstream-page-views.json`. */
  readonly file: string;
  readonly name: string;
  readonly description: string;
  readonly nodeCount: number;
  readonly edgeCount: number;
  readonly operatorTypes: readonly string[];
  /** The file's text, exactly. */
  readonly text: string;
}

/** The repository's `examples/` folder, found upwards from `start`. */
export function findExamplesDirectory(start: string = process.cwd()): string | undefined {
  // Read at build time only; nothing here belongs in the server output (hence turbopackIgnore).
  let dir = path.resolve(/* turbopackIgnore: true */ start);
  for (;;) {
    const candidate = path.join(/* turbopackIgnore: true */ dir, 'examples');
    if (existsSync(path.join(/* turbopackIgnore: true */ candidate, 'README.md')) && existsSync(path.join(/* turbopackIgnore: true */ dir, 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function loadExamples(directory: string | undefined = findExamplesDirectory()): Example[] {
  if (directory === undefined) return [];
  return readdirSync(/* turbopackIgnore: true */ directory)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(/* turbopackIgnore: true */ directory, file), 'utf8');
      const parsed = JSON.parse(text) as { name?: unknown; description?: unknown; nodes?: unknown; edges?: unknown };
      const nodes = Array.isArray(parsed.nodes) ? (parsed.nodes as Array<{ type?: unknown }>) : [];
      return {
        file,
        name: typeof parsed.name === 'string' ? parsed.name : file,
        description: typeof parsed.description === 'string' ? parsed.description : '',
        nodeCount: nodes.length,
        edgeCount: Array.isArray(parsed.edges) ? parsed.edges.length : 0,
        operatorTypes: [...new Set(nodes.map((n) => (typeof n.type === 'string' ? n.type : '?')))],
        text,
      };
    });
}
