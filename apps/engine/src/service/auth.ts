/**
 * Who may call the service.
 *
 * - Bound to a loopback address (the default, 127.0.0.1): no token. The Host header
 *   must name a loopback address, so a web page cannot reach the service through
 *   DNS rebinding; browsers' Origin must be on the CORS allow-list.
 * - Bound to any other address (0.0.0.0, a LAN address): every call but health and
 *   the API description needs `Authorization: Bearer <token>` (Socket.IO: the
 *   handshake's `auth.token`). The token is the configured one, or one generated at
 *   first start and kept in `<dataDir>/token` (mode 0600) for the next starts.
 *   That token is the admin's; tenant tokens (tenants.ts) reach only their tenant's
 *   jobs and pipelines. The admin may act as a tenant with `X-Sluice-Tenant: <name>`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createFileAtomically } from './fs-atomic.js';
import { ADMIN, tenantNameProblem, type Principal, type TenantTokens } from './tenants.js';

/** The web app's origins in development and with `next start`. */
export const DEFAULT_CORS_ORIGINS: readonly string[] = ['http://127.0.0.1:3000', 'http://localhost:3000'];

/** Whether a bind address or host name only reaches this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Whether a service bound to `host` requires a token: off loopback, or when one is configured. */
export function authRequiredFor(host: string, token: string | undefined): boolean {
  return token !== undefined || !isLoopbackHost(host);
}

/** The host name of a Host header (`127.0.0.1:8081`, `[::1]:8081`, `localhost`). */
export function hostOfHeader(header: string): string {
  const value = header.trim();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  const colon = value.lastIndexOf(':');
  return colon >= 0 && value.indexOf(':') === colon ? value.slice(0, colon) : value;
}

export interface TokenSource {
  readonly token: string;
  /** Where the token is kept; undefined when it was configured. */
  readonly file: string | undefined;
  /** Generated at this start (print it so a person can use it). */
  readonly generated: boolean;
}

/** Reads `<dataDir>/token`, creating it with a new random token when it does not exist. */
export async function loadOrCreateToken(dataDir: string): Promise<TokenSource> {
  const file = join(dataDir, 'token');
  const existing = await readToken(file);
  if (existing !== undefined) return { token: existing, file, generated: false };
  const token = randomBytes(32).toString('base64url');
  if (await createFileAtomically(file, `${token}\n`, 0o600)) return { token, file, generated: true };
  // Another process created it first: use theirs.
  const theirs = await readToken(file);
  if (theirs === undefined) throw new Error(`${file} exists but holds no token`);
  return { token: theirs, file, generated: false };
}

async function readToken(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
  const token = text.trim();
  if (token.length < 16) throw new Error(`${file} holds no usable token (at least 16 characters); delete it to generate a new one`);
  return token;
}

/** Compares in constant time (over digests, so lengths leak nothing either). */
export function tokenMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer …` header; undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * `principal` is who the call acts as: the admin without auth (loopback, no token) or
 * with the admin token; a tenant with its token. Undefined for calls that need no
 * token (health, the API description) on an engine that requires one.
 */
export type AccessDecision =
  | { readonly ok: true; readonly principal: Principal | undefined }
  | { readonly ok: false; readonly status: 400 | 401 | 403; readonly error: string };

export interface AccessPolicy {
  /** The admin's bearer token; undefined: no token needed (and tenant tokens are not used). */
  readonly token: string | undefined;
  /** Tenant tokens (`<dataDir>/tokens.json`); consulted only when a token is needed. */
  readonly tenants: TenantTokens | undefined;
  /** Exact origins browsers may call from. */
  readonly corsOrigins: readonly string[];
  /** Without a token the service is loopback-only: Host must name a loopback address. */
  readonly loopbackOnly: boolean;
}

export interface AccessRequest {
  readonly origin: string | undefined;
  readonly host: string | undefined;
  readonly token: string | undefined;
  /** `X-Sluice-Tenant`: the admin acting as one tenant. */
  readonly actAs?: string | undefined;
}

/** Checks Origin and Host (every request) and the bearer token (protected requests), and says who the caller is. */
export async function checkAccess(policy: AccessPolicy, request: AccessRequest, needsToken: boolean): Promise<AccessDecision> {
  if (request.origin !== undefined && !policy.corsOrigins.includes(request.origin)) {
    return { ok: false, status: 403, error: `origin '${request.origin}' is not allowed; allowed origins: ${policy.corsOrigins.join(', ') || 'none'}` };
  }
  if (policy.loopbackOnly && request.host !== undefined && !isLoopbackHost(hostOfHeader(request.host))) {
    return { ok: false, status: 403, error: `host '${request.host}' is not allowed: this engine only answers on loopback addresses (127.0.0.1, localhost, ::1)` };
  }
  if (!needsToken) return { ok: true, principal: policy.token === undefined ? ADMIN : undefined };
  let principal: Principal;
  if (policy.token === undefined) {
    principal = ADMIN;
  } else if (request.token === undefined) {
    return { ok: false, status: 401, error: 'a bearer token is required: send Authorization: Bearer <token> (the admin token was printed when the engine started and is kept in <dataDir>/token; tenant tokens come from `sluice token create <tenant>`)' };
  } else if (tokenMatches(policy.token, request.token)) {
    principal = ADMIN;
  } else {
    // An unreadable tokens.json is the operator's to fix (sluice serve warns at start); callers learn only that their token cannot be checked.
    const tenant = await policy.tenants?.lookup(request.token).catch(() => null);
    if (tenant === null) return { ok: false, status: 401, error: "the bearer token cannot be checked: this engine's tenant token file is unreadable" };
    if (tenant === undefined) return { ok: false, status: 401, error: 'the bearer token is not valid' };
    principal = { kind: 'tenant', tenant: tenant.tenant, tokenId: tenant.id };
  }
  if (request.actAs === undefined) return { ok: true, principal };
  const problem = tenantNameProblem(request.actAs);
  if (problem !== undefined) return { ok: false, status: 400, error: `X-Sluice-Tenant: ${problem}` };
  if (principal.kind === 'tenant') {
    if (principal.tenant === request.actAs) return { ok: true, principal };
    return { ok: false, status: 403, error: `X-Sluice-Tenant: a tenant token acts only for its own tenant ('${principal.tenant}'), not '${request.actAs}'` };
  }
  return { ok: true, principal: { kind: 'tenant', tenant: request.actAs, tokenId: 'admin' } };
}
