/**
 * Runtime configuration for the page, read when it is asked for (not at build time):
 * where the engine service listens. `SLUICE_ENGINE_URL` (default
 * http://127.0.0.1:8081, `sluice serve`'s default) — the engine must list this web
 * app's origin in its CORS allow-list (`sluice serve --cors-origin`).
 */
export const dynamic = 'force-dynamic';

const DEFAULT_ENGINE_URL = 'http://127.0.0.1:8081';

export function GET(): Response {
  const engineUrl = process.env['SLUICE_ENGINE_URL']?.trim() || DEFAULT_ENGINE_URL;
  return Response.json({ engineUrl }, { headers: { 'cache-control': 'no-store' } });
}
