import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  type AuthOf,
  type Decision,
  type Exchange,
  type FairmindState,
  type Handler,
  invalidOptions,
  type Logger,
  type Reply,
} from '@fairmind/core';
import {
  type AdapterOptions,
  adapterScope,
  applyChain,
  applyHeaders,
  type ChainScope,
  checkGuard,
  compressionOf,
  failureReply,
  type GuardedMiddleware,
  type HeaderTarget,
  handlerReply,
  type MountableApp,
  middlewareChain,
  notFoundReply,
  type PendingResponse,
  type UseMiddleware,
  type UseOptions,
  useScope,
} from '@fairmind/core/adapter';
import {
  bodyAfterParser,
  lingerBeforeClose,
  nodeExchange,
  observeFinish,
} from '@fairmind/core/node';
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  RouteGenericInterface,
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

/** Options of the {@link fairmind} plugin: the middleware run in an `onRequest` hook. */
export interface FairmindFastifyOptions extends AdapterOptions {
  /**
   * Response compression in an `onSend` hook: `{}` for the defaults (br, gzip, deflate over
   * 1024 bytes). Off unless given, so that payloads change only where the application asked.
   * @default undefined (no compression)
   */
  compression?: FastifyCompressionOptions | false | undefined;
  /**
   * Problem JSON for errors and unknown routes (`setErrorHandler`, `setNotFoundHandler`);
   * `false` keeps handlers of your own.
   * @default true
   */
  problems?: boolean | undefined;
}

// A symbol-keyed property of the request, not a WeakMap: a WeakMap's set and get cost more
// than a property (0.7% of a cached list's time in a CPU profile), and the request is garbage
// as soon as its exchange is. Every request gets it at the same point, so Fastify's requests
// keep one shape.
const EXCHANGE = Symbol('@fairmind/fastify.exchange');

type WithExchange = FastifyRequest & { [EXCHANGE]?: Exchange };

/** The exchange the plugin made for a request: its `state` holds what the middleware found. */
export function exchangeOf(request: FastifyRequest): Exchange | undefined {
  return (request as WithExchange)[EXCHANGE];
}

function expose(request: FastifyRequest, exchange: Exchange): Exchange {
  (request as WithExchange)[EXCHANGE] = exchange;
  request.fairmind = exchange.state;
  request.auth = (exchange.state as { auth?: AuthOf }).auth ?? null;
  return exchange;
}

// Fastify sends a string as it is when its Content-Type names a charset or is not JSON: then
// the body goes as the string, so a cached body, the same string on every request, is neither
// copied nor compared byte by byte by the compression memo (2% of a cached list's time).
// Otherwise it goes as a Buffer: Fastify appends `; charset=utf-8` to a JSON media type sent
// as a string (the problem media type is exactly `application/problem+json`) and gives a
// string with no Content-Type `text/plain`.
const SENT_AS_IS = /charset=|^(?:(?!json).)*$/i;

function payloadOf(result: Reply): string | Buffer | undefined {
  if (result.body === null) return undefined;
  // Names are lower-case by the contract; one written otherwise just goes as a Buffer.
  const type = result.headers['content-type'];
  return type !== undefined && SENT_AS_IS.test(type) ? result.body : Buffer.from(result.body);
}

// A reply that closes the connection (a 413) lets the client finish sending first.
function sendReply(reply: FastifyReply, result: Reply): FastifyReply {
  reply.code(result.status);
  applyHeaders(replyHeaders(reply), result.headers);
  if (result.headers['connection']?.toLowerCase() === 'close') lingerBeforeClose(reply.request.raw);
  return reply.send(payloadOf(result));
}

/**
 * A `setErrorHandler` handler answering RFC 9457 problem JSON: a `FairmindError` or a Fastify
 * client error (bad JSON, schema, media type) keeps its status; anything else is a bare 500.
 *
 * @example
 * ```ts
 * app.setErrorHandler(problemErrorHandler({ logger }));
 * ```
 */
export function problemErrorHandler(
  options: { logger?: Logger | undefined } = {},
): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  const scope = adapterScope(PKG, options, asProblemError);
  return function fairmindErrorHandler(error, request, reply) {
    return sendReply(reply, failureReply(scope, error, exchangeOf(request)));
  };
}

/**
 * A `setNotFoundHandler` handler: a 404 `NOT_FOUND` problem naming the method and path.
 *
 * @example
 * ```ts
 * app.setNotFoundHandler(notFoundHandler);
 * ```
 */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const exchange = exchangeOf(request);
  return sendReply(reply, notFoundReply(request.method, request.raw.url ?? '/', exchange));
}

