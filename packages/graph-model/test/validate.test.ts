import { describe, expect, it } from 'vitest';
import { LIMITS, MAX_PROBLEMS, validateGraph, type JobGraphDocument } from '@sluice/graph-model';
import { paths, problemsOf, windowedGraph } from './helpers.js';

function only(graph: unknown): { path: string; message: string; code: string } {
  const problems = problemsOf(graph);
  expect(problems, JSON.stringify(problems, null, 2)).toHaveLength(1);
  const [p] = problems;
  if (!p) throw new Error('unreachable');
  return { path: p.path, message: p.message, code: p.code };
}

function edit(change: (g: JobGraphDocument) => void): JobGraphDocument {
  const g = windowedGraph();
  change(g);
  return g;
}

const node = (g: JobGraphDocument, id: string) => {
  const found = g.nodes.find((n) => n.id === id);
  if (!found) throw new Error(`no node ${id}`);
  return found;
};

describe('validateGraph: the document', () => {
  it('accepts a well-formed graph and applies defaults', () => {
    const result = validateGraph(windowedGraph());
    expect(result.problems).toEqual([]);
    if (!result.ok) throw new Error('expected ok');
    expect(result.graph.job.maxParallelism).toBe(128);
    expect(result.graph.job.watermarks.emit).toEqual({ mode: 'periodic', intervalMs: 200 });
    const win = result.graph.nodes.find((n) => n.id === 'win');
    expect(win?.config).toMatchObject({ sizeMs: 60_000, offsetMs: 0, allowedLatenessMs: 0, timeCharacteristic: 'event-time' });
    expect(win?.outputs.map((o) => o.name)).toEqual(['main', 'late']);
  });

  it.each([
    [null, 'null'],
    [[], 'an array'],
    ['graph', 'a string'],
    [42, 'a whole number'],
  ])('rejects %j at the root', (input, described) => {
    expect(only(input)).toMatchObject({ path: '$', message: `expected a job graph object, got ${described}` });
  });

  it('requires schemaVersion', () => {
    const { schemaVersion: _, ...rest } = windowedGraph();
    expect(only(rest)).toMatchObject({ path: 'schemaVersion', code: 'unsupported-version' });
  });

  it('refuses a newer schemaVersion with advice to upgrade', () => {
    expect(only({ ...windowedGraph(), schemaVersion: 2 }).message).toMatch(/newer than this Sluice understands.*upgrade/);
  });

  it('refuses a schemaVersion that is not a whole number', () => {
    expect(only({ ...windowedGraph(), schemaVersion: '1' }).path).toBe('schemaVersion');
  });

  it('names missing and unknown top-level fields', () => {
    const { name: _, ...rest } = windowedGraph();
    expect(only(rest)).toMatchObject({ path: 'name', message: 'required: expected a string' });
    expect(only({ ...windowedGraph(), nodez: [] })).toMatchObject({ path: 'nodez', message: "unknown field 'nodez'" });
  });

  it('validates job settings with their paths', () => {
    const g = { ...windowedGraph(), job: { maxParallelism: 0, restartStrategy: { type: 'fixed-dealy' }, checkpointing: { intervalMs: -1 } } };
    expect(paths(g).sort()).toEqual(['job.checkpointing.intervalMs', 'job.maxParallelism', 'job.restartStrategy.type']);
    expect(problemsOf(g).find((p) => p.path === 'job.restartStrategy.type')?.message).toMatch(/did you mean 'fixed-delay'/);
  });

  it('reports nodes that are not an array', () => {
    expect(paths({ ...windowedGraph(), nodes: {} })).toContain('nodes');
  });
});

