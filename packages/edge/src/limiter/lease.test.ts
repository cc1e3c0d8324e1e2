import { setTimeout as sleep } from 'node:timers/promises';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../memory-store/index.js';
import { createRedisStore } from '../redis/index.js';
import type { RateLimitStore, StoreDecision, StoreRequest } from '../store/index.js';
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

/** A store whose answers the test gives, one call at a time, in the order they were asked. */
function heldStore(): RateLimitStore & {
  asked: number[];
  answer(decision: StoreDecision): void;
  fail(error: Error): void;
} {
  const waiting: Array<{ resolve(decision: StoreDecision): void; reject(error: Error): void }> = [];
  const next = () => {
    const call = waiting.shift();
    if (call === undefined) throw new Error('no store call is waiting for an answer');
    return call;
  };
  // The clock stands still unless the test moves it: how long the store takes, and the pace
  // of the requests, are the test's to say.
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ['performance'] });
  const store = {
    kind: 'held',
    algorithm: 'sliding-window' as const,
    asked: [] as number[],
    consume(_key: string, request: StoreRequest) {
      store.asked.push(request.cost);
      return new Promise<StoreDecision>((resolve, reject) => waiting.push({ resolve, reject }));
    },
    reset: () => undefined,
    answer: (decision: StoreDecision) => next().resolve(decision),
    fail: (error: Error) => next().reject(error),
  };
  return store;
}

/** Reservations of 1 and 2, each asked for by a request that found no units: 1 unit in hand. */
async function reservedTwice(
  limiter: ReturnType<typeof createRateLimiter>,
  store: ReturnType<typeof heldStore>,
  id: string,
): Promise<void> {
  for (const remaining of [99, 97]) {
    const pending = limiter.consume(id);
    store.answer({ allowed: true, remaining, retryMs: 60_000 });
    await pending;
  }
  expect(store.asked).toEqual([1, 2]);
}

/**
 * {@link reservedTwice}, then a renewal of 4 asked for when the third request spent the last
 * unit, answered: 4 units in hand.
 */
async function renewedOnce(
  limiter: ReturnType<typeof createRateLimiter>,
  store: ReturnType<typeof heldStore>,
  id: string,
): Promise<void> {
  await reservedTwice(limiter, store, id);
  expect((await limiter.consume(id)).source).toBe('lease');
  expect(store.asked).toEqual([1, 2, 4]);
  store.answer({ allowed: true, remaining: 93, retryMs: 60_000 });
  await sleep(0);
}

/**
 * A leased limiter on a {@link heldStore} after {@link renewedOnce} and two more requests: of
 * the renewal's 4 units the second spent leaves half, so a renewal of 8 is in flight, with
 * 2 units in hand.
 */
