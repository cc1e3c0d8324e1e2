import type { Logger } from '@fairmind/core';
import type { Registry } from 'prom-client';
import type { CircuitBreakerOptions, CircuitState } from '../circuit-breaker/index.js';
import { optionsObject } from '../options/index.js';
import type { RateLimitStore } from '../store/index.js';
import { createDenyCache } from './deny-cache.js';
import { DecisionEngine } from './engine.js';
import { leaseSettings } from './lease.js';
import { counters } from './metrics.js';
import { resolveBreaker, resolveSettings, type StoreHealth } from './settings.js';
/**
 * What the limiter does when its store fails, times out or has its circuit open:
 * - `open`: let the request through (availability first; nothing is counted).
 * - `closed`: refuse it with a 503 (protection first).
 * - `local`: decide from an in-memory store in this process, so each instance still
 *   enforces the limit on its own traffic until the shared store is back.
 */
export type FailurePolicy = 'open' | 'closed' | 'local';

/** Where a decision came from. */
export type DecisionSource = 'store' | 'lease' | 'cache' | 'local' | 'open' | 'closed';

/** One rate-limit decision. */
export interface RateLimitResult {
  readonly allowed: boolean;
  /** The policy name, as in `RateLimit-Policy: "<name>";q=...`. */
  readonly policy: string;
  readonly limit: number;
  readonly windowSeconds: number;
  /** Units left in the window after this request. */
  readonly remaining: number;
  /**
   * Whole seconds until a request is allowed again (denied) or the window moves on
   * (allowed): the `t` of the `RateLimit` header and, when denied, `Retry-After`.
   */
  readonly resetSeconds: number;
  /**
   * `store`: the store decided. `lease`: allowed from units this instance had reserved in the
   * store already (see the `lease` option). `cache`: refused from the local cache of keys known to be
   * over their limit, without asking the store. `local`, `open`, `closed`: the store failed
   * and the failure policy decided.
   */
  readonly source: DecisionSource;
}

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Where counts live. Use `createRedisStore` so that every instance shares them.
   * @default createMemoryStore()
   */
  store?: RateLimitStore | undefined;
  /**
   * Units allowed per window (`RATE_LIMIT_REQUESTS`).
   * @default 1000
   */
  limit?: number | undefined;
  /**
   * The window in whole seconds (`RATE_LIMIT_WINDOW`).
   * @default 60
   */
  windowSeconds?: number | undefined;
  /**
   * The policy name: in the `RateLimit` headers and in the store keys, so two policies
   * never share a count. Letters, digits, `.`, `_` and `-`.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * What a failing store means; see {@link FailurePolicy}.
   * @default 'local'
   */
  failure?: FailurePolicy | undefined;
  /**
   * How long one decision may wait for the store, in ms; after that the failure policy
   * decides and the late answer is ignored.
   * @default 100
   */
  timeoutMs?: number | undefined;
  /**
   * The circuit breaker around the store, or `false` for none: after `failureThreshold`
   * failures in a row the store is not asked for `cooldownMs`, so a dead Redis costs no
   * timeout per request.
   * @default { failureThreshold: 5, cooldownMs: 5000 }
   */
  breaker?: Pick<CircuitBreakerOptions, 'failureThreshold' | 'cooldownMs'> | false | undefined;
  /**
   * Remember keys the store refused until they may retry, and refuse requests of the same
   * or a higher cost from memory, without a store round trip. Such a request would be
   * refused by the store anyway, so this changes nothing but the cost of a flood (except
   * that `reset()` on another instance does not reach this cache). `maxKeys` bounds the
   * memory.
   * @default { maxKeys: 10000 }
   */
  denyCache?: { maxKeys?: number } | false | undefined;
  /**
   * Reserve units of a busy key in the store ahead of its requests and spend them here, so
   * a key sending many requests costs a store round trip per reservation rather than per
   * request. A reservation starts at one request's cost, doubles while the key's traffic
   * uses each up within `maxMs`, and shrinks to what was spent when one expires; it never
   * exceeds `maxUnits` nor an eighth of what the store says is left, so near the limit every
   * request asks the store again and the count is exact. A busy key's next reservation is
   * asked for while the current one still has units (once half is spent, or sooner when the
   * store's last round trip would outlast the rest), sized to the pace since the last one,
   * so its requests are answered without waiting for the store at all.
   *
   * The shared count stays the one limit of every instance: units are counted when
   * reserved, so the instances together never admit more than `limit` per window. What
   * changes: units reserved and not spent within `maxMs` are lost, so a key may be refused
   * slightly before its limit, and `remaining` is what this instance knows. Off by default;
   * the memory store (which answers in the process) and the `sliding-log` algorithm (which
   * stamps each unit when counted) never lease.
   * @default false
   * @example
   * ```ts
   * createRateLimiter({ store: createRedisStore({ client }), limit: 6000, lease: { maxUnits: 100 } });
   * ```
   */
  lease?:
    | {
        /** @default 100 */
        maxUnits?: number | undefined;
        /** How long reserved units may be spent, in ms. @default 1000 */
        maxMs?: number | undefined;
        /** Keys with a reservation held at once (least recently used first out). @default 10000 */
        maxKeys?: number | undefined;
      }
    | boolean
    | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /**
   * Where `fairmind_rate_limit_decisions_total` and `fairmind_rate_limit_store_errors_total`
   * go; no metrics without one.
   * @default undefined
   */
  registry?: Registry | undefined;
}

