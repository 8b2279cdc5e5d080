/**
 * The `sluice` command. Every command returns its exit code instead of calling
 * process.exit, and writes through the given streams, so tests run it in-process.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { cancelCommand, DEFAULT_ENGINE_URL, listCommand, savepointCommand, statusCommand, submitCommand } from './remote.js';
import { runCommand } from './run.js';
import { generatorFor, writeGeneratedRecords } from './generate.js';
import { defaultDataDir, parseKafkaAllow, serveEngine } from '@sluice/engine';
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from './tokens.js';
import { listKafkaTopics } from '@sluice/operators';
import {
  canonicalJson,
  graphJsonSchema,
  locatePath,
  operatorsByCategory,
  parseJsonText,
  validateGraph,
  type GraphProblem,
} from '@sluice/graph-model';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly cwd: string;
  /** Show live progress (a terminal is attached). */
  readonly isTTY?: boolean;
  /** Aborted on Ctrl-C. */
  readonly signal?: AbortSignal;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('--port must be a whole number from 0 to 65535');
  return n;
}

function parsePositive(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${option} must be a whole number of at least 1`);
  return n;
}

function parseInteger(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${option} must be a whole number`);
  return n;
}

function parseNonNegative(value: string, option: string): number {
  const n = Number(value);
  if (!(n >= 0 && Number.isFinite(n))) throw new InvalidArgumentError(`${option} must be a number of at least 0`);
  return n;
}

interface ServeFlags {
  host: string;
  port: number;
  dataDir?: string;
  slots?: number;
  token?: string;
  corsOrigin?: string[];
  resume?: boolean;
  trusted?: boolean;
  processPerJob?: boolean;
  isolate?: boolean;
  cpusPerJob?: number;
  diskMbPerJob?: number;
  cpuMsPerCall?: number;
  memoryMbPerJob?: number;
  maxParallelism?: number;
  maxStateEntries?: number;
  maxRecordBytes?: number;
  maxTapRate?: number;
  kafkaAllow?: string[];
  fileAllow?: string[];
}

