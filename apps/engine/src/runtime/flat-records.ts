/**
 * Flat records across the sandbox boundary.
 *
 * Most stream records are flat objects of the same keys: `{ id, key, value, timestamp }`.
 * msgpack spends most of a sandboxed map's time on them (about 150 ns to pack such a record,
 * as much again to unpack it). A batch whose records all have one flat shape crosses as
 * columns instead: one Float64Array (numbers; booleans as 0/1; for strings, their lengths)
 * and one string with the batch's strings end to end. Encoders and decoders are generated
 * per shape, so a record costs a few property reads and writes on each side.
 *
 * A shape is the record's keys in for-in order (which is the order msgpack and JSON keep)
 * and each value's type: number, string or boolean. A record fits it only if it is a plain
 * object (its prototype is Object.prototype: no inherited keys) with exactly those keys in
 * that order and values of those types. Anything else (nested objects, arrays, null,
 * undefined, another key order, `__proto__` or integer-like keys) and the whole batch goes
 * as msgpack, as before: the format is an optimisation, never a change of what arrives.
 * A list of plain numbers, strings or booleans (the keys of a keyed batch, its state
 * values) is a shape too: one column.
 *
 * The codec is one source text (FLAT_CODEC_SOURCE), evaluated on the host and inside every
 * sandbox context, so both sides agree by construction. Every batch carries its shape's
 * definition: no state is shared across calls, so a call whose reply is thrown away (a CPU
 * limit, an error) cannot leave the two sides disagreeing. Each side caches the code it
 * generated per shape. The host checks every definition and every batch the isolate
 * returns: user code can replace anything in its context.
 */

/**
 * A shape's definition as it crosses: keys, and one type letter per key (n, s, b); or null
 * and one letter for a list of numbers, strings or booleans.
 */
export type FlatShapeDefinition = [keys: string[] | null, types: string];

/** A batch encoded as columns. */
export interface FlatBatch {
  readonly definition: FlatShapeDefinition;
  /** Column c of record i at c × n + i; `extra` more slots after the columns. */
  readonly columns: Float64Array;
  readonly text: string;
}

export interface FlatWriter {
  /**
   * The values as columns, with `extra` free float64 slots after them (the caller's own
   * column: timestamps); undefined when they do not share one flat shape (or the writer has
   * stopped trying, see FLAT_CODEC_SOURCE). With `into`, the columns are written at its
   * start when they fit there (columns is then a view of it; its slots are not cleared
   * first), else into a new array.
   */
  encode(values: readonly unknown[], extra: number, into?: Float64Array): FlatBatch | undefined;
}

export interface FlatReader {
  /**
   * Records of a batch, and fixedBytes: at least the msgpack size of any record of its
   * shape, less three bytes per character of its strings (what a record-size limit can be
   * checked against without packing). Throws an Error naming what is wrong with a
   * malformed batch.
   */
  decode(definition: unknown, columns: Float64Array, text: unknown, n: unknown): { records: unknown[]; fixedBytes: number };
  /**
   * The same records one at a time, each built when it is asked for (undefined after the
   * n-th), with the same checks first. A loop that hands each record to a function and
   * lets it go keeps one alive instead of the batch: inside an isolate, whose young
   * generation is small, a batch built up front was copied by every scavenge that fell
   * during its batch (keyed benchmark, 4M records: 1235 scavenges in 171 ms; built one
   * at a time, 892 in 55 ms).
   */
  cursor(definition: unknown, columns: Float64Array, text: unknown, n: unknown): () => unknown;
}

export interface FlatCodec {
  writer(): FlatWriter;
  reader(): FlatReader;
}

/**
 * Evaluated with (Function, Object.getPrototypeOf, Object.prototype, JSON.stringify) of the
 * realm it runs in; returns { writer, reader }. Plain ES2020, no free variables: it runs in
 * isolates too.
 */