/** A limiter for one policy; see {@link createRateLimiter}. */
export interface RateLimiter {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
  readonly store: RateLimitStore;
  /** The store's circuit: `closed` while the store answers. */
  readonly circuit: CircuitState;
  /**
   * Counts `cost` units against `key` and decides. Synchronous when the answer is known
   * locally (the deny cache, the memory store, an open circuit), a promise otherwise; it
   * never rejects for a store failure, and never waits longer than `timeoutMs`.
   */
  consume(key: string, cost?: number): RateLimitResult | Promise<RateLimitResult>;
  /** Forgets `key` in the store, the deny cache and the local fallback. */
  reset(key: string): Promise<void>;
}

/**
 * Creates the decision engine of one rate-limit policy, without HTTP: the `rateLimit`
 * middleware is built on it, and anything else that needs a limit (a queue consumer, a
 * login throttle) can use it directly.
 *
 * Around the store it puts a per-call timeout, a circuit breaker and a failure policy, and
 * in front of it a cache of keys already over their limit, which are refused until they may
 * retry without a round trip.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const limiter = createRateLimiter({
 *   store: createRedisStore({ client: redis }),
 *   limit: 5,
 *   windowSeconds: 60,
 *   failure: 'local',
 * });
 * const result = await limiter.consume(`user:${userId}`);
 * if (!result.allowed) throw new FairmindError('RATE_LIMITED', 429, `Retry in ${result.resetSeconds} s.`);
 * ```
 */
export function createRateLimiter(options?: RateLimiterOptions): RateLimiter {
  const factory = 'createRateLimiter';
  const opts = optionsObject(factory, options);
  const settings = resolveSettings(factory, opts);
  const metrics = counters(opts.registry, settings.name);
  const health: StoreHealth = { lastError: undefined };
  const breaker = resolveBreaker(factory, opts.breaker, { settings, health });
  const denyCache = createDenyCache(factory, opts.denyCache);
  const lease = leaseSettings(factory, opts.lease);
  const engine = new DecisionEngine({ settings, metrics, health, breaker, denyCache, lease });
  return {
    name: settings.name,
    limit: settings.limit,
    windowSeconds: settings.windowSeconds,
    store: settings.store,
    get circuit(): CircuitState {
      return breaker?.state ?? 'closed';
    },
    consume: engine.consume,
    reset: (key) => engine.reset(key),
  };
}
