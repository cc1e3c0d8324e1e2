export {
  type ConformanceOptions,
  type ConformanceScript,
  type ConformanceTarget,
  describeConformance,
  normaliseBody,
  type Observed,
} from './conformance.js';
export { type ServiceUrls, serviceUrls } from './context.js';
export {
  type BackendFilter,
  type CreateTestDatabaseOptions,
  createTestDatabase,
  databaseUrl,
  dropTestDatabase,
  type TestDatabase,
  terminateBackends,
} from './database.js';
export {
  type TestRedis,
  type UseTestDatabaseOptions,
  useTestDatabase,
  useTestRedis,
} from './hooks.js';
export { undefinedOptions } from './options.js';
export {
  describeHealthStates,
  describePlatformContract,
  type PlatformContractOptions,
} from './platform-suite.js';
export { type RecordingLogger, recordingLogger } from './recording-logger.js';
export { deleteRedisPrefix } from './redis-keys.js';
export * from './servers.js';
export { until } from './util.js';
