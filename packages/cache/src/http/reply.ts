import type { Exchange, HeaderRecord, Reply } from '@fairmind/core';
import type { CachedResponse } from './index.js';

// RFC 9211: the Cache-Status header names the cache and what it did.
const HIT = 'fairmind; hit';
export const MISS = 'fairmind; fwd=miss';

// RFC 9110 section 15.4.5: what a 304 repeats of the stored response besides the ETag.
const NOT_MODIFIED_HEADERS = [
  'cache-control',
  'vary',
  'expires',
  'last-modified',
  'content-location',
];

function etagMatches(header: string, etag: string): boolean {
  // If-None-Match uses the weak comparison (RFC 9110 section 13.1.2).
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  if (header.trim() === '*') return true;
  const wanted = opaque(etag);
  return header.split(',').some((candidate) => opaque(candidate) === wanted);
}

/** The answer to a request from its stored response: the response, or a 304 revalidation. */
export function cachedReply(exchange: Exchange, hit: CachedResponse): Reply {
  const age = Math.max(0, Math.floor((Date.now() - hit.storedAt) / 1000));
  const headers: HeaderRecord = { ...hit.headers, age: String(age), 'cache-status': HIT };
  const etag = hit.headers['etag'];
  const condition = exchange.request.headers.get('if-none-match');
  if (etag !== undefined && condition !== null && etagMatches(condition, etag)) {
    // RFC 9110 section 15.4.5: a 304 carries the validators and caching headers, no body.
    const notModified: HeaderRecord = {
      etag,
      age: headers['age'] as string,
      'cache-status': HIT,
    };
    for (const name of NOT_MODIFIED_HEADERS) {
      const value = hit.headers[name];
      if (value !== undefined) notModified[name] = value;
    }
    return { status: 304, headers: notModified, body: null };
  }
  const head = exchange.request.method.toUpperCase() === 'HEAD';
  return { status: hit.status, headers, body: head ? null : hit.body };
}
