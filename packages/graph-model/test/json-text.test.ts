import { describe, expect, it } from 'vitest';
import { locatePath, parseJsonText } from '@sluice/graph-model';

describe('reading JSON text', () => {
  it('parses valid JSON, with or without a byte-order mark', () => {
    expect(parseJsonText('{"a": 1}')).toEqual({ ok: true, value: { a: 1 }, duplicateKeys: [] });
    expect(parseJsonText('\uFEFF{"a": 1}')).toMatchObject({ ok: true, value: { a: 1 } });
  });

  it('points at a syntax error by line and column', () => {
    const result = parseJsonText('{\n  "a": 1,\n  "b": ,\n}');
    expect(result).toMatchObject({ ok: false, error: { line: 3, column: 8, message: 'invalid JSON: value expected' } });
  });

  it('reports empty input and trailing garbage', () => {
    expect(parseJsonText('')).toMatchObject({ ok: false });
    expect(parseJsonText('{} {}')).toMatchObject({ ok: false, error: { line: 1, column: 4 } });
  });

  it('finds duplicate keys, which JSON.parse would silently collapse', () => {
    const result = parseJsonText('{"nodes": [{"id": "a", "id": "b"}]}');
    expect(result).toMatchObject({ ok: true, duplicateKeys: [{ path: 'nodes[0]', line: 1, column: 24 }] });
  });

  it('locates a path, and the nearest parent of a missing field', () => {
    const text = '{\n  "nodes": [\n    {\n      "id": "a",\n      "config": { "sizeMs": 5 }\n    }\n  ]\n}';
    expect(locatePath(text, ['nodes', 0, 'config', 'sizeMs'])).toMatchObject({ line: 5, column: 19 });
    expect(locatePath(text, ['nodes', 0, 'config', 'missing'])).toMatchObject({ line: 5, column: 17 });
    expect(locatePath(text, [])).toMatchObject({ line: 1, column: 1 });
  });
});
