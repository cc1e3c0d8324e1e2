import { setTimeout as sleep } from 'node:timers/promises';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../memory-store/index.js';
import { createRedisStore } from '../redis/index.js';
import type { RateLimitStore, StoreRequest } from '../store/index.js';
import { HEALTHY_STORE_TIMEOUT_MS, useSharedRedis } from '../test-support/index.js';
import { createRateLimiter, type RateLimiterOptions, type RateLimitResult } from './index.js';

const redis = useSharedRedis();

let unique = 0;
const key = () => `leased${++unique}`;

/** The Redis store, with the units of every call that reached it. */
function counted(): RateLimitStore & { asked: number[] } {
  const store = createRedisStore({ client: redis.client, prefix: redis.prefix });
  const wrapper = {
    kind: store.kind,
    algorithm: store.algorithm,
    asked: [] as number[],
    consume(k: string, request: StoreRequest) {
      wrapper.asked.push(request.cost);
      return store.consume(k, request);
    },
    reset: (k: string) => store.reset(k),
  };
  return wrapper;
}

function leased(store: RateLimitStore, options: RateLimiterOptions = {}) {
  return createRateLimiter({
    store,
    limit: 10_000,
    windowSeconds: 60,
    timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
    lease: { maxUnits: 50, maxMs: 60_000 },
    ...options,
  });
}

async function consumeInTurn(
  limiter: ReturnType<typeof createRateLimiter>,
  id: string,
  count: number,
): Promise<RateLimitResult[]> {
  const results: RateLimitResult[] = [];
  for (let index = 0; index < count; index++) results.push(await limiter.consume(id));
  return results;
}

