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
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';

/** What the platform is built on: the database, Redis when configured, the cache and auth. */
export interface Services {
  readonly db: Database;
  readonly redis: Redis | undefined;
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
 * PostgreSQL or SQLite by `DATABASE_URL`, Redis or memory by `REDIS_URL`.
 */
export function createServices({ config, logger, registry }: ServiceContext): Services {
  const db = createDatabase({
    url: config.database.url,
    poolSize: config.database.poolSize,
    maxOverflow: config.database.maxOverflow,
    timeoutMs: Math.round(config.database.timeoutMs),
    logger,
    registry,
  });
  // One client for the commands of every package; ioredis queues nothing while offline, so a
  // Redis outage fails fast into each package's fallback instead of piling up.
  const redis = config.redis.url
    ? new Redis(config.redis.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        lazyConnect: false,
      })
    : undefined;
  if (redis) watchRedisClient(redis, { logger, name: '@fairmind/platform' });

  const cache = createCache({
    ...(config.redis.url ? { redis: config.redis.url } : {}),
    ttl: config.redis.ttlSeconds * 1000,
    namespace: 'fairmind',
    logger,
    registry,
  });
  const users = createSqlUserStore(db);
  const auth = createPlatformAuth({ config, logger, registry, db, users, redis });
  return { db, redis, cache, users, auth };
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
  return createAuth({
    ...authOptionsFromConfig(config),
    users,
    apiKeys: createSqlApiKeyStore(db),
    refreshFamilies: createSqlRefreshFamilyStore(db),
    revocation: redisStores
      ? createLayeredRevocationStore({
          fast: createRedisRevocationStore(redisStores),
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
