import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Exchange,
  type Handler,
  type Logger,
  logRequestFailure,
  type Middleware,
  problemReply,
  silentLogger,
} from '@fairmind/core';
import {
  applyChain,
  type ChainScope,
  compressionOf,
  failureReply,
  handlerReply,
  notFoundReply,
  type UseMiddleware,
  type UseOptions,
  useScope,
} from '@fairmind/core/adapter';
import { nodeExchange, observeFinish, writeReply } from '@fairmind/core/node';
import {
  createNodeCompression,
  type NodeCompression,
  type NodeCompressionOptions,
} from '@fairmind/edge/node';

/** Options of {@link createNodeBridge} and {@link createRequestListener}. */
export interface NodeAdapterOptions {
  /**
   * Contract middleware run in order on every request.
   * @default []
   */
  middleware?: readonly Middleware[] | undefined;
  /**
   * Response compression (`@fairmind/edge/node`): `{}` for the defaults (br, gzip, deflate
   * over 1024 bytes). Off unless given, so that bodies change only where the application asked.
   * @default undefined (no compression)
   */
  compression?: NodeCompressionOptions | false | undefined;
  /**
   * Where failures of middleware and handlers are logged (5xx only; 4xx are the client's).
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/**
 * Runs the middleware chain (and compression, when asked for) for one request: `true` when the
 * request may go on to the handler (the middleware headers are already on the response),
 * `false` when a middleware answered. Synchronous when every middleware is.
 */
export type NodeBridge = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

const exchanges = new WeakMap<IncomingMessage, Exchange>();
const compressed = new WeakSet<ServerResponse>();

/**
 * The exchange the bridge made for a request: its `state` holds what the middleware found
 * (the authenticated principal, the request id).
 */
export function exchangeOf(req: IncomingMessage): Exchange | undefined {
  return exchanges.get(req);
}

const PKG = '@fairmind/node';

function bridge(scope: ChainScope, compress: NodeCompression | undefined): NodeBridge {
  return function fairmindNodeBridge(req, res) {
    const startedAt = performance.now();
    // A response is compressed once, whichever bridge asked first.
    if (compress !== undefined && !compressed.has(res)) {
      compressed.add(res);
      compress(req, res);
    }
    // Every bridge on the same request (use() after use(), a route-level chain after an
    // app-level one) shares the first one's exchange, so what authenticate() found stays found.
    let exchange = exchanges.get(req);
    if (exchange === undefined) {
      exchange = nodeExchange(req);
      exchanges.set(req, exchange);
    }
    return applyChain(scope, exchange, {
      decided: (decision) => observeFinish(res, decision.onFinish, startedAt),
      headers: res,
      send: (reply) => writeReply(res, reply),
    });
  };
}

/**
 * The shared Node bridge of the Node-based adapters (node:http, Express): one place that
 * turns the contract's decision into a Node response, so every adapter behaves the same.
 *
 * @example
 * ```ts
 * const bridge = createNodeBridge({ middleware: [securityHeaders(), rateLimit()], compression: {} });
 * createServer(async (req, res) => {
 *   if (!(await bridge(req, res))) return; // a middleware answered
 *   res.end('hello');
 * });
 * ```
 */
export function createNodeBridge(options: NodeAdapterOptions = {}): NodeBridge {
  const chain = [...(options.middleware ?? [])];
  const scope: ChainScope = { pkg: PKG, logger: options.logger ?? silentLogger, chain };
  return bridge(scope, compressionOf(options.compression, createNodeCompression));
}

/**
 * One contract middleware (or several, in order) as a function of a Node request and response,
 * for a server that routes itself: `true` when the request goes on, `false` when a middleware
 * answered (a 401, 403 or 429 problem, or the problem for what it threw, carrying the headers
 * gathered before it). Its headers go on the response, and every `use()` on one request shares
 * one exchange: `exchangeOf(req).state.auth` is what an earlier `authenticate()` found. It
 * never compresses.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` unless given a middleware or an array of them.
 * @example
 * ```ts
 * const everywhere = use([requestLog({ logger }), securityHeaders()]);
 * const admins = use(auth.requireRole('admin'));
 * createServer(async (req, res) => {
 *   if (!(await everywhere(req, res))) return;
 *   if (req.url === '/admin' && !(await admins(req, res))) return;
 *   res.end('hello');
 * });
 * ```
 */
export function use(middleware: UseMiddleware, options: UseOptions = {}): NodeBridge {
  return bridge(
    useScope(PKG, middleware, options, (error) => error),
    undefined,
  );
}

/**
 * Answers a request no route matched with the 404 `NOT_FOUND` problem naming its method and
 * path, after whatever headers earlier `use()` calls put on the response.
 *
 * @example
 * ```ts
 * if (!routed) return notFoundHandler(req, res);
 * ```
 */
export function notFoundHandler(req: IncomingMessage, res: ServerResponse): void {
  writeReply(res, notFoundReply(req.method ?? 'GET', req.url ?? '/', exchanges.get(req)));
}

/**
 * An error handler for a server that routes itself: answers what a route threw with RFC 9457
 * problem JSON (a `FairmindError` keeps its status and code, anything else is a 500 that says
 * nothing of the cause) and logs the failure with the request id, method and path. A response
 * already started cannot take a problem any more, so it is cut instead.
 *
 * @example
 * ```ts
 * const problems = problemHandler({ logger });
 * createServer((req, res) => route(req, res).catch((error) => problems(error, req, res)));
 * ```
 */
export function problemHandler(
  options: UseOptions = {},
): (error: unknown, req: IncomingMessage, res: ServerResponse) => void {
  const scope = { pkg: PKG, logger: options.logger ?? silentLogger };
  return function fairmindProblemHandler(error, req, res) {
    const reply = failureReply(scope, error, exchanges.get(req));
    if (res.headersSent) res.destroy();
    else writeReply(res, reply);
  };
}

/** What {@link respond} answers with: built once per listener or route, not per request. */
export interface Responder {
  /** The contract handler that answers. */
  readonly handler: Handler<IncomingMessage>;
  /**
   * Where what the handler threw is logged (5xx only; 4xx are the client's).
   * @default silentLogger
   */
  readonly logger?: Logger | undefined;
}

/**
 * Sends what a {@link Handler} answered, or the problem for what it threw. A response the
 * handler already started is left alone.
 *
 * @example
 * ```ts
 * const responder: Responder = { handler, logger };
 * await respond(responder, exchange, req, res);
 * ```
 */
export async function respond(
  responder: Responder,
  exchange: Exchange,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const scope = { pkg: PKG, logger: responder.logger ?? silentLogger };
  const reply = await handlerReply(scope, responder.handler, exchange, req);
  if (!res.headersSent) writeReply(res, reply);
}

/**
 * A `node:http` request listener: the middleware, then `handler`; compression too when the
 * `compression` option is given.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { jsonReply } from '@fairmind/core';
 * import { createRequestListener } from '@fairmind/node';
 *
 * createServer(
 *   createRequestListener({
 *     middleware: [requestLog({ logger }), securityHeaders()],
 *     handler: (exchange) => jsonReply(200, { hello: exchange.clientAddress }),
 *     compression: {}, // br, gzip, deflate over 1024 bytes
 *   }),
 * ).listen(3000);
 * ```
 */
export function createRequestListener(
  options: NodeAdapterOptions & { handler: Handler<IncomingMessage> },
): (req: IncomingMessage, res: ServerResponse) => void {
  const bridge = createNodeBridge(options);
  const logger = options.logger ?? silentLogger;
  const responder: Responder = { handler: options.handler, logger };
  return function fairmindRequestListener(req, res) {
    const proceed = (go: boolean) => {
      const exchange = exchanges.get(req);
      if (go && exchange) return respond(responder, exchange, req, res);
    };
    const fail = (error: unknown) => {
      // Only a bug in the bridge gets here; the client still gets a problem, never a hang.
      logRequestFailure({ logger, pkg: PKG, status: 500, error, exchange: exchanges.get(req) });
      if (!res.headersSent) writeReply(res, problemReply(error));
      else res.destroy();
    };
    try {
      const go = bridge(req, res);
      if (go instanceof Promise) go.then(proceed).catch(fail);
      else Promise.resolve(proceed(go)).catch(fail);
    } catch (error) {
      fail(error);
    }
  };
}