describe('leases', () => {
  it('asks the store once per reservation, doubling while the key keeps using them up', async () => {
    const store = counted();
    const registry = createMetricsRegistry();
    const limiter = leased(store, { registry });
    const results = await consumeInTurn(limiter, key(), 200);
    expect(results.every((result) => result.allowed)).toBe(true);
    // 1 + 2 + 4 + 8 + 16 + 32 = 63, then reservations of maxUnits.
    expect(store.asked).toEqual([1, 2, 4, 8, 16, 32, 50, 50, 50]);
    // What the key has left counts down by one per request, reserved units included.
    expect(results.map((result) => result.remaining)).toEqual(
      Array.from({ length: 200 }, (_, index) => 10_000 - 1 - index),
    );
    expect(results.filter((result) => result.source === 'lease')).toHaveLength(200 - 9);
    const metrics = await registry.metrics();
    expect(metrics).toContain(
      'fairmind_rate_limit_decisions_total{policy="default",result="allowed",source="lease"} 191',
    );
  });

  it('never lets instances sharing a count admit more than the limit, and reaches it', async () => {
    const store = counted();
    const instances = [leased(store, { limit: 100 }), leased(store, { limit: 100 })];
    const id = key();
    let allowed = 0;
    for (let index = 0; index < 300; index++) {
      const result = await (instances[index % 2] as (typeof instances)[0]).consume(id);
      if (result.allowed) allowed++;
    }
    // Each reservation takes at most an eighth of what is left, and both instances spend
    // what they hold, so no unit is stranded.
    expect(allowed).toBe(100);
  });

  it('asks for a single unit near the limit, so the count there is exact', async () => {
    const store = counted();
    const limiter = leased(store, { limit: 10 });
    const results = await consumeInTurn(limiter, key(), 12);
    expect(results.map((result) => result.allowed)).toEqual([
      ...Array.from({ length: 10 }, () => true),
      false,
      false,
    ]);
    expect(results.slice(0, 10).map((result) => result.remaining)).toEqual([
      9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    ]);
    // remaining / 8 is below 2 from the start: every call asks for one unit.
    expect(store.asked.every((units) => units === 1)).toBe(true);
  });

  it('makes concurrent requests of one key wait for a reservation with room for them', async () => {
    const store = counted();
    const limiter = leased(store);
    const id = key();
    // Reservations of 1 and 2: the third request spends the last unit, the next asks for 4.
    await consumeInTurn(limiter, id, 3);
    const burst = await Promise.all(Array.from({ length: 20 }, () => limiter.consume(id)));
    expect(burst.every((result) => result.allowed)).toBe(true);
    // 4 (3 join it), then 8 while it is out (7 join), then 16 (5 join): 20 in three calls.
    expect(store.asked).toEqual([1, 2, 4, 8, 16]);
    expect(new Set(burst.map((result) => result.remaining)).size).toBe(20);
  });

  it('never queues a request behind a reservation that has no room for it', async () => {
    let calls = 0;
    const hanging: RateLimitStore = {
      kind: 'hanging',
      algorithm: 'sliding-window',
      consume: () => {
        calls++;
        return new Promise<never>(() => {});
      },
      reset: () => undefined,
    };
    const limiter = createRateLimiter({
      store: hanging,
      failure: 'open',
      breaker: false,
      timeoutMs: 30,
      lease: true,
    });
    const pending = Array.from({ length: 10 }, () => limiter.consume('k'));
    // Every request that could not join asked at once; those that joined wait for one call.
    const askedAtOnce = calls;
    const results = await Promise.all(pending);
    expect(results.map((result) => result.source)).toEqual(Array(10).fill('open'));
    expect(calls).toBe(askedAtOnce);
  });

  it('adds nothing to a key reset while its reservation was in flight', async () => {
    const store = counted();
    const limiter = leased(store, { limit: 40 });
    const id = key();
    await consumeInTurn(limiter, id, 7);
    // In flight: a reservation of 8. Then the key is reset and asked for again at once.
    const before = limiter.consume(id);
    const reset = limiter.reset(id);
    const after = limiter.consume(id);
    await Promise.all([before, reset]);
    const results = [await after, ...(await consumeInTurn(limiter, id, 60))];
    // The reset emptied the count after the reservation was made: 40 is all it has.
    expect(results.filter((result) => result.allowed)).toHaveLength(40);
  });

  it('copes with a store whose answer calls back at once', async () => {
    const asked: number[] = [];
    let used = 0;
    const eager: RateLimitStore = {
      kind: 'eager',
      algorithm: 'sliding-window',
      consume: (_key, request) => {
        asked.push(request.cost);
        used += request.cost;
        const decision = { allowed: true, remaining: 10_000 - used, retryMs: 60_000 };
        // A thenable on purpose: it calls back inside then(), before the call returns.
        // biome-ignore lint/suspicious/noThenProperty: the store under test is such a thenable
        return { then: (resolve: (value: typeof decision) => void) => resolve(decision) } as never;
      },
      reset: () => undefined,
    };
    const limiter = leased(eager);
    const results = await consumeInTurn(limiter, key(), 15);
    expect(results.every((result) => result.allowed)).toBe(true);
    expect(asked).toEqual([1, 2, 4, 8]);
  });

  it('does not lease with the sliding log, which stamps each unit when counted', async () => {
    const store = createRedisStore({
      client: redis.client,
      prefix: redis.prefix,
      algorithm: 'sliding-log',
    });
    const limiter = leased(store, { limit: 100 });
    const results = await consumeInTurn(limiter, key(), 5);
    expect(results.map((result) => result.source)).toEqual(Array(5).fill('store'));
  });

  it('stops spending units past maxMs, and sizes the next reservation to what was spent', async () => {
    const store = counted();
    const limiter = leased(store, { lease: { maxUnits: 50, maxMs: 30 } });
    const id = key();
    await consumeInTurn(limiter, id, 4);
    expect(store.asked).toEqual([1, 2, 4]);
    await sleep(60);
    const after = await limiter.consume(id);
    // The 3 units reserved with the last call and not spent are lost, not handed out late.
    expect(after).toMatchObject({ allowed: true, source: 'store', remaining: 10_000 - 8 });
    expect(store.asked).toEqual([1, 2, 4, 1]);
  });

  it('forgets the reservation on reset', async () => {
    const store = counted();
    const limiter = leased(store);
    const id = key();
    await consumeInTurn(limiter, id, 5);
    await limiter.reset(id);
    const result = await limiter.consume(id);
    expect(result).toMatchObject({ source: 'store', remaining: 10_000 - 1 });
  });

  it('lets waiters through the failure policy when the reservation fails', async () => {
    const failing: RateLimitStore = {
      kind: 'failing',
      algorithm: 'sliding-window',
      consume: () =>
        sleep(5).then(() => {
          throw new Error('store down');
        }),
      reset: () => undefined,
    };
    const limiter = createRateLimiter({
      store: failing,
      failure: 'open',
      breaker: false,
      lease: true,
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => limiter.consume('k')));
    expect(results.map((result) => result.source)).toEqual(Array(5).fill('open'));
  });

  it('never leases from the memory store, which answers in the process', () => {
    const limiter = createRateLimiter({ store: createMemoryStore(), limit: 3, lease: true });
    const id = key();
    const results = [1, 2, 3, 4].map(() => limiter.consume(id) as RateLimitResult);
    expect(results.map((result) => [result.allowed, result.source])).toEqual([
      [true, 'store'],
      [true, 'store'],
      [true, 'store'],
      [false, 'store'],
    ]);
  });

  it('refuses bad lease options by name', () => {
    expect(() => createRateLimiter({ lease: 'yes' as never })).toThrow(
      /lease must be true, false or \{ maxUnits, maxMs, maxKeys \}/,
    );
    expect(() => createRateLimiter({ lease: { maxUnits: 0 } })).toThrow(/lease\.maxUnits/);
    expect(() => createRateLimiter({ lease: { maxMs: 0 } })).toThrow(/lease\.maxMs/);
    expect(() => createRateLimiter({ lease: { maxKeys: 1.5 } })).toThrow(/lease\.maxKeys/);
  });
});
