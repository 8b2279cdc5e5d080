/**
 * The one way a graph is written out: fixed key order for the parts people read
 * (document, node, edge), alphabetical order everywhere else, 2-space indent and a
 * final newline. Two exports of the same graph are byte-identical, so exported files
 * diff cleanly under version control.
 */
const ORDER: Record<'document' | 'node' | 'edge', readonly string[]> = {
  document: ['schemaVersion', 'name', 'description', 'job', 'nodes', 'edges'],
  node: ['id', 'type', 'name', 'description', 'parallelism', 'chaining', 'config', 'position'],
  edge: ['id', 'source', 'sourceOutput', 'target', 'targetInput', 'partitioning'],
};

type Context = keyof typeof ORDER | 'other';

export function canonicalJson(document: unknown): string {
  return `${JSON.stringify(reorder(document, 'document'), null, 2)}\n`;
}

function reorder(value: unknown, context: Context): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => reorder(item, 'other'));
  }
  if (typeof value !== 'object' || value === null) {
    return Object.is(value, -0) ? 0 : value;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((k) => record[k] !== undefined);
  const preferred = context === 'other' ? [] : ORDER[context];
  const ordered = [...preferred.filter((k) => keys.includes(k)), ...keys.filter((k) => !preferred.includes(k)).sort()];
  const out: Record<string, unknown> = {};
  for (const key of ordered) {
    const child = record[key];
    if (context === 'document' && (key === 'nodes' || key === 'edges') && Array.isArray(child)) {
      out[key] = child.map((item) => reorder(item, key === 'nodes' ? 'node' : 'edge'));
    } else {
      out[key] = reorder(child, 'other');
    }
  }
  return out;
}
