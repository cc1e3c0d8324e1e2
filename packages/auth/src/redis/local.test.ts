import { setTimeout as sleep } from 'node:timers/promises';
import { useTestRedis } from '@fairmind/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createMemoryRevocationStore,
  type DurableRevocationStore,
  isPromise,
  type RevocationQuery,
  type RevocationStore,
} from '../revocation/index.js';
import { createLayeredRevocationStore } from '../revocation/layered.js';
import { createRedisRevocationStore } from './index.js';

const redis = useTestRedis();
let client: Redis;

beforeAll(() => {
  client = redis.connect() as Redis;
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => {
  client.disconnect();
});

const STALE_MS = 40;
let unique = 0;

function query(): RevocationQuery {
  unique++;
  return { jti: `jti-${unique}`, sub: `user-${unique}`, iat: Math.floor(Date.now() / 1000) };
}

/**
 * One instance's store, with its own prefix per test so counters never meet. A test that
 * must not see the counter read again mid-way gives it a long staleMs.
 */
function instance(prefix: string, staleMs = STALE_MS, maxAgeMs = 60_000): RevocationStore {
  return createRedisRevocationStore({ client, prefix, local: { staleMs, maxAgeMs } });
}

/**
 * Checks until the store answers from memory (synchronously): the first check starts the
 * counter's read, and an answer is kept once it is known. Bounded.
 */
async function kept(store: RevocationStore, q: RevocationQuery): Promise<unknown> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const answer = store.check(q);
    if (!isPromise(answer)) return answer;
    await answer;
    await sleep(2);
  }
  throw new Error('the answer was never kept');
}

/** Checks every 5 ms, at most 200 times, until `expected` is the answer. */
async function eventually(store: RevocationStore, q: RevocationQuery, expected: unknown) {
  let answer: unknown;
  for (let attempt = 0; attempt < 200; attempt++) {
    answer = await store.check(q);
    if (answer === expected) return;
    await sleep(5);
  }
  expect(answer).toBe(expected);
}

