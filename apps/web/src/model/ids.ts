/**
 * Fresh ids. A node id is the operator uid that state is matched by on redeploy, so
 * the editor picks it once, readably, from the operator type (`tumbling-window-2`),
 * and never changes it afterwards.
 */
import { ID_PATTERN } from '@sluice/graph-model';

/** `base-N` with the smallest N ≥ 1 not in `taken`. `base` is made id-safe first. */
export function freshId(base: string, taken: ReadonlySet<string>): string {
  const safe = kebab(base) || 'node';
  for (let n = 1; ; n++) {
    const candidate = `${safe}-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** Id for a new node of `type`. */
export function freshNodeId(type: string, taken: ReadonlySet<string>): string {
  return freshId(type, taken);
}

/** Edge ids follow the examples: e1, e2, … */
export function freshEdgeId(taken: ReadonlySet<string>): string {
  for (let n = 1; ; n++) {
    const candidate = `e${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** Id for a copy of node `id`: its base without a trailing `-N`, numbered afresh. */
export function copyId(id: string, taken: ReadonlySet<string>): string {
  return freshId(id.replace(/-\d+$/, ''), taken);
}

/** Lower-case kebab form, trimmed to what ID_PATTERN allows (leaving room for a suffix). */
export function kebab(text: string): string {
  const out = text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, 56);
  return ID_PATTERN.test(`${out}-1`) ? out : '';
}
