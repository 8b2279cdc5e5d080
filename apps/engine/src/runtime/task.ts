/**
 * A subtask: one parallel instance of a task (an operator chain), run by a
 * single-threaded mailbox loop, after Flink's StreamTask and MailboxProcessor.
 *
 *   deploy ─▶ setup ─▶ initializeState ─▶ open (tail → head)
 *                                           │
 *          ┌────────────────────────────────▼───────────────────────────────┐
 *          │ loop:  run mails (timers, control)                              │
 *          │        output without credit?  ─▶ wait for credit  (backpressured)
 *          │        an operator can take no input? ─▶ wait for it  (busy)    │
 *          │        default action: poll the source, or read input channels │
 *          │          ─▶ records through the chain by function call          │
 *          │          ─▶ watermarks: min over each input's channels          │
 *          │        nothing to do? flush buffers ─▶ wait for input  (idle)   │
 *          └────────────────────────────────┬───────────────────────────────┘
 *                  end of input: final watermark ─▶ finish (head → tail)
 *                  ─▶ flush, end-of-partition to every consumer ─▶ close
 *   any exception ─▶ close ─▶ failed (with job, operator, subtask, key, record)
 *
 * Operators are never called concurrently: everything, timer callbacks included,
 * runs on this loop between awaits. The loop only awaits when it has nothing to do
 * or no credit, and yields to the event loop every few steps so that timers and
 * control messages get through; it never awaits per record.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobConfig, Partitioning } from '@sluice/graph-model';
import {
  inRange,
  keyGroupOf,
  createOperator,
  createOperatorContext,
  compileKeySelector,
  FINAL_CHECKPOINT_ID,
  InputStatus,
  MAX_WATERMARK,
  MIN_WATERMARK,
  RowKind,
  VOID_NAMESPACE,
  type AnyOperator,
  BatchRecordError,
  type BatchKind,
  type CollectOutlet,
  type Key,
  type KeySelector,
  type CheckpointableKeyedStateBackend,
  type KeyedStateBackend,
  type KeyInspection,
  type KeyedSnapshotRun,
  type KeyedStateSnapshot,
  type KeyGroupRange,
  type Logger,
  type OperatorContext,
  type Output,
  type ProcessingTimeService,
  type ProcessProgramSpec,
  type SourceOperator,
} from '@sluice/operators';
import type { ChainedOperatorPlan, ExecutionPlan, OutputTarget, TaskPlan } from '../compile/plan.js';
import { BINDING, instantiateCode } from '../compile/user-code.js';
import { Packr } from 'msgpackr';
import { TaskSandbox, type UserCodeSettings } from './sandbox.js';
import { ChainFusion } from './fusion.js';
import { SAMPLE_EVERY, SampleWindow } from './sample-window.js';
import type { FailureReport } from './protocol.js';
import { ChannelWriter, type ChannelMemory } from './channel.js';
import { InputGate, type ChannelStatus, type GateListener, type InputWatermark } from './input-gate.js';
import { readSnapshotFile, SnapshotEncoder, type EncodableOperatorSnapshot, type OperatorSnapshotData, type OutputChannelRecord, type SubtaskSnapshotData } from './state-files.js';
import { MessageDecoder, MessageEncoder, MessageType, type Barrier } from './messages.js';
import { channelSelector, type ChannelSelector } from './partitioner.js';
import { KeyCountingSelector, TapSampler, TapTarget, type HotKeyReport, type TapDrain, type TapSpec } from './taps.js';
import { RocksDBKeyedStateBackend, canonicalFromNative, type NativeCapture, type NativeCheckpointHandle } from '../state/rocksdb/index.js';

export interface InputChannelSpec {
  readonly exchange: number;
  readonly producerSubtask: number;
  readonly input: number;
  readonly memory: ChannelMemory;
  /** The producer's credit bell, rung when this consumer frees a slot. */
  readonly creditBell: SharedArrayBuffer;
}

export interface OutputChannelSpec {
  readonly exchange: number;
  readonly consumerSubtask: number;
  readonly memory: ChannelMemory;
  /** The consumer's doorbell, rung when this producer publishes. */
  readonly doorbell: SharedArrayBuffer;
}

/** What a subtask restores, per operator (matched by node id, the operator's uid). */
export interface SubtaskRestore {
  readonly checkpointId: number;
  readonly operators: Readonly<
    Record<
      string,
      {
        /** This subtask's share of the operator's list state. */
        readonly operatorState: readonly unknown[] | undefined;
        /** Every state file holding keyed state of the operator; the backend keeps its own key groups. */
        readonly keyedFiles: readonly string[];
        /** Native RocksDB checkpoints of the operator's keyed state (absolute paths); the backend keeps its own key groups. */
        readonly nativeKeyed?: readonly NativeCheckpointHandle[] | undefined;
      }
    >
  >;
  /** State files with in-flight records for this task's head (unaligned checkpoints); each subtask keeps its share. */
  readonly channelStateFiles?: readonly string[] | undefined;
  /** The subtask had finished in the checkpoint: it runs nothing again and only ends its outputs. */
  readonly finished?: boolean | undefined;
}

/** What a subtask's state file holds per operator: enough for metadata and restore checks. */
export interface SnapshotNodeInfo {
  readonly nodeId: string;
  readonly states: Readonly<Record<string, { kind: string; ttlMs?: number }>>;
  readonly hasOperatorState: boolean;
}

export interface CheckpointAck {
  readonly checkpointId: number;
  readonly nodes: readonly SnapshotNodeInfo[];
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly alignmentMs: number;
  readonly syncMs: number;
  readonly asyncMs: number;
  /** Native (incremental) keyed state per node id, absolute paths; the coordinator stores them relative to the checkpoint. */
  readonly native?: Readonly<Record<string, NativeCheckpointHandle>> | undefined;
  /** Bytes this checkpoint added for native state (new shared files and private files); `bytes` stays the state file's size. */
  readonly nativeBytes?: number | undefined;
}

export interface TaskDeployment {
  readonly plan: ExecutionPlan;
  /** Restart attempt of the job, from 0; messages of older attempts are ignored. */
  readonly attempt: number;
  readonly taskId: number;
  readonly subtaskIndex: number;
  readonly restore?: SubtaskRestore | undefined;
  /** Where RocksDB keeps this subtask's databases; on the checkpoint storage's file system, files are hard-linked into checkpoints. */
  readonly localStateDirectory?: string | undefined;
  readonly inputs: readonly InputChannelSpec[];
  readonly outputs: readonly OutputChannelSpec[];
  readonly doorbell: SharedArrayBuffer;
  readonly creditBell: SharedArrayBuffer;
}

export interface TaskHost {
  collector(nodeId: string, name: string): CollectOutlet;
  print(line: string): void;
  readonly processingTime: ProcessingTimeService;
  readonly log: Logger;
  /** Writes a state file (temp file, fsync unless durableWrites is false, rename). */
  persist(path: string, bytes: Buffer): Promise<void>;
  /** False where this process may not fsync (a job process): whoever takes its acknowledgements syncs the files. Default true. */
  readonly durableWrites?: boolean | undefined;
  acknowledgeCheckpoint(ack: CheckpointAck): void;
  declineCheckpoint(checkpointId: number, reason: string): void;
  /** The subtask reached its end with commits pending: it waits for FINAL_CHECKPOINT_ID. */
  awaitingFinalCommit(): void;
  /** How user code runs (trusted when absent). */
  readonly userCode?: UserCodeSettings | undefined;
  /** Largest record an exchange may carry, in msgpack bytes (JobLimits.maxRecordBytes); unlimited when absent. */
  readonly maxRecordBytes?: number | undefined;
}

/** Why a task failed, with everything needed to find the cause. */
export class TaskFailure extends Error {
  constructor(
    message: string,
    readonly jobId: string,
    readonly nodeId: string,
    readonly subtaskIndex: number,
    readonly key: Key | undefined,
    readonly record: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TaskFailure';
  }

  toJSON(): FailureReport {
    // Where the user's function threw is in its error's stack, not in ours.
    const cause: unknown = this.cause;
    const causeStack = typeof cause === 'object' && cause !== null && typeof (cause as { stack?: unknown }).stack === 'string' ? (cause as { stack: string }).stack : undefined;
    const stack = this.stack !== undefined && causeStack ? `${this.stack}\nCaused by: ${causeStack}` : (this.stack ?? causeStack);
    return {
      message: this.message,
      jobId: this.jobId,
      nodeId: this.nodeId,
      subtaskIndex: this.subtaskIndex,
      ...(this.key !== undefined ? { key: this.key } : {}),
      ...(this.record !== undefined ? { record: this.record } : {}),
      ...(stack !== undefined ? { stack } : {}),
    };
  }
}

/** Per-operator counters, updated on the hot path with plain increments. */
export interface OperatorCounters {
  readonly nodeId: string;
  recordsIn: number;
  recordsOut: number;
  watermark: number;
  /** Estimated time inside this operator and everything it calls, from sampled records. */
  inclusiveMs: number;
  /** Estimated time in this operator alone (inclusive minus the chained operators it feeds). */
  busyMs: number;
  /** The last watermark this operator emitted (MIN_WATERMARK before the first). */
  outputWatermark: number;
  /** From the operator's context metrics, copied when metrics are sent. */
  lateRecordsDropped: number;
  lateRecordsRouted: number;
  deadLetters: number;
  /** Keyed-state entries of this operator's backend (0 without keyed state), for JobLimits.maxStateEntries. */
  stateEntries: number;
}

const SAMPLE_MASK = SAMPLE_EVERY - 1;


