import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthOf,
  type Exchange,
  type FairmindState,
  type Handler,
  type Logger,
  silentLogger,
} from '@fairmind/core';
import {
  adapterScope,
  failureReply,
  type GuardedMiddleware,
  liftClientError,
  type MountableApp,
  notFoundReply,
  type UseMiddleware,
  type UseOptions,
} from '@fairmind/core/adapter';
import { bodyAfterParser, nodeExchange, writeReply } from '@fairmind/core/node';
import {
  createNodeBridge,
  exchangeOf,
  type NodeAdapterOptions,
  type NodeBridge,
  use as nodeUse,
  type Responder,
  respond,
} from '@fairmind/node';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** The per-request state the FairMind middleware share. */
      fairmind?: FairmindState;
    }
  }
}

/** The `res.locals` of a route behind `use(guard)`: the principal, present. */
export type GuardedLocals = { auth: AuthOf };

declare module 'express-serve-static-core' {
  // Express infers a route's LocalsObj from its handlers, so a `use(guard)` in front of a handler
  // (typed with GuardedLocals) makes `req.auth` present in that handler: no `!` needed.
  // biome-ignore lint/suspicious/noExplicitAny: the constraint must repeat Express's own
  interface Request<P, ResBody, ReqBody, ReqQuery, LocalsObj extends Record<string, any>> {
    /**
     * The authenticated principal once `@fairmind/auth`'s `authenticate()` ran, else
     * `undefined`; present (typed without `undefined`) in a handler after `use(guard)`.
     */
    auth: LocalsObj extends GuardedLocals ? AuthOf : AuthOf | undefined;
  }
}

const exposed = new WeakSet<IncomingMessage>();

// Getters, so a principal set by a later middleware is seen too. Defined once per request (every
// use() shares the state), and a value the application or another library assigns (express-jwt
// sets req.auth) wins on that object, where a getter alone would throw.
function expose(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
  (req as Partial<Request>).fairmind = exchange.state;
  if (exposed.has(req)) return;
  exposed.add(req);
  const state = exchange.state as { auth?: AuthOf };
  for (const target of [req, (res as Partial<Response>).locals]) {
    if (target === undefined) continue;
    Object.defineProperty(target, 'auth', {
      configurable: true,
      enumerable: true,
      get: () => state.auth,
      set: (value: unknown) =>
        Object.defineProperty(target, 'auth', { enumerable: true, writable: true, value }),
    });
  }
}

/**
 * An Express middleware made by {@link use}: the request's own types are left to the route, so
 * its path parameters stay typed.
 */
export type FairmindHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
) => void;

/**
 * An Express middleware made by {@link use} from an `AuthGuard`: handlers after it in the same
 * `app.get(path, ...)` call see `req.auth` and `res.locals.auth` as present.
 */
export type GuardHandler = (
  req: IncomingMessage,
  // biome-ignore lint/suspicious/noExplicitAny: the response body is the route's business
  res: Response<any, GuardedLocals>,
  next: NextFunction,
) => void;

// The bridge as Express middleware: a short reply ends the request, otherwise next() runs with
// req.auth, req.fairmind and res.locals.auth filled in.
function expressMiddleware(bridge: NodeBridge): FairmindHandler {
  return function fairmindMiddleware(req, res, next) {
    // Express sets X-Powered-By on every response unless the app disables it; the security
    // headers contract says there is none.
    res.removeHeader('x-powered-by');
    const go = bridge(req, res);
    const exchange = exchangeOf(req);
    if (exchange) expose(req, res, exchange);
    if (go instanceof Promise) {
      go.then((proceed) => proceed && next(), next);
    } else if (go) {
      next();
    }
  };
}

/**
 * Contract middleware as one Express middleware: the chain (compression first, when asked
 * for); a short reply ends the request, otherwise the headers are set and `next()` runs with
 * `req.auth` and `req.fairmind` filled in.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { fairmind } from '@fairmind/express';
 *
 * const app = express();
 * app.use(fairmind({ middleware: [requestLog({ logger }), securityHeaders(), authenticate(auth)], compression: {} }));
 * app.get('/me', (req, res) => res.json(req.auth));
 * ```
 */
export function fairmind(options: NodeAdapterOptions = {}): RequestHandler {
  return expressMiddleware(createNodeBridge(options));
}

