/**
 * Graph files carry `schemaVersion`. When the format changes, the version goes up
 * and a migration rewrites older documents step by step; old documents stay in
 * `fixtures/v<N>/` and a test keeps them loading.
 */
import { CURRENT_SCHEMA_VERSION } from './graph.js';

export interface Migration {
  readonly from: number;
  /** Always `from + 1`. */
  readonly to: number;
  readonly description: string;
  /** Pure: returns a new document and leaves its input untouched. */
  readonly up: (document: Readonly<Record<string, unknown>>) => Record<string, unknown>;
}

/** The real migrations, oldest first. Version 1 is the first published format. */
export const MIGRATIONS: readonly Migration[] = [];

export type MigrationResult =
  | { readonly ok: true; readonly document: Record<string, unknown>; readonly applied: readonly Migration[] }
  | { readonly ok: false; readonly message: string };

export function migrate(
  document: Readonly<Record<string, unknown>>,
  migrations: readonly Migration[] = MIGRATIONS,
  target: number = CURRENT_SCHEMA_VERSION,
): MigrationResult {
  const version = document['schemaVersion'];
  if (version === undefined) {
    return { ok: false, message: `schemaVersion is missing; this format is version ${target}` };
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    return { ok: false, message: `schemaVersion must be a whole number from 1 to ${target}` };
  }
  if (version > target) {
    return {
      ok: false,
      message: `schemaVersion ${version} is newer than this Sluice understands (up to ${target}); upgrade Sluice to open it`,
    };
  }
  let current: Record<string, unknown> = { ...document };
  const applied: Migration[] = [];
  for (let v = version; v < target; v++) {
    const step = migrations.find((m) => m.from === v);
    if (!step || step.to !== v + 1) return { ok: false, message: `no migration from schemaVersion ${v} to ${v + 1}` };
    try {
      current = { ...step.up(current), schemaVersion: v + 1 };
    } catch (error) {
      return { ok: false, message: `migration from schemaVersion ${v} failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    applied.push(step);
  }
  return { ok: true, document: current, applied };
}
