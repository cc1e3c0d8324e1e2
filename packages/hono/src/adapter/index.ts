import {
  type AuthOf,
  type Exchange,
  type FairmindState,
  type Handler,
  invalidOptions,
  type Logger,
} from '@fairmind/core';
import {
  type AdapterOptions,
  adapterScope,
  failureReply,
  type MountableApp,
  middlewareChain,
  notFoundReply,
  toResponse,
  webExchange,
} from '@fairmind/core/adapter';
import type { ResponseCompressionOptions as HonoCompressionOptions } from '@fairmind/edge/web';
import { createResponseCompression, createWebBridge } from '@fairmind/edge/web';
import type { Context, Env, ErrorHandler, Hono, MiddlewareHandler, NotFoundHandler } from 'hono';
import type { BlankSchema } from 'hono/types';
import { asProblemError } from '../problems/index.js';

/** What the adapter puts on the context: `c.get('auth')` and `c.get('fairmind')`. */
export interface FairmindVariables {
  /** The authenticated principal once `@fairmind/auth`'s `authenticate()` ran. */
  auth: AuthOf | undefined;
  /** The per-request state the FairMind middleware share. */
  fairmind: FairmindState;
}

/** The Hono `Env` of an app that uses the adapter: `new Hono<FairmindEnv>()`. */
export interface FairmindEnv extends Env {
  Variables: FairmindVariables;
}

declare module 'hono' {
  // As Hono's own middleware do (requestId, jwtPayload): typed c.get() on every app.
  interface ContextVariableMap extends FairmindVariables {}
}

const PKG = '@fairmind/hono';

/** Options of {@link fairmind}. */
export interface FairmindHonoOptions extends AdapterOptions {
  /**
   * The socket peer's address for a request. Hono runs on many runtimes and none puts the
   * peer in the same place, so it is given, never guessed from a header: `nodeClientAddress`
   * from `@fairmind/hono/node` on @hono/node-server, or for example
   * `(c) => getConnInfo(c).remote.address ?? ''` with the helper of your runtime.
   */
  clientAddress: (c: Context) => string;
  /**
   * Compression of the final response, or `false` to leave bodies as they are.
   * @default {} (gzip and deflate through CompressionStream, over 1024 bytes)
   */
  compression?: HonoCompressionOptions | false | undefined;
}

const exchanges = new WeakMap<Context, Exchange>();

/** The exchange {@link fairmind} made for a request: its `state` holds what the middleware found. */
export function exchangeOf(c: Context): Exchange | undefined {
  return exchanges.get(c);
}

export { toResponse } from '@fairmind/core/adapter';

// Hono's `c.res` setter copies the old response's headers onto the new one (a stale
// Content-Length among them); clearing it first makes the new response the whole answer.
function replaceResponse(c: Context, response: Response): void {
  if (c.res === response) return;
  c.res = undefined;
  c.res = response;
}

function resolveOptions(options: FairmindHonoOptions) {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(PKG, 'fairmind() takes an options object with at least clientAddress.');
  }
  if (typeof options.clientAddress !== 'function') {
    throw invalidOptions(
      PKG,
      'clientAddress must be a function of the context that returns the socket peer: ' +
        "nodeClientAddress from '@fairmind/hono/node' on @hono/node-server.",
    );
  }
  const bridge = createWebBridge({
    ...adapterScope(PKG, options, asProblemError),
    chain: middlewareChain(PKG, options.middleware),
    compress:
      options.compression === false
        ? undefined
        : createResponseCompression(options.compression ?? {}),
  });
  return { bridge, clientAddress: options.clientAddress };
}

/**
 * Contract middleware as one Hono middleware. It runs the chain; a short reply ends the
 * request, otherwise `c.get('auth')` and `c.get('fairmind')` are set and the rest of the app
 * runs, and the chain's headers go on its response. Last, the final response is compressed.
 * Register it first, so that it sees every response, errors and 404s included.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { fairmind, type FairmindEnv } from '@fairmind/hono';
 * import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
 *
 * const app = new Hono<FairmindEnv>();
 * app.use(fairmind({
 *   clientAddress: nodeClientAddress,
 *   middleware: [securityHeaders(), auth.authenticate()],
 *   compression: { encoder: nodeEncoder() },
 * }));
 * app.get('/me', (c) => c.json(c.get('auth')));
 * ```
 */
