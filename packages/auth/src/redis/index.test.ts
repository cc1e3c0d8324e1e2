import { startRedisServer, useTestRedis } from '@fairmind/testing';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../auth/index.js';
import { createPasswordHasher } from '../passwords/index.js';
import { expectOnePair, expectOneWinner, rejection, TEST_SECRET } from '../testing/index.js';
import {
  createRedisAttemptStore,
  createRedisRefreshFamilyStore,
  createRedisRevocationStore,
} from './index.js';

const SECRET = TEST_SECRET;
const redis = useTestRedis();
const passwords = createPasswordHasher({ cost: 4, workers: 1 });
let client: Redis | Cluster;

beforeAll(() => {
  client = redis.connect();
});
afterAll(async () => {
  client.disconnect();
  await passwords.close();
});

/** One app instance sharing Redis with the others. */
function instance(
  prefix = redis.prefix,
  redisClient: Redis | Cluster = client,
  extra: { storeTimeoutMs?: number; failOpen?: boolean; refreshReuseIntervalSeconds?: number } = {},
) {
  return createAuth({
    secret: SECRET,
    passwords,
    revocation: createRedisRevocationStore({ client: redisClient, prefix }),
    refreshFamilies: createRedisRefreshFamilyStore({ client: redisClient, prefix }),
    attempts: createRedisAttemptStore({ client: redisClient, prefix }),
    ...extra,
  });
}

const user = { id: 'user-1', role: 'analyst' };

