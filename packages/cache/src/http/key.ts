import { createHash } from 'node:crypto';
import { type Exchange, requestPath, requestSearch } from '@fairmind/core';
import type { VaryBy } from './index.js';

const MAX_KEY_LENGTH = 512;

/** The query string with its parameters sorted by name, then value, so order never matters. */
export function sortedQuery(url: string): string {
  const search = requestSearch(url);
  if (search === '') return '';
  const params = [...new URLSearchParams(search)];
  params.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return new URLSearchParams(params).toString();
}

/**
 * The cache key of a request: path, sorted query and the `vary` parts, hashed when long.
 * `undefined` when the method is not GET or HEAD.
 */
export function responseKey(exchange: Exchange, vary: readonly VaryBy[]): string | undefined {
  const method = exchange.request.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const url = exchange.request.url;
  // HEAD is answered from the GET entry (RFC 9110 section 9.3.2: same headers, no body).
  let text = `GET ${requestPath(url)}?${sortedQuery(url)}`;
  for (const part of vary) {
    const value = typeof part === 'string' ? exchange.request.headers.get(part) : part(exchange);
    text += `|${value === null || value === undefined ? '' : encodeURIComponent(value)}`;
  }
  if (text.length <= MAX_KEY_LENGTH) return text;
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
