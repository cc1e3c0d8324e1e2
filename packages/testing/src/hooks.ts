import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { serviceUrls } from './context.js';
import {
  type CreateTestDatabaseOptions,
  createTestDatabase,
  dropTestDatabase,
  type TestDatabase,
} from './database.js';
import { deleteRedisPrefix, sharedRedisClient } from './redis-keys.js';
import { randomId, testingError } from './util.js';

export interface UseTestDatabaseOptions extends Pick<CreateTestDatabaseOptions, 'template'> {
  /** Timeout for the create and drop hooks, in ms. */
  hookTimeout?: number;
}

export interface TestRedis {
  /** The shared Redis server's URL (a node's, when it is a cluster). */
  readonly url: string;
  /** `t:<runId>:<random>:`; put it in front of every key the file writes. */
  readonly prefix: string;
  /** The node URLs when the shared Redis is a Redis Cluster; empty otherwise. */
  readonly clusterNodes: readonly string[];
  /**
   * A new client of the shared Redis: an ioredis `Cluster` of `clusterNodes` when it is a
   * cluster, else a `Redis` of `url`. The test closes it.
   */
  connect(options?: RedisOptions): Redis | Cluster;
}

/**
 * Call at the top of a test file: a fresh database is created before the file's tests and
 * dropped (connections and all) after them. Read the handle inside tests or hooks.
 */
export function useTestDatabase(options: UseTestDatabaseOptions = {}): TestDatabase {
  let current: TestDatabase | undefined;
  const createOptions: CreateTestDatabaseOptions = {};
  if (options.template !== undefined) createOptions.template = options.template;

  beforeAll(async () => {
    current = await createTestDatabase(createOptions);
  }, options.hookTimeout);
  afterAll(async () => {
    if (current) await dropTestDatabase(current);
  }, options.hookTimeout);

  const get = (): TestDatabase => {
    if (current) return current;
    throw testingError(
      'useTestDatabase() handle read before its beforeAll hook ran. Read .url/.name/.adminUrl ' +
        'inside a test or a hook, not at the top level of the file.',
    );
  };
  return {
    get url() {
      return get().url;
    },
    get name() {
      return get().name;
    },
    get adminUrl() {
      return get().adminUrl;
    },
  };
}

/**
 * Call at the top of a test file: gives it a key prefix of its own on the shared Redis, and
 * deletes every key under that prefix after the file's tests.
 */
export function useTestRedis(): TestRedis {
  let current: TestRedis | undefined;

  beforeAll(() => {
    const { redisUrl, runId, redisClusterNodes } = serviceUrls();
    const prefix = `t:${runId}:${randomId()}:`;
    current = {
      url: redisUrl,
      prefix,
      clusterNodes: redisClusterNodes,
      connect: (options) => sharedRedisClient(redisUrl, redisClusterNodes, options),
    };
  });
  afterAll(async () => {
    if (current) await deleteRedisPrefix(current.url, current.prefix, current.clusterNodes);
  });

  const get = (): TestRedis => {
    if (current) return current;
    throw testingError(
      'useTestRedis() handle read before its beforeAll hook ran. Read .url/.prefix inside a ' +
        'test or a hook, not at the top level of the file.',
    );
  };
  return {
    get url() {
      return get().url;
    },
    get prefix() {
      return get().prefix;
    },
    get clusterNodes() {
      return get().clusterNodes;
    },
    connect: (options) => get().connect(options),
  };
}
