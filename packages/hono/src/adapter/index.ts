import {
  type AuthOf,
  type Decision,
  type Exchange,
  FairmindError,
  type FairmindState,
  type FinishInfo,
  type Handler,
  type HeaderRecord,
  invalidOptions,
  type Logger,
  logRequestFailure,
  type Middleware,
  mergeHeader,
  problemReply,
  type Reply,
  requestPath,
  runMiddleware,
  silentLogger,
} from '@fairmind/core';
import { lingerBeforeClose, observeFinish } from '@fairmind/core/node';
import type { Context, Env, ErrorHandler, Hono, MiddlewareHandler, NotFoundHandler } from 'hono';
import type { BlankSchema } from 'hono/types';
import {
  createResponseCompression,
  type HonoCompressionOptions,
  type ResponseCompression,
} from '../compression/index.js';
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
export interface FairmindHonoOptions {
  /**
   * The socket peer's address for a request. Hono runs on many runtimes and none puts the
   * peer in the same place, so it is given, never guessed from a header: `nodeClientAddress`
   * from `@fairmind/hono/node` on @hono/node-server, or for example
   * `(c) => getConnInfo(c).remote.address ?? ''` with the helper of your runtime.
   */
  clientAddress: (c: Context) => string;
  /**
   * Contract middleware run in order before the handler.
   * @default []
   */
  middleware?: readonly Middleware[] | undefined;
  /**
   * Compression of the final response, or `false` to leave bodies as they are.
   * @default {} (gzip and deflate through CompressionStream, over 1024 bytes)
   */
  compression?: HonoCompressionOptions | false | undefined;
  /**
   * Where failures of middleware are logged (5xx only; 4xx are the client's).
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

const exchanges = new WeakMap<Context, Exchange>();

/** The exchange {@link fairmind} made for a request: its `state` holds what the middleware found. */
export function exchangeOf(c: Context): Exchange | undefined {
  return exchanges.get(c);
}

/** A contract {@link Reply} as a Web `Response`, with its exact `Content-Length`. */
export function toResponse(reply: Reply): Response {
  const headers = new Headers(reply.headers);
  if (reply.body === null) return new Response(null, { status: reply.status, headers });
  const body = new TextEncoder().encode(reply.body);
  headers.set('content-length', String(body.byteLength));
  return new Response(body, { status: reply.status, headers });
}

/**
 * Puts contract headers on a finished response: a header the application set itself wins,
 * list headers (`Vary`) combine. A response with immutable headers (`Response.redirect()`,
 * a `fetch()` result) is copied first.
 */
function withHeaders(response: Response, headers: Readonly<HeaderRecord>): Response {
  let target = response;
  for (const name in headers) {
    let value = headers[name] as string;
    const existing = target.headers.get(name);
    if (existing !== null) {
      // Merged this way round, the application's value wins unless the header is a list.
      const merged: HeaderRecord = { [name]: value };
      mergeHeader(merged, name, existing);
      value = merged[name] as string;
      if (value === existing) continue;
    }
    try {
      target.headers.set(name, value);
    } catch (error) {
      if (!(error instanceof TypeError) || target !== response) throw error;
      target = new Response(response.body, response);
      target.headers.set(name, value);
    }
  }
  return target;
}

/**
 * Reports the response to the `onFinish` callbacks once its body has been read to the end
 * (or cancelled: the client went away). That works on every runtime, where a server's
 * "finish" event exists only on Node. A HEAD response's body is dropped by Hono unread, so it
 * is reported at once.
 */
function observed(
  response: Response,
  method: string,
  callbacks: ReadonlyArray<(info: FinishInfo) => void>,
  startedAt: number,
): Response {
  if (callbacks.length === 0) return response;
  const report = (bytes: number, aborted: boolean) => {
    const info: FinishInfo = {
      status: response.status,
      bytes,
      durationMs: performance.now() - startedAt,
      aborted,
    };
    for (const callback of callbacks) callback(info);
  };
  const body = response.body;
  if (body === null || method === 'HEAD') {
    report(0, false);
    return response;
  }
  const reader = body.getReader();
  let bytes = 0;
  let reported = false;
  const once = (aborted: boolean) => {
    if (reported) return;
    reported = true;
    report(bytes, aborted);
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        once(true);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        controller.close();
        once(false);
      } else {
        bytes += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      }
    },
    cancel(reason) {
      once(true);
      return reader.cancel(reason);
    },
  });
  return new Response(stream, response);
}