describe('validateGraph: nodes', () => {
  it('reports an unknown operator type with a suggestion', () => {
    const g = edit((g) => (node(g, 'win').type = 'tumbling-windw'));
    const p = problemsOf(g).find((x) => x.code === 'unknown-type');
    expect(p).toMatchObject({ path: 'nodes[2].type', nodeId: 'win' });
    expect(p?.message).toMatch(/did you mean 'tumbling-window'/);
  });

  it('does not mistake Object.prototype names for operator types', () => {
    for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const g = edit((g) => (node(g, 'sink').type = type));
      expect(problemsOf(g).some((p) => p.code === 'unknown-type' && p.path === 'nodes[3].type')).toBe(true);
    }
  });

  it('reports missing and malformed ids', () => {
    const g = edit((g) => {
      (g.nodes[0] as { id?: string }).id = undefined;
      node(g, 'key').id = 'has space';
    });
    expect(paths(g)).toEqual(expect.arrayContaining(['nodes[0].id', 'nodes[1].id']));
  });

  it('reports a duplicate node id at the second occurrence', () => {
    const g = edit((g) => (node(g, 'sink').id = 'win'));
    const p = problemsOf(g).find((x) => x.code === 'duplicate-id');
    expect(p).toMatchObject({ path: 'nodes[3].id', nodeId: 'win' });
    expect(p?.message).toMatch(/already used by nodes\[2\]/);
  });

  it('requires config', () => {
    const g = edit((g) => delete (node(g, 'win') as { config?: unknown }).config);
    expect(only(g)).toMatchObject({ path: 'nodes[2].config', code: 'invalid-config' });
  });

  it('reports config errors at the field, with every error at once', () => {
    const g = edit((g) => {
      node(g, 'win').config = { sizeMs: 'one minute', offsetMs: 1.5, function: { kind: 'aggregations', aggregations: [] } };
    });
    expect(paths(g).sort()).toEqual(['nodes[2].config.function.aggregations', 'nodes[2].config.offsetMs', 'nodes[2].config.sizeMs']);
    expect(problemsOf(g).find((p) => p.path === 'nodes[2].config.sizeMs')?.message).toBe('expected a number, got a string');
  });

  it('pairs a misspelt config field with the missing one', () => {
    const g = edit((g) => (node(g, 'win').config = { sizeMS: 60_000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } }));
    expect(only(g)).toMatchObject({ path: 'nodes[2].config.sizeMS', message: "unknown field 'sizeMS'; did you mean 'sizeMs'?" });
  });

  it('suggests an optional field for a misspelling', () => {
    const g = edit((g) => (node(g, 'win').config = { sizeMs: 60_000, alowedLatenessMs: 5, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } }));
    expect(only(g).message).toBe("unknown field 'alowedLatenessMs'; did you mean 'allowedLatenessMs'?");
  });

  it('reports a discriminator that matches no variant', () => {
    const g = edit((g) => (node(g, 'key').config = { key: { kind: 'feild', field: 'x' } }));
    expect(only(g)).toMatchObject({ path: 'nodes[1].config.key.kind' });
    expect(only(g).message).toMatch(/did you mean 'field'/);
  });

  it('reports user code that does not parse at the code field with line and column', () => {
    const g = edit((g) => {
      g.nodes.splice(3, 0, { id: 'm', type: 'map', config: { fn: '(click) => {\n  return { ...click,\n}' } });
      g.edges[2] = { id: 'e3', source: 'win', target: 'm' };
      g.edges.push({ id: 'e4', source: 'm', target: 'sink' });
    });
    const p = only(g);
    expect(p).toMatchObject({ path: 'nodes[3].config.fn', code: 'invalid-code' });
    expect(p.message).toMatch(/^line 3, column \d+: syntax error/);
  });

  it('rejects a global window with the default trigger (it would never fire)', () => {
    const g = edit((g) => {
      node(g, 'win').type = 'global-window';
      node(g, 'win').config = { trigger: { kind: 'default' }, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } };
    });
    expect(only(g)).toMatchObject({ path: 'nodes[2].config.trigger.kind' });
  });

  it('requires a merge function for aggregate functions on session windows', () => {
    const g = edit((g) => {
      node(g, 'win').type = 'session-window';
      node(g, 'win').config = {
        gapMs: 1000,
        function: { kind: 'aggregate', aggregate: '({ createAccumulator: () => 0, add: (v, a) => a + 1, getResult: (a) => a })' },
      };
    });
    expect(only(g)).toMatchObject({ path: 'nodes[2].config.function.aggregate' });
  });

  it('requires a tumbling window offset smaller than its size, as Flink does', () => {
    const g = edit((g) => ((node(g, 'win').config as Record<string, unknown>).offsetMs = -60_000));
    expect(only(g)).toMatchObject({ path: 'nodes[2].config.offsetMs' });
  });

  it('reports aggregation results that would collide', () => {
    const g = edit((g) => {
      node(g, 'win').config = { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'x', as: 'count' }] } };
    });
    expect(only(g)).toMatchObject({ path: 'nodes[2].config.function.aggregations[1].as' });
  });
});

