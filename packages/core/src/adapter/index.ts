import {
  type AuthGuard,
  type Decision,
  type Exchange,
  type FairmindState,
  type Handler,
  type HeaderRecord,
  invalidOptions,
  isAuthGuard,
  type Middleware,
  mergeHeader,
  problemReply,
  type Reply,
  type RequestView,
  requestPath,
  runMiddleware,
} from '../contract/index.js';
import {
  codeForStatus,
  FairmindError,
  isFairmindError,
  PROBLEM_CONTENT_TYPE,
} from '../errors/index.js';
import { type Logger, logRequestFailure, silentLogger } from '../log/index.js';

/**
 * What the framework adapters share, written once so that a response is the same whichever
 * framework sends it. Nothing here imports Node: the Hono adapter runs on Web runtimes.
 */

/** What an adapter's `mount()` needs: contract middleware and a handler, as the platform has them. */
export interface MountableApp<Body = unknown> {
  readonly middleware: readonly Middleware[];
  readonly handler: Handler<Body>;
}

/**
 * Response headers as every adapter can reach them: a Node `ServerResponse` as it is, a
 * Fastify reply or Web `Headers` through a small view ({@link webHeaderTarget}).
 */
export interface HeaderTarget {
  getHeader(name: string): string | number | readonly string[] | null | undefined;
  setHeader(name: string, value: string): unknown;
  removeHeader(name: string): unknown;
}

/**
 * Puts contract headers on a response that has not been sent yet; list headers (`Vary`)
 * combine with what is already there. Which side wins a header that is not a list depends on
 * when the adapter applies them: `'incoming'` (the default) when they go on before the
 * application writes its own, `'existing'` when they go on a response the application already
 * finished, whose own value must win.
 *
 * @example
 * ```ts
 * applyHeaders(res, decision.headers);
 * applyHeaders(webHeaderTarget(response.headers), decision.headers, 'existing');
 * ```
 */
export function applyHeaders(
  target: Pick<HeaderTarget, 'getHeader' | 'setHeader'>,
  headers: Readonly<HeaderRecord>,
  wins: 'incoming' | 'existing' = 'incoming',
): void {
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const existing = target.getHeader(name);
    if (existing === undefined || existing === null) {
      target.setHeader(name, value);
      continue;
    }
    // Already so (Vary: Accept-Encoding set by the reply and again by compression): merging
    // could only give it back, and it is the common case.
    if (existing === value) continue;
    const current = Array.isArray(existing) ? existing.join(', ') : String(existing);
    const merged: HeaderRecord = { [name]: wins === 'incoming' ? current : value };
    mergeHeader(merged, name, wins === 'incoming' ? value : current);
    // An unchanged header is not set again: Web headers may be immutable.
    if (merged[name] !== existing) target.setHeader(name, merged[name] as string);
  }
}

/**
 * Web `Headers` as a {@link HeaderTarget}.
 *
 * @example
 * ```ts
 * applyHeaders(webHeaderTarget(response.headers), { vary: 'Accept-Encoding' });
 * ```
 */
export function webHeaderTarget(headers: Headers): HeaderTarget {
  return {
    getHeader: (name) => headers.get(name),
    setHeader: (name, value) => headers.set(name, value),
    removeHeader: (name) => headers.delete(name),
  };
}

/** What a framework's client error says, read by {@link liftClientError}. */
export interface ClientErrorView {
  readonly status: unknown;
  /** What the problem's `detail` says. */
  readonly message: string;
  readonly headers?: Readonly<HeaderRecord> | undefined;
}

/**
 * A thrown value as the error a problem reply is made from: a framework's own client error
 * (bad JSON, a failed validation, an unsupported media type), read by `read`, becomes a
 * `FairmindError` that keeps its 4xx; anything else is returned as it is, which
 * `problemReply` turns into a 500 that says nothing of the cause.
 *
 * @example
 * ```ts
 * const lifted = liftClientError(error, (e) => ({ status: e['statusCode'], message: String(e['message']) }));
 * ```
 */