export const FLAT_CODEC_SOURCE = String.raw`(function (Fn, getPrototypeOf, objectPrototype, stringify) {
  'use strict';
  const MAX_KEYS = 64;
  const MAX_SHAPES = 64;
  // After this many batches in a row that did not fit a shape, a writer rests for REST batches.
  const MISSES = 4;
  const REST = 256;
  const TYPES = { number: 'n', string: 's', boolean: 'b' };

  function isIndex(k) {
    if (k.length === 0 || k.length > 10) return false;
    for (let i = 0; i < k.length; i++) { const c = k.charCodeAt(i); if (c < 48 || c > 57) return false; }
    return k === '0' || k.charCodeAt(0) !== 48;
  }
  function usableKey(k) { return typeof k === 'string' && k !== '__proto__' && !isIndex(k); }

  /**
   * The shape of one record, or undefined when it has none: [keys, types] for a flat
   * object, [null, type] for a number, string or boolean (a list of keys or state values).
   */
  function shapeOf(r) {
    const scalar = TYPES[typeof r];
    if (scalar !== undefined) return [null, scalar];
    if (typeof r !== 'object' || r === null || getPrototypeOf(r) !== objectPrototype) return undefined;
    const keys = [];
    let types = '';
    for (const k in r) {
      if (keys.length === MAX_KEYS || !usableKey(k)) return undefined;
      const t = TYPES[typeof r[k]];
      if (t === undefined) return undefined;
      keys[keys.length] = k;
      types += t;
    }
    return [keys, types];
  }

  function isType(t) { return t === 110 || t === 115 || t === 98; }

  /** A definition from the other side: checked, since it may come from tampered code. */
  function checkDefinition(d) {
    if (!Array.isArray(d) || d.length !== 2) return false;
    const keys = d[0];
    const types = d[1];
    if (typeof types !== 'string') return false;
    if (keys === null) return types.length === 1 && isType(types.charCodeAt(0));
    if (!Array.isArray(keys) || keys.length > MAX_KEYS || keys.length !== types.length) return false;
    const seen = new Set();
    for (let c = 0; c < keys.length; c++) {
      const k = keys[c];
      if (!usableKey(k) || seen.has(k)) return false;
      seen.add(k);
      if (!isType(types.charCodeAt(c))) return false;
    }
    return true;
  }

  /** Code that checks value v (a variable) against type t and stores it in column c. */
  function store(v, t, c) {
    const at = 'f[' + c + ' * n + i]';
    if (t === 'n') return '  if (typeof ' + v + ' !== "number") return undefined; ' + at + ' = ' + v + ';\n';
    if (t === 's') return '  if (typeof ' + v + ' !== "string") return undefined; ' + at + ' = ' + v + '.length; t += ' + v + ';\n';
    return '  if (' + v + ' === true) ' + at + ' = 1; else if (' + v + ' === false) ' + at + ' = 0; else return undefined;\n';
  }

  /** Code that reads column c (type t) into variable x<c>. */
  function load(t, c) {
    const at = 'f[' + c + ' * n + i]';
    const x = 'x' + c;
    if (t === 's') return '  const e' + c + ' = o + ' + at + '; const ' + x + ' = t.slice(o, e' + c + '); o = e' + c + ';\n';
    // Integers go back as small integers (-0 stays -0): objects whose fields hold them
    // keep the hidden class the producer's objects have. A double there would generalise
    // that class, and V8's for-in, which every encode runs, falls off its fast path.
    if (t === 'n') return '  const y' + c + ' = ' + at + '; const ' + x + ' = (y' + c + ' | 0) === y' + c + ' && (y' + c + ' !== 0 || 1 / y' + c + ' > 0) ? y' + c + ' | 0 : y' + c + ';\n';
    return '  const ' + x + ' = ' + at + ' !== 0;\n';
  }

  function compileEncoder(keys, types) {
    let body = 'const n = values.length; let t = "";\nfor (let i = 0; i < n; i++) {\n';
    if (keys === null) {
      body += '  const v0 = values[i];\n' + store('v0', types, 0);
    } else {
      body += '  const r = values[i];\n' +
        '  if (typeof r !== "object" || r === null || getPrototypeOf(r) !== objectPrototype) return undefined;\n' +
        '  let c = 0;\n' +
        '  for (const k in r) { if (k !== K[c]) return undefined; c++; }\n' +
        '  if (c !== ' + keys.length + ') return undefined;\n';
      for (let c = 0; c < keys.length; c++) body += '  const v' + c + ' = r[' + stringify(keys[c]) + '];\n' + store('v' + c, types[c], c);
    }
    body += '}\nreturn t;';
    return Fn('K', 'getPrototypeOf', 'objectPrototype', '"use strict"; return function (values, f) {\n' + body + '\n};')(keys === null ? null : keys.slice(), getPrototypeOf, objectPrototype);
  }

  /** Code that reads record i into r; o, where its first string starts in t, moves past its strings. */
  function readRecord(keys, types) {
    if (keys === null) return load(types, 0) + '  const r = x0;\n';
    let body = '';
    const fields = [];
    for (let c = 0; c < keys.length; c++) {
      body += load(types[c], c);
      fields.push(stringify(keys[c]) + ': x' + c);
    }
    return body + '  const r = { ' + fields.join(', ') + ' };\n';
  }

  function compileDecoder(keys, types) {
    const body = 'const out = [];\nlet o = 0;\nfor (let i = 0; i < n; i++) {\n' + readRecord(keys, types) + '  out[i] = r;\n}\nreturn out;';
    return Fn('"use strict"; return function (f, t, n) {\n' + body + '\n};')();
  }

  function compileCursor(keys, types) {
    const body = 'let i = 0;\nlet o = 0;\nreturn function () {\n  if (i >= n) return undefined;\n' + readRecord(keys, types) + '  i++;\n  return r;\n};';
    return Fn('"use strict"; return function (f, t, n) {\n' + body + '\n};')();
  }

  function writer() {
    const shapes = new Map();
    let last;
    let misses = 0;
    let resting = 0;
    function attempt(s, values, extra, into) {
      const size = s.width * values.length + extra;
      const columns = into !== undefined && into.length >= size ? into.subarray(0, size) : new Float64Array(size);
      const text = s.encode(values, columns);
      if (text === undefined) return undefined;
      last = s;
      misses = 0;
      return { definition: s.definition, columns, text };
    }
    return {
      encode(values, extra, into) {
        if (values.length === 0) return undefined;
        if (resting > 0) { resting--; return undefined; }
        let batch = last !== undefined ? attempt(last, values, extra, into) : undefined;
        if (batch === undefined) {
          const d = shapeOf(values[0]);
          if (d !== undefined) {
            const signature = stringify(d);
            let s = shapes.get(signature);
            if (s === undefined && shapes.size < MAX_SHAPES) {
              s = { width: d[1].length, encode: compileEncoder(d[0], d[1]), definition: d };
              shapes.set(signature, s);
            }
            if (s !== undefined && s !== last) batch = attempt(s, values, extra, into);
          }
        }
        if (batch === undefined && ++misses >= MISSES) { misses = 0; resting = REST; }
        return batch;
      },
    };
  }

  function reader() {
    const shapes = new Map();
    /** The shape of a batch from the other side, once the batch is checked against it. */
    function shapeFor(definition, columns, text, n) {
      if (!checkDefinition(definition)) throw new Error('a batch has a malformed record shape');
      const signature = stringify(definition);
      let s = shapes.get(signature);
      if (s === undefined) {
        if (shapes.size >= MAX_SHAPES) throw new Error('a batch has a record shape past the first ' + MAX_SHAPES);
        const keys = definition[0] === null ? null : definition[0].slice();
        const types = definition[1];
        // A map header, then each key and value at their largest (strings less their characters).
        let fixed = 16;
        for (let c = 0; c < types.length; c++) fixed += (keys === null ? 0 : 5 + 3 * keys[c].length) + (types[c] === 'n' ? 9 : types[c] === 's' ? 5 : 1);
        s = { width: types.length, fixed, keys, types, decode: compileDecoder(keys, types), cursor: undefined };
        shapes.set(signature, s);
      }
      if (typeof text !== 'string') throw new Error('a batch has no text column');
      if (typeof n !== 'number' || !(n >= 0) || (n | 0) !== n || columns.length < s.width * n) throw new Error('a batch is shorter than its records');
      return s;
    }
    return {
      decode(definition, columns, text, n) {
        const s = shapeFor(definition, columns, text, n);
        return { records: s.decode(columns, text, n), fixedBytes: s.fixed };
      },
      cursor(definition, columns, text, n) {
        const s = shapeFor(definition, columns, text, n);
        if (s.cursor === undefined) s.cursor = compileCursor(s.keys, s.types);
        return s.cursor(columns, text, n);
      },
    };
  }

  return { writer, reader };
})`;

let hostCodec: FlatCodec | undefined;

/** The codec in the engine's own realm. */
export function flatCodec(): FlatCodec {
  if (hostCodec === undefined) {
    const factory = (0, eval)(FLAT_CODEC_SOURCE) as (fn: FunctionConstructor, getPrototypeOf: (o: object) => object | null, objectPrototype: object, stringify: (value: unknown) => string) => FlatCodec;
    hostCodec = factory(Function, Object.getPrototypeOf, Object.prototype, JSON.stringify);
  }
  return hostCodec;
}
