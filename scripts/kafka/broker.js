// A real single-node Apache Kafka broker (KRaft, combined broker + controller) for tests,
// benchmarks and local use. The broker's jars come from Maven Central (pom.xml beside this
// file) into .cache/kafka/<version>/lib; each start formats a fresh log directory.
//
//   node scripts/kafka/broker.js            start on 127.0.0.1:9092 until Ctrl-C (npm run kafka)
//   node scripts/kafka/broker.js --fetch    only fetch the jars (scripts/test-all.sh does this)
//   node scripts/kafka/broker.js --smoke [--version 4.1.0]
//                                           KafkaJS against a fresh broker: produce, group, transaction
//   import { startKafka } from './broker.js' → { bootstrap, port, stop() } on a free port
//
// A broker started from code stops with stop(), on the parent's exit, and (through a small
// watchdog shell) even when the parent is killed with SIGKILL, so no JVM outlives a test run.
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const KAFKA_VERSION = '3.9.1';
const pom = join(root, 'scripts/kafka/pom.xml');

export function kafkaLibDir(version = KAFKA_VERSION) {
  return join(root, '.cache/kafka', version, 'lib');
}

/** Checks for Java 17+ and Maven, with a message that says what to install. */
export async function checkTools() {
  const run = promisify(execFile);
  let javaVersion;
  try {
    const { stderr, stdout } = await run('java', ['-version']);
    javaVersion = /version "(\d+)/.exec(`${stderr}${stdout}`)?.[1];
  } catch {
    throw new Error('The Kafka broker needs Java 17 or newer, and `java` is not on the PATH (Debian: apt-get install -y openjdk-17-jre-headless).');
  }
  if (javaVersion === undefined || Number(javaVersion) < 17) {
    throw new Error(`The Kafka broker needs Java 17 or newer; found Java ${javaVersion ?? 'of an unknown version'}.`);
  }
  try {
    await run('mvn', ['-v']);
  } catch {
    throw new Error('Fetching the Kafka broker needs Maven, and `mvn` is not on the PATH (Debian: apt-get install -y maven).');
  }
}