describe('validateGraph: edges', () => {
  it('reports dangling edges with a suggestion', () => {
    const g = edit((g) => (g.edges[2] = { id: 'e3', source: 'win', target: 'snk' }));
    const p = problemsOf(g).find((x) => x.code === 'dangling-edge');
    expect(p).toMatchObject({ path: 'edges[2].target', edgeId: 'e3' });
    expect(p?.message).toMatch(/'snk' does not exist; did you mean 'sink'/);
  });

  it('reports duplicate edge ids and repeated connections', () => {
    const dupId = edit((g) => g.edges.push({ id: 'e1', source: 'gen', target: 'sink' }));
    expect(problemsOf(dupId).find((p) => p.code === 'duplicate-id')?.path).toBe('edges[3].id');
    const repeated = edit((g) => g.edges.push({ id: 'e9', source: 'win', target: 'sink' }));
    expect(only(repeated)).toMatchObject({ path: 'edges[3]', code: 'duplicate-edge' });
  });

  it('reports an edge from a node to itself', () => {
    const g = edit((g) => g.edges.push({ id: 'loop', source: 'win', target: 'win' }));
    expect(only(g)).toMatchObject({ path: 'edges[3].target', code: 'self-loop' });
  });

  it('reports a cycle with the nodes on it', () => {
    const g: JobGraphDocument = {
      schemaVersion: 1,
      name: 'cycle',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence' } },
        { id: 'u', type: 'union', config: {} },
        { id: 'a', type: 'map', config: { fn: '(v) => v' } },
        { id: 'b', type: 'filter', config: { fn: '(v) => true' } },
        { id: 'sink', type: 'collect-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'gen', target: 'u' },
        { id: 'e2', source: 'u', target: 'a' },
        { id: 'e3', source: 'a', target: 'b' },
        { id: 'e4', source: 'b', target: 'u' },
        { id: 'e5', source: 'b', target: 'sink' },
      ],
    };
    const p = only(g);
    expect(p.code).toBe('cycle');
    expect(p.message).toMatch(/'u' → 'a' → 'b' → 'u'|'a' → 'b' → 'u' → 'a'|'b' → 'u' → 'a' → 'b'/);
  });

  // Found by the fuzzer: the walk used to wander from the cycle into a node downstream
  // of it, report nothing, and let the cyclic graph pass.
  it('reports a cycle whose nodes also feed a node outside it', () => {
    const g: JobGraphDocument = {
      schemaVersion: 1,
      name: 'cycle with exit',
      nodes: [
        { id: 'gen', type: 'generator', config: { profile: 'sequence' } },
        { id: 'm0', type: 'map', config: { fn: '(v) => v' } },
        { id: 'm1', type: 'map', config: { fn: '(v) => v' } },
        { id: 'sink', type: 'collect-sink', config: {} },
      ],
      edges: [
        { id: 'a', source: 'gen', target: 'm0' },
        { id: 'b', source: 'm0', target: 'm1' },
        { id: 'c', source: 'm1', target: 'sink' },
        { id: 'back', source: 'm1', target: 'm0' },
      ],
    };
    expect(only(g)).toMatchObject({ code: 'cycle', path: 'edges[3]', message: "cycle 'm0' → 'm1' → 'm0': a job graph must not loop back on itself" });
  });

  it('reports an output the source node does not have', () => {
    const g = edit((g) => (g.edges[0] = { id: 'e1', source: 'gen', sourceOutput: 'late', target: 'key' }));
    expect(only(g)).toMatchObject({ path: 'edges[0].sourceOutput', code: 'unknown-output' });
  });

  it('accepts the late side output of a window', () => {
    const g = edit((g) => {
      g.nodes.push({ id: 'late', type: 'collect-sink', config: { name: 'late' } });
      g.edges.push({ id: 'e4', source: 'win', sourceOutput: 'late', target: 'late' });
    });
    expect(problemsOf(g)).toEqual([]);
  });

  it('reports edges out of a sink and into a source', () => {
    const outOfSink = edit((g) => {
      g.nodes.push({ id: 'sink2', type: 'collect-sink', config: {} });
      g.edges.push({ id: 'e4', source: 'sink', target: 'sink2' });
    });
    expect(problemsOf(outOfSink).find((p) => p.code === 'unknown-output')?.message).toMatch(/a sink has no outputs/);
    const intoSource = edit((g) => g.edges.push({ id: 'e4', source: 'win', target: 'gen' }));
    expect(problemsOf(intoSource).find((p) => p.code === 'unknown-input')?.message).toMatch(/takes no input/);
  });

  it('requires targetInput on a two-input operator and checks its name', () => {
    const g = joinGraph();
    delete g.edges[2]?.targetInput;
    (g.edges[3] as { targetInput?: string }).targetInput = 'rigth';
    const found = problemsOf(g).map((p) => [p.path, p.message]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['edges[2].targetInput', expect.stringMatching(/set targetInput to 'left' or 'right'/)],
        ['edges[3].targetInput', expect.stringMatching(/no input 'rigth'/)],
      ]),
    );
  });

  it('reports an input left unconnected', () => {
    const g = joinGraph();
    g.nodes = g.nodes.filter((n) => n.id !== 'shipments' && n.id !== 'k2');
    g.edges = g.edges.filter((e) => e.id !== 'e2' && e.id !== 'e4');
    expect(problemsOf(g).find((p) => p.code === 'unconnected-input')?.message).toMatch(/input 'right' of 'join'/);
  });

  it('does not echo a broken node as unconnected neighbours', () => {
    const g = edit((g) => (node(g, 'win').config = { sizeMs: -1, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } }));
    expect(problemsOf(g, true).map((p) => p.path)).toEqual(['nodes[2].config.sizeMs']);
  });
});

