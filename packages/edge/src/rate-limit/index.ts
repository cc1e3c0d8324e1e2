import {
  type ClientIpResolver,
  type ClientIpResolverOptions,
  type Exchange,
  FairmindError,
  type HeaderRecord,
  type Middleware,
  type MiddlewareResult,
  PROBLEM_CONTENT_TYPE,
  type Reply,
  requestPath,
  toProblem,
  wholeNumberRule,
} from '@fairmind/core';
import {
  createRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitResult,
} from '../limiter/index.js';
import {
  booleanOption,
  clientIpOption,
  functionOption,
  optionError,
  optionsObject,
  PKG,
  stringListOption,
} from '../options/index.js';
import { compilePaths, type PathMatcher } from '../paths/index.js';

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

interface Rule {
  readonly limiter: RateLimiter;
  readonly matches: PathMatcher;
  readonly methods: ReadonlySet<string> | undefined;
  readonly key: (exchange: Exchange) => string | null | undefined;
  readonly cost: (exchange: Exchange) => number;
  readonly policyHeader: string;
  readonly tooMany: string;
  readonly unavailable: string;
}

/** What a {@link Rule} is made of before its headers and bodies are worded. */
type RuleSpec = Pick<Rule, 'limiter' | 'matches' | 'methods' | 'key' | 'cost'>;

function readPath(state: unknown, path: readonly string[]): unknown {
  let value = state;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function resolveKey(
  factory: string,
  option: string,
  value: RateLimitKey | undefined,
  clientIp: ClientIpResolver,
): (exchange: Exchange) => string | null | undefined {
  const byIp = (exchange: Exchange) => `ip:${clientIp(exchange).key}`;
  if (value === undefined || value === 'ip') return byIp;
  if (typeof value === 'function') return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof value.state === 'string' &&
    value.state
  ) {
    const name = value.state;
    const path = name.split('.');
    return (exchange) => {
      const found = readPath(exchange.state, path);
      return typeof found === 'string' || typeof found === 'number'
        ? `${name}:${found}`
        : byIp(exchange);
    };
  }
  throw optionError(
    factory,
    `${option} must be 'ip', { state: 'auth.userId' } or a function of the exchange, got ${JSON.stringify(value)}.`,
  );
}

const AT_LEAST_ONE = wholeNumberRule({ min: 1 });

function resolveCost(
  factory: string,
  option: string,
  value: RateLimitCost | undefined,
): (exchange: Exchange) => number {
  if (value === undefined) return () => 1;
  if (typeof value === 'function') return value;
  if (!AT_LEAST_ONE.accepts(value)) {
    throw optionError(factory, `${option} must be ${AT_LEAST_ONE.expected} or a function.`);
  }
  return () => value;
}

function problemBody(code: string, status: number, message: string): string {
  return JSON.stringify(toProblem(new FairmindError(code, status, message, { expose: true })));
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

  function rule(spec: RuleSpec): Rule {
    const { limiter } = spec;
    return {
      limiter,
      matches: spec.matches,
      methods: spec.methods,
      key: spec.key,
      cost: spec.cost,
      policyHeader: `"${limiter.name}";q=${limiter.limit};w=${limiter.windowSeconds}`,
      tooMany: problemBody(
        'RATE_LIMITED',
        429,
        `[${PKG}] Too many requests: wait the number of seconds in Retry-After, then try again.`,
      ),
      unavailable: problemBody(
        'SERVICE_UNAVAILABLE',
        503,
        `[${PKG}] The rate limiter cannot reach its store, so requests are refused for now: ` +
          'retry after the number of seconds in Retry-After.',
      ),
    };
  }

  if (routes !== undefined && !Array.isArray(routes)) {
    throw optionError(factory, 'routes must be a list of { name, paths, limit, windowSeconds }.');
  }
  const names = new Set<string>();
  const rules: Rule[] = (routes ?? []).map((route, index) => {
    const label = `routes[${index}]`;
    if (typeof route !== 'object' || route === null) {
      throw optionError(factory, `${label} must be { name, paths, limit, windowSeconds }.`);
    }
    const limiter = createRateLimiter({
      ...limiterOptions,
      name: route.name,
      limit: route.limit,
      windowSeconds: route.windowSeconds,
    });
    if (names.has(limiter.name)) {
      throw optionError(
        factory,
        `${label}.name '${limiter.name}' is used twice: names must differ.`,
      );
    }
    names.add(limiter.name);
    const methods =
      route.methods === undefined
        ? undefined
        : new Set(
            stringListOption(factory, `${label}.methods`, route.methods, []).map((m) =>
              m.toUpperCase(),
            ),
          );
    return rule({
      limiter,
      matches: compilePaths(
        factory,
        `${label}.paths`,
        stringListOption(factory, `${label}.paths`, route.paths, []),
      ),
      methods,
      key:
        route.key === undefined
          ? defaultKey
          : resolveKey(factory, `${label}.key`, route.key, clientIp),
      cost:
        route.cost === undefined ? defaultCost : resolveCost(factory, `${label}.cost`, route.cost),
    });
  });
  const defaultLimiter = createRateLimiter(limiterOptions);
  if (names.has(defaultLimiter.name)) {
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

  function headersFor(rule: Rule, result: RateLimitResult): HeaderRecord {
    const headers: HeaderRecord = { 'ratelimit-policy': rule.policyHeader };
    // With the store down and the request let through, there is no count to report.
    if (result.source === 'open' || result.source === 'closed') return headers;
    headers['ratelimit'] = `"${result.policy}";r=${result.remaining};t=${result.resetSeconds}`;
    if (legacy) {
      headers['x-ratelimit-limit'] = String(result.limit);
      headers['x-ratelimit-remaining'] = String(result.remaining);
      headers['x-ratelimit-reset'] = String(Math.ceil(Date.now() / 1000) + result.resetSeconds);
    }
    return headers;
  }

  function outcome(rule: Rule, result: RateLimitResult, exchange: Exchange): MiddlewareResult {
    exchange.state.rateLimit = result;
    const headers = headersFor(rule, result);
    if (result.allowed) return { headers };
    const unavailable = result.source === 'closed';
    const reply: Reply = {
      status: unavailable ? 503 : 429,
      headers: {
        ...headers,
        'retry-after': String(result.resetSeconds),
        'content-type': PROBLEM_CONTENT_TYPE,
      },
      body: unavailable ? rule.unavailable : rule.tooMany,
    };
    return { reply };
  }

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
      return result.then((settled) => outcome(selected, settled, exchange));
    return outcome(selected, result, exchange);
  };
}
