export {
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
export { describeHealthStates, describePlatformContract } from './platform-suite.js';
export { type ProcessResult, type RunTypeScriptOptions, runTypeScript } from './process.js';
export { type RecordingLogger, recordingLogger } from './recording-logger.js';
export { deleteRedisPrefix } from './redis-keys.js';
export {
  freePort,
  type RedisServer,
  type StartRedisServerOptions,
  startRedisServer,
} from './redis-server.js';
export { type ServerProcess, type StartServerOptions, startServer } from './server.js';