export interface TaskMetrics {
  busyMs: number;
  idleMs: number;
  backpressuredMs: number;
  readonly operators: OperatorCounters[];
  /** Input watermark per head input, and the channel holding it back. */
  inputWatermarks: InputWatermark[];
  /** Every input channel, as of the report (set by refreshOperatorTimes). */
  channels?: ChannelStatus[] | undefined;
  /** A source's splits, as of the report, when the source reports them. */
  splits?: Array<{ split: string; watermark: number; idle: boolean; lastRecordAgeMs: number | null; lag?: number | null }> | undefined;
  /** Transactions of this subtask's sinks that are not visible yet, when a sink reports them. */
  transactions?: Array<{ nodeId: string; transactionalId: string; records: number; ageMs: number; phase: 'open' | 'pre-committed' | 'committing' }> | undefined;
}

const STEP_BUDGET = 1024;
const INITIAL_SOURCE_BUDGET = 16;
/** Longest the loop runs before letting timers and messages through. */
const SLICE_MS = 10;
/** Longest stretch a checkpoint's asynchronous part (building and encoding a keyed snapshot) takes the loop for. */
const SNAPSHOT_SLICE_MS = 4;

/** An operator's snapshot between the barrier and the end of its asynchronous part. */
interface PendingOperatorSnapshot {
  readonly nodeId: string;
  readonly operatorState: OperatorSnapshotData['operatorState'];
  readonly keyedState: KeyedSnapshotRun | undefined;
}
const DEFAULT_BATCH = 256;

export class StreamTask implements GateListener {
  readonly plan: TaskPlan;
  readonly jobId: string;
  readonly subtaskIndex: number;
  readonly metrics: TaskMetrics;
  private readonly job: JobConfig;
  private readonly operators: AnyOperator[] = [];
  private readonly contexts: OperatorContext[] = [];
  private readonly writers: ExchangeWriter[] = [];
  private readonly outputs: Output<unknown>[] = [];
  private readonly gate: InputGate | undefined;
  private readonly doorbell: Int32Array;
  private readonly creditBell: Int32Array;
  private readonly mails: Array<() => void> = [];
  /** Mails that notify checkpoint completion: they still run when the task is cancelled. */
  private readonly notifications = new Set<() => void>();
  /** Mails that build a checkpoint's snapshot in slices: they run even after the loop ended. */
  private readonly snapshotSlices = new Set<() => void>();
  private loopEnded = false;
  private wakeMailbox: (() => void) | undefined;
  private cancelled = false;
  /** Set by the notification that the whole job ended (FINAL_CHECKPOINT_ID). */
  private finalCommitted = false;
  /** End-of-partition went to every consumer: later barriers have nowhere to go. */
  private outputsEnded = false;
  /** A checkpoint completed after the input ended: commits it started may be on their way. */
  private completedAfterEnd = false;
  /** The newest checkpoint this subtask snapshotted: a trigger for it (or an older one) comes too late. */
  private lastCheckpointId = 0;
  private keySelectors: Array<KeySelector<unknown> | undefined> = [];
  private backend: KeyedStateBackend | undefined;
  /** Each chained operator's keyed backend (undefined for operators without keyed input). */
  private readonly keyedBackends: Array<CheckpointableKeyedStateBackend | undefined> = [];
  /** The record being handed to the head, for error reports. */
  private currentRecord: unknown = undefined;
  private readonly restore: SubtaskRestore | undefined;
  readonly attempt: number;
  /** After a stop-with-savepoint barrier a source emits nothing more; the job is then cancelled. */
  private suspended = false;
  /** RocksDB keyed backends by operator index (job.stateBackend.type 'rocksdb'). */
  private readonly rocksBackends: Array<RocksDBKeyedStateBackend | undefined> = [];
  private readonly localStateDirectory: string;
  /** Canonical keyed state converted from native checkpoints, for heap backends (a job moved from RocksDB to the heap). */
  private readonly convertedKeyed = new Map<number, KeyedStateSnapshot[]>();
  /** Set while native checkpoints capture keyed state: no record, timer or mail may touch state until it settles. */
  private held: Promise<void> | undefined;
  /** Where user code runs in sandboxed mode. */
  private sandbox: TaskSandbox | undefined;
  /** Sandboxed map/filter/flat-map runs of the chain that cross into the isolate once per batch (fusion.ts). */
  private fusion: ChainFusion | undefined;
  /** The chained operator each operator of the chain gets its input from (-1: the head). */
  private chainParent: number[] = [];
  /**
   * Batches (OperatorContext.runBatch) are timed in full, not sampled per record: `batchMs`
   * is the time of those that ran, less what nested in them, so that a sampled call that
   * ran batches can take their time out of what it scales up; `openBatches` are running.
   */
  batchMs = 0;
  /** The head operator's sampled records (handleRecord). */
  private readonly headSamples = new SampleWindow();
  private readonly openBatches: Array<{ readonly operator: number; nested: number }> = [];
  /** Operators that process input in batches (sandboxed map, filter, flat-map), head first. */
  private buffering: Array<{ nodeId: string; flush: () => void }> = [];

  constructor(
    deployment: TaskDeployment,
    private readonly host: TaskHost,
  ) {
    const plan = deployment.plan.tasks[deployment.taskId];
    if (!plan) throw new Error(`task ${deployment.taskId} is not in the plan`);
    this.plan = plan;
    this.jobId = deployment.plan.jobId;
    this.job = deployment.plan.job;
    this.subtaskIndex = deployment.subtaskIndex;
    this.attempt = deployment.attempt;
    this.restore = deployment.restore;
    this.localStateDirectory = deployment.localStateDirectory ?? join(tmpdir(), 'sluice-state');
    this.doorbell = new Int32Array(deployment.doorbell);
    this.creditBell = new Int32Array(deployment.creditBell);
    this.metrics = { busyMs: 0, idleMs: 0, backpressuredMs: 0, operators: plan.operators.map((o) => ({ nodeId: o.nodeId, recordsIn: 0, recordsOut: 0, watermark: MIN_WATERMARK, inclusiveMs: 0, busyMs: 0, outputWatermark: MIN_WATERMARK, lateRecordsDropped: 0, lateRecordsRouted: 0, deadLetters: 0, stateEntries: 0 })), inputWatermarks: [] };
    try {
      this.build(deployment);
    } catch (error) {
      this.sandbox?.dispose();
      throw error;
    }
    if (deployment.inputs.length > 0) {
      const c = this.job.checkpointing;
      this.gate = new InputGate(deployment.inputs, this.headInputs(), c.mode, { enabled: c.unaligned, alignmentTimeoutMs: c.alignmentTimeoutMs });
    }
  }

  /** What the loop is doing, for diagnosing a stuck job. */
  private loopState = 'starting';

  diagnose(): { loop: string; mails: number; inputs: ReturnType<InputGate['describe']>; outputs: Array<{ credits: number; spilledBytes: number }> } {
    return {
      loop: this.loopState,
      mails: this.mails.length,
      inputs: this.gate?.describe() ?? [],
      outputs: this.writers.flatMap((w) => w.describe()),
    };
  }

  /** Derives each operator's own time from the sampled inclusive times (before metrics are sent). */
  refreshOperatorTimes(): void {
    this.plan.operators.forEach((op, index) => {
      const counters = this.metrics.operators[index] as OperatorCounters;
      let own = counters.inclusiveMs;
      this.chainParent.forEach((parent, child) => {
        if (parent === index) own -= this.metrics.operators[child]?.inclusiveMs ?? 0;
      });
      counters.busyMs = Math.max(0, own);
      const context = this.contexts[index];
      if (context) {
        counters.lateRecordsDropped = context.metrics.lateRecordsDropped;
        counters.lateRecordsRouted = context.metrics.lateRecordsRouted;
        counters.deadLetters = context.metrics.deadLetters;
      }
      counters.stateEntries = (this.keyedBackends[index] as { stateEntries?(): number } | undefined)?.stateEntries?.() ?? 0;
    });
    this.refreshInputStatus();
  }

  /** Channels and source splits for the watermark debugger. */
  private refreshInputStatus(): void {
    // A subtask restored as finished never opened its operators: they have nothing to report.
    if (this.restore?.finished === true) return;
    if (this.gate) this.metrics.channels = this.gate.channelStatus();
    const head = this.operators[0];
    if (head?.inputs === 0 && head.splitStatus) {
      const now = this.host.processingTime.now();
      this.metrics.splits = head.splitStatus().map((s) => ({
        split: s.split,
        watermark: s.watermark,
        idle: s.idle,
        lastRecordAgeMs: s.lastRecordAt === null ? null : Math.max(0, now - s.lastRecordAt),
        ...(s.lag !== undefined ? { lag: s.lag } : {}),
      }));
    }
    if (this.operators.some((op) => 'openTransactions' in op)) {
      const now = this.host.processingTime.now();
      this.metrics.transactions = this.operators.flatMap((op, i) =>
        (op.openTransactions?.() ?? []).map((t) => ({ nodeId: this.plan.operators[i]?.nodeId ?? '', transactionalId: t.transactionalId, records: t.records, ageMs: Math.max(0, now - t.openedAt), phase: t.phase })),
      );
    }
  }

  // ─── Record taps and key counting (taps.ts) ────────────────────────────────

  /** Taps by id; the wrapped targets by `${operator}/${output}/${target}`. */
  private readonly taps = new Map<string, { sampler: TapSampler; at: string }>();
  private readonly tapTargets = new Map<string, TapTarget>();
  private readonly keyCounters = new Map<number, KeyCountingSelector>();

  /** Starts sampling an output target (a mail: the swap happens between records). */
  startTap(spec: TapSpec): void {
    this.post(() => {
      const output = this.outputs[spec.operator];
      if (!(output instanceof RoutingOutput) || this.taps.has(spec.tapId)) return;
      const at = `${spec.operator}/${spec.output}/${spec.target}`;
      let wrapper = this.tapTargets.get(at);
      if (!wrapper) {
        const inner = output.targetAt(spec.output, spec.target);
        if (!inner) return;
        wrapper = new TapTarget(inner);
        output.replaceTarget(spec.output, spec.target, wrapper);
        this.tapTargets.set(at, wrapper);
        this.fusion?.tapped(spec.operator, spec.output, true);
      }
      const sampler = new TapSampler(spec, this.metrics.operators[spec.operator] as OperatorCounters, (this.contexts[spec.operator] as OperatorContext).firing);
      wrapper.samplers.push(sampler);
      this.taps.set(spec.tapId, { sampler, at });
    });
  }

