/**
 * The web part of the Kafka admin: the topic picker's model (which fields get
 * engine suggestions, the engine's topic list as picker entries, the config it is
 * asked with) and the live rows of a Kafka source's partitions and a Kafka sink's
 * open transactions, from telemetry frames.
 */
import { getOperator } from '@sluice/graph-model';
import type { MetricsFrame, SplitTelemetry, SubtaskTelemetry, TransactionTelemetry } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { EngineClient } from '../src/engine/engine-client';
import { configWithDefaults, engineNotReady, suggestionSource, topicSuggestions } from '../src/engine/field-suggestions';
import { splitRows, totalLag, transactionRows } from '../src/engine/live-model';
import { formSpecOf, type ObjectSpec } from '../src/model/form-spec';

function objectSpec(type: string): ObjectSpec {
  const definition = getOperator(type);
  if (!definition) throw new Error(`no operator ${type}`);
  const spec = formSpecOf(definition.configSchema);
  if (spec.kind !== 'object') throw new Error(`${type} config is not an object`);
  return spec;
}

describe('topic picker model', () => {
  it('offers engine suggestions for the topic of Kafka sources and sinks only', () => {
    expect(suggestionSource('kafka-source', 'config.topic')?.noun).toBe('topic');
    expect(suggestionSource('kafka-sink', 'config.topic')).toBe(suggestionSource('kafka-source', 'config.topic'));
    expect(suggestionSource('kafka-source', 'config.groupId')).toBeUndefined();
    expect(suggestionSource('file-sink', 'config.topic')).toBeUndefined();
  });

  it('lists topics with their partition counts, in the order the engine sorted them', () => {
    expect(
      topicSuggestions({
        bootstrapServers: '127.0.0.1:9092',
        topics: [
          { name: 'clicks', partitions: 1 },
          { name: 'orders', partitions: 8 },
        ],
      }),
    ).toEqual([
      { value: 'clicks', detail: '1 partition' },
      { value: 'orders', detail: '8 partitions' },
    ]);
    expect(topicSuggestions({ bootstrapServers: '127.0.0.1:9092', topics: [] })).toEqual([]);
  });

  it('refuses an answer that is not a topic list, naming what is wrong', () => {
    expect(() => topicSuggestions({ error: 'x' })).toThrow('without a topics list');
    expect(() => topicSuggestions(undefined)).toThrow('without a topics list');
    expect(() => topicSuggestions({ topics: [{ name: 'a', partitions: 1 }, { name: 'b' }] })).toThrow('topics[1] that is not { name, partitions }');
  });

  it('asks with the bootstrap servers the form shows, its default when the field is not set', () => {
    const source = suggestionSource('kafka-source', 'config.topic');
    const unset = configWithDefaults(objectSpec('kafka-source'), { topic: 'input' });
    expect(unset['bootstrapServers']).toBe('127.0.0.1:9092');
    expect(source?.describe(unset)).toBe('the Kafka cluster at 127.0.0.1:9092');
    const set = configWithDefaults(objectSpec('kafka-sink'), { topic: 'out', bootstrapServers: '10.0.0.1:9092,10.0.0.2:9092' });
    expect(source?.describe(set)).toBe('the Kafka cluster at 10.0.0.1:9092,10.0.0.2:9092');
    expect(configWithDefaults(objectSpec('kafka-sink'), undefined)['semantics']).toBe('at-least-once');
  });

  it('says why the engine cannot be asked when none is connected', () => {
    const client = new EngineClient('http://127.0.0.1:1');
    expect(engineNotReady({ kind: 'online', url: 'http://127.0.0.1:1', version: '0' }, client)).toBeNull();
    expect(engineNotReady({ kind: 'offline', url: 'http://127.0.0.1:1', reason: 'the engine at http://127.0.0.1:1 does not answer' }, client)).toBe(
      'no engine connected: the engine at http://127.0.0.1:1 does not answer',
    );
    expect(engineNotReady({ kind: 'connecting', url: undefined }, undefined)).toMatch(/^no engine connected yet/);
    expect(engineNotReady({ kind: 'online', url: 'http://127.0.0.1:1', version: '0' }, undefined)).toMatch(/^no engine connected yet/);
  });
});

function sub(index: number, patch: Partial<SubtaskTelemetry>): SubtaskTelemetry {
  return { subtask: index, sampleAgeMs: 10, busyMsPerSecond: 0, idleMsPerSecond: 1000, backpressuredMsPerSecond: 0, inputs: [], operators: [], ...patch };
}

