// One suite, every store: the memory store and the Redis store must decide alike, since the
// memory store is what the limiter falls back to when Redis fails.
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../memory-store/index.js';
import { createRedisStore } from '../redis/index.js';
import { useSharedRedis } from '../test-support/index.js';
import type { RateLimitAlgorithm, RateLimitStore, StoreDecision } from './index.js';

const redis = useSharedRedis();

let unique = 0;
const key = () => `k${++unique}`;

const stores: Array<[string, RateLimitAlgorithm, () => RateLimitStore]> = [
  ['memory', 'sliding-window', () => createMemoryStore()],
  ['memory', 'sliding-log', () => createMemoryStore({ algorithm: 'sliding-log' })],
  [
    'redis',
    'sliding-window',
    () => createRedisStore({ client: redis.client, prefix: `${redis.prefix}conf:` }),
  ],
  [
    'redis',
    'sliding-log',
    () =>
      createRedisStore({
        client: redis.client,
        prefix: `${redis.prefix}conf:`,
        algorithm: 'sliding-log',
      }),
  ],
];

describe.each(stores)('%s store, %s', (_kind, algorithm, make) => {
  const request = { limit: 5, windowMs: 60_000, cost: 1 };

  it('allows the limit, counts down, then refuses with a retry time within the window', async () => {
    const store = make();
    expect(store.algorithm).toBe(algorithm);
    const id = key();
    const decisions: StoreDecision[] = [];
    for (let index = 0; index < 7; index++) decisions.push(await store.consume(id, request));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    for (const decision of decisions) {
      expect(decision.retryMs).toBeGreaterThan(0);
      expect(decision.retryMs).toBeLessThanOrEqual(120_000);
    }
  });

  it('charges the cost of each request and refuses what does not fit', async () => {
    const store = make();
    const id = key();
    const take = (cost: number) => store.consume(id, { limit: 10, windowMs: 60_000, cost });
    expect(await take(4)).toMatchObject({ allowed: true, remaining: 6 });
    expect(await take(4)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await take(4)).toMatchObject({ allowed: false, remaining: 2 });
    expect(await take(2)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await take(11)).toMatchObject({ allowed: false });
  });

  it('keeps keys apart and forgets a key on reset', async () => {
    const store = make();
    const [a, b] = [key(), key()];
    for (let index = 0; index < 5; index++) await store.consume(a, request);
    expect((await store.consume(a, request)).allowed).toBe(false);
    expect((await store.consume(b, request)).allowed).toBe(true);
    await store.reset(a);
    expect(await store.consume(a, request)).toMatchObject({ allowed: true, remaining: 4 });
  });

  it('decides atomically under 50 parallel requests: exactly the limit passes', async () => {
    const store = make();
    const id = key();
    const decisions = await Promise.all(
      Array.from({ length: 50 }, () => store.consume(id, request)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
  });

  it('handles keys with braces and other odd characters', async () => {
    const store = make();
    const odd = `{user}:${key()}:}{%7B`;
    expect(await store.consume(odd, request)).toMatchObject({ allowed: true, remaining: 4 });
    expect(await store.consume(odd, request)).toMatchObject({ allowed: true, remaining: 3 });
    await store.reset(odd);
    expect(await store.consume(odd, request)).toMatchObject({ remaining: 4 });
  });
});
