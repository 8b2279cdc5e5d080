/**
 * The Kafka relay of a job process (kafka-relay.ts, and @sluice/operators' kafka/relay.ts
 * on the job's side), against plain TCP servers standing in for brokers. The real broker
 * is in process-mode.kafka.test.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { relayKafkaThrough, relaySocketFactory } from '@sluice/operators';
import { KafkaRelay, type KafkaRelayOptions } from '../src/cluster/kafka-relay.js';

/** A TCP server that echoes what it gets, counting connections. */
async function echoServer(): Promise<{ server: Server; address: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}`, connections: () => connections };
}

/** Connects through the relay as a job's Kafka client would; resolves with the socket once the relay said ok. */
function dial(host: string, port: number): Promise<Socket> {
  const factory = relaySocketFactory();
  if (!factory) throw new Error('no relay set');
  return new Promise((resolve, reject) => {
    const socket: Socket = factory({ host, port, ssl: {}, onConnect: () => resolve(socket) });
    socket.on('error', reject);
  });
}

/** Sends a raw request line straight to the relay's socket and gives the answer. */
async function ask(relay: KafkaRelay, request: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ path: relay.path });
    socket.on('data', (d: Buffer) => (answer += d.toString('utf8')));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    socket.write(request);
  });
}

let broker: Awaited<ReturnType<typeof echoServer>>;
let other: Awaited<ReturnType<typeof echoServer>>;
const relays: KafkaRelay[] = [];
const warnings: string[] = [];
const log = (_level: string, message: string) => {
  warnings.push(message);
};

beforeAll(async () => {
  broker = await echoServer();
  other = await echoServer();
});
afterAll(async () => {
  for (const s of [broker.server, other.server]) await new Promise((resolve) => s.close(resolve));
});
afterEach(() => {
  relayKafkaThrough(undefined);
  for (const relay of relays.splice(0)) relay.close();
});

function open(clusters: string[], brokersOf?: (bootstrap: string) => Promise<string[]>, options: KafkaRelayOptions = {}): KafkaRelay {
  const relay = new KafkaRelay('job-1', clusters, log, { brokersOf: brokersOf ?? (() => Promise.resolve([])), ...options });
  relays.push(relay);
  relayKafkaThrough(relay.path);
  return relay;
}

const portOf = (address: string) => Number(address.split(':')[1]);

describe('Kafka relay', () => {
  it('relays bytes both ways to a bootstrap server of the job, after answering ok', async () => {
    open([broker.address]);
    const socket = await dial('127.0.0.1', portOf(broker.address));
    const echoed = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (text.length >= 11) resolve(text);
      });
    });
    socket.write('hello kafka');
    expect(await echoed).toBe('hello kafka');
    socket.end();
  });

  it("refuses an address that is not a broker of the job's clusters, and the job's client reports why; nothing is dialled", async () => {
    open([broker.address]);
    const before = other.connections();
    const error = await dial('127.0.0.1', portOf(other.address)).catch((e: unknown) => e);
    expect(String(error)).toMatch(new RegExp(`the engine refused a connection to ${other.address}: ${other.address} is not a broker of this job's Kafka clusters \\(${broker.address}\\)`));
    expect(other.connections()).toBe(before);
    expect(warnings.at(-1)).toMatch(/refused a connection of job job-1/);
  });

  it('allows a broker the cluster names in its metadata, asked of the cluster by the engine', async () => {
    const asked: string[] = [];
    open([broker.address], (bootstrap) => {
      asked.push(bootstrap);
      return Promise.resolve([broker.address, other.address]);
    });
    const socket = await dial('127.0.0.1', portOf(other.address));
    expect(asked).toEqual([broker.address]);
    socket.destroy();
  });

  it('refuses a request that is not host:port, or too long, without dialling anything', async () => {
    const relay = open([broker.address]);
    expect(await ask(relay, 'not an address\n')).toMatch(/^refused 'not an address' is not host:port\n$/);
    expect(await ask(relay, 'x'.repeat(2000))).toMatch(/^refused a request longer than 1024 bytes\n$/);
  });

  it('carries at most bytesPerSecond over the job\'s connections: every byte arrives, in order, and the relay says it reads slower', async () => {
    open([broker.address], undefined, { bytesPerSecond: 1024 * 1024 });
    const socket = await dial('127.0.0.1', portOf(broker.address));
    // 2 MiB out and the same back through the echo: four times what a second allows.
    const sent = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7919) % 251;
    const echoed = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      let length = 0;
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        length += d.length;
        if (length >= sent.length) resolve(Buffer.concat(chunks));
      });
    });
    socket.write(sent);
    expect((await echoed).equals(sent)).toBe(true);
    expect(warnings).toContain("kafka relay: job job-1's connections carry more than 1048576 bytes a second (kafkaBytesPerSecond); the relay reads them slower");
    socket.destroy();
  }, 20_000);

  it('refuses a connection above maxConnections, naming the limit, and takes one again once another closed', async () => {
    open([broker.address], undefined, { maxConnections: 2 });
    const first = await dial('127.0.0.1', portOf(broker.address));
    await dial('127.0.0.1', portOf(broker.address));
    const error = await dial('127.0.0.1', portOf(broker.address)).catch((e: unknown) => e);
    expect(String(error)).toMatch(/the engine refused a connection to 127\.0\.0\.1:\d+: the job has 2 connections open through the Kafka relay, its limit \(kafkaConnectionsPerJob\)/);
    first.destroy();
    let again: Socket | undefined;
    for (let i = 0; i < 100 && !again; i++) {
      again = await dial('127.0.0.1', portOf(broker.address)).catch(() => undefined);
      if (!again) await new Promise((r) => setTimeout(r, 20));
    }
    expect(again).toBeDefined();
  });

  it('says when the broker cannot be reached', async () => {
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as { port: number }).port;
    await new Promise((resolve) => free.close(resolve));
    open([`127.0.0.1:${port}`]);
    const error = await dial('127.0.0.1', port).catch((e: unknown) => e);
    expect(String(error)).toMatch(new RegExp(`connection to 127.0.0.1:${port} through the engine failed: connect ECONNREFUSED`));
  });
});
