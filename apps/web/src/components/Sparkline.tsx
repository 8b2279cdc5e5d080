'use client';
/**
 * A small SVG line chart of the last minute of one figure. Hand-written: a
 * polyline over at most 60 points needs no charting library. Gaps (null: no
 * sample yet) break the line.
 */
import { memo } from 'react';

export interface SparklineProps {
  readonly label: string;
  readonly values: readonly (number | null)[];
  /** Fixed top of the scale (1 for shares of time); default the largest value. */
  readonly max?: number;
  readonly format: (value: number | null) => string;
  readonly testId: string;
  readonly width?: number;
  readonly height?: number;
}

export const Sparkline = memo(function Sparkline({ label, values, max, format, testId, width = 150, height = 32 }: SparklineProps) {
  const present = values.filter((v): v is number => v !== null);
  const top = max ?? Math.max(1, ...present);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const segments: string[] = [];
  let current: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length > 0) segments.push(current.join(' '));
      current = [];
      return;
    }
    const y = height - 2 - (Math.min(v, top) / top) * (height - 4);
    current.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  if (current.length > 0) segments.push(current.join(' '));
  const last = values.length > 0 ? (values[values.length - 1] ?? null) : null;
  return (
    <figure className="sparkline" data-testid={testId}>
      <figcaption>
        <span>{label}</span>
        <b data-testid={`${testId}-value`}>{format(last)}</b>
      </figcaption>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${label}, last ${values.length} seconds; now ${format(last)}`}>
        <line x1="0" y1={height - 1} x2={width} y2={height - 1} className="sparkline-axis" />
        {segments.map((points, i) =>
          points.includes(' ') ? <polyline key={i} points={points} className="sparkline-line" /> : <circle key={i} cx={points.split(',')[0]} cy={points.split(',')[1]} r="1.5" className="sparkline-dot" />,
        )}
      </svg>
    </figure>
  );
});
