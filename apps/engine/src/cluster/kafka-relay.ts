/**
 * The engine's side of Kafka for a job process (see @sluice/operators' kafka/relay.ts for
 * the job's side and the protocol). A job process has no network; its Kafka clients ask
 * this relay, over a Unix socket, for a broker by host:port. The relay connects only to
 * the brokers of the job's own clusters: the bootstrap servers its graph names (checked
 * against `--kafka-allow` at submit) and the brokers those clusters' metadata names, asked
 * of the cluster by the engine itself, never taken from the job. Anything else is refused
 * with a reason the job's Kafka client reports.
 *
 * The relay runs on the engine's main thread, so what one job may take of it is bounded:
 * its open connections (maxConnections), and the bytes a second all of them carry, both
 * ways together (bytesPerSecond: a token bucket; over it the relay stops reading the job's
 * connections and its brokers' for as long as paying back takes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerKey, isBrokerAddress, listKafkaBrokers, parseBootstrapServers, RELAY_MAX_LINE } from '@sluice/operators';
import { Throttle } from './token-bucket.js';

/** How often the relay asks the clusters for their brokers again when a job names one it does not know. */
const REFRESH_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_KAFKA_BYTES_PER_SECOND = 64 * 1024 * 1024;
/** kafkajs opens one connection per broker per client, and each source and sink subtask has a client. */
export const DEFAULT_KAFKA_CONNECTIONS = 256;

export interface KafkaRelayOptions {
  /** Asks a cluster for its brokers (listKafkaBrokers; tests give their own). */
  readonly brokersOf?: (bootstrapServers: string) => Promise<string[]>;
  /** Bytes a second the job's connections carry, both ways, all together. Default 64 MiB. */
  readonly bytesPerSecond?: number;
  /** Connections the job may have open through the relay at once. Default 256. */
  readonly maxConnections?: number;
}

/** One direction of a relayed connection. */
interface Pump {
  readonly from: Socket;
  /** Waiting for the other side to drain: resumed by that, not by the rate. */
  draining: boolean;
}

