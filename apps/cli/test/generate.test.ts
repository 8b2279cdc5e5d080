/**
 * `sluice generate`: the generator source's records as JSON lines, byte for byte the
 * same for the same settings, so another engine can read what a Sluice job generates.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordFactory } from '@sluice/operators';
import { runCli } from '@sluice/cli';

async function cli(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (err += t), cwd });
  return { code, out, err };
}

describe('sluice generate', () => {
  it('writes record n of the generator as line n, the same bytes on every run and on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-generate-'));
    const args = ['generate', 'nexmark', '--count', '700', '--seed', '7', '--event-interval-ms', '0.5'];
    expect((await cli([...args, '--out', 'a.ndjson'], dir)).code).toBe(0);
    expect((await cli([...args, '--out', 'b.ndjson'], dir)).code).toBe(0);
    const stdout = await cli(args, dir);
    const a = readFileSync(join(dir, 'a.ndjson'), 'utf8');
    expect(readFileSync(join(dir, 'b.ndjson'), 'utf8')).toBe(a);
    expect(stdout.out).toBe(a);
    // The catalog's defaults apply, as in a graph's generator node.
    const make = recordFactory({ profile: 'nexmark', seed: 7, keys: 1000, startTime: 1_700_000_000_000, eventIntervalMs: 0.5, maxOutOfOrdernessMs: 0, lateFraction: 0, lateByMs: 0 });
    const lines = a.split('\n');
    expect(lines).toHaveLength(701);
    expect(lines[700]).toBe('');
    for (const n of [0, 1, 4, 350, 699]) expect(lines[n]).toBe(JSON.stringify(make(n).value));
    // No temporary file is left behind.
    expect(readdirSync(dir).sort()).toEqual(['a.ndjson', 'b.ndjson']);
  });

  it('names the setting that is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-generate-'));
    const unknown = await cli(['generate', 'nexmork', '--count', '3'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/generate: profile: .*"nexmark"/);
    const count = await cli(['generate', 'nexmark', '--count', 'many'], dir);
    expect(count.code).toBe(2);
    expect(count.err).toContain('--count must be a whole number of at least 1');
  });
});
