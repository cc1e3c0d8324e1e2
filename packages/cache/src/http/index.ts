import { createHash } from 'node:crypto';
import {
  checkOption,
  type Exchange,
  type HeaderRecord,
  type Middleware,
  type Reply,
  requestPath,
  requestSearch,
  wholeNumberRule,
} from '@fairmind/core';
import type { Cache } from '../cache/index.js';
import { type Duration, toMs } from '../duration/index.js';
import { invalidOptions, OPTIONS } from '../errors/index.js';

const STATUS = wholeNumberRule({ min: 200, max: 599 });

/** One part of the key besides method, path and query: a request header name, or a function. */
export type VaryBy = string | ((exchange: Exchange) => string | null | undefined);

/** Options of {@link createResponseCache}. */
export interface ResponseCacheOptions {
  /** The cache to keep responses in; they live in its namespace `namespace`. */
  cache: Cache;
  /**
   * How long a response is served from the cache.
   * @default '60s'
   */
  ttl?: Duration | undefined;
  /**
   * Tags of every stored response (per call, `store(..., { tags })` adds more), so that a
   * write can invalidate them: a list, or one computed from the request.
   * @default []
   */
  tags?: readonly string[] | ((exchange: Exchange) => readonly string[]) | undefined;
  /**
   * What else the response depends on, beyond method, path and query: request header names
   * (`'accept-language'`) or functions of the exchange, such as the caller's role
   * (`(exchange) => exchange.state.auth?.role`). Everything the body depends on must be here,
   * or one caller's response is served to another.
   * @default []
   */
  vary?: readonly VaryBy[] | undefined;
  /**
   * Statuses worth keeping.
   * @default [200]
   */
  statuses?: readonly number[] | undefined;
  /**
   * Bodies larger than this (in UTF-8 bytes) are not kept.
   * @default 1_048_576
   */
  maxBodyBytes?: number | undefined;
  /**
   * The cache namespace responses are kept under (`clear(namespace)` drops them all).
   * @default 'http'
   */
  namespace?: string | undefined;
}

/** A response as an adapter hands it to {@link ResponseCache.store}. */
export interface ResponseToStore {
  readonly status: number;
  /** Header values as Node's `res.getHeaders()` gives them, or plain strings. */
  readonly headers: Readonly<Record<string, string | number | readonly string[] | undefined>>;
  /** The body before any compression (compression runs after the cache, per request). */
  readonly body: string;
}

/** A stored response, as {@link ResponseCache.lookup} returns it. */
export interface CachedResponse {
  readonly status: number;
  readonly headers: Readonly<HeaderRecord>;
  readonly body: string;
  /** When it was stored (ms since the epoch); `Age` is computed from it. */
  readonly storedAt: number;
}

/** Per-call options of {@link ResponseCache.store}. */
export interface StoreOptions {
  ttl?: Duration | undefined;
  /** Tags added to the configured ones. */
  tags?: readonly string[] | undefined;
}

/**
 * Response caching for GET (and HEAD) routes on the adapter contract. Body capture belongs to
 * each adapter, so this is a function API: the adapter (or the platform's handler) calls
 * `lookup` before the handler and `store` after it; `middleware()` does the lookup half and
 * answers a hit with a `Reply`.
 */
export interface ResponseCache {
  /** The cache key of a request, or `undefined` when the method is not GET or HEAD. */
  key(exchange: Exchange): string | undefined;
  /** The stored response for this request, or `undefined`. Never throws for Redis trouble. */
  lookup(exchange: Exchange): Promise<CachedResponse | undefined>;
  /**
   * Keeps a response for this request when it may be kept: GET, a listed status, no
   * `Set-Cookie`, no `Cache-Control: no-store` or `private`, a body within the limit.
   * Resolves to whether it was stored.
   */
  store(exchange: Exchange, response: ResponseToStore, options?: StoreOptions): Promise<boolean>;
  /** Answers hits (and `If-None-Match` revalidations with 304); lets misses through. */
  middleware(): Middleware;
  /** Drops every stored response carrying one of the tags, on every instance. */
  invalidate(tags: readonly string[]): Promise<void>;
}

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
const MAX_KEY_LENGTH = 512;
// RFC 9211: the Cache-Status header names the cache and what it did.
const HIT = 'fairmind; hit';
const MISS = 'fairmind; fwd=miss';

/** The query string with its parameters sorted by name, then value, so order never matters. */
export function sortedQuery(url: string): string {
  const search = requestSearch(url);
  if (search === '') return '';
  const params = [...new URLSearchParams(search)];
  params.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return new URLSearchParams(params).toString();
}

function noStore(value: string | undefined): boolean {
  return value !== undefined && /(?:^|,)\s*(?:no-store|private)\b/i.test(value);
}

function etagMatches(header: string, etag: string): boolean {
  // If-None-Match uses the weak comparison (RFC 9110 section 13.1.2).
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  if (header.trim() === '*') return true;
  const wanted = opaque(etag);
  return header.split(',').some((candidate) => opaque(candidate) === wanted);
}