function joinGraph(): JobGraphDocument {
  return {
    schemaVersion: 1,
    name: 'join',
    nodes: [
      { id: 'orders', type: 'generator', config: { profile: 'orders' } },
      { id: 'shipments', type: 'generator', config: { profile: 'shipments' } },
      { id: 'k1', type: 'key-by', config: { key: { kind: 'field', field: 'orderId' } } },
      { id: 'k2', type: 'key-by', config: { key: { kind: 'field', field: 'orderId' } } },
      { id: 'join', type: 'interval-join', config: { lowerBoundMs: 0, upperBoundMs: 1000 } },
      { id: 'sink', type: 'collect-sink', config: {} },
    ],
    edges: [
      { id: 'e1', source: 'orders', target: 'k1' },
      { id: 'e2', source: 'shipments', target: 'k2' },
      { id: 'e3', source: 'k1', target: 'join', targetInput: 'left' },
      { id: 'e4', source: 'k2', target: 'join', targetInput: 'right' },
      { id: 'e5', source: 'join', target: 'sink' },
    ],
  };
}

describe('validateGraph: keyed streams', () => {
  it('requires a keyed input for windows', () => {
    const g = edit((g) => (g.edges[1] = { id: 'e2', source: 'gen', target: 'win' }));
    const p = problemsOf(g).find((x) => x.code === 'keyed-input-required');
    expect(p).toMatchObject({ path: 'edges[1]', nodeId: 'win', edgeId: 'e2' });
    expect(p?.message).toMatch(/needs a keyed input.*key-by/);
  });

  it('requires a keyed input for keyed state, timers, joins and patterns', () => {
    for (const [type, config] of [
      ['keyed-process', { fn: '({ processElement(v, ctx) { ctx.collect(v) } })' }],
      ['aggregate', { aggregations: [{ op: 'count' }] }],
      ['cep', { steps: [{ name: 'a' }] }],
    ] as const) {
      const g = edit((g) => {
        node(g, 'win').type = type;
        node(g, 'win').config = config;
        g.edges[1] = { id: 'e2', source: 'gen', target: 'win' };
      });
      expect(problemsOf(g).map((p) => p.code), type).toContain('keyed-input-required');
    }
    const join = joinGraph();
    join.edges[2] = { id: 'e3', source: 'orders', target: 'join', targetInput: 'left' };
    expect(problemsOf(join).map((p) => p.code)).toContain('keyed-input-required');
  });

  it('keeps a stream keyed only directly after a key-by, as Flink does', () => {
    const g = edit((g) => {
      g.nodes.push({ id: 'm', type: 'map', config: { fn: '(v) => v' } });
      g.edges[1] = { id: 'e2', source: 'key', target: 'm' };
      g.edges.push({ id: 'e4', source: 'm', target: 'win' });
    });
    expect(problemsOf(g).map((p) => p.code)).toContain('keyed-input-required');
  });

  it('refuses a keyed stream into an all-window', () => {
    const g = edit((g) => {
      node(g, 'win').type = 'all-window';
      node(g, 'win').config = { assigner: { kind: 'tumbling', sizeMs: 1000 }, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } };
    });
    expect(only(g)).toMatchObject({ code: 'keyed-input-forbidden', path: 'edges[1]' });
  });

  it('refuses a co-process with one keyed and one non-keyed input', () => {
    const g = joinGraph();
    const join = g.nodes[4];
    if (!join) throw new Error('no join');
    join.type = 'co-process';
    join.config = { fn: '({ processElement1(v, ctx) {}, processElement2(v, ctx) {} })' };
    g.edges = g.edges.map((e) => (e.id === 'e3' ? { ...e, source: 'orders', targetInput: 'first' } : e.id === 'e4' ? { ...e, targetInput: 'second' } : e));
    expect(problemsOf(g).map((p) => p.code)).toContain('keyed-inputs-mismatch');
  });
});

