// Types of canonical.js, for the TypeScript tests that share it.
export type ColumnType = 'int' | 'timestamp' | 'string' | readonly ['decimal', number];
export type NexmarkQuery = 'q0' | 'q1' | 'q2' | 'q3' | 'q4' | 'q5' | 'q7' | 'q8';
export const NEXMARK_QUERIES: Readonly<Record<NexmarkQuery, ReadonlyArray<readonly [string, ColumnType]>>>;
export function canonicalRow(query: string, row: unknown): string;
export function applyChange(table: Map<string, number>, op: string, text: string): Map<string, number>;
export function finalRows(table: Map<string, number>, what: string): string[];
export function compareText(a: string, b: string): number;
export function rowsFromFlinkLines(query: string, lines: Iterable<string>): string[];
export interface RowComparison {
  match: boolean;
  expectedRows: number;
  actualRows: number;
  firstDifferences: Array<{ only: 'expected' | 'actual'; row: string }>;
}
export function compareRows(expected: readonly string[], actual: readonly string[], limit?: number): RowComparison;