describe('Redis revocation store', () => {
  it("keeps a revoked id for the token's remaining lifetime, in one hash slot per user", async () => {
    const store = createRedisRevocationStore({ client, prefix: redis.prefix });
    const now = Math.floor(Date.now() / 1000);
    await store.revokeToken('jti-1', 'user-1', now + 120);
    const ttl = await client.pttl(`${redis.prefix}{u:user-1}:t:jti-1`);
    expect(ttl).toBeGreaterThan(118_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
    await store.revokeToken('jti-old', 'user-1', now - 10);
    expect(await client.exists(`${redis.prefix}{u:user-1}:t:jti-old`)).toBe(0);
    expect(await store.check({ jti: 'jti-1', sub: 'user-1', iat: now })).toBe('token');
    expect(await store.check({ jti: 'jti-2', sub: 'user-1', iat: now })).toBeNull();
  });

  it('keeps the latest user cutoff', async () => {
    const store = createRedisRevocationStore({ client, prefix: redis.prefix });
    const now = Math.floor(Date.now() / 1000);
    await store.revokeSubject('user-9', now, now + 600);
    await store.revokeSubject('user-9', now - 100, now + 600);
    expect(await store.check({ jti: 'a', sub: 'user-9', iat: now })).toBe('subject');
    expect(await store.check({ jti: 'a', sub: 'user-9', iat: now + 1 })).toBeNull();
    await store.revokeFamily('fam-1', 'user-9', now + 600);
    expect(await store.check({ jti: 'a', sub: 'user-9', fam: 'fam-1', iat: now + 1 })).toBe(
      'family',
    );
    expect(() => createRedisRevocationStore({ client, prefix: 'bad{prefix' })).toThrow(/braces|\{/);
  });

  it('fails a revocation no replica confirmed when waitForReplicas asks for one', async () => {
    // The shared test server has no replica: WAIT 1 answers 0 once its bound has passed. The
    // bound (half the deadline) leaves a loaded machine room to bring that answer in time.
    const store = createRedisRevocationStore({
      client,
      prefix: redis.prefix,
      waitForReplicas: 1,
      timeoutMs: 2_000,
    });
    const now = Math.floor(Date.now() / 1000);
    await expect(store.revokeToken('jti-w', 'user-w', now + 60)).rejects.toThrow(
      /reached 0 of 1 Redis replicas within 1000 ms/,
    );
    // The write itself was made: the master answers for it while it lives.
    expect(await store.check({ jti: 'jti-w', sub: 'user-w', iat: now })).toBe('token');
    await expect(store.revokeSubject('user-w', now, now + 60)).rejects.toThrow(/0 of 1/);
    expect(() =>
      createRedisRevocationStore({ client, prefix: redis.prefix, waitForReplicas: -1 }),
    ).toThrow(/waitForReplicas/);
  });
});

describe('refresh rotation on Redis, across instances', () => {
  it("R1 gives R2 on one instance; R1 again on another revokes the family and R2's access token everywhere", async () => {
    const a = instance();
    const b = instance();
    const r1 = await a.issueTokens(user);
    const r2 = await b.refresh(r1.refreshToken);
    await expect(a.verifyAccessToken(r2.accessToken)).resolves.toMatchObject({ id: 'user-1' });
    expect((await rejection(a.refresh(r1.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(b.verifyAccessToken(r2.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await rejection(a.verifyAccessToken(r2.accessToken))).code).toBe('TOKEN_REVOKED');
  });

  it('gives exactly one success to 20 concurrent refreshes of one token from 4 instances', async () => {
    const instances = Array.from({ length: 4 }, () => instance());
    const { refreshToken } = await (instances[0] as ReturnType<typeof instance>).issueTokens(user);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, index) =>
        (instances[index % 4] as ReturnType<typeof instance>).refresh(refreshToken),
      ),
    );
    expectOneWinner(results);
  });

  it('gives 20 concurrent refreshes from 4 instances inside the reuse interval one new pair; a replay after it revokes', async () => {
    const instances = Array.from({ length: 4 }, () =>
      instance(redis.prefix, client, { refreshReuseIntervalSeconds: 1 }),
    );
    const at = (index: number) => instances[index % 4] as ReturnType<typeof instance>;
    const r1 = await at(0).issueTokens(user);
    const r2 = expectOnePair(
      await Promise.allSettled(
        Array.from({ length: 20 }, (_, index) => at(index).refresh(r1.refreshToken)),
      ),
    );
    await expect(at(1).verifyAccessToken(r2.accessToken)).resolves.toMatchObject({ id: 'user-1' });
    // Whole seconds: two of them past the rotation is past a one-second interval.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await rejection(at(2).refresh(r1.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(at(3).verifyAccessToken(r2.accessToken))).code).toBe('TOKEN_REVOKED');
  });

  it('revokes on logout on every instance', async () => {
    const a = instance();
    const b = instance();
    const pair = await a.issueTokens(user);
    await a.logout(await a.verifyAccessToken(pair.accessToken));
    expect((await rejection(b.verifyAccessToken(pair.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await rejection(b.refresh(pair.refreshToken))).code).toBe('TOKEN_REVOKED');
  });

  it('loads its scripts again after SCRIPT FLUSH (a restart or failover)', async () => {
    const server = await startRedisServer();
    const own = new Redis(server.url);
    try {
      const auth = instance('flush:', own);
      const pair = await auth.issueTokens(user);
      await own.script('FLUSH');
      await expect(auth.refresh(pair.refreshToken)).resolves.toBeDefined();
    } finally {
      own.disconnect();
      await server.stop();
    }
  });
});

describe('Redis attempt store', () => {
  it('shares a lockout between instances', async () => {
    const store = createRedisAttemptStore({ client, prefix: redis.prefix });
    const at = Date.now();
    await Promise.all(Array.from({ length: 5 }, () => store.fail('a:ada@example.com', 60_000, at)));
    expect(await store.get('a:ada@example.com')).toEqual({ count: 5, lastFailureAt: at });
    expect(await client.pttl(`${redis.prefix}{a:a:ada@example.com}`)).toBeGreaterThan(59_000);
    await store.reset('a:ada@example.com');
    expect(await store.get('a:ada@example.com')).toBeNull();
  });
});

describe('when Redis goes away', () => {
  it('fails closed with a 503, or open when configured, and recovers when Redis is back', async () => {
    const server = await startRedisServer();
    const own = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    own.on('error', () => {});
    try {
      const closed = instance('fault:', own, { storeTimeoutMs: 300 });
      const open = instance('fault:', own, { storeTimeoutMs: 300, failOpen: true });
      const { accessToken } = await closed.issueTokens(user);
      await expect(closed.verifyAccessToken(accessToken)).resolves.toBeDefined();
      await server.kill();
      const error = await rejection(closed.verifyAccessToken(accessToken));
      expect([error.code, error.status]).toEqual(['AUTH_STORE_UNAVAILABLE', 503]);
      await expect(open.verifyAccessToken(accessToken)).resolves.toMatchObject({ id: 'user-1' });
      await server.restart();
      let recovered = false;
      for (let attempt = 0; attempt < 50 && !recovered; attempt++) {
        recovered = await closed.verifyAccessToken(accessToken).then(
          () => true,
          () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100)),
        );
      }
      expect(recovered).toBe(true);
    } finally {
      own.disconnect();
      await server.stop();
    }
  });
});
