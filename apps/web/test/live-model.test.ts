import type { InputTelemetry, MetricsFrame, OperatorTelemetry, SubtaskTelemetry } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';
import { applyFrame, backpressureLevel, explainWatermark, formatWatermark, HISTORY_LENGTH, NO_FIGURES, subtaskRows } from '../src/engine/live-model';
import { createLiveStore } from '../src/engine/live-store';

function op(nodeId: string, patch: Partial<OperatorTelemetry> = {}): OperatorTelemetry {
  return {
    nodeId,
    name: nodeId,
    type: 'map',
    taskId: 0,
    parallelism: 1,
    recordsIn: 0,
    recordsOut: 0,
    recordsInPerSecond: 100,
    recordsOutPerSecond: 100,
    busyMsPerSecond: { avg: 100, max: 100 },
    taskBusyMsPerSecond: { avg: 100, max: 100 },
    idleMsPerSecond: { avg: 900, max: 900 },
    backpressuredMsPerSecond: { avg: 0, max: 0 },
    inputWatermark: 1_000,
    outputWatermark: 1_000,
    eventTimeLagMs: 500,
    holdingBack: null,
    idle: false,
    lateRecordsDropped: null,
    lateRecordsRouted: null,
    ...patch,
  };
}

function input(index: number, name: string, watermark: InputTelemetry['watermark'], idle: boolean, from?: string): InputTelemetry {
  return {
    input: index,
    inputName: name,
    watermark,
    idle,
    holdingBack: from === undefined ? null : { nodeId: from, subtask: 0, parallelism: 1, edgeIds: [`e-${from}`], exchange: index, description: `subtask 1/1 of '${from}' (edge e-${from})` },
  };
}

function subtask(index: number, inputs: InputTelemetry[], nodeIds: string[]): SubtaskTelemetry {
  return {
    subtask: index,
    sampleAgeMs: 50,
    busyMsPerSecond: 100,
    idleMsPerSecond: 600,
    backpressuredMsPerSecond: 300,
    inputs,
    operators: nodeIds.map((nodeId) => ({
      nodeId,
      recordsIn: 10,
      recordsOut: 10,
      recordsInPerSecond: 5,
      recordsOutPerSecond: 5,
      busyMsPerSecond: 100,
      inputWatermark: 1_000,
      outputWatermark: 1_000,
      eventTimeLagMs: 10,
      lateRecordsDropped: 2,
      lateRecordsRouted: null,
    })),
  };
}

function frame(operators: OperatorTelemetry[], at = 10_000, tasks: MetricsFrame['tasks'] = []): MetricsFrame {
  return { jobId: 'j1', status: 'running', at, operators, tasks };
}

describe('backpressure levels', () => {
  it('follow Flink: OK up to 10 %, LOW up to 50 %, HIGH above', () => {
    expect([0, 0.1, 0.1001, 0.5, 0.5001, 1].map(backpressureLevel)).toEqual(['ok', 'ok', 'low', 'low', 'high', 'high']);
  });

  it('colour a node by its worst subtask', () => {
    const figures = applyFrame(NO_FIGURES, frame([op('a', { backpressuredMsPerSecond: { avg: 80, max: 600 } })]));
    expect(figures.overlays.get('a')).toMatchObject({ level: 'high', backpressured: 0.6 });
  });
});

describe('applying telemetry frames', () => {
  it('keeps the overlay object of a node whose figures look the same, and replaces the one that changed', () => {
    const first = applyFrame(NO_FIGURES, frame([op('a'), op('b')]));
    // 100.2 prints as 100: the same overlay; b's rate doubled.
    const second = applyFrame(first, frame([op('a', { recordsInPerSecond: 100.2 }), op('b', { recordsInPerSecond: 200 })], 11_000));
    expect(second.overlays.get('a')).toBe(first.overlays.get('a'));
    expect(second.overlays.get('b')).not.toBe(first.overlays.get('b'));
    expect(second.overlays.get('b')?.inPerSecond).toBe(200);
  });

  it('keeps the whole overlay map when nothing visible changed, so no node re-renders', () => {
    const first = applyFrame(NO_FIGURES, frame([op('a'), op('b')]));
    const second = applyFrame(first, frame([op('a'), op('b')], 11_000));
    expect(second.overlays).toBe(first.overlays);
    // The history still grows: the charts show every second.
    expect(second.history.get('a')?.at).toEqual([10_000, 11_000]);
  });

  it('keeps the last minute of history per node', () => {
    let figures = NO_FIGURES;
    for (let t = 0; t < HISTORY_LENGTH + 5; t++) figures = applyFrame(figures, frame([op('a', { recordsInPerSecond: t })], t * 1000));
    const history = figures.history.get('a');
    expect(history?.inPerSecond).toHaveLength(HISTORY_LENGTH);
    expect(history?.inPerSecond[HISTORY_LENGTH - 1]).toBe(HISTORY_LENGTH + 4);
    expect(history?.inPerSecond[0]).toBe(5);
  });

  it('sums late records dropped and routed, and shows none for operators that do not count them', () => {
    const figures = applyFrame(NO_FIGURES, frame([op('w', { lateRecordsDropped: 3, lateRecordsRouted: 4 }), op('m')]));
    expect(figures.overlays.get('w')?.late).toBe(7);
    expect(figures.overlays.get('m')?.late).toBeNull();
  });
});

