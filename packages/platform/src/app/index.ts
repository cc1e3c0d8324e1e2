import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Auth,
  authOptionsFromConfig,
  createAuth,
  createFallbackAttemptStore,
  createLayeredRevocationStore,
  createLoggerAuditSink,
  createMemoryAttemptStore,
} from '@fairmind/auth';
import { createRedisAttemptStore, createRedisRevocationStore } from '@fairmind/auth/redis';
import {
  authMigrations,
  createSqlApiKeyStore,
  createSqlAuditSink,
  createSqlRefreshFamilyStore,
  createSqlRevocationStore,
  createSqlUserStore,
} from '@fairmind/auth/sql';
import { type Cache, createCache } from '@fairmind/cache';
import {
  createClientIpResolver,
  type Exchange,
  type FairmindConfig,
  FairmindError,
  type Handler,
  isFairmindError,
  type Logger,
  type Middleware,
  requestPath,
  watchRedisClient,
} from '@fairmind/core';
import { createDatabase, type Database, migrate, sql } from '@fairmind/db-pool';
import {
  type BodySource,
  cors,
  createMemoryStore,
  rateLimit,
  requestLog,
  securityHeaders,
} from '@fairmind/edge';
import { createRedisStore } from '@fairmind/edge/redis';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createAssessmentRepository } from '../assessments/index.js';
import { createHealth } from '../health/index.js';
import { createModelRepository } from '../models/index.js';
import { Router } from '../router/index.js';
import { authRoutes } from '../routes/auth.js';
import { governanceRoutes } from '../routes/governance.js';
import { createContext, type Route } from '../routes/index.js';

/** Options of {@link createPlatform}. */
export interface PlatformOptions {
  /** The parsed environment (`loadConfig()` from `@fairmind/core`). */
  config: FairmindConfig;
  /** One JSON line per request and the start-up report go here. */
  logger: Logger;
  /** Served at `/metrics`; every package registers into it. */
  registry: Registry;
  /**
   * Reported by `/health`.
   * @default the package version
   */
  version?: string | undefined;
  /**
   * True once the process is shutting down: `/health/ready` then answers 503, so that load
   * balancers and Kubernetes stop routing new requests while in-flight ones finish.
   * @default () => false
   */
  draining?: (() => boolean) | undefined;
}

/** The FairMind platform: contract middleware and a handler that any adapter mounts. */
export interface Platform {
  readonly middleware: readonly Middleware[];
  readonly handler: Handler<BodySource>;
  readonly db: Database;
  readonly cache: Cache;
  readonly auth: Auth;
  /**
   * Runs the migrations (auth's, then the platform's), creates the first admin from
   * `FAIRMIND_ADMIN_EMAIL` / `FAIRMIND_ADMIN_PASSWORD` on an empty user table, and warms the
   * pool. Call it before listening.
   */
  start(): Promise<void>;
  /** Closes the database, the cache, Redis and the password workers. */
  close(): Promise<void>;
}

declare module '@fairmind/core' {
  interface FairmindState {
    /** The matched route pattern, for the request-duration histogram's `route` label. */
    route?: string;
  }
}

// The migrations ship beside the build (dist/../migrations) and the sources (src/app/../../).
function migrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', 'migrations'), join(here, '..', '..', 'migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('[@fairmind/platform] the migrations folder is missing from the package');
}

export const platformMigrations = { dir: migrationsDir(), table: 'schema_migrations' } as const;

// The advisory lock the first-admin bootstrap takes on PostgreSQL ('FMAD'); a constant
// shared by every instance, distinct from the migrations' locks.
const FIRST_ADMIN_LOCK = 0x464d4144;

const PUBLIC_PATHS = /^\/(?:health(?:\/|$)|metrics$)/;

const PRIVATE = 'private, no-cache';

function hasCacheControl(headers: Readonly<Record<string, string>> | undefined): boolean {
  return (
    headers !== undefined && Object.keys(headers).some((n) => n.toLowerCase() === 'cache-control')
  );
}

/**
 * The same 4xx error, with `Cache-Control: private, no-cache` unless it names one itself.
 * 5xx answers are never stored without explicit freshness, and are thrown on untouched so
 * that their log line keeps the original error.
 */
