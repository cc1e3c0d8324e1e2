import {
  FairmindError,
  isFairmindError,
  PROBLEM_CONTENT_TYPE,
  toProblem,
} from '../errors/index.js';

/**
 * The one adapter contract. A middleware is written once against these types and runs on
 * Express, Fastify, Hono and `node:http` through their adapters, and on any Web-standard
 * runtime, because a Web `Request` already satisfies {@link RequestView}.
 *
 * @example
 * ```ts
 * import { FairmindError, type Middleware } from '@fairmind/core';
 *
 * // Refuses requests without a tenant header; tags every other response with the tenant.
 * export function requireTenant(): Middleware {
 *   return function requireTenantMiddleware(exchange) {
 *     const tenant = exchange.request.headers.get('x-tenant');
 *     if (!tenant) throw new FairmindError('VALIDATION_FAILED', 400, 'Send an X-Tenant header.');
 *     return { headers: { 'x-tenant': tenant } };
 *   };
 * }
 * ```
 */

/** Read access to request headers; `Headers` satisfies it, and Node adapters wrap without copying. */
export interface HeaderReader {
  /** The header's value (several lines joined by `, `), or `null`. Names are case-insensitive. */
  get(name: string): string | null;
}

/**
 * The request as middleware sees it: exactly the part of a Web `Request` it needs.
 * `url` is absolute on Web runtimes and origin-form (`/path?query`) on Node; read it
 * through {@link requestPath} and {@link requestSearch}, which accept both.
 */
export interface RequestView {
  readonly method: string;
  readonly url: string;
  readonly headers: HeaderReader;
}

/**
 * Per-request state shared by middleware and handlers. Packages add their own fields by
 * declaration merging, so the adapters can expose them with types:
 *
 * @example
 * ```ts
 * declare module '@fairmind/core' {
 *   interface FairmindState { tenant?: string }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in other packages
export interface FairmindState {}

/** One request passing through the middleware chain. */
export interface Exchange {
  readonly request: RequestView;
  /**
   * The socket peer's address, given by the adapter from the connection itself and never
   * from a header. Resolve the client IP behind trusted proxies with `createClientIpResolver`.
   */
  readonly clientAddress: string;
  /** Whether the connection to this process is TLS. */
  readonly secure: boolean;
  /** Mutable per-request state, exposed by adapters as `req.auth`, `c.get('auth')`, and so on. */
  readonly state: FairmindState;
}

/** Header values as middleware hands them to adapters: names lower-case. */
export type HeaderRecord = Record<string, string>;

/** A complete response that ends the request without reaching the handler. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<HeaderRecord>;
  /** The body as text (JSON problem documents, mostly), or `null` for none. */
  readonly body: string | null;
}

/** What an adapter reports once the response is done, for logging and metrics. */
export interface FinishInfo {
  readonly status: number;
  /** Body bytes written, as far as the adapter can tell. */
  readonly bytes: number;
  readonly durationMs: number;
  /** The client went away before the response was complete. */
  readonly aborted: boolean;
}

/**
 * What a middleware returns: nothing to go on unchanged, or any of a short-circuit
 * `reply`, `headers` to put on whatever response is finally sent (the reply included),
 * and an `onFinish` callback.
 */
export interface Outcome {
  readonly reply?: Reply | undefined;
  readonly headers?: Readonly<HeaderRecord> | undefined;
  readonly onFinish?: ((info: FinishInfo) => void) | undefined;
}

export type MiddlewareResult = Outcome | undefined;

/**
 * A middleware on the contract. It may return synchronously (cheaper on the hot path) or
 * a promise. Throwing a `FairmindError` is the same as returning its problem reply.
 */
export type Middleware = (exchange: Exchange) => MiddlewareResult | Promise<MiddlewareResult>;

