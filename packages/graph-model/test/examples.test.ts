import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { canonicalJson, graphJsonSchema, validateGraph } from '@sluice/graph-model';
import { EXAMPLES_DIR, REPO_ROOT, exampleFiles, loadExample } from './helpers.js';

const files = exampleFiles();
const checkedInSchema = JSON.parse(readFileSync(`${REPO_ROOT}packages/graph-model/schema/job-graph.schema.json`, 'utf8')) as Record<string, unknown>;

describe('examples', () => {
  it('has at least the six pipelines the gallery promises', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const name of ['clickstream-page-views', 'iot-sensor-averages', 'user-sessions', 'card-fraud-detection', 'order-shipment-join', 'kafka-etl']) {
      expect(files).toContain(`${name}.json`);
    }
  });

  it.each(files)('%s validates without errors or warnings', (file) => {
    expect(validateGraph(loadExample(file)).problems).toEqual([]);
  });

  it.each(files)('%s is in canonical form', (file) => {
    const text = readFileSync(`${EXAMPLES_DIR}${file}`, 'utf8');
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });

  it.each(files)('%s is described in examples/README.md', (file) => {
    expect(readFileSync(`${EXAMPLES_DIR}README.md`, 'utf8')).toContain(`(${file})`);
  });
});

describe('JSON Schema', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(checkedInSchema);

  it('is up to date with the catalog (run `npm run gen:schema` when this fails)', () => {
    expect(checkedInSchema).toEqual(graphJsonSchema());
  });

  it.each(files)('validates %s', (file) => {
    const ok = validate(loadExample(file));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects what the validator rejects structurally', () => {
    const graph = loadExample(files[0] ?? '');
    const broken = { ...graph, nodes: [{ ...graph.nodes[0], config: { profile: 'no-such-profile' } }] };
    expect(validate(broken)).toBe(false);
    expect(validate({ ...graph, extra: 1 })).toBe(false);
    expect(validate({ ...graph, schemaVersion: 2 })).toBe(false);
  });
});
