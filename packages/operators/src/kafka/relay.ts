/**
 * Kafka through the engine. A job in a process of its own has no network (the engine's
 * job-process.ts); every connection its Kafka clients open goes to a Unix socket the
 * engine listens on instead, naming the broker first. The engine connects only to brokers
 * of the job's own clusters and then relays the bytes both ways:
 *
 *   job process                        engine                             Kafka
 *   kafkajs ── unix socket ──▶ relay: "host:port" allowed? ── tcp ──▶ broker
 *
 * The request is one line, `<host>:<port>\n`; the answer is one line, `ok\n`, or
 * `refused <reason>\n` / `failed <reason>\n` before the engine closes the socket. After
 * `ok` the socket carries Kafka's protocol unchanged.
 */
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { ISocketFactory } from 'kafkajs';

/** Longest answer line the engine sends; anything longer is not the engine. */
export const RELAY_MAX_LINE = 1024;

let relayPath: string | undefined;

/** Routes every Kafka client created after this (in this thread) through the engine's relay at `path`. */
export function relayKafkaThrough(path: string | undefined): void {
  relayPath = path;
}

/** kafkajs's socketFactory for the relay, when one is set. */
export function relaySocketFactory(): ISocketFactory | undefined {
  const path = relayPath;
  if (path === undefined) return undefined;
  // kafkajs uses on(), write(), end() and unref() of what it gets (its own factory sets
  // keep-alive, which a Unix socket has no use for); a Duplex standing for the broker
  // connection has them all.
  return ({ host, port, onConnect }) => new RelayedSocket(path, host, port, onConnect) as unknown as Socket;
}

/** A connection to a broker through the relay: the answer line is read here, the rest is Kafka's. */
class RelayedSocket extends Duplex {
  private readonly inner: Socket;
  private open = false;
  private answer = Buffer.alloc(0);

  constructor(path: string, host: string, port: number, onConnect: () => void) {
    super();
    this.inner = connect({ path });
    this.inner.write(`${host}:${port}\n`);
    this.inner.on('data', (chunk: Buffer) => {
      if (this.open) {
        if (!this.push(chunk)) this.inner.pause();
        return;
      }
      this.answer = Buffer.concat([this.answer, chunk]);
      const end = this.answer.indexOf(10);
      if (end < 0) {
        if (this.answer.length > RELAY_MAX_LINE) this.destroy(new Error(`Kafka relay: an answer longer than ${RELAY_MAX_LINE} bytes`));
        return;
      }
      const line = this.answer.subarray(0, end).toString('utf8');
      const rest = this.answer.subarray(end + 1);
      this.answer = Buffer.alloc(0);
      if (line !== 'ok') {
        const [verdict, ...reason] = line.split(' ');
        const why = reason.join(' ');
        this.destroy(new Error(verdict === 'refused' ? `the engine refused a connection to ${host}:${port}: ${why}` : `connection to ${host}:${port} through the engine failed: ${why || line}`));
        return;
      }
      this.open = true;
      onConnect();
      if (rest.length > 0) this.push(rest);
    });
    this.inner.on('end', () => this.push(null));
    this.inner.on('error', (error) => this.destroy(error));
    this.inner.on('close', () => {
      if (!this.destroyed && !this.open) this.destroy(new Error(`connection to ${host}:${port} through the engine closed before it was answered`));
    });
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.inner.write(chunk, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.inner.end(done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.inner.destroy();
    done(error);
  }

  unref(): this {
    this.inner.unref();
    return this;
  }
}
