import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { type RedisServer, startRedisServer } from '@fairmind/testing';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HEALTHY_COMMAND_TIMEOUT_MS, useRedisServer } from '../cache/fixtures.js';
import { type Cache, type CacheOptions, createCache } from '../cache/index.js';
import { groupBySlot } from './index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const opened: Cache[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()));
});

const TIMEOUT = 100;
// The acceptance bound: no call outlasts the command timeout by more than this, apart from
// time the event loop itself was held by other work (see bound()).
const SLACK = 20;

/**
 * The longest a call may take: the timeout, the slack, and the longest the event loop was
 * blocked meanwhile. On a machine busy with a whole CI run a timer can fire 20 ms late for
 * reasons that are not the cache's; that delay is measured, not guessed.
 */
function loopDelay() {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  return {
    bound: () => TIMEOUT + SLACK + histogram.max / 1e6,
    stop: () => histogram.disable(),
  };
}

async function open(url: string, options: CacheOptions = {}): Promise<Cache> {
  const cache = createCache({
    redis: url,
    namespace: 'faults',
    commandTimeoutMs: TIMEOUT,
    breaker: { failureThreshold: 3, resetTimeoutMs: 200 },
    jitter: 0,
    ...options,
  });
  opened.push(cache);
  await cache.ready();
  return cache;
}

/** Polls `check` every 20 ms for up to `ms`; returns whether it became true. */
async function until(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

interface Outcome {
  readonly operation: string;
  readonly ms: number;
  readonly error: unknown;
}

/** Runs one cache call, timing it and catching anything it throws. */
async function timed(operation: string, call: () => Promise<unknown>): Promise<Outcome> {
  const started = performance.now();
  let error: unknown;
  try {
    await call();
  } catch (caught) {
    error = caught;
  }
  return { operation, ms: performance.now() - started, error };
}

describe('Redis killed mid-run', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('never throws or outlasts the timeout, runs factories, and uses L2 again once back', async () => {
    const delay = loopDelay();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const cache = await open(server.url, { registry, grace: '1m' });
    const other = await open(server.url);
    await cache.set('before', 'kept in L1', { ttl: '1h' });
    await cache.set('graceful', 'stale but served', { ttl: 50 });
    let factoryRuns = 0;
    const outcomes: Outcome[] = [];

    const round = async (phase: string, index: number) => {
      const key = `${phase}:${index}`;
      outcomes.push(
        await timed('getOrSet', () =>
          cache.getOrSet(key, () => {
            factoryRuns++;
            return { index };
          }),
        ),
        await timed('get', () => cache.get(`${phase}:${index - 1}`)),
        await timed('get miss', () => cache.get(`absent:${index}`)),
        await timed('set', () => cache.set(`set:${index}`, index)),
        await timed('getMany', () => cache.getMany([key, 'before', `absent:${index}`])),
        await timed('setMany', () =>
          cache.setMany([
            { key: `m1:${index}`, value: 1 },
            { key: `m2:${index}`, value: 2, tags: ['m'] },
          ]),
        ),
        await timed('delete', () => cache.delete(`set:${index}`)),
        await timed('invalidateTags', () => cache.invalidateTags(['m'])),
        await timed('has', () => cache.has('before')),
        await timed('health', () => cache.health()),
      );
    };

    for (let index = 0; index < 20; index++) await round('up', index);
    // Killed while L2 reads are in flight.
    const inFlight = Array.from({ length: 20 }, (_, index) =>
      timed('get in flight', () => cache.get(`never-set:${index}`)),
    );
    await server.kill();
    outcomes.push(...(await Promise.all(inFlight)));
    const runsBefore = factoryRuns;
    for (let index = 0; index < 40; index++) await round('down', index);

    expect(factoryRuns - runsBefore).toBe(40);
    expect(cache.status().degraded).toBe(true);
    expect(await cache.get('before')).toBe('kept in L1');
    // Past its TTL but within grace: with Redis away, get answers the stale copy.
    await sleep(60);
    const staleHits = cache.stats().staleHits;
    expect(await cache.get('graceful')).toBe('stale but served');
    expect(cache.stats().staleHits).toBe(staleHits + 1);
    expect((await cache.health()).ok).toBe(false);
    expect(await registry.metrics()).toContain('fairmind_cache_degraded{cache="default"} 1');
    expect(cache.status().pendingInvalidations).toBeGreaterThan(0);

    await server.restart();
    expect(await until(() => !cache.status().degraded && cache.status().bus === 'subscribed')).toBe(
      true,
    );
    expect(await until(() => cache.status().pendingInvalidations === 0)).toBe(true);
    for (let index = 0; index < 10; index++) await round('back', index);

    const errors = outcomes.filter((outcome) => outcome.error !== undefined);
    expect(errors).toEqual([]);
    const slow = outcomes.filter((outcome) => outcome.ms > delay.bound());
    delay.stop();
    expect(slow).toEqual([]);

    // L2 in use again, with no restart: what one instance writes, the other reads from Redis.
    await until(() => other.status().redis === 'ready' && other.status().bus === 'subscribed');
    const l2Hits = other.stats().hits.l2;
    await cache.set('after', 'through Redis');
    expect(await other.get('after')).toBe('through Redis');
    expect(other.stats().hits.l2).toBe(l2Hits + 1);
    const direct = new Redis(server.url);
    expect(await direct.exists('faults:v:after')).toBe(1);
    direct.disconnect();
    expect(await registry.metrics()).toContain('fairmind_cache_degraded{cache="default"} 0');
  });
});