describe('validateGraph: partitioning and parallelism', () => {
  it('derives forward, rebalance and hash partitioning', () => {
    const g = edit((g) => (node(g, 'sink').parallelism = 3));
    const result = validateGraph(g);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.graph.edges.map((e) => [e.id, e.partitioning, e.keyed])).toEqual([
      ['e1', 'forward', false],
      ['e2', 'hash', true],
      ['e3', 'rebalance', false],
    ]);
  });

  it('refuses hash partitioning without a key-by', () => {
    const g = edit((g) => (g.edges[2] = { id: 'e3', source: 'win', target: 'sink', partitioning: 'hash' }));
    expect(only(g)).toMatchObject({ path: 'edges[2].partitioning', code: 'invalid-partitioning' });
  });

  it('refuses any partitioning but hash out of a key-by', () => {
    const g = edit((g) => (g.edges[1] = { id: 'e2', source: 'key', target: 'win', partitioning: 'rebalance' }));
    expect(only(g)).toMatchObject({ path: 'edges[1].partitioning' });
  });

  it('refuses a forward edge between different parallelisms, as Flink does', () => {
    const g = edit((g) => {
      node(g, 'sink').parallelism = 2;
      g.edges[2] = { id: 'e3', source: 'win', target: 'sink', partitioning: 'forward' };
    });
    expect(only(g).message).toMatch(/forward partitioning needs equal parallelism.*'win' has 1 and 'sink' has 2/);
  });

  it('makes the broadcast side of a broadcast-process a broadcast edge', () => {
    const g: JobGraphDocument = {
      schemaVersion: 1,
      name: 'rules',
      nodes: [
        { id: 'tx', type: 'generator', config: { profile: 'transactions' } },
        { id: 'rules', type: 'generator', config: { profile: 'sequence' } },
        { id: 'key', type: 'key-by', config: { key: { kind: 'field', field: 'cardId' } } },
        {
          id: 'detect',
          type: 'broadcast-process',
          config: { fn: '({ processElement(v, ctx) {}, processBroadcastElement(r, ctx) {} })', broadcastStates: ['rules'] },
        },
        { id: 'sink', type: 'collect-sink', config: {} },
      ],
      edges: [
        { id: 'e1', source: 'tx', target: 'key' },
        { id: 'e2', source: 'key', target: 'detect', targetInput: 'keyed' },
        { id: 'e3', source: 'rules', target: 'detect', targetInput: 'broadcast' },
        { id: 'e4', source: 'detect', target: 'sink' },
      ],
    };
    const result = validateGraph(g);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.graph.edges.find((e) => e.id === 'e3')?.partitioning).toBe('broadcast');
    const wrong = structuredClone(g);
    wrong.edges[2] = { id: 'e3', source: 'rules', target: 'detect', targetInput: 'broadcast', partitioning: 'rebalance' };
    expect(only(wrong)).toMatchObject({ path: 'edges[2].partitioning' });
  });

  it('refuses a node parallelism above maxParallelism', () => {
    const g = edit((g) => {
      g.job = { maxParallelism: 4 };
      node(g, 'win').parallelism = 8;
    });
    expect(only(g)).toMatchObject({ path: 'nodes[2].parallelism', code: 'invalid-parallelism' });
  });

  it('reports a default parallelism above maxParallelism once, at the job', () => {
    const g = edit((g) => (g.job = { maxParallelism: 4, defaultParallelism: 8 }));
    expect(only(g)).toMatchObject({ path: 'job.defaultParallelism' });
  });

  it('runs an all-window with parallelism 1 and refuses another', () => {
    const g = edit((g) => {
      g.job = { defaultParallelism: 4 };
      node(g, 'win').type = 'all-window';
      node(g, 'win').config = { assigner: { kind: 'sliding', sizeMs: 1000, slideMs: 500 }, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } };
      g.edges[1] = { id: 'e2', source: 'gen', target: 'win' };
    });
    const result = validateGraph(g);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.graph.nodes.find((n) => n.id === 'win')?.parallelism).toBe(1);
    expect(result.graph.edges.find((e) => e.id === 'e2')?.partitioning).toBe('rebalance');
    node(g, 'win').parallelism = 2;
    expect(only(g)).toMatchObject({ path: 'nodes[2].parallelism' });
  });
});

