// Every Redis feature of the packages on a real Redis Cluster: three masters with one replica
// each, started by this file on spare loopback ports and stopped by pid. Keys are spread over
// all three masters on purpose, and every client logs into one recorder that must never see
// CROSSSLOT, MOVED or ASK: the packages keep a command's keys in one slot and ioredis follows
// redirections itself.
import { randomUUID } from 'node:crypto';
import { createAuth, createPasswordHasher, type TokenPair } from '@fairmind/auth';
import {
  createRedisAttemptStore,
  createRedisRefreshFamilyStore,
  createRedisRevocationStore,
} from '@fairmind/auth/redis';
import { createCache } from '@fairmind/cache';
import type { Logger } from '@fairmind/core';
import { createMemoryStore } from '@fairmind/edge';
import { createRedisStore } from '@fairmind/edge/redis';
import { type RedisCluster, startRedisCluster, until } from '@fairmind/testing/servers';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SECRET = 'scale-test-secret-of-at-least-thirty-two-characters';
const REDIRECTION = /CROSSSLOT|MOVED|\bASK\b|TRYAGAIN|CLUSTERDOWN/;

let cluster: RedisCluster;
const clients: Cluster[] = [];
const seen: string[] = [];
const passwords = createPasswordHasher({ cost: 4, workers: 1 });

/** A logger that keeps every line it is given, to look for cluster errors in them. */
const logger: Logger = {
  error: (obj, message) => seen.push(`${message ?? ''} ${show(obj)}`),
  warn: (obj, message) => seen.push(`${message ?? ''} ${show(obj)}`),
  info: (obj, message) => seen.push(`info: ${message ?? ''} ${show(obj)}`),
  debug: (obj, message) => seen.push(`debug: ${message ?? ''} ${show(obj)}`),
  child: () => logger,
} as Logger;

function show(obj: unknown): string {
  try {
    return JSON.stringify(obj, (_key, value: unknown) =>
      value instanceof Error ? `${value.name}: ${value.message}` : value,
    );
  } catch {
    return String(obj);
  }
}

/** A Cluster client as an application makes one: no offline queue, one retry per command. */
async function client(): Promise<Cluster> {
  const made = new Cluster([...cluster.startupNodes], {
    enableOfflineQueue: false,
    redisOptions: { maxRetriesPerRequest: 1 },
  });
  made.on('error', (error: Error) => seen.push(`client error: ${error.message}`));
  clients.push(made);
  if (made.status !== 'ready') await new Promise((resolve) => made.once('ready', resolve));
  return made;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  for (const made of clients) made.disconnect();
  await passwords.close();
  await cluster?.stop();
});

/** Checks that `keys` (as Redis stores them) fall on all three masters: no test passes by luck. */
async function expectEveryMaster(keys: readonly string[]): Promise<void> {
  expect(await cluster.masters()).toHaveLength(3);
  const owners = await Promise.all(keys.map(async (key) => (await cluster.masterOf(key)).port));
  expect(new Set(owners).size).toBe(3);
}

describe('the cluster the tests run on', () => {
  it('has three masters serving every slot, each with a replica in sync', async () => {
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    expect(cluster.nodes).toHaveLength(6);
    const probe = await client();
    const slots = (await probe.cluster('SLOTS')) as [number, number, ...unknown[]][];
    const covered = slots.reduce((sum, [low, high]) => sum + high - low + 1, 0);
    expect(covered).toBe(16_384);
    // Each master has one replica of its own (CLUSTER SLOTS hides a replica until it has
    // replicated a first byte, so CLUSTER NODES tells).
    const rows = String(await probe.cluster('NODES'))
      .trim()
      .split('\n');
    const replicaOf = rows
      .map((row) => row.split(' '))
      .filter((fields) => fields[2]?.split(',').includes('slave'))
      .map((fields) => fields[3]);
    expect(new Set(replicaOf).size).toBe(3);
  });
});

