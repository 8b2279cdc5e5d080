/**
 * What the engine reads from /proc about a job process (proc-stats.ts): CPU time over a
 * sliding window, which is how a job process's threads are held to its CPUs.
 */
import { describe, expect, it } from 'vitest';
import { cpuSecondsOfTree, CpuWindow } from '../src/cluster/proc-stats.js';

describe('CpuWindow', () => {
  it('says nothing until its samples span the window, then the CPUs used over it', () => {
    const window = new CpuWindow(10_000);
    expect(window.add(0, 0)).toBeUndefined();
    expect(window.add(5000, 9)).toBeUndefined();
    // 20 CPU seconds in 10 s: two CPUs, the burst at the start included.
    expect(window.add(10_000, 20)).toBe(2);
  });

  it('slides: an old burst leaves the window, and a steady rate is what remains', () => {
    const window = new CpuWindow(4000);
    const cpus: Array<number | undefined> = [];
    // A burst of 3 CPUs for 2 s, then half a CPU.
    let used = 0;
    for (let t = 0; t <= 12_000; t += 1000) {
      cpus.push(window.add(t, used));
      used += t < 2000 ? 3 : 0.5;
    }
    expect(cpus.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    // 6 CPU seconds of burst and 1 of the steady rate over the first 4 s.
    expect(cpus[4]).toBe(1.75);
    expect(cpus.at(-1)).toBe(0.5);
  });
});

describe.skipIf(process.platform !== 'linux')('cpuSecondsOfTree', () => {
  it('counts the CPU time this process spends, as the kernel reports it', () => {
    const before = cpuSecondsOfTree(process.pid);
    const start = process.cpuUsage();
    // Spin until the kernel has charged this process 300 ms of CPU, however loaded the machine.
    for (;;) {
      const used = process.cpuUsage(start);
      if (used.user + used.system >= 300_000) break;
    }
    const spent = cpuSecondsOfTree(process.pid) - before;
    // /proc counts in clock ticks (10 ms), and this process's other threads count too.
    expect(spent).toBeGreaterThanOrEqual(0.28);
    expect(spent).toBeLessThan(5);
  });
});
