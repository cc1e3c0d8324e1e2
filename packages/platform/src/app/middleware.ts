import type { Auth } from '@fairmind/auth';
import {
  type ClientIpResolver,
  type Exchange,
  type FairmindConfig,
  type Logger,
  type Middleware,
  requestPath,
} from '@fairmind/core';
import { cors, createMemoryStore, rateLimit, requestLog, securityHeaders } from '@fairmind/edge';
import { createRedisStore } from '@fairmind/edge/redis';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';

const PUBLIC_PATHS = /^\/(?:health(?:\/|$)|metrics$)/;

/** What {@link platformMiddleware} is made from. */
export interface PlatformMiddlewareContext {
  readonly config: FairmindConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly auth: Auth;
  readonly redis: Redis | Cluster | undefined;
  readonly clientIp: ClientIpResolver;
}

/**
 * The contract middleware every request runs through before the router: the request log,
 * the security headers, CORS when origins are configured, the rate limiter and optional
 * authentication, in the order `RATE_LIMIT_BY` needs.
 */
export function platformMiddleware(context: PlatformMiddlewareContext): Middleware[] {
  const { config, logger, registry, auth, clientIp } = context;
  const byPrincipal = config.rateLimit.by === 'principal';
  const authenticate = auth.authenticate({ optional: true });
  const limiter = platformRateLimit(context, byPrincipal);
  const platformAuthenticate = function platformAuthenticate(exchange: Exchange) {
    // Health checks and scrapers send no credentials; a stray bad header must not fail them.
    return PUBLIC_PATHS.test(requestPath(exchange.request.url))
      ? undefined
      : authenticate(exchange);
  };
  return [
    requestLog({ logger, registry, clientIp, route: (exchange) => exchange.state.route }),
    securityHeaders({ clientIp }),
    // Credentials (cookies, Authorization) are allowed per listed origin; with CORS_ORIGINS=*
    // they cannot be (browsers refuse the pair), so the wildcard serves anonymous reads only.
    ...(config.cors.origins.length > 0
      ? [cors({ origins: config.cors.origins, credentials: !config.cors.origins.includes('*') })]
      : []),
    // Per principal, the limiter needs to know who is asking, so authentication runs first;
    // per IP (the default), the limiter runs first and protects authentication too.
    ...(byPrincipal ? [platformAuthenticate, limiter] : [limiter, platformAuthenticate]),
  ];
}

function platformRateLimit(
  { config, logger, registry, redis, clientIp }: PlatformMiddlewareContext,
  byPrincipal: boolean,
): Middleware {
  const key = byPrincipal
    ? (exchange: Exchange) => {
        const principal = exchange.state.auth;
        if (principal === undefined) return `ip:${clientIp(exchange).key}`;
        return principal.apiKeyId ? `key:${principal.apiKeyId}` : `user:${principal.id}`;
      }
    : ('ip' as const);
  return rateLimit({
    paths: ['/auth/*', '/api/*'],
    limit: config.rateLimit.requests,
    windowSeconds: config.rateLimit.windowSeconds,
    store: redis
      ? createRedisStore({ client: redis, prefix: 'fairmind:rl:', logger })
      : createMemoryStore(),
    // A busy client costs a Redis round trip per reservation, not per request; the limit
    // stays shared (see the lease option in @fairmind/edge). RATE_LIMIT_LEASE=0 turns it off.
    lease: config.rateLimit.lease > 0 && { maxUnits: config.rateLimit.lease },
    clientIp,
    key,
    registry,
    logger,
  });
}
