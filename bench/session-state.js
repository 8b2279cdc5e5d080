// Issue target: session windows with 1M keys stay within 1 KB of state per key.
// One open session per key (gap 30 min, one element each), measured as heap growth in
// one thread after a full GC: state, timers and the operator's bookkeeping included.
import v8 from 'node:v8';
import vm from 'node:vm';
import { OneInputHarness, WindowOperator } from '@sluice/operators';
import { report } from './lib.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const KEYS = Number(process.env.SLUICE_BENCH_SESSION_KEYS ?? 1_000_000);

export async function run() {
  const operator = new WindowOperator(
    {
      assigner: { kind: 'session', gapMs: 30 * 60_000 },
      timeCharacteristic: 'event-time',
      allowedLatenessMs: 0,
      trigger: { kind: 'default', purging: false },
      function: { kind: 'aggregations', aggregations: [{ op: 'count' }, { op: 'sum', field: 'amount', as: 'total' }] },
    },
    () => {
      throw new Error('no user code here');
    },
  );
  const harness = new OneInputHarness(operator, { keySelector: (e) => e.user }).open();
  const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < KEYS; i++) harness.processElement({ user: keys[i], amount: i % 100 }, 1_700_000_000_000 + i);
  gc();
  const after = process.memoryUsage().heapUsed;
  const perKey = (after - before) / KEYS;
  report({ bench: 'session-state', metric: 'bytes_per_key', value: Math.round(perKey), unit: 'B', runs: 1, stat: 'single', keys: KEYS, entries: harness.ctx.heapBackend?.size().entries });
  // Keep everything alive until measured.
  if (harness.records().length !== 0) throw new Error('no session should have fired');
}