describe('@fairmind/cache on the cluster', () => {
  it('reads, writes, tags, clears and invalidates across two instances on three masters', async () => {
    const namespace = `c${randomUUID().slice(0, 8)}`;
    const [redisA, redisB] = [await client(), await client()];
    // The first call per master loads the scripts (EVAL after NOSCRIPT), 60 slots at once in
    // a process still compiling: what is under test is the cluster, not the 100 ms deadline.
    const options = { namespace, logger, commandTimeoutMs: 5_000 };
    const a = createCache({ redis: redisA, ...options });
    const b = createCache({ redis: redisB, ...options });
    try {
      await Promise.all([a.ready(), b.ready()]);
      expect(a.status()).toMatchObject({ mode: 'redis', redis: 'ready', bus: 'subscribed' });
      expect(b.status()).toMatchObject({ mode: 'redis', redis: 'ready', bus: 'subscribed' });
      const keys = Array.from({ length: 60 }, (_, index) => `k${index}`);
      await expectEveryMaster(keys.map((key) => `${namespace}:v:${key}`));

      // setMany / getMany span every master; B reads what A wrote from L2.
      await a.setMany(keys.map((key, index) => ({ key, value: { index }, tags: ['list'] })));
      expect(await b.getMany(keys)).toEqual(keys.map((_, index) => ({ index })));

      // B holds them in L1 now; A's write reaches B's L1 through the invalidation bus.
      await a.set('k1', { index: 'changed' });
      await until(async () => JSON.stringify(await b.get('k1')) === '{"index":"changed"}');

      // A tag invalidated on A hides every tagged entry on B, wherever its key lives; k1 was
      // written again without the tag and stays.
      await a.invalidateTags(['list']);
      const tagged = keys.filter((key) => key !== 'k1');
      await until(async () => (await b.getMany(tagged)).every((value) => value === undefined));
      expect(await b.get('k1')).toEqual({ index: 'changed' });

      // deleteMany across slots, then getOrSet computes once per key.
      await a.setMany(keys.map((key) => ({ key, value: key })));
      await a.deleteMany(keys.slice(0, 30));
      expect(await b.getMany(keys.slice(0, 30))).toEqual(keys.slice(0, 30).map(() => undefined));
      let computed = 0;
      const loaded = await Promise.all(
        keys.slice(0, 30).map((key) =>
          b.getOrSet(key, async () => {
            computed++;
            return `fresh-${key}`;
          }),
        ),
      );
      expect(computed).toBe(30);
      expect(loaded[0]).toBe('fresh-k0');

      // clear() removes the namespace from every master; B's L1 follows the bus message.
      await b.clear();
      await until(async () => (await a.getMany(keys)).every((value) => value === undefined));
      const left = await Promise.all(
        (await cluster.masters()).map(async (master) => {
          const node = redisA.nodes('master').find((one) => one.options.port === master.port);
          return node ? (await node.keys(`${namespace}:v:*`)).length : 0;
        }),
      );
      expect(left.reduce((sum, count) => sum + count, 0)).toBe(0);
      expect(a.status()).toMatchObject({ circuit: 'closed', degraded: false });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect(seen.filter((line) => REDIRECTION.test(line))).toEqual([]);
  });
});

describe('@fairmind/edge rate limits on the cluster', () => {
  it.each(['sliding-window', 'sliding-log'] as const)(
    '%s: one limit for every instance, the same answers as the memory store',
    async (algorithm) => {
      const prefix = `rl-${randomUUID().slice(0, 8)}:`;
      const stores = [await client(), await client()].map((redis) =>
        createRedisStore({ client: redis, prefix, algorithm, logger }),
      );
      const memory = createMemoryStore({ algorithm });
      const ids = Array.from({ length: 30 }, (_, index) => `ip${index}`);
      await expectEveryMaster(ids.map((id) => `{${id}}`));
      // 12 concurrent requests per key from two instances against a limit of 5: exactly 5 pass.
      const request = { limit: 5, windowMs: 60_000, cost: 1 };
      const results = await Promise.all(
        ids.map(async (key) => {
          const decisions = await Promise.all(
            Array.from({ length: 12 }, (_, turn) =>
              (stores[turn % 2] as (typeof stores)[number]).consume(key, request),
            ),
          );
          return decisions.filter((decision) => decision.allowed).length;
        }),
      );
      expect(results).toEqual(ids.map(() => 5));
      // A sequence of costs answers as the memory store does.
      const store = stores[0] as (typeof stores)[number];
      for (const cost of [1, 2, 1, 3, 1]) {
        const big = { limit: 6, windowMs: 30 * 86_400_000, cost };
        const [onCluster, inMemory] = [
          await store.consume('agree', big),
          await memory.consume('agree', big),
        ];
        expect({ allowed: onCluster.allowed, remaining: onCluster.remaining }).toEqual({
          allowed: inMemory.allowed,
          remaining: inMemory.remaining,
        });
      }
      await store.reset('ip0');
      expect((await store.consume('ip0', request)).remaining).toBe(4);
      expect(seen.filter((line) => REDIRECTION.test(line))).toEqual([]);
    },
  );
});

describe('@fairmind/auth on the cluster', () => {
  async function instance(reuse = 0) {
    const redis = await client();
    const prefix = 'auth:';
    return createAuth({
      secret: SECRET,
      passwords,
      // Each revocation confirmed by the replica of its master: it survives a failover.
      revocation: createRedisRevocationStore({ client: redis, prefix, logger, waitForReplicas: 1 }),
      refreshFamilies: createRedisRefreshFamilyStore({ client: redis, prefix, logger }),
      attempts: createRedisAttemptStore({ client: redis, prefix, logger }),
      refreshReuseIntervalSeconds: reuse,
      logger,
    });
  }
  const users = Array.from({ length: 12 }, (_, index) => ({
    id: `user-${index}`,
    role: 'analyst',
  }));

  it('revokes tokens, whole users and families on every instance, for users on every master', async () => {
    const [a, b] = [await instance(), await instance()];
    await expectEveryMaster(users.map((user) => `{u:${user.id}}`));
    for (const user of users) {
      const first = await a.issueTokens(user);
      const second = await a.issueTokens(user);
      await a.logout(await a.verifyAccessToken(first.accessToken));
      await expect(b.verifyAccessToken(first.accessToken)).rejects.toMatchObject({
        code: 'TOKEN_REVOKED',
      });
      await expect(b.verifyAccessToken(second.accessToken)).resolves.toMatchObject({ id: user.id });
      await b.logoutEverywhere(user.id);
      await expect(a.verifyAccessToken(second.accessToken)).rejects.toMatchObject({
        code: 'TOKEN_REVOKED',
      });
    }
    expect(seen.filter((line) => REDIRECTION.test(line))).toEqual([]);
  });

  it('rotates refresh tokens across instances and revokes the family on reuse', async () => {
    const [a, b] = [await instance(), await instance()];
    for (const user of users.slice(0, 6)) {
      const r1 = await a.issueTokens(user);
      const r2 = await b.refresh(r1.refreshToken);
      await expect(a.refresh(r1.refreshToken)).rejects.toMatchObject({
        code: 'REFRESH_TOKEN_REUSED',
      });
      await expect(b.verifyAccessToken(r2.accessToken)).rejects.toMatchObject({
        code: 'TOKEN_REVOKED',
      });
    }
  });

  it('gives 20 concurrent refreshes from four instances one new pair inside the reuse interval', async () => {
    const instances = await Promise.all(Array.from({ length: 4 }, () => instance(5)));
    const at = (index: number) => instances[index % 4] as Awaited<ReturnType<typeof instance>>;
    for (const user of users.slice(0, 3)) {
      const r1 = await at(0).issueTokens(user);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, index) => at(index).refresh(r1.refreshToken)),
      );
      const pairs = results.map((result) => {
        expect(result.status).toBe('fulfilled');
        return (result as PromiseFulfilledResult<TokenPair>).value;
      });
      expect(new Set(pairs.map((pair) => pair.refreshToken)).size).toBe(1);
      await expect(
        at(1).verifyAccessToken((pairs[0] as TokenPair).accessToken),
      ).resolves.toMatchObject({
        id: user.id,
      });
    }
  });

  it('shares login lockout counters between instances', async () => {
    const store = createRedisAttemptStore({ client: await client(), prefix: 'auth:', logger });
    const other = createRedisAttemptStore({ client: await client(), prefix: 'auth:', logger });
    const at = Date.now();
    const names = users.map((user) => `a:${user.id}@example.com`);
    await Promise.all(names.flatMap((name) => [1, 2, 3].map(() => store.fail(name, 60_000, at))));
    for (const name of names)
      expect(await other.get(name)).toEqual({ count: 3, lastFailureAt: at });
    await Promise.all(names.map((name) => other.reset(name)));
    for (const name of names) expect(await store.get(name)).toBeNull();
    expect(seen.filter((line) => REDIRECTION.test(line))).toEqual([]);
  });
});