/** Copies Kafka and its runtime dependencies from Maven Central once; later calls find them cached. */
export async function fetchKafka(version = KAFKA_VERSION) {
  const lib = kafkaLibDir(version);
  const done = join(lib, '.complete');
  if (existsSync(done)) return lib;
  await checkTools();
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(lib, { recursive: true });
  await new Promise((resolve, reject) => {
    const mvn = spawn(
      'mvn',
      ['-q', '-B', '-Dstyle.color=never', '-f', pom, `-Dkafka.version=${version}`, 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${lib}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    mvn.stdout.on('data', (d) => (log += d.toString()));
    mvn.stderr.on('data', (d) => (log += d.toString()));
    mvn.on('error', reject);
    mvn.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mvn could not fetch Kafka ${version} (exit code ${code}):\n${log.slice(-4000)}`))));
  });
  writeFileSync(done, `${new Date().toISOString()}\n`);
  return lib;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function serverProperties({ port, controllerPort, logDir }) {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${logDir}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=2',
    // Lingering transactions of a crashed producer are aborted this soon after their timeout.
    'transaction.abort.timed.out.transaction.cleanup.interval.ms=5000',
    '',
  ].join('\n');
}

const LOG4J = [
  'log4j.rootLogger=WARN, file',
  'log4j.appender.file=org.apache.log4j.FileAppender',
  'log4j.appender.file.File=${kafka.logs.dir}/server.log',
  'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  // The readiness line ("Kafka Server started") comes from here.
  'log4j.logger.kafka.server.KafkaRaftServer=INFO, stdout',
  '',
].join('\n');

/**
 * Starts a broker and resolves once a client has created a topic on it.
 * @param {{ port?: number, version?: string, heapMb?: number }} [options]
 */
export async function startKafka(options = {}) {
  const version = options.version ?? KAFKA_VERSION;
  const lib = await fetchKafka(version);
  const port = options.port ?? (await freePort());
  const controllerPort = await freePort();
  const home = mkdtempSync(join(tmpdir(), 'sluice-kafka-'));
  const logDir = join(home, 'data');
  const properties = join(home, 'server.properties');
  writeFileSync(properties, serverProperties({ port, controllerPort, logDir }));
  writeFileSync(join(home, 'log4j.properties'), LOG4J);
  const heap = options.heapMb ?? 512;
  const classpath = `${lib}/*`;
  const jvm = [`-Xmx${heap}m`, `-Xms${Math.min(heap, 256)}m`, '-XX:+UseG1GC', '-Djava.awt.headless=true', `-Dkafka.logs.dir=${home}`, `-Dlog4j.configuration=file:${join(home, 'log4j.properties')}`, '-cp', classpath];

  const run = promisify(execFile);
  const { stdout: clusterId } = await run('java', [...jvm, 'kafka.tools.StorageTool', 'random-uuid']);
  await run('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId.trim(), '-c', properties]);

  const out = createWriteStream(join(home, 'stdout.log'));
  const java = spawn('java', [...jvm, 'kafka.Kafka', properties], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Kills the JVM if this process dies without stopping it (a SIGKILLed test runner).
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${java.pid} 2>/dev/null; do sleep 1; done; kill -9 ${java.pid} 2>/dev/null; rm -rf '${home}'`], {
    stdio: 'ignore',
    detached: true,
  });
  watchdog.unref();
  let output = '';
  let exited = false;
  const exit = new Promise((resolve) => java.on('exit', (code, signal) => resolve({ code, signal })));
  void exit.then(() => {
    exited = true;
  });
  const started = new Promise((resolve) => {
    const onData = (data) => {
      out.write(data);
      if (output.length < 100_000) output += data.toString();
      if (output.includes('Kafka Server started')) resolve();
    };
    java.stdout.on('data', onData);
    java.stderr.on('data', onData);
  });

  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      if (!exited) {
        java.kill('SIGTERM');
        const timer = setTimeout(() => java.kill('SIGKILL'), 20_000);
        await exit;
        clearTimeout(timer);
      }
      out.end();
      rmSync(home, { recursive: true, force: true });
    })();
    return stopped;
  };
  const onExit = () => {
    if (!exited) java.kill('SIGKILL');
  };
  process.once('exit', onExit);

  const bootstrap = `127.0.0.1:${port}`;
  try {
    const until = Date.now() + 90_000;
    await Promise.race([
      started,
      exit.then(({ code, signal }) => {
        throw new Error(`the Kafka broker exited during start (code ${code}, signal ${signal}):\n${output.slice(-4000)}`);
      }),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`the Kafka broker did not start within 90 s:\n${output.slice(-4000)}`)), 90_000).unref()),
    ]);
    await waitUntilUsable(bootstrap, until);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    bootstrap,
    port,
    version,
    home,
    async stop() {
      process.removeListener('exit', onExit);
      await stop();
    },
  };
}

/** An open port is too early: ready means a client can create a topic and find its leader. */
async function waitUntilUsable(bootstrap, until) {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const kafka = new Kafka({ clientId: 'sluice-broker-check', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  let last;
  while (Date.now() < until) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      await admin.createTopics({ topics: [{ topic: '__sluice_ready', numPartitions: 1 }], waitForLeaders: true });
      const metadata = await admin.fetchTopicMetadata({ topics: ['__sluice_ready'] });
      if (metadata.topics[0]?.partitions[0]?.leader === 1) return;
    } catch (error) {
      last = error;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Kafka broker at ${bootstrap} started but no client could create a topic: ${last instanceof Error ? last.message : String(last)}`);
}

/** What KafkaJS needs from a broker: produce, a consumer group, a transaction with offsets, read_committed. */
async function smoke(version) {
  const broker = await startKafka({ version });
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const kafka = new Kafka({ clientId: 'sluice-smoke', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const transactional = kafka.producer({ transactionalId: 'sluice-smoke', idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: 'sluice-smoke', readUncommitted: false });
  try {
    await Promise.all([admin.connect(), producer.connect(), transactional.connect()]);
    await admin.createTopics({ topics: [{ topic: 'smoke-in', numPartitions: 3 }, { topic: 'smoke-out' }], waitForLeaders: true });
    await producer.send({ topic: 'smoke-in', messages: Array.from({ length: 30 }, (_, i) => ({ key: String(i), value: String(i) })) });
    const committed = await transactional.transaction();
    await committed.send({ topic: 'smoke-out', messages: [{ value: 'committed' }] });
    await committed.sendOffsets({ consumerGroupId: 'sluice-smoke-marker', topics: [{ topic: 'smoke-out', partitions: [{ partition: 0, offset: '7' }] }] });
    await committed.commit();
    const aborted = await transactional.transaction();
    await aborted.send({ topic: 'smoke-out', messages: [{ value: 'aborted' }] });
    await aborted.abort();
    const [marker] = await admin.fetchOffsets({ groupId: 'sluice-smoke-marker', topics: ['smoke-out'] });
    await consumer.connect();
    await consumer.subscribe({ topics: ['smoke-in', 'smoke-out'], fromBeginning: true });
    const seen = [];
    await new Promise((resolve) => {
      void consumer.run({
        eachMessage: async ({ topic, message }) => {
          seen.push(`${topic}:${message.value?.toString()}`);
          if (seen.length === 31) resolve();
        },
      });
    });
    const out = seen.filter((s) => s.startsWith('smoke-out:'));
    const ok = out.length === 1 && out[0] === 'smoke-out:committed' && marker?.partitions[0]?.offset === '7';
    console.log(`Kafka ${version} with KafkaJS: produce, consumer group, transaction${ok ? ': all passed' : `: FAILED (read_committed saw ${JSON.stringify(out)}, marker ${JSON.stringify(marker)})`}`);
    if (!ok) process.exitCode = 1;
  } finally {
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), transactional.disconnect(), admin.disconnect()]);
    await broker.stop();
  }
}

// Run by hand: a broker on 127.0.0.1:9092 (or --port N) until Ctrl-C.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const value = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const version = value('--version') ?? KAFKA_VERSION;
  try {
    if (args.includes('--fetch')) {
      await checkTools();
      const lib = await fetchKafka(version);
      console.log(`Kafka ${version}: ${readdirSync(lib).filter((f) => f.endsWith('.jar')).length} jars in ${lib}`);
      process.exit(0);
    }
    if (args.includes('--smoke')) {
      await smoke(version);
      process.exit(0);
    }
    const port = Number(value('--port') ?? 9092);
    console.log(`starting Kafka ${version} on 127.0.0.1:${port}…`);
    const broker = await startKafka({ port, version });
    console.log(`Kafka ${version} is ready at ${broker.bootstrap} (logs in ${broker.home}). Ctrl-C stops it and deletes its data.`);
    let stopping = false;
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      console.log('stopping Kafka…');
      void broker.stop().then(() => process.exit(0));
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