/**
 * A middleware that lets a request through only once `state.auth` holds a principal, and
 * answers 401 or 403 otherwise: `@fairmind/auth`'s `requireAuth()`, `requirePermission()`,
 * `requireRole()` and `requireScopes()` are guards. The adapters' `use()` knows one by its
 * `fairmindGuard` mark and types the principal as present in the handlers after it.
 *
 * @example
 * ```ts
 * const tenantAdmin: AuthGuard = authGuard(async (exchange) => {
 *   if (exchange.state.auth === undefined) throw new FairmindError('UNAUTHENTICATED', 401, 'Sign in.');
 *   return undefined;
 * });
 * ```
 */
export type AuthGuard = Middleware & { readonly fairmindGuard: 'auth' };

/**
 * A guard that runs `middleware`: an {@link AuthGuard}. Only wrap one that never lets a
 * request through without `state.auth`: the adapters trust the mark for their types. The
 * function given is left unmarked, so a middleware shared elsewhere stays what it was.
 *
 * @example
 * ```ts
 * use(authGuard(signedInOnly)); // the adapter now types the principal as present
 * ```
 */
export function authGuard(middleware: Middleware): AuthGuard {
  if (typeof middleware !== 'function') {
    throw invalidOptions('@fairmind/core', 'authGuard() takes a contract middleware function.');
  }
  const guard: Middleware = (exchange) => middleware(exchange);
  Object.defineProperty(guard, 'name', { value: middleware.name });
  return Object.assign(guard, { fairmindGuard: 'auth' as const });
}

/**
 * Whether a middleware is marked as an {@link AuthGuard}.
 *
 * @example
 * ```ts
 * isAuthGuard(auth.requireAuth()); // true
 * ```
 */
export function isAuthGuard(middleware: Middleware): middleware is AuthGuard {
  return (middleware as Partial<AuthGuard>).fairmindGuard === 'auth';
}

/**
 * What answers a request once the middleware let it through: an application written once
 * on the contract (the FairMind platform is one). `body` is the runtime's own body source,
 * read lazily: a Node `IncomingMessage`, or a Web `Request`; the adapter passes it as is.
 */
export type Handler<Body = unknown> = (exchange: Exchange, body: Body) => Reply | Promise<Reply>;

/** The merged result of a middleware chain, as an adapter applies it. */
export interface Decision {
  /** Set when a middleware ended the request; its headers already include `headers`. */
  reply: Reply | undefined;
  /** Headers for the final response. */
  headers: HeaderRecord;
  /** Callbacks to call once with the response's {@link FinishInfo}. */
  onFinish: Array<(info: FinishInfo) => void>;
  /** The thrown value behind `reply`, when one was thrown; adapters log non-4xx ones. */
  error: unknown;
}

// Headers whose values are lists of tokens (RFC 9110 section 12.5.5 for Vary; the IETF
// RateLimit and RateLimit-Policy fields are structured-field Lists, one item per policy);
// two middleware that both set one must combine, not overwrite.
const LIST_HEADERS = new Set([
  'vary',
  'cache-control',
  'access-control-expose-headers',
  'ratelimit',
  'ratelimit-policy',
]);

/**
 * Sets `name: value` on a header record, combining list headers such as `Vary` instead of
 * overwriting them. `name` must be lower-case.
 */
export function mergeHeader(target: HeaderRecord, name: string, value: string): void {
  const current = target[name];
  if (current === undefined || !LIST_HEADERS.has(name)) {
    target[name] = value;
    return;
  }
  if (current === value) return;
  const tokens = current.split(',').map((token) => token.trim());
  const seen = new Set(tokens.map((token) => token.toLowerCase()));
  for (const raw of value.split(',')) {
    const token = raw.trim();
    if (token && !seen.has(token.toLowerCase())) {
      seen.add(token.toLowerCase());
      tokens.push(token);
    }
  }
  target[name] = tokens.join(', ');
}

/** Merges every header of `source` into `target` with {@link mergeHeader}. */
export function mergeHeaders(target: HeaderRecord, source: Readonly<HeaderRecord>): HeaderRecord {
  for (const name in source) {
    const value = source[name];
    if (value !== undefined) mergeHeader(target, name, value);
  }
  return target;
}

