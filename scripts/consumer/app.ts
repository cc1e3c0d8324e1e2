// A small application that uses every published package the way the guides show, compiled by
// scripts/consumer/check.ts against the packed tarballs under several module settings. It is
// never run; no top-level await, so it compiles as CommonJS too.
import { createAuth, createMemoryUserStore, type Principal } from '@fairmind/auth';
import { createRedisRefreshFamilyStore, createRedisRevocationStore } from '@fairmind/auth/redis';
import { authMigrations, createSqlUserStore } from '@fairmind/auth/sql';
import { createCache } from '@fairmind/cache';
import { authGuard, FairmindError, jsonReply, loadConfig, type Middleware } from '@fairmind/core';
import { createLifecycle } from '@fairmind/core/lifecycle';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { nodeExchange } from '@fairmind/core/node';
import { createDatabase, migrate, sql } from '@fairmind/db-pool';
import { cors, rateLimit, readJsonBody, requestLog, securityHeaders } from '@fairmind/edge';
import { createNodeCompression } from '@fairmind/edge/node';
import { createRedisStore } from '@fairmind/edge/redis';
import * as fmExpress from '@fairmind/express';
import * as fmFastify from '@fairmind/fastify';
import * as fmHono from '@fairmind/hono';
import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
import { createRequestListener } from '@fairmind/node';
import { createPlatform, serveUntilShutdown } from '@fairmind/platform';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { Redis } from 'ioredis';

// Rows may be interfaces: no index signature needed.
interface Item {
  id: string;
  name: string;
}

export async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const registry = createMetricsRegistry();
  const lifecycle = createLifecycle({ logger });

  // Environment values go straight in: every option accepts undefined.
  const db = createDatabase({ url: process.env.DATABASE_URL, poolSize: undefined });
  await migrate({ db, ...authMigrations });
  const items: Item[] = await db.many<Item>(sql`select id, name from items`);
  const first: Item | null = await db.maybeOne<Item>(sql`select id, name from items limit 1`);

  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis'));
  const cache = createCache({ redis: process.env.REDIS_URL, logger, registry });

  const auth = createAuth({
    secret: process.env.JWT_SECRET,
    users: createSqlUserStore(db),
    revocation: createRedisRevocationStore({ client: redis }),
    refreshFamilies: createRedisRefreshFamilyStore({ client: redis }),
    logger,
  });
  const memoryAuth = createAuth({ secret: process.env.JWT_SECRET, users: createMemoryUserStore() });
  const body: { refreshToken?: string } = {};
  const principal: Principal = await memoryAuth.verifyAccessToken('token');
  await memoryAuth.logout(principal, { refreshToken: body.refreshToken });

  const requireTenant: Middleware = (exchange) => {
    const tenant = exchange.request.headers.get('x-tenant');
    if (!tenant) throw new FairmindError('VALIDATION_FAILED', 400, 'Send an X-Tenant header.');
    return { headers: { 'x-tenant': tenant } };
  };
  const chain: Middleware[] = [
    requestLog({ logger, registry }),
    securityHeaders({ trustedProxies: config.trustedProxies }),
    cors({ origins: config.cors.origins }),
    rateLimit({
      store: createRedisStore({ client: redis }),
      limit: config.rateLimit.requests,
      windowSeconds: config.rateLimit.windowSeconds,
    }),
    auth.authenticate({ optional: true }),
    requireTenant,
  ];

  const app = express();
  app.use(fmExpress.fairmind({ middleware: chain }));
  app.get('/me', (req, res) => {
    res.json({ id: req.auth?.id ?? null, items, first });
  });
  // A guard through use(): the principal is typed as present after it, on every framework.
  const admins = authGuard(auth.requireRole('admin'));
  app.get('/admin/:section', fmExpress.use(admins), (req, res) => {
    res.json({ id: req.auth.id, section: req.params.section });
  });
  app.post('/echo', async (req, res) => {
    res.json(await readJsonBody<{ name: string }>(req));
  });
  app.use(fmExpress.problemHandler({ logger }));

  const fastify = Fastify();
  await fastify.register(fmFastify.fairmind, { middleware: chain, logger });
  fastify.get('/me', async (request) => ({ id: request.auth?.id ?? null }));
  fastify.get(
    '/admin',
    fmFastify.guarded(admins, async (request) => ({ id: request.auth.id })),
  );

  const hono = new Hono<fmHono.FairmindEnv>();
  hono.use(
    fmHono.fairmind({
      clientAddress: nodeClientAddress,
      compression: { encoder: nodeEncoder() },
      middleware: chain,
    }),
  );
  hono.get('/me', (c) => c.json({ id: c.get('auth')?.id ?? null }));
  hono.get('/admin', fmHono.use(admins), (c) => c.json({ id: c.get('auth').id }));
  hono.onError(fmHono.problemHandler({ logger }));

  const compress = createNodeCompression({ threshold: undefined });
  const listener = createRequestListener({
    middleware: chain,
    handler: async (_exchange, req) => jsonReply(200, await readJsonBody(req)),
  });
  const platform = createPlatform({ config, logger, registry, version: undefined });
  fmExpress.mount(express(), platform, { logger });

  const server = app.listen(config.port, config.host);
  serveUntilShutdown(server, { config, logger, lifecycle, name: 'consumer' });
  void [cache, compress, listener, nodeExchange];
}
