import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { testingError } from './util.js';

const SCAN_COUNT = 500;
// A test prefix holds at most thousands of keys; past this the loop is broken, not busy.
const MAX_SCAN_ROUNDS = 10_000;

/**
 * A client of the shared Redis: a `Cluster` of `clusterNodes` (redis:// URLs) when there are
 * any, else a `Redis` of `url`; `options` go to every connection.
 */
export function sharedRedisClient(
  url: string,
  clusterNodes: readonly string[],
  options: RedisOptions = {},
): Redis | Cluster {
  if (clusterNodes.length === 0) return new Redis(url, options);
  const startupNodes = clusterNodes.map((node) => {
    const { hostname, port } = new URL(node);
    return { host: hostname, port: Number(port) };
  });
  return new Cluster(startupNodes, {
    redisOptions: options,
    ...(options.lazyConnect ? { lazyConnect: true } : {}),
  });
}

/** Escapes the Redis glob characters so a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Deletes every key starting with `prefix` (SCAN + UNLINK, so a big prefix never blocks the
 * server), on every master when `clusterNodes` names a Redis Cluster. Returns how many keys
 * were removed.
 */
export async function deleteRedisPrefix(
  url: string,
  prefix: string,
  clusterNodes: readonly string[] = [],
): Promise<number> {
  if (prefix.length === 0) {
    throw testingError('deleteRedisPrefix() needs a non-empty prefix; "" would empty the server.');
  }
  if (clusterNodes.length > 0) {
    const cluster = sharedRedisClient(url, clusterNodes, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    }) as Cluster;
    cluster.on('error', () => {});
    await cluster.connect();
    try {
      const counts = await Promise.all(
        cluster.nodes('master').map((node) => deleteOnNode(node, prefix, true)),
      );
      return counts.reduce((sum, count) => sum + count, 0);
    } finally {
      cluster.disconnect();
    }
  }
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await deleteOnNode(client, prefix, false);
  } finally {
    client.disconnect();
  }
}

/** SCAN one server for `prefix`; on a cluster node, UNLINK each key alone (slots differ). */
async function deleteOnNode(client: Redis, prefix: string, clusterNode: boolean): Promise<number> {
  const pattern = `${escapeGlob(prefix)}*`;
  let cursor = '0';
  let deleted = 0;
  for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    if (keys.length > 0) {
      if (clusterNode) {
        const pipeline = client.pipeline();
        for (const key of keys) pipeline.unlink(key);
        deleted += ((await pipeline.exec()) ?? []).filter(([, count]) => count === 1).length;
      } else {
        deleted += await client.unlink(...keys);
      }
    }
    cursor = next;
    if (cursor === '0') return deleted;
  }
  throw testingError(
    `gave up deleting keys under ${prefix} after ${MAX_SCAN_ROUNDS} SCAN rounds; is ` +
      'something writing under this prefix after the tests ended?',
  );
}
