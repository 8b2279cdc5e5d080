import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { graphJsonSchema } from '@sluice/graph-model';
import { runCli } from '@sluice/cli';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => `examples/${f}`);

async function cli(args: string[], cwd = ROOT): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (err += t), cwd });
  return { code, out, err };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-cli-'));
}

/** A copy of an example with several faults of different kinds. */
function corruptedExample(): string {
  const graph = JSON.parse(readFileSync(join(ROOT, 'examples/order-shipment-join.json'), 'utf8')) as {
    job: Record<string, unknown>;
    nodes: Array<{ id: string; type: string; config: Record<string, unknown> }>;
    edges: Array<Record<string, unknown>>;
  };
  const byId = (id: string) => graph.nodes.find((n) => n.id === id) as { type: string; config: Record<string, unknown> };
  byId('orders').type = 'generater';
  byId('shipped-orders').config['upperBoundMs'] = 'thirty minutes';
  byId('shipments-by-id').config['key'] = { kind: 'field', field: 'order id' };
  graph.edges.push({ id: 'e6', source: 'shipped-orders', target: 'ghost' });
  graph.job['checkpointing'] = { mode: 'exactly-twice' };
  const file = join(tempDir(), 'corrupted.json');
  writeFileSync(file, JSON.stringify(graph, null, 2));
  return file;
}

describe('sluice validate', () => {
  it('accepts every example', async () => {
    const { code, out, err } = await cli(['validate', ...EXAMPLES]);
    expect(err).toBe('');
    expect(code).toBe(0);
    for (const file of EXAMPLES) expect(out).toContain(`${file}: valid\n`);
  });

  it('prints every fault of a corrupted copy with its file position and path, and exits 1', async () => {
    const file = corruptedExample();
    const { code, err } = await cli(['validate', file]);
    expect(code).toBe(1);
    const lines = err.trim().split('\n');
    const expected = [
      /:\d+:\d+: error nodes\[0\]\.type: unknown operator type 'generater'; did you mean 'generator'\?$/,
      /:\d+:\d+: error nodes\[3\]\.config\.key\.field: expected a field path/,
      /:\d+:\d+: error nodes\[4\]\.config\.upperBoundMs: expected a number, got a string$/,
      /:\d+:\d+: error edges\[5\]\.target: target node 'ghost' does not exist$/,
      /:\d+:\d+: error job\.checkpointing\.mode: expected one of "exactly-once", "at-least-once"/,
    ];
    for (const pattern of expected) expect(lines.some((l) => pattern.test(l)), `${pattern}\n${err}`).toBe(true);
    expect(lines.at(-1)).toBe(`${file}: 5 errors`);
  });

  it('points at the line of the faulty value', async () => {
    const file = corruptedExample();
    const text = readFileSync(file, 'utf8').split('\n');
    const { err } = await cli(['validate', file]);
    const match = /:(\d+):(\d+): error nodes\[0\]\.type/.exec(err);
    expect(match).not.toBeNull();
    expect(text[Number(match?.[1]) - 1]).toContain('"generater"');
  });

  it('prints machine-readable results with --json', async () => {
    const file = corruptedExample();
    const { code, out } = await cli(['validate', '--json', file, 'examples/kafka-etl.json']);
    expect(code).toBe(1);
    const reports = JSON.parse(out) as Array<{ file: string; ok: boolean; problems: Array<{ path: string; line?: number }> }>;
    expect(reports.map((r) => r.ok)).toEqual([false, true]);
    expect(reports[0]?.problems.map((p) => p.path)).toContain('nodes[0].type');
    expect(reports[0]?.problems.every((p) => typeof p.line === 'number')).toBe(true);
  });

  it('reports invalid JSON with line and column', async () => {
    const file = join(tempDir(), 'broken.json');
    writeFileSync(file, '{\n  "schemaVersion": 1,\n  "nodes": [,]\n}');
    const { code, err } = await cli(['validate', file]);
    expect(code).toBe(1);
    expect(err).toContain(`${file}:3:13: error $: invalid JSON: value expected`);
  });

  it('reports duplicate keys that JSON.parse would hide', async () => {
    const text = readFileSync(join(ROOT, 'examples/kafka-etl.json'), 'utf8').replace('"name": "Kafka to Kafka ETL",', '"name": "a",\n  "name": "b",');
    const file = join(tempDir(), 'dup.json');
    writeFileSync(file, text);
    const { code, err } = await cli(['validate', file]);
    expect(code).toBe(1);
    expect(err).toMatch(/dup\.json:4:3: error \$: duplicate key 'name'/);
  });

  it('reports a missing file and a directory', async () => {
    const missing = await cli(['validate', 'no/such/file.json']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no/such/file.json: error $: no such file');
    const dir = await cli(['validate', 'examples']);
    expect(dir.err).toContain('is a directory');
  });

  it('shows warnings without failing', async () => {
    const graph = JSON.parse(readFileSync(join(ROOT, 'examples/kafka-etl.json'), 'utf8')) as { nodes: unknown[] };
    graph.nodes.push({ id: 'unused', type: 'generator', config: { profile: 'sequence' } });
    const file = join(tempDir(), 'warn.json');
    writeFileSync(file, JSON.stringify(graph));
    const { code, out } = await cli(['validate', file]);
    expect(code).toBe(0);
    expect(out).toMatch(/warning nodes\[5\]: the output of 'unused' is not connected/);
    expect(out).toContain(`${file}: valid (1 warning)`);
  });
});

describe('sluice fmt', () => {
  it('rewrites a file in canonical form, and --check then passes', async () => {
    const file = join(tempDir(), 'graph.json');
    const original = readFileSync(join(ROOT, 'examples/user-sessions.json'), 'utf8');
    writeFileSync(file, JSON.stringify(JSON.parse(original)));
    expect((await cli(['fmt', '--check', file])).code).toBe(1);
    expect((await cli(['fmt', file])).out).toContain('formatted');
    expect(readFileSync(file, 'utf8')).toBe(original);
    expect((await cli(['fmt', '--check', file])).code).toBe(0);
  });
});

describe('sluice run', () => {
  it('runs a bounded example to the end and prints its results', async () => {
    const { code, out, err } = await cli(['run', 'examples/clickstream-page-views.json', '--show', '2', '--slots', '2']);
    expect(code, err).toBe(0);
    expect(out).toMatch(/page-views: 340 results\n {2}\{"key":"\/[^"]*","windowStart":\d+,"windowEnd":\d+,"views":\d+,"visitors":\d+\}\n/);
    expect(out).toContain('… 338 more');
    expect(err).toMatch(/job finished in \d+\.\d s/);
  });

  it('prints every result as JSON lines with --json', async () => {
    const { code, out } = await cli(['run', 'examples/failed-logins-cep.json', '--json', '--slots', '1']);
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { sink: string });
    expect(new Set(lines.map((l) => l.sink))).toEqual(new Set(['suspicious-logins', 'timed-out']));
  });

  it('reports every validation problem before running anything', async () => {
    const { code, err } = await cli(['run', corruptedExample()]);
    expect(code).toBe(1);
    expect(err).toContain("nodes[0].type: unknown operator type 'generater'");
  });

  it('stops an unbounded job cleanly on Ctrl-C (SIGINT) with exit code 130', async () => {
    const { spawn } = await import('node:child_process');
    const graph = {
      schemaVersion: 1,
      name: 'forever',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 1000 } },
        { id: 'out', type: 'console-sink', config: {} },
      ],
      edges: [{ id: 'e1', source: 'gen', target: 'out' }],
    };
    const file = join(tempDir(), 'forever.json');
    writeFileSync(file, JSON.stringify(graph));
    const child = spawn(join(ROOT, 'node_modules/.bin/sluice'), ['run', file, '--slots', '1'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Console-sink lines prove the job is running before we interrupt it.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (stdout.split('\n').length > 5) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toContain('job cancelled');
    expect(stdout).toMatch(/^\{"id":0,"key":"key-0","value":0,"timestamp":\d+\}$/m);
  });
});

