/**
 * The production middleware stack through the FairMind adapters beside the same stack stitched
 * by hand from the libraries it replaces, in one process and one run:
 *   - Express 5: `fairmind({ middleware: [requestLog(), securityHeaders(), rateLimit()],
 *     compression: {} })` with its built-in compression, vs pino-http, helmet(), express-rate-limit and
 *     expressjs/compression
 *   - Fastify 5: the `fairmind` plugin with the same middleware, vs an onResponse log line,
 *     @fastify/helmet, @fastify/rate-limit and @fastify/compress
 *   - Hono 4 on @hono/node-server: `fairmind({ clientAddress, middleware, compression: node
 *     encoder })`, vs a log middleware, hono/request-id, hono/secure-headers,
 *     hono-rate-limiter and hono/compress
 *   - each beside the bare framework, for reference
 * and then the Express stack taken apart, one piece at a time, with what each piece costs.
 * Both stacks log one line per request through the same pino logger (to /dev/null), set a
 * request id, security headers and IETF rate-limit headers, count requests per client IP in
 * memory (with a limit no request reaches) and compress bodies over 1 KB. The load comes from
 * a worker thread (lib/http-load.ts), so each server's event loop does server work only.
 *
 *   pnpm --filter "@fairmind/express..." build
 *   pnpm --filter @fairmind/bench run stack
 *
 * Knobs: BENCH_SECONDS (per round, 3), BENCH_ROUNDS (5), BENCH_CONCURRENCY (32 requests in
 * flight), BENCH_ONLY (one of express, fastify, hono, pieces), BENCH_CLIENT (worker, the
 * default, or wrk: see lib/http-load.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Middleware } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import { createMemoryStore, rateLimit, requestLog, securityHeaders } from '@fairmind/edge';
import { fairmind } from '@fairmind/express';
import { fairmind as fairmindFastify } from '@fairmind/fastify';
import { type FairmindEnv, fairmind as fairmindHono } from '@fairmind/hono';
import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
import fastifyCompress from '@fastify/compress';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import { createAdaptorServer } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import compression from 'compression';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Env, Hono } from 'hono';
import { compress } from 'hono/compress';
import { type RequestIdVariables, requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { rateLimiter as honoRateLimiter } from 'hono-rate-limiter';
import pino from 'pino';
import { createHttpLoad } from './lib/http-load.js';
import { type Contender, measure, numberFromEnv, report, sectionsFromEnv } from './lib/measure.js';
import { peerExpressApp, peerFastifyLog, peerRequestId } from './lib/peers.js';

const seconds = numberFromEnv('BENCH_SECONDS', 3);
const rounds = numberFromEnv('BENCH_ROUNDS', 5);
const concurrency = numberFromEnv('BENCH_CONCURRENCY', 32);
const options = { seconds, rounds, concurrency, warmupSeconds: 1 };
const section = sectionsFromEnv(['express', 'fastify', 'hono', 'pieces']);

console.log(
  `stack benchmark: node ${process.version}, concurrency ${concurrency}, ${rounds} rounds x ${seconds}s`,
);

const logger = createLogger({
  destination: pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }),
});
const LIMIT = 1_000_000_000;
const WINDOW_SECONDS = 60;

function payload(bytes: number): unknown {
  const items: unknown[] = [];
  for (let id = 0; JSON.stringify(items).length < bytes; id++) {
    items.push({ id: `m_${id}`, name: `Credit model ${id}`, riskLevel: 'high' });
  }
  return { items, nextCursor: null };
}
const bodies = { small: payload(300), '2k': payload(2 * 1024) };

function routes(app: express.Express): express.Express {
  app.get('/small', (_req, res) => {
    res.json(bodies.small);
  });
  app.get('/2k', (_req, res) => {
    res.json(bodies['2k']);
  });
  return app;
}

function ours(): Server {
  const app = express();
  app.use(
    fairmind({
      middleware: [
        requestLog({ logger }),
        securityHeaders(),
        rateLimit({ limit: LIMIT, windowSeconds: WINDOW_SECONDS, store: createMemoryStore() }),
      ],
      compression: {},
    }),
  );
  return createServer(routes(app));
}

// The peers configured to do the same work: the log line and request id of lib/peers.ts,
// helmet's defaults, draft IETF headers.
function stitched(): Server {
  const app = peerExpressApp(logger, { limit: LIMIT, windowSeconds: WINDOW_SECONDS });
  app.use(compression());
  return createServer(routes(app));
}

function bare(): Server {
  const app = express();
  app.disable('x-powered-by');
  return createServer(routes(app));
}

function fastifyRoutes(app: FastifyInstance): FastifyInstance {
  app.get('/small', async () => bodies.small);
  app.get('/2k', async () => bodies['2k']);
  return app;
}

async function fastifyOurs(): Promise<Server> {
  const app = Fastify();
  await app.register(fairmindFastify, {
    middleware: [
      requestLog({ logger }),
      securityHeaders(),
      rateLimit({ limit: LIMIT, windowSeconds: WINDOW_SECONDS, store: createMemoryStore() }),
    ],
    compression: {},
  });
  await fastifyRoutes(app).ready();
  return app.server;
}

async function fastifyStitched(): Promise<Server> {
  const app = Fastify({ genReqId: peerRequestId });
  peerFastifyLog(app, logger);
  await app.register(fastifyHelmet);
  await app.register(fastifyRateLimit, {
    max: LIMIT,
    timeWindow: WINDOW_SECONDS * 1000,
    enableDraftSpec: true,
  });
  await app.register(fastifyCompress);
  await fastifyRoutes(app).ready();
  return app.server;
}

async function fastifyBare(): Promise<Server> {
  const app = Fastify();
  await fastifyRoutes(app).ready();
  return app.server;
}

function honoRoutes<E extends Env>(app: Hono<E>): Hono<E> {
  app.get('/small', (c) => c.json(bodies.small));
  app.get('/2k', (c) => c.json(bodies['2k']));
  return app;
}

function honoServer(app: Hono<Env>): Server {
  return createAdaptorServer({ fetch: app.fetch }) as Server;
}

function honoOurs(): Server {
  const app = new Hono<FairmindEnv>();
  app.use(
    fairmindHono({
      clientAddress: nodeClientAddress,
      compression: { encoder: nodeEncoder() },
      middleware: [
        requestLog({ logger }),
        securityHeaders(),
        rateLimit({ limit: LIMIT, windowSeconds: WINDOW_SECONDS, store: createMemoryStore() }),
      ],
    }),
  );
  return honoServer(honoRoutes(app) as unknown as Hono<Env>);
}

// Hono's own pieces, configured to do the same work: hono/logger prints text, so the log
// line comes from a small middleware writing the fields requestLog() writes.
function honoStitched(): Server {
  const app = new Hono<{ Variables: RequestIdVariables }>();
  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        responseTimeMs: performance.now() - started,
        ip: getConnInfo(c).remote.address,
      },
      `${c.req.method} ${c.req.path} ${c.res.status}`,
    );
  });
  app.use(secureHeaders());
  app.use(
    honoRateLimiter({
      windowMs: WINDOW_SECONDS * 1000,
      limit: LIMIT,
      standardHeaders: 'draft-7',
      keyGenerator: (c) => getConnInfo(c).remote.address ?? '',
    }),
  );
  app.use(compress());
  return honoServer(honoRoutes(app) as unknown as Hono<Env>);
}

function honoBare(): Server {
  return honoServer(honoRoutes(new Hono()));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const load = createHttpLoad();

/** A contender measured in whole rounds of HTTP load on one path, accepting gzip. */
function roundsOnly(name: string, port: number, path: string): Contender {
  return {
    name,
    run: () => Promise.reject(new Error('[bench] the stack runs in rounds only')),
    round: load.round({ port, path, headers: { 'accept-encoding': 'gzip' } }),
  };
}

