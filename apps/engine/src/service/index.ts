/**
 * The engine service: REST API, Socket.IO telemetry and Prometheus metrics on one
 * port. See CONTEXT.md beside this file.
 */
export { createEngineService, DEFAULT_BODY_LIMIT, type EngineService, type EngineServiceOptions, type InjectRequest, type InjectResponse } from './service.js';
export { defaultDataDir, serveEngine, startEngineService, userCodeFor, type ServeIo, type StartedEngineService, type StartOptions, type UserCodeChoice } from './start.js';
export { DEFAULT_CORS_ORIGINS, isLoopbackHost } from './auth.js';
export { buildOpenApiDocument, DEFAULT_PORT, SERVICE_VERSION } from './openapi.js';
export { JobTelemetry, type JobView } from './telemetry.js';
export { PipelineStore } from './pipeline-store.js';
export { TenantTokens, tenantNameProblem, type CreatedToken, type Principal, type TokenInfo } from './tenants.js';
export { parseKafkaAllow, type KafkaAllowList } from './kafka-allow.js';
export { parseFileAllow, type FileAllowList } from './file-allow.js';
