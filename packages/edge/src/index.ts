export {
  type BodyLimitOptions,
  type BodySource,
  bodyLimit,
  type ReadBodyOptions,
  type ReadJsonBodyOptions,
  readBody,
  readJsonBody,
} from './body/index.js';
export {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  createCircuitBreaker,
} from './circuit-breaker/index.js';
export {
  type BodyRead,
  type CompressionCandidate,
  type CompressionDecision,
  type CompressionPolicy,
  type CompressionPolicyOptions,
  type CompressionReason,
  type ContentCoding,
  createCompressionPolicy,
  negotiateEncoding,
  type PeekedBody,
  peekBody,
  type ResponseHeaderSource,
  shouldCompress,
  weakenEtag,
} from './compression/index.js';
export { type CorsOptions, cors } from './cors/index.js';
export {
  createRateLimiter,
  type DecisionSource,
  type FailurePolicy,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitResult,
} from './limiter/index.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory-store/index.js';
export {
  type CursorPosition,
  decodeCursor,
  encodeCursor,
  listQuerySchema,
  type Page,
  toPage,
} from './pagination/index.js';
export {
  type RateLimitCost,
  type RateLimitKey,
  type RateLimitOptions,
  type RouteRateLimit,
  rateLimit,
} from './rate-limit/index.js';
export { type RequestLogOptions, requestLog } from './request-log/index.js';
export { type RouteMatch, type RouteParams, Router } from './router/index.js';
export {
  createRouteContext,
  createRouteHandler,
  json,
  noContent,
  type PatternRoute,
  queryObject,
  type Route,
  type RouteContext,
  type RouteHandlerOptions,
} from './routes/index.js';
export {
  type FieldIssue,
  isStandardSchema,
  type SchemaOutput,
  type StandardSchema,
  type StandardSchemaIssue,
  type StandardSchemaResult,
  validate,
  validationProblem,
} from './schema/index.js';
export {
  buildCsp,
  type CspDirectives,
  type CspOptions,
  type HstsOptions,
  type SecurityHeadersMiddleware,
  type SecurityHeadersOptions,
  securityHeaders,
} from './security-headers/index.js';
export type {
  RateLimitAlgorithm,
  RateLimitStore,
  StoreDecision,
  StoreRequest,
} from './store/index.js';
