import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CATEGORIES, CODE_KINDS, OPERATORS, getOperator, operatorsByCategory } from '@sluice/graph-model';
import { REPO_ROOT } from './helpers.js';

describe('operator catalog', () => {
  it('has unique kebab-case types', () => {
    const types = OPERATORS.map((op) => op.type);
    expect(new Set(types).size).toBe(types.length);
    for (const type of types) expect(type).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });

  it.each(OPERATORS.map((op) => [op.type, op] as const))('%s: its default config validates and it is documented', (_type, op) => {
    const parsed = op.configSchema.safeParse(op.defaultConfig);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(op.title.length).toBeGreaterThan(0);
    expect(op.doc.length).toBeGreaterThan(40);
    expect(CATEGORIES).toContain(op.category);
  });

  it.each(OPERATORS.map((op) => [op.type, op] as const))('%s: inputs and outputs fit its category', (_type, op) => {
    const outputs = op.outputs(op.configSchema.parse(op.defaultConfig) as never).map((o) => o.name);
    if (op.category === 'source') expect(op.inputs).toEqual([]);
    else expect(op.inputs.length).toBeGreaterThan(0);
    if (op.category === 'sink') expect(outputs).toEqual([]);
    else expect(outputs[0]).toBe('main');
    expect(new Set(outputs).size).toBe(outputs.length);
    expect(new Set(op.inputs.map((i) => i.name)).size).toBe(op.inputs.length);
  });

  it('derives side outputs from the config of a process function', () => {
    const op = getOperator('keyed-process');
    const config = op?.configSchema.parse({ fn: '({ processElement() {} })', sideOutputs: ['alerts', 'audit'] });
    expect(op?.outputs(config as never).map((o) => o.name)).toEqual(['main', 'alerts', 'audit']);
  });

  it('gives every window operator a late output', () => {
    for (const op of OPERATORS.filter((o) => o.category === 'window' && o.type !== 'global-window')) {
      expect(op.outputs(op.configSchema.parse(op.defaultConfig) as never).map((o) => o.name)).toContain('late');
    }
  });

  it('only names code kinds that exist, and every config schema converts to JSON Schema', () => {
    for (const op of OPERATORS) {
      const schema = JSON.stringify(z.toJSONSchema(op.configSchema, { io: 'input' }));
      for (const match of schema.matchAll(/"x-sluice-code":"([^"]+)"/g)) {
        expect(Object.keys(CODE_KINDS)).toContain(match[1]);
      }
    }
  });

  it('groups operators by category for the palette', () => {
    const groups = operatorsByCategory();
    expect([...groups.keys()]).toEqual(['source', 'transform', 'window', 'join', 'process', 'sink']);
    expect([...groups.values()].flat()).toHaveLength(OPERATORS.length);
  });

  it('uses every operator type in a fixture or an example, so none goes untested by validation', () => {
    const used = new Set<string>();
    for (const dir of [`${REPO_ROOT}examples/`, `${REPO_ROOT}packages/graph-model/fixtures/v1/`]) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
        const graph = JSON.parse(readFileSync(`${dir}${file}`, 'utf8')) as { nodes: Array<{ type: string }> };
        for (const node of graph.nodes) used.add(node.type);
      }
    }
    expect(OPERATORS.map((op) => op.type).filter((t) => !used.has(t))).toEqual([]);
  });

  it('finds no operator for unknown or inherited names', () => {
    expect(getOperator('constructor')).toBeUndefined();
    expect(getOperator('nope')).toBeUndefined();
    expect(getOperator('map')?.title).toBe('Map');
  });
});
