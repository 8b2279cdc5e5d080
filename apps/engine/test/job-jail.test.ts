/**
 * The file system a job process sees (job-jail.ts), probed with a shell instead of node:
 * the kernel's confinement must hold for code that got around Node's permission model,
 * even native code, so it is tested without that model.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processModeAvailability } from '@sluice/engine';
import { jailArgs, NAMESPACES, systemMounts } from '../src/cluster/job-jail.js';

const availability = processModeAvailability();
let scratch: string;
let readable: string;
let writable: string;
let secret: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sluice-jail-test-'));
  readable = join(scratch, 'source');
  writable = join(scratch, 'state');
  secret = join(scratch, 'data');
  for (const dir of [readable, writable, secret]) mkdirSync(dir);
  writeFileSync(join(readable, 'in.txt'), 'input');
  writeFileSync(join(secret, 'token'), 'engine-token');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `script` as a job process's command would run, and gives its output and status. */
function inJail(script: string): { out: string; status: number | null } {
  if (!availability.available) throw new Error(availability.reason);
  const root = mkdtempSync(join(tmpdir(), 'sluice-jail-'));
  try {
    const mounts = [...systemMounts(), { path: readable, mode: 'ro' as const }, { path: writable, mode: 'rw' as const }];
    const result = spawnSync(availability.unshare, [...NAMESPACES, ...jailArgs(root, writable, mounts, ['/bin/sh', '-c', script])], { env: {}, encoding: 'utf8', timeout: 20_000 });
    return { out: `${result.stdout}${result.stderr}`, status: result.status };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe.skipIf(!availability.available)('the file system of a job process (a mount namespace with a root of its own)', () => {
  it('holds only the system, what was bound into it, /dev, /proc and /tmp at its top', () => {
    const { out, status } = inJail('ls -A /');
    expect(status).toBe(0);
    const top = out.trim().split('\n').sort();
    expect(top).toEqual(expect.arrayContaining(['usr', 'dev', 'proc', 'tmp']));
    // The scratch directory's top-level parent (/tmp here) is there only as the path to the bound directories.
    for (const name of top) expect(['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'dev', 'proc', 'tmp', ...scratch.split('/').slice(1, 2)]).toContain(name);
  });

  it('does not have the directories beside the bound ones: the engine data directory, /etc, /root are not there', () => {
    const { out } = inJail(`for p in ${secret}/token /etc/passwd /root ${join(scratch, 'data')}; do [ -e "$p" ] && echo "present $p" || echo "absent $p"; done`);
    expect(out).toContain(`absent ${secret}/token`);
    expect(out).toContain('absent /etc/passwd');
    expect(out).toContain('absent /root');
    expect(out).not.toContain('present');
  });

  it('reads a read-only directory and cannot write it; writes a read-write one, which the engine sees', () => {
    const { out } = inJail(`cat ${readable}/in.txt; echo; echo x > ${readable}/new.txt || echo "cannot write source"; echo state > ${writable}/out.txt && echo "wrote state"`);
    expect(out).toContain('input');
    expect(out).toContain('Read-only file system');
    expect(out).toContain('cannot write source');
    expect(out).toContain('wrote state');
    expect(existsSync(join(readable, 'new.txt'))).toBe(false);
    expect(readFileSync(join(writable, 'out.txt'), 'utf8')).toBe('state\n');
  });

  it('cannot write the system either, and starts in the working directory it was given', () => {
    const { out } = inJail('touch /usr/x 2>&1 || true; pwd');
    expect(out).toMatch(/Read-only file system/);
    expect(out.trim().split('\n').at(-1)).toBe(writable);
  });

  it('has no capabilities: as root of its user namespace it still cannot make a read-only mount writable or mount anything', () => {
    const { out } = inJail(`grep -E "^Cap(Eff|Bnd)" /proc/self/status; mount -o remount,bind,rw ${readable} && echo "remounted source" || echo "remount refused"; mount -t tmpfs x /tmp && echo "mounted" || echo "mount refused"; echo x > ${readable}/after-remount.txt || echo "still read-only"`);
    expect(out).toMatch(/CapEff:\s+0+\n/);
    expect(out).toMatch(/CapBnd:\s+0+\n/);
    expect(out).toContain('remount refused');
    expect(out).toContain('mount refused');
    expect(out).toContain('still read-only');
    expect(existsSync(join(readable, 'after-remount.txt'))).toBe(false);
  });

  it('sees only its own processes in /proc, and none of the engine', () => {
    const { out } = inJail(`[ -e /proc/${process.pid} ] && echo "engine visible" || echo "engine hidden"; ls /proc | grep -E "^[0-9]+$"`);
    const [verdict, ...pids] = out.trim().split('\n');
    expect(verdict).toBe('engine hidden');
    // The shell, pid 1 of its own pid namespace, and the two commands of its pipeline.
    expect(pids[0]).toBe('1');
    expect(pids.length).toBeLessThanOrEqual(3);
  });
});
