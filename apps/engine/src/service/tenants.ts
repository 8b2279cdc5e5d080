/**
 * Tenants of a hosted engine, and the tokens that act for them.
 *
 * Two kinds of caller hold a token:
 *
 *   admin token   the engine's own (`--token`, $SLUICE_TOKEN, or `<dataDir>/token`):
 *                 everything, every tenant's jobs, token management
 *   tenant token  one tenant's: its own jobs and pipelines only; another tenant's job
 *                 is "no job with id …" (404), exactly as if it did not exist
 *
 * Tenant tokens live in `<dataDir>/tokens.json`, one entry per token:
 * `{ id, tenant, sha256, createdAt }`. Only the SHA-256 of a token is kept: a token
 * is 256 random bits, so a fast hash is as safe as a slow one (there is nothing to
 * guess) and lookups stay cheap. The token itself is shown once, when it is created.
 *
 * Managed by `sluice token create | list | revoke` (on the data directory, with or
 * without a running engine) or the admin-only REST routes under /api/tokens. The
 * engine re-reads the file when it changed (checked at every authenticated request
 * and Socket.IO handshake), so a revoked token stops working at its next request.
 * A Socket.IO connection made with a revoked token is closed within a second
 * (service.ts), and cannot be opened again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncPath } from '../runtime/state-files.js';

/** A DNS label, like a Kubernetes namespace: it appears in paths, rooms and logs. */
export const TENANT_NAME_PATTERN = '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';
const TENANT_NAME = new RegExp(TENANT_NAME_PATTERN);
export const TOKEN_ID_PATTERN = '^[0-9a-f]{12}$';
const TOKEN_ID = new RegExp(TOKEN_ID_PATTERN);
const FORMAT = 1;

/** Who a request acts as. Without auth (loopback, no token) every caller is the admin. */
export type Principal = { readonly kind: 'admin' } | { readonly kind: 'tenant'; readonly tenant: string; readonly tokenId: string };

export const ADMIN: Principal = { kind: 'admin' };

/** Whether `principal` may see a job or pipeline owned by `owner` (undefined: the admin's own). */
export function mayAccess(principal: Principal, owner: string | undefined): boolean {
  return principal.kind === 'admin' || principal.tenant === owner;
}

/** The tenant a principal's new jobs and pipelines belong to; undefined for the admin. */
export function tenantOf(principal: Principal): string | undefined {
  return principal.kind === 'tenant' ? principal.tenant : undefined;
}

export function validTenantName(name: string): boolean {
  return TENANT_NAME.test(name);
}

export function tenantNameProblem(name: string): string | undefined {
  if (validTenantName(name)) return undefined;
  return `tenant name '${name.length > 80 ? `${name.slice(0, 80)}…` : name}' is not valid: 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit`;
}

