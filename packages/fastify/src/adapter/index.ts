import type { IncomingMessage } from 'node:http';
import {
  type AuthOf,
  type Exchange,
  type FairmindState,
  type Handler,
  invalidOptions,
  type Logger,
  type Middleware,
  type Reply,
  silentLogger,
} from '@fairmind/core';
import {
  type AdapterScope,
  applyChain,
  applyHeaders,
  type ChainScope,
  failureReply,
  handlerReply,
  type MountableApp,
  middlewareChain,
  notFoundReply,
} from '@fairmind/core/adapter';
import { lingerBeforeClose, nodeExchange, observeFinish } from '@fairmind/core/node';
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
} from 'fastify';
import fp from 'fastify-plugin';
import { createCompressionHook, type FastifyCompressionOptions } from '../compression/index.js';
import { asProblemError } from '../problems/index.js';
import { replyHeaders } from '../reply/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated principal once `@fairmind/auth`'s `authenticate()` ran, else `null`. */
    auth: AuthOf | null;
    /** The per-request state the FairMind middleware share; set by the `onRequest` hook. */
    fairmind: FairmindState | null;
  }
}

const PKG = '@fairmind/fastify';

/** Options of the {@link fairmind} plugin. */
export interface FairmindFastifyOptions {
  /**
   * Contract middleware run in order in an `onRequest` hook, before routing's handlers.
   * @default []
   */
  middleware?: readonly Middleware[] | undefined;
  /**
   * Response compression in an `onSend` hook, or `false` to leave payloads as they are.
   * @default {} (br, gzip, deflate over 1024 bytes)
   */
  compression?: FastifyCompressionOptions | false | undefined;
  /**
   * Answer errors and unknown routes with RFC 9457 problem JSON through `setErrorHandler`
   * and `setNotFoundHandler`. Turn it off to keep handlers of your own.
   * @default true
   */
  problems?: boolean | undefined;
  /**
   * Where failures are logged (5xx only; 4xx are the client's).
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

const exchanges = new WeakMap<FastifyRequest, Exchange>();

/** The exchange the plugin made for a request: its `state` holds what the middleware found. */
export function exchangeOf(request: FastifyRequest): Exchange | undefined {
  return exchanges.get(request);
}

function expose(request: FastifyRequest, exchange: Exchange): Exchange {
  exchanges.set(request, exchange);
  request.fairmind = exchange.state;
  request.auth = (exchange.state as { auth?: AuthOf }).auth ?? null;
  return exchange;
}

/**
 * Sends a contract {@link Reply}. The body goes as a Buffer: Fastify would append
 * `; charset=utf-8` to a JSON media type sent as a string, and the problem media type is
 * exactly `application/problem+json`. A reply that closes the connection (a 413) lets the
 * client finish sending first (`lingerBeforeClose`).
 */
function sendReply(reply: FastifyReply, result: Reply): FastifyReply {
  reply.code(result.status);
  applyHeaders(replyHeaders(reply), result.headers);
  if (result.headers['connection']?.toLowerCase() === 'close') lingerBeforeClose(reply.request.raw);
  return reply.send(result.body === null ? undefined : Buffer.from(result.body));
}

/**
 * An error handler for `setErrorHandler` that answers with RFC 9457 problem JSON:
 * `FairmindError`s keep their status and code, Fastify's own client errors (bad JSON, schema
 * validation, media type) keep their 4xx, anything else is a 500 that says nothing of the
 * cause. The plugin installs it unless `problems: false`.
 *
 * @example
 * ```ts
 * app.setErrorHandler(problemErrorHandler({ logger }));
 * ```
 */
export function problemErrorHandler(
  options: { logger?: Logger | undefined } = {},
): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  const scope: AdapterScope = {
    pkg: PKG,
    logger: options.logger ?? silentLogger,
    lift: asProblemError,
  };
  return function fairmindErrorHandler(error, request, reply) {
    const exchange = exchanges.get(request);
    return sendReply(reply, failureReply(scope, error, exchange));
  };
}

