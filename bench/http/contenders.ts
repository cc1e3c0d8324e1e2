/**
 * The servers of the HTTP contender matrix, each built in its own process by server.ts. Every
 * one answers `GET /api/models` with the same JSON: twenty rows of `bench_http_models`.
 *   (a) bare: node:http, Express, Fastify and Hono send the rows, read once at start, with no
 *       middleware at all: the ceiling of each framework; and bare Fastify with the two Redis
 *       round trips a shared rate limit and revocation check cannot skip, their floor;
 *   (b) Express stitched by hand: pino-http, helmet, express-rate-limit on rate-limit-redis,
 *       jose verification of the bearer token, compression, and an ioredis read-through cache
 *       in front of a pg.Pool query;
 *   (c) Fastify stitched by hand: a pino log hook, @fastify/helmet, @fastify/rate-limit on
 *       Redis, @fastify/jwt, @fastify/compress, the same ioredis cache and pg.Pool query;
 *   (d) ours on each adapter: requestLog, securityHeaders, rateLimit on the Redis store,
 *       auth.authenticate() and requirePermission('models:read'), compression, and
 *       @fairmind/cache (L1 in front of Redis) in front of a @fairmind/db-pool query.
 * The stacks log one line per request to /dev/null, count requests per client in Redis with a
 * limit no request reaches, verify the same HS256 token, and gzip the ~2.5 KB body.
 */
import { createServer, type Server } from 'node:http';
import { createAuth, createMemoryUserStore } from '@fairmind/auth';
import { createCache, createResponseCache } from '@fairmind/cache';
import { FairmindError, jsonReply, requestPath } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import { createDatabase, sql } from '@fairmind/db-pool';
import { rateLimit, requestLog, securityHeaders } from '@fairmind/edge';
import { createRedisStore } from '@fairmind/edge/redis';
import { fairmind as fairmindExpress } from '@fairmind/express';
import { fairmind as fairmindFastify, handle as fastifyHandle } from '@fairmind/fastify';
import { type FairmindEnv, fairmind as fairmindHono } from '@fairmind/hono';
import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
import { createRequestListener } from '@fairmind/node';
import fastifyCompress from '@fastify/compress';
import fastifyHelmet from '@fastify/helmet';
import fastifyJwt from '@fastify/jwt';
import fastifyRateLimit from '@fastify/rate-limit';
import { createAdaptorServer } from '@hono/node-server';
import compression from 'compression';
import express from 'express';
import Fastify from 'fastify';
import { type Env, Hono } from 'hono';
import { Redis } from 'ioredis';
import { jwtVerify } from 'jose';
import pg from 'pg';
import pino from 'pino';
import { RedisStore } from 'rate-limit-redis';
import { peerExpressApp, peerFastifyLog, peerRequestId } from '../lib/peers.js';

/** What every contender is given: where the services are, and the token's secret. */
export interface Services {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly jwtSecret: string;
  /** Keys in Redis start with this, so contenders never share counters or cache entries. */
  readonly prefix: string;
}

export const ROUTE = '/api/models';
export const QUERY =
  'select id, name, version, risk_level, description from bench_http_models order by id limit 20';
const LIMIT = 1_000_000_000;
const WINDOW_SECONDS = 60;
const CACHE_SECONDS = 60;
/** As @fairmind/auth signs by default, so every stack verifies the same claims. */
export const ISSUER = 'fairmind';
export const AUDIENCE = 'fairmind-api';

function devNullLogger(): pino.Logger {
  return pino(pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }));
}

async function rowsOnce(services: Services): Promise<string> {
  const client = new pg.Client({ connectionString: services.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(QUERY);
    return JSON.stringify({ items: rows, nextCursor: null });
  } finally {
    await client.end();
  }
}

/**
 * The read-through cache a user writes on ioredis: the JSON text under one key, sent as it is
 * on a hit (no parse and stringify), the query and a SET with a TTL on a miss.
 */
function handCache(services: Services): () => Promise<string> {
  const redis = new Redis(services.redisUrl);
  const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 10 });
  const key = `${services.prefix}cache:models`;
  return async () => {
    const cached = await redis.get(key);
    if (cached !== null) return cached;
    const { rows } = await pool.query(QUERY);
    const text = JSON.stringify({ items: rows, nextCursor: null });
    await redis.set(key, text, 'EX', CACHE_SECONDS);
    return text;
  };
}

