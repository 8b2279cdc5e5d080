/**
 * User functions are TypeScript in the graph. The job manager transpiles each one
 * once per job with esbuild (types are stripped, not checked: type errors are the
 * editor's business) and ships JavaScript to the workers, which only evaluate it.
 */
import { transform } from 'esbuild';
import { codeFieldsOf, formatPath, type ValidatedGraph } from '@sluice/graph-model';

/** The name the compiled snippet binds its function to. */
export const BINDING = '__sluice_fn';
/** The user's line 1 is line 2 of the compiled text. */
const PREFIX = `const ${BINDING} = (\n`;

export interface CodeProblem {
  readonly nodeId: string;
  readonly path: string;
  readonly message: string;
}

export type CompiledCode = { readonly ok: true; readonly code: Record<string, string> } | { readonly ok: false; readonly problems: CodeProblem[] };

export async function compileUserCode(graph: ValidatedGraph): Promise<CompiledCode> {
  const code: Record<string, string> = {};
  const problems: CodeProblem[] = [];
  for (const node of graph.nodes) {
    for (const field of codeFieldsOf(node.definition.configSchema, node.config)) {
      if (Object.prototype.hasOwnProperty.call(code, field.source)) continue;
      try {
        // No output format: with one, esbuild reads a top-level `this` as CommonJS's
        // `exports` and wraps the snippet in a module, which instantiateCode cannot evaluate.
        const result = await transform(`${PREFIX}${field.source}\n);`, { loader: 'ts', target: 'es2022', sourcefile: `${node.id}.ts` });
        code[field.source] = result.code;
      } catch (error) {
        const first = (error as { errors?: Array<{ text: string; location?: { line: number; column: number } | null }> }).errors?.[0];
        const where = first?.location ? `line ${first.location.line - 1}, column ${first.location.column + 1}: ` : '';
        problems.push({
          nodeId: node.id,
          path: formatPath(['nodes', node.index, 'config', ...field.path]),
          message: `${where}${first?.text ?? String(error)}`,
        });
      }
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, code };
}

/** Evaluates compiled code (in a worker) and returns the user's function or hook object. */
export function instantiateCode(compiled: string): unknown {
  // The code was produced by compileUserCode from the job's own graph. In hosted mode
  // this runs inside the sandbox instead (see the hosted-mode work).
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- evaluating compiled user code is this function's purpose
  const factory = new Function(`${compiled}\nreturn ${BINDING};`) as () => unknown;
  return factory();
}
