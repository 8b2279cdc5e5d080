/**
 * Values shared by the REST API and the live telemetry.
 */

/**
 * A watermark or event time on the wire. JSON has no Infinity, so:
 *
 *   - a finite value is a number: epoch milliseconds;
 *   - `'-Infinity'`: no watermark yet (Flink shows "No Watermark");
 *   - `'+Infinity'`: the end of input: every event-time window and timer has fired.
 *
 * `Number(value)` decodes all three forms back to a JavaScript number.
 */
export type WireTime = number | '-Infinity' | '+Infinity';

/** A job's lifecycle, as the engine's JobManager reports it ('restarting': failed, waiting to restart by its restart strategy). */
export type JobStatus = 'running' | 'restarting' | 'finished' | 'failed' | 'cancelled';

/** Changelog row kinds in Flink's short form: insert, update-before, update-after, delete. */
export type RowKindName = '+I' | '-U' | '+U' | '-D';
