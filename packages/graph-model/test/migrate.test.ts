import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CURRENT_SCHEMA_VERSION, migrate, validateGraph, type Migration } from '@sluice/graph-model';
import { REPO_ROOT } from './helpers.js';

const FIXTURES = `${REPO_ROOT}packages/graph-model/fixtures/`;

describe('schema migrations', () => {
  it('keeps fixtures of every published version, and each still validates after migration', () => {
    const versions = readdirSync(FIXTURES).filter((d) => /^v\d+$/.test(d));
    expect(versions).toContain(`v${CURRENT_SCHEMA_VERSION}`);
    let count = 0;
    for (const version of versions) {
      for (const file of readdirSync(`${FIXTURES}${version}`).filter((f) => f.endsWith('.json'))) {
        const document = JSON.parse(readFileSync(`${FIXTURES}${version}/${file}`, 'utf8')) as { schemaVersion: number };
        expect(document.schemaVersion, file).toBe(Number(version.slice(1)));
        expect(validateGraph(document).problems, `${version}/${file}`).toEqual([]);
        count++;
      }
    }
    expect(count).toBeGreaterThan(0);
  });

  // The mechanism is exercised with made-up versions, since version 1 is the first real one.
  const steps: Migration[] = [
    { from: 1, to: 2, description: 'rename title to name', up: ({ title, ...rest }) => ({ ...rest, name: title }) },
    { from: 2, to: 3, description: 'add tags', up: (doc) => ({ ...doc, tags: [] }) },
  ];

  it('applies each step in order up to the target version', () => {
    const input = { schemaVersion: 1, title: 'old' };
    const result = migrate(input, steps, 3);
    expect(result).toMatchObject({ ok: true, document: { schemaVersion: 3, name: 'old', tags: [] } });
    if (result.ok) expect(result.applied.map((m) => m.description)).toEqual(['rename title to name', 'add tags']);
    expect(input).toEqual({ schemaVersion: 1, title: 'old' });
  });

  it('leaves a current document alone', () => {
    expect(migrate({ schemaVersion: 3, name: 'x' }, steps, 3)).toMatchObject({ ok: true, applied: [] });
  });

  it('reports a missing step, a failing step, a missing version and a future version', () => {
    expect(migrate({ schemaVersion: 1 }, [steps[1] as Migration], 3)).toEqual({ ok: false, message: 'no migration from schemaVersion 1 to 2' });
    const failing: Migration = { from: 1, to: 2, description: 'boom', up: () => { throw new Error('bad data'); } };
    expect(migrate({ schemaVersion: 1 }, [failing], 2)).toEqual({ ok: false, message: 'migration from schemaVersion 1 failed: bad data' });
    expect(migrate({}, steps, 3)).toMatchObject({ ok: false, message: expect.stringMatching(/missing/) });
    expect(migrate({ schemaVersion: 4 }, steps, 3)).toMatchObject({ ok: false, message: expect.stringMatching(/newer/) });
  });

  it('reports which migrations validation applied', () => {
    const result = validateGraph({ schemaVersion: 1, title: 'from v1', nodes: [], edges: [] }, { migrations: [] });
    expect(result.migrations).toEqual([]);
  });
});