/** Exit codes: 0 fine, 1 the input has problems, 2 the command was used wrongly or cannot run. */
export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('sluice')
    .description('Sluice: design, validate and run stateful stream pipelines.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError();

  program
    .command('validate')
    .description('Check job-graph files; prints every problem with its place in the file.')
    .argument('<files...>', 'job-graph JSON files')
    .option('--json', 'print the results as JSON')
    .action(async (files: string[], options: { json?: boolean }) => {
      exitCode = await validateCommand(files, options.json === true, io);
    });

  program
    .command('fmt')
    .description('Rewrite job-graph files in canonical form (stable key order, 2-space indent).')
    .argument('<files...>', 'job-graph JSON files')
    .option('--check', 'only report files that are not canonical (exit 1)')
    .action(async (files: string[], options: { check?: boolean }) => {
      exitCode = await fmtCommand(files, options.check === true, io);
    });

  program
    .command('schema')
    .description('Print the JSON Schema of the job-graph format.')
    .action(() => {
      io.stdout(`${JSON.stringify(graphJsonSchema(), null, 2)}\n`);
    });

  program
    .command('operators')
    .description('List the operator catalog.')
    .option('--json', 'print type, category, inputs and outputs as JSON')
    .action((options: { json?: boolean }) => {
      operatorsCommand(options.json === true, io);
    });

  program
    .command('topics')
    .description('List the topics of a Kafka cluster, for the topic of a kafka-source or kafka-sink.')
    .argument('[bootstrap-servers]', 'comma-separated host:port list', '127.0.0.1:9092')
    .option('--json', 'print [{ name, partitions }] as JSON')
    .action(async (servers: string, options: { json?: boolean }) => {
      exitCode = await topicsCommand(servers, options.json === true, io);
    });

  program
    .command('run')
    .description('Run a job graph on an embedded engine; ends when a bounded job finishes (Ctrl-C cancels).')
    .argument('<file>', 'job-graph JSON file')
    .option('--slots <n>', 'worker threads (default: one per core)', (v) => parsePositive(v, '--slots'))
    .option('--show <n>', 'results to print per collect sink (default 10)', (v) => parsePositive(v, '--show'))
    .option('--json', 'print every collected result as a line of JSON')
    .action(async (file: string, options: { slots?: number; show?: number; json?: boolean }) => {
      exitCode = await runCommand(file, { ...options, progress: io.isTTY === true, signal: io.signal }, io);
    });

  program
    .command('generate')
    .description('Write records of the built-in generator as JSON lines, exactly as the generator source produces them (same settings, same bytes).')
    .argument('<profile>', 'generator profile, e.g. nexmark')
    .requiredOption('--count <n>', 'number of records', (v) => parsePositive(v, '--count'))
    .option('--seed <n>', 'seed (default 42)', (v) => parseInteger(v, '--seed'))
    .option('--event-interval-ms <ms>', 'event time between records (default 1); may be a fraction', (v) => parseNonNegative(v, '--event-interval-ms'))
    .option('--start-time <ms>', 'event time of the first record, epoch ms (default 1700000000000)', (v) => parseInteger(v, '--start-time'))
    .option('--keys <n>', 'distinct keys, for the profiles that have keys', (v) => parsePositive(v, '--keys'))
    .option('--out <file>', 'file to write (default: standard output)')
    .action(async (profile: string, options: { count: number; seed?: number; eventIntervalMs?: number; startTime?: number; keys?: number; out?: string }) => {
      exitCode = await generateCommand(profile, options, io);
    });

  program
    .command('serve')
    .description('Run the engine as a service: REST API, live telemetry (Socket.IO) and Prometheus metrics; Ctrl-C stops it.')
    .option('--host <address>', 'address to bind; any but a loopback address requires a token', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', parsePort, 8081)
    .option('--data-dir <dir>', 'where pipelines, checkpoints, savepoints and the generated token are kept (default $SLUICE_DATA_DIR or ~/.sluice)')
    .option('--slots <n>', 'worker threads (default: one per core)', (v) => parsePositive(v, '--slots'))
    .option('--token <token>', "the admin's bearer token (default $SLUICE_TOKEN; generated into <data-dir>/token when bound to a non-loopback address); tenant tokens: sluice token create")
    .option('--cors-origin <origin...>', 'origins browsers may call from (default http://127.0.0.1:3000 http://localhost:3000)')
    .option('--resume', 'pick up the jobs that were running when the engine last stopped, each from its newest valid checkpoint')
    .option('--trusted', "run user functions in the engine's own threads, unconfined; only where every job author is trusted")
    .option(
      '--process-per-job',
      "run each job in a process of its own, confined by Linux namespaces and Node's permission model, its user functions at full speed (the default where user namespaces allow it; with this flag the engine refuses to start where they do not)",
    )
    .option('--isolate', 'run user functions in V8 isolates inside the engine (isolated-vm; every record is copied across), even where a process per job is available')
    .option('--cpu-ms-per-call <ms>', 'isolates: longest one call into user code may run (default 1000); per job process: longest a slot may not answer (at least 5000)', (v) => parsePositive(v, '--cpu-ms-per-call'))
    .option('--cpus-per-job <n>', 'per job process: CPUs it may use, all its threads together, averaged over 10 s; above that the job is stopped (default: its slots + 1)', (v) => parsePositive(v, '--cpus-per-job'))
    .option('--disk-mb-per-job <mb>', "per job process: disk its checkpoints, savepoints and file sinks' directories may take beyond what they held at its start, checked every 2 s; above that the job is stopped (default 10240)", (v) => parsePositive(v, '--disk-mb-per-job'))
    .option('--memory-mb-per-job <mb>', 'isolates: heap of one job on one slot (default 128); per job process: its resident memory (default 1024)', (v) => parsePositive(v, '--memory-mb-per-job'))
    .option('--max-parallelism <n>', 'limit: highest parallelism of any node of a job (default 32)', (v) => parsePositive(v, '--max-parallelism'))
    .option('--max-state-entries <n>', 'limit: keyed-state entries one job may hold (default 10000000)', (v) => parsePositive(v, '--max-state-entries'))
    .option('--max-record-bytes <n>', 'limit: largest record a user function may emit or an exchange may carry (default 1048576)', (v) => parsePositive(v, '--max-record-bytes'))
    .option('--max-tap-rate <n>', 'limit: records per second one record tap may ask for (default 100)', (v) => parsePositive(v, '--max-tap-rate'))
    .option(
      '--kafka-allow <host:port,...>',
      "Kafka bootstrap servers jobs and the topic list may connect to; '*' for any (default: any without a token or with --trusted, none when a token is required)",
      (v: string, previous: string[] | undefined) => {
        try {
          parseKafkaAllow([v]);
        } catch (error) {
          throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
        }
        return [...(previous ?? []), v];
      },
    )
    .option(
      '--file-allow <dir>',
      "a directory file sources and sinks may use (repeatable; a tenant gets <dir>/<tenant>; the data directory never); '*' for any (default: any without a token or with --trusted, none when a token is required)",
      (v: string, previous: string[] | undefined) => [...(previous ?? []), v === '*' ? v : resolve(io.cwd, v)],
    )
    .action(async (options: ServeFlags) => {
      const token = options.token ?? process.env['SLUICE_TOKEN'];
      exitCode = await serveEngine(
        {
          host: options.host,
          port: options.port,
          ...(options.dataDir !== undefined ? { dataDir: resolve(io.cwd, options.dataDir) } : {}),
          ...(options.slots !== undefined ? { slots: options.slots } : {}),
          ...(token !== undefined ? { token } : {}),
          ...(options.corsOrigin !== undefined ? { corsOrigins: options.corsOrigin } : {}),
          resume: options.resume === true,
          trusted: options.trusted === true,
          processPerJob: options.processPerJob === true,
          isolate: options.isolate === true,
          ...(options.cpusPerJob !== undefined ? { maxCpusPerJob: options.cpusPerJob } : {}),
          ...(options.diskMbPerJob !== undefined ? { maxDiskMbPerJob: options.diskMbPerJob } : {}),
          sandbox: { cpuMsPerCall: options.cpuMsPerCall, memoryMbPerJob: options.memoryMbPerJob },
          limits: { maxParallelism: options.maxParallelism, maxStateEntries: options.maxStateEntries, maxRecordBytes: options.maxRecordBytes, maxTapRecordsPerSecond: options.maxTapRate },
          ...(options.kafkaAllow !== undefined ? { kafkaAllow: options.kafkaAllow } : {}),
          ...(options.fileAllow !== undefined ? { fileAllow: options.fileAllow } : {}),
        },
        io,
      );
    });

  const token = program
    .command('token')
    .description("Tenant tokens of a hosted engine (kept as SHA-256 hashes in <data-dir>/tokens.json; a running engine picks up changes at once). A tenant token reaches only its tenant's jobs and pipelines.");
  const tokenDataDir = (command: Command) =>
    command
      .option('--data-dir <dir>', "the engine's data directory (default $SLUICE_DATA_DIR or ~/.sluice)")
      .option('--json', 'print the answer as JSON');
  type TokenCliFlags = { dataDir?: string; json?: boolean };
  const tokenFlags = (options: TokenCliFlags) => ({ dataDir: options.dataDir !== undefined ? resolve(io.cwd, options.dataDir) : defaultDataDir(), json: options.json === true });
  tokenDataDir(token.command('create').description('Create a token for a tenant and print it (only this once).').argument('<tenant>', "tenant name: 1 to 63 of a-z, 0-9 and '-'")).action(
    async (tenant: string, options: TokenCliFlags) => {
      exitCode = await tokenCreateCommand(tenant, tokenFlags(options), io);
    },
  );
  tokenDataDir(token.command('list').description('List tenant tokens (id, tenant, creation time; never the tokens).')).action(async (options: TokenCliFlags) => {
    exitCode = await tokenListCommand(tokenFlags(options), io);
  });
  tokenDataDir(
    token
      .command('revoke')
      .description('Revoke a tenant token by id, or every token of a tenant (--tenant); its next request answers 401.')
      .argument('[id]', 'token id, from sluice token list')
      .option('--tenant <name>', 'revoke every token of this tenant'),
  ).action(async (id: string | undefined, options: TokenCliFlags & { tenant?: string }) => {
    exitCode = await tokenRevokeCommand(id, { ...tokenFlags(options), ...(options.tenant !== undefined ? { tenant: options.tenant } : {}) }, io);
  });

  const remote = (command: Command) =>
    command
      .option('--url <url>', `the engine's address (default $SLUICE_URL or ${DEFAULT_ENGINE_URL})`)
      .option('--token <token>', 'bearer token when the engine needs one: the admin token, or a tenant token (sees only its tenant\'s jobs) (default $SLUICE_TOKEN)')
      .option('--json', 'print the answer as JSON');
  type RemoteFlags = { url?: string; token?: string; json?: boolean };

  remote(program.command('submit').description('Submit a job graph to a running engine (sluice serve).').argument('<file>', 'job-graph JSON file')).action(
    async (file: string, options: RemoteFlags) => {
      exitCode = await submitCommand(file, options, io);
    },
  );
  remote(program.command('list').description('List the jobs of a running engine.')).action(async (options: RemoteFlags) => {
    exitCode = await listCommand(options, io);
  });
  remote(program.command('status').description('Show the status of a job on a running engine.').argument('<id>', 'job id')).action(
    async (id: string, options: RemoteFlags) => {
      exitCode = await statusCommand(id, options, io);
    },
  );
  remote(program.command('cancel').description('Cancel a running job.').argument('<id>', 'job id')).action(async (id: string, options: RemoteFlags) => {
    exitCode = await cancelCommand(id, options, io);
  });

  remote(
    program
      .command('savepoint')
      .description('Take a savepoint of a running job and print its directory; with --stop, stop the job there.')
      .argument('<id>', 'job id')
      .option('--stop', 'stop the job once the savepoint completes')
      .option('--drain', 'with --stop: emit the final watermark first, so every event-time window fires (to retire a pipeline)'),
  ).action(async (id: string, options: RemoteFlags & { stop?: boolean; drain?: boolean }) => {
    if (options.drain === true && options.stop !== true) {
      io.stderr('--drain needs --stop: draining fires every window, which only makes sense when the job stops\n');
      exitCode = EXIT.usage;
      return;
    }
    exitCode = await savepointCommand(id, options, io);
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw error;
  }
  return exitCode;
}


interface FileReport {
  readonly file: string;
  readonly ok: boolean;
  readonly problems: ReadonlyArray<{
    severity: GraphProblem['severity'];
    code: string;
    path: string;
    message: string;
    line?: number;
    column?: number;
    nodeId?: string;
    edgeId?: string;
  }>;
}

async function validateCommand(files: readonly string[], json: boolean, io: CliIo): Promise<number> {
  const reports: FileReport[] = [];
  for (const file of files) reports.push(await validateFile(file, io.cwd));
  if (json) {
    io.stdout(`${JSON.stringify(reports, null, 2)}\n`);
  } else {
    for (const report of reports) {
      const errors = report.problems.filter((p) => p.severity === 'error').length;
      const warnings = report.problems.length - errors;
      for (const p of report.problems) {
        const where = p.line !== undefined ? `${report.file}:${p.line}:${p.column ?? 1}` : report.file;
        const line = `${where}: ${p.severity} ${p.path}: ${p.message}\n`;
        if (p.severity === 'error') io.stderr(line);
        else io.stdout(line);
      }
      const summary = report.ok
        ? `${report.file}: valid${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}\n`
        : `${report.file}: ${errors} error${errors === 1 ? '' : 's'}${warnings > 0 ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}\n`;
      (report.ok ? io.stdout : io.stderr)(summary);
    }
  }
  return reports.every((r) => r.ok) ? EXIT.ok : EXIT.invalid;
}

async function validateFile(file: string, cwd: string): Promise<FileReport> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, file), 'utf8');
  } catch (error) {
    return { file, ok: false, problems: [{ severity: 'error', code: 'unreadable', path: '$', message: readError(error) }] };
  }
  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    const e = parsed.error;
    return { file, ok: false, problems: [{ severity: 'error', code: 'invalid-json', path: '$', message: e.message, line: e.line, column: e.column }] };
  }
  const duplicates = parsed.duplicateKeys.map((d) => ({
    severity: 'error' as const,
    code: 'duplicate-key',
    path: d.path ?? '$',
    message: d.message,
    line: d.line,
    column: d.column,
  }));
  const result = validateGraph(parsed.value);
  const problems = result.problems.map((p) => {
    const at = locatePath(text, p.segments);
    return {
      severity: p.severity,
      code: p.code,
      path: p.path,
      message: p.message,
      ...(at ? { line: at.line, column: at.column } : {}),
      ...(p.nodeId !== undefined ? { nodeId: p.nodeId } : {}),
      ...(p.edgeId !== undefined ? { edgeId: p.edgeId } : {}),
    };
  });
  return { file, ok: result.ok && duplicates.length === 0, problems: [...duplicates, ...problems] };
}

