// The Nexmark correctness oracle's one canonical form, shared by `npm run bench:nexmark`,
// the CI test (apps/engine/test/nexmark.test.ts) and the script that regenerates the
// expected outputs from Apache Flink (bench/nexmark/regenerate-expected.js).
//
// A result row becomes the JSON text of an array of its columns, in the query's column
// order: integers as JSON numbers, timestamps as epoch milliseconds, DECIMAL columns as
// strings with exactly the column's scale (Flink gives exact decimals; Sluice gives the
// nearest double, which rounds back to the same digits at that scale), strings as they
// are. A changelog is materialized into its final rows (+I and +U add a row, -U and -D
// remove one), and the rows are sorted by their text.

/** Result columns per query: [name, type]; types: 'int' | 'timestamp' | 'string' | ['decimal', scale]. */
export const NEXMARK_QUERIES = {
  q0: [['auction', 'int'], ['bidder', 'int'], ['price', 'int'], ['dateTime', 'timestamp'], ['extra', 'string']],
  q1: [['auction', 'int'], ['bidder', 'int'], ['price', ['decimal', 3]], ['dateTime', 'timestamp'], ['extra', 'string']],
  q2: [['auction', 'int'], ['price', 'int']],
  q3: [['name', 'string'], ['city', 'string'], ['state', 'string'], ['id', 'int']],
  q4: [['category', 'int'], ['avg_final', 'int']],
  q5: [['auction', 'int'], ['num', 'int']],
  q7: [['auction', 'int'], ['bidder', 'int'], ['price', 'int'], ['dateTime', 'timestamp'], ['extra', 'string']],
  q8: [['id', 'int'], ['name', 'string'], ['starttime', 'timestamp']],
};

const ADD = new Set(['+I', '+U']);
const REMOVE = new Set(['-U', '-D']);

function canonicalValue(value, type, where) {
  if (value === null || value === undefined) return null;
  if (Array.isArray(type)) {
    const scale = type[1];
    if (typeof value === 'number') return value.toFixed(scale);
    if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) {
      const [whole, fraction = ''] = value.split('.');
      if (fraction.length > scale && /[^0]/.test(fraction.slice(scale))) throw new Error(`${where}: decimal ${value} has more than ${scale} decimals`);
      return `${whole}.${fraction.slice(0, scale).padEnd(scale, '0')}`;
    }
    throw new Error(`${where}: expected a decimal, got ${JSON.stringify(value)}`);
  }
  if (type === 'int' || type === 'timestamp') {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new Error(`${where}: expected a whole number, got ${JSON.stringify(value)}`);
    return value;
  }
  if (typeof value !== 'string') throw new Error(`${where}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/** Canonical text of one row given as an array of column values (Flink) or an object with the column names (Sluice). */
export function canonicalRow(query, row) {
  const columns = NEXMARK_QUERIES[query];
  if (!columns) throw new Error(`unknown Nexmark query '${query}'`);
  const values = columns.map(([name, type], i) => {
    const value = Array.isArray(row) ? row[i] : row?.[name];
    return canonicalValue(value, type, `${query} column '${name}'`);
  });
  if (Array.isArray(row) && row.length !== columns.length) throw new Error(`${query}: a row has ${row.length} columns, expected ${columns.length}`);
  return JSON.stringify(values);
}

/**
 * Folds changes into a materialized table. `op` is '+I', '-U', '+U' or '-D'.
 * Returns the table (canonical row text → multiplicity) for chaining.
 */
export function applyChange(table, op, text) {
  if (ADD.has(op)) table.set(text, (table.get(text) ?? 0) + 1);
  else if (REMOVE.has(op)) table.set(text, (table.get(text) ?? 0) - 1);
  else throw new Error(`unknown row kind '${op}'`);
  return table;
}

/** The final rows of a materialized table, sorted; a row retracted more often than inserted is an error. */
export function finalRows(table, what) {
  const rows = [];
  for (const [text, n] of table) {
    if (n < 0) throw new Error(`${what}: the row ${text} was retracted ${-n} more time(s) than it was inserted`);
    for (let i = 0; i < n; i++) rows.push(text);
  }
  return rows.sort(compareText);
}

/** Byte order of the UTF-8 text (= UTF-16 code unit order for the ASCII our rows hold), as `LC_ALL=C sort`. */
export function compareText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Final rows from the lines RunSql writes (`{"op":"+I","row":[...]}`). */
export function rowsFromFlinkLines(query, lines) {
  const table = new Map();
  for (const line of lines) {
    if (line.length === 0) continue;
    const { op, row } = JSON.parse(line);
    applyChange(table, op, canonicalRow(query, row));
  }
  return finalRows(table, `Flink ${query}`);
}

/**
 * Compares two sorted row lists. Returns { match, expectedRows, actualRows, firstDifferences }
 * where firstDifferences lists up to `limit` rows only one side has.
 */
export function compareRows(expected, actual, limit = 5) {
  const firstDifferences = [];
  let i = 0;
  let j = 0;
  while ((i < expected.length || j < actual.length) && firstDifferences.length < limit) {
    const e = expected[i];
    const a = actual[j];
    if (e !== undefined && a !== undefined && e === a) {
      i++;
      j++;
    } else if (a === undefined || (e !== undefined && compareText(e, a) < 0)) {
      firstDifferences.push({ only: 'expected', row: e });
      i++;
    } else {
      firstDifferences.push({ only: 'actual', row: a });
      j++;
    }
  }
  return { match: firstDifferences.length === 0, expectedRows: expected.length, actualRows: actual.length, firstDifferences };
}
