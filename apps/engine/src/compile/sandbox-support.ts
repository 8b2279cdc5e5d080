/**
 * What sandboxed user code cannot do yet, found when a job is submitted rather than
 * when a function first tries it. Today: operator list state
 * (ctx.getOperatorListState). Sandboxed functions see contexts built inside the isolate
 * (map, filter, flat-map, keyed-process batches) or host stand-ins limited to a fixed set
 * of members, and neither reaches the operator's list states, so a job that uses them
 * is refused, naming the node and the code field, instead of failing at its first record.
 *
 * The check reads the source text: code that reaches the method under a computed name
 * is not caught here and fails at run time with "getOperatorListState is not a function",
 * attributed to its operator like any other error of user code.
 */
import { codeFieldsOf, formatPath, type ValidatedGraph } from '@sluice/graph-model';
import type { CodeProblem } from './user-code.js';

const OPERATOR_LIST_STATE = /\bgetOperatorListState\b/;

export function sandboxUnsupported(graph: ValidatedGraph): CodeProblem[] {
  const problems: CodeProblem[] = [];
  for (const node of graph.nodes) {
    for (const field of codeFieldsOf(node.definition.configSchema, node.config)) {
      if (!OPERATOR_LIST_STATE.test(field.source)) continue;
      problems.push({
        nodeId: node.id,
        path: formatPath(['nodes', node.index, 'config', ...field.path]),
        message:
          `operator '${node.id}' (${node.definition.type}) uses ctx.getOperatorListState, and operator list state is not available to sandboxed user code yet: ` +
          'run the job on a trusted engine (sluice serve --trusted), or keep the state in keyed state',
      });
    }
  }
  return problems;
}
