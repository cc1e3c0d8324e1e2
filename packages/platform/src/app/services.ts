import {
  type Auth,
  authOptionsFromConfig,
  createAuth,
  createFallbackAttemptStore,
  createLayeredRevocationStore,
  createLoggerAuditSink,
  createMemoryAttemptStore,
  type UserStore,
} from '@fairmind/auth';
import { createRedisAttemptStore, createRedisRevocationStore } from '@fairmind/auth/redis';
import {
  createSqlApiKeyStore,
  createSqlAuditSink,
  createSqlRefreshFamilyStore,
  createSqlRevocationStore,
  createSqlUserStore,
} from '@fairmind/auth/sql';
import { type Cache, createCache } from '@fairmind/cache';
import { type FairmindConfig, type Logger, watchRedisClient } from '@fairmind/core';
import { createDatabase, type Database } from '@fairmind/db-pool';
import { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';

/** What the platform is built on: the database, Redis when configured, the cache and auth. */
export interface Services {
  readonly db: Database;
  readonly redis: Redis | Cluster | undefined;
  readonly cache: Cache;
  readonly users: UserStore;
  readonly auth: Auth;
}

/** The settings and sinks every service is made with. */
export interface ServiceContext {
  readonly config: FairmindConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * Opens the database pool and the Redis client, and makes the cache and auth on them:
 * PostgreSQL or SQLite by `DATABASE_URL`; Redis by `REDIS_URL`, a Redis Cluster by
 * `REDIS_CLUSTER_NODES`, memory without either.
 */
export function createServices({ config, logger, registry }: ServiceContext): Services {
  const db = createDatabase({
    url: config.database.url,
    poolSize: config.database.poolSize,
    maxOverflow: config.database.maxOverflow,
    timeoutMs: Math.round(config.database.timeoutMs),
    ...(config.database.replicaUrls
      ? {
          replicas: config.database.replicaUrls,
          maxReplicaLagMs: config.database.replicaMaxLagMs,
        }
      : {}),
    logger,
    registry,
  });
  const redis = createRedisClient(config.redis);
  if (redis) watchRedisClient(redis, { logger, name: '@fairmind/platform' });

  const cache = createCache({
    // A Cluster client is shared (the cache subscribes on a duplicate of it); one server keeps
    // the cache's own connection, so a slow cache command never queues behind auth's.
    ...(config.redis.url ? { redis: config.redis.url } : redis ? { redis } : {}),
    ttl: config.redis.ttlSeconds * 1000,
    namespace: 'fairmind',
    logger,
    registry,
  });
  const users = createSqlUserStore(db);
  const auth = createPlatformAuth({ config, logger, registry, db, users, redis });
  return { db, redis, cache, users, auth };
}

// One client for the commands of every package; ioredis queues nothing while offline, so a
// Redis outage fails fast into each package's fallback instead of piling up. On a Cluster the
// client follows MOVED and ASK itself and refreshes its slot map after a failover; each
// package keeps the keys one command touches in one hash slot, so no CROSSSLOT reaches it.
function createRedisClient(settings: FairmindConfig['redis']): Redis | Cluster | undefined {
  const options = { enableOfflineQueue: false, maxRetriesPerRequest: 1 } as const;
  if (settings.url) return new Redis(settings.url, { ...options, lazyConnect: false });
  if (!settings.clusterNodes) return undefined;
  const urls = settings.clusterNodes.map((node) => new URL(node));
  const first = urls[0] as URL;
  return new Cluster(
    urls.map((url) => ({ host: url.hostname, port: Number(url.port || 6379) })),
    {
      enableOfflineQueue: false,
      redisOptions: {
        ...options,
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
        ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
      },
    },
  );
}

/**
 * The database is the record of every session and revocation; Redis only makes them fast
 * and shares the login counters. A Redis outage then costs no request: checks fall back to
 * SQL, logout and refresh write to SQL, failed logins are counted in this process.
 */
function createPlatformAuth({
  config,
  logger,
  registry,
  db,
  users,
  redis,
}: ServiceContext & Pick<Services, 'db' | 'users' | 'redis'>): Auth {
  const durableRevocations = createSqlRevocationStore(db);
  // Well inside auth's 1 s store deadline, so a frozen Redis falls back rather than fails.
  const redisStores = redis ? { client: redis, logger, timeoutMs: 250 } : undefined;
  // On a Cluster a master can fail over with a revocation its replica never got: one replica
  // must confirm each, or the revocation is answered from SQL (see waitForReplicas).
  const waitForReplicas = config.redis.clusterNodes ? 1 : 0;
  return createAuth({
    ...authOptionsFromConfig(config),
    users,
    apiKeys: createSqlApiKeyStore(db),
    refreshFamilies: createSqlRefreshFamilyStore(db),
    revocation: redisStores
      ? createLayeredRevocationStore({
          // A token presented again is answered from memory; a logout on another instance
          // is seen here within REVOCATION_STALE_MS (the store's revocation counter, read in
          // the background), and at once on this one.
          fast: createRedisRevocationStore({
            ...redisStores,
            waitForReplicas,
            local: config.jwt.revocationStaleMs > 0 && { staleMs: config.jwt.revocationStaleMs },
          }),
          durable: durableRevocations,
          // The Redis store's own 250 ms deadline bounds the fast path.
          fastTimeoutMs: 0,
          logger,
        })
      : durableRevocations,
    attempts: redisStores
      ? createFallbackAttemptStore({ primary: createRedisAttemptStore(redisStores), logger })
      : createMemoryAttemptStore(),
    audit: [createSqlAuditSink(db), createLoggerAuditSink(logger)],
    logger,
    registry,
  });
}

/** Closes auth (its password workers), the cache, Redis, then the pool, in that order. */
export async function closeServices({ auth, cache, redis, db }: Services): Promise<void> {
  await auth.close();
  await cache.close();
  if (redis) await redis.quit().catch(() => redis.disconnect());
  await db.close();
}
