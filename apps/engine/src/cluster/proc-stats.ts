/**
 * What /proc says about a job process and its descendants (Linux): which processes they
 * are, their resident memory, and their CPU time, all threads together: the slots, and
 * threads the job starts itself, which no heartbeat watches. Without cgroups there is
 * nothing to throttle with, so the engine measures (the kernel's per-process CPU time
 * counts every thread, ended ones too) and stops a job that takes more than its share.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A process and all its descendants, from /proc (Linux); processes that end meanwhile are left out. */
export function processTree(pid: number): number[] {
  const found: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const at = stack.pop() as number;
    try {
      for (const task of readdirSync(`/proc/${at}/task`)) {
        for (const child of readFileSync(`/proc/${at}/task/${task}/children`, 'utf8').split(' ')) if (child.trim() !== '') stack.push(Number(child));
      }
      found.push(at);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

export function residentBytesOfTree(pid: number, tree: readonly number[] = processTree(pid)): number {
  let total = 0;
  for (const at of tree) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${at}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // Ended since.
    }
  }
  return total;
}


let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (USER_HZ), in which /proc reports CPU time. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const asked = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    // Without getconf: Linux's USER_HZ is 100 on every common architecture.
    const answer = asked.error ? Number.NaN : Number(asked.stdout.trim());
    ticksPerSecond = Number.isFinite(answer) && answer > 0 ? answer : 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user and system) a process and its descendants (`tree`, when the caller walked it already) have used, from /proc (Linux). */
export function cpuSecondsOfTree(pid: number, tree: readonly number[] = processTree(pid)): number {
  let ticks = 0;
  for (const at of tree) {
    try {
      const stat = readFileSync(`/proc/${at}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold anything.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the name.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Ended since.
    }
  }
  return ticks / clockTicks();
}

/**
 * CPUs used over a sliding window of samples: (CPU seconds now − then) / (seconds now − then).
 * Undefined until the samples span the whole window, so that a process's start (loading the
 * engine, a burst of compilation) is averaged over a full window like everything else.
 */
export class CpuWindow {
  private readonly samples: Array<{ at: number; cpu: number }> = [];

  constructor(private readonly windowMs: number) {}

  add(atMs: number, cpuSeconds: number): number | undefined {
    this.samples.push({ at: atMs, cpu: cpuSeconds });
    // Keep the newest sample at least a window old, to measure from.
    while (this.samples.length > 2 && atMs - (this.samples[1]?.at ?? atMs) >= this.windowMs) this.samples.shift();
    const first = this.samples[0];
    if (!first || atMs - first.at < this.windowMs) return undefined;
    return (cpuSeconds - first.cpu) / ((atMs - first.at) / 1000);
  }
}
