import { type Logger, silentLogger, watchRedisClient } from '@fairmind/core';
import type { Cluster, Redis } from 'ioredis';
import { oneOfOption, optionError, optionsObject } from '../options/index.js';
import {
  ALGORITHMS,
  type RateLimitAlgorithm,
  type RateLimitStore,
  type StoreDecision,
  type StoreRequest,
} from '../store/index.js';

/**
 * The Redis store: one Lua script per decision, so reading the count, deciding and writing
 * it back are one atomic step on the server however many instances share it. Both scripts
 * take the time from Redis (`TIME`), not from the caller: instances with skewed clocks still
 * agree on the windows. Each decision touches one key, wrapped in a `{hash tag}`, and every
 * write sets a TTL, so nothing outlives its window. These are the same steps as
 * `slidingWindowStep` and `slidingLogStep` in the memory store.
 */

// Before Redis 5, a script that read TIME could not write unless it asked for effects
// replication; from Redis 5 on that is the default and the call is a no-op.
const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
`;

/** KEYS[1]: a hash {w: window index, c: current count, p: previous count}. */
const SLIDING_WINDOW_SCRIPT = `${PRELUDE}
local index = math.floor(now / window)
local state = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local stored = tonumber(state[1])
local current = 0
local previous = 0
if stored ~= nil then
  if stored == index then
    current = tonumber(state[2]) or 0
    previous = tonumber(state[3]) or 0
  elseif stored == index - 1 then
    previous = tonumber(state[2]) or 0
  elseif stored > index then
    index = stored
    current = tonumber(state[2]) or 0
    previous = tonumber(state[3]) or 0
  end
end
local elapsed = math.max(0, now - index * window)
local carried = previous * (window - elapsed) / window
local used = carried + current
if cost <= limit and used + cost <= limit then
  current = current + cost
  redis.call('HSET', KEYS[1], 'w', index, 'c', current, 'p', previous)
  redis.call('PEXPIRE', KEYS[1], math.max(1, 2 * window - elapsed))
  return {1, math.max(0, math.floor(limit - (carried + current))), math.max(1, math.ceil(window - elapsed))}
end
local retry
if cost > limit then
  retry = window - elapsed + window
elseif current + cost <= limit then
  retry = window - elapsed - ((limit - current - cost) * window) / previous
else
  retry = window - elapsed + math.max(0, window - ((limit - cost) * window) / current)
end
return {0, math.max(0, math.floor(limit - used)), math.max(1, math.ceil(retry))}
`;

/** KEYS[1]: a sorted set of one member per counted unit, scored by its time in ms. */
const SLIDING_LOG_SCRIPT = `${PRELUDE}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if cost <= limit and count + cost <= limit then
  local member = clock[1] .. clock[2] .. ':' .. ARGV[4] .. ':'
  for unit = 1, cost do
    redis.call('ZADD', KEYS[1], now, member .. unit)
  end
  redis.call('PEXPIRE', KEYS[1], window)
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, limit - count - cost, math.max(1, tonumber(oldest[2]) + window - now)}
end
if cost > limit then
  return {0, math.max(0, limit - count), window}