async function fmtCommand(files: readonly string[], check: boolean, io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  for (const file of files) {
    const path = resolve(io.cwd, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      io.stderr(`${file}: ${readError(error)}\n`);
      code = EXIT.invalid;
      continue;
    }
    const parsed = parseJsonText(text);
    if (!parsed.ok) {
      io.stderr(`${file}:${parsed.error.line}:${parsed.error.column}: ${parsed.error.message}\n`);
      code = EXIT.invalid;
      continue;
    }
    const canonical = canonicalJson(parsed.value);
    if (canonical === text) continue;
    if (check) {
      io.stderr(`${file}: not in canonical form (run sluice fmt ${file})\n`);
      code = EXIT.invalid;
    } else {
      await writeFile(path, canonical);
      io.stdout(`${file}: formatted\n`);
    }
  }
  return code;
}

function operatorsCommand(json: boolean, io: CliIo): void {
  const groups = operatorsByCategory();
  if (json) {
    const list = [...groups.values()].flat().map((op) => ({
      type: op.type,
      category: op.category,
      title: op.title,
      inputs: op.inputs.map((i) => ({ name: i.name, keyed: i.keyed })),
      outputs: op.outputs(op.configSchema.parse(op.defaultConfig) as never).map((o) => o.name),
    }));
    io.stdout(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  for (const [category, ops] of groups) {
    io.stdout(`${category}\n`);
    for (const op of ops) io.stdout(`  ${op.type.padEnd(20)} ${op.title}\n`);
  }
}

function readError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES') return 'permission denied';
  return `cannot read: ${error instanceof Error ? error.message : String(error)}`;
}

async function generateCommand(
  profile: string,
  options: { count: number; seed?: number; eventIntervalMs?: number; startTime?: number; keys?: number; out?: string },
  io: CliIo,
): Promise<number> {
  const settings = { profile, ...options };
  const generator = generatorFor(settings);
  if (!generator.ok) {
    for (const problem of generator.problems) io.stderr(`generate: ${problem}\n`);
    return EXIT.usage;
  }
  if (options.out === undefined) {
    let chunk = '';
    for (let n = 0; n < options.count; n++) {
      chunk += `${JSON.stringify(generator.make(n).value)}\n`;
      if (chunk.length >= 65_536) {
        io.stdout(chunk);
        chunk = '';
      }
    }
    if (chunk.length > 0) io.stdout(chunk);
    return EXIT.ok;
  }
  const file = resolve(io.cwd, options.out);
  try {
    const { records, bytes } = await writeGeneratedRecords(settings, file);
    io.stderr(`wrote ${records} records (${bytes} bytes) to ${options.out}\n`);
    return EXIT.ok;
  } catch (error) {
    io.stderr(`${options.out}: ${(error as Error).message}\n`);
    return EXIT.invalid;
  }
}

async function topicsCommand(servers: string, json: boolean, io: CliIo): Promise<number> {
  let topics: Awaited<ReturnType<typeof listKafkaTopics>>;
  try {
    topics = await listKafkaTopics(servers);
  } catch (error) {
    io.stderr(`cannot list the topics of the Kafka cluster at ${servers}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.invalid;
  }
  if (json) io.stdout(`${JSON.stringify(topics, null, 2)}\n`);
  else if (topics.length === 0) io.stdout(`no topics at ${servers}\n`);
  else for (const t of topics) io.stdout(`${t.name}\t${t.partitions} partition${t.partitions === 1 ? '' : 's'}\n`);
  return EXIT.ok;
}
