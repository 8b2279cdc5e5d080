/**
 * Crash-safe file creation: a file is either absent or complete, never half written.
 *
 *   write temp file ─▶ fsync ─▶ link(temp, final) ─▶ unlink temp ─▶ fsync directory
 *
 * `link` fails with EEXIST when the final name exists, so creation is also exclusive
 * across processes: two writers racing for the same name cannot both win, and
 * neither overwrites the other (rename would silently replace).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncPath } from '../runtime/state-files.js';

/** Creates `path` with `data` unless it exists. Returns false when it already existed. */
export async function createFileAtomically(path: string, data: string, mode = 0o644): Promise<boolean> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await fsyncPath(dir);
  return true;
}
