import {
  type AuthGuard,
  authGuard,
  type Exchange,
  type Middleware,
  requestPath,
} from '@fairmind/core';
import { forbidden, invalid, unauthenticated } from '../errors/index.js';
import type { PermissionDecision, Principal } from '../rbac/index.js';
import { isPromise } from '../revocation/index.js';

declare module '@fairmind/core' {
  interface FairmindState {
    /** The authenticated principal, set by `authenticate()` from `@fairmind/auth`. */
    auth?: Principal;
  }
}

/** What the middleware needs from `createAuth()`. */
export interface MiddlewareDeps {
  /** `verifyAccessToken`, answering synchronously when it can (a cached token). */
  accessTokenPrincipal(token: string): Principal | Promise<Principal>;
  verifyApiKey(key: string): Promise<Principal>;
  check(principal: Principal, permission: string): PermissionDecision;
  hasRole(role: string): boolean;
  /** Records a denial in the audit trail. */
  denied(principal: Principal, exchange: Exchange, details: Record<string, string>): Promise<void>;
}

/** Options of `authenticate()`. */
export interface AuthenticateOptions {
  /**
   * Let requests without any credential through (without `state.auth`). A credential that is
   * sent and bad is still a 401.
   * @default false
   */
  optional?: boolean | undefined;
  /**
   * Accept `X-API-Key`.
   * @default true
   */
  apiKeys?: boolean | undefined;
}

// RFC 7235 section 2.1: the scheme is case-insensitive; RFC 6750 section 2.1: one space, then
// the token. The token itself is not trimmed or altered: verification judges it as sent.
const BEARER = /^bearer /i;

/**
 * Reads `Authorization: Bearer <access token>` or `X-API-Key: <key>`, verifies it, and puts
 * the principal on `exchange.state.auth`. 401 with `WWW-Authenticate: Bearer` otherwise.
 */
export function createAuthenticate(
  deps: MiddlewareDeps,
  options: AuthenticateOptions = {},
): Middleware {
  const optional = options.optional ?? false;
  const apiKeys = options.apiKeys ?? true;
  // Not an async function: a cached token is answered synchronously, so the chain goes on in
  // the same turn. A bad credential throws, which the chain answers as it answers a rejection.
  return function authenticate(exchange) {
    const authorization = exchange.request.headers.get('authorization');
    if (authorization !== null) {
      if (!BEARER.test(authorization)) throw unauthenticated();
      const found = deps.accessTokenPrincipal(authorization.slice(7));
      if (isPromise(found)) return found.then((principal) => signedIn(exchange, principal));
      return signedIn(exchange, found);
    }
    const key = apiKeys ? exchange.request.headers.get('x-api-key') : null;
    if (key !== null) {
      return deps.verifyApiKey(key).then((principal) => signedIn(exchange, principal));
    }
    if (!optional) throw unauthenticated();
    return undefined;
  };
}

function signedIn(exchange: Exchange, principal: Principal): undefined {
  exchange.state.auth = principal;
  return undefined;
}

/** Options of `requireAuth()`. */
export interface RequireAuthOptions {
  /**
   * Let API keys through too; `false` wants a signed-in user (an access token).
   * @default true
   */
  apiKeys?: boolean | undefined;
}

/** A guard's answer: through now, or later (a rejection being the 401 or 403). */
type Admission = undefined | Promise<undefined>;

/**
 * `next` with the principal of a request: the one an earlier `authenticate()` found, or else
 * the request's own credential, verified now. A guard used on its own (one route's
 * `use(requireRole(...))`) therefore needs no `authenticate()` before it. When the principal
 * is already known, as behind the platform's `authenticate()`, `next` runs synchronously: a
 * guard on every route then costs no promise and no turn of the microtask queue.
 */
function withPrincipal(
  exchange: Exchange,
  authenticate: Middleware,
  next: (principal: Principal, exchange: Exchange) => Admission,
): Admission {
  const known = exchange.state.auth;
  if (known !== undefined) return next(known, exchange);
  // A guard that has to look for the principal answers with a promise, its refusals too,
  // whether authenticate() answered at once or not.
  try {
    return Promise.resolve(authenticate(exchange)).then((): Admission => {
      const principal = exchange.state.auth;
      if (principal === undefined) throw unauthenticated();
      return next(principal, exchange);
    });
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * 401 unless the request carries a valid credential (or an earlier `authenticate()` found
 * one); with `apiKeys: false`, 403 for an API key.
 */
export function createRequireAuth(
  deps: MiddlewareDeps,
  options: RequireAuthOptions = {},
): AuthGuard {
  const authenticate = createAuthenticate(deps);
  const apiKeys = options.apiKeys ?? true;
  const admit = (principal: Principal) => {
    if (!apiKeys && principal.type === 'api_key') {
      throw forbidden('this route is for signed-in users, not API keys');
    }
    return undefined;
  };
  return authGuard(function requireAuth(exchange) {
    return withPrincipal(exchange, authenticate, admit);
  });
}

function names(list: readonly string[], what: string): readonly string[] {
  if (list.length === 0) throw invalid(what, 'needs at least one name');
  for (const name of list) {
    if (typeof name !== 'string' || name === '') throw invalid(what, 'takes non-empty strings');
  }
  return [...list];
}

/**
 * 403 `FORBIDDEN` unless the principal has every permission given (its role grants it and,
 * for an API key, so do the key's scopes); 401 without a valid credential.
 */
export function createRequirePermission(
  deps: MiddlewareDeps,
  permissions: readonly string[],
): AuthGuard {
  const required = names(permissions, 'requirePermission()');
  const authenticate = createAuthenticate(deps);
  const refuse = async (
    principal: Principal,
    exchange: Exchange,
    permission: string,
    reason: string,
  ) => {
    await deps.denied(principal, exchange, {
      permission,
      reason,
      path: requestPath(exchange.request.url),
      method: exchange.request.method,
    });
    throw forbidden(`you need the permission ${JSON.stringify(permission)}: ${reason}`);
  };
  const permit = (principal: Principal, exchange: Exchange) => {
    for (const permission of required) {
      const decision = deps.check(principal, permission);
      if (!decision.allowed) {
        return refuse(principal, exchange, permission, decision.reason ?? 'denied');
      }
    }
    return undefined;
  };
  return authGuard(function requirePermission(exchange) {
    return withPrincipal(exchange, authenticate, permit);
  });
}

/** 403 `FORBIDDEN` unless the principal has one of the roles; an unknown role is named as such. */
export function createRequireRole(deps: MiddlewareDeps, roles: readonly string[]): AuthGuard {
  const allowed = names(roles, 'requireRole()');
  for (const role of allowed) {
    if (!deps.hasRole(role))
      throw invalid('requireRole()', `names the unknown role ${JSON.stringify(role)}`);
  }
  const authenticate = createAuthenticate(deps);
  const refuse = async (principal: Principal, exchange: Exchange) => {
    const reason = deps.hasRole(principal.role)
      ? `role ${JSON.stringify(principal.role)} is not one of ${allowed.join(', ')}`
      : `unknown role ${JSON.stringify(principal.role)}`;
    await deps.denied(principal, exchange, {
      role: allowed.join(','),
      reason,
      path: requestPath(exchange.request.url),
      method: exchange.request.method,
    });
    throw forbidden(`you need the role ${allowed.join(' or ')}: ${reason}`);
  };
  const admit = (principal: Principal, exchange: Exchange) =>
    allowed.includes(principal.role) ? undefined : refuse(principal, exchange);
  return authGuard(function requireRole(exchange) {
    return withPrincipal(exchange, authenticate, admit);
  });
}