describe('a slow Redis', () => {
  const redis = useRedisServer();

  it('times commands out, opens the circuit, half-opens to probe and closes again', async () => {
    const cache = await open(redis.server.url, { namespace: 'slow', grace: 0 });
    await cache.set('k', 'v');
    // Every client's commands wait for 600 ms (CLIENT PAUSE blocks without closing sockets).
    await redis.admin.client('PAUSE', 600, 'ALL');
    const fresh = createCache({
      redis: redis.server.url,
      namespace: 'slow',
      commandTimeoutMs: TIMEOUT,
    });
    opened.push(fresh);

    const delay = loopDelay();
    const timings: number[] = [];
    for (let index = 0; index < 3; index++) {
      const outcome = await timed('get', () => cache.get(`cold:${index}`));
      expect(outcome.error).toBeUndefined();
      timings.push(outcome.ms);
    }
    for (const ms of timings) {
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT - 1);
      expect(ms).toBeLessThanOrEqual(delay.bound());
    }
    delay.stop();
    expect(cache.status().circuit).toBe('open');
    expect(cache.status().degraded).toBe(true);
    // Open: no wait at all, and the factory answers.
    const whileOpen = await timed('getOrSet', () => cache.getOrSet('cold:x', () => 'factory'));
    expect(whileOpen.ms).toBeLessThan(TIMEOUT);
    expect(cache.stats().errors).toBe(3);

    // After the pause and the reset timeout, the next call is the probe and closes the circuit.
    await sleep(700);
    expect(await cache.get('k')).toBe('v');
    // That was an L1 hit; the first call that needs Redis is the probe.
    expect(cache.status().circuit).toBe('open');
    expect(await cache.get('cold:probe')).toBeUndefined();
    expect(cache.status().circuit).toBe('closed');
    expect(cache.status().degraded).toBe(false);
    await fresh.ready();
  });

  it('replays writes made while Redis was away, so no instance reads an older value', async () => {
    const a = await open(redis.server.url, { namespace: 'replay' });
    const b = await open(redis.server.url, { namespace: 'replay' });
    await a.set('k', 'old', { tags: ['t'] });
    await a.set('tagged', 'old', { tags: ['t'] });
    await redis.admin.client('PAUSE', 500, 'ALL');
    // Three timeouts open A's circuit; the writes after that are kept for replay.
    for (let index = 0; index < 3; index++) await a.get(`x${index}`);
    expect(a.status().circuit).toBe('open');
    await a.set('k', 'new');
    await a.invalidateTags(['t']);
    expect(a.status().pendingInvalidations).toBe(2);
    expect(await a.get('k')).toBe('new');

    await sleep(600);
    // The first call after the reset timeout probes, closes the circuit and triggers the replay.
    await a.get('probe');
    expect(await until(() => a.status().pendingInvalidations === 0)).toBe(true);
    expect(await until(async () => (await b.get('k')) === undefined)).toBe(true);
    expect(await b.get('tagged')).toBeUndefined();
  });
});

describe('Redis Cluster', () => {
  let server: RedisServer;
  let cluster: Cluster;
  beforeAll(async () => {
    // One node that owns every slot: a real Cluster protocol (MOVED, slots, per-node SCAN).
    server = await startRedisServer({
      args: ['--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1'],
    });
    const admin = new Redis(server.url);
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await until(async () => /cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO'))));
    admin.disconnect();
    cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], {
      enableOfflineQueue: false,
    });
    await new Promise((resolve) => cluster.once('ready', resolve));
  });
  afterAll(async () => {
    cluster.disconnect();
    await server.stop();
  });

  it('groups keys by slot, keeps tags in one slot and clears through every master', async () => {
    const a = createCache({
      redis: cluster,
      namespace: 'cl',
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    const b = createCache({
      redis: cluster,
      namespace: 'cl',
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    opened.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    expect(a.status()).toMatchObject({ mode: 'redis', redis: 'ready', bus: 'subscribed' });
    const keys = Array.from({ length: 50 }, (_, index) => `k${index}`);
    expect(groupBySlot(keys.map((key) => `cl:v:${key}`)).size).toBeGreaterThan(10);

    await a.setMany(keys.map((key, index) => ({ key, value: index, tags: ['cl-tag'] })));
    expect(await b.getMany(keys)).toEqual(keys.map((_, index) => index));
    await a.deleteMany(['k0', 'k1']);
    // B drops its L1 copies when the bus message arrives.
    expect(await until(async () => (await b.get('k1')) === undefined)).toBe(true);
    expect(await b.getMany(['k0', 'k1', 'k2'])).toEqual([undefined, undefined, 2]);

    await a.invalidateTags(['cl-tag']);
    const c = createCache({
      redis: cluster,
      namespace: 'cl',
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    opened.push(c);
    await c.ready();
    expect(await c.get('k3')).toBeUndefined();

    await a.set('survivor', 1);
    await a.clear();
    expect(await c.get('survivor')).toBeUndefined();
    const master = cluster.nodes('master')[0] as Redis;
    expect(await master.keys('cl:v:*')).toEqual([]);
  });
});
