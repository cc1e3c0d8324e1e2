import {
  type ClientIpResolver,
  type Exchange,
  FairmindError,
  type HeaderRecord,
} from '@fairmind/core';
import type { Principal } from '../rbac/index.js';

// RFC 6749 section 5.1: an answer holding tokens (or a new API key) must not be stored by any
// cache.
export const NO_STORE: Readonly<HeaderRecord> = { 'cache-control': 'no-store' };

/**
 * Who is asking: the principal authentication set, or a 401 telling the client how to sign in.
 *
 * @example
 * ```ts
 * const { id } = requirePrincipal(context.exchange);
 * ```
 */
export function requirePrincipal(exchange: Exchange): Principal {
  const principal = exchange.state.auth;
  if (principal === undefined) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer access token or an X-API-Key.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  return principal;
}

/** A signed-in user, not an API key: sessions and passwords belong to people. */
export function requireUser(exchange: Exchange, what: string): Principal {
  const principal = requirePrincipal(exchange);
  if (principal.type === 'api_key') {
    throw new FairmindError('VALIDATION_FAILED', 400, `An API key is not a session: ${what}`);
  }
  return principal;
}

/** Where a request came from, as the auth service records it in its audit events. */
export type RequestOrigin = (exchange: Exchange) => { ip: string };

/** The audit origin of requests: the resolver's client IP, or the socket peer without one. */
export function requestOrigin(clientIp: ClientIpResolver | undefined): RequestOrigin {
  if (clientIp === undefined) return (exchange) => ({ ip: exchange.clientAddress });
  return (exchange) => ({ ip: clientIp(exchange).ip });
}

/** Whether the request carries a body at all: logout's and a cookie refresh's are optional. */
export function hasBody(exchange: Exchange): boolean {
  const length = exchange.request.headers.get('content-length');
  return length !== null
    ? length !== '0'
    : exchange.request.headers.get('transfer-encoding') !== null;
}