describe('validateGraph: changelogs', () => {
  function changelogInto(type: string, config: unknown): JobGraphDocument {
    return edit((g) => {
      node(g, 'win').type = 'aggregate';
      node(g, 'win').config = { aggregations: [{ op: 'sum', field: 'amount' }] };
      node(g, 'sink').type = type;
      node(g, 'sink').config = config;
    });
  }

  it('marks the output of a group aggregate as a changelog and lets changelog sinks take it', () => {
    const result = validateGraph(changelogInto('file-sink', { path: 'out', format: 'jsonl' }));
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.graph.nodes.find((n) => n.id === 'win')?.changelog).toBe(true);
  });

  it('refuses a changelog into a Kafka sink unless it upserts by key', () => {
    expect(only(changelogInto('kafka-sink', { topic: 't' }))).toMatchObject({ code: 'changelog-not-accepted', path: 'edges[2]' });
    expect(problemsOf(changelogInto('kafka-sink', { topic: 't', upsert: true, keyField: 'userId' }))).toEqual([]);
  });

  it('marks a window whose late or early firings re-fire it as a changelog, and a window that fires once (or purges) as append-only', () => {
    const changelogOf = (config: Record<string, unknown>) => {
      const result = validateGraph(edit((g) => (node(g, 'win').config = { ...(node(g, 'win').config as object), ...config })));
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.graph.nodes.find((n) => n.id === 'win')?.changelog;
    };
    expect(changelogOf({})).toBe(false);
    expect(changelogOf({ allowedLatenessMs: 5000 })).toBe(true);
    expect(changelogOf({ allowedLatenessMs: 5000, trigger: { kind: 'default', purging: true } })).toBe(false);
    expect(changelogOf({ allowedLatenessMs: 5000, timeCharacteristic: 'processing-time' })).toBe(false);
    expect(changelogOf({ trigger: { kind: 'continuous-event-time', intervalMs: 1000 } })).toBe(true);
    expect(changelogOf({ trigger: { kind: 'count', count: 10, purging: true } })).toBe(false);
  });

  it('refuses a window with allowed lateness into a Kafka sink unless it upserts, since a re-fire retracts the previous result', () => {
    const g = edit((g) => {
      node(g, 'win').config = { ...(node(g, 'win').config as object), allowedLatenessMs: 5000 };
      node(g, 'sink').type = 'kafka-sink';
      node(g, 'sink').config = { topic: 't' };
    });
    const p = only(g);
    expect(p).toMatchObject({ code: 'changelog-not-accepted', path: 'edges[2]' });
    expect(p.message).toMatch(/cannot consume the changelog of 'win' \(tumbling-window\).*upsert/);
  });

  it('refuses a changelog into an event-time window', () => {
    const g = changelogInto('collect-sink', {});
    g.nodes.push(
      { id: 'k2', type: 'key-by', config: { key: { kind: 'field', field: 'userId' } } },
      { id: 'w2', type: 'tumbling-window', config: { sizeMs: 1000, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } } },
      { id: 's2', type: 'collect-sink', config: {} },
    );
    g.edges.push({ id: 'e4', source: 'win', target: 'k2' }, { id: 'e5', source: 'k2', target: 'w2' }, { id: 'e6', source: 'w2', target: 's2' });
    const p = only(g);
    expect(p).toMatchObject({ code: 'changelog-not-accepted', path: 'edges[4]' });
    expect(p.message).toMatch(/'w2' \(tumbling-window\) cannot consume the changelog of 'k2'/);
  });
});