export function liftClientError(
  error: unknown,
  read: (error: Readonly<Record<string, unknown>>) => ClientErrorView,
): unknown {
  if (isFairmindError(error) || typeof error !== 'object' || error === null) return error;
  const view = read(error as Readonly<Record<string, unknown>>);
  const { status } = view;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) {
    return error;
  }
  return new FairmindError(
    codeForStatus(status),
    status,
    view.message,
    view.headers === undefined ? { cause: error } : { cause: error, headers: view.headers },
  );
}

/**
 * What a framework's own client error tells the client: its message, which the framework
 * writes for the client, behind the adapter's name and with what to do about it.
 *
 * @example
 * ```ts
 * liftClientError(error, (e) => ({ status: e['statusCode'], message: clientErrorMessage(PKG, error) }));
 * ```
 */
export function clientErrorMessage(pkg: string, error: unknown): string {
  const message = (error instanceof Error && error.message) || 'The request was refused';
  return `[${pkg}] ${message}: fix it and send it again.`;
}

// Headers of a framework's own error response that describe its body, which the problem
// replaces; the rest (a 401's WWW-Authenticate) still holds.
const FRAMING = new Set(['content-type', 'content-length', 'content-encoding']);

/**
 * The headers of a framework's own error response worth keeping on the problem that replaces
 * it: all but those of its body. `undefined` when `response` is not a Web `Response`.
 *
 * @example
 * ```ts
 * liftClientError(error, (e) => ({ status: e['status'], message, headers: keptHeaders(e['res']) }));
 * ```
 */
export function keptHeaders(response: unknown): HeaderRecord | undefined {
  if (!(response instanceof Response)) return undefined;
  const headers: HeaderRecord = {};
  response.headers.forEach((value, name) => {
    if (!FRAMING.has(name)) headers[name] = value;
  });
  return headers;
}

/**
 * The fixed part of how an adapter answers, built once per adapter and passed as it is on every
 * request: the package its log lines name, its logger, and how its framework's own errors
 * become something {@link problemReply} understands.
 */
export interface AdapterScope {
  /** The package name log lines and errors carry, such as `'@fairmind/node'`. */
  readonly pkg: string;
  /** Where failures are logged (see `logRequestFailure`). */
  readonly logger: Logger;
  /**
   * Turns a framework's own error (a parser's 400) into one `problemReply` understands.
   * @default the error as it is
   */
  readonly lift?: ((error: unknown) => unknown) | undefined;
}

/**
 * The options every adapter takes, documented once; each adapter's options extend these with
 * what its framework needs (compression, problem handlers, a client-address reader).
 */