describe('Redis revocation store with local answers', () => {
  it('answers a token checked again from memory, with no round trip', async () => {
    const store = instance(`${redis.prefix}a:`, 60_000);
    const q = query();
    expect(await kept(store, q)).toBeNull();
    const mget = vi.spyOn(client, 'mget');
    for (let index = 0; index < 10; index++) expect(store.check(q)).toBeNull();
    expect(mget).not.toHaveBeenCalled();
  });

  it('sees a revocation made on this instance at once', async () => {
    const store = instance(`${redis.prefix}b:`, 1000);
    const q = query();
    expect(await kept(store, q)).toBeNull();
    const version = `${redis.prefix}b:{epoch}:version`;
    const revoking = store.revokeToken(q.jti, q.sub, q.iat + 600);
    // Before the call resolves (staleMs later, for the other instances' sake), once the
    // counter has changed: this instance refuses the token already.
    for (let attempt = 0; attempt < 200 && (await client.get(version)) === null; attempt++) {
      await sleep(2);
    }
    expect(await store.check(q)).toBe('token');
    await revoking;
    const first = await client.get(version);
    await store.revokeToken(`${q.jti}-other`, q.sub, q.iat + 600);
    const second = await client.get(version);
    // A new value per revocation, never a count a failover could bring back.
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
  });

  it('sees a revocation within maxAgeMs even when the counter could not be set', async () => {
    const prefix = `${redis.prefix}h:`;
    const [here, there] = [instance(prefix, STALE_MS, 80), instance(prefix, STALE_MS, 80)];
    const q = query();
    expect(await kept(here, q)).toBeNull();
    const set = client.set.bind(client);
    vi.spyOn(client, 'set').mockImplementation(((...args: Parameters<typeof client.set>) =>
      String(args[0]).endsWith(':version')
        ? Promise.reject(new Error('connection lost'))
        : set(...args)) as typeof client.set);
    await expect(there.revokeToken(q.jti, q.sub, q.iat + 600)).rejects.toThrow('connection lost');
    // Written, though: the instance that wrote it refuses the token at once.
    expect(await there.check(q)).toBe('token');
    vi.restoreAllMocks();
    await eventually(here, q, 'token');
  });

  it('resolves a revocation only once no other instance can still trust its kept answer', async () => {
    const prefix = `${redis.prefix}c:`;
    const [here, there] = [instance(prefix), instance(prefix)];
    const q = query();
    expect(await kept(here, q)).toBeNull();
    // Checks keep coming here while the other instance revokes: reads of the counter go on.
    let checking = true;
    const traffic = (async () => {
      for (let index = 0; checking && index < 1000; index++) {
        await here.check(q);
        await sleep(3);
      }
    })();
    await there.revokeSubject(q.sub, q.iat, q.iat + 600);
    expect(await here.check(q)).toBe('subject');
    checking = false;
    await traffic;
  });

  it('stops answering from memory once the counter has not been read for staleMs', async () => {
    const prefix = `${redis.prefix}d:`;
    const [here, there] = [instance(prefix), instance(prefix)];
    const q = query();
    expect(await kept(here, q)).toBeNull();
    await there.revokeToken(q.jti, q.sub, q.iat + 600);
    // No check came meanwhile, so nothing read the counter: the kept answer is not trusted.
    await sleep(STALE_MS);
    expect(await here.check(q)).toBe('token');
  });

  it('asks Redis, not its memory, when the counter cannot be read', async () => {
    const store = instance(`${redis.prefix}e:`);
    const q = query();
    expect(await kept(store, q)).toBeNull();
    vi.spyOn(client, 'mget').mockRejectedValue(new Error('connection lost'));
    await sleep(STALE_MS);
    await expect(Promise.resolve(store.check(q))).rejects.toThrow('connection lost');
  });

  it('drops what it kept when Redis loses its data, and answers reset for older tokens', async () => {
    const prefix = `${redis.prefix}f:`;
    const store = instance(prefix);
    // A list that began two minutes ago, and a token issued a minute ago.
    await client.set(`${prefix}{epoch}`, String(Date.now() - 120_000));
    const q = { ...query(), iat: Math.floor(Date.now() / 1000) - 60 };
    expect(await kept(store, q)).toBeNull();
    // What a restart without persistence leaves: no epoch, no counter. Another instance
    // begins the new list.
    await client.del(`${prefix}{epoch}`, `${prefix}{epoch}:version`);
    expect(await instance(prefix).check(q)).toBe('reset');
    await eventually(store, q, 'reset');
    // And it stays so: nothing decided under the lost list's epoch is kept.
    for (let index = 0; index < 20; index++) {
      expect(await store.check(q)).toBe('reset');
      await sleep(5);
    }
  });

  it('lets a layered store answer synchronously from it', async () => {
    const inner = createMemoryRevocationStore();
    const durable: DurableRevocationStore = {
      ...inner,
      markUnreplicated: async () => undefined,
      unreplicatedBefore: async () => 0,
    };
    const layered = createLayeredRevocationStore({
      fast: instance(`${redis.prefix}g:`),
      durable,
      fastTimeoutMs: 0,
    });
    const q = query();
    expect(await kept(layered, q)).toBeNull();
  });

  it('refuses bad local options by name', () => {
    expect(() => createRedisRevocationStore({ client, local: 'yes' as never })).toThrow(
      /local must be true, false or \{ staleMs, maxAgeMs, maxTokens \}/,
    );
    expect(() => createRedisRevocationStore({ client, local: { staleMs: 0 } })).toThrow(
      /local\.staleMs/,
    );
    expect(() => createRedisRevocationStore({ client, local: { maxTokens: 0 } })).toThrow(
      /local\.maxTokens/,
    );
    expect(() =>
      createRedisRevocationStore({ client, local: { staleMs: 500, maxAgeMs: 100 } }),
    ).toThrow(/local\.maxAgeMs must be a whole number of ms from 500/);
  });
});
