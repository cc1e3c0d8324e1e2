// Kept free of runtime vitest imports: the global setup loads this file in the main process,
// where vitest's test APIs are not available.

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin connection string: its user may CREATE DATABASE; tests never write into it. */
    fairmindDatabaseUrl: string;
    /** Shared Redis; every test file works under its own key prefix. */
    fairmindRedisUrl: string;
    /** Random per global-setup run; namespaces databases and keys so leftovers can be swept. */
    fairmindRunId: string;
    /**
     * Comma-separated node URLs when the shared Redis is a Redis Cluster
     * (`FAIRMIND_TEST_REDIS_CLUSTER_NODES`), else empty.
     */
    fairmindRedisClusterNodes: string;
  }
}

export const PROVIDED = {
  databaseUrl: 'fairmindDatabaseUrl',
  redisUrl: 'fairmindRedisUrl',
  runId: 'fairmindRunId',
  redisClusterNodes: 'fairmindRedisClusterNodes',
} as const;
