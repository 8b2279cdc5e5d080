/**
 * console.log/info/warn/error in sandboxed user code: lines reach the engine's structured
 * log with the job, the operator whose function logged and the subtask, and a function that
 * logs in a loop gets at most CONSOLE_LINES_PER_SECOND lines a second per subtask; the rest
 * are counted, and the count is logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { JobManager, TaskManager } from '@sluice/engine';
import { CONSOLE_LINES_PER_SECOND } from '../src/runtime/sandbox.js';

interface Line {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

let taskManager: TaskManager;
let jobs: JobManager;
const lines: Line[] = [];

beforeAll(() => {
  taskManager = new TaskManager({ slots: 1, userCode: { mode: 'sandboxed' } });
  jobs = new JobManager(taskManager, { log: (level, message, fields) => lines.push({ level, message, fields }) });
});
afterAll(async () => {
  await taskManager.shutdown();
});

const COUNT = 5000;

const graph: JobGraphDocument = {
  schemaVersion: 1,
  name: 'console job',
  nodes: [
    { id: 'gen', type: 'generator', config: { profile: 'sequence', count: COUNT, ratePerSecond: 0, keys: 3 } },
    {
      id: 'talk',
      type: 'map',
      config: {
        fn: `(v) => {
          console.log('saw', v.id, { key: v.key });
          if (v.id === 0) console.warn('first');
          if (v.id === 1) console.error(new Error('oops'));
          return v;
        }`,
      },
    },
    { id: 'keep', type: 'filter', config: { fn: '(v) => { if (v.id === 3) console.info("kept", v.id); return true; }' } },
    { id: 'k', type: 'key-by', config: { key: { kind: 'field', field: 'key' } } },
    { id: 'proc', type: 'keyed-process', config: { fn: `({ processElement(v, ctx) { if (v.id === 4) console.log('key', ctx.key); } })`, states: [] } },
    { id: 'out', type: 'blackhole-sink', config: {} },
  ],
  edges: [
    { id: 'e1', source: 'gen', target: 'talk' },
    { id: 'e2', source: 'talk', target: 'keep' },
    { id: 'e3', source: 'keep', target: 'k' },
    { id: 'e4', source: 'k', target: 'proc' },
    { id: 'e5', source: 'proc', target: 'out' },
  ],
};

describe('console in sandboxed user code', () => {
  it('logs with job, operator and subtask, at most CONSOLE_LINES_PER_SECOND a second per subtask, and counts what it dropped', async () => {
    const started = performance.now();
    const job = await jobs.submit(graph);
    expect(await job.done).toBe('finished');
    const seconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 200));
    const user = lines.filter((l) => l.fields?.['source'] === 'user-code' && l.fields['job'] === job.id);
    const find = (message: string) => user.find((l) => l.message === message);

    expect(find('saw 0 {"key":"key-0"}')).toMatchObject({ level: 'info', fields: { job: job.id, operator: 'talk', subtask: 0 } });
    expect(find('first')).toMatchObject({ level: 'warn', fields: { operator: 'talk' } });
    expect(user.find((l) => l.message.startsWith('Error: oops'))).toMatchObject({ level: 'error', fields: { operator: 'talk' } });
    // The filter runs fused with the map, and still names itself; the process function its own node.
    expect(find('kept 3')).toMatchObject({ level: 'info', fields: { operator: 'keep', subtask: 0 } });
    expect(find('key key-1')).toMatchObject({ level: 'info', fields: { operator: 'proc', subtask: 0 } });

    const drops = user.filter((l) => l.message.startsWith('console: '));
    const delivered = user.length - drops.length;
    const dropped = drops.reduce((n, l) => n + Number(/console: (\d+) lines of user code dropped/.exec(l.message)?.[1] ?? NaN), 0);
    expect(drops.every((l) => l.level === 'warn')).toBe(true);
    // Every line the map wrote is either in the log or counted as dropped.
    const mapLines = user.filter((l) => l.fields?.['operator'] === 'talk' && !l.message.startsWith('console: ')).length;
    expect(mapLines).toBeLessThan(COUNT);
    expect(delivered + dropped).toBe(COUNT + 2 + 1 + 1);
    // Two subtasks log here (the map's task and the process function's), each within its rate.
    expect(delivered).toBeLessThanOrEqual(2 * CONSOLE_LINES_PER_SECOND * (Math.ceil(seconds) + 1));
  });
});