/** The `Content-Type` of every JSON reply, {@link jsonReply}'s and a pre-serialized body's. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A JSON reply with `application/json; charset=utf-8`. */
export function jsonReply(
  status: number,
  body: unknown,
  headers: Readonly<HeaderRecord> = {},
): Reply {
  return {
    status,
    headers: { ...headers, 'content-type': JSON_CONTENT_TYPE },
    body: JSON.stringify(body),
  };
}

/**
 * An RFC 9457 problem reply for any thrown value: a `FairmindError` keeps its status, code,
 * message and headers (`Retry-After`, `WWW-Authenticate`); anything else is a bare 500.
 */
export function problemReply(error: unknown, headers: Readonly<HeaderRecord> = {}): Reply {
  const problem = toProblem(error);
  const out: HeaderRecord = { ...headers };
  if (isFairmindError(error) && error.headers) {
    for (const [name, value] of Object.entries(error.headers)) out[name.toLowerCase()] = value;
  }
  out['content-type'] = PROBLEM_CONTENT_TYPE;
  return { status: problem.status, headers: out, body: JSON.stringify(problem) };
}

function isThenable(value: unknown): value is PromiseLike<MiddlewareResult> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function absorb(decision: Decision, result: MiddlewareResult): boolean {
  if (result === undefined) return false;
  if (result.headers) mergeHeaders(decision.headers, result.headers);
  if (result.onFinish) decision.onFinish.push(result.onFinish);
  if (result.reply) {
    // The reply's own headers win over those gathered so far, except list headers combine.
    const headers = mergeHeaders({ ...decision.headers }, result.reply.headers);
    decision.reply = { ...result.reply, headers };
    return true;
  }
  return false;
}

function fail(decision: Decision, error: unknown): Decision {
  decision.error = error;
  decision.reply = problemReply(error, decision.headers);
  return decision;
}

/**
 * Runs a middleware chain in order and merges the outcomes. It stays synchronous until a
 * middleware returns a promise, so a chain of synchronous middleware costs no microtask.
 * A thrown error becomes a problem reply that still carries the headers gathered so far
 * (security headers belong on a 429 as much as on a 200).
 */
export function runMiddleware(
  chain: readonly Middleware[],
  exchange: Exchange,
): Decision | Promise<Decision> {
  const decision: Decision = { reply: undefined, headers: {}, onFinish: [], error: undefined };
  return step(chain, exchange, decision, 0);
}

function step(
  chain: readonly Middleware[],
  exchange: Exchange,
  decision: Decision,
  from: number,
): Decision | Promise<Decision> {
  for (let index = from; index < chain.length; index++) {
    const middleware = chain[index] as Middleware;
    let result: MiddlewareResult | Promise<MiddlewareResult>;
    try {
      result = middleware(exchange);
    } catch (error) {
      return fail(decision, error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (settled) =>
          absorb(decision, settled) ? decision : step(chain, exchange, decision, index + 1),
        (error: unknown) => fail(decision, error),
      );
    }
    if (absorb(decision, result)) return decision;
  }
  return decision;
}

/**
 * The path of a request target without its query, for absolute and origin-form URLs alike
 * and without building a `URL` (that costs microseconds on every request).
 */
export function requestPath(url: string): string {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf('://');
    if (scheme === -1) return '/';
    start = url.indexOf('/', scheme + 3);
    if (start === -1) return '/';
  }
  const query = url.indexOf('?', start);
  const hash = url.indexOf('#', start);
  let end = url.length;
  if (query !== -1) end = query;
  if (hash !== -1 && hash < end) end = hash;
  return url.slice(start, end);
}

/** The query string of a request target without the `?`, or `''`. */
export function requestSearch(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return '';
  const hash = url.indexOf('#', query);
  return url.slice(query + 1, hash === -1 ? undefined : hash);
}

/** Validates middleware options once, at creation, in one consistent way. */
export function invalidOptions(pkg: string, message: string, cause?: unknown): FairmindError {
  return new FairmindError('INVALID_OPTIONS', 500, `[${pkg}] ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    expose: false,
  });
}
