import {
  type ClientIpResolver,
  type ClientIpResolverOptions,
  type Exchange,
  type Middleware,
  requestPath,
} from '@fairmind/core';
import {
  createRateLimiter,
  type RateLimiterOptions,
  type RateLimitResult,
} from '../limiter/index.js';
import {
  booleanOption,
  clientIpOption,
  functionOption,
  optionError,
  optionsObject,
  stringListOption,
} from '../options/index.js';
import { compilePaths } from '../paths/index.js';
import { outcome } from './reply.js';
import { type Rule, resolveCost, resolveKey, routeRules, rule } from './rules.js';

declare module '@fairmind/core' {
  interface FairmindState {
    /** The rate-limit decision for this request, set by `rateLimit()`. */
    rateLimit?: RateLimitResult;
  }
}

/**
 * What a request is counted under:
 * - `'ip'`: the client IP from the core resolver (an IPv6 client's /64, a mapped IPv4 as
 *   IPv4, `X-Forwarded-For` only through trusted proxies).
 * - `{ state: 'auth.userId' }`: a value on `exchange.state` (a dotted path), such as the
 *   user or API key another middleware authenticated; requests without it fall back to IP.
 * - a function of the exchange; returning `null` or `undefined` skips the limit for that
 *   request.
 */
export type RateLimitKey =
  | 'ip'
  | { readonly state: string }
  | ((exchange: Exchange) => string | null | undefined);

/** A request's cost: a fixed number of units, or one computed per request. */
export type RateLimitCost = number | ((exchange: Exchange) => number);

/** A limit for some routes, applied instead of the default one where it matches. */
export interface RouteRateLimit {
  /** The policy name, in the headers and the keys. */
  name: string;
  /** Path patterns: `'/auth/login'`, `'/auth/*'`, `'/health*'`. */
  paths: readonly string[];
  /**
   * Methods it applies to, upper-case.
   * @default every method
   */
  methods?: readonly string[] | undefined;
  limit: number;
  windowSeconds: number;
  /** @default the middleware's `key` */
  key?: RateLimitKey | undefined;
  /** @default the middleware's `cost` */
  cost?: RateLimitCost | undefined;
}

/** Options of {@link rateLimit}: the limiter's, plus how requests map to keys and policies. */
export interface RateLimitOptions extends RateLimiterOptions {
  /**
   * Paths the default policy applies to; requests elsewhere are not limited unless a route
   * matches. The platform uses `['/auth/*', '/api/*']`.
   * @default ['*']
   */
  paths?: readonly string[] | undefined;
  /**
   * Paths never limited, checked first.
   * @default []
   */
  excludePaths?: readonly string[] | undefined;
  /**
   * Per-route policies; the first that matches a request is used instead of the default.
   * @default []
   */
  routes?: readonly RouteRateLimit[] | undefined;
  /** @default 'ip' */
  key?: RateLimitKey | undefined;
  /** @default 1 */
  cost?: RateLimitCost | undefined;
  /**
   * Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`), for the `'ip'` key.
   * @default none: the socket peer is the client
   */
  trustedProxies?: ClientIpResolverOptions['trustedProxies'] | undefined;
  /**
   * A client IP resolver to share with other middleware; wins over `trustedProxies`.
   * @default createClientIpResolver({ trustedProxies })
   */
  clientIp?: ClientIpResolver | undefined;
  /**
   * Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch
   * seconds), for clients written against the pre-IETF headers.
   * @default false
   */
  legacyHeaders?: boolean | undefined;
  /**
   * Requests for which this returns true are not limited (an internal health checker).
   * @default undefined
   */
  skip?: ((exchange: Exchange) => boolean) | undefined;
}

/**
 * Rate limiting on the contract: each request is counted under its key (the client IP by
 * default) in the store, and gets the IETF headers of HTTP-API.md,
 * `RateLimit-Policy: "default";q=1000;w=60` and `RateLimit: "default";r=999;t=60`. Over the
 * limit it ends with a 429 `RATE_LIMITED` problem and an integer `Retry-After` equal to `t`;
 * when the store is down and the failure policy is `closed`, a 503 with `Retry-After`.
 * The decision is on `exchange.state.rateLimit`.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { rateLimit } from '@fairmind/edge';
 * import { createRedisStore } from '@fairmind/edge/redis';
 *
 * const limit = rateLimit({
 *   store: createRedisStore({ client: new Redis(config.redis.url) }),
 *   limit: config.rateLimit.requests,
 *   windowSeconds: config.rateLimit.windowSeconds,
 *   paths: ['/auth/*', '/api/*'],
 *   trustedProxies: config.trustedProxies,
 *   routes: [{ name: 'login', paths: ['/auth/login'], methods: ['POST'], limit: 10, windowSeconds: 60 }],
 * });
 * ```
 */
export function rateLimit(options?: RateLimitOptions): Middleware {
  const factory = 'rateLimit';
  const opts = optionsObject(factory, options);
  const {
    paths,
    excludePaths,
    routes,
    key,
    cost,
    trustedProxies,
    clientIp: givenResolver,
    legacyHeaders,
    skip,
    ...limiterOptions
  } = opts;
  const clientIp = clientIpOption(factory, givenResolver, trustedProxies);
  const legacy = booleanOption(factory, 'legacyHeaders', legacyHeaders, false);
  const skipFn = functionOption<(exchange: Exchange) => boolean>(factory, 'skip', skip);
  const excluded = compilePaths(
    factory,
    'excludePaths',
    stringListOption(factory, 'excludePaths', excludePaths, []),
  );
  const defaultKey = resolveKey(factory, 'key', key, clientIp);
  const defaultCost = resolveCost(factory, 'cost', cost);
  const rules = routeRules({ factory, clientIp, limiterOptions, defaultKey, defaultCost }, routes);
  const defaultLimiter = createRateLimiter(limiterOptions);
  if (rules.some((route) => route.limiter.name === defaultLimiter.name)) {
    throw optionError(
      factory,
      `the default policy and a route are both named '${defaultLimiter.name}': names must differ.`,
    );
  }
  rules.push(
    rule({
      limiter: defaultLimiter,
      matches: compilePaths(factory, 'paths', stringListOption(factory, 'paths', paths, ['*'])),
      methods: undefined,
      key: defaultKey,
      cost: defaultCost,
    }),
  );

  return function rateLimitMiddleware(exchange) {
    const path = requestPath(exchange.request.url);
    if (excluded(path)) return undefined;
    let chosen: Rule | undefined;
    for (const candidate of rules) {
      if (candidate.methods !== undefined && !candidate.methods.has(exchange.request.method)) {
        continue;
      }
      if (candidate.matches(path)) {
        chosen = candidate;
        break;
      }
    }
    if (chosen === undefined || skipFn?.(exchange)) return undefined;
    const key = chosen.key(exchange);
    if (key === null || key === undefined) return undefined;
    const selected = chosen;
    const result = selected.limiter.consume(key, selected.cost(exchange));
    if (result instanceof Promise)
      return result.then((settled) => outcome(selected, settled, exchange, legacy));
    return outcome(selected, result, exchange, legacy);
  };
}
