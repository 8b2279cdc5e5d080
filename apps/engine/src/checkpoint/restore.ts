/**
 * Restoring a checkpoint or savepoint into a (possibly edited) graph, matching state to
 * nodes by id, the operator uid:
 *
 *   restored      the node exists in both and its state fits
 *   new           the node has no state in the checkpoint: it starts empty
 *   dropped       the checkpoint has state for a node the graph no longer has: an error
 *                 unless allowNonRestoredState is set
 *   incompatible  the node's type, the kind of one of its states, or the number of key
 *                 groups changed: an error naming the node and the state
 *
 * Keyed state is redistributed by key group (each new subtask reads the files holding
 * the node's state and keeps its own key groups); list state in 'split' mode is spread
 * evenly over the new subtasks (each subtask gets its own entries back when the
 * parallelism did not change), and in 'union' mode every subtask gets all of it.
 *
 * Finished subtasks (checkpoints after tasks finished) left no state. A node all of whose
 * subtasks had finished is fully finished: its new subtasks only end their outputs. At the
 * same parallelism a subtask that had finished stays finished; otherwise the running
 * subtasks' state is redistributed as usual (a source's finished splits are not in it).
 */
import { join } from 'node:path';
import type { ValidatedGraph, ValidatedNode } from '@sluice/graph-model';
import type { ExecutionPlan } from '../compile/plan.js';
import { readSnapshotFile } from '../runtime/state-files.js';
import type { SubtaskRestore } from '../runtime/task.js';
import { resolveHandle, type NativeCheckpointHandle } from '../state/rocksdb/index.js';
import type { StoredCheckpoint } from './storage.js';

export type RestoreStatus = 'restored' | 'new' | 'dropped' | 'incompatible';

export interface RestorePlanEntry {
  readonly nodeId: string;
  readonly status: RestoreStatus;
  /** State names involved (restored, dropped or incompatible). */
  readonly states: readonly string[];
  readonly reason?: string;
}

export interface RestorePlan {
  readonly checkpointId: number;
  readonly savepoint: boolean;
  readonly entries: readonly RestorePlanEntry[];
  /** Problems that stop the restore (incompatible state, or dropped state without allowNonRestoredState). */
  readonly problems: readonly string[];
}

/** The state kinds an operator config will use, where the engine can tell before running it. */
function expectedStates(node: ValidatedNode): Record<string, string> | undefined {
  const config = node.config as { states?: Array<{ name: string; kind: string }>; function?: { kind: string } };
  if (Array.isArray(config.states)) return Object.fromEntries(config.states.map((s) => [s.name, s.kind]));
  if (node.definition.category === 'window' && config.function) {
    const kind = config.function.kind === 'process' ? 'list' : config.function.kind === 'reduce' ? 'reducing' : 'aggregating';
    return { 'window-contents': kind };
  }
  return undefined;
}

export function planRestore(stored: StoredCheckpoint, graph: ValidatedGraph, allowNonRestoredState: boolean): RestorePlan {
  const { metadata } = stored;
  const entries: RestorePlanEntry[] = [];
  const problems: string[] = [];
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  for (const old of metadata.nodes) {
    const stateNames = Object.keys(old.states);
    const hasState = stateNames.length > 0 || old.hasOperatorState;
    const node = byId.get(old.nodeId);
    if (!node) {
      if (!hasState) continue;
      const entry: RestorePlanEntry = {
        nodeId: old.nodeId,
        status: 'dropped',
        states: stateNames,
        reason: `the checkpoint has state for '${old.nodeId}' (${old.type}), which the graph no longer has`,
      };
      entries.push(entry);
      if (!allowNonRestoredState) problems.push(`${entry.reason}; set allowNonRestoredState to drop it`);
      continue;
    }
    if (!hasState) {
      entries.push({ nodeId: node.id, status: 'new', states: [] });
      continue;
    }
    if (node.definition.type !== old.type) {
      const reason = `'${node.id}' was a ${old.type} and is now a ${node.definition.type}; its state cannot carry over`;
      entries.push({ nodeId: node.id, status: 'incompatible', states: stateNames, reason });
      problems.push(reason);
      continue;
    }
    if (stateNames.length > 0 && metadata.maxParallelism !== graph.job.maxParallelism) {
      const reason = `'${node.id}' has keyed state in ${metadata.maxParallelism} key groups, but the job now has maxParallelism ${graph.job.maxParallelism}`;
      entries.push({ nodeId: node.id, status: 'incompatible', states: stateNames, reason });
      problems.push(reason);
      continue;
    }
    const expected = expectedStates(node);
    const changed = expected ? stateNames.filter((name) => expected[name] !== undefined && expected[name] !== old.states[name]?.kind) : [];
    if (changed.length > 0) {
      const reason = changed.map((name) => `state '${name}' of '${node.id}' was ${old.states[name]?.kind ?? '?'} state and is now ${expected?.[name] ?? '?'} state`).join('; ');
      entries.push({ nodeId: node.id, status: 'incompatible', states: changed, reason });
      problems.push(reason);
      continue;
    }
    entries.push({ nodeId: node.id, status: 'restored', states: stateNames });
  }
  const known = new Set(metadata.nodes.map((n) => n.nodeId));
  for (const node of graph.nodes) {
    if (!known.has(node.id) && node.definition.keysStream !== true) entries.push({ nodeId: node.id, status: 'new', states: [] });
  }
  return { checkpointId: metadata.checkpointId, savepoint: metadata.savepoint, entries, problems };
}