async function renewalInFlight(options: RateLimiterOptions = {}) {
  const store = heldStore();
  const limiter = leased(store, options);
  const id = key();
  await renewedOnce(limiter, store, id);
  expect((await limiter.consume(id)).source).toBe('lease');
  expect(store.asked).toEqual([1, 2, 4]);
  expect((await limiter.consume(id)).source).toBe('lease');
  expect(store.asked).toEqual([1, 2, 4, 8]);
  return { store, limiter, id };
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
  afterEach(() => {
    vi.useRealTimers();
  });

  it('asks the store once per reservation, doubling while the key keeps using them up', async () => {
    const store = counted();
    const registry = createMetricsRegistry();
    const limiter = leased(store, { registry });
    const results = await consumeInTurn(limiter, key(), 200);
    expect(results.every((result) => result.allowed)).toBe(true);
    // 1 + 2 + 4 + 8 + 16 + 32 = 63, then reservations of maxUnits. From the third on, each is
    // a renewal asked for when the lease before it was half spent: the last one is in hand
    // before the 200th request.
    expect(store.asked).toEqual([1, 2, 4, 8, 16, 32, 50, 50, 50, 50]);
    // What the key has left counts down by one per request, reserved units included.
    expect(results.map((result) => result.remaining)).toEqual(
      Array.from({ length: 200 }, (_, index) => 10_000 - 1 - index),
    );
    // Only the first two requests waited for the store: the renewals came before the units ran out.
    expect(results.map((result) => result.source).slice(0, 3)).toEqual(['store', 'store', 'lease']);
    expect(results.filter((result) => result.source === 'lease')).toHaveLength(200 - 2);
    const metrics = await registry.metrics();
    expect(metrics).toContain(
      'fairmind_rate_limit_decisions_total{policy="default",result="allowed",source="lease"} 198',
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
    const store = heldStore();
    const limiter = leased(store);
    const id = key();
    const first = limiter.consume(id);
    store.answer({ allowed: true, remaining: 99, retryMs: 60_000 });
    expect((await first).source).toBe('store');
    // In flight: a reservation of 2, one of them this request's. The key is reset before the
    // store answers, with the count from before the reset.
    const second = limiter.consume(id);
    expect(store.asked).toEqual([1, 2]);
    const reset = limiter.reset(id);
    store.answer({ allowed: true, remaining: 97, retryMs: 60_000 });
    await Promise.all([second, reset]);
    // The spare unit was counted before the reset: the next request asks the store.
    const third = limiter.consume(id);
    expect(store.asked).toEqual([1, 2, 1]);
    store.answer({ allowed: true, remaining: 99, retryMs: 60_000 });
    expect((await third).source).toBe('store');
  });

  it('adds nothing to a key reset while its renewal was in flight', async () => {
    const { store, limiter, id } = await renewalInFlight();
    await limiter.reset(id);
    store.answer({ allowed: true, remaining: 85, retryMs: 60_000 });
    await sleep(0);
    // The lease and its renewal are gone with the reset: the next request asks the store.
    const next = limiter.consume(id);
    expect(store.asked).toEqual([1, 2, 4, 8, 1]);
    store.answer({ allowed: true, remaining: 99, retryMs: 60_000 });
    expect((await next).source).toBe('store');
  });

  it('keeps the units it has when the store refuses a renewal', async () => {
    const { store, limiter, id } = await renewalInFlight();
    store.answer({ allowed: false, remaining: 0, retryMs: 30_000 });
    await sleep(0);
    // The two units left were counted before the refusal: they are handed out.
    expect((await limiter.consume(id)).source).toBe('lease');
    expect((await limiter.consume(id)).source).toBe('lease');
    expect(store.asked).toEqual([1, 2, 4, 8]);
    // Then a request asks for itself alone, as after any refusal.
    const next = limiter.consume(id);
    expect(store.asked).toEqual([1, 2, 4, 8, 1]);
    store.answer({ allowed: false, remaining: 0, retryMs: 30_000 });
    expect(await next).toMatchObject({ allowed: false, source: 'store' });
  });

  it('counts a failed renewal as a failed store call and hands out what is left', async () => {
    const registry = createMetricsRegistry();
    const { store, limiter, id } = await renewalInFlight({ registry });
    store.fail(new Error('store down'));
    await sleep(0);
    expect(await registry.metrics()).toContain(
      'fairmind_rate_limit_store_errors_total{policy="default",reason="error"} 1',
    );
    expect((await limiter.consume(id)).source).toBe('lease');
    // The last unit spent asks for a renewal again; a request that finds none waits for it.
    expect((await limiter.consume(id)).source).toBe('lease');
    expect(store.asked).toEqual([1, 2, 4, 8, 8]);
    const next = limiter.consume(id);
    store.answer({ allowed: true, remaining: 80, retryMs: 60_000 });
    expect(await next).toMatchObject({ allowed: true, source: 'lease', remaining: 87 });
  });

  it('renews only at a pace that spends the lease before it expires, and sizes it to that pace', async () => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] });
    const store = heldStore();
    const limiter = leased(store, { lease: { maxUnits: 50, maxMs: 1000 } });
    const id = key();
    await reservedTwice(limiter, store, id);
    // The last unit, 900 ms into a lease of 1000: at that pace the next request comes after
    // it expires, so nothing is renewed.
    vi.advanceTimersByTime(900);
    expect((await limiter.consume(id)).source).toBe('lease');
    expect(store.asked).toEqual([1, 2]);
    // The next request asks for what the last lease saw spent: 2 units.
    vi.advanceTimersByTime(200);
    const next = limiter.consume(id);
    expect(store.asked).toEqual([1, 2, 2]);
    store.answer({ allowed: true, remaining: 95, retryMs: 60_000 });
    await next;
    // Its spare unit, 400 ms later: 2 units in 400 ms is 5 per lease of 1000 ms, more than
    // doubling's 4, so the renewal is 4.
    vi.advanceTimersByTime(400);
    expect((await limiter.consume(id)).source).toBe('lease');
    expect(store.asked).toEqual([1, 2, 2, 4]);
    store.answer({ allowed: true, remaining: 91, retryMs: 60_000 });
    await sleep(0);
    // 2 of its 4 in 300 ms: 7 per lease, so the renewal is 7 rather than doubling's 8.
    vi.advanceTimersByTime(300);
    expect((await limiter.consume(id)).source).toBe('lease');
    expect((await limiter.consume(id)).source).toBe('lease');
    expect(store.asked).toEqual([1, 2, 2, 4, 7]);
  });

  it('asks for the next lease sooner when the store is slow to answer', async () => {
    const store = heldStore();
    const limiter = leased(store);
    const id = key();
    await reservedTwice(limiter, store, id);
    // The renewal of 4 takes 10 ms to come back.
    expect((await limiter.consume(id)).source).toBe('lease');
    vi.advanceTimersByTime(10);
    store.answer({ allowed: true, remaining: 93, retryMs: 60_000 });
    await sleep(0);
    // A millisecond later one unit is spent: at that pace the other 3 last less than two
    // round trips, so the next is asked for now, not once half is spent as renewedOnce shows.
    vi.advanceTimersByTime(1);
    expect((await limiter.consume(id)).source).toBe('lease');
    expect(store.asked).toEqual([1, 2, 4, 8]);
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
    // The 16 is the renewal asked for when the 8 were half spent.
    expect(asked).toEqual([1, 2, 4, 8, 16]);
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
