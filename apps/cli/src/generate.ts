/**
 * `sluice generate`: writes the records of the built-in generator as JSON lines, with
 * the same code (recordFactory) and the same config defaults (the catalog's generator
 * schema) as the `generator` source. Line n is record n: the same settings always give
 * a byte-identical file, so another engine (Apache Flink, for the Nexmark comparison)
 * can read exactly what a Sluice job generates in-process.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { getOperator, type GeneratorProfile } from '@sluice/graph-model';
import { recordFactory } from '@sluice/operators';

export interface GenerateSettings {
  readonly profile: string;
  readonly count: number;
  readonly seed?: number | undefined;
  readonly eventIntervalMs?: number | undefined;
  readonly startTime?: number | undefined;
  readonly keys?: number | undefined;
}

/** Records are written in chunks of about this many characters. */
const CHUNK_CHARS = 1 << 20;

/**
 * Checks the settings against the generator's catalog schema and returns the record
 * function with its defaults applied, or the problems (one line each, naming the setting).
 */
export function generatorFor(settings: GenerateSettings): { ok: true; make: (n: number) => { value: unknown } } | { ok: false; problems: string[] } {
  const definition = getOperator('generator');
  if (!definition) return { ok: false, problems: ['the catalog has no generator operator'] };
  const input: Record<string, unknown> = { profile: settings.profile, count: settings.count, ratePerSecond: 0 };
  if (settings.seed !== undefined) input['seed'] = settings.seed;
  if (settings.eventIntervalMs !== undefined) input['eventIntervalMs'] = settings.eventIntervalMs;
  if (settings.startTime !== undefined) input['startTime'] = settings.startTime;
  if (settings.keys !== undefined) input['keys'] = settings.keys;
  const parsed = definition.configSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`) };
  }
  const c = parsed.data as {
    profile: GeneratorProfile;
    seed: number;
    keys: number;
    startTime: number;
    eventIntervalMs: number;
    maxOutOfOrdernessMs: number;
    lateFraction: number;
    lateByMs: number;
  };
  return { ok: true, make: recordFactory(c) };
}

/**
 * Writes records 0 … count − 1 as JSON lines to `path`. The file appears only when
 * complete (written under a temporary name, then renamed), so an interrupted run
 * never leaves a truncated file that looks finished.
 */
export async function writeGeneratedRecords(settings: GenerateSettings, path: string): Promise<{ records: number; bytes: number }> {
  const generator = generatorFor(settings);
  if (!generator.ok) throw new Error(`cannot generate: ${generator.problems.join('; ')}`);
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  const out = createWriteStream(partial);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => {});
  let bytes = 0;
  try {
    let chunk = '';
    for (let n = 0; n < settings.count; n++) {
      chunk += `${JSON.stringify(generator.make(n).value)}\n`;
      if (chunk.length >= CHUNK_CHARS || n === settings.count - 1) {
        bytes += Buffer.byteLength(chunk);
        if (!out.write(chunk)) await Promise.race([new Promise<void>((r) => out.once('drain', () => r())), failed]);
        chunk = '';
      }
    }
    await Promise.race([new Promise<void>((r) => out.end(() => r())), failed]);
    await rename(partial, path);
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    throw error;
  }
  return { records: settings.count, bytes };
}
