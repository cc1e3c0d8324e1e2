/**
 * @fairmind/edge beside the peers it replaces, in one process and one run:
 *   - a rate-limit decision: createRateLimiter on the Redis store vs rate-limiter-flexible's
 *     RateLimiterRedis, on the allow path and on the deny path of a key over its limit
 *   - compression: createNodeCompression vs expressjs/compression in Express 5, over
 *     loopback HTTP, on 2 KB and 64 KB JSON, with the load from a worker thread or wrk
 *   - security headers: securityHeaders() through the contract vs helmet()
 *   - the request log: the event-loop time of one request's id and JSON line, requestLog()
 *     (with createLogger's own line writer, and through pino's object path) vs pino-http,
 *     every line to /dev/null through pino's asynchronous destination
 *
 *   pnpm --filter "@fairmind/edge..." build
 *   FAIRMIND_BENCH_REDIS_URL=redis://127.0.0.1:6379 pnpm --filter @fairmind/bench run edge
 *
 * Knobs: BENCH_SECONDS (per round, 3), BENCH_ROUNDS (5), BENCH_CONCURRENCY (32 decisions or
 * HTTP requests in flight), BENCH_ONLY (one of rate, compression, headers, log), BENCH_CLIENT
 * (worker: the default, Node's HTTP client on a worker thread; wrk: wrk in its own process,
 * see lib/http-load.ts; inline: Node's client on the main thread, beside the servers, as
 * before 2026-11-25).
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  IncomingMessage,
  request,
  type Server,
  ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { type Exchange, runMiddleware } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import { applyHeaders } from '@fairmind/core/node';
import {
  createRateLimiter,
  type RateLimitResult,
  requestLog,
  securityHeaders,
} from '@fairmind/edge';
import { createNodeCompression } from '@fairmind/edge/node';
import { createRedisStore } from '@fairmind/edge/redis';
import compression from 'compression';
import express from 'express';
import helmet from 'helmet';
import { Redis } from 'ioredis';
import pino from 'pino';
import { pinoHttp } from 'pino-http';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createHttpLoad } from './lib/http-load.js';
import {
  benchRedisUrl,
  type Contender,
  measure,
  numberFromEnv,
  report,
  sectionsFromEnv,
} from './lib/measure.js';
import { deleteByPrefix } from './lib/redis.js';

const redisUrl = benchRedisUrl;
const seconds = numberFromEnv('BENCH_SECONDS', 3);
const rounds = numberFromEnv('BENCH_ROUNDS', 5);
const concurrency = numberFromEnv('BENCH_CONCURRENCY', 32);
const PREFIX = `bench:edge:${process.pid}:`;
const options = { seconds, rounds, concurrency, warmupSeconds: 1 };
const section = sectionsFromEnv(['rate', 'compression', 'headers', 'log']);

console.log(
  `edge benchmark: node ${process.version}, concurrency ${concurrency}, ${rounds} rounds x ${seconds}s`,
);

// ---------------------------------------------------------------- rate limiting
if (section('rate')) {
  // One client per contender, configured alike, so neither rides on the other's pipeline.
  const ours = new Redis(redisUrl);
  const theirs = new Redis(redisUrl);
  const raw = new Redis(redisUrl);
  const KEYS = 10_000;
  let next = 0;
  function anyKey(): string {
    next = (next + 1) % KEYS;
    return `client${next}`;
  }

  // rate-limiter-flexible has no deadline; ours gets a generous one so that a stall of this
  // busy machine is not turned into fallback decisions, which would flatter our figures. Every
  // decision's source is counted and printed, to show they all came from Redis.
  const sources = new Map<string, number>();
  function tally(result: RateLimitResult): RateLimitResult {
    sources.set(result.source, (sources.get(result.source) ?? 0) + 1);
    return result;
  }
  const limiterOptions = { limit: 1_000_000_000, windowSeconds: 60, timeoutMs: 2_000 };
  const allowAll = createRateLimiter({
    store: createRedisStore({ client: ours, prefix: `${PREFIX}ours:` }),
    ...limiterOptions,
  });
  const allowAllLog = createRateLimiter({
    store: createRedisStore({ client: ours, prefix: `${PREFIX}ours:`, algorithm: 'sliding-log' }),
    ...limiterOptions,
    name: 'log',
  });
  const flexibleAllow = new RateLimiterRedis({
    storeClient: theirs,
    points: 1_000_000_000,
    duration: 60,
    keyPrefix: `${PREFIX}rlf`,
  });
  const EVAL_ONLY = 'return 1';
  const rawSha = (await raw.script('LOAD', EVAL_ONLY)) as string;

  report(
    'Rate-limit decision, allow path (10,000 keys, 1 unit each)',
    await measure(
      [
        {
          name: '@fairmind/edge sliding window',
          run: () => Promise.resolve(allowAll.consume(anyKey())).then(tally),
        },
        {
          name: 'rate-limiter-flexible RateLimiterRedis',
          run: () => flexibleAllow.consume(anyKey()),
        },
        {
          name: '@fairmind/edge sliding log',
          run: () => Promise.resolve(allowAllLog.consume(anyKey())).then(tally),
        },
        { name: 'raw EVALSHA round trip', run: () => raw.evalsha(rawSha, 0) },
      ],
      options,
    ),
    'rate-limiter-flexible RateLimiterRedis',
  );

  console.log('decision sources (allow path):', Object.fromEntries(sources));
  sources.clear();

  const denyAll = createRateLimiter({
    store: createRedisStore({ client: ours, prefix: `${PREFIX}deny:` }),
    ...limiterOptions,
    limit: 1,
  });
  const flexibleDeny = new RateLimiterRedis({
    storeClient: theirs,
    points: 1,
    duration: 60,
    keyPrefix: `${PREFIX}rlfdeny`,
  });
  await denyAll.consume('over');
  await flexibleDeny.consume('over').catch(() => undefined);
  report(
    'Rate-limit decision, deny path (one key over its limit)',
    await measure(
      [
        {
          name: '@fairmind/edge (deny cache)',
          run: async () => {
            tally(await denyAll.consume('over'));
          },
        },
        {
          name: 'rate-limiter-flexible RateLimiterRedis',
          run: () =>
            flexibleDeny.consume('over').then(
              () => {
                throw new Error('expected a refusal');
              },
              () => undefined,
            ),
        },
      ],
      options,
    ),
    'rate-limiter-flexible RateLimiterRedis',
  );

  console.log('decision sources (deny path):', Object.fromEntries(sources));

  await deleteByPrefix(raw, PREFIX);
  ours.disconnect();
  theirs.disconnect();
  raw.disconnect();
}

// ---------------------------------------------------------------- compression
if (section('compression')) {
  function jsonOf(bytes: number): string {
    const items: unknown[] = [];
    let text = '';
    for (let id = 0; text.length < bytes; id++) {
      items.push({
        id: `m_${id.toString(36).padStart(6, '0')}`,
        name: `Credit model ${id}`,
        version: `1.${id % 7}.0`,
        riskLevel: ['low', 'medium', 'high'][id % 3],
        owner: `analyst${id % 13}@example.com`,
        createdAt: new Date(1_700_000_000_000 + id * 60_000).toISOString(),
      });
      text = JSON.stringify({ items, nextCursor: null });
    }
    return text;
  }

  async function listen(server: Server): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  function app(kind: 'ours' | 'expressjs' | 'none', bodies: Record<string, unknown>): Server {
    const instance = express();
    instance.disable('x-powered-by');
    if (kind === 'ours') instance.use(createNodeCompression());
    if (kind === 'expressjs') instance.use(compression());
    instance.get('/:size', (req, res) => {
      res.json(bodies[req.params.size]);
    });
    return createServer(instance);
  }

  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  // A bounded client: one request per call, the body read to its end but not decoded, so the
  // client costs both servers the same.
  function get(port: number, path: string, acceptEncoding: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, agent, headers: { 'accept-encoding': acceptEncoding } },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on('end', () => resolve(bytes));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const load = process.env['BENCH_CLIENT'] === 'inline' ? undefined : createHttpLoad();
  const bodies = { '2k': JSON.parse(jsonOf(2 * 1024)), '64k': JSON.parse(jsonOf(64 * 1024)) };
  const servers = {
    ours: app('ours', bodies),
    expressjs: app('expressjs', bodies),
    none: app('none', bodies),
  };
  const ports = {
    ours: await listen(servers.ours),
    expressjs: await listen(servers.expressjs),
    none: await listen(servers.none),
  };
  for (const [size, label] of [
    ['2k', '2 KB'],
    ['64k', '64 KB'],
  ] as const) {
    for (const acceptEncoding of ['gzip, deflate, br', 'gzip']) {
      const sizes = {
        ours: await get(ports.ours, `/${size}`, acceptEncoding),
        expressjs: await get(ports.expressjs, `/${size}`, acceptEncoding),
      };
      // The load comes from a worker thread or from wrk (see lib/http-load.ts), so each
      // server's event loop does server work only; BENCH_CLIENT=inline runs the client on
      // the main thread.
      // The CPU time per request of each round is kept (see LoadResult.cpuPerRequest).
      const cpuPerRequest = new Map<string, number[]>();
      const contender = (name: string, port: number): Contender => ({
        name,
        run: () => get(port, `/${size}`, acceptEncoding),
        ...(load === undefined
          ? {}
          : {
              round: load.round(
                { port, path: `/${size}`, headers: { 'accept-encoding': acceptEncoding } },
                (result) =>
                  cpuPerRequest.set(name, [
                    ...(cpuPerRequest.get(name) ?? []),
                    result.cpuPerRequest,
                  ]),
              ),
            }),
      });
      const contenders: Contender[] = [
        contender('@fairmind/edge/node', ports.ours),
        contender('expressjs/compression', ports.expressjs),
        contender('no compression', ports.none),
      ];
      report(
        `Compression, ${label} JSON, Accept-Encoding: ${acceptEncoding} (bytes sent: ours ${sizes.ours}, expressjs ${sizes.expressjs})`,
        await measure(contenders, options),
        'expressjs/compression',
      );
      for (const [name, values] of cpuPerRequest) {
        // The warm-up round is the first value; the rest are the measured rounds.
        const measured = values.slice(1).sort((a, b) => a - b);
        const median = measured[Math.floor(measured.length / 2)] ?? Number.NaN;
        console.log(
          `CPU per request, ${name}: ${Math.round(median)} µs (median round); two cores allow at most ${Math.round(2e6 / median).toLocaleString('en-US')} req/s`,
        );
      }
    }
  }
  agent.destroy();
  await load?.close();
  for (const server of Object.values(servers)) server.close();
}

// ---------------------------------------------------------------- security headers
if (section('headers')) {
  const protect = helmet();
  const strict = securityHeaders();
  const helmetPreset = securityHeaders({
    preset: 'helmet',
    strictTransportSecurity: { force: true },
  });
  const socket = new Socket();

  function freshResponse(): [IncomingMessage, ServerResponse] {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/api/v1/models';
    return [req, new ServerResponse(req)];
  }

  function viaContract(middleware: typeof strict) {
    return async () => {
      const [req, res] = freshResponse();
      const exchange: Exchange = {
        request: { method: 'GET', url: req.url ?? '/', headers: { get: () => null } },
        clientAddress: '127.0.0.1',
        secure: false,
        state: {},
      };
      const decision = await runMiddleware([middleware], exchange);
      applyHeaders(res, decision.headers);
      for (const name of middleware.removeHeaders) res.removeHeader(name);
    };
  }

  report(
    'Security headers on a fresh ServerResponse (per response)',
    await measure(
      [
        {
          name: '@fairmind/edge securityHeaders() (strict)',
          run: viaContract(strict),
        },
        {
          name: '@fairmind/edge securityHeaders({ preset: helmet })',
          run: viaContract(helmetPreset),
        },
        {
          name: 'helmet()',
          run: () =>
            new Promise<void>((resolve) => {
              const [req, res] = freshResponse();
              protect(req, res, () => resolve());
            }),
        },
        {
          name: 'no headers (a fresh response alone)',
          run: async () => {
            freshResponse();
          },
        },
      ],
      options,
    ),
    'helmet()',
  );
}

// ---------------------------------------------------------------- request log
if (section('log')) {
  // One asynchronous /dev/null destination each, as a production logger writes to stdout.
  const sink = () => pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 });
  const ownLines = requestLog({ logger: createLogger({ destination: sink() }) });
  // An extra redaction path takes createLogger's loggers off the line writer: pino's own
  // object path, as every line went before 2026-12-06.
  const objectLines = requestLog({
    logger: createLogger({ destination: sink(), redact: ['never.present'] }),
  });
  const peer = pinoHttp({
    logger: pino({ timestamp: pino.stdTimeFunctions.isoTime }, sink()),
    genReqId: () => randomUUID(),
  });
  const socket = new Socket();
  const headers = new Map([['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) bench/1.0']]);
  const finish = { status: 200, bytes: 512, durationMs: 1.234, aborted: false };
  // A server's event loop turns between requests, and the destination flushes then; a loop of
  // resolved promises alone would never let it, and every contender would pay for an ever
  // longer buffer. So every 64th operation waits for the loop to turn, whoever runs.
  let operations = 0;
  const turn = () =>
    ++operations % 64 === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined;

  function freshRequest(): [IncomingMessage, ServerResponse] {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/api/v1/models?limit=20';
    req.headers = { 'user-agent': headers.get('user-agent') as string };
    return [req, new ServerResponse(req)];
  }

  function viaContract(middleware: typeof ownLines) {
    return async () => {
      const [req, res] = freshRequest();
      const exchange: Exchange = {
        request: {
          method: 'GET',
          url: req.url ?? '/',
          headers: { get: (name) => headers.get(name) ?? null },
        },
        clientAddress: '203.0.113.7',
        secure: false,
        state: {},
      };
      const outcome = middleware(exchange) as {
        headers: Record<string, string>;
        onFinish?: (info: typeof finish) => void;
      };
      applyHeaders(res, outcome.headers);
      outcome.onFinish?.(finish);
      await turn();
    };
  }

  const results = await measure(
    [
      { name: '@fairmind/edge requestLog(), createLogger()', run: viaContract(ownLines) },
      {
        name: "requestLog() through pino's object path",
        run: viaContract(objectLines),
      },
      {
        name: 'pino-http',
        run: async () => {
          const [req, res] = freshRequest();
          peer(req, res);
          res.statusCode = 200;
          res.emit('finish');
          await turn();
        },
      },
      {
        name: 'no log (a fresh request and response alone)',
        run: async () => {
          freshRequest();
          await turn();
        },
      },
    ],
    { ...options, concurrency: 1 },
  );
  report('The request log: one request id and one JSON line (per request)', results, 'pino-http');
  const base = results.find((result) => result.name.startsWith('no log'));
  if (base) {
    console.log('\nEvent-loop time per request, beyond a fresh request and response:');
    for (const result of results) {
      if (result === base) continue;
      const micros = 1e6 / result.opsPerSecond - 1e6 / base.opsPerSecond;
      console.log(`  ${result.name}: ${micros.toFixed(2)} µs`);
    }
  }
}