type Build = (services: Services) => Promise<Server>;

async function bareNode(services: Services): Promise<Server> {
  const body = await rowsOnce(services);
  return createServer((req, res) => {
    if (req.url === ROUTE) {
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    res.writeHead(404).end();
  });
}

async function bareExpress(services: Services): Promise<Server> {
  const body = JSON.parse(await rowsOnce(services)) as unknown;
  const app = express();
  app.disable('x-powered-by');
  app.get(ROUTE, (_req, res) => {
    res.json(body);
  });
  return createServer(app);
}

async function bareFastify(services: Services): Promise<Server> {
  const body = JSON.parse(await rowsOnce(services)) as unknown;
  const app = Fastify();
  app.get(ROUTE, async () => body);
  await app.ready();
  return app.server;
}

/**
 * The floor of any stack that shares its rate limit and revocations between instances: bare
 * Fastify plus the two Redis round trips per request such a stack cannot skip (a counter
 * increment and a key lookup), and nothing else.
 */
async function bareFastifyRedis(services: Services): Promise<Server> {
  const body = JSON.parse(await rowsOnce(services)) as unknown;
  const redis = new Redis(services.redisUrl);
  const counter = `${services.prefix}floor:count`;
  const revoked = `${services.prefix}floor:revoked`;
  const app = Fastify();
  app.get(ROUTE, async () => {
    await redis.incr(counter);
    await redis.exists(revoked);
    return body;
  });
  await app.ready();
  return app.server;
}

async function bareHono(services: Services): Promise<Server> {
  const body = JSON.parse(await rowsOnce(services)) as unknown;
  const app = new Hono();
  app.get(ROUTE, (c) => c.json(body));
  return createAdaptorServer({ fetch: app.fetch }) as Server;
}

async function stitchedExpress(services: Services): Promise<Server> {
  const logger = devNullLogger();
  const redis = new Redis(services.redisUrl);
  const read = handCache(services);
  const secret = new TextEncoder().encode(services.jwtSecret);
  const app = peerExpressApp(logger, {
    limit: LIMIT,
    windowSeconds: WINDOW_SECONDS,
    store: new RedisStore({
      prefix: `${services.prefix}rl:`,
      sendCommand: (command: string, ...args: string[]) =>
        redis.call(command, ...args) as Promise<number>,
    }),
  });
  app.use(async (req, res, next) => {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ') !== true) {
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    try {
      await jwtVerify(header.slice(7), secret, { issuer: ISSUER, audience: AUDIENCE });
      next();
    } catch {
      res.status(401).json({ error: 'unauthorized' });
    }
  });
  app.use(compression());
  app.get(ROUTE, async (_req, res) => {
    res.type('application/json').send(await read());
  });
  return createServer(app);
}

async function stitchedFastify(services: Services): Promise<Server> {
  const redis = new Redis(services.redisUrl);
  const read = handCache(services);
  const app = Fastify({ genReqId: peerRequestId });
  peerFastifyLog(app, devNullLogger());
  await app.register(fastifyHelmet);
  await app.register(fastifyRateLimit, {
    max: LIMIT,
    timeWindow: WINDOW_SECONDS * 1000,
    redis,
    nameSpace: `${services.prefix}rl:`,
    enableDraftSpec: true,
  });
  await app.register(fastifyJwt, {
    secret: services.jwtSecret,
    verify: { allowedIss: ISSUER, allowedAud: AUDIENCE },
  });
  app.addHook('onRequest', async (request) => {
    await request.jwtVerify();
  });
  await app.register(fastifyCompress);
  app.get(ROUTE, async (_request, reply) => {
    reply.type('application/json; charset=utf-8');
    return read();
  });
  await app.ready();
  return app.server;
}

/** Our packages as a user wires them: one auth, one cache, one database, one chain. */
function ourParts(services: Services, { l1 = true, lease = false } = {}) {
  const logger = createLogger({
    destination: pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }),
  });
  const auth = createAuth({ secret: services.jwtSecret, users: createMemoryUserStore() });
  const cache = createCache({
    redis: services.redisUrl,
    ttl: CACHE_SECONDS * 1000,
    namespace: `${services.prefix}cache`,
    ...(l1 ? {} : { l1: false as const }),
  });
  const db = createDatabase({ url: services.databaseUrl, poolSize: 10 });
  const redis = new Redis(services.redisUrl);
  const middleware = [
    requestLog({ logger }),
    securityHeaders(),
    rateLimit({
      limit: LIMIT,
      windowSeconds: WINDOW_SECONDS,
      store: createRedisStore({ client: redis, prefix: `${services.prefix}rl:` }),
      lease,
    }),
    auth.authenticate(),
    auth.requirePermission('models:read'),
  ];
  const list = () =>
    cache.getOrSet('models', async () => ({
      items: await db.many(
        sql`select id, name, version, risk_level, description from bench_http_models order by id limit 20`,
      ),
      nextCursor: null,
    }));
  // The toolkit's way to keep the JSON text itself, as the hand stacks do: a hit is sent
  // without running the handler or serializing again.
  const responses = createResponseCache({
    cache,
    ttl: CACHE_SECONDS * 1000,
    vary: [(exchange) => exchange.state.auth?.role],
  });
  const cachedList = responses.cached(async () => jsonReply(200, await list()));
  return { middleware, list, cachedList };
}

