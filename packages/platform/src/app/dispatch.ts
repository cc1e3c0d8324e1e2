import type { Auth } from '@fairmind/auth';
import {
  FairmindError,
  type Handler,
  isFairmindError,
  type Middleware,
  requestPath,
} from '@fairmind/core';
import type { BodySource } from '@fairmind/edge';
import type { Router } from '../router/index.js';
import { createContext, type Route, requirePrincipal } from '../routes/index.js';

const PRIVATE = 'private, no-cache';

function hasCacheControl(headers: Readonly<Record<string, string>> | undefined): boolean {
  return (
    headers !== undefined && Object.keys(headers).some((n) => n.toLowerCase() === 'cache-control')
  );
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
  readonly router: Router<Route & { pattern: string }>;
  readonly auth: Auth;
}

/**
 * The platform's handler: finds the route (404 and 405 problems otherwise), checks its
 * permission, runs it, and marks what an authenticated request gets as the caller's alone.
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

  const dispatch: Handler<BodySource> = async function dispatch(exchange, body) {
    const path = requestPath(exchange.request.url);
    const match = router.match(exchange.request.method, path);
    if (match.kind === 'not-found') {
      throw new FairmindError(
        'NOT_FOUND',
        404,
        `No route for ${exchange.request.method} ${path}: see docs/http-api.md.`,
      );
    }
    if (match.kind === 'method-not-allowed') {
      throw new FairmindError(
        'METHOD_NOT_ALLOWED',
        405,
        `${exchange.request.method} is not allowed here: use ${match.allow.join(', ')}.`,
        {
          headers: { Allow: match.allow.join(', ') },
        },
      );
    }
    const { route, params } = match;
    // The pattern, not the path, labels the duration histogram: one series per route.
    exchange.state.route = route.pattern;
    if (route.permission !== null) {
      requirePrincipal(exchange);
      if (route.permission !== 'authenticated') await requirePermission(route.permission)(exchange);
    }
    return route.handle(createContext(exchange, params, body));
  };

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