  /** Stops a tap; the last samples stay to be drained. */
  stopTap(tapId: string): void {
    this.post(() => {
      const tap = this.taps.get(tapId);
      if (!tap) return;
      this.taps.delete(tapId);
      this.stoppedTaps.push(tap.sampler);
      const wrapper = this.tapTargets.get(tap.at);
      if (!wrapper) return;
      wrapper.samplers.splice(wrapper.samplers.indexOf(tap.sampler), 1);
      if (wrapper.samplers.length > 0) return;
      const { operator, output, target } = tap.sampler.spec;
      (this.outputs[operator] as RoutingOutput).replaceTarget(output, target, wrapper.inner);
      this.tapTargets.delete(tap.at);
      this.fusion?.tapped(operator, output, false);
    });
  }

  private stoppedTaps: TapSampler[] = [];

  /** Samples taken since the last call, per tap (on the worker's thread, between loop slices). */
  drainTaps(): TapDrain[] {
    const drained: TapDrain[] = [];
    for (const sampler of [...this.stoppedTaps, ...[...this.taps.values()].map((t) => t.sampler)]) {
      const d = sampler.drain();
      if (d) drained.push(d);
    }
    this.stoppedTaps = [];
    return drained;
  }

  /** Counts keys on a hash exchange this subtask writes to (on), or stops (off). */
  countKeys(exchange: number, on: boolean): void {
    this.post(() => {
      const keyed = this.keyedWriters.get(exchange);
      if (!keyed) return;
      if (on && !this.keyCounters.has(exchange)) {
        const counter = new KeyCountingSelector(exchange, keyed.keyOf, this.job.maxParallelism, keyed.consumerParallelism);
        this.keyCounters.set(exchange, counter);
        keyed.writer.useSelector(counter);
      } else if (!on && this.keyCounters.has(exchange)) {
        this.keyCounters.delete(exchange);
        keyed.writer.useSelector(undefined);
      }
    });
  }

  /** Each counted exchange's figures since the last call. */
  reportHotKeys(top: number): HotKeyReport[] {
    return [...this.keyCounters.values()].flatMap((c) => c.report(top) ?? []);
  }

  private readonly keyedWriters = new Map<number, { writer: ExchangeWriter; keyOf: (value: unknown) => Key; consumerParallelism: number }>();

  /** Runs a function on the task's loop (timers, control). */
  post(mail: () => void): void {
    this.mails.push(mail);
    this.wakeMailbox?.();
  }

