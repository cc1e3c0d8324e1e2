import { setTimeout as sleep } from 'node:timers/promises';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../memory-store/index.js';
import { createRedisStore } from '../redis/index.js';
import type { RateLimitStore } from '../store/index.js';
import {
  HEALTHY_STORE_TIMEOUT_MS,
  type ThrowawayRedis,
  throwawayRedis,
  useSharedRedis,
} from '../test-support/index.js';
import { createRateLimiter, type FailurePolicy, type RateLimitResult } from './index.js';

const redis = useSharedRedis();

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let unique = 0;
const key = () => `client${++unique}`;

/** The store, with a count of the calls that reached it. */
function counted(store: RateLimitStore): RateLimitStore & { calls: number } {
  const wrapper = {
    kind: store.kind,
    algorithm: store.algorithm,
    calls: 0,
    consume(k: string, request: Parameters<RateLimitStore['consume']>[1]) {
      wrapper.calls++;
      return store.consume(k, request);
    },
    reset: (k: string) => store.reset(k),
  };
  return wrapper;
}

async function faultyRedis(): Promise<ThrowawayRedis> {
  const redis = await throwawayRedis();
  cleanups.push(() => redis.close());
  return redis;
}

describe('decisions', () => {
  it('reports limit, remaining, reset and policy name', async () => {
    const limiter = createRateLimiter({
      store: createRedisStore({ client: redis.client, prefix: redis.prefix }),
      limit: 5,
      windowSeconds: 60,
      name: 'login',
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    });
    const first = await limiter.consume(key());
    expect(first).toMatchObject({
      allowed: true,
      policy: 'login',
      limit: 5,
      windowSeconds: 60,
      remaining: 4,
      source: 'store',
    });
    expect(first.resetSeconds).toBeGreaterThanOrEqual(1);
    expect(first.resetSeconds).toBeLessThanOrEqual(60);
  });

  it('counts cost units', async () => {
    const limiter = createRateLimiter({ limit: 10, windowSeconds: 60 });
    const id = key();
    expect(limiter.consume(id, 7)).toMatchObject({ allowed: true, remaining: 3 });
    expect(limiter.consume(id, 4)).toMatchObject({ allowed: false });
    expect(() => limiter.consume(id, 0)).toThrow(/cost must be a whole number of at least 1/);
    expect(() => limiter.consume(id, 1.5)).toThrow(/INVALID_COST|cost/);
  });

  it('refuses a key over its limit from the local cache, with no round trip, until it may retry', async () => {
    const store = counted(createRedisStore({ client: redis.client, prefix: redis.prefix }));
    const limiter = createRateLimiter({
      store,
      limit: 2,
      windowSeconds: 1,
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    });
    const id = key();
    await limiter.consume(id);
    await limiter.consume(id);
    const refused = await limiter.consume(id);
    expect(refused).toMatchObject({ allowed: false, source: 'store' });
    expect(store.calls).toBe(3);
    for (let index = 0; index < 100; index++) {
      const again = limiter.consume(id);
      // Synchronous: no promise, no Redis.
      expect(again).not.toBeInstanceOf(Promise);
      expect(again).toMatchObject({ allowed: false, source: 'cache', remaining: 0 });
      expect((again as RateLimitResult).resetSeconds).toBeLessThanOrEqual(refused.resetSeconds);
    }
    expect(store.calls).toBe(3);
    // Other keys still go to the store.
    await limiter.consume(key());
    expect(store.calls).toBe(4);
    // Once the retry time has passed (at most 1.5 s here), the store is asked again.
    for (let poll = 0; poll < 200; poll++) {
      const result = await limiter.consume(id);
      if (result.source !== 'cache') break;
      await sleep(25);
    }
    expect(store.calls).toBe(5);
  });

  it('refuses from the cache only requests at least as dear as the one refused', async () => {
    const store = counted(createRedisStore({ client: redis.client, prefix: redis.prefix }));
    const limiter = createRateLimiter({
      store,
      limit: 10,
      windowSeconds: 60,
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    });
    const id = key();
    await limiter.consume(id, 8);
    expect(await limiter.consume(id, 3)).toMatchObject({
      allowed: false,
      remaining: 2,
      source: 'store',
    });
    expect(limiter.consume(id, 5)).toMatchObject({ allowed: false, remaining: 2, source: 'cache' });
    expect(await limiter.consume(id, 2)).toMatchObject({
      allowed: true,
      remaining: 0,
      source: 'store',
    });
    expect(await limiter.consume(id, 1)).toMatchObject({ allowed: false, source: 'store' });
    expect(limiter.consume(id, 1)).toMatchObject({ allowed: false, source: 'cache' });
    expect(store.calls).toBe(4);
  });

  it('can do without the deny cache', async () => {
    const store = counted(createMemoryStore());
    const limiter = createRateLimiter({ store, limit: 1, windowSeconds: 60, denyCache: false });
    const id = key();
    limiter.consume(id);
    limiter.consume(id);
    expect(limiter.consume(id)).toMatchObject({ allowed: false, source: 'store' });
    expect(store.calls).toBe(3);
  });

  it('forgets a key on reset, cache included', async () => {
    const limiter = createRateLimiter({
      store: createRedisStore({ client: redis.client, prefix: redis.prefix }),
      limit: 1,
      windowSeconds: 60,
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    });
    const id = key();
    await limiter.consume(id);
    await limiter.consume(id);
    expect(limiter.consume(id)).toMatchObject({ source: 'cache' });
    await limiter.reset(id);
    expect(await limiter.consume(id)).toMatchObject({ allowed: true, source: 'store' });
  });

  it('keeps policies apart in one store', async () => {
    const store = createRedisStore({ client: redis.client, prefix: redis.prefix });
    const a = createRateLimiter({
      store,
      limit: 1,
      windowSeconds: 60,
      name: 'a',
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    });
    const b = createRateLimiter({
      store,
      limit: 1,
      windowSeconds: 60,
      name: 'b',
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    });
    const id = key();
    expect((await a.consume(id)).allowed).toBe(true);
    expect((await b.consume(id)).allowed).toBe(true);
    expect((await a.consume(id)).allowed).toBe(false);
  });
});

