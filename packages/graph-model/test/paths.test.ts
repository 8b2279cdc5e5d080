import { describe, expect, it } from 'vitest';
import { formatPath, parsePath } from '@sluice/graph-model';

describe('JSON paths', () => {
  it('formats identifiers with dots and indices with brackets', () => {
    expect(formatPath(['nodes', 3, 'config', 'sizeMs'])).toBe('nodes[3].config.sizeMs');
    expect(formatPath([])).toBe('$');
  });

  it('quotes keys that are not identifiers', () => {
    expect(formatPath(['job', 'headers', 'x-trace id'])).toBe('job.headers["x-trace id"]');
  });

  it('parses what it formats', () => {
    for (const segments of [[], ['a'], ['nodes', 0], ['nodes', 12, 'config', 'aggregations', 1, 'as'], ['h', 'we"ird]key', 2]]) {
      expect(parsePath(formatPath(segments))).toEqual(segments);
    }
  });

  it('rejects text that is not a path', () => {
    expect(parsePath('nodes[x]')).toBeUndefined();
    expect(parsePath('.nodes')).toBeUndefined();
    expect(parsePath('nodes[1')).toBeUndefined();
  });
});
