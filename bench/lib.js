// Shared pieces of the benchmarks: running jobs on a fresh engine, medians, and the
// one output convention (a JSON object per line, also appended to results/latest.jsonl).
import { execSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JobManager, ProcessTaskManager, TaskManager, processTree } from '@sluice/engine';

export const RESULTS = fileURLToPath(new URL('./results/latest.jsonl', import.meta.url));
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // Not a git checkout: results still print.
}

export function report(result) {
  const line = JSON.stringify({ ...result, commit });
  console.log(line);
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  appendFileSync(RESULTS, `${line}\n`);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs a bounded job to the end on a fresh engine; returns seconds, CPU seconds and the job. */
export async function runJob(graph, { slots = 2, userCode } = {}) {
  // userCode.mode 'process': the job runs in a process of its own, whose CPU time counts too.
  const taskManager = userCode?.mode === 'process' ? new ProcessTaskManager({ userCode, slotsPerJob: slots }) : new TaskManager({ slots, userCode });
  try {
    const jobs = new JobManager(taskManager);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const job = await jobs.submit(graph);
    const status = await job.done;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const jobPid = taskManager.pidOf?.(job.id);
    const jobCpuSeconds = jobPid === undefined ? 0 : treeCpuSeconds(jobPid);
    if (status !== 'finished') throw new Error(`benchmark job ${status}: ${job.failure?.message ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
    return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 + jobCpuSeconds, job };
  } finally {
    await taskManager.shutdown();
  }
}

/** CPU seconds (user + system) a process and its descendants have used, from /proc (Linux, 100 ticks a second). */
function treeCpuSeconds(pid) {
  let ticks = 0;
  for (const at of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${at}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Ended since.
    }
  }
  return ticks / 100;
}

/** One warm-up, then the median of `runs` measured runs of events/s. */
export async function throughput(name, makeGraph, events, { runs = 3, slots = 2, userCode, extra = {} } = {}) {
  await runJob(makeGraph(), { slots, userCode });
  const rates = [];
  const cpu = [];
  for (let i = 0; i < runs; i++) {
    const { seconds, cpuSeconds } = await runJob(makeGraph(), { slots, userCode });
    rates.push(events / seconds);
    cpu.push(events / cpuSeconds);
  }
  const value = Math.round(median(rates));
  report({ bench: name, metric: 'events_per_s', value, unit: 'ev/s', runs, stat: 'median', events, events_per_cpu_s: Math.round(median(cpu)), ...extra });
  return value;
}