/**
 * A handler for `setNotFoundHandler`: a 404 `NOT_FOUND` problem naming the method and path.
 *
 * @example
 * ```ts
 * app.setNotFoundHandler(notFoundHandler);
 * ```
 */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendReply(reply, notFoundReply(request.method, request.raw.url ?? '/'));
}

/** Where {@link runChain} goes once the chain decided. */
interface ChainOutcome {
  /** Runs with the exchange when no middleware answered. */
  proceed(exchange: Exchange): void;
  /** Runs with what an asynchronous middleware chain rejected with. */
  fail(error: Error): void;
}

/**
 * Runs the chain for one request: a short reply is sent and ends it, otherwise the headers go
 * on the reply and `outcome.proceed` runs with the exchange. Synchronous while every
 * middleware is.
 */
function runChain(
  scope: ChainScope,
  request: FastifyRequest,
  reply: FastifyReply,
  outcome: ChainOutcome,
): void {
  const startedAt = performance.now();
  // The socket peer, never a forwarded header and never Fastify's `trustProxy`: the
  // contract's client-IP resolver applies TRUSTED_PROXIES itself, once, for every adapter.
  const exchange = expose(request, nodeExchange(request.raw));
  const go = applyChain(scope, exchange, {
    decided(decision) {
      // The chain may have authenticated the request.
      request.auth = (exchange.state as { auth?: AuthOf }).auth ?? null;
      // Fastify keeps the Content-Length in the reply's own header store, not on `res`.
      observeFinish(reply.raw, decision.onFinish, startedAt, () =>
        reply.getHeader('content-length'),
      );
    },
    headers: replyHeaders(reply),
    send: (result) => sendReply(reply, result),
  });
  if (go instanceof Promise) {
    go.then((pass) => pass && outcome.proceed(exchange)).catch(outcome.fail);
  } else if (go) outcome.proceed(exchange);
}

/** Options of {@link frameworkErrorHandler}. */
export interface FrameworkErrorOptions
  extends Pick<FairmindFastifyOptions, 'middleware' | 'logger'> {
  /**
   * The mounted application's handler. A URL Fastify cannot decode then goes to it like any
   * other request, and the application answers it as it answers on every adapter (the
   * platform with a 404 problem); without one it is a 400 problem.
   * @default undefined
   */
  handler?: Handler<IncomingMessage> | undefined;
}

/**
 * A handler for Fastify's `frameworkErrors` constructor option. Fastify answers a URL it cannot
 * decode (`/%E0%A4%A`) before any hook runs, with a JSON body of its own; this runs the chain
 * for it too (security headers, request id, request log, rate limit), then hands it to the
 * application's handler when one is given, or answers with a 400 problem. The plugin cannot
 * set a constructor option, so pass it yourself, with the same middleware.
 *
 * @example
 * ```ts
 * const app = Fastify({
 *   frameworkErrors: frameworkErrorHandler({
 *     middleware: platform.middleware,
 *     handler: platform.handler,
 *     logger,
 *   }),
 * });
 * mount(app, platform, { logger });
 * ```
 */
export function frameworkErrorHandler(
  options: FrameworkErrorOptions = {},
): (error: Error, request: FastifyRequest, reply: FastifyReply) => void {
  const settings = resolveOptions({ ...options, compression: false });
  const { logger } = settings;
  const { handler } = options;
  if (handler !== undefined && typeof handler !== 'function') {
    throw invalidOptions(PKG, 'handler must be a contract handler: (exchange, body) => reply.');
  }
  const problems = problemErrorHandler({ logger });
  return function fairmindFrameworkError(error, request, reply) {
    const answer = (failure: unknown) => problems(failure, request, reply);
    const badUrl = (error as { code?: unknown }).code === 'FST_ERR_BAD_URL';
    const proceed = (exchange: Exchange) => {
      if (!handler || !badUrl) return answer(error);
      handlerReply(settings, handler, exchange, request.raw).then((result) =>
        sendReply(reply, result),
      );
    };
    runChain(settings, request, reply, { proceed, fail: answer });
  };
}

