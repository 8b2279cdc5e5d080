/**
 * Errors the routes throw; the service's error handler turns each into its status
 * and an `ApiError` body. Anything else becomes a 500 without internals.
 */
import type { ApiError, ApiProblem } from '@sluice/protocol';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(body.error);
    this.name = 'HttpError';
  }
}

export function badRequest(error: string, problems?: readonly ApiProblem[]): HttpError {
  return new HttpError(400, problems ? { error, problems } : { error });
}

export function notFound(error: string): HttpError {
  return new HttpError(404, { error });
}

export function conflict(error: string): HttpError {
  return new HttpError(409, { error });
}

export function notImplemented(error: string): HttpError {
  return new HttpError(501, { error });
}

export function unauthorized(error: string): HttpError {
  return new HttpError(401, { error }, { 'www-authenticate': 'Bearer realm="sluice"' });
}

export function forbidden(error: string): HttpError {
  return new HttpError(403, { error });
}

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'` */
export function quotedList(items: readonly string[]): string {
  const quoted = items.map((i) => `'${i}'`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1] ?? ''}`;
}
