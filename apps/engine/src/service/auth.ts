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
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createFileAtomically } from './fs-atomic.js';

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

export type AccessDecision = { readonly ok: true } | { readonly ok: false; readonly status: 401 | 403; readonly error: string };

export interface AccessPolicy {
  /** Bearer token every protected call must carry; undefined: none needed. */
  readonly token: string | undefined;
  /** Exact origins browsers may call from. */
  readonly corsOrigins: readonly string[];
  /** Without a token the service is loopback-only: Host must name a loopback address. */
  readonly loopbackOnly: boolean;
}

/** Checks Origin and Host (every request) and the bearer token (protected requests). */
export function checkAccess(
  policy: AccessPolicy,
  request: { readonly origin: string | undefined; readonly host: string | undefined; readonly token: string | undefined },
  needsToken: boolean,
): AccessDecision {
  if (request.origin !== undefined && !policy.corsOrigins.includes(request.origin)) {
    return { ok: false, status: 403, error: `origin '${request.origin}' is not allowed; allowed origins: ${policy.corsOrigins.join(', ') || 'none'}` };
  }
  if (policy.loopbackOnly && request.host !== undefined && !isLoopbackHost(hostOfHeader(request.host))) {
    return { ok: false, status: 403, error: `host '${request.host}' is not allowed: this engine only answers on loopback addresses (127.0.0.1, localhost, ::1)` };
  }
  if (!needsToken || policy.token === undefined) return { ok: true };
  if (request.token === undefined) {
    return { ok: false, status: 401, error: 'a bearer token is required: send Authorization: Bearer <token> (the token was printed when the engine started; it is kept in <dataDir>/token)' };
  }
  if (!tokenMatches(policy.token, request.token)) return { ok: false, status: 401, error: 'the bearer token is not valid' };
  return { ok: true };
}
