import {
  type ClientIpResolver,
  type Exchange,
  FairmindError,
  toProblem,
  wholeNumberRule,
} from '@fairmind/core';
import { createRateLimiter, type RateLimiter, type RateLimiterOptions } from '../limiter/index.js';
import { optionError, PKG, stringListOption } from '../options/index.js';
import { compilePaths, type PathMatcher } from '../paths/index.js';
import type { RateLimitCost, RateLimitKey, RouteRateLimit } from './index.js';

/** One policy with where it applies, and its headers and problem bodies worded once. */
export interface Rule {
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

/** What every rule of one middleware shares. */
export interface RuleContext {
  readonly factory: string;
  readonly clientIp: ClientIpResolver;
  readonly limiterOptions: RateLimiterOptions;
  readonly defaultKey: Rule['key'];
  readonly defaultCost: Rule['cost'];
}

function readPath(state: unknown, path: readonly string[]): unknown {
  let value = state;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

export function resolveKey(
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

export function resolveCost(
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

export function rule(spec: RuleSpec): Rule {
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

function routeRule(
  context: RuleContext,
  route: RouteRateLimit,
  label: string,
  names: Set<string>,
): Rule {
  const { factory, clientIp } = context;
  if (typeof route !== 'object' || route === null) {
    throw optionError(factory, `${label} must be { name, paths, limit, windowSeconds }.`);
  }
  const limiter = createRateLimiter({
    ...context.limiterOptions,
    name: route.name,
    limit: route.limit,
    windowSeconds: route.windowSeconds,
  });
  if (names.has(limiter.name)) {
    throw optionError(factory, `${label}.name '${limiter.name}' is used twice: names must differ.`);
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
        ? context.defaultKey
        : resolveKey(factory, `${label}.key`, route.key, clientIp),
    cost:
      route.cost === undefined
        ? context.defaultCost
        : resolveCost(factory, `${label}.cost`, route.cost),
  });
}

/** The per-route rules, in order, after checking that their policy names differ. */
export function routeRules(
  context: RuleContext,
  routes: readonly RouteRateLimit[] | undefined,
): Rule[] {
  const { factory } = context;
  if (routes !== undefined && !Array.isArray(routes)) {
    throw optionError(factory, 'routes must be a list of { name, paths, limit, windowSeconds }.');
  }
  const names = new Set<string>();
  return (routes ?? []).map((route, index) => routeRule(context, route, `routes[${index}]`, names));
}
