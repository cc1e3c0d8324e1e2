import {
  type Exchange,
  FairmindError,
  type Handler,
  type HeaderRecord,
  jsonReply,
  type Reply,
  requestPath,
  requestSearch,
} from '@fairmind/core';
import { type BodySource, DEFAULT_BODY_LIMIT, readJsonBody } from '../body/index.js';
import type { RouteParams, Router } from '../router/index.js';
import type { SchemaOutput, StandardSchema } from '../schema/index.js';

declare module '@fairmind/core' {
  interface FairmindState {
    /** The matched route pattern (`/notes/:id`), set by a route handler: the request log's `route` label. */
    route?: string;
  }
}

/** What a route's `handle` gets. */
export interface RouteContext {
  readonly exchange: Exchange;
  /** The `:name` segments of the pattern, decoded. */
  readonly params: RouteParams;
  /** The query string, parsed. */
  readonly query: URLSearchParams;
  /** Reads the JSON body and checks it against a Standard Schema: 400 and 413 problems otherwise. */
  body<S extends StandardSchema>(schema: S): Promise<SchemaOutput<S>>;
}

/** One route of a contract route table. */
export interface Route {
  /**
   * What the route needs: `null` is public, `'authenticated'` needs a principal, any other
   * string is a permission the principal must have (checked by the table's `authorize`).
   */
  readonly permission: string | null;
  /** Answers the request. */
  readonly handle: (context: RouteContext) => Promise<Reply>;
}

/** A route as a {@link Router} holds it for {@link createRouteHandler}: with its pattern. */
export type PatternRoute<R extends Route = Route> = R & { readonly pattern: string };

/**
 * The context of one matched route.
 *
 * @example
 * ```ts
 * const context = createRouteContext({ exchange, params: { id: '42' }, source: req });
 * const note = await context.body(NoteSchema);
 * ```
 */
export function createRouteContext(input: {
  exchange: Exchange;
  params: RouteParams;
  source: BodySource;
  /** @default 1048576 (1 MiB) */
  bodyLimit?: number | undefined;
}): RouteContext {
  return new MatchedRoute(input.exchange, input.params, input.source, input.bodyLimit);
}

// A class rather than an object literal: a literal with a getter defines that getter at run
// time on every request (1.7% of a cached list's time in a CPU profile), a class once.
class MatchedRoute implements RouteContext {
  #query: URLSearchParams | undefined;
  /** An own function, so that `const { body } = context` works as with a plain object. */
  readonly body: RouteContext['body'];

  constructor(
    readonly exchange: Exchange,
    readonly params: RouteParams,
    source: BodySource,
    bodyLimit: number | undefined,
  ) {
    const limit = bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.body = (schema) => readJsonBody(source, schema, { limit });
  }

  // Parsed on first use: most routes never read it.
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(requestSearch(this.exchange.request.url));
    return this.#query;
  }
}

/**
 * A query string as a plain object for schema checking; a repeated key is a 400.
 *
 * @example
 * ```ts
 * const { limit } = await validate(listQuerySchema, queryObject(context.query), 'query');
 * ```
 */
export function queryObject(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of query) {
    if (key in out) {
      throw new FairmindError(
        'VALIDATION_FAILED',
        400,
        `The query parameter "${key}" is given twice: send it once.`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * A JSON reply.
 *
 * @example
 * ```ts
 * return json(201, note, { location: `/notes/${note.id}` });
 * ```
 */
export const json = (status: number, body: unknown, headers: Readonly<HeaderRecord> = {}): Reply =>
  jsonReply(status, body, headers);

/**
 * The 204 reply.
 *
 * @example
 * ```ts
 * return noContent();
 * ```
 */
export const noContent = (): Reply => ({ status: 204, headers: {}, body: null });

/** Options of {@link createRouteHandler}. */
export interface RouteHandlerOptions<R extends Route> {
  /** The route table. */
  readonly router: Router<PatternRoute<R>>;
  /**
   * Runs before every route whose `permission` is not `null`: authenticate the request and
   * check the permission, throwing the 401 or 403.
   */
  readonly authorize: (route: PatternRoute<R>, exchange: Exchange) => void | Promise<void>;
  /**
   * The JSON body limit of `context.body()`.
   * @default 1048576 (1 MiB)
   */
  readonly bodyLimit?: number | undefined;
  /**
   * Where the 404 problem sends the client, after `No route for GET /x: `.
   * @default 'check the URL.'
   */
  readonly notFoundHint?: string | undefined;
}

/**
 * The contract handler of a route table: the matched route's answer, a 404 problem for an
 * unknown path and a 405 with `Allow` for a known path with another method. It sets
 * `state.route` to the pattern, the request log's route label.
 *
 * @example
 * ```ts
 * const router = new Router<PatternRoute>().add('GET', '/notes', { pattern: '/notes', permission: null, handle });
 * const handler = createRouteHandler({ router, authorize: () => {} });
 * ```
 */
export function createRouteHandler<R extends Route>(
  options: RouteHandlerOptions<R>,
): Handler<BodySource> {
  const { router, authorize, bodyLimit } = options;
  const hint = options.notFoundHint ?? 'check the URL.';
  // Not an async function: the route's own promise is the answer, with no second promise
  // around it and no turn of the microtask queue to adopt it. What throws here rejects.
  return function routeHandler(exchange, source) {
    try {
      const path = requestPath(exchange.request.url);
      const { method } = exchange.request;
      const match = router.match(method, path);
      if (match.kind === 'not-found') {
        throw new FairmindError('NOT_FOUND', 404, `No route for ${method} ${path}: ${hint}`);
      }
      if (match.kind === 'method-not-allowed') {
        const allow = match.allow.join(', ');
        throw new FairmindError(
          'METHOD_NOT_ALLOWED',
          405,
          `${method} is not allowed here: use ${allow}.`,
          { headers: { Allow: allow } },
        );
      }
      const { route, params } = match;
      exchange.state.route = route.pattern;
      const context = createRouteContext({ exchange, params, source, bodyLimit });
      if (route.permission !== null) {
        // A check answered synchronously (the principal already known) costs no extra turn.
        const authorized = authorize(route, exchange);
        if (authorized !== undefined) return authorized.then(() => route.handle(context));
      }
      // A route of plain JavaScript may answer without a promise; a promise is kept as it is.
      return Promise.resolve(route.handle(context));
    } catch (error) {
      return Promise.reject(error);
    }
  };
}
