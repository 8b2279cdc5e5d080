import { describe, expect, it } from 'vitest';
import { checkCode, MAX_CODE_LENGTH } from '@sluice/graph-model';

describe('user function code', () => {
  it('accepts arrow functions, function expressions and TypeScript annotations', () => {
    expect(checkCode('(e) => e.amount > 100', 'filter')).toBeUndefined();
    expect(checkCode('function (e: { amount: number }): boolean { return e.amount > 100 }', 'filter')).toBeUndefined();
    expect(checkCode('((e) => e) as (e: unknown) => unknown', 'map')).toBeUndefined();
  });

  it('reports a syntax error with its line and column', () => {
    const problem = checkCode('(e) => {\n  return e.amount >;\n}', 'filter');
    expect(problem?.line).toBe(2);
    expect(problem?.column).toBeGreaterThan(1);
    expect(problem?.message).toMatch(/^syntax error/);
  });

  it('refuses code that is not a function where a function is expected', () => {
    expect(checkCode('42', 'map')?.message).toMatch(/expected a function/);
    expect(checkCode('e.amount > 100', 'filter')?.message).toMatch(/expected a function/);
  });

  it('refuses statements after the expression', () => {
    expect(checkCode('(e) => e; process.exit(1)', 'map')?.message).toMatch(/syntax error/);
  });

  it('checks hook objects for required, unknown and computed names', () => {
    expect(checkCode('({ processElement(v, ctx) {} })', 'keyed-process')).toBeUndefined();
    expect(checkCode('({ onTimer() {} })', 'keyed-process')?.message).toBe("missing 'processElement'");
    expect(checkCode('({ processElement() {}, onTImer() {} })', 'keyed-process')?.message).toMatch(/unknown function 'onTImer'/);
    expect(checkCode('({ ["processElement"]() {} })', 'keyed-process')?.message).toMatch(/computed names/);
    expect(checkCode('({ ...other })', 'keyed-process')?.message).toMatch(/spread/);
    expect(checkCode('(v) => v', 'keyed-process')?.message).toMatch(/expected an object of functions/);
  });

  it('refuses empty and oversized code', () => {
    expect(checkCode('  ', 'map')?.message).toBe('code is empty');
    expect(checkCode(`(v) => v${' '.repeat(MAX_CODE_LENGTH)}`, 'map')?.message).toMatch(/limit/);
  });
});
