/**
 * How the engine measures a job's disk (disk-use.ts), on real files. A job process that
 * fills its directories is in process-mode.test.ts.
 */
import { closeSync, ftruncateSync, linkSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diskUse } from '../src/cluster/disk-use.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-disk-use-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const MB = 1024 * 1024;

describe('diskUse', () => {
  it('counts blocks written, not sizes: a sparse file of a gigabyte takes next to nothing, a written megabyte its megabyte', async () => {
    const sparse = openSync(join(dir, 'sparse'), 'w');
    ftruncateSync(sparse, 1024 * MB);
    closeSync(sparse);
    const empty = (await diskUse([dir])).bytes;
    expect(empty).toBeLessThan(MB);
    writeFileSync(join(dir, 'written'), Buffer.alloc(MB, 1));
    expect((await diskUse([dir])).bytes - empty).toBeGreaterThanOrEqual(MB);
  });

  it('counts a file with several names once (hard links), and the same directory given twice once', async () => {
    writeFileSync(join(dir, 'a'), Buffer.alloc(4 * MB, 1));
    const once = (await diskUse([dir])).bytes;
    mkdirSync(join(dir, 'shared'));
    linkSync(join(dir, 'a'), join(dir, 'shared', 'a'));
    const linked = (await diskUse([dir, join(dir, 'shared')])).bytes;
    // Only the new directory's block and its entry.
    expect(linked - once).toBeLessThan(64 * 1024);
  });

  it('counts every file at least 4 KiB: a thousand empty files take 4 MB', async () => {
    for (let i = 0; i < 1000; i++) writeFileSync(join(dir, `empty-${i}`), '');
    expect((await diskUse([dir])).bytes).toBeGreaterThanOrEqual(1000 * 4096);
  });

  it('does not follow a symbolic link out of the directories', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'sluice-disk-elsewhere-'));
    try {
      writeFileSync(join(elsewhere, 'big'), Buffer.alloc(8 * MB, 1));
      symlinkSync(elsewhere, join(dir, 'link'));
      expect((await diskUse([dir])).bytes).toBeLessThan(MB);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('stops walking once past the budget, and says so; paths that are not there count nothing', async () => {
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, `f-${i}`), Buffer.alloc(MB, 1));
    const whole = await diskUse([dir, join(dir, 'missing')]);
    expect(whole.over).toBe(false);
    expect(whole.bytes).toBeGreaterThanOrEqual(10 * MB);
    const cut = await diskUse([dir], 3 * MB);
    expect(cut.over).toBe(true);
    expect(cut.bytes).toBeGreaterThan(3 * MB);
    expect(cut.bytes).toBeLessThan(whole.bytes);
    expect(await diskUse([join(dir, 'missing')])).toEqual({ bytes: 0, over: false });
  });
});
