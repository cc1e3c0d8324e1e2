import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, type RedisServer, startRedisServer } from './redis-server.js';
import { describeError, sleep, testingError } from './util.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

export interface StartRedisClusterOptions {
  /** How many masters share the 16,384 slots. @default 3 */
  masters?: number;
  /** Replicas of each master, promoted when it fails. @default 1 */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout`: how long a master may be unreachable before its replica is
   * promoted. Short, so a failover test takes seconds; production keeps Redis's 15 s.
   * @default 1000
   */
  nodeTimeoutMs?: number;
  /** How long to wait for every node to agree the cluster is ready, in ms. @default 30_000 */
  startTimeoutMs?: number;
}

/** One node of a {@link RedisCluster}: its server, and its role when last asked. */
export interface RedisClusterNode {
  readonly server: RedisServer;
  readonly host: string;
  readonly port: number;
}

/** A throwaway Redis Cluster on loopback ports, every node a process the test owns. */
export interface RedisCluster {
  readonly nodes: readonly RedisClusterNode[];
  /** `{ host, port }` of every node, as ioredis's `new Cluster(startupNodes)` takes them. */
  readonly startupNodes: readonly { host: string; port: number }[];
  /** `redis://127.0.0.1:<port>` of every node, comma-separated: `REDIS_CLUSTER_NODES`. */
  readonly nodesVariable: string;
  /** The nodes that are masters now (after a failover, the promoted replicas among them). */
  masters(): Promise<RedisClusterNode[]>;
  /** The master that owns `key`'s slot now. */
  masterOf(key: string): Promise<RedisClusterNode>;
  /** Resolves once every live node reports `cluster_state:ok` and agrees on the masters. */
  settled(timeoutMs?: number): Promise<void>;
  /** Stops every node (SIGTERM, SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/**
 * Starts a real Redis Cluster (by default three masters with one replica each) on spare
 * loopback ports with `redis-server --cluster-enabled yes` and `redis-cli --cluster create`,
 * and resolves once every node says the cluster is ready and every replica is in sync. Every
 * node is a child process stopped by pid, never a shared server.
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster();
 * const client = new Cluster([...cluster.startupNodes]);
 * // ... kill a master: (await cluster.masterOf('k')).server.kill()
 * await cluster.stop();
 * ```
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
  if (!Number.isInteger(masters) || masters < 3) {
    throw testingError('masters must be an integer of at least 3 (redis-cli --cluster create).');
  }
  const servers: RedisServer[] = [];
  const stopAll = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    for (let index = 0; index < masters * (1 + replicas); index++) {
      // The cluster bus gets a port of its own: port + 10,000 may be past 65,535 or taken.
      const busPort = await freePort();
      servers.push(
        await startRedisServer({
          args: [
            ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
            ...['--cluster-node-timeout', String(nodeTimeoutMs)],
            ...['--cluster-announce-ip', HOST, '--cluster-port', String(busPort)],
            // A replica answers reads only when asked; a failover must not wait for a
            // disconnected replica to judge itself fresh enough.
            ...['--cluster-replica-validity-factor', '0'],
          ],
        }),
      );
    }
    await createCluster(servers, replicas);
  } catch (error) {
    await stopAll();
    throw error;
  }
  const nodes = servers.map((server) => ({ server, host: HOST, port: server.port }));
  const cluster: RedisCluster = {
    nodes,
    startupNodes: nodes.map(({ host, port }) => ({ host, port })),
    nodesVariable: nodes.map(({ port }) => `redis://${HOST}:${port}`).join(','),
    masters: () => mastersOf(nodes),
    async masterOf(key) {
      const slot = Number(await ask(nodes, (client) => client.call('CLUSTER', 'KEYSLOT', key)));
      const owner = (await clusterNodes(nodes)).find(
        (row) => row.master && row.slots.some(([low, high]) => slot >= low && slot <= high),
      );
      const node = nodes.find((candidate) => candidate.port === owner?.port);
      if (!node) throw testingError(`no live master owns slot ${slot}.`);
      return node;
    },
    settled: (timeoutMs = 30_000) => settled(nodes, { masters, replicas: 0 }, timeoutMs),
    stop: stopAll,
  };
  try {
    // At start every replica must be attached, not only every slot served.
    await settled(
      nodes,
      { masters, replicas: masters * replicas },
      options.startTimeoutMs ?? 30_000,
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
  return cluster;
}

async function createCluster(servers: readonly RedisServer[], replicas: number): Promise<void> {
  const addresses = servers.map((server) => `${HOST}:${server.port}`);
  try {
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
  } catch (error) {
    const output = (error as { stdout?: string; stderr?: string }).stdout ?? '';
    throw testingError(
      `redis-cli --cluster create failed (${describeError(error)}). Install redis-tools ` +
        `(redis-cli 7) if it is missing. Its output:\n${output.slice(-2_000)}`,
      error,
    );
  }
}

interface NodeRow {
  port: number;
  master: boolean;
  connected: boolean;
  failed: boolean;
  slots: [number, number][];
}

/** Runs one command on the first node that answers. */
async function ask<T>(
  nodes: readonly RedisClusterNode[],
  command: (client: Redis) => Promise<T>,
): Promise<T> {
  let last: unknown;
  for (const node of nodes) {
    const client = new Redis({
      host: node.host,
      port: node.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
      commandTimeout: 1_000,
    });
    // A dead node's refusal is an answer here (the next node is asked), not an event to print.
    client.on('error', () => {});
    try {
      await client.connect();
      return await command(client);
    } catch (error) {
      last = error;
    } finally {
      client.disconnect();
    }
  }
  throw testingError(`no node of the cluster answered (${describeError(last)}).`, last);
}

/** `CLUSTER NODES` as one live node sees it. */
async function clusterNodes(nodes: readonly RedisClusterNode[]): Promise<NodeRow[]> {
  const text = String(await ask(nodes, (client) => client.call('CLUSTER', 'NODES')));
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [, address = '', flags = '', , , , , link = '', ...slots] = line.split(' ');
      return {
        port: Number(address.split('@')[0]?.split(':')[1]),
        master: flags.split(',').includes('master'),
        failed: /fail/.test(flags),
        connected: link === 'connected',
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [low = '', high = low] = slot.split('-');
            return [Number(low), Number(high)] as [number, number];
          }),
      };
    });
}

