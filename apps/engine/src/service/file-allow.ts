/**
 * Which directories a hosted engine's file sources and sinks may use.
 *
 * A file source reads whatever path its graph names and a file sink writes there, with
 * the engine's own rights. On a shared engine a tenant could otherwise read the admin
 * token (`<dataDir>/token`), other tenants' checkpoints, or any file of the host, through
 * a collect sink or the dead-letter output. So the engine has an allow-list of directories
 * (`sluice serve --file-allow DIR`, `EngineServiceOptions.fileAllow`):
 *
 *   - `any`: every path (a single-user engine on loopback without a token, `--trusted`,
 *     `--file-allow '*'`), as before;
 *   - directories: the admin may use paths inside them; a tenant only inside
 *     `<dir>/<tenant>/`, so tenants' files stay apart. Empty by default on a hosted
 *     engine: no file sources or sinks until the operator names a directory.
 *
 * Whatever the list, the engine's data directory is never allowed: it holds the admin
 * token, tenant token hashes and every tenant's checkpoints. Paths are resolved the way
 * the operators open them (relative to the engine's working directory) and through
 * symbolic links of the part that exists, so a link cannot lead outside.
 */
import { join, resolve } from 'node:path';
import { graphEndpoints, type ValidatedGraph } from '@sluice/graph-model';
import type { ApiProblem } from '@sluice/protocol';
import { inside, realish } from '../paths.js';

export type FileAllowList = { readonly any: true } | { readonly any: false; readonly directories: readonly string[] };

export const ANY_FILE: FileAllowList = { any: true };

export const FILE_ALLOW_SETTING = '--file-allow (fileAllow)';

/** `['*']` or directories (made absolute from the working directory). */
export function parseFileAllow(entries: readonly string[]): FileAllowList {
  const directories: string[] = [];
  for (const entry of entries) {
    if (entry.trim() === '*') return ANY_FILE;
    if (entry.trim() === '' || entry.includes('\0')) throw new Error(`${FILE_ALLOW_SETTING}: '${entry}' is not a directory path`);
    directories.push(realish(resolve(entry)));
  }
  return { any: false, directories: [...new Set(directories)] };
}

/** The entries given, else any for a single-user engine (no token required) and none for a hosted one. */
export function fileAllowFor(entries: readonly string[] | undefined, authRequired: boolean): FileAllowList {
  if (entries !== undefined) return parseFileAllow(entries);
  return authRequired ? { any: false, directories: [] } : ANY_FILE;
}

export function fileAllowEntries(allow: FileAllowList): string[] {
  return allow.any ? ['*'] : [...allow.directories];
}

/** Why `path` may not be used by `tenant` (undefined: the admin), or undefined when it may. */
export function fileRefusal(allow: FileAllowList, dataDirs: readonly string[], path: string, tenant: string | undefined): string | undefined {
  if (allow.any) return undefined;
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  if (path.includes('\0')) return `file path '${shown.replace(/\0/g, '\\0')}' contains a NUL character`;
  const target = realish(resolve(path));
  if (dataDirs.some((dataDir) => inside(realish(resolve(dataDir)), target))) {
    return `file path '${shown}' is inside the engine's data directory, which jobs may never read or write (it holds tokens and every tenant's checkpoints)`;
  }
  const roots = allow.directories.map((d) => (tenant === undefined ? d : join(d, tenant)));
  if (roots.some((root) => inside(root, target))) return undefined;
  const allowed = roots.length === 0 ? 'none' : roots.join(', ');
  return `file path '${shown}' is outside the directories this engine lets ${tenant === undefined ? 'jobs' : `tenant '${tenant}'`} use (setting ${FILE_ALLOW_SETTING}; allowed: ${allowed})`;
}

/** Every file path of the graph (catalog `endpoints` of kind file-path) that `tenant` may not use, with the field's path. */
export function fileGraphProblems(allow: FileAllowList, dataDirs: readonly string[], graph: ValidatedGraph, tenant: string | undefined): ApiProblem[] {
  if (allow.any) return [];
  const problems: ApiProblem[] = [];
  for (const { node, endpoint, value, path } of graphEndpoints(graph)) {
    if (endpoint.kind !== 'file-path') continue;
    const refusal = fileRefusal(allow, dataDirs, value, tenant);
    if (refusal !== undefined) problems.push({ in: 'graph', path, message: refusal, nodeId: node.id });
  }
  return problems;
}
