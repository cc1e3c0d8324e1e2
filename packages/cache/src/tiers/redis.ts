import { type CircuitBreaker, createCircuitBreaker, watchRedisClient } from '@fairmind/core';
import { Redis } from 'ioredis';
import { Bus, type BusMessage } from '../bus/index.js';
import { invalidOptions, PKG } from '../errors/index.js';
import type { CacheCounters } from '../metrics/index.js';
import { type RedisClient, RedisStore } from '../store/index.js';
import type { BreakerLimits, Settings } from './settings.js';

function isRedisClient(value: unknown): value is RedisClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { status?: unknown }).status === 'string' &&
    typeof (value as { get?: unknown }).get === 'function' &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function'
  );
}

/**
 * The client of the `redis` option: one made from a URL (the cache owns it), the caller's
 * own client checked, or undefined for a memory-only cache.
 */
export function redisClient(redis: unknown, instanceId: string): RedisClient | undefined {
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) {
      throw invalidOptions(
        'redis must be a redis:// or rediss:// URL, an ioredis client, or left out',
      );
    }
    return new Redis(redis, {
      // Fail at once while disconnected instead of queueing: the caller has L1 and the factory.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      // Commands issued in the same tick go out in one write: under concurrency that
      // halves the client's CPU per GET, which is mostly the socket write.
      enableAutoPipelining: true,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
      connectionName: `fairmind-cache:${instanceId}`,
    });
  }
  if (redis === undefined) return undefined;
  if (!isRedisClient(redis)) {
    throw invalidOptions(
      'redis must be an ioredis Redis or Cluster client, a redis:// URL, or left out',
    );
  }
  if ((redis.options as { keyPrefix?: string }).keyPrefix) {
    throw invalidOptions(
      'the Redis client has a keyPrefix, which SCAN patterns and scripts do not see: use the cache namespace option instead',
    );
  }
  // A lazyConnect client would otherwise never connect: the cache only sends commands
  // on a ready connection.
  if (redis.status === 'wait') redis.connect().catch(() => undefined);
  return redis;
}

/** What the Redis side of the tiers needs from them. */
export interface RedisWiring {
  client: RedisClient;
  settings: Settings;
  limits: BreakerLimits;
  counters: CacheCounters;
  channel: string;
  /** Re-sends the invalidations kept while Redis was away. */
  replay: () => void;
  /** Applies another instance's invalidation to this one. */
  receive: (message: BusMessage) => void;
  /** Forgets everything local after the bus was away. */
  flushLocal: () => void;
}

/** L2 and the bus on one client, behind one circuit breaker. */
export interface RedisTier {
  breaker: CircuitBreaker;
  store: RedisStore;
  bus: Bus;
}

/** The breaker, the L2 store and the bus over `client`, reporting to the tiers. */
export function connectRedis(wiring: RedisWiring): RedisTier {
  const { client, settings, limits, counters } = wiring;
  const { logger } = settings;
  // One warning when the connection fails, one line when it is back: never an unhandled
  // 'error' per reconnection attempt, whether the cache made the client or was given it.
  watchRedisClient(client, { logger, name: '@fairmind/cache' });
  const countError = () => {
    counters.errors++;
  };
  const breaker = createCircuitBreaker({
    failureThreshold: limits.failureThreshold,
    cooldownMs: limits.resetTimeoutMs,
    onStateChange: (state, previous) => {
      if (state === 'open' && previous === 'closed') {
        logger.warn(
          { failures: limits.failureThreshold },
          `${PKG} Redis is failing or slower than ${settings.commandTimeoutMs} ms; serving from L1 and factories until it recovers`,
        );
      } else if (state === 'closed') {
        logger.info({}, `${PKG} Redis answers again; L2 is back in use`);
        wiring.replay();
      }
    },
  });
  const store = new RedisStore({
    client,
    commandTimeoutMs: settings.commandTimeoutMs,
    breaker,
    logger,
    onError: countError,
    onReady: wiring.replay,
  });
  const bus = new Bus({
    client,
    channel: wiring.channel,
    instanceId: settings.instanceId,
    logger,
    onMessage: wiring.receive,
    onResubscribed: wiring.flushLocal,
    onError: countError,
  });
  return { breaker, store, bus };
}