  cancel(): void {
    this.cancelled = true;
    this.wakeMailbox?.();
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0);
  }

  private headInputs(): number {
    const head = this.operators[0];
    return head?.inputs === 2 ? 2 : 1;
  }

  private build(deployment: TaskDeployment): void {
    const plan = this.plan;
    const code = deployment.plan.code;
    const compiledOf = (source: string): string => {
      const compiled = code[source];
      if (compiled === undefined) throw new Error('internal: user function was not compiled');
      return compiled;
    };
    const userCode = this.host.userCode;
    const where = `job ${this.jobId}, task '${plan.name}', subtask ${this.subtaskIndex + 1}/${plan.parallelism}`;
    const sandbox = userCode?.mode === 'sandboxed' ? new TaskSandbox(userCode, this.jobId, this.attempt, where, { log: this.host.log, subtaskIndex: this.subtaskIndex }) : undefined;
    this.sandbox = sandbox;
    // Sandboxed code knows its operator (console lines name it).
    const userCodeOf = (nodeId: string | undefined) =>
      sandbox
        ? {
            fn: (source: string): unknown => sandbox.load(compiledOf(source), BINDING, nodeId),
            batch: (source: string, kind: BatchKind) => sandbox.loadBatch(compiledOf(source), BINDING, kind, nodeId),
            processProgram: (source: string, spec: ProcessProgramSpec, context: object) => sandbox.loadProcess(compiledOf(source), BINDING, spec, context, nodeId),
          }
        : { fn: (source: string): unknown => instantiateCode(compiledOf(source)), batch: undefined, processProgram: undefined };
    const { fn, batch, processProgram } = userCodeOf(undefined);
    this.keySelectors = plan.keys.map((k) => (k ? compileKeySelector(k, fn) : undefined));

    // Exchange writers of this subtask, one per outgoing exchange.
    const writerByExchange = new Map<number, ExchangeWriter>();
    for (const exchange of deployment.plan.exchanges.filter((e) => e.fromTask === plan.id)) {
      const consumerTask = deployment.plan.tasks[exchange.toTask] as TaskPlan;
      const channels = deployment.outputs
        .filter((o) => o.exchange === exchange.id)
        .sort((a, b) => a.consumerSubtask - b.consumerSubtask);
      const keyOf = exchange.key ? compileKeySelector(exchange.key, fn) : undefined;
      const writer = new ExchangeWriter(
        channels.map((c) => new ChannelWriter(c.memory, new Int32Array(c.doorbell))),
        channelSelector(exchange.partitioning, this.subtaskIndex, channels.map((c) => c.consumerSubtask), keyOf, this.job.maxParallelism, consumerTask.parallelism),
        exchange.partitioning,
        DEFAULT_BATCH,
        this.host.maxRecordBytes === undefined ? undefined : { maxRecordBytes: this.host.maxRecordBytes, consumer: `'${consumerTask.name}'` },
        {
          overtakes: (barrier) => this.barrierOvertakes(barrier),
          overtakesAfterTimeout: (barrier) => this.barrierTimesOut(barrier),
          consumer: consumerTask.operators[0]?.nodeId ?? '',
          input: exchange.toInput,
          consumerSubtasks: channels.map((c) => c.consumerSubtask),
          decoder: this.outputDecoder,
          record: (record) => this.overtakenOutput.push(record),
        },
      );
      writerByExchange.set(exchange.id, writer);
      this.writers.push(writer);
      if (keyOf && exchange.partitioning === 'hash') this.keyedWriters.set(exchange.id, { writer, keyOf, consumerParallelism: consumerTask.parallelism });
    }

    const env = {
      job: this.job,
      fn,
      batch,
      processProgram,
      collector: (name: string) => this.host.collector(plan.operators[0]?.nodeId ?? '', name),
      print: (line: string) => this.host.print(line),
    };
    this.chainParent = plan.operators.map(() => -1);
    plan.operators.forEach((opPlan, index) => {
      for (const targets of Object.values(opPlan.outputs)) for (const target of targets) if (target.kind === 'chained') this.chainParent[target.operator] = index;
    });
    plan.operators.forEach((opPlan, index) => {
      const operator = createOperator(opPlan.type, opPlan.config, { ...env, ...userCodeOf(opPlan.nodeId), collector: (name) => this.host.collector(opPlan.nodeId, name) });
      const ctx = createOperatorContext(
        {
          jobId: this.jobId,
          nodeId: opPlan.nodeId,
          nodeType: opPlan.type,
          subtaskIndex: this.subtaskIndex,
          parallelism: plan.parallelism,
          maxParallelism: this.job.maxParallelism,
          attemptNumber: deployment.attempt,
        },
        {
          processingTime: this.taskProcessingTime(),
          keySelectors: index === 0 ? this.keySelectors : [],
          connectedOutputs: new Set(Object.keys(opPlan.outputs)),
          log: this.host.log,
          keyedBackend: this.job.stateBackend.type === 'rocksdb' ? (range) => this.newRocksBackend(index, opPlan.nodeId, range) : undefined,
          runBatch: (run) => this.runBatch(index, run),
        },
      );
      if (index === 0) this.backend = ctx.keyedBackend;
      this.keyedBackends.push(ctx.stateBackend);
      this.operators.push(operator);
      this.contexts.push(ctx);
    });

    // Outputs, built tail first so that chained targets exist.
    const outputs = this.outputs;
    for (let index = plan.operators.length - 1; index >= 0; index--) {
      const opPlan = plan.operators[index] as ChainedOperatorPlan;
      const counters = this.metrics.operators[index] as OperatorCounters;
      const target = (t: OutputTarget): Target =>
        t.kind === 'chained'
          ? new ChainedTarget(this.operators[t.operator] as AnyOperator, plan.operators[t.operator] as ChainedOperatorPlan, this.metrics.operators[t.operator] as OperatorCounters, this)
          : (writerByExchange.get(t.exchange) as ExchangeWriter);
      const routes = new Map<string, Target[]>();
      for (const [name, targets] of Object.entries(opPlan.outputs)) routes.set(name, targets.map(target));
      outputs[index] = new RoutingOutput(routes, counters);
    }
    plan.operators.forEach((_, index) => {
      (this.operators[index] as AnyOperator).setup(this.contexts[index] as OperatorContext, outputs[index] as Output<unknown>);
    });
    this.buffering = this.operators.flatMap((op, index) => {
      const flush = op.flushBuffered;
      return flush ? [{ nodeId: (plan.operators[index] as ChainedOperatorPlan).nodeId, flush }] : [];
    });
    if (sandbox) this.fusion = new ChainFusion(sandbox, plan.operators, this.operators, outputs, this.metrics.operators);
  }

  /**
   * An operator's batch (OperatorContext.runBatch), timed in full. Per-record samples scale
   * one call in SAMPLE_EVERY up: a call that happened to run a batch of a thousand records
   * would count it SAMPLE_EVERY times, and a call that did not would miss it. So the batch's
   * time goes to its operator and to every operator it is chained behind (their times are
   * inclusive), up to a batch this one runs inside, which counts it already; sampled calls
   * take it out of what they scale up (batchMs).
   */
  private runBatch(operator: number, run: () => void): void {
    const batch = { operator, nested: 0 };
    this.openBatches.push(batch);
    const started = performance.now();
    try {
      run();
    } finally {
      const elapsed = performance.now() - started;
      this.openBatches.pop();
      const outer = this.openBatches[this.openBatches.length - 1];
      const operators = this.metrics.operators;
      for (let o = operator; o >= 0 && o !== outer?.operator; o = this.chainParent[o] ?? -1) (operators[o] as OperatorCounters).inclusiveMs += elapsed;
      this.batchMs += elapsed - batch.nested;
      if (outer) outer.nested += elapsed;
    }
  }

  private taskProcessingTime(): ProcessingTimeService {
    const base = this.host.processingTime;
    return {
      now: () => base.now(),
      schedule: (time, callback) => base.schedule(time, (t) => this.post(() => callback(t))),
    };
  }

  /** Runs the task to the end. Resolves when it finished or was cancelled; rejects with a TaskFailure. */
  async run(): Promise<'finished' | 'cancelled'> {
    let opened = false;
    try {
      if (this.restore?.finished === true) {
        // Finished in the checkpoint it restores (Flink's fully finished operators): its
        // operators do not run again, sources do not emit again; consumers see the end at once.
        this.loopEnded = true;
        await this.endOutputs();
        await this.disposeStateBackends();
        return this.cancelled ? 'cancelled' : 'finished';
      }
      await this.openStateBackends();
      this.initializeState();
      for (let i = this.operators.length - 1; i >= 0; i--) (this.operators[i] as AnyOperator).open();
      opened = true;
      this.replayChannelState();
      const result = await this.loop();
      this.loopEnded = true;
      // Stop-with-savepoint cancels right after the savepoint completed: its notification
      // must still reach the sinks, or their last transactions would wait for a restore.
      // A checkpoint still being written when the input ended is finished too.
      this.runMails((mail) => (result === 'cancelled' && this.notifications.has(mail)) || this.snapshotSlices.has(mail));
      if (result === 'finished') await Promise.allSettled([...this.persisting]);
      this.closeAll();
      await this.disposeStateBackends();
      return result;
    } catch (error) {
      if (opened || this.operators.length > 0) this.closeAll(error);
      await this.disposeStateBackends();
      throw this.describe(error);
    } finally {
      this.sandbox?.dispose();
    }
  }

  private newRocksBackend(index: number, nodeId: string, keyGroupRange: KeyGroupRange): RocksDBKeyedStateBackend {
    const config = this.job.stateBackend;
    const tuning = config.type === 'rocksdb' ? config : undefined;
    const backend = new RocksDBKeyedStateBackend({
      maxParallelism: this.job.maxParallelism,
      keyGroupRange,
      now: () => this.host.processingTime.now(),
      workingDirectory: join(this.localStateDirectory, this.jobId, `attempt-${this.attempt}`, `task-${this.plan.id}-subtask-${this.subtaskIndex}-${nodeId}`),
      syncFiles: this.host.durableWrites !== false,
      ...(tuning
        ? {
            writeBufferBytes: tuning.writeBufferKb * 1024,
            readCacheBytes: tuning.readCacheMb * 1024 * 1024,
            rocksdb: { memtableBytes: tuning.memtableMb * 1024 * 1024, blockCacheBytes: tuning.blockCacheMb * 1024 * 1024 },
          }
        : {}),
    });
    this.rocksBackends[index] = backend;
    return backend;
  }

  /** RocksDB backends open (empty, or from their native checkpoints); native checkpoints for heap backends become canonical snapshots. */
  private async openStateBackends(): Promise<void> {
    for (const [index, opPlan] of this.plan.operators.entries()) {
      const native = this.restore?.operators[opPlan.nodeId]?.nativeKeyed ?? [];
      const rocks = this.rocksBackends[index];
      if (rocks) {
        if (native.length > 0) await rocks.restoreNative(native);
        else await rocks.open();
        continue;
      }
      const backend = (this.contexts[index] as { stateBackend?: KeyedStateBackend }).stateBackend;
      if (native.length > 0 && backend) {
        const snapshot = await canonicalFromNative(native, {
          maxParallelism: this.job.maxParallelism,
          keyGroupRange: backend.keyGroupRange,
          now: () => this.host.processingTime.now(),
          workingDirectory: join(this.localStateDirectory, this.jobId, `attempt-${this.attempt}`, `convert-${this.plan.id}-${this.subtaskIndex}-${opPlan.nodeId}`),
        });
        this.convertedKeyed.set(index, [snapshot]);
      }
    }
  }

  private async disposeStateBackends(): Promise<void> {
    await this.held?.catch(() => undefined);
    const results = await Promise.allSettled(this.rocksBackends.flatMap((b) => (b ? [b.dispose()] : [])));
    for (const r of results) if (r.status === 'rejected') this.host.log.warn('closing a RocksDB state backend failed', { error: String(r.reason) });
  }

  /** Restores each operator from the checkpoint it was deployed with, matched by node id. */
  private initializeState(): void {
    const files = new Map<string, ReturnType<typeof readSnapshotFile>>();
    const read = (file: string) => {
      let data = files.get(file);
      if (!data) files.set(file, (data = readSnapshotFile(file)));
      return data;
    };
    this.plan.operators.forEach((opPlan, index) => {
      const restore = this.restore?.operators[opPlan.nodeId];
      const keyedState = [
        ...(restore?.keyedFiles.flatMap((file) =>
          read(file)
            .operators.filter((o) => o.nodeId === opPlan.nodeId && o.keyedState !== undefined)
            .map((o) => o.keyedState as NonNullable<typeof o.keyedState>),
        ) ?? []),
        ...(this.convertedKeyed.get(index) ?? []),
      ];
      const backend = (this.contexts[index] as { stateBackend?: { restore(s: unknown[]): void } }).stateBackend;
      if (keyedState.length > 0) {
        if (!backend) throw new Error(`operator '${opPlan.nodeId}' has keyed state in the checkpoint but its input is no longer keyed`);
        backend.restore(keyedState);
      }
      (this.operators[index] as AnyOperator).initializeState({
        operatorState: restore?.operatorState,
        keyedState: keyedState.length > 0 ? keyedState : undefined,
      });
    });
  }

  /**
   * In-flight records of an unaligned checkpoint go back into the head first: those this
   * head's old subtasks had received (channel state), then those its producers had not
   * yet published (their output channel state), so each channel keeps its order. A record
   * belongs here if its key is in this subtask's key groups (keyed input), or else if it
   * was in flight to the old subtask this one replaces (index modulo the parallelism).
   */
  private replayChannelState(): void {
    const files = this.restore?.channelStateFiles ?? [];
    if (files.length === 0) return;
    const head = this.plan.operators[0]?.nodeId;
    const range = this.plan.subtasks[this.subtaskIndex]?.keyGroupRange;
    const mine = (input: number, value: unknown, oldSubtask: number): boolean => {
      const selector = this.keySelectors[input];
      return selector && range ? inRange(range, keyGroupOf(selector(value), this.job.maxParallelism)) : oldSubtask % this.plan.parallelism === this.subtaskIndex;
    };
    const data = files.map((file) => readSnapshotFile(file));
    for (const file of data) {
      if (file.operators[0]?.nodeId !== head) continue;
      for (const [input, value, timestamp, kind] of file.channelState ?? []) {
        if (mine(input, value, file.subtaskIndex)) this.handleRecord(input, value, timestamp, kind as RowKind);
      }
    }
    for (const file of data) {
      for (const [consumer, input, oldSubtask, value, timestamp, kind] of file.outputChannelState ?? []) {
        if (consumer === head && mine(input, value, oldSubtask)) this.handleRecord(input, value, timestamp, kind as RowKind);
      }
    }
  }

  /**
   * One key's state in one operator of this chain, read in the mailbox between records
   * (never concurrently with a write, and after a native checkpoint capture settled).
   */
  inspectState(nodeId: string, key: Key): Promise<KeyInspection> {
    return new Promise((resolve, reject) => {
      this.post(() => {
        const index = this.plan.operators.findIndex((o) => o.nodeId === nodeId);
        const backend = this.keyedBackends[index];
        if (!backend) {
          reject(new Error(`node '${nodeId}' has no keyed state in task '${this.plan.name}'`));
          return;
        }
        try {
          // Writes an operator kept back (a sandboxed keyed process function's) go in first.
          this.operators[index]?.syncState?.();
          resolve(backend.inspectKey(key));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  /**
   * A checkpoint starts here (a mail from the coordinator): at a source, or at a subtask
   * whose producers have all ended, where the input gate completes it once every channel
   * delivered the barrier or ended.
   */
  triggerCheckpoint(barrier: Barrier): void {
    this.post(() => {
      if (barrier.id <= this.lastCheckpointId) return;
      if (this.gate) this.gate.trigger(barrier, this);
      else this.checkpoint(barrier, 0);
    });
  }

  notifyCheckpointComplete(checkpointId: number): void {
    const mail = () => {
      for (const op of this.operators) op.notifyCheckpointComplete(checkpointId);
      if (checkpointId === FINAL_CHECKPOINT_ID) this.finalCommitted = true;
      if (this.outputsEnded) this.completedAfterEnd = true;
    };
    this.notifications.add(mail);
    this.post(mail);
  }

  notifyCheckpointAborted(checkpointId: number): void {
    this.post(() => {
      for (const op of this.operators) op.notifyCheckpointAborted(checkpointId);
    });
  }

  /** The doorbell value a credit wait watches for a barrier ahead of the data (see waitFor). */
  private doorbellWatch: number | undefined;
  /** Records that barriers overtook in this subtask's output, collected by the exchange writers until the snapshot takes them. */
  private overtakenOutput: OutputChannelRecord[] = [];
  private readonly outputDecoder = new MessageDecoder();

  /**
   * Barriers overtake queued output only in checkpoints unaligned from their start; with
   * an alignment timeout they travel with the data (the consumer turns unaligned later).
   */
  private barrierOvertakes(barrier: Barrier): boolean {
    const c = this.job.checkpointing;
    return c.mode === 'exactly-once' && c.unaligned && c.alignmentTimeoutMs === 0 && !barrier.savepoint;
  }

  /** With an alignment timeout, barriers travel with the data and may overtake it once the timeout passed. */
  private barrierTimesOut(barrier: Barrier): boolean {
    const c = this.job.checkpointing;
    return c.mode === 'exactly-once' && c.unaligned && c.alignmentTimeoutMs > 0 && !barrier.savepoint;
  }

  /**
   * Checkpoints whose barrier waits behind output queued for credit (alignment timeout):
   * their output channel state is known once each barrier went out or overtook at the timeout.
   */
  private outputDecisions: Array<{ readonly id: number; readonly records: OutputChannelRecord[]; readonly resolve: (records: OutputChannelRecord[]) => void; cancelTimer: () => void }> = [];

  private decideOutput(barrier: Barrier): Promise<OutputChannelRecord[]> {
    return new Promise((resolve) => {
      const decision = { id: barrier.id, records: [] as OutputChannelRecord[], resolve, cancelTimer: () => {} };
      const timedOut = () => {
        for (const writer of this.writers) writer.overtakeQueued(barrier.id, (record) => decision.records.push(record));
        this.settleOutputDecisions();
      };
      this.outputDecisions.push(decision);
      // Measured from the checkpoint's start, as Flink's aligned checkpoint timeout.
      decision.cancelTimer = this.host.processingTime.schedule(barrier.timestamp + this.job.checkpointing.alignmentTimeoutMs, () => this.post(timedOut));
    });
  }

  /** Resolves the decisions whose barriers are all sent (or overtook). */
  private settleOutputDecisions(): void {
    this.outputDecisions = this.outputDecisions.filter((d) => {
      if (this.writers.some((w) => w.holdsBarrier(d.id))) return true;
      d.cancelTimer();
      d.resolve(d.records);
      return false;
    });
  }

  private takeOvertakenOutput(): OutputChannelRecord[] {
    const records = this.overtakenOutput;
    this.overtakenOutput = [];
    return records;
  }

  /** An unaligned checkpoint between its first and last barrier: the snapshot is taken, in-flight records collect. */
  private unaligned:
    | {
        barrier: Barrier;
        operators: PendingOperatorSnapshot[];
        records: Array<readonly [number, unknown, number, number]>;
        output: OutputChannelRecord[];
        syncMs: number;
        captures: Promise<Array<[number, NativeCapture]>> | undefined;
      }
    | undefined;

  startUnalignedCheckpoint(barrier: Barrier): void {
    this.lastCheckpointId = Math.max(this.lastCheckpointId, barrier.id);
    const started = performance.now();
    for (const op of this.operators) op.prepareSnapshotPreBarrier(barrier.id);
    for (const writer of this.writers) writer.barrier(barrier);
    const output = this.takeOvertakenOutput();
    // Unaligned here after the alignment timeout: the barrier overtakes this output at once too.
    if (this.barrierTimesOut(barrier)) for (const writer of this.writers) writer.overtakeQueued(barrier.id, (record) => output.push(record));
    const captures = this.captureNative(barrier);
    this.unaligned = { barrier, operators: this.snapshotOperators(barrier.id, captures !== undefined), records: [], output, syncMs: performance.now() - started, captures };
  }

  recordInFlight(input: number, value: unknown, timestamp: number, kind: RowKind): void {
    this.unaligned?.records.push([input, value, timestamp, kind]);
  }

  completeUnalignedCheckpoint(barrier: Barrier, alignmentMs: number): void {
    const pending = this.unaligned;
    this.unaligned = undefined;
    if (pending?.barrier.id !== barrier.id) return;
    this.persist(barrier, pending.operators, { input: pending.records, output: pending.output }, alignmentMs, pending.syncMs, pending.captures);
  }

  /** Called by the input gate when the barrier arrived on every channel. */
  handleBarrier(barrier: Barrier, alignmentMs: number): void {
    this.checkpoint(barrier, alignmentMs);
  }

  abandonBarrier(id: number): void {
    this.host.declineCheckpoint(id, 'a newer checkpoint overtook it before its barriers were aligned');
  }

  /**
   * Flink's order: operators flush what they buffer (prepareSnapshotPreBarrier), the
   * barrier goes downstream ahead of anything processed later, then the state is
   * copied synchronously. Encoding and writing the file happen off the loop.
   */
  private checkpoint(barrier: Barrier, alignmentMs: number): void {
    this.lastCheckpointId = Math.max(this.lastCheckpointId, barrier.id);
    // Drain: the final watermark travels ahead of the barrier, so downstream operators fire
    // every event-time window and timer before they snapshot.
    if (barrier.stop === true && barrier.drain === true && this.operators[0]?.inputs === 0) (this.outputs[0] as Output<unknown>).emitWatermark(MAX_WATERMARK);
    const started = performance.now();
    for (const op of this.operators) op.prepareSnapshotPreBarrier(barrier.id);
    // After end-of-partition the consumers read nothing more from this subtask; their own trigger starts it there.
    if (!this.outputsEnded) for (const writer of this.writers) writer.barrier(barrier);
    if (barrier.stop === true && this.operators[0]?.inputs === 0) this.suspended = true;
    const captures = this.captureNative(barrier);
    const operators = this.snapshotOperators(barrier.id, captures !== undefined);
    const output = this.barrierTimesOut(barrier) && this.writers.some((w) => w.holdsBarrier(barrier.id)) ? this.decideOutput(barrier) : this.takeOvertakenOutput();
    this.persist(barrier, operators, { input: undefined, output }, alignmentMs, performance.now() - started, captures);
  }

  /**
   * Incremental RocksDB checkpoints (not savepoints: those are canonical) capture each
   * backend's files at the barrier. Until that is done (normally at once; longer when
   * RocksDB must finish a flush or compaction first) the task holds: no input, no mails.
   */
  private captureNative(barrier: Barrier): Promise<Array<[number, NativeCapture]>> | undefined {
    const config = this.job.stateBackend;
    if (config.type !== 'rocksdb' || !config.incremental || barrier.savepoint || !this.rocksBackends.some((b) => b !== undefined)) return undefined;
    const captures = Promise.all(
      this.rocksBackends.flatMap((backend, index) => (backend ? [backend.captureNative().then((capture): [number, NativeCapture] => [index, capture])] : [])),
    );
    const held = captures.then(
      () => undefined,
      () => undefined,
    );
    this.held = held;
    void held.then(() => {
      if (this.held === held) this.held = undefined;
      this.wakeMailbox?.();
    });
    return captures;
  }

  holdsInput(): boolean {
    return this.held !== undefined;
  }

  /**
   * The synchronous part of a snapshot: operator state, and the start of each keyed
   * backend's snapshot (copy-on-write on the heap: only the table structure is copied).
   */
  private snapshotOperators(checkpointId: number, native = false): PendingOperatorSnapshot[] {
    return this.plan.operators.map((opPlan, index) => ({
      nodeId: opPlan.nodeId,
      operatorState: (this.operators[index] as AnyOperator).snapshotState(checkpointId),
      keyedState: native && this.rocksBackends[index] ? undefined : this.keyedBackends[index]?.beginSnapshot(),
    }));
  }

  /**
   * The asynchronous part: keyed snapshots are built and the file encoded in slices of
   * SNAPSHOT_SLICE_MS, each a mail between records, so the task keeps processing.
   */
  private completeSnapshot(
    data: Omit<SubtaskSnapshotData, 'operators'>,
    operators: readonly PendingOperatorSnapshot[],
  ): Promise<{ bytes: Buffer; sha256: string; operators: EncodableOperatorSnapshot[] }> {
    return new Promise((resolve, reject) => {
      let encoder: SnapshotEncoder | undefined;
      let done: EncodableOperatorSnapshot[] | undefined;
      const slice = (sliceMs = SNAPSHOT_SLICE_MS) => {
        try {
          const deadline = performance.now() + sliceMs;
          if (!done) {
            if (!operators.every((o) => o.keyedState?.step(deadline) ?? true)) return later();
            done = operators.map((o) => ({ nodeId: o.nodeId, operatorState: o.operatorState, keyedState: o.keyedState?.encoded?.() ?? o.keyedState?.result() }));
            encoder = new SnapshotEncoder({ ...data, operators: done });
          }
          if (!(encoder as SnapshotEncoder).step(deadline)) return later();
          resolve({ ...(encoder as SnapshotEncoder).finish(), operators: done });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
      const mail = () => slice();
      // setImmediate lets the loop take records between two slices; once the loop ended
      // (a bounded input finished) nothing competes, so the rest is done at once.
      const later = () =>
        void setImmediate(() => {
          if (this.loopEnded) slice(Number.POSITIVE_INFINITY);
          else {
            this.snapshotSlices.add(mail);
            this.post(mail);
          }
        });
      slice();
    });
  }

  private persist(
    barrier: Barrier,
    pending: readonly PendingOperatorSnapshot[],
    inFlight: { input: Array<readonly [number, unknown, number, number]> | undefined; output: OutputChannelRecord[] | Promise<OutputChannelRecord[]> },
    alignmentMs: number,
    syncMs: number,
    captures?: Promise<Array<[number, NativeCapture]>>,
  ): void {
    const file = `${barrier.directory}/task-${this.plan.id}-subtask-${this.subtaskIndex}.state`;
    const asyncStarted = performance.now();
    const native = async (): Promise<Record<string, NativeCheckpointHandle> | undefined> => {
      if (!captures) return undefined;
      const handles: Record<string, NativeCheckpointHandle> = {};
      const list = await captures;
      // The capture time is part of the synchronous phase: the task held for it.
      syncMs += Math.max(0, ...list.map(([, c]) => c.captureMs));
      for (const [index, capture] of list) {
        const nodeId = this.plan.operators[index]?.nodeId ?? String(index);
        handles[nodeId] = await capture.persist(join(barrier.directory, `task-${this.plan.id}-subtask-${this.subtaskIndex}-${nodeId}`), join(barrier.directory, '..', 'shared'));
      }
      return handles;
    };
    const written = Promise.resolve(inFlight.output)
      .then((output) => this.completeSnapshot({ jobId: this.jobId, checkpointId: barrier.id, taskId: this.plan.id, subtaskIndex: this.subtaskIndex, channelState: inFlight.input, outputChannelState: output.length > 0 ? output : undefined }, pending))
      .then(async (encoded) => {
        await this.host.persist(file, encoded.bytes);
        return encoded;
      });
    const acknowledged = Promise.all([written, native()]).then(
      ([{ bytes, sha256, operators }, handles]) =>
        this.host.acknowledgeCheckpoint({
          checkpointId: barrier.id,
          nodes: operators.map((o, index) => ({
            nodeId: o.nodeId,
            states: o.keyedState?.descriptors ?? this.rocksBackends[index]?.stateDescriptors() ?? {},
            hasOperatorState: (o.operatorState?.entries.length ?? 0) > 0,
          })),
          file,
          bytes: bytes.length,
          nativeBytes: Object.values(handles ?? {}).reduce((n, h) => n + h.stats.newSharedBytes + h.stats.privateBytes, 0),
          sha256,
          alignmentMs,
          syncMs,
          asyncMs: performance.now() - asyncStarted,
          native: handles,
        }),
      (error: unknown) => this.host.declineCheckpoint(barrier.id, `cannot write ${file} or its native keyed state: ${error instanceof Error ? error.message : String(error)}`),
    );
    this.persisting.add(acknowledged);
    void acknowledged.finally(() => this.persisting.delete(acknowledged));
  }

  /**
   * Snapshots still being written, whose acknowledgement is not sent yet. A subtask reports
   * 'finished' only after them: finished before its acknowledgement arrived, the coordinator
   * would record it as finished in that checkpoint and drop its state, although it sent the
   * barrier and then more records, which a restore must read again (a bounded Kafka
   * source's last records after its last checkpoint were lost that way).
   */
  private readonly persisting = new Set<Promise<void>>();

  private async loop(): Promise<'finished' | 'cancelled'> {
    const head = this.operators[0] as AnyOperator;
    const source = head.inputs === 0 ? head : undefined;
    let mark = performance.now();
    let sliceEnd = mark + SLICE_MS;
    const account = (kind: 'busyMs' | 'idleMs' | 'backpressuredMs') => {
      const now = performance.now();
      this.metrics[kind] += now - mark;
      mark = now;
    };
    const flushTimeout = this.job.bufferTimeoutMs;
    let lastFlush = this.host.processingTime.now();

    for (;;) {
      if (this.cancelled) return 'cancelled';
      this.loopState = 'running';
      // A native checkpoint is capturing keyed state: nothing may touch it, mails included.
      if (this.held) {
        account('busyMs');
        await this.held;
        account('busyMs');
        continue;
      }
      this.runMails();
      // Output written while processing may have sent a barrier that waited for credit.
      if (this.outputDecisions.length > 0) this.settleOutputDecisions();
      // A checkpoint mail may have started one.
      if (this.holdsInput()) continue;
      // Barriers that overtake data are taken also while the output has no credit: a
      // backpressured subtask checkpoints without first getting rid of its output.
      if (this.gate?.hasPriority() === true) {
        this.gate.readPriority(this);
        if (this.holdsInput()) continue;
      }
      if (this.writers.some((w) => w.blocked)) {
        if (!this.drainWriters()) {
          account('busyMs');
          await this.waitFor('credit');
          account('backpressuredMs');
          continue;
        }
      }
      if (this.suspended) {
        this.flushAll();
        account('busyMs');
        await this.waitFor('input');
        account('idleMs');
        continue;
      }
      const blocked = this.blockedOperator();
      if (blocked) {
        this.flushAll();
        account('busyMs');
        await this.waitForOperator(blocked);
        // Busy, as Flink counts an async sink yielding until its requests complete: the
        // subtask's own work is the bottleneck, not a lack of output credit.
        account('busyMs');
        continue;
      }
      const status = source ? this.pollSource(source) : this.readInput(sliceEnd);
      if (this.buffering.length > 0) this.flushBuffered();
      if (flushTimeout === 0) {
        this.flushAll();
      } else {
        const now = this.host.processingTime.now();
        if (now - lastFlush >= flushTimeout) {
          this.flushAll();
          lastFlush = now;
        }
      }
      if (status === InputStatus.END_OF_INPUT) {
        account('busyMs');
        await this.endOfInput();
        if (this.operators.some((op) => op.hasPendingCommits())) {
          // Stay until a checkpoint taken after the end completed (Flink's final checkpoint)
          // and committed, or the whole job ended (FINAL_CHECKPOINT_ID): a failure before
          // then must replay this subtask's last output, not find it committed. Meanwhile
          // the coordinator starts checkpoints here, as the input has ended.
          this.host.awaitingFinalCommit();
          if (!(await this.waitForFinalCommit())) return 'cancelled';
        }
        return 'finished';
      }
      if (status === InputStatus.MORE_AVAILABLE) {
        if (performance.now() >= sliceEnd) {
          account('busyMs');
          await yieldToEventLoop();
          account('busyMs');
          sliceEnd = performance.now() + SLICE_MS;
        }
        continue;
      }
      this.flushAll();
      lastFlush = this.host.processingTime.now();
      account('busyMs');
      // While a checkpoint aligns, look again soon: its alignment timeout may turn it unaligned.
      await this.waitFor(source ? 'source' : 'input', source, this.gate?.aligning === true ? 5 : undefined);
      account('idleMs');
      sliceEnd = performance.now() + SLICE_MS;
    }
  }

  /** True once everything is committed (by a checkpoint after the end, or the job's end); false if cancelled first. */
  private async waitForFinalCommit(): Promise<boolean> {
    for (;;) {
      this.runMails();
      // Commits are only started by notifications: none pending means a completed checkpoint covered the last output.
      if (!this.operators.some((op) => op.hasPendingCommits())) return true;
      if (this.cancelled) return false;
      // Commits started by a notification may still be on their way (a Kafka transaction).
      await this.waitFor('input', undefined, this.finalCommitted || this.completedAfterEnd ? 20 : 1000);
    }
  }

  /** A promise from the first operator that can take no input now (blockedUntil). */
  private blockedOperator(): Promise<void> | undefined {
    for (const op of this.operators) {
      const blocked = op.blockedUntil?.();
      if (blocked) return blocked;
    }
    return undefined;
  }

  /** Waits until the operator can take input again, or a mail arrives. */
  private waitForOperator(blocked: Promise<void>): Promise<void> {
    this.loopState = 'waiting for an operator to take input (blockedUntil)';
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (this.wakeMailbox === finish) this.wakeMailbox = undefined;
        resolve();
      };
      if (this.mails.length > 0 || this.cancelled) {
        finish();
        return;
      }
      this.wakeMailbox = finish;
      // Through a macrotask: a promise that is already settled must not turn the loop into
      // a chain of microtasks that never lets timers, messages or heartbeats in.
      void blocked.then(() => setImmediate(finish));
    });
  }

  private pollSource(source: SourceOperator): InputStatus {
    const counters = this.metrics.operators[0] as OperatorCounters;
    const before = counters.recordsOut;
    const batches = this.batchMs;
    const started = performance.now();
    const status = source.pollNext(this.sourceBudget);
    const elapsed = performance.now() - started;
    // Batches that ran in the poll are already counted, the source's share included.
    counters.inclusiveMs += elapsed - (this.batchMs - batches);
    counters.recordsIn += counters.recordsOut - before;
    if (elapsed > SLICE_MS) this.sourceBudget = Math.max(1, Math.floor((this.sourceBudget * SLICE_MS) / elapsed));
    else if (this.sourceBudget < STEP_BUDGET && elapsed * 4 < SLICE_MS) this.sourceBudget = Math.min(STEP_BUDGET, this.sourceBudget * 2);
    return status;
  }

  /**
   * Records a source may emit in one poll. A poll runs to its end, so with an expensive
   * operator chained after the source a fixed budget held the worker (mails, checkpoint
   * barriers, the heartbeats of every subtask on it) for the budget times that
   * operator's cost: 6.5 s behind a map of 1 ms per record. The budget starts small,
   * shrinks so that a poll takes about one slice, and doubles back while polls are quick.
   */
  private sourceBudget = INITIAL_SOURCE_BUDGET;

  private readInput(deadline: number): InputStatus {
    const gate = this.gate;
    if (!gate) return InputStatus.END_OF_INPUT;
    return gate.read(STEP_BUDGET, this, deadline);
  }

  /** Called by the input gate for each record. */
  handleRecord(input: number, value: unknown, timestamp: number, kind: RowKind): void {
    this.currentRecord = value;
    const selector = this.keySelectors[input];
    const backend = this.backend;
    if (selector && backend) {
      backend.setCurrentKey(selector(value));
      backend.setCurrentNamespace(VOID_NAMESPACE);
    }
    const counters = this.metrics.operators[0] as OperatorCounters;
    const sampled = (++counters.recordsIn & SAMPLE_MASK) === 0;
    const batches = sampled ? this.batchMs : 0;
    const started = sampled ? performance.now() : 0;
    const head = this.operators[0] as AnyOperator;
    if (head.inputs === 1) head.processElement(value, timestamp, kind);
    else if (head.inputs === 2) {
      if (input === 0) head.processElement1(value, timestamp, kind);
      else head.processElement2(value, timestamp, kind);
    }
    if (sampled) {
      const now = performance.now();
      counters.inclusiveMs += this.headSamples.estimate(now - started - (this.batchMs - batches), now, this.batchMs);
    }
    this.currentRecord = undefined;
  }

  handleWatermark(input: number, watermark: number): void {
    const head = this.operators[0] as AnyOperator;
    (this.metrics.operators[0] as OperatorCounters).watermark = head.inputs === 2 ? Math.min(...this.metrics.inputWatermarks.map((w) => w.watermark)) : watermark;
    if (head.inputs === 1) head.processWatermark(watermark);
    else if (head.inputs === 2) {
      if (input === 0) head.processWatermark1(watermark);
      else head.processWatermark2(watermark);
    }
  }

  handleIdle(input: number, idle: boolean): void {
    const head = this.operators[0] as AnyOperator;
    if (head.inputs === 1) head.processIdle(idle);
    else if (head.inputs === 2) {
      if (input === 0) head.processIdle1(idle);
      else head.processIdle2(idle);
    }
  }

  reportInputWatermarks(marks: TaskMetrics['inputWatermarks']): void {
    this.metrics.inputWatermarks = marks;
  }

  private async endOfInput(): Promise<void> {
    const head = this.operators[0] as AnyOperator;
    // Batch is a bounded stream: the final watermark fires every event-time window and timer.
    if (head.inputs === 0) {
      (this.outputs[0] as Output<unknown>).emitWatermark(MAX_WATERMARK);
    } else if (head.inputs === 1) head.processWatermark(MAX_WATERMARK);
    else {
      head.processWatermark1(MAX_WATERMARK);
      head.processWatermark2(MAX_WATERMARK);
    }
    for (const op of this.operators) op.finish();
    this.runMails();
    await this.endOutputs();
  }

  private async endOutputs(): Promise<void> {
    for (const writer of this.writers) writer.end();
    this.outputsEnded = true;
    while (!this.drainWriters()) {
      if (this.cancelled) return;
      // Mails are not run here: one waiting (a checkpoint trigger) must not end the wait at once, or this loop spins in microtasks and starves the consumers on this worker.
      await this.waitFor('credit', undefined, undefined, true);
    }
  }

  /**
   * Sends what waits for credit on every output. Every writer is drained, not just the
   * ones before the first that stays blocked: waitFor('credit') returns at once while
   * any blocked channel has credit, so a writer left undrained behind another that has
   * none kept the loop spinning in microtasks, and the consumers on the same worker,
   * which would have given that credit, never ran (a key-by feeding two operators hung).
   */
  private drainWriters(): boolean {
    let drained = true;
    for (const writer of this.writers) if (!writer.drain()) drained = false;
    if (this.outputDecisions.length > 0) this.settleOutputDecisions();
    return drained;
  }

  private flushAll(): void {
    for (const writer of this.writers) writer.flush();
  }

  private runMails(only?: (mail: () => void) => boolean): void {
    if (this.mails.length === 0) return;
    while (this.mails.length > 0) {
      const mail = this.mails.shift() as () => void;
      const keep = !only || only(mail);
      this.notifications.delete(mail);
      this.snapshotSlices.delete(mail);
      if (keep) mail();
    }
    if (this.buffering.length > 0) this.flushBuffered();
  }

  /** Batches waiting in operators go on after each step: a record waits at most one step. */
  private flushBuffered(): void {
    for (const { nodeId, flush } of this.buffering) {
      try {
        flush();
      } catch (error) {
        throw error instanceof AttributedError ? error : new AttributedError(nodeId, undefined, error);
      }
    }
  }

  private waitFor(what: 'credit' | 'input' | 'source', source?: SourceOperator, maxMs?: number, mailsWait = false): Promise<void> {
    this.loopState = `waiting for ${what}`;
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (this.wakeMailbox === finish) this.wakeMailbox = undefined;
        resolve();
      };
      if (maxMs !== undefined) setTimeout(finish, maxMs).unref();
      if ((this.mails.length > 0 && !mailsWait) || this.cancelled) {
        finish();
        return;
      }
      this.wakeMailbox = finish;
      if (what === 'source' && source) {
        // As above: a source whose whenAvailable() is already settled must not spin the loop in microtasks.
        void source.whenAvailable().then(() => setImmediate(finish));
        return;
      }
      const bell = what === 'credit' ? this.creditBell : this.doorbell;
      const seen = Atomics.load(bell, 0);
      if (what === 'input' && this.gate?.hasData()) {
        finish();
        return;
      }
      if (what === 'credit' && this.writers.some((w) => w.hasCredit())) {
        finish();
        return;
      }
      if (what === 'credit' && this.gate) {
        // A barrier ahead of the data wakes a subtask that waits for credit, too (the bell
        // is read before the check: a barrier posted in between still changes it).
        const rung = Atomics.load(this.doorbell, 0);
        if (this.gate.hasPriority()) {
          finish();
          return;
        }
        // One watch per bell value wakes whichever wait is current: a subtask that waits for
        // credit many times while its input is quiet must not pile up waiters.
        if (this.doorbellWatch !== rung) {
          this.doorbellWatch = rung;
          const wake = () => {
            if (this.doorbellWatch === rung) this.doorbellWatch = undefined;
            this.wakeMailbox?.();
          };
          const door = Atomics.waitAsync(this.doorbell, 0, rung);
          if (door.async) void door.value.then(wake);
          else wake();
        }
      }
      const waiting = Atomics.waitAsync(bell, 0, seen);
      if (waiting.async) void waiting.value.then(finish);
      else finish();
    });
  }

  private closeAll(cause?: unknown): void {
    for (const op of this.operators) {
      try {
        op.close();
      } catch (error) {
        if (cause === undefined) throw error;
        this.host.log.warn('operator close failed after an earlier failure', { error: String(error) });
      }
    }
  }

  /** Wraps any error with job, operator, subtask, key and record. */
  describe(error: unknown): TaskFailure {
    if (error instanceof TaskFailure) return error;
    const attributed = error instanceof AttributedError ? error : undefined;
    const cause = attributed ? attributed.cause : error;
    const nodeId = (cause instanceof BatchRecordError ? cause.nodeId : undefined) ?? attributed?.nodeId ?? this.plan.operators[0]?.nodeId ?? '?';
    // An error from a batch of user code names the record it failed on, not the one the task was handling.
    const record = cause instanceof BatchRecordError ? cause.record : attributed ? attributed.record : this.currentRecord;
    let key: Key | undefined;
    try {
      key = this.backend?.getCurrentKey();
    } catch {
      key = undefined;
    }
    const message = cause instanceof Error ? cause.message : `a non-Error value was thrown: ${safeJson(cause)}`;
    return new TaskFailure(
      `${message} (job ${this.jobId}, operator '${nodeId}', subtask ${this.subtaskIndex + 1}/${this.plan.parallelism}` +
        `${key !== undefined ? `, key ${JSON.stringify(key)}` : ''}${record !== undefined ? `, record ${safeJson(record)}` : ''})`,
      this.jobId,
      nodeId,
      this.subtaskIndex,
      key,
      record === undefined ? undefined : safeJson(record),
      { cause },
    );
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function safeJson(value: unknown): string {
  try {
    const text = (JSON.stringify(value) as string | undefined) ?? String(value);
    return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
  } catch {
    return String(value);
  }
}

/** An error thrown inside a chained operator, tagged with that operator and its input. */
class AttributedError extends Error {
  constructor(
    readonly nodeId: string,
    readonly record: unknown,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

interface Target {
  collect(value: unknown, timestamp: number, kind: RowKind): void;
  watermark(watermark: number): void;
  idle(idle: boolean): void;
}

class ChainedTarget implements Target {
  private readonly samples = new SampleWindow();
  constructor(
    private readonly operator: AnyOperator,
    private readonly plan: ChainedOperatorPlan,
    private readonly counters: OperatorCounters,
    private readonly task: StreamTask,
  ) {}

  collect(value: unknown, timestamp: number, kind: RowKind): void {
    if ((++this.counters.recordsIn & SAMPLE_MASK) === 0) {
      const batches = this.task.batchMs;
      const started = performance.now();
      this.process(value, timestamp, kind);
      const now = performance.now();
      this.counters.inclusiveMs += this.samples.estimate(now - started - (this.task.batchMs - batches), now, this.task.batchMs);
    } else {
      this.process(value, timestamp, kind);
    }
  }

  private process(value: unknown, timestamp: number, kind: RowKind): void {
    try {
      (this.operator as { processElement(v: unknown, t: number, k: RowKind): void }).processElement(value, timestamp, kind);
    } catch (error) {
      throw error instanceof AttributedError ? error : new AttributedError(this.plan.nodeId, value, error);
    }
  }

  watermark(watermark: number): void {
    this.counters.watermark = watermark;
    try {
      (this.operator as { processWatermark(w: number): void }).processWatermark(watermark);
    } catch (error) {
      throw error instanceof AttributedError ? error : new AttributedError(this.plan.nodeId, undefined, error);
    }
  }

  idle(idle: boolean): void {
    (this.operator as { processIdle(i: boolean): void }).processIdle(idle);
  }

  get taskRef(): StreamTask {
    return this.task;
  }
}

/** Routes an operator's main and side outputs to their targets. */
class RoutingOutput implements Output<unknown> {
  private main: readonly Target[];
  private first: Target | undefined;
  private readonly all: readonly Target[];
  private lastWatermark = MIN_WATERMARK;

  constructor(
    private readonly routes: Map<string, Target[]>,
    private readonly counters: OperatorCounters,
  ) {
    this.main = routes.get('main') ?? [];
    this.first = this.main.length === 1 ? this.main[0] : undefined;
    this.all = [...new Set([...routes.values()].flat())];
  }

  collect(value: unknown, timestamp: number, kind: RowKind = RowKind.INSERT): void {
    this.counters.recordsOut++;
    const first = this.first;
    if (first) {
      first.collect(value, timestamp, kind);
      return;
    }
    for (const target of this.main) target.collect(value, timestamp, kind);
  }

  targetAt(output: string, index: number): Target | undefined {
    return this.routes.get(output)?.[index];
  }

  /** Swaps one target (a record tap's wrapper in or out); watermarks and idleness keep going to the original. */
  replaceTarget(output: string, index: number, target: Target): void {
    const targets = this.routes.get(output);
    if (!targets || index >= targets.length) return;
    targets[index] = target;
    if (output === 'main') {
      this.main = targets;
      this.first = targets.length === 1 ? targets[0] : undefined;
    }
  }

  collectSide(tag: string, value: unknown, timestamp: number): void {
    const targets = this.routes.get(tag);
    if (!targets) return;
    for (const target of targets) target.collect(value, timestamp, RowKind.INSERT);
  }

  emitWatermark(watermark: number): void {
    if (watermark <= this.lastWatermark) return;
    this.lastWatermark = watermark;
    this.counters.outputWatermark = watermark;
    for (const target of this.all) target.watermark(watermark);
  }

  emitIdle(idle: boolean): void {
    for (const target of this.all) target.idle(idle);
  }
}

/** One producer subtask's side of an exchange: batches records per channel and sends them. */
class ExchangeWriter implements Target {
  private readonly encoder = new MessageEncoder({ reuseBuffer: true });
  private readonly pending: Array<{ timestamps: number[]; kinds: number[] | null; values: unknown[] }>;
  private lastWatermark = MIN_WATERMARK;
  private lastIdle = false;

  private selector: ChannelSelector;

  constructor(
    private readonly channels: readonly ChannelWriter[],
    private readonly baseSelector: ChannelSelector,
    readonly partitioning: Partitioning,
    private readonly batchSize = DEFAULT_BATCH,
    private readonly limit?: { readonly maxRecordBytes: number; readonly consumer: string },
    private readonly overtaking?: OvertakingOutput,
  ) {
    this.selector = baseSelector;
    this.pending = channels.map(() => ({ timestamps: [], kinds: null, values: [] }));
  }

  /**
   * The batch's bytes once no record in it is over the limit. A batch no larger than the
   * limit holds no record above it, so records are measured one by one only when a batch
   * is: one comparison per batch otherwise. Measuring packs them over the encoder's reused
   * buffer, so then the bytes returned are a copy.
   */
  private checkRecordSizes(bytes: Uint8Array, values: readonly unknown[]): Uint8Array {
    const limit = this.limit;
    if (!limit || bytes.byteLength <= limit.maxRecordBytes) return bytes;
    const kept = new Uint8Array(bytes);
    const sizer = new Packr({ useRecords: true });
    for (const value of values) {
      const size = sizer.pack(value).byteLength;
      if (size > limit.maxRecordBytes) {
        throw new Error(`a record of ${size} bytes was sent to ${limit.consumer}; the engine's limit is ${limit.maxRecordBytes} bytes per record (limits.maxRecordBytes)`);
      }
    }
    return kept;
  }

  /** A selector that also counts keys (hot keys), or back to the plain one. */
  useSelector(selector: ChannelSelector | undefined): void {
    this.selector = selector ?? this.baseSelector;
  }

  get blocked(): boolean {
    return this.channels.some((c) => c.blocked);
  }

  hasCredit(): boolean {
    return this.channels.some((c) => c.blocked && c.credits() > 0);
  }

  drain(): boolean {
    let done = true;
    for (const c of this.channels) if (!c.drain()) done = false;
    return done;
  }

  collect(value: unknown, timestamp: number, kind: RowKind): void {
    const channel = this.selector.select(value);
    if (channel < 0) {
      for (let c = 0; c < this.channels.length; c++) this.append(c, value, timestamp, kind);
    } else {
      this.append(channel, value, timestamp, kind);
    }
  }

  private append(channel: number, value: unknown, timestamp: number, kind: RowKind): void {
    const batch = this.pending[channel] as { timestamps: number[]; kinds: number[] | null; values: unknown[] };
    if (kind !== RowKind.INSERT && batch.kinds === null) batch.kinds = batch.values.map(() => RowKind.INSERT);
    batch.timestamps.push(timestamp);
    batch.kinds?.push(kind);
    batch.values.push(value);
    if (batch.values.length >= this.batchSize) this.flushChannel(channel);
  }

  private flushChannel(channel: number): void {
    const batch = this.pending[channel] as { timestamps: number[]; kinds: number[] | null; values: unknown[] };
    if (batch.values.length === 0) return;
    const bytes = this.checkRecordSizes(this.encoder.records(batch.timestamps, batch.kinds, batch.values), batch.values);
    batch.timestamps.length = 0;
    batch.values.length = 0;
    batch.kinds = null;
    (this.channels[channel] as ChannelWriter).write(bytes);
  }

  flush(): void {
    for (let c = 0; c < this.channels.length; c++) this.flushChannel(c);
  }

  watermark(watermark: number): void {
    if (watermark <= this.lastWatermark) return;
    this.lastWatermark = watermark;
    this.flush();
    const bytes = this.encoder.watermark(watermark);
    for (const c of this.channels) c.write(bytes);
  }

  idle(idle: boolean): void {
    if (idle === this.lastIdle) return;
    this.lastIdle = idle;
    this.flush();
    const bytes = this.encoder.idle(idle);
    for (const c of this.channels) c.write(bytes);
  }

  end(): void {
    this.flush();
    const bytes = this.encoder.endOfPartition();
    for (const c of this.channels) c.write(bytes);
  }

  describe(): Array<{ credits: number; spilledBytes: number }> {
    return this.channels.map((c) => ({ credits: c.credits(), spilledBytes: c.pendingBytes }));
  }

  /** Barriers of checkpoints with an alignment timeout still queued behind output waiting for credit. */
  private queuedBarriers: Array<{ readonly id: number; readonly channel: number; readonly entry: Uint8Array }> = [];

  barrier(barrier: Barrier): void {
    this.flush();
    // Used before the next pack: the loop below only writes (channels copy what they keep) and decodes.
    const bytes = this.encoder.barrier(barrier);
    const overtaking = this.overtaking?.overtakes(barrier) === true ? this.overtaking : undefined;
    const timesOut = overtaking === undefined && this.overtaking?.overtakesAfterTimeout(barrier) === true;
    this.channels.forEach((c, i) => {
      // An unaligned barrier goes ahead of the queued buffers (FLIP-76). What was not yet
      // published is taken whole into this subtask's checkpoint (and still sent after the
      // barrier); what the ring holds the consumer stores. While the consumer has not taken
      // the previous barrier there is no room ahead: this one queues like data.
      const held = overtaking ? c.unpublished() : [];
      if (!overtaking || !c.writePriority(bytes)) {
        if (!timesOut) {
          c.write(bytes);
          return;
        }
        // Aligned first; it may still overtake what is queued before it once the timeout passed.
        const entry = c.writeEvent(bytes);
        if (entry) this.queuedBarriers.push({ id: barrier.id, channel: i, entry });
        return;
      }
      this.recordOvertaken(held, i, overtaking.record);
    });
  }

  /** Whether a barrier of this checkpoint still waits behind output queued for credit. */
  holdsBarrier(id: number): boolean {
    if (this.queuedBarriers.length === 0) return false;
    this.queuedBarriers = this.queuedBarriers.filter((q) => q.id >= id && (this.channels[q.channel] as ChannelWriter).holds(q.entry));
    return this.queuedBarriers.some((q) => q.id === id);
  }

  /**
   * The checkpoint's alignment timeout passed: its barriers still queued overtake the output
   * before them, which goes to `record` for this subtask's checkpoint (Flink turns such a
   * barrier into a priority event). A barrier partly sent, or behind a priority event the
   * consumer has not taken, goes on with the data.
   */
  overtakeQueued(id: number, record: (record: OutputChannelRecord) => void): void {
    const overtaking = this.overtaking;
    for (const q of this.queuedBarriers) {
      if (q.id !== id || !overtaking) continue;
      const held = (this.channels[q.channel] as ChannelWriter).overtake(q.entry);
      if (held) this.recordOvertaken(held, q.channel, record);
    }
    this.queuedBarriers = this.queuedBarriers.filter((q) => q.id !== id);
  }

  private recordOvertaken(held: readonly Uint8Array[], channel: number, record: (record: OutputChannelRecord) => void): void {
    const overtaking = this.overtaking as OvertakingOutput;
    const subtask = overtaking.consumerSubtasks[channel] ?? channel;
    for (const message of held) {
      const data = overtaking.decoder.decode(message);
      if (data[0] !== MessageType.RECORDS) continue;
      const [, timestamps, kinds, values] = data;
      for (let r = 0; r < values.length; r++) {
        record([overtaking.consumer, overtaking.input, subtask, values[r], timestamps[r] as number, kinds ? (kinds[r] as number) : RowKind.INSERT]);
      }
    }
  }
}

/** Where an exchange's barriers may overtake its queued output, and where the overtaken records go. */
interface OvertakingOutput {
  /** Whether this barrier may overtake (an unaligned checkpoint from its start). */
  readonly overtakes: (barrier: Barrier) => boolean;
  /** Whether it may overtake once the checkpoint's alignment timeout passed. */
  readonly overtakesAfterTimeout: (barrier: Barrier) => boolean;
  /** The consumer task's head node and input, and the consumer subtask of each channel. */
  readonly consumer: string;
  readonly input: number;
  readonly consumerSubtasks: readonly number[];
  readonly decoder: MessageDecoder;
  readonly record: (record: OutputChannelRecord) => void;
}
