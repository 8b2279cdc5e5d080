/**
 * Named pipelines with versions, kept as JSON files under the data directory:
 *
 *   <dataDir>/pipelines/<name>/000001.json    { format, name, version, createdAt, description, sha256, graph }
 *                             /000002.json
 *
 * Versions are immutable and numbered from 1. Each is created with
 * createFileAtomically (temp + fsync + exclusive link), so a crash leaves either the
 * whole version or none, and two writers, even in two processes, never take the same
 * number: the loser sees EEXIST and takes the next one.
 *
 * Why files and not an embedded database: pipelines are few, small and written by
 * people, a version is written once and read whole, and plain files need no native
 * build, can be backed up with cp and read with cat.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, type JobGraphDocument } from '@sluice/graph-model';
import type { PipelineSummary, PipelineVersion, PipelineVersionInfo } from '@sluice/protocol';
import { createFileAtomically } from './fs-atomic.js';

/** Pipeline names are path segments (in URLs and on disk). */
export const PIPELINE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const NAME = new RegExp(PIPELINE_NAME_PATTERN);
const VERSION_FILE = /^(\d{6,})\.json$/;
const FORMAT = 1;

interface StoredVersion extends PipelineVersion {
  readonly format: number;
}

export class PipelineStore {
  private readonly root: string;
  /** Per-name queue, so writers in this process do not race each other for a number. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'pipelines');
  }

  static validName(name: string): boolean {
    return NAME.test(name);
  }

  /** Stores a new version, unless the graph equals the latest one (then that one is returned, created: false). */
  save(name: string, graph: JobGraphDocument, description: string | undefined, now: number): Promise<PipelineVersionInfo & { created: boolean }> {
    this.assertName(name);
    const previous = this.queues.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.saveNow(name, graph, description, now));
    this.queues.set(name, next);
    void next.finally(() => {
      if (this.queues.get(name) === next) this.queues.delete(name);
    }).catch(() => undefined);
    return next;
  }

  private async saveNow(name: string, graph: JobGraphDocument, description: string | undefined, now: number): Promise<PipelineVersionInfo & { created: boolean }> {
    const text = canonicalJson(graph);
    const sha256 = createHash('sha256').update(text).digest('hex');
    const numbers = await this.versionNumbers(name);
    const latest = numbers.at(-1);
    if (latest !== undefined) {
      const last = await this.read(name, latest);
      if (last?.sha256 === sha256) return { ...info(last), created: false };
    }
    for (let version = (latest ?? 0) + 1; ; version++) {
      const stored: StoredVersion = { format: FORMAT, name, version, createdAt: now, description: description ?? null, sha256, graph: JSON.parse(text) as JobGraphDocument };
      if (await createFileAtomically(this.file(name, version), `${JSON.stringify(stored, null, 2)}\n`)) return { ...info(stored), created: true };
    }
  }

  async list(): Promise<PipelineSummary[]> {
    let names: string[];
    try {
      names = (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && NAME.test(d.name)).map((d) => d.name);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return [];
      throw error;
    }
    const summaries: PipelineSummary[] = [];
    for (const name of names.sort()) {
      const numbers = await this.versionNumbers(name);
      const latest = numbers.at(-1);
      if (latest === undefined) continue;
      const last = await this.read(name, latest);
      if (!last) continue;
      summaries.push({ name, latestVersion: latest, versions: numbers.length, updatedAt: last.createdAt });
    }
    return summaries;
  }

  /** Every version, oldest first; undefined when the pipeline does not exist. */
  async versions(name: string): Promise<PipelineVersionInfo[] | undefined> {
    if (!NAME.test(name)) return undefined;
    const numbers = await this.versionNumbers(name);
    if (numbers.length === 0) return undefined;
    const out: PipelineVersionInfo[] = [];
    for (const n of numbers) {
      const stored = await this.read(name, n);
      if (stored) out.push(info(stored));
    }
    return out;
  }

  async get(name: string, version: number): Promise<PipelineVersion | undefined> {
    if (!NAME.test(name)) return undefined;
    const stored = await this.read(name, version);
    if (!stored) return undefined;
    return { ...info(stored), graph: stored.graph };
  }

  async latestVersion(name: string): Promise<number | undefined> {
    if (!NAME.test(name)) return undefined;
    return (await this.versionNumbers(name)).at(-1);
  }

  private assertName(name: string): void {
    if (!NAME.test(name)) throw new Error(`invalid pipeline name '${name}'`);
  }

  private file(name: string, version: number): string {
    return join(this.root, name, `${String(version).padStart(6, '0')}.json`);
  }

  private async versionNumbers(name: string): Promise<number[]> {
    let files: string[];
    try {
      files = await readdir(join(this.root, name));
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return [];
      throw error;
    }
    return files
      .map((f) => VERSION_FILE.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private async read(name: string, version: number): Promise<StoredVersion | undefined> {
    if (!Number.isSafeInteger(version) || version < 1) return undefined;
    let text: string;
    try {
      text = await readFile(this.file(name, version), 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
      throw error;
    }
    const stored = JSON.parse(text) as StoredVersion;
    if (stored.format !== FORMAT) throw new Error(`${this.file(name, version)}: unknown format ${String(stored.format)}`);
    return stored;
  }
}

function info(stored: PipelineVersionInfo): PipelineVersionInfo {
  return { name: stored.name, version: stored.version, createdAt: stored.createdAt, description: stored.description, sha256: stored.sha256 };
}