function split(name: string, patch: Partial<SplitTelemetry> = {}): SplitTelemetry {
  return { split: name, watermark: 1_000, idle: false, lastRecordAgeMs: 20, ...patch };
}

function tx(nodeId: string, id: string, ageMs: number, phase: TransactionTelemetry['phase'] = 'open'): TransactionTelemetry {
  return { nodeId, transactionalId: id, records: 5, ageMs, phase };
}

function frame(tasks: MetricsFrame['tasks']): MetricsFrame {
  return { jobId: 'j', at: 10_000, status: 'running', operators: [], tasks };
}

describe('Kafka live rows', () => {
  const kafka = frame([
    {
      taskId: 0,
      name: 'source -> map',
      nodeIds: ['source', 'map'],
      subtasks: [
        sub(1, { splits: [split('orders-1', { lag: 7 }), split('orders-3', { idle: true, lastRecordAgeMs: 65_000, lag: 0 })] }),
        sub(0, { splits: [split('orders-0', { lag: null, lastRecordAgeMs: null, watermark: '-Infinity' }), split('orders-2', { lag: 120 })] }),
      ],
    },
    {
      taskId: 1,
      name: 'out -> audit',
      nodeIds: ['window', 'out', 'audit'],
      subtasks: [
        sub(0, { transactions: [tx('out', 'sluice-j-out-g0-s0-1', 300, 'pre-committed'), tx('audit', 'sluice-j-audit-g0-s0-0', 9_000), tx('out', 'sluice-j-out-g0-s0-2', 40)] }),
        sub(1, { transactions: [tx('out', 'sluice-j-out-g0-s1-1', 2_500, 'committing')] }),
        sub(2, {}),
      ],
    },
  ]);

  it('lists each partition of a source with watermark, idle flag, last record age and consumer lag, by subtask', () => {
    const rows = splitRows(kafka, 'source');
    expect(rows.map((r) => [r.subtask, r.split])).toEqual([
      [0, 'orders-0'],
      [0, 'orders-2'],
      [1, 'orders-1'],
      [1, 'orders-3'],
    ]);
    expect(rows[0]).toEqual({ subtask: 0, split: 'orders-0', watermark: '-Infinity', idle: false, lastRecordAgeMs: null, lag: null });
    expect(rows[3]).toEqual({ subtask: 1, split: 'orders-3', watermark: 1_000, idle: true, lastRecordAgeMs: 65_000, lag: 0 });
  });

  it('sums the known consumer lag and says unknown while no partition has one', () => {
    expect(totalLag(splitRows(kafka, 'source'))).toBe(127);
    expect(totalLag([{ subtask: 0, split: 'a-0', watermark: 0, idle: false, lastRecordAgeMs: null, lag: null }])).toBeNull();
    expect(totalLag([])).toBeNull();
  });

  it('gives a chained operator behind the source no partitions (splits are the head source\'s)', () => {
    expect(splitRows(kafka, 'map')).toEqual([]);
    expect(splitRows(kafka, 'missing')).toEqual([]);
  });

  it('treats a source without an end as having no lag figure', () => {
    const bounded = frame([{ taskId: 0, name: 'gen', nodeIds: ['gen'], subtasks: [sub(0, { splits: [split('0')] })] }]);
    expect(splitRows(bounded, 'gen')[0]?.lag).toBeNull();
  });

  it('lists only this sink\'s open transactions, oldest first, with records, age and phase', () => {
    expect(transactionRows(kafka, 'out')).toEqual([
      { subtask: 1, transactionalId: 'sluice-j-out-g0-s1-1', records: 5, ageMs: 2_500, phase: 'committing' },
      { subtask: 0, transactionalId: 'sluice-j-out-g0-s0-1', records: 5, ageMs: 300, phase: 'pre-committed' },
      { subtask: 0, transactionalId: 'sluice-j-out-g0-s0-2', records: 5, ageMs: 40, phase: 'open' },
    ]);
    expect(transactionRows(kafka, 'audit').map((r) => r.transactionalId)).toEqual(['sluice-j-audit-g0-s0-0']);
    expect(transactionRows(kafka, 'window')).toEqual([]);
    expect(transactionRows(kafka, 'source')).toEqual([]);
  });
});
