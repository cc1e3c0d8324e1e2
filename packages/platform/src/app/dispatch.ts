import type { Auth } from '@fairmind/auth';
import { requirePrincipal } from '@fairmind/auth/routes';
import { FairmindError, type Handler, isFairmindError, type Middleware } from '@fairmind/core';
import {
  type BodySource,
  createRouteHandler,
  type PatternRoute,
  type Router,
} from '@fairmind/edge';
import { BODY_LIMIT, PRIVATE } from '../routes/index.js';

// Once per answer: a loop over the names, with no array or closure made for it.
function hasCacheControl(headers: Readonly<Record<string, string>> | undefined): boolean {
  if (headers === undefined) return false;
  for (const name in headers) {
    if (name === 'cache-control' || (name.length === 13 && name.toLowerCase() === 'cache-control'))
      return true;
  }
  return false;
}

/**
 * The same 4xx error, with `Cache-Control: private, no-cache` unless it names one itself.
 * 5xx answers are never stored without explicit freshness, and are thrown on untouched so
 * that their log line keeps the original error.
 */
function privateError(error: unknown): unknown {
  if (!isFairmindError(error) || error.status >= 500 || hasCacheControl(error.headers)) {
    return error;
  }
  return new FairmindError(error.code, error.status, error.message, {
    cause: error.cause,
    details: error.details,
    expose: error.expose,
    headers: { ...error.headers, 'cache-control': PRIVATE },
  });
}

/** What {@link createDispatcher} routes with. */
export interface DispatcherContext {
  readonly router: Router<PatternRoute>;
  readonly auth: Auth;
}

/**
 * The platform's handler: the route table's handler (404 and 405 problems, the permission
 * check), marking what an authenticated request gets as the caller's alone.
 */
export function createDispatcher({ router, auth }: DispatcherContext): Handler<BodySource> {
  // One permission middleware per permission, made on first use and kept.
  const permissionChecks = new Map<string, Middleware>();
  function requirePermission(permission: string): Middleware {
    let check = permissionChecks.get(permission);
    if (!check) {
      check = auth.requirePermission(permission);
      permissionChecks.set(permission, check);
    }
    return check;
  }

  const dispatch = createRouteHandler({
    router,
    bodyLimit: BODY_LIMIT,
    notFoundHint: 'see docs/http-api.md.',
    authorize(route, exchange) {
      requirePrincipal(exchange);
      if (route.permission === 'authenticated') return undefined;
      // Synchronous once authenticate() found the principal, as it has on these routes.
      const checked = requirePermission(route.permission ?? '')(exchange);
      return checked instanceof Promise ? checked.then(() => undefined) : undefined;
    },
  });

  // HTTP-API.md: an answer to an authenticated request is the caller's alone, unless its
  // route says otherwise (token and API-key answers are no-store). Errors too: a 404 or a 403
  // is as much about the caller as a 200.
  return async function platformHandler(exchange, body) {
    try {
      const reply = await dispatch(exchange, body);
      if (exchange.state.auth === undefined || hasCacheControl(reply.headers)) return reply;
      return { ...reply, headers: { ...reply.headers, 'cache-control': PRIVATE } };
    } catch (error) {
      throw exchange.state.auth === undefined ? error : privateError(error);
    }
  };
}