function resolveOptions(options: FairmindFastifyOptions) {
  return {
    pkg: PKG,
    lift: asProblemError,
    chain: middlewareChain(PKG, options.middleware),
    logger: options.logger ?? silentLogger,
    compression:
      options.compression === false ? undefined : createCompressionHook(options.compression ?? {}),
  };
}

const fairmindPlugin: FastifyPluginCallback<FairmindFastifyOptions> = (app, options, done) => {
  let settings: ReturnType<typeof resolveOptions>;
  try {
    settings = resolveOptions(options);
  } catch (error) {
    // avvio only sees an error handed to done(): a throw here would escape registration.
    done(error as Error);
    return;
  }
  const { logger, compression } = settings;

  app.decorateRequest('auth', null);
  app.decorateRequest('fairmind', null);

  app.addHook('onRequest', function fairmindOnRequest(request, reply, next) {
    // A reply sent from onRequest ends the request, so next() runs only when none was.
    runChain(settings, request, reply, { proceed: () => next(), fail: next });
  });

  if (compression) app.addHook('onSend', compression);
  if (options.problems !== false) {
    app.setErrorHandler(problemErrorHandler({ logger }));
    app.setNotFoundHandler(notFoundHandler);
  }
  done();
};

/**
 * The FairMind plugin for Fastify 5, wrapped with `fastify-plugin` so that its hooks,
 * decorators and handlers apply to the instance that registers it: contract middleware in
 * `onRequest` (a short reply ends the request, otherwise its headers go on the reply and
 * `request.auth` / `request.fairmind` are set), compression in `onSend`, and problem JSON for
 * errors and unknown routes.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { fairmind } from '@fairmind/fastify';
 *
 * const app = Fastify();
 * await app.register(fairmind, { middleware: [securityHeaders(), auth.authenticate()] });
 * app.get('/me', async (request) => request.auth);
 * ```
 */
export const fairmind = fp(fairmindPlugin, { fastify: '5.x', name: PKG });

/**
 * A Fastify route handler for a contract {@link Handler} (the FairMind platform's, or your
 * own). It reuses the exchange of the {@link fairmind} plugin and passes `request.raw` as the
 * body, so register it where no content-type parser consumes the body first (as
 * {@link mount} does).
 *
 * @example
 * ```ts
 * app.post('/echo', handle((exchange, body) => jsonReply(200, { from: exchange.clientAddress })));
 * ```
 */
export function handle(handler: Handler<IncomingMessage>): RouteHandlerMethod {
  return async function fairmindHandler(request, reply) {
    const exchange = exchanges.get(request) ?? expose(request, nodeExchange(request.raw));
    return sendReply(reply, await handler(exchange, request.raw));
  };
}

/** What {@link mount} needs: contract middleware and a handler, as the platform has them. */
export type Mountable = MountableApp<IncomingMessage>;

// The methods an HTTP API answers; any other (TRACE, CONNECT, WebDAV) gets the 404 problem.
const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

/**
 * Mounts a whole application written on the contract (the FairMind platform) on a Fastify
 * instance: the {@link fairmind} plugin with its middleware, and a catch-all route whose
 * request body is left unread, so that the application reads it itself with its own limit
 * (`readJsonBody(request.raw)`). Routes you declare yourself take precedence over the
 * catch-all and keep Fastify's body parsing.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * mount(app, platform, { logger });
 * await app.listen({ port: 3000 });
 * ```
 */
export function mount(
  app: FastifyInstance,
  target: Mountable,
  options: Omit<FairmindFastifyOptions, 'middleware'> = {},
): void {
  app.register(fairmind, { ...options, middleware: target.middleware });
  app.register(function fairmindMount(scope, _options, done) {
    // In this scope only: every body reaches the handler unread, whatever its media type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', function leaveBodyUnread(_request, _payload, parsed) {
      parsed(null, undefined);
    });
    scope.route({ method: METHODS, url: '*', handler: handle(target.handler) });
    done();
  });
}
