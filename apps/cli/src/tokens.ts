/**
 * `sluice token create | list | revoke`: tenant tokens of a hosted engine, kept (as
 * SHA-256 hashes) in `<dataDir>/tokens.json`. They work on the data directory itself,
 * so they need neither a running engine nor the admin token; a running engine picks up
 * a change at its next request. Over the network the admin uses the REST routes under
 * /api/tokens instead.
 */
import { TenantTokens, tenantNameProblem, type TokenInfo } from '@sluice/engine';
import type { CliIo } from './cli.js';

export interface TokenFlags {
  readonly dataDir: string;
  readonly json?: boolean;
}

function when(ms: number): string {
  return new Date(ms).toISOString();
}

function failed(io: CliIo, error: unknown): number {
  io.stderr(`sluice token: ${error instanceof Error ? error.message : String(error)}\n`);
  return 2;
}

export async function tokenCreateCommand(tenant: string, flags: TokenFlags, io: CliIo): Promise<number> {
  const problem = tenantNameProblem(tenant);
  if (problem !== undefined) {
    io.stderr(`sluice token create: ${problem}\n`);
    return 2;
  }
  try {
    const created = await TenantTokens.inDataDir(flags.dataDir).create(tenant, Date.now());
    if (flags.json === true) io.stdout(`${JSON.stringify(created)}\n`);
    else {
      io.stdout(`${created.token}\n`);
      io.stderr(`token ${created.id} for tenant '${tenant}' created; it is shown only now (the engine keeps its SHA-256). Revoke it with: sluice token revoke ${created.id}\n`);
    }
    return 0;
  } catch (error) {
    return failed(io, error);
  }
}

export async function tokenListCommand(flags: TokenFlags, io: CliIo): Promise<number> {
  let tokens: TokenInfo[];
  try {
    tokens = await TenantTokens.inDataDir(flags.dataDir).list();
  } catch (error) {
    return failed(io, error);
  }
  if (flags.json === true) io.stdout(`${JSON.stringify({ tokens })}\n`);
  else if (tokens.length === 0) io.stdout('no tenant tokens\n');
  else for (const t of tokens) io.stdout(`${t.id}  ${t.tenant.padEnd(20)}  created ${when(t.createdAt)}\n`);
  return 0;
}

/** Revokes one token by id, or with `tenant` every token of that tenant. Exit 1 when there was nothing to revoke. */
export async function tokenRevokeCommand(id: string | undefined, flags: TokenFlags & { tenant?: string }, io: CliIo): Promise<number> {
  if ((id === undefined) === (flags.tenant === undefined)) {
    io.stderr('sluice token revoke: give a token id (from sluice token list) or --tenant <name>, not both\n');
    return 2;
  }
  const store = TenantTokens.inDataDir(flags.dataDir);
  let revoked: TokenInfo[];
  try {
    if (flags.tenant !== undefined) revoked = await store.revokeTenant(flags.tenant);
    else {
      const one = await store.revoke(id ?? '');
      revoked = one ? [one] : [];
    }
  } catch (error) {
    return failed(io, error);
  }
  if (flags.json === true) io.stdout(`${JSON.stringify({ revoked })}\n`);
  else for (const t of revoked) io.stdout(`revoked ${t.id} (tenant '${t.tenant}')\n`);
  if (revoked.length === 0) {
    io.stderr(flags.tenant !== undefined ? `sluice token revoke: tenant '${flags.tenant}' has no tokens in ${store.file}\n` : `sluice token revoke: no token with id '${id ?? ''}' in ${store.file}\n`);
    return 1;
  }
  return 0;
}