/**
 * The Node response behind the context on @hono/node-server (`c.env.outgoing`), found by its
 * shape so that this entry imports nothing of Node's (the helper used with it, core's
 * observeFinish, imports only types).
 */
function nodeOutgoing(c: Context): Parameters<typeof observeFinish>[0] | undefined {
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing as
    | { once?: unknown; getHeader?: unknown }
    | undefined;
  return typeof outgoing?.once === 'function' && typeof outgoing.getHeader === 'function'
    ? (outgoing as Parameters<typeof observeFinish>[0])
    : undefined;
}

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
  if (options.middleware !== undefined && !Array.isArray(options.middleware)) {
    throw invalidOptions(PKG, 'middleware must be an array of contract middleware.');
  }
  const chain = [...(options.middleware ?? [])];
  if (chain.some((middleware) => typeof middleware !== 'function')) {
    throw invalidOptions(PKG, 'every entry of middleware must be a function.');
  }
  const compress: ResponseCompression | undefined =
    options.compression === false
      ? undefined
      : createResponseCompression(options.compression ?? {});
  return {
    chain,
    clientAddress: options.clientAddress,
    compress,
    logger: options.logger ?? silentLogger,
  };
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
  const { chain, clientAddress, compress, logger } = resolveOptions(options);

  return async function fairmindMiddleware(c, next) {
    const startedAt = performance.now();
    const request = c.req.raw;
    const exchange: Exchange = {
      request,
      clientAddress: clientAddress(c),
      // On @hono/node-server the URL's scheme comes from the socket; elsewhere from the runtime.
      secure: request.url.startsWith('https:'),
      state: {},
    };
    exchanges.set(c, exchange);
    c.set('fairmind', exchange.state);
    // On @hono/node-server with a Node encoder, compression happens at the Node response
    // (see CompressionEncoder.nodeBackend), and the Web response is left for the server's
    // fast path.
    const outgoing = nodeOutgoing(c);
    const compressAtNode = compress?.node !== undefined && outgoing !== undefined;
    if (compressAtNode) compress?.node?.((c.env as { incoming?: unknown }).incoming, outgoing);
    const pending = runMiddleware(chain, exchange);
    const decision: Decision = pending instanceof Promise ? await pending : pending;
    c.set('auth', (exchange.state as { auth?: AuthOf }).auth);

    let response: Response;
    if (decision.reply) {
      if (decision.error !== undefined) {
        logRequestFailure(logger, PKG, decision.reply.status, decision.error, exchange);
      }
      response = toResponse(decision.reply);
    } else {
      try {
        await next();
        response = c.res;
      } catch (error) {
        // Hono catches what routes throw and hands it to onError, but not what a notFound
        // handler throws (where mount() puts the application): answer that here.
        const reply = problemReply(asProblemError(error));
        logRequestFailure(logger, PKG, reply.status, error, exchange);
        response = toResponse(reply);
      }
      response = withHeaders(response, decision.headers);
    }
    if (compress && !compressAtNode) response = await compress(request, response);
    // On Node the server response says when the body has left, and how long it was: wrapping
    // the body in a counting stream instead would take @hono/node-server off its fast path
    // (it writes a string or buffer body straight to the socket) and cost more than the rest
    // of the request. Elsewhere the counting stream is the only portable way to know.
    if (outgoing === undefined) {
      replaceResponse(c, observed(response, request.method, decision.onFinish, startedAt));
    } else {
      // A client still sending a body this answer refuses must get to read it (a 413).
      if (response.headers.get('connection')?.toLowerCase() === 'close') {
        lingerBeforeClose(
          (c.env as { incoming: Parameters<typeof lingerBeforeClose>[0] }).incoming,
        );
      }
      observeFinish(outgoing, decision.onFinish, startedAt);
      replaceResponse(c, response);
    }
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
      throw new FairmindError(
        'INVALID_OPTIONS',
        500,
        `[${PKG}] handle() runs without an exchange: register fairmind() before it, on the same paths.`,
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
  const logger = options.logger ?? silentLogger;
  return function fairmindProblemHandler(error, c) {
    const reply = problemReply(asProblemError(error));
    logRequestFailure(logger, PKG, reply.status, error, exchanges.get(c));
    return toResponse(reply);
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
  const path = requestPath(c.req.url);
  return toResponse(
    problemReply(
      new FairmindError('NOT_FOUND', 404, `No route for ${c.req.method} ${path}: check the URL.`),
    ),
  );
};

/** What {@link mount} needs: contract middleware and a handler, as the platform has them. */
export interface Mountable {
  readonly middleware: readonly Middleware[];
  readonly handler: Handler<Request>;
}

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