/**
 * A response cache for GET routes: the key is the path, the sorted query and the `vary`
 * parts (such as the caller's role); writes invalidate by tags.
 *
 * @example
 * ```ts
 * import { createCache, createResponseCache } from '@fairmind/cache';
 *
 * const responses = createResponseCache({
 *   cache: createCache({ redis: process.env.REDIS_URL }),
 *   ttl: '30s',
 *   vary: [(exchange) => exchange.state.auth?.role],
 *   tags: ['dashboard'],
 * });
 * // before the handler: a hit short-circuits with a Reply
 * const decision = await runMiddleware([responses.middleware()], exchange);
 * // after the handler, for a miss:
 * await responses.store(exchange, { status: 200, headers, body });
 * // after a write:
 * await responses.invalidate(['dashboard']);
 * ```
 */
export function createResponseCache(options: ResponseCacheOptions): ResponseCache {
  if (options === null || typeof options !== 'object') {
    throw invalidOptions('createResponseCache() takes an options object');
  }
  if (options.cache === null || typeof options.cache?.namespace !== 'function') {
    throw invalidOptions('createResponseCache() needs options.cache, a cache from createCache()');
  }
  const ttl = toMs('ttl', options.ttl ?? '60s', 1);
  const vary = options.vary ?? [];
  if (
    !Array.isArray(vary) ||
    !vary.every((part) => typeof part === 'string' || typeof part === 'function')
  ) {
    throw invalidOptions(
      'vary must be a list of request header names and functions of the exchange',
    );
  }
  const tags = options.tags ?? [];
  if (
    typeof tags !== 'function' &&
    (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag !== ''))
  ) {
    throw invalidOptions('tags must be a list of non-empty strings or a function of the exchange');
  }
  const statuses = new Set(options.statuses ?? [200]);
  for (const status of statuses) {
    if (!STATUS.accepts(status)) {
      throw invalidOptions(`statuses must hold HTTP statuses, got ${JSON.stringify(status)}`);
    }
  }
  const maxBodyBytes = checkOption(
    OPTIONS,
    'maxBodyBytes',
    options.maxBodyBytes ?? 1_048_576,
    wholeNumberRule({ min: 0, open: 'sign', noun: 'integer' }),
  );
  const cache = options.cache.namespace(options.namespace ?? 'http');

  function key(exchange: Exchange): string | undefined {
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

  async function lookup(exchange: Exchange): Promise<CachedResponse | undefined> {
    const cacheKey = key(exchange);
    if (cacheKey === undefined) return undefined;
    return cache.get<CachedResponse>(cacheKey);
  }

  async function store(
    exchange: Exchange,
    response: ResponseToStore,
    storeOptions: StoreOptions = {},
  ): Promise<boolean> {
    const cacheKey = key(exchange);
    if (cacheKey === undefined || exchange.request.method.toUpperCase() !== 'GET') return false;
    if (!statuses.has(response.status) || typeof response.body !== 'string') return false;
    if (Buffer.byteLength(response.body) > maxBodyBytes) return false;
    const headers: HeaderRecord = {};
    for (const [rawName, raw] of Object.entries(response.headers)) {
      if (raw === undefined) continue;
      const name = rawName.toLowerCase();
      // A Set-Cookie belongs to one client: such a response is never shared.
      if (name === 'set-cookie') return false;
      if (NOT_STORED.has(name)) continue;
      headers[name] =
        typeof raw === 'string' ? raw : Array.isArray(raw) ? raw.join(', ') : String(raw);
    }
    if (noStore(headers['cache-control'])) return false;
    const base = typeof tags === 'function' ? tags(exchange) : tags;
    const allTags = [...base, ...(storeOptions.tags ?? [])];
    const entry: CachedResponse = {
      status: response.status,
      headers,
      body: response.body,
      storedAt: Date.now(),
    };
    await cache.set(cacheKey, entry, {
      ttl: storeOptions.ttl ?? ttl,
      ...(allTags.length > 0 ? { tags: allTags } : {}),
    });
    return true;
  }

  function reply(exchange: Exchange, hit: CachedResponse): Reply {
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
      for (const name of [
        'cache-control',
        'vary',
        'expires',
        'last-modified',
        'content-location',
      ]) {
        const value = hit.headers[name];
        if (value !== undefined) notModified[name] = value;
      }
      return { status: 304, headers: notModified, body: null };
    }
    const head = exchange.request.method.toUpperCase() === 'HEAD';
    return { status: hit.status, headers, body: head ? null : hit.body };
  }

  return {
    key,
    lookup,
    store,
    middleware(): Middleware {
      return async function responseCacheMiddleware(exchange) {
        const hit = await lookup(exchange);
        if (hit !== undefined) return { reply: reply(exchange, hit) };
        return key(exchange) === undefined ? undefined : { headers: { 'cache-status': MISS } };
      };
    },
    invalidate(list: readonly string[]): Promise<void> {
      return cache.invalidateTags(list);
    },
  };
}