export interface TokenInfo {
  readonly id: string;
  readonly tenant: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

interface StoredToken extends TokenInfo {
  /** Hex SHA-256 of the whole token. */
  readonly sha256: string;
}

interface TokensFile {
  readonly format: number;
  readonly tokens: StoredToken[];
}

export interface CreatedToken extends TokenInfo {
  /** Shown once; only its hash is kept. */
  readonly token: string;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TenantTokens {
  readonly file: string;
  private byHash = new Map<string, StoredToken>();
  /** Identity of the file last read (ino, size, mtime); the file is replaced by rename on every change. */
  private loaded = '';

  constructor(file: string) {
    this.file = file;
  }

  static inDataDir(dataDir: string): TenantTokens {
    return new TenantTokens(join(dataDir, 'tokens.json'));
  }

  /** The tenant token `token` is, or undefined (unknown or revoked). */
  async lookup(token: string): Promise<TokenInfo | undefined> {
    await this.refresh();
    const entry = this.byHash.get(digest(token));
    return entry && { id: entry.id, tenant: entry.tenant, createdAt: entry.createdAt };
  }

  /** Ids of the tokens in force now (re-reading the file if it changed). */
  async activeIds(): Promise<Set<string>> {
    await this.refresh();
    return new Set([...this.byHash.values()].map((t) => t.id));
  }

  async list(): Promise<TokenInfo[]> {
    const tokens = (await this.read()).tokens;
    return tokens.map((t) => ({ id: t.id, tenant: t.tenant, createdAt: t.createdAt })).sort((a, b) => a.tenant.localeCompare(b.tenant) || a.createdAt - b.createdAt);
  }

  /** Creates a token for `tenant` (a tenant exists once it has a token). */
  async create(tenant: string, now: number): Promise<CreatedToken> {
    const problem = tenantNameProblem(tenant);
    if (problem !== undefined) throw new Error(problem);
    return this.update((file) => {
      let id: string;
      do id = randomBytes(6).toString('hex');
      while (file.tokens.some((t) => t.id === id));
      const token = `sluice_${id}_${randomBytes(32).toString('base64url')}`;
      const entry: StoredToken = { id, tenant, createdAt: now, sha256: digest(token) };
      return { tokens: [...file.tokens, entry], result: { id, tenant, createdAt: now, token } };
    });
  }

  /** Revokes one token by id; undefined when there is none with that id. */
  async revoke(id: string): Promise<TokenInfo | undefined> {
    if (!TOKEN_ID.test(id)) return undefined;
    return this.update((file) => {
      const entry = file.tokens.find((t) => t.id === id);
      return { tokens: file.tokens.filter((t) => t.id !== id), result: entry && { id: entry.id, tenant: entry.tenant, createdAt: entry.createdAt } };
    });
  }

  /** Revokes every token of a tenant; returns those revoked. */
  async revokeTenant(tenant: string): Promise<TokenInfo[]> {
    return this.update((file) => ({
      tokens: file.tokens.filter((t) => t.tenant !== tenant),
      result: file.tokens.filter((t) => t.tenant === tenant).map((t) => ({ id: t.id, tenant: t.tenant, createdAt: t.createdAt })),
    }));
  }

  private async refresh(): Promise<void> {
    let identity: string;
    try {
      const s = await stat(this.file, { bigint: true });
      identity = `${s.ino}/${s.size}/${s.mtimeNs}`;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
      identity = 'absent';
    }
    if (identity === this.loaded) return;
    const file = await this.read();
    this.byHash = new Map(file.tokens.map((t) => [t.sha256, t]));
    this.loaded = identity;
  }

  private async read(): Promise<TokensFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return { format: FORMAT, tokens: [] };
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`${this.file} is not valid JSON (${error instanceof Error ? error.message : String(error)}); fix or remove it`, { cause: error });
    }
    return checkFile(parsed, this.file);
  }

  /** Read-modify-write under a lock file, so the CLI and a running engine never lose each other's changes. */
  private async update<T>(change: (file: TokensFile) => { tokens: StoredToken[]; result: T }): Promise<T> {
    await mkdir(dirname(this.file), { recursive: true });
    const release = await this.lock();
    try {
      const { tokens, result } = change(await this.read());
      const temp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify({ format: FORMAT, tokens }, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.file);
      await fsyncPath(dirname(this.file));
      return result;
    } finally {
      await release();
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    const lockFile = `${this.file}.lock`;
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(lockFile, 'wx', 0o600);
        await handle.close();
        return () => unlink(lockFile).catch(() => undefined);
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
      }
      // A lock older than 10 s was left by a process that died while holding it.
      const age = await stat(lockFile).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 10_000) await unlink(lockFile).catch(() => undefined);
      else if (attempt > 200) throw new Error(`${lockFile} is held by another process; remove it if none is running`);
      else await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function checkFile(value: unknown, file: string): TokensFile {
  const bad = (why: string) => new Error(`${file}: ${why}`);
  if (typeof value !== 'object' || value === null) throw bad('expected { format: 1, tokens: [...] }');
  const { format, tokens } = value as { format?: unknown; tokens?: unknown };
  if (format !== FORMAT) throw bad(`unknown format ${JSON.stringify(format)} (expected ${FORMAT})`);
  if (!Array.isArray(tokens)) throw bad('tokens must be an array');
  tokens.forEach((t: unknown, i) => {
    const entry = t as Partial<StoredToken> | null;
    if (typeof entry !== 'object' || entry === null) throw bad(`tokens[${i}] must be an object`);
    if (typeof entry.id !== 'string' || !TOKEN_ID.test(entry.id)) throw bad(`tokens[${i}].id must be 12 hex digits`);
    if (typeof entry.tenant !== 'string' || !validTenantName(entry.tenant)) throw bad(`tokens[${i}].tenant is not a valid tenant name`);
    if (typeof entry.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(entry.sha256)) throw bad(`tokens[${i}].sha256 must be 64 hex digits`);
    if (typeof entry.createdAt !== 'number') throw bad(`tokens[${i}].createdAt must be a number`);
  });
  return { format: FORMAT, tokens: tokens as StoredToken[] };
}