describe('other commands', () => {
  it('prints the JSON Schema', async () => {
    const { code, out } = await cli(['schema']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual(graphJsonSchema());
  });

  it('lists the operator catalog', async () => {
    const { out } = await cli(['operators', '--json']);
    const ops = JSON.parse(out) as Array<{ type: string; outputs: string[] }>;
    expect(ops.find((o) => o.type === 'tumbling-window')?.outputs).toEqual(['main', 'late']);
  });

  it.each([['submit', 'examples/kafka-etl.json'], ['list'], ['status', 'some-id'], ['cancel', 'some-id'], ['savepoint', 'some-id']])(
    'says plainly when `%s` finds no engine at --url',
    async (...args) => {
      const { createServer } = await import('node:net');
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      await new Promise((resolve) => server.close(resolve));
      const { code, err } = await cli([...args, '--url', url]);
      expect(code).toBe(2);
      expect(err).toMatch(/^cannot reach the Sluice engine at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
    },
  );

  it('exits 2 on an unknown command or a missing argument', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['validate'])).code).toBe(2);
  });

  it('works as the installed `sluice` binary', async () => {
    const run = promisify(execFile);
    const bin = join(ROOT, 'node_modules/.bin/sluice');
    const ok = await run(bin, ['validate', 'examples/clickstream-page-views.json'], { cwd: ROOT });
    expect(ok.stdout).toBe('examples/clickstream-page-views.json: valid\n');
    const failed = await run(bin, ['validate', corruptedExample()], { cwd: ROOT }).catch((e: unknown) => e as { code: number; stderr: string });
    expect(failed).toMatchObject({ code: 1 });
  });
});
