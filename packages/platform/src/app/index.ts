import type { Auth } from '@fairmind/auth';
import { authRoutes } from '@fairmind/auth/routes';
import { authMigrations } from '@fairmind/auth/sql';
import type { Cache } from '@fairmind/cache';
import {
  createClientIpResolver,
  type FairmindConfig,
  type Handler,
  type Logger,
  type Middleware,
} from '@fairmind/core';
import { type Database, migrate } from '@fairmind/db-pool';
import { type BodySource, type PatternRoute, Router } from '@fairmind/edge';
import type { Registry } from 'prom-client';
import { createAssessmentRepository } from '../assessments/index.js';
import { createHealth } from '../health/index.js';
import { createModelRepository } from '../models/index.js';
import { governanceRoutes } from '../routes/governance.js';
import { bootstrapAdmin } from './bootstrap.js';
import { createDispatcher } from './dispatch.js';
import { platformMiddleware } from './middleware.js';
import { platformMigrations } from './migrations.js';
import { closeServices, createServices } from './services.js';

export { platformMigrations } from './migrations.js';

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

/** Every permission of HTTP-API.md, in its order, so `/auth/me` lists concrete ones. */
const PERMISSIONS = [
  'models:read',
  'models:write',
  'models:delete',
  'assessments:read',
  'assessments:write',
  'dashboard:read',
  'users:manage',
  'audit:read',
  'apikeys:create',
] as const;

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
  const services = createServices({ config, logger, registry });
  const { db, redis, cache, users, auth } = services;
  const clientIp = createClientIpResolver({ trustedProxies: config.trustedProxies });
  const health = createHealth({
    db,
    cache,
    version: options.version ?? '0.1.0',
    migrations: [authMigrations, platformMigrations],
    ...(options.draining ? { draining: options.draining } : {}),
  });
  const models = createModelRepository(db);
  const assessments = createAssessmentRepository(db);
  const router = new Router<PatternRoute>();
  for (const [method, path, route] of [
    // The auth router any app can mount, with the routes HTTP-API.md names.
    ...authRoutes(auth, {
      users,
      clientIp,
      permissions: PERMISSIONS,
      passwordChange: false,
      userAdmin: 'create',
    }).routes,
    ...governanceRoutes({ db, cache, models, assessments }),
    ...health.routes(registry),
  ]) {
    router.add(method, path, { ...route, pattern: path });
  }
  const middleware = platformMiddleware({ config, logger, registry, auth, redis, clientIp });
  const handler = createDispatcher({ router, auth });

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
      if (config.admin) await bootstrapAdmin({ db, users, auth, logger, admin: config.admin });
      await db.health();
      logger.info(
        {
          database: db.driver,
          cache: redis ? 'redis' : 'memory',
          rateLimit: redis ? 'redis' : 'memory',
          revocation: redis ? 'redis' : 'memory',
        },
        `[@fairmind/platform] ready: database on ${db.driver === 'postgres' ? 'PostgreSQL' : 'SQLite'}, revocations in SQL${redis ? ' with Redis in front' : ''}, cache and rate limits ${redis ? 'on Redis' : 'in memory'}`,
      );
    },
    close: () => closeServices(services),
  };
}
