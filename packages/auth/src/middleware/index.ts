import { type Exchange, type Middleware, requestPath } from '@fairmind/core';
import { forbidden, invalid, unauthenticated } from '../errors/index.js';
import type { PermissionDecision, Principal } from '../rbac/index.js';

declare module '@fairmind/core' {
  interface FairmindState {
    /** The authenticated principal, set by `authenticate()` from `@fairmind/auth`. */
    auth?: Principal;
  }
}

/** What the middleware needs from `createAuth()`. */
export interface MiddlewareDeps {
  verifyAccessToken(token: string): Promise<Principal>;
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
  return async function authenticate(exchange) {
    const authorization = exchange.request.headers.get('authorization');
    if (authorization !== null) {
      if (!BEARER.test(authorization)) throw unauthenticated();
      exchange.state.auth = await deps.verifyAccessToken(authorization.slice(7));
      return undefined;
    }
    const key = apiKeys ? exchange.request.headers.get('x-api-key') : null;
    if (key !== null) {
      exchange.state.auth = await deps.verifyApiKey(key);
      return undefined;
    }
    if (!optional) throw unauthenticated();
    return undefined;
  };
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
 * for an API key, so do the key's scopes); 401 when `authenticate()` found nobody.
 */
export function createRequirePermission(
  deps: MiddlewareDeps,
  permissions: readonly string[],
): Middleware {
  const required = names(permissions, 'requirePermission()');
  return async function requirePermission(exchange) {
    const principal = exchange.state.auth;
    if (principal === undefined) throw unauthenticated();
    for (const permission of required) {
      const decision = deps.check(principal, permission);
      if (!decision.allowed) {
        const reason = decision.reason ?? 'denied';
        await deps.denied(principal, exchange, {
          permission,
          reason,
          path: requestPath(exchange.request.url),
          method: exchange.request.method,
        });
        throw forbidden(`you need the permission ${JSON.stringify(permission)}: ${reason}`);
      }
    }
    return undefined;
  };
}

/** 403 `FORBIDDEN` unless the principal has one of the roles; an unknown role is named as such. */
export function createRequireRole(deps: MiddlewareDeps, roles: readonly string[]): Middleware {
  const allowed = names(roles, 'requireRole()');
  for (const role of allowed) {
    if (!deps.hasRole(role))
      throw invalid('requireRole()', `names the unknown role ${JSON.stringify(role)}`);
  }
  return async function requireRole(exchange) {
    const principal = exchange.state.auth;
    if (principal === undefined) throw unauthenticated();
    if (allowed.includes(principal.role)) return undefined;
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
}
