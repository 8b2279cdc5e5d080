/**
 * @sluice/graph-model: the job-graph JSON format, its operator catalog, validation
 * and JSON Schema. The editor, the engine and the CLI all build on this package,
 * and it depends on nothing else of ours.
 */
export * from './catalog/index.js';
export { CODE_KINDS, checkCode, MAX_CODE_LENGTH, type CodeKind, type CodeKindName, type CodeProblem, type CodeShape } from './code.js';
export { canonicalJson } from './canonical.js';
export { graphEndpoints, type GraphEndpoint } from './endpoints.js';
export {
  CHAINING_STRATEGIES,
  CURRENT_SCHEMA_VERSION,
  ID_PATTERN,
  LIMITS,
  PARTITIONINGS,
  type Edge,
  type EdgeInput,
  type GraphNodeInput,
  type JobGraphDocument,
  type NodeBase,
  type Partitioning,
} from './graph.js';
export { jobConfig, MAX_KEY_GROUPS, type JobConfig } from './job.js';
export { graphJsonSchema, JSON_SCHEMA_ID } from './json-schema.js';
export { locatePath, locationOf, parseJsonText, type JsonTextProblem, type JsonTextResult, type TextLocation } from './json-text.js';
export { migrate, MIGRATIONS, type Migration, type MigrationResult } from './migrate.js';
export { formatPath, parsePath, type PathSegment } from './paths.js';
export { codeFieldsOf, type CodeField } from './schema-walk.js';
export {
  MAX_PROBLEMS,
  validateGraph,
  type GraphProblem,
  type ProblemCode,
  type ValidatedEdge,
  type ValidatedGraph,
  type ValidatedNode,
  type ValidateOptions,
  type ValidationResult,
} from './validate.js';