export function fairmind(options: FairmindHonoOptions): MiddlewareHandler<FairmindEnv> {
  const { bridge, clientAddress } = resolveOptions(options);

  return async function fairmindMiddleware(c, next) {
    const startedAt = performance.now();
    const exchange = webExchange(c.req.raw, clientAddress(c));
    exchanges.set(c, exchange);
    c.set('fairmind', exchange.state);
    const response = await bridge({
      exchange,
      env: c.env,
      startedAt,
      decided: () => c.set('auth', (exchange.state as { auth?: AuthOf }).auth),
      async next() {
        await next();
        return c.res;
      },
    });
    replaceResponse(c, response);
  };
}

/**
 * A Hono handler for a contract {@link Handler} (the FairMind platform's, or your own), with
 * `c.req.raw` as the body source, read by the handler itself. It needs {@link fairmind} in
 * front of it, which made the exchange.
 *
 * @example
 * ```ts
 * app.post('/echo', handle(async (exchange, body) => jsonReply(200, await readJsonBody(body))));
 * ```
 */
export function handle(handler: Handler<Request>): (c: Context) => Promise<Response> {
  return async function fairmindHandler(c) {
    const exchange = exchanges.get(c);
    if (!exchange) {
      throw invalidOptions(
        PKG,
        'handle() runs without an exchange: register fairmind() before it, on the same paths.',
      );
    }
    return toResponse(await handler(exchange, c.req.raw));
  };
}

/**
 * An error handler for `app.onError` that answers with RFC 9457 problem JSON:
 * `FairmindError`s keep their status and code, Hono's `HTTPException`s keep their 4xx,
 * anything else is a 500 that says nothing of the cause.
 *
 * @example
 * ```ts
 * app.onError(problemHandler({ logger }));
 * ```
 */
export function problemHandler(options: { logger?: Logger | undefined } = {}): ErrorHandler {
  const scope = adapterScope(PKG, options, asProblemError);
  return function fairmindProblemHandler(error, c) {
    return toResponse(failureReply(scope, error, exchanges.get(c)));
  };
}

/**
 * A handler for `app.notFound`: a 404 `NOT_FOUND` problem naming the method and path.
 *
 * @example
 * ```ts
 * app.notFound(notFoundHandler);
 * ```
 */
export const notFoundHandler: NotFoundHandler = function fairmindNotFound(c) {
  return toResponse(notFoundReply(c.req.method, c.req.url));
};

/** What {@link mount} needs: contract middleware and a handler, as the platform has them. */
export type Mountable = MountableApp<Request>;

/**
 * Mounts a whole application written on the contract (the FairMind platform) on a Hono app:
 * {@link fairmind} with its middleware on every path, the application's handler for every
 * request no route of the app matches (it is the app's `notFound` handler, so routes declared
 * before or after the mount answer first; those declared after it also get the middleware),
 * and problem JSON for errors.
 *
 * @example
 * ```ts
 * import { serve } from '@hono/node-server';
 * import { nodeClientAddress, nodeEncoder } from '@fairmind/hono/node';
 *
 * const app = new Hono();
 * mount(app, platform, {
 *   clientAddress: nodeClientAddress,
 *   compression: { encoder: nodeEncoder() },
 *   logger,
 * });
 * serve({ fetch: app.fetch, port: 3000 });
 * ```
 */
export function mount<E extends Env, B extends string>(
  app: Hono<E, BlankSchema, B>,
  target: Mountable,
  options: Omit<FairmindHonoOptions, 'middleware'>,
): void {
  const middleware = fairmind({ ...options, middleware: target.middleware });
  app.use('*', middleware as unknown as MiddlewareHandler<E>);
  app.notFound(handle(target.handler));
  const logger = options.logger;
  app.onError(problemHandler(logger ? { logger } : {}));
}