const BODIES = [
  ['/small', '300 B JSON (not compressed)'],
  ['/2k', '2 KB JSON (gzip)'],
] as const;

/** Ours, the stitched stack and the bare framework, on each body. */
async function compare(
  framework: string,
  stitchedName: string,
  servers: { ours: Server; stitched: Server; bare: Server },
): Promise<void> {
  const ports = {
    ours: await listen(servers.ours),
    stitched: await listen(servers.stitched),
    bare: await listen(servers.bare),
  };
  for (const [path, label] of BODIES) {
    report(
      `${framework} with the production stack, ${label}`,
      await measure(
        [
          roundsOnly(`@fairmind stack on ${framework}`, ports.ours, path),
          roundsOnly(stitchedName, ports.stitched, path),
          roundsOnly(`bare ${framework} (no middleware)`, ports.bare, path),
        ],
        options,
      ),
      stitchedName,
    );
  }
  for (const server of Object.values(servers)) server.close();
}

if (section('express')) {
  await compare('Express 5', 'pino-http + helmet + express-rate-limit + compression', {
    ours: ours(),
    stitched: stitched(),
    bare: bare(),
  });
}

if (section('fastify')) {
  await compare(
    'Fastify 5',
    'log hook + @fastify/helmet + @fastify/rate-limit + @fastify/compress',
    {
      ours: await fastifyOurs(),
      stitched: await fastifyStitched(),
      bare: await fastifyBare(),
    },
  );
}

if (section('hono')) {
  await compare('Hono 4', 'log + request-id + secure-headers + hono-rate-limiter + compress', {
    ours: honoOurs(),
    stitched: honoStitched(),
    bare: honoBare(),
  });
}

if (section('pieces')) {
  // Our stack taken apart, one piece added at a time, on the small body: what each costs.
  const partial = (compress: boolean, middleware: Middleware[]): Server => {
    const app = express();
    app.use(fairmind({ middleware, ...(compress ? { compression: {} } : {}) }));
    return createServer(routes(app));
  };
  const pieces: Array<[string, Server]> = [
    ['bare Express', bare()],
    ['+ fairmind() bridge, compression off', partial(false, [])],
    ['+ compression (body below its threshold)', partial(true, [])],
    ['+ requestLog()', partial(true, [requestLog({ logger })])],
    ['+ securityHeaders()', partial(true, [requestLog({ logger }), securityHeaders()])],
    [
      '+ rateLimit() (memory store): the whole stack',
      partial(true, [
        requestLog({ logger }),
        securityHeaders(),
        rateLimit({ limit: LIMIT, windowSeconds: WINDOW_SECONDS, store: createMemoryStore() }),
      ]),
    ],
  ];
  const pieceContenders: Contender[] = [];
  for (const [name, server] of pieces) {
    pieceContenders.push(roundsOnly(name, await listen(server), '/small'));
  }
  const piecesResults = await measure(pieceContenders, options);
  report('Our stack piece by piece, 300 B JSON', piecesResults, 'bare Express');
  let previous: number | undefined;
  for (const result of piecesResults) {
    const microseconds = 1e6 / result.opsPerSecond;
    if (previous !== undefined) {
      console.log(`${result.name}: ${Math.round(microseconds - previous)} µs per request`);
    }
    previous = microseconds;
  }
  for (const [, server] of pieces) server.close();
}

await load.close();
logger.flush();
