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
  compressionOf,
  failureReply,
  type GuardedMiddleware,
  type MountableApp,
  middlewareChain,
  notFoundReply,
  toResponse,
  type UseMiddleware,
  type UseOptions,
  useScope,
  webExchange,
} from '@fairmind/core/adapter';
import type { ResponseCompressionOptions as HonoCompressionOptions } from '@fairmind/edge/web';
import { createResponseCompression, createWebBridge, type WebBridge } from '@fairmind/edge/web';
import type { Context, Env, ErrorHandler, Hono, MiddlewareHandler, NotFoundHandler } from 'hono';
import type { BlankSchema } from 'hono/types';
import { nodePeer } from '../peer/index.js';
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

/** The Hono `Env` of handlers after `use(guard)`: `c.get('auth')` is the principal, present. */
export interface GuardedEnv extends Env {
  /** `auth` without `undefined`: the guard answered every request that had none. */
  Variables: FairmindVariables & { auth: AuthOf };
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
   * Compression of the final response: `{}` for the defaults (gzip and deflate through
   * CompressionStream, over 1024 bytes). Off unless given, so that bodies change only where
   * the application asked.
   * @default undefined (no compression)
   */
  compression?: HonoCompressionOptions | false | undefined;
}

const exchanges = new WeakMap<Context, Exchange>();

/**
 * The exchange {@link fairmind} or {@link use} made for a request: its `state` holds what the
 * middleware found.
 */
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
    compress: compressionOf(options.compression, createResponseCompression),
  });
  return { bridge, clientAddress: options.clientAddress };
}

/**
 * Contract middleware as one Hono middleware. It runs the chain; a short reply ends the
 * request, otherwise `c.get('auth')` and `c.get('fairmind')` are set and the rest of the app
 * runs, and the chain's headers go on its response. Last, the final response is compressed,
 * when the `compression` option asks for it. Register it first, so that it sees every
 * response, errors and 404s included.
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
  return bridgeMiddleware(bridge, clientAddress);
}

// The bridge as Hono middleware. fairmind() and every use() on one request share one exchange,
// so what authenticate() found stays found; the first one makes it.
function bridgeMiddleware(
  bridge: WebBridge,
  clientAddress: (c: Context) => string,
): MiddlewareHandler<FairmindEnv> {
  return async function fairmindMiddleware(c, next) {
    const startedAt = performance.now();
    let exchange = exchanges.get(c);
    if (exchange === undefined) {
      exchange = webExchange(c.req.raw, clientAddress(c));
      exchanges.set(c, exchange);
      c.set('fairmind', exchange.state);
    }
    const { state } = exchange;
    const response = await bridge({
      exchange,
      env: c.env,
      startedAt,
      decided: () => c.set('auth', (state as { auth?: AuthOf }).auth),
      async next() {
        await next();
        return c.res;
      },
    });
    replaceResponse(c, response);
  };
}

/** Options of {@link use}. */
export interface HonoUseOptions extends UseOptions {
  /**
   * The socket peer, read only by the first `fairmind()` or `use()` of a request (the others
   * share its exchange); see {@link FairmindHonoOptions.clientAddress}.
   * @default the peer on @hono/node-server (`nodeClientAddress`); elsewhere a 500 problem
   * asking for this option
   */
  clientAddress?: ((c: Context) => string) | undefined;
}

/**
 * One contract middleware (or several, in order) as Hono's own middleware, app-wide or on one
 * route: as {@link fairmind} answers, without compression. Every `use()` on one request shares
 * one state, and after an `AuthGuard` (or an array ending with one) the next handlers see
 * `c.get('auth')` typed as present.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` unless given a middleware or an array of them.
 * @example
 * ```ts
 * app.use(use([requestLog({ logger }), securityHeaders(), auth.authenticate({ optional: true })]));
 * app.get('/admin', use(auth.requireRole('admin')), (c) => c.json({ id: c.get('auth').id }));
 * ```
 */
export function use(
  middleware: GuardedMiddleware,
  options?: HonoUseOptions,
): MiddlewareHandler<GuardedEnv>;
/**
 * One contract middleware (or several) that is not a guard: `c.get('auth')` stays
 * `AuthOf | undefined`.
 *
 * @example
 * ```ts
 * app.use(use(securityHeaders()));
 * ```
 */
export function use(
  middleware: UseMiddleware,
  options?: HonoUseOptions,
): MiddlewareHandler<FairmindEnv>;
export function use(
  middleware: UseMiddleware,
  options: HonoUseOptions = {},
): MiddlewareHandler<FairmindEnv> | MiddlewareHandler<GuardedEnv> {
  const scope = useScope(PKG, middleware, options, asProblemError);
  return bridgeMiddleware(
    createWebBridge({ ...scope, compress: undefined }),
    options.clientAddress ?? nodePeer,
  );
}

/**
 * A Hono handler for a contract {@link Handler} (the FairMind platform's, or your own), with
 * `c.req.raw` as the body source, read by the handler itself. It needs {@link fairmind} or
 * {@link use} in front of it, which made the exchange.
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
  return toResponse(notFoundReply(c.req.method, c.req.url, exchanges.get(c)));
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
