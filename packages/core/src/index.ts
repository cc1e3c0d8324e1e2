export {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  createCircuitBreaker,
} from './circuit-breaker/index.js';
export {
  type DatabaseTarget,
  type FairmindConfig,
  type LoadConfigOptions,
  loadConfig,
} from './config/index.js';
export {
  type AuthGuard,
  authGuard,
  type Decision,
  type Exchange,
  type FairmindState,
  type FinishInfo,
  type Handler,
  type HeaderReader,
  type HeaderRecord,
  invalidOptions,
  isAuthGuard,
  JSON_CONTENT_TYPE,
  jsonReply,
  type Middleware,
  type MiddlewareResult,
  type Outcome,
  problemReply,
  type Reply,
  type RequestView,
  requestPath,
  requestSearch,
  runMiddleware,
} from './contract/index.js';
export {
  codeForStatus,
  ErrorCode,
  type ErrorCodeName,
  FairmindError,
  type FairmindErrorOptions,
  findCause,
  isFairmindError,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  type ToProblemOptions,
  toProblem,
} from './errors/index.js';
export {
  type ClientIp,
  type ClientIpResolver,
  type ClientIpResolverOptions,
  type ClientIpSource,
  createClientIpResolver,
  type TrustedProxies,
} from './ip/index.js';
export {
  type LineLevel,
  type LineWriter,
  type Logger,
  lineWriterOf,
  logRequestFailure,
  type RequestFailure,
  silentLogger,
} from './log/index.js';
export {
  booleanRule,
  checkOption,
  type DefaultedOption,
  durationMsRule,
  functionRule,
  type NumberRuleOptions,
  nonEmptyStringRule,
  numberRule,
  type OptionRule,
  type OptionScope,
  oneOfRule,
  optionOrDefault,
  optionScopeError,
  type WholeNumberRuleOptions,
  wholeNumberRule,
} from './options/index.js';
export {
  type WatchableRedis,
  type WatchRedisClientOptions,
  watchRedisClient,
} from './redis-watch/index.js';
export type { AuthOf } from './state/index.js';
export { toIsoTime } from './time/index.js';
