import type { RowKind } from './elements.js';

/**
 * An operator's only way out. Implementations are the next operator in a chain,
 * a network writer, or a test's recording output.
 */
export interface Output<T> {
  /** Emits a record. `kind` defaults to INSERT. */
  collect(value: T, timestamp: number, kind?: RowKind): void;
  /** Emits a record to a named side output (`late`, `dead-letter`, a declared tag). */
  collectSide(tag: string, value: unknown, timestamp: number): void;
  emitWatermark(watermark: number): void;
  /** An input has become idle (true) or active again (false); idle inputs do not hold watermarks back. */
  emitIdle(idle: boolean): void;
}