// A short reply ends the request; otherwise the headers go on the reply and `proceed` runs,
// synchronously while every middleware is. `fail` gets what an asynchronous chain rejected with.
function runChain(
  scope: ChainScope,
  request: FastifyRequest,
  reply: FastifyReply,
  outcome: { proceed(exchange: Exchange): void; fail(error: Error): void },
): void {
  // The socket peer, never a forwarded header nor Fastify's `trustProxy`: the contract's
  // client-IP resolver applies TRUSTED_PROXIES itself, once, for every adapter. The plugin and
  // every use() hook on one request share one exchange, so what authenticate() found stays.
  const exchange = exchangeOf(request) ?? expose(request, nodeExchange(request.raw));
  const go = applyChain(scope, exchange, new PendingReply(request, reply, exchange));
  if (go instanceof Promise)
    go.then((pass) => pass && outcome.proceed(exchange)).catch(outcome.fail);
  else if (go) outcome.proceed(exchange);
}

// The reply the chain reaches, as one object with its methods on a prototype rather than an
// object and three closures for every request.
class PendingReply implements PendingResponse {
  readonly #startedAt = performance.now();
  readonly headers: HeaderTarget;

  constructor(
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    readonly exchange: Exchange,
  ) {
    this.headers = replyHeaders(reply);
  }

  decided(decision: Decision): void {
    const { request, reply } = this;
    request.auth = (this.exchange.state as { auth?: AuthOf }).auth ?? null;
    // Fastify keeps the Content-Length in the reply's own header store, not on `res`.
    const length = () => reply.getHeader('content-length');
    observeFinish(reply.raw, decision.onFinish, this.#startedAt, length);
  }

  send(result: Reply): void {
    sendReply(this.reply, result);
  }
}

// The chain as a hook of the plugin or of use(). A reply sent from a hook ends the request, so
// done() runs only when none was.
function chainHook(scope: ChainScope): onRequestHookHandler {
  return function fairmindHook(request, reply, done) {
    runChain(scope, request, reply, { proceed: () => done(), fail: done });
  };
}

/** Options of {@link frameworkErrorHandler}. */
export interface FrameworkErrorOptions
  extends Pick<FairmindFastifyOptions, 'middleware' | 'logger'> {
  /**
   * The mounted application's handler, which answers a URL Fastify cannot decode as every
   * adapter does; without one that URL gets a 400 problem.
   * @default undefined
   */
  handler?: Handler<IncomingMessage> | undefined;
}

/**
 * A handler for Fastify's `frameworkErrors` constructor option, which no plugin can set: a URL
 * Fastify cannot decode (`/%E0%A4%A`) is refused before any hook, so this runs the chain for
 * it (security headers, request id, log, rate limit), then the handler.
 *
 * @example
 * ```ts
 * const { middleware, handler } = platform;
 * const app = Fastify({ frameworkErrors: frameworkErrorHandler({ middleware, handler, logger }) });
 * mount(app, platform, { logger });
 * ```
 */
export function frameworkErrorHandler(
  options: FrameworkErrorOptions = {},
): (error: Error, request: FastifyRequest, reply: FastifyReply) => void {
  const settings = resolveOptions({ ...options, compression: false });
  const { handler } = options;
  if (handler !== undefined && typeof handler !== 'function') {
    throw invalidOptions(PKG, 'handler must be a contract handler: (exchange, body) => reply.');
  }
  const problems = problemErrorHandler(settings);
  return function fairmindFrameworkError(error, request, reply) {
    const fail = (failure: unknown) => problems(failure, request, reply);
    const proceed = (exchange: Exchange) => {
      if (!handler || (error as { code?: unknown }).code !== 'FST_ERR_BAD_URL') return fail(error);
      const answer = handlerReply(settings, handler, exchange, request.raw);
      answer.then((result) => sendReply(reply, result));
    };
    runChain(settings, request, reply, { proceed, fail });
  };
}

function resolveOptions(options: FairmindFastifyOptions) {
  const { compression } = options;
  return {
    ...adapterScope(PKG, options, asProblemError),
    chain: middlewareChain(PKG, options.middleware),
    compression: compressionOf(compression, createCompressionHook),
  };
}

const fairmindPlugin: FastifyPluginCallback<FairmindFastifyOptions> = (app, options, done) => {
  let settings: ReturnType<typeof resolveOptions>;
  try {
    settings = resolveOptions(options);
  } catch (error) {
    // avvio only sees an error handed to done(): a throw here would escape registration.
    return done(error as Error);
  }
  // Registered again below an instance that has it (mount() in a prefixed scope of an app
  // that registered the plugin app-wide), it adds its chain and keeps the decorators there.
  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null);
  if (!app.hasRequestDecorator('fairmind')) app.decorateRequest('fairmind', null);
  app.addHook('onRequest', chainHook(settings));
  if (settings.compression) app.addHook('onSend', settings.compression);
  if (options.problems !== false) {
    app.setErrorHandler(problemErrorHandler(settings));
    app.setNotFoundHandler(notFoundHandler);
  }
  done();
};