export interface AdapterOptions {
  /**
   * Contract middleware run in order on every request, before the application.
   * @default []
   */
  middleware?: readonly Middleware[] | undefined;
  /**
   * Where failures are logged (5xx only; 4xx are the client's).
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/**
 * The {@link AdapterScope} of an adapter's error handlers, from its options.
 *
 * @example
 * ```ts
 * const scope = adapterScope('@fairmind/express', options, clientError);
 * ```
 */
export function adapterScope(
  pkg: string,
  options: Pick<AdapterOptions, 'logger'>,
  lift: (error: unknown) => unknown,
): AdapterScope & { readonly lift: (error: unknown) => unknown } {
  return { pkg, logger: options.logger ?? silentLogger, lift };
}

/** An {@link AdapterScope} with the middleware chain it runs, as {@link applyChain} takes it. */
export interface ChainScope extends AdapterScope {
  /** The contract middleware run in order on every request. */
  readonly chain: readonly Middleware[];
}

/**
 * A problem reply carrying the request's id (`requestId`, set by `requestLog()`) in its body
 * too, beside the `X-Request-Id` header: what a client files in a report, and what a 500
 * asks it to report. Other replies, and requests without an id, are returned as they are.
 * The member goes in by splicing the body's closing brace, so the prepared bodies of the
 * hot refusal paths (a 429) are not parsed again.
 *
 * @example
 * ```ts
 * writeReply(res, withRequestId(problemReply(error), exchange));
 * ```
 */
export function withRequestId(reply: Reply, exchange: Exchange | undefined): Reply {
  const id = (exchange?.state as { requestId?: unknown } | undefined)?.requestId;
  const { body } = reply;
  if (typeof id !== 'string' || body === null || !body.endsWith('}')) return reply;
  const type = reply.headers['content-type'];
  if (
    type === undefined ||
    !type.startsWith(PROBLEM_CONTENT_TYPE) ||
    body.includes('"requestId":')
  ) {
    return reply;
  }
  const member = `"requestId":${JSON.stringify(id)}`;
  const spliced = body === '{}' ? `{${member}}` : `${body.slice(0, -1)},${member}}`;
  return { ...reply, body: spliced };
}

/**
 * The problem reply for a failure, logged when it tells the client less than an operator
 * needs (see `logRequestFailure`): every adapter's error handler answers through this.
 *
 * @example
 * ```ts
 * const scope: AdapterScope = { pkg: '@fairmind/express', logger, lift };
 * writeReply(res, failureReply(scope, error, exchange));
 * ```
 */
export function failureReply(
  scope: AdapterScope,
  error: unknown,
  exchange: Exchange | undefined,
): Reply {
  const lifted = scope.lift === undefined ? error : scope.lift(error);
  const reply = withRequestId(problemReply(lifted), exchange);
  logRequestFailure({
    logger: scope.logger,
    pkg: scope.pkg,
    status: reply.status,
    error,
    exchange,
  });
  return reply;
}

/**
 * The 404 `NOT_FOUND` problem for a request no route matched, naming the method and path
 * (without the query, which may carry tokens).
 *
 * @example
 * ```ts
 * app.setNotFoundHandler((request, reply) => send(reply, notFoundReply(request.method, request.url)));
 * ```
 */
export function notFoundReply(method: string, url: string, exchange?: Exchange): Reply {
  const problem = new FairmindError(
    'NOT_FOUND',
    404,
    `No route for ${method} ${requestPath(url)}: check the URL.`,
  );
  return withRequestId(problemReply(problem), exchange);
}

/**
 * The `middleware` option of an adapter, checked: a copy of the array, so the chain cannot be
 * changed after the adapter started.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` when it is not an array of functions.
 * @example
 * ```ts
 * const chain = middlewareChain('@fairmind/fastify', options.middleware);
 * ```
 */
export function middlewareChain(pkg: string, value: unknown): Middleware[] {
  if (value !== undefined && !Array.isArray(value)) {
    throw invalidOptions(pkg, 'middleware must be an array of contract middleware.');
  }
  const chain = [...((value as readonly Middleware[] | undefined) ?? [])];
  if (chain.some((middleware) => typeof middleware !== 'function')) {
    throw invalidOptions(pkg, 'every entry of middleware must be a function.');
  }
  return chain;
}

/**
 * What every adapter's `use()` takes: one contract middleware, or several run in order as one.
 *
 * @example
 * ```ts
 * app.use(use([requestLog({ logger }), securityHeaders()]));
 * ```
 */
export type UseMiddleware = Middleware | readonly Middleware[];

/**
 * A `use()` argument after which the principal is present: an {@link AuthGuard}, or several
 * middleware of which the last is one (`[auth.authenticate(), auth.requireRole('admin')]`). The
 * adapters' `use()` overloads type the principal as present in the handlers after it.
 *
 * @example
 * ```ts
 * const admins: GuardedMiddleware = [authenticate, auth.requireRole('admin')];
 * ```
 */
export type GuardedMiddleware = AuthGuard | readonly [...Middleware[], AuthGuard];

/** Options of every adapter's `use()`. */
export interface UseOptions {
  /**
   * Where failures of the middleware are logged (5xx, and 4xx whose message the client did not
   * get), as `fairmind()` logs them.
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/**
 * The chain of one `use()` call, checked when `use()` runs: a copy, so it cannot change after.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` unless it is a function or an array of functions.
 * @example
 * ```ts
 * const chain = useChain('@fairmind/hono', middleware);
 * ```
 */
export function useChain(pkg: string, middleware: unknown): Middleware[] {
  if (typeof middleware === 'function') return [middleware as Middleware];
  if (!Array.isArray(middleware)) {
    throw invalidOptions(
      pkg,
      'use() takes a contract middleware, (exchange) => outcome, or an array of them.',
    );
  }
  return middlewareChain(pkg, middleware);
}

/**
 * The {@link ChainScope} of one `use()` call: its checked chain, its logger and how the
 * framework's own errors are lifted.
 *
 * @example
 * ```ts
 * const scope = useScope('@fairmind/fastify', middleware, options, asProblemError);
 * ```
 */
export function useScope(
  pkg: string,
  middleware: unknown,
  options: UseOptions,
  lift: (error: unknown) => unknown,
): ChainScope & { readonly lift: (error: unknown) => unknown } {
  return { ...adapterScope(pkg, options, lift), chain: useChain(pkg, middleware) };
}

/**
 * Whether a `use()` argument lets a request through only with a principal: an `AuthGuard`, or
 * an array whose last middleware is one.
 *
 * @example
 * ```ts
 * isGuarded([authenticate, auth.requireRole('admin')]); // true
 * ```
 */
export function isGuarded(middleware: unknown): middleware is GuardedMiddleware {
  const last: unknown = Array.isArray(middleware) ? middleware.at(-1) : middleware;
  return typeof last === 'function' && isAuthGuard(last as Middleware);
}

/**
 * The guard of a helper that hands out a handler typed with the principal present, checked at
 * run time too, for callers the types did not stop (plain JavaScript, a cast).
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming `helper` unless it {@link isGuarded}.
 * @example
 * ```ts
 * const guard = checkGuard('@fairmind/fastify', 'guarded', given);
 * ```
 */
export function checkGuard(pkg: string, helper: string, middleware: unknown): GuardedMiddleware {
  if (!isGuarded(middleware)) {
    throw invalidOptions(
      pkg,
      `${helper}() takes an AuthGuard (auth.requireAuth(), requirePermission(), requireRole() or ` +
        'authGuard(middleware)), or an array that ends with one.',
    );
  }
  return middleware;
}

/**
 * An adapter's `compression` option made into its compressor: none unless asked for, since a
 * body rewrite an application did not ask for surprises more than it saves (`{}` asks for the
 * defaults; `false` and `undefined` both mean none).
 *
 * @example
 * ```ts
 * const compress = compressionOf(options.compression, createNodeCompression);
 * ```
 */
export function compressionOf<Options, Compressor>(
  value: Options | false | undefined,
  create: (options: Options) => Compressor,
): Compressor | undefined {
  return value === undefined || value === false ? undefined : create(value);
}

/**
 * A contract {@link Reply} as a Web `Response`, with its exact `Content-Length`.
 *
 * @example
 * ```ts
 * return toResponse(jsonReply(200, { ok: true }));
 * ```
 */
export function toResponse(reply: Reply): Response {
  const headers = new Headers(reply.headers);
  if (reply.body === null) return new Response(null, { status: reply.status, headers });
  const body = new TextEncoder().encode(reply.body);
  headers.set('content-length', String(body.byteLength));
  return new Response(body, { status: reply.status, headers });
}

/**
 * Puts contract headers on a finished Web `Response`: a header the application set itself
 * wins, list headers (`Vary`) combine. A response with immutable headers
 * (`Response.redirect()`, a `fetch()` result) is copied first.
 *
 * @example
 * ```ts
 * c.res = withHeaders(c.res, decision.headers);
 * ```
 */
export function withHeaders(response: Response, headers: Readonly<HeaderRecord>): Response {
  try {
    applyHeaders(webHeaderTarget(response.headers), headers, 'existing');
    return response;
  } catch (error) {
    // Immutable headers refuse the first change, so nothing was set before the copy.
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    applyHeaders(webHeaderTarget(copy.headers), headers, 'existing');
    return copy;
  }
}

/**
 * The reply a middleware answered with, logged when it says less than an operator needs;
 * `undefined` when the request goes on to the application.
 *
 * @example
 * ```ts
 * const reply = shortReply('@fairmind/node', logger, decision, exchange);
 * if (reply) return writeReply(res, reply);
 * ```
 */
export function shortReply(
  pkg: string,
  logger: Logger,
  decision: Decision,
  exchange: Exchange,
): Reply | undefined {
  const { reply, error } = decision;
  if (reply && error !== undefined) {
    logRequestFailure({ logger, pkg, status: reply.status, error, exchange });
  }
  return reply && withRequestId(reply, exchange);
}

/**
 * A response not sent yet, as {@link applyChain} reaches it: a Node `ServerResponse` or a
 * framework's reply object, through small functions.
 */
export interface PendingResponse {
  /** Sees the decision before anything is sent: where an adapter watches `onFinish` and exposes state. */
  decided(decision: Decision): void;
  /** Where the chain's headers go when the request goes on. */
  readonly headers: Pick<HeaderTarget, 'getHeader' | 'setHeader'>;
  /** Sends the reply a middleware answered with, which ends the request. */
  send(reply: Reply): void;
}

/**
 * Runs the chain for one request and applies its decision to a response not sent yet: the
 * reply a middleware answered with is sent (and logged as {@link shortReply} logs it),
 * otherwise the chain's headers go on the response. `true` when the request goes on to the
 * application; synchronous while every middleware is.
 *
 * @example
 * ```ts
 * const scope: ChainScope = { pkg: '@fairmind/node', logger, chain }; // once per adapter
 * const go = applyChain(scope, nodeExchange(req), {
 *   decided: (decision) => observeFinish(res, decision.onFinish),
 *   headers: res,
 *   send: (reply) => writeReply(res, reply),
 * });
 * ```
 */
export function applyChain(
  scope: ChainScope,
  exchange: Exchange,
  response: PendingResponse,
): boolean | Promise<boolean> {
  const apply = (decision: Decision): boolean => {
    response.decided(decision);
    const reply = shortReply(scope.pkg, scope.logger, decision, exchange);
    if (reply) {
      response.send(reply);
      return false;
    }
    applyHeaders(response.headers, decision.headers);
    return true;
  };
  const decision = runMiddleware(scope.chain, exchange);
  return decision instanceof Promise ? decision.then(apply) : apply(decision);
}

/**
 * What a contract {@link Handler} answers, or the problem reply for what it threw (logged as
 * {@link failureReply} logs it): the answer an adapter sends once the chain let a request through.
 *
 * @example
 * ```ts
 * const reply = await handlerReply({ pkg: '@fairmind/node', logger }, handler, exchange, req);
 * if (!res.headersSent) writeReply(res, reply);
 * ```
 */
export async function handlerReply<Body>(
  scope: AdapterScope,
  handler: Handler<Body>,
  exchange: Exchange,
  body: Body,
): Promise<Reply> {
  try {
    return await handler(exchange, body);
  } catch (error) {
    return failureReply(scope, error, exchange);
  }
}

/**
 * An {@link Exchange} for a Web `Request`, which is the contract's request view as it is. The
 * peer is given by the adapter, never read from a header; TLS is read from the URL's scheme,
 * which the runtime sets (@hono/node-server from the socket).
 *
 * @example
 * ```ts
 * const exchange = webExchange(c.req.raw, getConnInfo(c).remote.address ?? '');
 * ```
 */
export function webExchange(
  request: RequestView,
  clientAddress: string,
  state: FairmindState = {},
): Exchange {
  return { request, clientAddress, secure: request.url.startsWith('https:'), state };
}