/** What each new subtask restores. Reads the state files once (operator state is small; keyed state stays in the files). */
export function subtaskRestores(stored: StoredCheckpoint, plan: ExecutionPlan): (taskId: number, subtaskIndex: number) => SubtaskRestore {
  const { metadata, directory } = stored;
  // nodeId → old subtask index (order) → { mode, entries }
  const listState = new Map<string, Array<{ subtask: number; mode: 'split' | 'union'; entries: readonly unknown[] }>>();
  const keyedFiles = new Map<string, string[]>();
  const nativeKeyed = new Map<string, NativeCheckpointHandle[]>();
  // Head node id → files with records in flight to it in unaligned checkpoints.
  const channelFiles = new Map<string, string[]>();
  const oldParallelism = new Map(metadata.nodes.map((n) => [n.nodeId, n.parallelism]));
  for (const handle of metadata.subtasks) {
    for (const [nodeId, native] of Object.entries(handle.native ?? {})) {
      const list = nativeKeyed.get(nodeId) ?? [];
      list.push(resolveHandle(native, directory));
      nativeKeyed.set(nodeId, list);
    }
    const path = join(directory, handle.file);
    const data = readSnapshotFile(path);
    const head = data.operators[0]?.nodeId;
    // In-flight records go to the head they were travelling to: this file's own head
    // (input side) and the consumers of the output its barriers overtook.
    const consumers = new Set((data.outputChannelState ?? []).map((record) => record[0]));
    if (head !== undefined && (data.channelState?.length ?? 0) > 0) consumers.add(head);
    for (const consumer of consumers) {
      const files = channelFiles.get(consumer) ?? [];
      files.push(path);
      channelFiles.set(consumer, files);
    }
    for (const op of data.operators) {
      if (op.keyedState && op.keyedState.keyGroups.length > 0) {
        const files = keyedFiles.get(op.nodeId) ?? [];
        files.push(path);
        keyedFiles.set(op.nodeId, files);
      }
      if (op.operatorState) {
        const list = listState.get(op.nodeId) ?? [];
        list.push({ subtask: handle.subtaskIndex, mode: op.operatorState.mode, entries: op.operatorState.entries });
        listState.set(op.nodeId, list);
      }
    }
  }
  const shares = new Map<string, (subtask: number) => readonly unknown[] | undefined>();
  for (const task of plan.tasks) {
    for (const op of task.operators) {
      const parts = listState.get(op.nodeId);
      if (!parts) continue;
      parts.sort((a, b) => a.subtask - b.subtask);
      const union = parts.some((p) => p.mode === 'union');
      if (union) {
        // Flink's union list state: every subtask gets the entries of all old subtasks (a
        // Kafka source picks the offsets of its partitions; broadcast state takes one copy).
        const all = parts.flatMap((p) => p.entries);
        shares.set(op.nodeId, () => all);
      } else if (oldParallelism.get(op.nodeId) === task.parallelism) {
        shares.set(op.nodeId, (subtask) => parts.find((p) => p.subtask === subtask)?.entries ?? []);
      } else {
        const all = parts.flatMap((p) => p.entries);
        const n = task.parallelism;
        shares.set(op.nodeId, (subtask) => all.slice(Math.floor((subtask * all.length) / n), Math.floor(((subtask + 1) * all.length) / n)));
      }
    }
  }
  const finishedOf = new Map(metadata.nodes.map((n) => [n.nodeId, { parallelism: n.parallelism, finished: new Set(n.finishedSubtasks ?? []) }]));
  /** Whether a node's new subtask had finished: all of the node's old subtasks did, or this one at an unchanged parallelism. */
  const nodeFinished = (nodeId: string, parallelism: number, subtaskIndex: number): boolean => {
    const old = finishedOf.get(nodeId);
    if (!old || old.finished.size === 0) return false;
    return old.finished.size === old.parallelism || (old.parallelism === parallelism && old.finished.has(subtaskIndex));
  };
  return (taskId, subtaskIndex) => {
    const task = plan.tasks[taskId];
    const chain = task?.operators ?? [];
    const finished = chain.map((op) => nodeFinished(op.nodeId, task?.parallelism ?? 0, subtaskIndex));
    if (finished.length > 0 && finished.every(Boolean)) return { checkpointId: metadata.checkpointId, operators: {}, finished: true };
    const done = chain.filter((_, i) => finished[i]).map((op) => `'${op.nodeId}'`);
    if (done.length > 0) {
      // A finished source would emit again, a finished operator would see input twice (Flink refuses such a chain too).
      throw new Error(
        `cannot restore checkpoint ${metadata.checkpointId}: subtask ${subtaskIndex + 1} of task '${task?.name ?? taskId}' chains ${done.join(', ')}, which had finished, ` +
          `with ${chain.filter((_, i) => !finished[i]).map((op) => `'${op.nodeId}'`).join(', ')}, which had not; keep finished nodes in chains of their own`,
      );
    }
    const operators: Record<string, SubtaskRestore['operators'][string]> = {};
    for (const op of task?.operators ?? []) {
      const share = shares.get(op.nodeId);
      const files = keyedFiles.get(op.nodeId) ?? [];
      const native = nativeKeyed.get(op.nodeId) ?? [];
      if (!share && files.length === 0 && native.length === 0) continue;
      operators[op.nodeId] = { operatorState: share ? share(subtaskIndex) : undefined, keyedFiles: files, nativeKeyed: native };
    }
    const head = task?.operators[0]?.nodeId;
    const channelStateFiles = head !== undefined ? channelFiles.get(head) : undefined;
    return { checkpointId: metadata.checkpointId, operators, ...(channelStateFiles ? { channelStateFiles } : {}) };
  };
}
