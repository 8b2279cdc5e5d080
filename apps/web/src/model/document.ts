/**
 * The editor's document is the job graph exactly as it is written to a file
 * (`JobGraphDocument` from graph-model): what you export is what you edited, and
 * node positions are part of it. Helpers here never mutate their input.
 */
import { CURRENT_SCHEMA_VERSION, type EdgeInput, type GraphNodeInput, type JobGraphDocument } from '@sluice/graph-model';

export type GraphDocument = JobGraphDocument;
export type GraphNode = GraphNodeInput;
export type GraphEdge = EdgeInput;
export interface XY {
  readonly x: number;
  readonly y: number;
}

export function emptyDocument(name = 'Untitled pipeline'): GraphDocument {
  return { schemaVersion: CURRENT_SCHEMA_VERSION, name, nodes: [], edges: [] };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of `record` without `key` (same object when the key is absent). */
export function withoutKey<T extends object>(record: T, key: string): T {
  if (!Object.prototype.hasOwnProperty.call(record, key)) return record;
  const copy = { ...record } as Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- removing one named key from a fresh copy
  delete copy[key];
  return copy as T;
}

/** Plain-JSON deep copy (documents hold JSON values only). */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/**
 * Coerces anything that parsed from JSON into the document shape the editor can
 * hold, without judging it: validation reports what is wrong, and the editor shows
 * a broken graph so that it can be fixed. Returns undefined only when there is no
 * object to show at all.
 */
export function toEditableDocument(value: unknown): GraphDocument | undefined {
  if (!isPlainObject(value)) return undefined;
  const nodes = Array.isArray(value['nodes']) ? value['nodes'].filter(isPlainObject) : [];
  const edges = Array.isArray(value['edges']) ? value['edges'].filter(isPlainObject) : [];
  return {
    ...(value as unknown as GraphDocument),
    nodes: nodes.map((n, i) => ({
      ...(n as unknown as GraphNode),
      id: typeof n['id'] === 'string' ? n['id'] : `node-${i + 1}`,
      type: typeof n['type'] === 'string' ? n['type'] : 'unknown',
    })),
    edges: edges.map((e, i) => ({
      ...(e as unknown as GraphEdge),
      id: typeof e['id'] === 'string' ? e['id'] : `edge-${i + 1}`,
      source: typeof e['source'] === 'string' ? e['source'] : '',
      target: typeof e['target'] === 'string' ? e['target'] : '',
    })),
  };
}
