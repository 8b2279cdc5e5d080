/**
 * The Kafka allow-list (SSRF guard): a hosted engine connects only to the Kafka
 * bootstrap servers it was told about. The topic list (GET /api/kafka/topics) answers
 * 400 naming the address and the setting before any connection is made, and a graph
 * naming a refused broker is refused at submit with the config field's path.
 *
 * A tripwire (tripwire.ts) stands in for "some host inside the engine's network": it counts
 * the connections the engine opens, so a refusal is shown to connect nowhere, and an
 * allowed address to be really connected to.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphDocument } from '@sluice/graph-model';
import { tripwire, type Tripwire } from './tripwire.js';
import { createEngineService, JobManager, parseKafkaAllow, serveEngine, startEngineService, TaskManager, type EngineService } from '@sluice/engine';

const TOKEN = 'an-admin-token-for-the-kafka-allow-list-tests';

let dir: string;
let taskManager: TaskManager;
let wire: Tripwire;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-allow-'));
  taskManager = new TaskManager({ slots: 1 });
  wire = await tripwire();
  port = wire.port;
});

afterAll(async () => {
  await wire.close();
  await taskManager.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function serviceWith(name: string, options: { token?: string; kafkaAllow?: string[] }): Promise<EngineService> {
  const jobs = new JobManager(taskManager, { dataDir: join(dir, name) });
  return createEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, name), jobManager: jobs, ...options });
}

async function topics(service: EngineService, servers: string): Promise<{ status: number; body: { error?: string; problems?: unknown[] } }> {
  const response = await service.inject({ method: 'GET', url: `/api/kafka/topics?bootstrapServers=${encodeURIComponent(servers)}`, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.statusCode, body: JSON.parse(response.body) as { error?: string; problems?: unknown[] } };
}

const kafkaGraph = (source: string, sink: string): JobGraphDocument => ({
  schemaVersion: 1,
  name: 'kafka copy',
  nodes: [
    { id: 'src', type: 'kafka-source', config: { bootstrapServers: source, topic: 'in' } },
    { id: 'sink', type: 'kafka-sink', config: { bootstrapServers: sink, topic: 'out' } },
  ],
  edges: [{ id: 'e1', source: 'src', target: 'sink' }],
});

describe('parseKafkaAllow', () => {
  it('reads host:port lists, compares hosts without case, and takes * for any', () => {
    expect(parseKafkaAllow(['Broker-1.internal:9092, broker-2.internal:9092', 'broker-1.internal:9092'])).toEqual({ any: false, addresses: ['broker-1.internal:9092', 'broker-2.internal:9092'] });
    expect(parseKafkaAllow([])).toEqual({ any: false, addresses: [] });
    expect(parseKafkaAllow(['a:1', '*'])).toEqual({ any: true });
    expect(() => parseKafkaAllow(['broker-1'])).toThrow("--kafka-allow (kafkaAllow): bootstrap server 'broker-1' is not host:port");
  });
});

describe('GET /api/kafka/topics', () => {
  it('on a hosted engine (a token required) allows no cluster by default: 400 naming the address and the setting, and no connection', async () => {
    const service = await serviceWith('hosted-default', { token: TOKEN });
    try {
      expect(service.kafkaAllow).toEqual({ any: false, addresses: [] });
      const before = wire.connections();
      const answer = await topics(service, `127.0.0.1:${port}`);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe(`Kafka bootstrap server '127.0.0.1:${port}' is not allowed on this engine (setting --kafka-allow (kafkaAllow); allowed: none)`);
      expect(answer.body.problems).toEqual([{ in: 'query', path: 'bootstrapServers', message: answer.body.error }]);
      expect(wire.connections()).toBe(before);
    } finally {
      await service.close();
    }
  });

  it('connects to a listed address, and refuses an unlisted one (also inside a list with a listed one) without connecting', async () => {
    const service = await serviceWith('hosted-listed', { token: TOKEN, kafkaAllow: [`127.0.0.1:${port}`] });
    try {
      let before = wire.connections();
      const allowed = await topics(service, `127.0.0.1:${port}`);
      // Not a Kafka broker: the engine did connect, and says the cluster answered wrongly.
      expect(allowed.status).toBe(502);
      expect(wire.connections()).toBeGreaterThan(before);

      before = wire.connections();
      const refused = await topics(service, `127.0.0.1:${port},10.0.0.7:9092`);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe(`Kafka bootstrap server '10.0.0.7:9092' is not allowed on this engine (setting --kafka-allow (kafkaAllow); allowed: 127.0.0.1:${port})`);
      const otherPort = await topics(service, `127.0.0.1:${port + 1}`);
      expect(otherPort.status).toBe(400);
      expect(wire.connections()).toBe(before);
    } finally {
      await service.close();
    }
  });

  it('on a single-user engine (loopback, no token) allows any cluster, as before', async () => {
    const service = await serviceWith('local', {});
    try {
      expect(service.kafkaAllow).toEqual({ any: true });
      const before = wire.connections();
      expect((await topics(service, `127.0.0.1:${port}`)).status).toBe(502);
      expect(wire.connections()).toBeGreaterThan(before);
    } finally {
      await service.close();
    }
  });
});

describe('graphs naming Kafka clusters', () => {
  it('refuses at submit and redeploy a graph whose Kafka source or sink names a refused broker, with the path of the config field; starts nothing', async () => {
    const service = await serviceWith('graphs', { token: TOKEN, kafkaAllow: ['broker.internal:9092'] });
    const post = async (url: string, body: unknown) => {
      const response = await service.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: response.statusCode, body: JSON.parse(response.body) as { error?: string; problems?: unknown[]; id?: string } };
    };
    try {
      const refused = await post('/api/jobs', { graph: kafkaGraph('BROKER.internal:9092', `127.0.0.1:${port}`) });
      expect(refused.status).toBe(400);
      const message = `Kafka bootstrap server '127.0.0.1:${port}' is not allowed on this engine (setting --kafka-allow (kafkaAllow); allowed: broker.internal:9092)`;
      expect(refused.body.error).toBe(`the job graph has 1 error: nodes[1].config.bootstrapServers: ${message}`);
      expect(refused.body.problems).toEqual([{ in: 'graph', path: 'nodes[1].config.bootstrapServers', message, nodeId: 'sink' }]);

      const both = await post('/api/jobs', { graph: kafkaGraph('10.0.0.7:9092,broker.internal:9092', '10.0.0.8:9092') });
      expect((both.body.problems as Array<{ path: string }>).map((p) => p.path)).toEqual(['nodes[0].config.bootstrapServers', 'nodes[1].config.bootstrapServers']);
      expect(service.jobManager.list()).toEqual([]);

      // Storing a pipeline connects nowhere, so it is kept; running it is refused.
      const saved = await post('/api/pipelines', { name: 'copy', graph: kafkaGraph('10.0.0.7:9092', 'broker.internal:9092') });
      expect(saved.status).toBe(201);
      const fromPipeline = await post('/api/jobs', { pipeline: 'copy' });
      expect(fromPipeline.status).toBe(400);
      expect(fromPipeline.body.problems).toEqual([expect.objectContaining({ path: 'nodes[0].config.bootstrapServers', nodeId: 'src' })]);

      // A redeploy checks the new graph the same way, before it touches the running job.
      const running = await post('/api/jobs', {
        graph: { schemaVersion: 1, name: 'paced', nodes: [{ id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 10 } }, { id: 'out', type: 'blackhole-sink', config: {} }], edges: [{ id: 'e', source: 'gen', target: 'out' }] },
      });
      expect(running.status).toBe(201);
      const redeploy = await post(`/api/jobs/${running.body.id ?? ''}/redeploy`, { graph: kafkaGraph('broker.internal:9092', '10.0.0.8:9092') });
      expect(redeploy.status).toBe(400);
      expect(redeploy.body.problems).toEqual([expect.objectContaining({ path: 'nodes[1].config.bootstrapServers' })]);
      expect(service.jobManager.get(running.body.id ?? '')?.status).not.toBe('cancelled');
    } finally {
      for (const job of service.jobManager.list()) if (job.status === 'running') job.cancel();
      await service.close();
    }
  });
});

describe('sluice serve defaults', () => {
  it('allows any cluster with --trusted, none on a sandboxed engine that requires a token, and the list it is given', async () => {
    const started: EngineService[] = [];
    try {
      const trusted = await startEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve-trusted'), slots: 1, trusted: true, requireToken: true });
      started.push(trusted);
      expect(trusted.kafkaAllow).toEqual({ any: true });
      const hosted = await startEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve-hosted'), slots: 1, requireToken: true });
      started.push(hosted);
      expect(hosted.kafkaAllow).toEqual({ any: false, addresses: [] });
      const listed = await startEngineService({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'serve-listed'), slots: 1, trusted: true, kafkaAllow: ['k1:9092,k2:9092'] });
      started.push(listed);
      expect(listed.kafkaAllow).toEqual({ any: false, addresses: ['k1:9092', 'k2:9092'] });
    } finally {
      for (const service of started) await service.close();
    }
  });

  it('does not resume (--resume) a job whose Kafka cluster is no longer allowed, and says why', async () => {
    // The job record a running engine leaves behind (cluster/job-manager.ts JobRecord) for a job on a cluster allowed back then.
    const dataDir = join(dir, 'serve-resume');
    mkdirSync(join(dataDir, 'jobs'), { recursive: true });
    const id = '6f1c2f7e-0000-4000-8000-00000000beef';
    writeFileSync(join(dataDir, 'jobs', `${id}.json`), JSON.stringify({ id, graph: kafkaGraph('10.0.0.7:9092', '10.0.0.7:9092'), submittedAt: 1, status: 'running', tenant: 'acme' }));
    const abort = new AbortController();
    let out = '';
    let err = '';
    const running = serveEngine(
      { host: '127.0.0.1', port: 0, dataDir, slots: 1, trusted: true, kafkaAllow: ['broker.internal:9092'], resume: true },
      { stdout: (t) => (out += t), stderr: (t) => (err += t), signal: abort.signal },
    );
    for (let i = 0; i < 400 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 25));
    abort.abort();
    expect(await running).toBe(0);
    expect(out).not.toContain(`resumed job ${id}`);
    expect(err).toContain(`sluice serve: error: cannot resume job ${id}: nodes[0].config.bootstrapServers: Kafka bootstrap server '10.0.0.7:9092' is not allowed on this engine`);
    expect(JSON.parse(readFileSync(join(dataDir, 'jobs', `${id}.json`), 'utf8'))).toMatchObject({ status: 'failed', tenant: 'acme' });
  });
});
