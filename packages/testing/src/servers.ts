// The server helpers alone, for scripts run outside vitest: the main entry also exports the
// vitest hooks, and importing vitest outside its runner throws.
export { type BlackholeServer, startBlackholeServer } from './blackhole.js';
export type { ControlledServer } from './children.js';
export { type FaultProxy, startFaultProxy } from './fault-proxy.js';
export { type Nginx, type StartNginxOptions, startNginx } from './nginx.js';
export { type PgBouncer, type StartPgBouncerOptions, startPgBouncer } from './pgbouncer.js';
export {
  loginOutcome,
  type PostgresServer,
  type StartPostgresServerOptions,
  startPostgresServer,
} from './postgres-server.js';
export { type ProcessResult, type RunTypeScriptOptions, runTypeScript } from './process.js';
export {
  type RedisCluster,
  type RedisClusterNode,
  type StartRedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.js';
export { sharedRedisClient } from './redis-keys.js';
export {
  freePort,
  type RedisServer,
  type StartRedisServerOptions,
  startRedisServer,
} from './redis-server.js';
export { type ServerProcess, type StartServerOptions, startServer } from './server.js';
export { until } from './util.js';