describe('metrics', () => {
  it('counts decisions by result and source, and store errors by reason', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const limiter = createRateLimiter({ limit: 1, windowSeconds: 60, registry });
    const id = key();
    limiter.consume(id);
    limiter.consume(id);
    limiter.consume(id);
    const text = await registry.metrics();
    expect(text).toContain(
      'fairmind_rate_limit_decisions_total{policy="default",result="allowed",source="store"} 1',
    );
    expect(text).toContain(
      'fairmind_rate_limit_decisions_total{policy="default",result="denied",source="store"} 1',
    );
    expect(text).toContain(
      'fairmind_rate_limit_decisions_total{policy="default",result="denied",source="cache"} 1',
    );
    expect(text).toContain('# TYPE fairmind_rate_limit_store_errors_total counter');
  });
});

describe('with Redis killed', () => {
  const expectations: Record<FailurePolicy, (result: RateLimitResult, index: number) => void> = {
    open: (result) => expect(result).toMatchObject({ allowed: true, source: 'open' }),
    closed: (result) => expect(result).toMatchObject({ allowed: false, source: 'closed' }),
    // An in-memory limiter takes over: its own 5 per window, then refusals.
    local: (result, index) => expect(result).toMatchObject({ allowed: index < 5, source: 'local' }),
  };

  it.each<FailurePolicy>(['open', 'closed', 'local'])(
    "'%s': every decision settles by the failure policy",
    async (failure) => {
      const { server, client: own } = await faultyRedis();
      const registry = createMetricsRegistry({ defaultMetrics: false });
      const timeoutMs = 100;
      const limiter = createRateLimiter({
        store: createRedisStore({ client: own }),
        limit: 5,
        windowSeconds: 60,
        failure,
        timeoutMs,
        breaker: { failureThreshold: 3, cooldownMs: 60_000 },
        registry,
      });
      expect(await limiter.consume('warm')).toMatchObject({ allowed: true, source: 'store' });
      await server.kill();
      const durations: number[] = [];
      for (let index = 0; index < 10; index++) {
        const started = performance.now();
        const result = await limiter.consume('client');
        durations.push(Math.round(performance.now() - started));
        expectations[failure](result, index);
      }
      // Reported, not asserted: wall-clock upper bounds are load-dependent; the exact deadline
      // is proven with a controlled clock below.
      console.log(`[edge] '${failure}' decisions with Redis killed (ms):`, durations.join(' '));
      expect(limiter.circuit).toBe('open');
      const text = await registry.metrics();
      expect(text).toMatch(
        /fairmind_rate_limit_store_errors_total\{policy="default",reason="(timeout|error)"\} [1-9]/,
      );
      expect(text).toContain(
        'fairmind_rate_limit_store_errors_total{policy="default",reason="circuit_open"} 7',
      );
    },
  );

  it('settles a decision exactly at its timeout while Redis does not answer', async () => {
    const { server, client: own } = await faultyRedis();
    const timeoutMs = 150;
    const limiter = createRateLimiter({
      store: createRedisStore({ client: own }),
      limit: 5,
      windowSeconds: 60,
      failure: 'closed',
      timeoutMs,
    });
    expect(await limiter.consume('warm')).toMatchObject({ source: 'store' });
    await server.kill();
    // Let ioredis see the closed socket, then take the clock over: what follows depends on
    // the limiter's deadline alone, not on how busy the machine is.
    for (let poll = 0; poll < 200 && own.status === 'ready'; poll++) await sleep(5);
    // The warm-up call's deadline timer is a real one; let it run out first.
    await sleep(timeoutMs * 2);
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    });
    let settled: RateLimitResult | undefined;
    void Promise.resolve(limiter.consume('client')).then((result) => {
      settled = result;
    });
    await vi.advanceTimersByTimeAsync(timeoutMs - 1);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toMatchObject({ allowed: false, source: 'closed' });
  });

  it('answers at once while the circuit is open, and returns to Redis when it is back', async () => {
    const { server, client: own } = await faultyRedis();
    const limiter = createRateLimiter({
      store: createRedisStore({ client: own }),
      limit: 5,
      windowSeconds: 60,
      failure: 'open',
      timeoutMs: 100,
      breaker: { failureThreshold: 2, cooldownMs: 300 },
    });
    await limiter.consume('client');
    await server.kill();
    await limiter.consume('client');
    await limiter.consume('client');
    expect(limiter.circuit).toBe('open');
    const immediate = limiter.consume('client');
    expect(immediate).not.toBeInstanceOf(Promise);
    expect(immediate).toMatchObject({ allowed: true, source: 'open' });

    await server.restart();
    // ioredis reconnects on its own; the breaker lets a trial call through after its cooldown.
    let result: RateLimitResult | undefined;
    for (let poll = 0; poll < 200; poll++) {
      result = await limiter.consume('client');
      if (result.source === 'store') break;
      await sleep(25);
    }
    expect(result).toMatchObject({ allowed: true, source: 'store' });
    expect(limiter.circuit).toBe('closed');
  });
});