async function mastersOf(nodes: readonly RedisClusterNode[]): Promise<RedisClusterNode[]> {
  const rows = await clusterNodes(nodes);
  const ports = new Set(
    rows.filter((row) => row.master && !row.failed && row.slots.length > 0).map((row) => row.port),
  );
  return nodes.filter((node) => ports.has(node.port));
}

async function settled(
  nodes: readonly RedisClusterNode[],
  { masters, replicas }: { masters: number; replicas: number },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const rows = await clusterNodes(nodes);
      const serving = rows.filter((row) => row.master && !row.failed && row.slots.length > 0);
      const states = await Promise.all(
        nodes
          .filter((node) => rows.some((row) => row.port === node.port && !row.failed))
          .map((node) =>
            ask([node], async (client) => {
              const info = String(await client.call('CLUSTER', 'INFO'));
              const replication = await client.info('replication');
              const replicaDown =
                /role:slave/.test(replication) && !/master_link_status:up/.test(replication);
              return /cluster_state:ok/.test(info) && !replicaDown;
            }).catch(() => false),
          ),
      );
      const attached = rows.filter((row) => !row.master && !row.failed && row.connected).length;
      if (serving.length === masters && attached >= replicas && states.every(Boolean)) return;
      last =
        `${serving.length} of ${masters} masters serving, ${attached} of ${replicas} replicas ` +
        `attached, ${states.filter(Boolean).length} of ${states.length} nodes ready`;
    } catch (error) {
      last = describeError(error);
    }
    await sleep(100);
  }
  throw testingError(`the Redis Cluster did not settle within ${timeoutMs} ms (${last}).`);
}
