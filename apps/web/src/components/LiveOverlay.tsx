'use client';
/**
 * The live figures under a node while a job is attached: records/s in and out,
 * backpressure (coloured OK / LOW / HIGH as Flink does), busy share, event-time lag
 * and late records. It subscribes to its own node's overlay only: a telemetry tick
 * re-renders the nodes whose figures changed as printed, and nothing else (the
 * React Flow node objects do not change at all).
 */
import { memo } from 'react';
import { useLive } from '../engine/live-session';
import { formatCount, formatDuration, formatPercent, formatRate, formatWatermark } from '../engine/live-model';

const LEVEL_LABEL = { ok: 'OK', low: 'LOW', high: 'HIGH' } as const;

export const NodeLiveOverlay = memo(function NodeLiveOverlay({ id }: { id: string }) {
  const overlay = useLive((s) => s.figures.overlays.get(id));
  if (!overlay) return null;
  const level = overlay.level;
  return (
    <div
      className={`op-live${level ? ` bp-${level}` : ''}`}
      data-testid={`node-${id}-live`}
      aria-label={`Live: ${formatRate(overlay.inPerSecond)} records per second in, ${formatRate(overlay.outPerSecond)} out, backpressure ${level ? LEVEL_LABEL[level] : 'unknown'}`}
    >
      <div className="op-live-row">
        <span title="Records per second in (all subtasks)">
          ▸ <b data-testid={`node-${id}-rate-in`}>{formatRate(overlay.inPerSecond)}</b>/s
        </span>
        <span title="Records per second out (all subtasks)">
          <b data-testid={`node-${id}-rate-out`}>{formatRate(overlay.outPerSecond)}</b>/s ▸
        </span>
      </div>
      <div className="op-live-row">
        <span
          className={`bp-chip${level ? ` bp-${level}` : ''}`}
          data-testid={`node-${id}-backpressure`}
          data-level={level ?? 'unknown'}
          title="Backpressured share of time at the worst subtask (OK ≤ 10 %, LOW ≤ 50 %, HIGH above)"
        >
          {level ? LEVEL_LABEL[level] : '–'} {formatPercent(overlay.backpressured)}
        </span>
        <span data-testid={`node-${id}-busy`} title="Busy share of time of this operator (worst subtask)">
          busy {formatPercent(overlay.busy)}
        </span>
      </div>
      {overlay.watermark !== null || overlay.late !== null || overlay.idle ? (
        <div className="op-live-row">
          {overlay.watermark !== null ? (
            <span data-testid={`node-${id}-lag`} title={`Watermark ${formatWatermark(overlay.watermark)}; event-time lag = now − watermark`}>
              lag {formatDuration(overlay.eventTimeLagMs)}
            </span>
          ) : (
            <span />
          )}
          {overlay.idle ? (
            <span className="op-live-idle" data-testid={`node-${id}-idle`} title="Every input is idle">
              idle
            </span>
          ) : null}
          {overlay.late !== null ? (
            <span className={overlay.late > 0 ? 'op-live-late' : undefined} data-testid={`node-${id}-late`} title="Late records (dropped or sent to the late output)">
              late {formatCount(overlay.late)}
            </span>
          ) : null}
        </div>
      ) : null}
    </div>
  );
});