async function oursExpress(services: Services): Promise<Server> {
  const { middleware, list } = ourParts(services);
  const app = express();
  app.disable('x-powered-by');
  app.use(fairmindExpress({ middleware, compression: {} }));
  app.get(ROUTE, async (_req, res) => {
    res.json(await list());
  });
  return createServer(app);
}

async function oursFastify(
  services: Services,
  {
    l1 = true,
    responses = false,
    lease = false,
  }: { l1?: boolean; responses?: boolean; lease?: boolean } = {},
): Promise<Server> {
  const { middleware, list, cachedList } = ourParts(services, { l1, lease });
  const app = Fastify();
  await app.register(fairmindFastify, { middleware, compression: {} });
  if (responses) app.get(ROUTE, fastifyHandle(cachedList));
  else app.get(ROUTE, () => list());
  await app.ready();
  return app.server;
}

async function oursHono(services: Services): Promise<Server> {
  const { middleware, list } = ourParts(services);
  const app = new Hono<FairmindEnv>();
  app.use(
    fairmindHono({
      clientAddress: nodeClientAddress,
      compression: { encoder: nodeEncoder() },
      middleware,
    }),
  );
  app.get(ROUTE, async (c) => c.json(await list()));
  return createAdaptorServer({ fetch: (app as unknown as Hono<Env>).fetch }) as Server;
}

async function oursNode(services: Services): Promise<Server> {
  const { middleware, list } = ourParts(services);
  return createServer(
    createRequestListener({
      middleware,
      compression: {},
      async handler(exchange) {
        if (requestPath(exchange.request.url) === ROUTE) return jsonReply(200, await list());
        throw new FairmindError('NOT_FOUND', 404, 'No such route.');
      },
    }),
  );
}

/** Every contender by name, with its group: a, b, c or d, as the issue names them. */
export const CONTENDERS: Record<string, { group: 'a' | 'b' | 'c' | 'd'; build: Build }> = {
  'bare node:http': { group: 'a', build: bareNode },
  'bare Express': { group: 'a', build: bareExpress },
  'bare Fastify': { group: 'a', build: bareFastify },
  'bare Hono': { group: 'a', build: bareHono },
  'bare Fastify + 2 Redis commands': { group: 'a', build: bareFastifyRedis },
  'Express stitched': { group: 'b', build: stitchedExpress },
  'Fastify stitched': { group: 'c', build: stitchedFastify },
  '@fairmind on Express': { group: 'd', build: oursExpress },
  '@fairmind on Fastify': { group: 'd', build: (services) => oursFastify(services) },
  // The hand stacks read Redis on every request; this one does too, so the L1's part shows.
  '@fairmind on Fastify (cache l1: false)': {
    group: 'd',
    build: (services) => oursFastify(services, { l1: false }),
  },
  '@fairmind on Fastify (response cache)': {
    group: 'd',
    build: (services) => oursFastify(services, { responses: true }),
  },
  // The limit still shared through Redis, with a round trip per reservation of a busy
  // client rather than per request (the rate limiter's lease option, the platform's default).
  '@fairmind on Fastify (rate-limit leases)': {
    group: 'd',
    build: (services) => oursFastify(services, { lease: true }),
  },
  '@fairmind on Hono': { group: 'd', build: oursHono },
  '@fairmind on node:http': { group: 'd', build: oursNode },
};
