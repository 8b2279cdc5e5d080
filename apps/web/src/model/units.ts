/** Durations as people read them: 60000 → "1 min", 90000 → "1 min 30 s", 1500 → "1.5 s". */
const UNITS: ReadonlyArray<readonly [number, string]> = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
  [1, 'ms'],
];

/** From here on (about 1973) a number of ms is surely a point in time, not a duration. */
const EPOCH_TIME_FROM = 1e11;

/** The hint next to an ms field: a duration, or for epoch times the date. */
export function humanMs(ms: number): string {
  if (Math.abs(ms) >= EPOCH_TIME_FROM && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15) {
    return new Date(ms).toISOString().replace('T', ' ').replace(/\.000Z$/, ' UTC').replace(/Z$/, ' UTC');
  }
  return humanDuration(ms);
}

export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? '−' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${trim(rest)} ms`;
  if (rest < 60_000) return `${sign}${trim(rest / 1000)} s`;
  const parts: string[] = [];
  for (const [size, name] of UNITS) {
    const whole = size === 1 ? trim(rest) : String(Math.floor(rest / size));
    if (size !== 1) rest -= Math.floor(rest / size) * size;
    if (whole !== '0') parts.push(`${whole} ${name}`);
    if (size === 1) break;
  }
  return sign + parts.join(' ');
}

function trim(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}
