/**
 * `sluice run`: runs a graph on an embedded engine in this process, shows progress,
 * and ends when a bounded job finishes (or on Ctrl-C, after cancelling cleanly).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseJsonText } from '@sluice/graph-model';
import { JobManager, SubmissionError, TaskManager, type Job } from '@sluice/engine';
import type { CliIo } from './cli.js';

export interface RunOptions {
  readonly slots?: number | undefined;
  readonly json?: boolean | undefined;
  readonly show?: number | undefined;
  readonly progress?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

export async function runCommand(file: string, options: RunOptions, io: CliIo): Promise<number> {
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    io.stderr(`${file}: ${(error as { code?: string }).code === 'ENOENT' ? 'no such file' : String(error)}\n`);
    return 1;
  }
  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    io.stderr(`${file}:${parsed.error.line}:${parsed.error.column}: ${parsed.error.message}\n`);
    return 1;
  }
  const taskManager = new TaskManager({ slots: options.slots });
  try {
    const jobManager = new JobManager(taskManager);
    let job: Job;
    try {
      job = await jobManager.submit(parsed.value);
    } catch (error) {
      if (error instanceof SubmissionError) {
        io.stderr(`${file}: cannot run: ${error.message}\n`);
        for (const p of error.problems) io.stderr(`  ${p.path}: ${p.message}\n`);
        return 1;
      }
      throw error;
    }
    job.onPrint = (line) => io.stdout(`${line}\n`);
    const onAbort = () => job.cancel();
    options.signal?.addEventListener('abort', onAbort);
    const started = Date.now();
    const ticker = options.progress ? setInterval(() => io.stderr(`\r${progressLine(job, started)}\x1b[K`), 500) : undefined;
    const status = await job.done;
    if (ticker) {
      clearInterval(ticker);
      io.stderr(`\r${progressLine(job, started)}\x1b[K\n`);
    }
    options.signal?.removeEventListener('abort', onAbort);
    // Results that were still in flight from the workers arrive right after the status.
    await new Promise((r) => setTimeout(r, 100));
    printResults(job, options, io);
    if (status === 'failed') {
      io.stderr(`job failed: ${job.failure?.message ?? 'unknown error'}\n`);
      return 1;
    }
    if (status === 'cancelled') {
      io.stderr('job cancelled\n');
      return 130;
    }
    io.stderr(`job finished in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return 0;
  } finally {
    await taskManager.shutdown();
  }
}

function progressLine(job: Job, started: number): string {
  let sourceOut = 0;
  let sinkIn = 0;
  let watermark = Number.POSITIVE_INFINITY;
  const sources = new Set(job.graph.nodes.filter((n) => n.definition.category === 'source').map((n) => n.id));
  const sinks = new Set(job.graph.nodes.filter((n) => n.definition.category === 'sink').map((n) => n.id));
  for (const { metrics } of job.metrics.values()) {
    for (const op of metrics.operators) {
      if (sources.has(op.nodeId)) sourceOut += op.recordsOut;
      if (sinks.has(op.nodeId)) {
        sinkIn += op.recordsIn;
        watermark = Math.min(watermark, op.watermark);
      }
    }
  }
  const seconds = Math.max(0.001, (Date.now() - started) / 1000);
  const wm = Number.isFinite(watermark) ? new Date(watermark).toISOString() : watermark === Number.POSITIVE_INFINITY ? 'end' : '—';
  return `${job.status}  ${(seconds).toFixed(1)} s  in ${sourceOut.toLocaleString('en')} (${Math.round(sourceOut / seconds).toLocaleString('en')}/s)  out ${sinkIn.toLocaleString('en')}  watermark ${wm}`;
}

function printResults(job: Job, options: RunOptions, io: CliIo): void {
  for (const [name, rows] of job.collected) {
    if (options.json) {
      for (const row of rows) io.stdout(`${JSON.stringify({ sink: name, timestamp: row.timestamp, kind: row.kind, value: row.value })}\n`);
      continue;
    }
    const show = options.show ?? 10;
    const dropped = job.droppedCollected.get(name) ?? 0;
    io.stdout(`\n${name}: ${rows.length.toLocaleString('en')} result${rows.length === 1 ? '' : 's'}${dropped > 0 ? ` (and ${dropped} older ones dropped)` : ''}\n`);
    for (const row of rows.slice(0, show)) io.stdout(`  ${JSON.stringify(row.value)}\n`);
    if (rows.length > show) io.stdout(`  … ${(rows.length - show).toLocaleString('en')} more (--show N or --json to see them)\n`);
  }
}
