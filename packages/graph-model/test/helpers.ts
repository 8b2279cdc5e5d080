import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateGraph, type GraphProblem, type JobGraphDocument } from '@sluice/graph-model';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLES_DIR = `${REPO_ROOT}examples/`;

export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

export function loadExample(file: string): JobGraphDocument {
  return JSON.parse(readFileSync(`${EXAMPLES_DIR}${file}`, 'utf8')) as JobGraphDocument;
}

/** A small valid graph: generator → key-by → tumbling window → collect sink. */
export function windowedGraph(): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'windowed',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'clickstream', count: 100 } },
      { id: 'key', type: 'key-by', config: { key: { kind: 'field', field: 'userId' } } },
      { id: 'win', type: 'tumbling-window', config: { sizeMs: 60_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
      { id: 'sink', type: 'collect-sink', config: {} },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'key' },
      { id: 'e2', source: 'key', target: 'win' },
      { id: 'e3', source: 'win', target: 'sink' },
    ],
  };
}

/** Validates and returns the problems as `path: message` lines, errors only unless asked. */
export function problemsOf(graph: unknown, withWarnings = false): GraphProblem[] {
  return validateGraph(graph).problems.filter((p) => withWarnings || p.severity === 'error');
}

export function paths(graph: unknown): string[] {
  return problemsOf(graph).map((p) => p.path);
}
