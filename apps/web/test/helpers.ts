import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { GraphDocument } from '../src/model/document';

export const EXAMPLES_DIR = path.resolve(import.meta.dirname, '../../../examples');

export function example(name: string): GraphDocument {
  return JSON.parse(readFileSync(path.join(EXAMPLES_DIR, `${name}.json`), 'utf8')) as GraphDocument;
}

export function allExamples(): Array<{ name: string; doc: GraphDocument }> {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f.replace(/\.json$/, ''), doc: example(f.replace(/\.json$/, '')) }));
}

/** A small valid pipeline: generator → key-by → tumbling window → collect sink. */
export function pipeline(): GraphDocument {
  return {
    schemaVersion: 1,
    name: 'Test pipeline',
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'clickstream', count: 100 }, position: { x: 0, y: 0 } },
      { id: 'by-page', type: 'key-by', config: { key: { kind: 'field', field: 'page' } }, position: { x: 200, y: 0 } },
      { id: 'window', type: 'tumbling-window', config: { sizeMs: 60000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } }, position: { x: 400, y: 0 } },
      { id: 'out', type: 'collect-sink', config: {}, position: { x: 600, y: 0 } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'by-page' },
      { id: 'e2', source: 'by-page', target: 'window' },
      { id: 'e3', source: 'window', target: 'out' },
    ],
  };
}
