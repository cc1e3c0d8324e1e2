// Test helpers, not part of the published package: the two ways a contract chain reaches the
// wire today. `serveNode` bridges node:http exactly as an adapter does (issue 7 writes the
// real adapters); `handleWeb` does the same for a Web Request and Response, as Hono will.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Exchange,
  type FairmindState,
  type HeaderRecord,
  type Middleware,
  problemReply,
  runMiddleware,
} from '@fairmind/core';
import { applyHeaders, nodeExchange, observeFinish, writeReply } from '@fairmind/core/node';
import {
  type RedisServer,
  startRedisServer,
  type TestRedis,
  useTestRedis,
} from '@fairmind/testing';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

/** The shared test Redis with one ioredis client for the file; see {@link useSharedRedis}. */
export interface SharedRedis extends TestRedis {
  /** A `Cluster` when the run's shared Redis is a Redis Cluster. */
  readonly client: Redis | Cluster;
}

/**
 * `useTestRedis()` plus one ioredis client opened before the file's tests and closed after
 * them. Read `.client` inside tests and hooks.
 */
export function useSharedRedis(): SharedRedis {
  const redis = useTestRedis();
  let client: Redis | Cluster | undefined;
  beforeAll(() => {
    client = redis.connect();
  });
  afterAll(() => {
    client?.disconnect();
  });
  return {
    get url() {
      return redis.url;
    },
    get prefix() {
      return redis.prefix;
    },
    get clusterNodes() {
      return redis.clusterNodes;
    },
    connect: (options) => redis.connect(options),
    get client() {
      if (client === undefined) throw new Error('useSharedRedis(): read .client inside a test');
      return client;
    },
  };
}

export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  exchange: Exchange,
) => void | Promise<void>;

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

function removals(chain: readonly Middleware[]): string[] {
  return chain.flatMap(
    (middleware) => (middleware as { removeHeaders?: readonly string[] }).removeHeaders ?? [],
  );
}

/**
 * The store deadline for tests about what the shared, healthy Redis answers. The default
 * (100 ms) is a production figure; on a loaded CI machine a round trip now and then took
 * longer, the store failed open with `source: 'local'`, and such a test failed for a reason
 * it is not about. Tests about the deadline itself keep their own figures.
 */
export const HEALTHY_STORE_TIMEOUT_MS = 5_000;

/** A throwaway redis-server for fault tests, with a client that survives its death. */
export interface ThrowawayRedis {
  readonly server: RedisServer;
  readonly client: Redis;
  close(): Promise<void>;
}

export async function throwawayRedis(): Promise<ThrowawayRedis> {
  const server = await startRedisServer();
  const client = new Redis(server.url);
  // Killing the server is the point of these tests; ioredis reports it as an 'error' event.
  client.on('error', () => {});
  return {
    server,
    client,
    async close() {
      client.disconnect();
      await server.stop();
    },
  };
}

/**
 * A node:http server running `chain` before `handler`, the way an adapter does it: headers
 * for the final response, short-circuit replies, `onFinish`, and the removal hints of
 * security headers. A handler that throws gets the problem reply with the chain's headers.
 */
export async function serveNode(
  chain: readonly Middleware[],
  handler: NodeHandler,
  options: { host?: string; before?: (req: IncomingMessage, res: ServerResponse) => void } = {},
): Promise<TestServer> {
  const remove = removals(chain);
  const server = createServer(async (req, res) => {
    options.before?.(req, res);
    const exchange = nodeExchange(req, {} as FairmindState);
    const decision = await runMiddleware(chain, exchange);
    observeFinish(res, decision.onFinish);
    for (const name of remove) res.removeHeader(name);
    if (decision.reply) {
      writeReply(res, decision.reply);
      return;
    }
    applyHeaders(res, decision.headers);
    try {
      await handler(req, res, exchange);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      writeReply(res, problemReply(error, decision.headers));
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The Web half: runs `chain` on a Web `Request` and puts its outcome on the `Response`
 * the handler returns, as a Web-standard adapter does.
 */
export async function handleWeb(
  chain: readonly Middleware[],
  request: Request,
  handler: (exchange: Exchange) => Response | Promise<Response>,
  clientAddress = '127.0.0.1',
): Promise<Response> {
  const exchange: Exchange = {
    request,
    clientAddress,
    secure: new URL(request.url).protocol === 'https:',
    state: {},
  };
  const decision = await runMiddleware(chain, exchange);
  const started = performance.now();
  const finish = (response: Response) => {
    const info = {
      status: response.status,
      bytes: Number(response.headers.get('content-length') ?? 0),
      durationMs: performance.now() - started,
      aborted: false,
    };
    for (const callback of decision.onFinish) callback(info);
    return response;
  };
  if (decision.reply) {
    const { status, headers, body } = decision.reply;
    return finish(new Response(body, { status, headers: { ...headers } }));
  }
  let response: Response;
  try {
    response = await handler(exchange);
  } catch (error) {
    const reply = problemReply(error, decision.headers);
    return finish(
      new Response(reply.body, { status: reply.status, headers: { ...reply.headers } }),
    );
  }
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(decision.headers)) {
    const existing = headers.get(name);
    if (existing === null || name !== 'vary') headers.set(name, value);
    else headers.set(name, `${existing}, ${value}`);
  }
  return finish(new Response(response.body, { status: response.status, headers }));
}

/** A raw HTTP response: body bytes as sent (never decompressed) and headers. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * One request with node:http, reading the body as sent: fetch would decompress it and hide
 * what went over the wire.
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The response headers that differ by time or body, left out when comparing header sets. */
export const VOLATILE_HEADERS = new Set([
  'date',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'x-request-id',
]);

/** A response's headers as a plain record, lower-case, without {@link VOLATILE_HEADERS}. */
export function stableHeaders(headers: Headers | IncomingHttpHeaders): HeaderRecord {
  const out: HeaderRecord = {};
  const keep = (name: string, value: string) => {
    if (!VOLATILE_HEADERS.has(name)) out[name] = value;
  };
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      keep(name, value);
    });
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) keep(name, Array.isArray(value) ? value.join(', ') : value);
    }
  }
  return out;
}