describe('validateGraph: the whole job', () => {
  it('requires a source and a sink', () => {
    const g = edit((g) => {
      g.nodes = [{ id: 'm', type: 'map', config: { fn: '(v) => v' } }];
      g.edges = [];
    });
    expect(problemsOf(g).map((p) => p.code).sort()).toEqual(['no-sink', 'no-source', 'unconnected-input']);
  });

  it('warns about outputs that go nowhere but still accepts the graph', () => {
    const g = edit((g) => g.nodes.push({ id: 'idle', type: 'generator', config: { profile: 'sequence' } }));
    const result = validateGraph(g);
    expect(result.ok).toBe(true);
    expect(result.problems).toMatchObject([{ severity: 'warning', code: 'dead-end', path: 'nodes[4]', nodeId: 'idle' }]);
  });

  it('refuses graphs beyond the size limits without examining every node', () => {
    const g = edit((g) => (g.nodes = Array.from({ length: LIMITS.nodes + 1 }, () => ({ id: 'x', type: 'map', config: {} }))));
    expect(only(g)).toMatchObject({ path: 'nodes', code: 'too-large' });
  });

  it('stops after MAX_PROBLEMS and says so', () => {
    const g = edit((g) => {
      g.nodes = Array.from({ length: MAX_PROBLEMS + 50 }, (_, i) => ({ id: `n${i}`, type: 'nope', config: {} }));
    });
    const problems = validateGraph(g).problems;
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems.at(-1)).toMatchObject({ code: 'too-many-problems', path: '$' });
  });

  it('reports every problem of a graph with several faults at once', () => {
    const g = edit((g) => {
      node(g, 'gen').type = 'generater';
      node(g, 'win').config = { sizeMs: 0, function: { kind: 'aggregations', aggregations: [{ op: 'count' }] } };
      g.edges.push({ id: 'e4', source: 'win', target: 'nowhere' });
      g.edges.push({ id: 'e1', source: 'gen', target: 'sink' });
      (g as { job: unknown }).job = { checkpointing: { mode: 'exactly-twice' } };
    });
    expect(paths(g).sort()).toEqual(['edges[3].target', 'edges[4].id', 'job.checkpointing.mode', 'nodes[0].type', 'nodes[2].config.sizeMs']);
  });
});
