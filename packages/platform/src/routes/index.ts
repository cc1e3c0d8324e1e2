import type { Principal } from '@fairmind/auth';
import {
  type ClientIpResolver,
  type Exchange,
  FairmindError,
  type HeaderRecord,
  jsonReply,
  type Reply,
  requestSearch,
} from '@fairmind/core';
import { type BodySource, readJsonBody, validationProblem } from '@fairmind/edge';
import type { z } from 'zod';
import type { Params } from '../router/index.js';

/** What a route handler gets. */
export interface RouteContext {
  readonly exchange: Exchange;
  readonly params: Params;
  /** The query string, parsed. */
  readonly query: URLSearchParams;
  /** Reads and validates the JSON body against a schema: 400/413 problems otherwise. */
  body<S extends z.ZodType>(schema: S): Promise<z.infer<S>>;
}

/** One route of the HTTP API. */
export interface Route {
  /**
   * The permission the route needs (HTTP-API.md). `'authenticated'` needs a principal and
   * no permission; `null` is public.
   */
  readonly permission: string | 'authenticated' | null;
  readonly handle: (context: RouteContext) => Promise<Reply>;
}

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

export function createContext(
  exchange: Exchange,
  params: Params,
  source: BodySource,
): RouteContext {
  const query = new URLSearchParams(requestSearch(exchange.request.url));
  return {
    exchange,
    params,
    query,
    // zod's Standard Schema output is its z.infer; TypeScript cannot see that for a generic S.
    body: <S extends z.ZodType>(schema: S) =>
      readJsonBody(source, schema, { limit: BODY_LIMIT }) as Promise<z.infer<S>>,
  };
}

/** A query string as a plain object for schema parsing; a repeated key is a 400. */
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

export const json = (status: number, body: unknown, headers: Readonly<HeaderRecord> = {}): Reply =>
  jsonReply(status, body, headers);

export const noContent = (): Reply => ({ status: 204, headers: {}, body: null });