describe('options', () => {
  it('refuses bad options by name', () => {
    expect(() => createRateLimiter({ limit: 0 })).toThrow(
      /limit must be a whole number of at least 1/,
    );
    expect(() => createRateLimiter({ windowSeconds: 1.5 })).toThrow(/windowSeconds/);
    expect(() => createRateLimiter({ name: 'my policy' })).toThrow(/name must be 1-64 letters/);
    expect(() => createRateLimiter({ failure: 'maybe' as 'open' })).toThrow(
      /failure must be one of 'open', 'closed', 'local'/,
    );
    expect(() => createRateLimiter({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createRateLimiter({ store: {} as RateLimitStore })).toThrow(
      /store must be a rate-limit store/,
    );
    expect(() => createRateLimiter({ breaker: 'yes' as never })).toThrow(/breaker must be/);
    expect(() => createRateLimiter({ denyCache: 'yes' as never })).toThrow(/denyCache must be/);
    expect(() => createRateLimiter({ denyCache: { maxKeys: 0 } })).toThrow(/denyCache.maxKeys/);
  });

  it('defaults to 1000 per 60 s in memory', () => {
    const limiter = createRateLimiter();
    expect([limiter.limit, limiter.windowSeconds, limiter.name, limiter.store.kind]).toEqual([
      1000,
      60,
      'default',
      'memory',
    ]);
    expect(limiter.circuit).toBe('closed');
  });
});