end
local freeing = redis.call('ZRANGE', KEYS[1], count + cost - limit - 1, count + cost - limit - 1, 'WITHSCORES')
return {0, math.max(0, limit - count), math.max(1, tonumber(freeing[2]) + window - now)}
`;

// Versioned names: a changed script under a new name never meets an old definition on a
// client another library (or an older copy of this one) set up.
const COMMANDS: Readonly<Record<RateLimitAlgorithm, { name: string; lua: string }>> = {
  'sliding-window': { name: 'fairmindRateLimitWindowV1', lua: SLIDING_WINDOW_SCRIPT },
  'sliding-log': { name: 'fairmindRateLimitLogV1', lua: SLIDING_LOG_SCRIPT },
};

type ScriptReply = [number, number, number];
type ScriptCommand = (key: string, ...args: (string | number)[]) => Promise<ScriptReply>;

/** Options of {@link createRedisStore}. */
export interface RedisRateLimitStoreOptions {
  /**
   * An ioredis 5 client or cluster, which you create, configure and close. A client made
   * with `keyPrefix` has that prefix applied as well.
   */
  client: Redis | Cluster;
  /**
   * Put before every key, so several applications can share one Redis.
   * @default 'fm:rl:'
   */
  prefix?: string | undefined;
  /**
   * @default 'sliding-window'
   */
  algorithm?: RateLimitAlgorithm | undefined;
  /**
   * Where the client's connection state changes go: one warning when Redis becomes
   * unreachable, one line when it is back. The client gets an `'error'` listener either way,
   * so ioredis never prints "Unhandled error event" for it.
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

// The hash tag is the whole logical key, so `}` or `{` inside a client-chosen key must not
// end it early or open another.
function tagged(key: string): string {
  return key.includes('{') || key.includes('}')
    ? key.replaceAll('%', '%25').replaceAll('{', '%7B').replaceAll('}', '%7D')
    : key;
}

/**
 * A rate-limit store in Redis, shared by every instance that uses the same Redis and
 * prefix. Scripts are sent once and then run by SHA (ioredis `defineCommand`: `EVALSHA`,
 * with `EVAL` after a `NOSCRIPT` from a restarted or failed-over server). Keys look like
 * `fm:rl:sw:{default:ip:203.0.113.7}`; on Redis Cluster each decision touches one slot.
 *
 * Give the limiter a timeout rather than the client: the limiter decides what a slow or
 * absent Redis means (its `failure` policy), without waiting on ioredis's reconnect.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const store = createRedisStore({ client: new Redis(process.env.REDIS_URL) });
 * const limiter = createRateLimiter({ store, limit: 1000, windowSeconds: 60 });
 * ```
 */
export function createRedisStore(options: RedisRateLimitStoreOptions): RateLimitStore {
  const factory = 'createRedisStore';
  const opts = optionsObject(factory, options);
  const client = opts.client as (Redis | Cluster) | undefined;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof (client as Partial<Redis>).defineCommand !== 'function'
  ) {
    throw optionError(
      factory,
      'client must be an ioredis 5 Redis or Cluster instance, such as new Redis(process.env.REDIS_URL).',
    );
  }
  if (opts.prefix !== undefined && typeof opts.prefix !== 'string') {
    throw optionError(factory, 'prefix must be a string such as "fm:rl:".');
  }
  const algorithm = oneOfOption(factory, {
    name: 'algorithm',
    value: opts.algorithm,
    allowed: ALGORITHMS,
    fallback: 'sliding-window',
  });
  watchRedisClient(client, { logger: opts.logger ?? silentLogger, name: '@fairmind/edge' });
  const base = `${opts.prefix ?? 'fm:rl:'}${algorithm === 'sliding-log' ? 'log' : 'sw'}:`;
  const { name, lua } = COMMANDS[algorithm];
  const commands = client as unknown as Record<string, ScriptCommand | undefined>;
  if (typeof commands[name] !== 'function') client.defineCommand(name, { numberOfKeys: 1, lua });
  const run = (commands[name] as ScriptCommand).bind(client);
  // Sorted-set members must be unique per unit; Redis time in microseconds plus this
  // process's tag and a counter makes them so without another round trip.
  const tag = Math.random().toString(36).slice(2, 10);
  let sequence = 0;

  return {
    kind: 'redis',
    algorithm,
    consume(key: string, request: StoreRequest): Promise<StoreDecision> {
      const redisKey = `${base}{${tagged(key)}}`;
      const reply =
        algorithm === 'sliding-log'
          ? run(redisKey, request.windowMs, request.limit, request.cost, `${tag}${++sequence}`)
          : run(redisKey, request.windowMs, request.limit, request.cost);
      return reply.then(toDecision);
    },
    async reset(key: string): Promise<void> {
      await client.del(`${base}{${tagged(key)}}`);
    },
  };
}

function toDecision(reply: ScriptReply): StoreDecision {
  return { allowed: reply[0] === 1, remaining: reply[1], retryMs: reply[2] };
}
