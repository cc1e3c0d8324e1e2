import { requestSearch } from '@fairmind/core';
import { listQuerySchema, queryObject, type RouteContext, validationProblem } from '@fairmind/edge';
import type { z } from 'zod';

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

/** A list's `limit` and `cursor`, as `listQuerySchema` gives them. */
export type ListQuery = Readonly<z.infer<typeof listQuerySchema>>;

/** HTTP-API.md's `Cache-Control` of an answer to an authenticated request. */
export const PRIVATE = 'private, no-cache';

// Distinct query strings kept at once; past this the memo starts again.
const LIST_QUERIES = 1024;
const listQueries = new Map<string, ListQuery>();

/**
 * The list query of a request, parsed once per distinct query string: lists are read far more
 * often than their queries differ, and parsing one (URLSearchParams, the object, zod) was 2-3%
 * of a cached list's time. Only queries that parsed are kept, frozen; a bad one is a 400 every
 * time.
 */
export function listQuery(context: RouteContext): ListQuery {
  const search = requestSearch(context.exchange.request.url);
  const known = listQueries.get(search);
  if (known !== undefined) return known;
  const parsed = Object.freeze(parseWith(listQuerySchema, queryObject(context.query), 'query'));
  if (listQueries.size >= LIST_QUERIES) listQueries.clear();
  listQueries.set(search, parsed);
  return parsed;
}
