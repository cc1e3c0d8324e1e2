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
import { applyChain, type ChainScope, handlerReply } from '@fairmind/core/adapter';
import { nodeExchange, observeFinish, writeReply } from '@fairmind/core/node';
import { createNodeCompression, type NodeCompressionOptions } from '@fairmind/edge/node';

/** Options of {@link createNodeBridge} and {@link createRequestListener}. */
export interface NodeAdapterOptions {
  /**
   * Contract middleware run in order on every request.
   * @default []
   */
  middleware?: readonly Middleware[] | undefined;
  /**
   * Response compression (`@fairmind/edge/node`), or `false` to leave bodies as they are.
   * @default {} (br, gzip, deflate over 1024 bytes)
   */
  compression?: NodeCompressionOptions | false | undefined;
  /**
   * Where failures of middleware and handlers are logged (5xx only; 4xx are the client's).
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/**
 * Runs compression and the middleware chain for one request: `true` when the request may go
 * on to the handler (the middleware headers are already on the response), `false` when a
 * middleware answered. Synchronous when every middleware is.
 */
export type NodeBridge = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

const exchanges = new WeakMap<IncomingMessage, Exchange>();

/**
 * The exchange the bridge made for a request: its `state` holds what the middleware found
 * (the authenticated principal, the request id).
 */
export function exchangeOf(req: IncomingMessage): Exchange | undefined {
  return exchanges.get(req);
}

const PKG = '@fairmind/node';

/**
 * The shared Node bridge of the Node-based adapters (node:http, Express): one place that
 * turns the contract's decision into a Node response, so every adapter behaves the same.
 *
 * @example
 * ```ts
 * const bridge = createNodeBridge({ middleware: [securityHeaders(), rateLimit()] });
 * createServer(async (req, res) => {
 *   if (!(await bridge(req, res))) return; // a middleware answered
 *   res.end('hello');
 * });
 * ```
 */
export function createNodeBridge(options: NodeAdapterOptions = {}): NodeBridge {
  const chain = [...(options.middleware ?? [])];
  const compress =
    options.compression === false ? undefined : createNodeCompression(options.compression ?? {});
  const scope: ChainScope = { pkg: PKG, logger: options.logger ?? silentLogger, chain };

  return function fairmindNodeBridge(req, res) {
    const startedAt = performance.now();
    // A second bridge on the same request (a route-level chain after an app-level one) shares
    // the first one's exchange, so what authenticate() found stays found, and the response is
    // not compressed twice.
    let exchange = exchanges.get(req);
    if (exchange === undefined) {
      compress?.(req, res);
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
 * A `node:http` request listener: the middleware, then `handler`.
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
