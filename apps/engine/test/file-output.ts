/** Reading what an exactly-once file sink made visible, for tests. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Lines of every committed (visible) part file, sorted; pending and in-progress files are hidden (dot files). */
export function committedLines(directory: string): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .filter((f) => !f.startsWith('.'))
    .flatMap((f) => readFileSync(join(directory, f), 'utf8').split('\n').filter((l) => l !== ''))
    .sort();
}
