import type { Principal } from '@fairmind/auth';
import { type ClientIpResolver, type Exchange, FairmindError } from '@fairmind/core';
import { validationProblem } from '@fairmind/edge';
import type { z } from 'zod';

/** Who is asking: the principal authentication set, or a 401 telling the client how to sign in. */
export function requirePrincipal(exchange: Exchange): Principal {
  const principal = exchange.state.auth;
  if (principal === undefined) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer access token or an X-API-Key.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  return principal;
}

/** Where a request came from, as the auth service records it in its audit events. */
export function requestContext(clientIp: ClientIpResolver, exchange: Exchange): { ip: string } {
  return { ip: clientIp(exchange).ip };
}

// RFC 6749 section 5.1: an answer holding tokens (or a new API key) must not be stored by any
// cache.
export const NO_STORE = { 'cache-control': 'no-store' } as const;

/** The JSON body limit of HTTP-API.md. */
export const BODY_LIMIT = 1_048_576;

/** The value `schema` parses from `value` (a query, synchronously), or the 400 naming each field. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: 'body' | 'query',
): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationProblem(result.error.issues, where);
  return result.data;
}
