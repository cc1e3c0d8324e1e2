// Test helpers shared by the cache and bus tests; not part of the build.
import { type RedisServer, startRedisServer, useTestRedis } from '@fairmind/testing';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Cache } from './index.js';

/**
 * `commandTimeoutMs` for tests about what a healthy shared Redis answers. The default
 * (100 ms) is a production figure: on a loaded CI machine a round trip now and then took
 * longer, the circuit opened, the cache served from L1 while Redis was "away" (by design),
 * and a test about something else failed. Fault tests keep their own figures.
 */
export const HEALTHY_COMMAND_TIMEOUT_MS = 5_000;

/**
 * Call at the top of a test file: the shared Redis under the file's prefix, a raw client to
 * look at it, fresh namespaces, and caches closed after each test.
 */
export function useCaches() {
  const testRedis = useTestRedis();
  const opened: Cache[] = [];
  let raw: Redis | Cluster | undefined;
  let counter = 0;
  beforeAll(() => {
    raw = testRedis.connect();
  });
  afterAll(() => {
    raw?.disconnect();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((cache) => cache.close()));
  });
  return {
    get url(): string {
      return testRedis.url;
    },
    /**
     * What a cache is given as its `redis` option for the shared Redis: its URL, or on a
     * Redis Cluster the raw client (a Cluster, which the cache then shares).
     */
    get redis(): string | Cluster {
      if (testRedis.clusterNodes.length === 0) return testRedis.url;
      return this.raw as Cluster;
    },
    /** A new client of the shared Redis (a Cluster on a cluster); the test closes it. */
    connect(options?: RedisOptions): Redis | Cluster {
      return testRedis.connect(options);
    },
    get raw(): Redis | Cluster {
      if (raw === undefined) throw new Error('useCaches(): read raw inside a test');
      return raw;
    },
    /** A namespace no other test uses, under the file's key prefix. */
    namespace(label = 'n'): string {
      counter++;
      return `${testRedis.prefix}${label}${counter}`;
    },
    /** Closes the cache after the test. */
    track<T extends Cache>(cache: T): T {
      opened.push(cache);
      return cache;
    },
  };
}

/**
 * Call inside a describe: a throwaway redis-server for fault tests (never the shared one),
 * with an admin client, stopped after the block.
 */
export function useRedisServer(args: readonly string[] = []) {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer({ args });
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  const get = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useRedisServer(): read the server inside a test');
    return value;
  };
  return {
    get server(): RedisServer {
      return get(server);
    },
    get admin(): Redis {
      return get(admin);
    },
  };
}