describe('the live store', () => {
  it('takes frames of the attached job only, one update per frame', () => {
    const store = createLiveStore();
    const job = { id: 'j1', status: 'running' } as Parameters<ReturnType<typeof store.getState>['attached']>[0];
    store.getState().attached(job);
    let updates = 0;
    store.subscribe(() => updates++);
    store.getState().frameArrived({ ...frame([op('a'), op('b')]), jobId: 'other' });
    expect(updates).toBe(0);
    store.getState().frameArrived(frame([op('a'), op('b')]));
    expect(updates).toBe(1);
    expect(store.getState().figures.overlays.size).toBe(2);
    store.getState().detached();
    expect(store.getState().figures.overlays.size).toBe(0);
  });
});

describe('the watermark debugger', () => {
  const union = op('u', {
    inputWatermark: 1_000,
    holdingBack: { nodeId: 'quiet', subtask: 0, parallelism: 1, edgeIds: ['e2'], exchange: 1, description: "subtask 1/1 of 'quiet' (edge e2)" },
  });

  it('names the input that holds the watermark back, per subtask, and flags idle inputs', () => {
    const tasks = [{ taskId: 2, name: 'u', nodeIds: ['u', 'after'], subtasks: [subtask(0, [input(0, 'busy-in', 5_000, false, 'busy'), input(1, 'quiet-in', 1_000, false, 'quiet'), input(2, 'idle-in', 0, true)], ['u', 'after'])] }];
    const explanation = explainWatermark(frame([union], 10_000, tasks), 'u');
    expect(explanation.kind).toBe('inputs');
    if (explanation.kind !== 'inputs') return;
    expect(explanation.holdingBack?.description).toBe("subtask 1/1 of 'quiet' (edge e2)");
    expect(explanation.slowestSubtask).toBe(0);
    const rows = explanation.subtasks[0]?.inputs ?? [];
    // The idle input has the smallest watermark, but idle inputs do not count.
    expect(rows.map((r) => [r.inputName, r.limiting, r.idle])).toEqual([
      ['busy-in', false, false],
      ['quiet-in', true, false],
      ['idle-in', false, true],
    ]);
    expect(explanation.subtasks[0]?.watermark).toBe(1_000);
  });

  it('picks the slowest subtask, and ignores subtasks whose inputs are all idle', () => {
    const tasks = [
      {
        taskId: 2,
        name: 'u',
        nodeIds: ['u'],
        subtasks: [subtask(0, [input(0, 'in', 4_000, false, 'src')], []), subtask(1, [input(0, 'in', 2_000, false, 'src')], []), subtask(2, [input(0, 'in', 100, true)], [])],
      },
    ];
    const explanation = explainWatermark(frame([union], 10_000, tasks), 'u');
    expect(explanation.kind === 'inputs' && explanation.slowestSubtask).toBe(1);
    expect(explanation.kind === 'inputs' && explanation.subtasks[2]?.idle).toBe(true);
  });

  it('explains a chained operator by the operator before it, and a source by its own records', () => {
    const tasks = [{ taskId: 2, name: 'u → after', nodeIds: ['u', 'after'], subtasks: [] }];
    expect(explainWatermark(frame([union, op('after')], 10_000, tasks), 'after')).toMatchObject({ kind: 'chained', upstream: 'u' });
    expect(explainWatermark(frame([op('src', { inputWatermark: null, outputWatermark: 7 })]), 'src')).toMatchObject({ kind: 'source', watermark: 7 });
    expect(explainWatermark(frame([]), 'key-by')).toEqual({ kind: 'unknown' });
  });

  it('never shows a bare number: no watermark and the end of input are said in words', () => {
    expect(formatWatermark('-Infinity')).toBe('No watermark');
    expect(formatWatermark('+Infinity')).toBe('end of input');
    expect(formatWatermark(0)).toBe('1970-01-01 00:00:00.000 UTC');
  });
});

describe('per-subtask rows', () => {
  it('take the operator figures of its subtask and the chain figures of its task', () => {
    const tasks = [{ taskId: 1, name: 'm', nodeIds: ['m'], subtasks: [subtask(0, [], ['m']), subtask(1, [], ['m'])] }];
    const rows = subtaskRows(frame([op('m')], 10_000, tasks), 'm');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ subtask: 1, inPerSecond: 5, busy: 0.1, idle: 0.6, backpressured: 0.3, level: 'low', late: 2 });
  });
});