/** JobManagerOptions.log's shape. */
export type KafkaRelayLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export class KafkaRelay {
  /** The Unix socket the job process connects to, alone in `directory`. */
  readonly path: string;
  readonly directory: string;
  private readonly server: Server;
  private readonly allowed = new Set<string>();
  private readonly open = new Set<Socket>();
  /** The job's connections to the relay. */
  private readonly connections = new Set<Socket>();
  private readonly pumps = new Set<Pump>();
  private readonly throttle: Throttle;
  private readonly brokersOf: (bootstrapServers: string) => Promise<string[]>;
  private readonly maxConnections: number;
  private refreshed = 0;
  private refreshing: Promise<void> | undefined;

  /** @param clusters the bootstrap lists of the job's Kafka sources and sinks */
  constructor(
    private readonly jobId: string,
    private readonly clusters: readonly string[],
    private readonly log: KafkaRelayLog,
    options: KafkaRelayOptions = {},
  ) {
    this.brokersOf = options.brokersOf ?? listKafkaBrokers;
    this.maxConnections = options.maxConnections ?? DEFAULT_KAFKA_CONNECTIONS;
    const rate = options.bytesPerSecond ?? DEFAULT_KAFKA_BYTES_PER_SECOND;
    this.throttle = new Throttle(
      rate,
      rate,
      {
        stop: () => {
          for (const pump of this.pumps) pump.from.pause();
        },
        go: () => {
          for (const pump of this.pumps) if (!pump.draining) pump.from.resume();
        },
      },
      () => log('warn', `kafka relay: job ${jobId}'s connections carry more than ${rate} bytes a second (kafkaBytesPerSecond); the relay reads them slower`, { jobId }),
    );
    for (const cluster of clusters) for (const address of parseBootstrapServers(cluster, 'bootstrapServers')) this.allowed.add(brokerKey(address));
    // A directory of the engine's own (mode 0700 through the umask-free mkdtemp), short enough for a socket path.
    this.directory = mkdtempSync(join(tmpdir(), 'sluice-relay-'));
    this.path = join(this.directory, 'kafka.sock');
    this.server = createServer((socket) => this.accept(socket));
    this.server.listen(this.path);
  }

  close(): void {
    this.throttle.close();
    this.server.close();
    for (const socket of this.open) socket.destroy();
    rmSync(this.directory, { recursive: true, force: true });
  }

  private accept(job: Socket): void {
    this.open.add(job);
    job.on('close', () => {
      this.open.delete(job);
      this.connections.delete(job);
    });
    job.on('error', () => job.destroy());
    if (this.connections.size >= this.maxConnections) {
      this.answer(job, 'refused', `the job has ${this.connections.size} connections open through the Kafka relay, its limit (kafkaConnectionsPerJob)`);
      return;
    }
    this.connections.add(job);
    job.setTimeout(REQUEST_TIMEOUT_MS, () => this.answer(job, 'refused', 'no request within 10 s'));
    let request = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      request = Buffer.concat([request, chunk]);
      const end = request.indexOf(10);
      if (end < 0) {
        if (request.length > RELAY_MAX_LINE) this.answer(job, 'refused', `a request longer than ${RELAY_MAX_LINE} bytes`);
        return;
      }
      job.off('data', onData);
      job.pause();
      job.setTimeout(0);
      const rest = request.subarray(end + 1);
      if (rest.length > 0) job.unshift(rest);
      void this.route(job, request.subarray(0, end).toString('utf8'));
    };
    job.on('data', onData);
  }

  private async route(job: Socket, address: string): Promise<void> {
    if (!isBrokerAddress(address)) return this.answer(job, 'refused', `'${address.slice(0, 100)}' is not host:port`);
    if (!this.allowed.has(brokerKey(address))) await this.refresh();
    if (!this.allowed.has(brokerKey(address))) {
      return this.answer(job, 'refused', `${address} is not a broker of this job's Kafka clusters (${this.clusters.join('; ')})`);
    }
    const colon = address.lastIndexOf(':');
    const broker = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)), timeout: CONNECT_TIMEOUT_MS });
    let connected = false;
    this.open.add(broker);
    broker.on('close', () => {
      this.open.delete(broker);
      // Before the connection, the answer ends the job's socket once it is written.
      if (connected) job.destroy();
    });
    job.once('close', () => broker.destroy());
    broker.once('timeout', () => broker.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)));
    broker.on('error', (error) => {
      if (!connected) this.answer(job, 'failed', error.message);
    });
    broker.once('connect', () => {
      connected = true;
      broker.setTimeout(0);
      job.write('ok\n');
      this.pump(job, broker);
      this.pump(broker, job);
    });
  }

  /** Moves what `from` reads to `to`, within the job's rate and `to`'s buffer. */
  private pump(from: Socket, to: Socket): void {
    const pump: Pump = { from, draining: false };
    this.pumps.add(pump);
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) {
        pump.draining = true;
        from.pause();
      }
      this.throttle.take(chunk.length);
    });
    to.on('drain', () => {
      pump.draining = false;
      if (!this.throttle.active) from.resume();
    });
    from.once('end', () => to.end());
    from.once('close', () => this.pumps.delete(pump));
    // Read what the job sent behind its request line (accept() paused it), unless the job is over its rate.
    if (this.throttle.active) from.pause();
    else from.resume();
  }

  /** Asks the job's clusters for their brokers, at most every REFRESH_MS. */
  private async refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (Date.now() - this.refreshed < REFRESH_MS) return;
    this.refreshing = (async () => {
      for (const cluster of this.clusters) {
        try {
          for (const broker of await this.brokersOf(cluster)) this.allowed.add(brokerKey(broker));
        } catch (error) {
          this.log('warn', `kafka relay: could not list the brokers of ${cluster} for job ${this.jobId}`, { jobId: this.jobId, cluster, error: error instanceof Error ? error.message : String(error) });
        }
      }
      this.refreshed = Date.now();
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private answer(job: Socket, verdict: 'refused' | 'failed', reason: string): void {
    if (verdict === 'refused') this.log('warn', `kafka relay: refused a connection of job ${this.jobId}: ${reason}`, { jobId: this.jobId, reason });
    job.end(`${verdict} ${reason.replace(/\n/g, ' ')}\n`);
  }
}
