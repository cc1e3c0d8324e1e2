import type { IncomingMessage } from 'node:http';
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
  liftClientError,
  type MountableApp,
} from '@fairmind/core/adapter';
import { nodeExchange, writeReply } from '@fairmind/core/node';
import {
  createNodeBridge,
  exchangeOf,
  type NodeAdapterOptions,
  type Responder,
  respond,
} from '@fairmind/node';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** The authenticated principal, once `@fairmind/auth`'s `authenticate()` ran. */
      auth?: AuthOf;
      /** The per-request state the FairMind middleware share. */
      fairmind?: FairmindState;
    }
  }
}

function expose(req: Request, exchange: Exchange): void {
  req.fairmind = exchange.state;
  // A getter, so a principal set by a later middleware is seen too.
  Object.defineProperty(req, 'auth', {
    configurable: true,
    enumerable: true,
    get: () => (exchange.state as { auth?: AuthOf }).auth,
  });
}

/**
 * Contract middleware as one Express middleware: compression, then the chain; a short
 * reply ends the request, otherwise the headers are set and `next()` runs with `req.auth`
 * and `req.fairmind` filled in.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { fairmind } from '@fairmind/express';
 *
 * const app = express();
 * app.use(fairmind({ middleware: [requestLog({ logger }), securityHeaders(), authenticate(auth)] }));
 * app.get('/me', (req, res) => res.json(req.auth));
 * ```
 */
export function fairmind(options: NodeAdapterOptions = {}): RequestHandler {
  const bridge = createNodeBridge(options);
  return function fairmindMiddleware(req, res, next) {
    // Express sets X-Powered-By on every response unless the app disables it; the security
    // headers contract says there is none.
    res.removeHeader('x-powered-by');
    const go = bridge(req, res);
    const exchange = exchangeOf(req);
    if (exchange) expose(req, exchange);
    if (go instanceof Promise) {
      go.then((proceed) => proceed && next(), next);
    } else if (go) {
      next();
    }
  };
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
      expose(req, exchange);
    }
    respond(responder, exchange, req, res).catch(next);
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
 * their status and code, anything else is a 500 that says nothing of the cause.
 */
export function problemHandler(options: { logger?: Logger | undefined } = {}): ErrorRequestHandler {
  const scope = adapterScope('@fairmind/express', options, clientError);
  return function fairmindProblemHandler(error: unknown, req, res, next) {
    if (res.headersSent) return next(error);
    writeReply(res, failureReply(scope, error, exchangeOf(req)));
  };
}

/** What {@link mount} needs: contract middleware and a handler, as the platform has them. */
export type Mountable = MountableApp<IncomingMessage>;

/**
 * Mounts a whole application written on the contract (the FairMind platform) on an Express
 * app or router: its middleware, its handler, and problem JSON for errors.
 *
 * @example
 * ```ts
 * const app = express();
 * mount(app, platform, { logger });
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