/**
 * One contract middleware (or several, in order) as Express's own middleware, app-wide or on
 * one route. A 401, 403 or 429 (or a thrown `FairmindError`) ends the request with its problem
 * JSON, carrying the headers gathered before it; otherwise its headers go on the response and
 * `next()` runs with `req.auth`, `req.fairmind` and `res.locals.auth` filled in. Every `use()`
 * (and `fairmind()`) on one request shares one state, so a `requirePermission()` sees what an
 * earlier `authenticate()` found. It never compresses. After an `AuthGuard` (or an array
 * ending with one) `req.auth` is typed as present in the handlers of the same route.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` unless given a middleware or an array of them.
 * @example
 * ```ts
 * app.use(use([requestLog({ logger }), securityHeaders(), auth.authenticate({ optional: true })]));
 * app.get('/admin', use(auth.requireRole('admin')), (req, res) => {
 *   res.json({ id: req.auth.id }); // present: no `!`
 * });
 * ```
 */
export function use(middleware: GuardedMiddleware, options?: UseOptions): GuardHandler;
/**
 * One contract middleware (or several) that is not a guard: `req.auth` stays `AuthOf | undefined`.
 *
 * @example
 * ```ts
 * app.use(use(securityHeaders()));
 * ```
 */
export function use(middleware: UseMiddleware, options?: UseOptions): FairmindHandler;
export function use(middleware: UseMiddleware, options: UseOptions = {}): FairmindHandler {
  return expressMiddleware(nodeUse(middleware, options));
}

/**
 * A terminal Express handler for a contract {@link Handler} (the FairMind platform's, or
 * your own). It reuses the exchange of {@link fairmind} when that ran first.
 */
export function handle(
  handler: Handler<IncomingMessage>,
  options: { logger?: Logger | undefined } = {},
): RequestHandler {
  const responder: Responder = { handler, logger: options.logger ?? silentLogger };
  return function fairmindHandler(req, res, next) {
    let exchange = exchangeOf(req);
    if (!exchange) {
      exchange = nodeExchange(req);
      expose(req, res, exchange);
    }
    respond(responder, exchange, bodyAfterParser(req, req.body), res).catch(next);
  };
}

/**
 * Express middleware (body-parser, for one) report a client's mistake as an error with a
 * 4xx `status` and `expose: true`; it keeps its status instead of becoming a 500.
 */
function clientError(error: unknown): unknown {
  return liftClientError(error, ({ status, statusCode, expose, message }) => ({
    status: typeof status === 'number' ? status : statusCode,
    message: expose === true && typeof message === 'string' ? message : 'The request is not valid.',
  }));
}

/**
 * An Express error handler that answers with RFC 9457 problem JSON: `FairmindError`s keep
 * their status and code, a client error of Express's own (a bad JSON body) its 4xx, anything
 * else is a 500 that says nothing of the cause and is logged with the request id, method and
 * path.
 *
 * @example
 * ```ts
 * app.use(notFoundHandler);
 * app.use(problemHandler({ logger }));
 * ```
 */
export function problemHandler(options: { logger?: Logger | undefined } = {}): ErrorRequestHandler {
  const scope = adapterScope('@fairmind/express', options, clientError);
  return function fairmindProblemHandler(error: unknown, req, res, next) {
    if (res.headersSent) return next(error);
    writeReply(res, failureReply(scope, error, exchangeOf(req)));
  };
}

/**
 * The last Express middleware of an app: a request no route matched gets the 404 `NOT_FOUND`
 * problem naming its method and path, with the headers earlier middleware put on the response.
 *
 * @example
 * ```ts
 * app.use(notFoundHandler);
 * app.use(problemHandler({ logger }));
 * ```
 */
export const notFoundHandler: RequestHandler = function fairmindNotFound(req, res) {
  // originalUrl: a router mounted on a path sees only the rest of it in req.url.
  writeReply(res, notFoundReply(req.method, req.originalUrl, exchangeOf(req)));
};

/** What {@link mount} needs: contract middleware and a handler, as the platform has them. */
export type Mountable = MountableApp<IncomingMessage>;

/**
 * Mounts a whole application written on the contract (the FairMind platform) on an Express
 * app or router: its middleware, its handler, and problem JSON for errors; compression too
 * when the `compression` option is given.
 *
 * @example
 * ```ts
 * const app = express();
 * mount(app, platform, { logger, compression: {} });
 * app.listen(3000);
 * ```
 */
export function mount(
  app: { use(...handlers: Array<RequestHandler | ErrorRequestHandler>): unknown },
  target: Mountable,
  options: Omit<NodeAdapterOptions, 'middleware'> = {},
): void {
  app.use(fairmind({ ...options, middleware: target.middleware }));
  app.use(handle(target.handler, options.logger ? { logger: options.logger } : {}));
  app.use(problemHandler(options.logger ? { logger: options.logger } : {}));
}