// Last in the file: it kills a node, and the cluster stays one node short afterwards.
describe('the cache bus when its node dies', () => {
  it('notices, subscribes on a live node and flushes its L1 copies', async () => {
    const namespace = `b${randomUUID().slice(0, 8)}`;
    const options = { namespace, logger, commandTimeoutMs: 5_000 };
    const reader = createCache({ redis: await client(), instanceId: 'reader', ...options });
    try {
      await reader.ready();
      await reader.set('x', 1);
      expect(await reader.get('x')).toBe(1);
      expect(reader.status().l1.entries).toBe(1);
      // The node the reader's bus listens on, found by its connection name.
      const named = await Promise.all(
        cluster.nodes.map(async (node) => {
          const admin = new Redis(node.port);
          try {
            return String(await admin.client('LIST')).includes('name=fairmind-cache-bus:reader');
          } finally {
            admin.disconnect();
          }
        }),
      );
      const node = cluster.nodes[named.indexOf(true)];
      expect(node).toBeDefined();
      const flushedBefore = seen.filter((line) => /invalidation bus back/.test(line)).length;
      await node?.server.kill();
      // Messages sent while it was away are lost: the bus must say so by flushing L1.
      await until(
        async () =>
          seen.filter((line) => /invalidation bus back/.test(line)).length > flushedBefore,
        15_000,
      );
      expect(reader.status()).toMatchObject({ bus: 'subscribed' });
      expect(reader.status().l1.entries).toBe(0);
    } finally {
      await reader.close();
    }
  });
});