/**
 * The FairMind plugin for Fastify 5 (through `fastify-plugin`, so it applies to the instance
 * that registers it): contract middleware in `onRequest`, setting `request.auth` and
 * `request.fairmind`; compression in `onSend` when asked for; problem JSON for errors and
 * unknown routes.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(fairmind, { middleware: [securityHeaders(), auth.authenticate()], compression: {} });
 * app.get('/me', async (request) => request.auth);
 * ```
 */
export const fairmind = fp(fairmindPlugin, { fastify: '5.x', name: PKG });

/**
 * Contract middleware as a Fastify hook (`addHook('onRequest')`, a route's `onRequest` or
 * `preHandler`) that answers as the plugin does; every `use()` on a request shares one state.
 * It never compresses. {@link guarded} types the principal after a guard.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` unless given a middleware or an array of them.
 * @example
 * ```ts
 * app.addHook('onRequest', use([requestLog({ logger }), securityHeaders()]));
 * ```
 */
export function use(middleware: UseMiddleware, options: UseOptions = {}): onRequestHookHandler {
  return chainHook(useScope(PKG, middleware, options, asProblemError));
}

/** What {@link guarded} returns: route options to spread beside the route's others. */
export interface GuardedRoute<G extends RouteGenericInterface = RouteGenericInterface> {
  /** The guard, made by {@link use}: it answers 401 or 403 before the handler runs. */
  onRequest: onRequestHookHandler;
  /** The handler, which Fastify calls only once the guard let the request through. */
  handler: RouteHandlerMethod<Server, IncomingMessage, ServerResponse, G>;
}

/** A route handler behind {@link guarded}: `request.auth` is the principal, present. */
export type GuardedHandler<G extends RouteGenericInterface = RouteGenericInterface> = (
  this: FastifyInstance,
  request: FastifyRequest<G> & { auth: AuthOf },
  reply: FastifyReply<G>,
) => ReturnType<GuardedRoute<G>['handler']>;

/**
 * Route options of a guard (its `onRequest`) and a handler that sees `request.auth` as present.
 * A hook cannot change a handler's types in Fastify, so the two travel together.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` unless `guard` is an `AuthGuard` (or ends with one).
 * @example
 * ```ts
 * app.get('/admin', guarded(auth.requireRole('admin'), async (request) => request.auth.id));
 * app.get('/models/:id', { schema, ...guarded<{ Params: { id: string } }>(canRead, handler) });
 * ```
 */
export function guarded<G extends RouteGenericInterface = RouteGenericInterface>(
  guard: GuardedMiddleware,
  handler: GuardedHandler<G>,
  options: UseOptions = {},
): GuardedRoute<G> {
  // The guard answers every request without a principal: the handler is the route's as it is.
  return {
    onRequest: use(checkGuard(PKG, 'guarded', guard), options),
    handler: handler as GuardedRoute<G>['handler'],
  };
}

/**
 * A Fastify route handler for a contract {@link Handler}, with the plugin's exchange and
 * `request.raw` as the body. On an ordinary route Fastify's content-type parsers have read a
 * JSON or text body before the handler runs; the handler then gets those bytes again (the
 * parsed JSON serialized once more), so `readJsonBody(body)` works on any route. {@link mount}
 * leaves bodies unread and passes `request.raw` itself.
 *
 * @example
 * ```ts
 * app.post('/echo', handle((exchange, body) => jsonReply(200, { from: exchange.clientAddress })));
 * ```
 */
export function handle(handler: Handler<IncomingMessage>): RouteHandlerMethod {
  return async function fairmindHandler(request, reply) {
    const exchange = exchangeOf(request) ?? expose(request, nodeExchange(request.raw));
    return sendReply(reply, await handler(exchange, bodyAfterParser(request.raw, request.body)));
  };
}

/** What {@link mount} needs: contract middleware and a handler, as the platform has them. */
export type Mountable = MountableApp<IncomingMessage>;

// The methods an HTTP API answers; any other (TRACE, CONNECT, WebDAV) gets the 404 problem.
const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

/**
 * Mounts an application written on the contract (the FairMind platform): the {@link fairmind}
 * plugin with its middleware and a catch-all route whose body is left for the application to
 * read with its own limit. Routes you declare yourself win and keep Fastify's body parsing.
 * Compression only with the `compression` option.
 *
 * @example
 * ```ts
 * mount(app, platform, { logger, compression: {} });
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
    scope.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null, undefined));
    scope.route({ method: METHODS, url: '*', handler: handle(target.handler) });
    done();
  });
}
