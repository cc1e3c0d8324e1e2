import type { HeaderRecord } from '@fairmind/core';
import type { ResponseToStore } from './index.js';

// Headers that describe one transfer or one request, not the resource (RFC 9110 section
// 7.6.1 for the hop-by-hop ones); they are never replayed from the cache.
const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
  'date',
  'age',
  'content-length',
  'content-encoding',
  'x-request-id',
  'ratelimit',
  'ratelimit-policy',
  'retry-after',
  'cache-status',
]);

function noStore(value: string | undefined): boolean {
  return value !== undefined && /(?:^|,)\s*(?:no-store|private)\b/i.test(value);
}

/**
 * The headers a shared cache may replay, lower-cased and joined; `undefined` when the
 * response must not be shared at all (`Set-Cookie`, `Cache-Control: no-store` or `private`).
 */
export function storedHeaders(response: ResponseToStore): HeaderRecord | undefined {
  const headers: HeaderRecord = {};
  for (const [rawName, raw] of Object.entries(response.headers)) {
    if (raw === undefined) continue;
    const name = rawName.toLowerCase();
    // A Set-Cookie belongs to one client: such a response is never shared.
    if (name === 'set-cookie') return undefined;
    if (NOT_STORED.has(name)) continue;
    headers[name] =
      typeof raw === 'string' ? raw : Array.isArray(raw) ? raw.join(', ') : String(raw);
  }
  return noStore(headers['cache-control']) ? undefined : headers;
}
