import { createHash } from 'node:crypto';
import type { Exchange, Handler, HeaderRecord, Middleware, Reply } from '@fairmind/core';
import type { Cache } from '../cache/index.js';
import type { Duration } from '../duration/index.js';
import { responseKey } from './key.js';
import { cachedReply, MISS } from './reply.js';
import { resolveResponseCacheSettings } from './settings.js';
import { storedHeaders } from './stored-headers.js';

export { sortedQuery } from './key.js';

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
  /**
   * A contract handler answered from the cache: a hit (or a 304 for a matching
   * `If-None-Match`) without running `handler`; a miss runs it and keeps what may be kept,
   * with a strong `ETag` of the body when the handler set none. Mount the result with any
   * adapter's `handle()`: the whole cache then works the same on every framework.
   */
  cached<Body>(handler: Handler<Body>, options?: StoreOptions): Handler<Body>;
  /** Drops every stored response carrying one of the tags, on every instance. */
  invalidate(tags: readonly string[]): Promise<void>;
}

// A strong validator of the body as sent: equal bodies, equal tags, on every instance.
function withEtag(reply: Reply, body: string): Reply {
  const digest = createHash('sha256').update(body).digest('base64url').slice(0, 27);
  return { ...reply, headers: { ...reply.headers, etag: `"${digest}"` } };
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
  const { cache, ttl, vary, tags, statuses, maxBodyBytes } = resolveResponseCacheSettings(options);

  function key(exchange: Exchange): string | undefined {
    return responseKey(exchange, vary);
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
    const headers = storedHeaders(response);
    if (headers === undefined) return false;
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

  return {
    key,
    lookup,
    store,
    middleware(): Middleware {
      return async function responseCacheMiddleware(exchange) {
        const hit = await lookup(exchange);
        if (hit !== undefined) return { reply: cachedReply(exchange, hit) };
        return key(exchange) === undefined ? undefined : { headers: { 'cache-status': MISS } };
      };
    },
    cached(handler, storeOptions) {
      return async function cachedHandler(exchange, body) {
        const hit = await lookup(exchange);
        if (hit !== undefined) return cachedReply(exchange, hit);
        const reply = await handler(exchange, body);
        const { body: text } = reply;
        if (text === null || !statuses.has(reply.status)) return reply;
        const tagged = reply.headers['etag'] === undefined ? withEtag(reply, text) : reply;
        if (!(await store(exchange, { ...tagged, body: text }, storeOptions))) return reply;
        return { ...tagged, headers: { ...tagged.headers, 'cache-status': MISS } };
      };
    },
    invalidate(list: readonly string[]): Promise<void> {
      return cache.invalidateTags(list);
    },
  };
}
