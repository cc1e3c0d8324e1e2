import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '@fairmind/core';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../memory-store/index.js';
import type { RateLimitAlgorithm, StoreDecision } from '../store/index.js';
import { throwawayRedis, useSharedRedis } from '../test-support/index.js';
import { createRedisStore } from './index.js';

const redis = useSharedRedis();

let unique = 0;
const key = () => `key${++unique}`;

/** Every key under `prefix`, on each master when the shared Redis is a cluster. */
async function keysUnder(prefix: string): Promise<string[]> {
  const client = redis.client;
  const servers = client instanceof Cluster ? client.nodes('master') : [client];
  const found: string[] = [];
  for (const server of servers) {
    let cursor = '0';
    for (let round = 0; round < 1_000; round++) {
      const [next, keys] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      found.push(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  }
  return found;
}

/** Redis's own clock in ms, the one the scripts use. */
async function redisNow(): Promise<number> {
  const [seconds, micros] = await redis.client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

describe('keys', () => {
  it.each<RateLimitAlgorithm>(['sliding-window', 'sliding-log'])(
    '%s: one hash-tagged key per logical key, always with a TTL within the window',
    async (algorithm) => {
      const prefix = `${redis.prefix}ttl-${algorithm}:`;
      const store = createRedisStore({ client: redis.client, prefix, algorithm });
      const ids = [key(), key(), `user:{odd}${key()}`];
      for (const id of ids) {
        for (let index = 0; index < 3; index++) {
          await store.consume(id, { limit: 2, windowMs: 10_000, cost: 1 });
        }
      }
      const keys = await keysUnder(prefix);
      expect(keys).toHaveLength(3);
      for (const redisKey of keys) {
        // Exactly one {hash tag}, around the whole logical key.
        expect(redisKey).toMatch(/^[^{}]*\{[^{}]+\}$/);
        const ttl = await redis.client.pttl(redisKey);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(algorithm === 'sliding-log' ? 10_000 : 20_000);
      }
    },
  );

  it('applies the prefix and the algorithm to the key name', async () => {
    const store = createRedisStore({ client: redis.client, prefix: `${redis.prefix}named:` });
    await store.consume('default:ip:203.0.113.7', { limit: 5, windowMs: 60_000, cost: 1 });
    expect(await keysUnder(`${redis.prefix}named:`)).toEqual([
      `${redis.prefix}named:sw:{default:ip:203.0.113.7}`,
    ]);
  });
});

describe('agreement with the memory store', () => {
  it.each<RateLimitAlgorithm>(['sliding-window', 'sliding-log'])(
    '%s: the same answers for the same sequence within a window',
    async (algorithm) => {
      // A window of 30 days: a fresh key and a sequence of milliseconds never meet a boundary
      // that would make the two clocks matter.
      const request = { limit: 25, windowMs: 30 * 86_400_000 };
      const redisStore = createRedisStore({
        client: redis.client,
        prefix: `${redis.prefix}agree:`,
        algorithm,
      });
      const memoryStore = createMemoryStore({ algorithm });
      const id = key();
      let seed = 3;
      for (let step = 0; step < 40; step++) {
        seed = (seed * 48271) % 2147483647;
        const cost = 1 + (seed % 4);
        const fromRedis = await redisStore.consume(id, { ...request, cost });
        const fromMemory = memoryStore.consume(id, { ...request, cost }) as StoreDecision;
        expect([fromRedis.allowed, fromRedis.remaining], `step ${step}`).toEqual([
          fromMemory.allowed,
          fromMemory.remaining,
        ]);
      }
    },
  );
});

describe('window boundary on Redis time', () => {
  it.each<RateLimitAlgorithm>(['sliding-window', 'sliding-log'])(
    '%s: a burst on each side of a boundary does not get twice the limit',
    async (algorithm) => {
      const windowMs = 4_000;
      const store = createRedisStore({
        client: redis.client,
        prefix: `${redis.prefix}edge:`,
        algorithm,
      });
      const id = key();
      const burst = async () =>
        (
          await Promise.all(
            Array.from({ length: 10 }, () => store.consume(id, { limit: 5, windowMs, cost: 1 })),
          )
        ).filter((d) => d.allowed).length;
      // Late in a window (bounded wait: at most one window).
      for (let poll = 0; poll < 200 && (await redisNow()) % windowMs < 3_000; poll++)
        await sleep(20);
      const before = await burst();
      // Just after the next boundary.
      for (let poll = 0; poll < 200 && (await redisNow()) % windowMs > 3_000; poll++)
        await sleep(20);
      const after = await burst();
      const elapsed = (await redisNow()) % windowMs;
      expect(before).toBe(5);
      if (algorithm === 'sliding-log') {
        expect(after).toBe(0);
      } else {
        // The counter lets the previous window's share fade linearly: right after the
        // boundary nothing fits, and at most elapsed/window of the limit by the time the
        // burst ended (a loaded machine may get there late).
        expect(after).toBeLessThanOrEqual(Math.floor((5 * elapsed) / windowMs));
      }
      expect(before + after).toBeLessThan(10);
    },
  );
});

describe('scripts', () => {
  it('runs by SHA and reloads itself after SCRIPT FLUSH (NOSCRIPT)', async () => {
    const { client: own, close } = await throwawayRedis();
    try {
      const store = createRedisStore({ client: own });
      const request = { limit: 3, windowMs: 60_000, cost: 1 };
      expect(await store.consume('a', request)).toMatchObject({ allowed: true, remaining: 2 });
      expect(await store.consume('a', request)).toMatchObject({ remaining: 1 });
      await own.script('FLUSH');
      expect(await store.consume('a', request)).toMatchObject({ allowed: true, remaining: 0 });
      const stats = await own.info('commandstats');
      // The first call loaded the script, later calls used EVALSHA; one more EVAL after FLUSH.
      expect(stats).toMatch(/cmdstat_evalsha:calls=\d+/);
      expect(Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0)).toBeLessThanOrEqual(2);
    } finally {
      await close();
    }
  });

  it('defines its command once per client, however many stores share it', () => {
    const first = createRedisStore({ client: redis.client, prefix: `${redis.prefix}a:` });
    const second = createRedisStore({ client: redis.client, prefix: `${redis.prefix}b:` });
    expect(first.kind).toBe('redis');
    expect(second.algorithm).toBe('sliding-window');
    expect(
      typeof (redis.client as unknown as Record<string, unknown>)['fairmindRateLimitWindowV1'],
    ).toBe('function');
  });

  it("gives the client it is given an 'error' listener, and logs once per connection change", () => {
    const warnings: string[] = [];
    const logger = {
      ...silentLogger,
      warn: (_obj: object, msg?: string) => warnings.push(msg ?? ''),
    };
    const client = new Redis({ lazyConnect: true });
    expect(client.listenerCount('error')).toBe(0);
    createRedisStore({ client, logger });
    expect(client.listenerCount('error')).toBe(1);
    client.emit('error', new Error('ECONNREFUSED'));
    client.emit('error', new Error('ECONNREFUSED'));
    expect(warnings).toEqual([expect.stringContaining('[@fairmind/edge] Redis connection failed')]);
    client.disconnect();
  });

  it('refuses bad options by name', () => {
    expect(() => createRedisStore({} as never)).toThrow(
      /client must be an ioredis 5 Redis or Cluster/,
    );
    expect(() => createRedisStore({ client: { get() {} } as never })).toThrow(/client must be/);
    expect(() =>
      createRedisStore({ client: redis.client, prefix: 5 as unknown as string }),
    ).toThrow(/prefix must be a string/);
    expect(() =>
      createRedisStore({ client: redis.client, algorithm: 'token-bucket' as 'sliding-log' }),
    ).toThrow(/algorithm must be one of/);
  });
});