function privateError(error: unknown): unknown {
  if (!isFairmindError(error) || error.status >= 500 || hasCacheControl(error.headers)) {
    return error;
  }
  return new FairmindError(error.code, error.status, error.message, {
    cause: error.cause,
    details: error.details,
    expose: error.expose,
    headers: { ...error.headers, 'cache-control': PRIVATE },
  });
}

/**
 * Wires the four packages into the FairMind HTTP API of `HTTP-API.md`: PostgreSQL or SQLite
 * by `DATABASE_URL`, Redis or memory by `REDIS_URL`.
 *
 * @example
 * ```ts
 * const platform = createPlatform({ config: loadConfig(), logger, registry });
 * await platform.start();
 * mount(app, platform); // @fairmind/express, fastify, hono or node
 * ```
 */
export function createPlatform(options: PlatformOptions): Platform {
  const { config, logger, registry } = options;
  const version = options.version ?? '0.1.0';
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

  // The database is the record of every session and revocation; Redis only makes them fast
  // and shares the login counters. A Redis outage then costs no request: checks fall back to
  // SQL, logout and refresh write to SQL, failed logins are counted in this process.
  const users = createSqlUserStore(db);
  const durableRevocations = createSqlRevocationStore(db);
  // Well inside auth's 1 s store deadline, so a frozen Redis falls back rather than fails.
  const redisStores = redis ? { client: redis, logger, timeoutMs: 250 } : undefined;
  const auth = createAuth({
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

  const clientIp = createClientIpResolver({ trustedProxies: config.trustedProxies });
  const models = createModelRepository(db);
  const assessments = createAssessmentRepository(db);
  const health = createHealth({
    db,
    cache,
    version,
    migrations: [authMigrations, platformMigrations],
    ...(options.draining ? { draining: options.draining } : {}),
  });

  const router = new Router<Route & { pattern: string }>();
  for (const [method, path, route] of [
    ...authRoutes({ auth, users, clientIp }),
    ...governanceRoutes({ db, cache, models, assessments }),
    ...health.routes(registry),
  ]) {
    router.add(method, path, { ...route, pattern: path });
  }

  const authenticate = auth.authenticate({ optional: true });
  const permissionChecks = new Map<string, Middleware>();
  function requirePermission(permission: string): Middleware {
    let check = permissionChecks.get(permission);
    if (!check) {
      check = auth.requirePermission(permission);
      permissionChecks.set(permission, check);
    }
    return check;
  }

  const byPrincipal = config.rateLimit.by === 'principal';
  const rateLimitKey = byPrincipal
    ? (exchange: Exchange) => {
        const principal = exchange.state.auth;
        if (principal === undefined) return `ip:${clientIp(exchange).key}`;
        return principal.apiKeyId ? `key:${principal.apiKeyId}` : `user:${principal.id}`;
      }
    : ('ip' as const);
  const limiter = rateLimit({
    paths: ['/auth/*', '/api/*'],
    limit: config.rateLimit.requests,
    windowSeconds: config.rateLimit.windowSeconds,
    store: redis
      ? createRedisStore({ client: redis, prefix: 'fairmind:rl:', logger })
      : createMemoryStore(),
    clientIp,
    key: rateLimitKey,
    registry,
    logger,
  });
  const platformAuthenticate = function platformAuthenticate(exchange: Exchange) {
    // Health checks and scrapers send no credentials; a stray bad header must not fail them.
    return PUBLIC_PATHS.test(requestPath(exchange.request.url))
      ? undefined
      : authenticate(exchange);
  };

  const middleware: Middleware[] = [
    requestLog({ logger, registry, clientIp, route: (exchange) => exchange.state.route }),
    securityHeaders({ clientIp }),
    // Credentials (cookies, Authorization) are allowed per listed origin; with CORS_ORIGINS=*
    // they cannot be (browsers refuse the pair), so the wildcard serves anonymous reads only.
    ...(config.cors.origins.length > 0
      ? [cors({ origins: config.cors.origins, credentials: !config.cors.origins.includes('*') })]
      : []),
    // Per principal, the limiter needs to know who is asking, so authentication runs first;
    // per IP (the default), the limiter runs first and protects authentication too.
    ...(byPrincipal ? [platformAuthenticate, limiter] : [limiter, platformAuthenticate]),
  ];

  const dispatch: Handler<BodySource> = async function dispatch(exchange, body) {
    const path = requestPath(exchange.request.url);
    const match = router.match(exchange.request.method, path);
    if (match.kind === 'not-found') {
      throw new FairmindError(
        'NOT_FOUND',
        404,
        `No route for ${exchange.request.method} ${path}: see docs/http-api.md.`,
      );
    }
    if (match.kind === 'method-not-allowed') {
      throw new FairmindError(
        'METHOD_NOT_ALLOWED',
        405,
        `${exchange.request.method} is not allowed here: use ${match.allow.join(', ')}.`,
        {
          headers: { Allow: match.allow.join(', ') },
        },
      );
    }
    const { route, params } = match;
    // The pattern, not the path, labels the duration histogram: one series per route.
    exchange.state.route = route.pattern;
    if (route.permission !== null) {
      if (exchange.state.auth === undefined) {
        throw new FairmindError(
          'UNAUTHENTICATED',
          401,
          'Send a bearer access token or an X-API-Key.',
          {
            headers: { 'WWW-Authenticate': 'Bearer' },
          },
        );
      }
      if (route.permission !== 'authenticated') await requirePermission(route.permission)(exchange);
    }
    return route.handle(createContext(exchange, params, body));
  };

  /**
   * Creates the first admin while the user table is empty, once across every instance that
   * starts at the same moment: the count and the insert run in one transaction under a lock
   * (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so the second instance waits,
   * then finds the admin instead of failing on the unique email.
   */
  async function bootstrapAdmin(admin: { email: string; password: string }): Promise<void> {
    const created = await db.transaction(
      async (tx) => {
        if (db.driver === 'postgres') {
          await tx.query(sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK}::bigint)`);
        }
        if ((await users.count()) > 0) return false;
        await auth.createUser({ email: admin.email, password: admin.password, role: 'admin' });
        return true;
      },
      { sqliteMode: 'immediate' },
    );
    if (created) {
      logger.info({ email: admin.email }, '[@fairmind/platform] created the first admin');
    } else {
      logger.info(
        { email: admin.email },
        '[@fairmind/platform] the first admin already exists (made by another instance or an earlier start): FAIRMIND_ADMIN_EMAIL and FAIRMIND_ADMIN_PASSWORD are ignored',
      );
    }
  }
  // HTTP-API.md: an answer to an authenticated request is the caller's alone, unless its
  // route says otherwise (token and API-key answers are no-store). Errors too: a 404 or a 403
  // is as much about the caller as a 200.
  const handler: Handler<BodySource> = async function platformHandler(exchange, body) {
    try {
      const reply = await dispatch(exchange, body);
      if (exchange.state.auth === undefined || hasCacheControl(reply.headers)) return reply;
      return { ...reply, headers: { ...reply.headers, 'cache-control': PRIVATE } };
    } catch (error) {
      throw exchange.state.auth === undefined ? error : privateError(error);
    }
  };

  let started = false;
  return {
    middleware,
    handler,
    db,
    cache,
    auth,
    async start() {
      if (started) return;
      started = true;
      await migrate({ db, dir: authMigrations.dir, table: authMigrations.table, logger });
      await migrate({ db, dir: platformMigrations.dir, table: platformMigrations.table, logger });
      if (config.admin) await bootstrapAdmin(config.admin);
      await db.health();
      logger.info(
        {
          database: db.driver,
          cache: config.redis.url ? 'redis' : 'memory',
          rateLimit: redis ? 'redis' : 'memory',
          revocation: redis ? 'redis' : 'memory',
        },
        `[@fairmind/platform] ready: database on ${db.driver === 'postgres' ? 'PostgreSQL' : 'SQLite'}, revocations in SQL${redis ? ' with Redis in front' : ''}, cache and rate limits ${redis ? 'on Redis' : 'in memory'}`,
      );
    },
    async close() {
      await auth.close();
      await cache.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
      await db.close();
    },
  };
}
