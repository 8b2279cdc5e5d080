/**
 * The whole engine process is SIGKILLed in the middle of a job; a new engine started with
 * resume picks the job up from its newest checkpoint, and the exactly-once file sink's
 * committed output equals a failure-free run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager } from '@sluice/engine';

const FIXTURE = fileURLToPath(new URL('./fixtures/engine-process.js', import.meta.url));

function graph(output: string): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'crash',
    job: { defaultParallelism: 2, checkpointing: { enabled: true, intervalMs: 100, retained: 2 } },
    nodes: [
      { id: 'gen', type: 'generator', config: { profile: 'sequence', count: 20_000, ratePerSecond: 8000, keys: 17, eventIntervalMs: 5 } },
      { id: 'by-key', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
      { id: 'window', type: 'tumbling-window', config: { sizeMs: 500, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'value', as: 'sum' }] } } },
      { id: 'files', type: 'file-sink', config: { path: output, format: 'jsonl' } },
    ],
    edges: [
      { id: 'e1', source: 'gen', target: 'by-key' },
      { id: 'e2', source: 'by-key', target: 'window' },
      { id: 'e3', source: 'window', target: 'files' },
    ],
  };
}

function committed(directory: string): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .filter((f) => !f.startsWith('.'))
    .flatMap((f) => readFileSync(join(directory, f), 'utf8').split('\n').filter((l) => l !== ''))
    .sort();
}

function run(args: string[], onLine: (line: string) => void): { kill(): void; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then((code) => {
    if (code !== 0 && code !== null) console.error(stderr);
  });
  return { kill: () => child.kill('SIGKILL'), exited };
}

describe('engine crash', () => {
  it('SIGKILL mid-run, then resume: the committed output equals a failure-free run', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'sluice-crash-'));
    // The reference, in this process.
    const taskManager = new TaskManager({ slots: 2 });
    const reference = join(scratch, 'reference');
    const job = await new JobManager(taskManager, { dataDir: join(scratch, 'reference-data') }).submit(graph(reference));
    await job.done;
    await taskManager.shutdown();
    const expected = committed(reference);
    expect(expected.length).toBeGreaterThan(100);

    const output = join(scratch, 'out');
    const dataDir = join(scratch, 'data');
    const graphFile = join(scratch, 'graph.json');
    writeFileSync(graphFile, JSON.stringify(graph(output)));
    let jobId = '';
    const first = run([dataDir, 'submit', graphFile], (line) => {
      if (line.startsWith('job ')) jobId = line.slice(4);
    });
    // Kill once a few checkpoints completed and some output is committed, well before the end.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const chk = jobId ? join(dataDir, 'checkpoints', jobId) : '';
      const done = chk && existsSync(chk) ? readdirSync(chk).filter((d) => existsSync(join(chk, d, '_metadata'))).length : 0;
      if (done >= 1 && committed(output).length > 0) break;
      if (Date.now() > deadline) throw new Error('no checkpoint completed in time');
      await new Promise((r) => setTimeout(r, 20));
    }
    first.kill();
    await first.exited;
    const partial = committed(output).length;
    expect(partial).toBeLessThan(expected.length);

    let result = '';
    const second = run([dataDir, 'resume'], (line) => {
      if (line.startsWith('done ')) result = line;
    });
    expect(await second.exited).toBe(0);
    expect(result).toMatch(/^done finished restored-from \d+$/);
    expect(committed(output)).toEqual(expected);
  }, 60_000);
});
