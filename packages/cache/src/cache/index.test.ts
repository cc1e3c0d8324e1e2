import { createMetricsRegistry } from '@fairmind/core/metrics';
import {
  type RedisServer,
  recordingLogger,
  startRedisServer,
  undefinedOptions,
} from '@fairmind/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complexSample } from '../codec/fixtures.js';
import { HEALTHY_COMMAND_TIMEOUT_MS, useCaches } from './fixtures.js';
import { type Cache, type CacheOptions, createCache } from './index.js';

const caches = useCaches();
const namespace = () => caches.namespace();

async function open(options: CacheOptions = {}): Promise<Cache> {
  const cache = caches.track(
    createCache({
      redis: caches.redis,
      jitter: 0,
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
      ...options,
    }),
  );
  await cache.ready();
  return cache;
}

/** Two instances sharing one namespace, as two processes would. */
async function pair(options: CacheOptions = {}): Promise<[Cache, Cache]> {
  const ns = namespace();
  return [await open({ namespace: ns, ...options }), await open({ namespace: ns, ...options })];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What `read` returns once it equals `expected`, polling for up to a second (bus delivery). */
async function eventually(read: () => Promise<unknown>, expected: unknown): Promise<unknown> {
  let value = await read();
  for (let round = 0; round < 100 && !Object.is(value, expected); round++) {
    await sleep(10);
    value = await read();
  }
  return value;
}

describe('values', () => {
  it('round-trips every complex type from L1 and from a second instance reading L2', async () => {
    const [a, b] = await pair();
    const sample = complexSample();
    await a.set('complex', sample);

    const fromL1 = await a.get('complex');
    expect(a.stats().hits.l1).toBe(1);
    expect(fromL1).toEqual(sample);

    const fromL2 = await b.get<ReturnType<typeof complexSample>>('complex');
    expect(b.stats().hits).toEqual({ l1: 0, l2: 1 });
    expect(fromL2).toEqual(sample);
    expect(Buffer.isBuffer(fromL2?.buffer)).toBe(true);
    expect(fromL2?.bigInts).toBeInstanceOf(BigInt64Array);
    expect(Object.is(fromL2?.negativeZero, -0)).toBe(true);
    // And from B's L1, now filled from L2.
    expect(await b.get('complex')).toEqual(sample);
    expect(b.stats().hits.l1).toBe(1);
  });

  it('stores plain JSON as readable JSON in Redis', async () => {
    const ns = namespace();
    const cache = await open({ namespace: ns });
    await cache.set('model:1', { name: 'credit', risk: 'high' }, { tags: ['models'] });
    const text = await caches.raw.get(`${ns}:v:model:1`);
    const envelope = JSON.parse(text ?? '');
    expect(envelope.v).toEqual({ name: 'credit', risk: 'high' });
    expect(envelope.t).toEqual(['models']);
    expect(envelope.x).toBeUndefined();
    await cache.set('when', new Date(0));
    expect(JSON.parse((await caches.raw.get(`${ns}:v:when`)) ?? '')).toMatchObject({
      v: ['D', 0],
      x: 1,
    });
  });

  it('treats a stored null or undefined as a hit', async () => {
    const [a, b] = await pair();
    await a.set('nothing', null);
    await a.set('undefined', undefined);
    let runs = 0;
    const factory = () => {
      runs++;
      return 'computed';
    };
    expect(await a.get('nothing')).toBeNull();
    expect(await b.get('nothing')).toBeNull();
    expect(await b.has('nothing')).toBe(true);
    expect(await b.has('undefined')).toBe(true);
    expect(await b.has('missing')).toBe(false);
    expect(await a.getOrSet('nothing', factory)).toBeNull();
    expect(await b.getOrSet('undefined', factory)).toBeUndefined();
    expect(runs).toBe(0);
    expect(b.stats().misses.l2).toBe(1);
  });

  it('shares plain values frozen, and hands out a fresh copy of complex ones', async () => {
    const cache = await open({ namespace: namespace() });
    const original = { list: [1, 2], nested: { a: 1 } };
    await cache.set('plain', original);
    expect(Object.isFrozen(original)).toBe(false);
    original.list.push(3);
    const first = await cache.get<typeof original>('plain');
    const second = await cache.get<typeof original>('plain');
    expect(first).toEqual({ list: [1, 2], nested: { a: 1 } });
    expect(first).toBe(second);
    expect(() => first?.list.push(4)).toThrow(TypeError);
    expect(() => {
      (first as { nested: { a: number } }).nested.a = 2;
    }).toThrow(TypeError);

    await cache.set('complex', { when: new Date(0), seen: new Set([1]) });
    const copy = await cache.get<{ when: Date; seen: Set<number> }>('complex');
    copy?.seen.add(2);
    copy?.when.setTime(99);
    expect(await cache.get('complex')).toEqual({ when: new Date(0), seen: new Set([1]) });
  });

  it('refuses a value it cannot store and loses nothing', async () => {
    const [a, b] = await pair();
    await a.set('k', 'v1');
    await expect(a.set('k', { fn: () => 1 })).rejects.toMatchObject({
      code: 'CACHE_UNSERIALIZABLE',
    });
    await expect(
      a.setMany([
        { key: 'k', value: 'v2' },
        { key: 'other', value: new (class Point {})() },
      ]),
    ).rejects.toThrow(/an instance of Point/);
    expect(await a.get('k')).toBe('v1');
    expect(await b.get('k')).toBe('v1');
    expect(await b.get('other')).toBeUndefined();
  });

  it('reads an unreadable L2 entry as a miss and counts it', async () => {
    const ns = namespace();
    const cache = await open({ namespace: ns });
    await caches.raw.set(`${ns}:v:broken`, '{"not":"an envelope"}');
    await caches.raw.set(`${ns}:v:future`, '{"v":["Q"],"e":99999999999999,"c":1,"x":2}');
    expect(await cache.get('broken')).toBeUndefined();
    expect(await cache.get('future')).toBeUndefined();
    expect(cache.stats().errors).toBe(2);
    expect(await cache.getOrSet('future', () => 'rewritten')).toBe('rewritten');
  });
});

describe('TTL', () => {
  it('expires entries in both tiers', async () => {
    const ns = namespace();
    const [a, b] = await pair({ namespace: ns });
    await a.set('short', 'v', { ttl: 500 });
    await a.set('long', 'v', { ttl: '1h' });
    expect(await b.get('short')).toBe('v');
    const pttl = await caches.raw.pttl(`${ns}:v:short`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(500);
    await sleep(550);
    expect(await a.get('short')).toBeUndefined();
    expect(await b.get('short')).toBeUndefined();
    expect(await caches.raw.exists(`${ns}:v:short`)).toBe(0);
    expect(await a.get('long')).toBe('v');
  });

  it('never lets an L1 copy filled from L2 outlive the L2 entry', async () => {
    const [a, b] = await pair({ ttl: '1h' });
    await a.set('k', 'v', { ttl: 600 });
    await sleep(300);
    // B copies the entry into its L1 half-way through its life.
    expect(await b.get('k')).toBe('v');
    expect(await b.get('k')).toBe('v');
    expect(b.stats().hits).toEqual({ l1: 1, l2: 1 });
    await sleep(350);
    expect(await b.get('k')).toBeUndefined();
    expect(b.stats().hits.l1).toBe(1);
  });

  it('caps L1 freshness with l1.ttl while L2 keeps the entry', async () => {
    const cache = await open({ namespace: namespace(), l1: { ttl: 100 } });
    await cache.set('k', 'v', { ttl: '1h' });
    await sleep(150);
    expect(await cache.get('k')).toBe('v');
    expect(cache.stats().hits).toEqual({ l1: 0, l2: 1 });
  });

  it('shortens TTLs by up to the jitter fraction', async () => {
    const ns = namespace();
    const cache = await open({ namespace: ns, jitter: 0.5 });
    const keys = Array.from({ length: 20 }, (_, index) => `j${index}`);
    await cache.setMany(keys.map((key) => ({ key, value: 1, ttl: 100_000 })));
    const ttls = await Promise.all(keys.map((key) => caches.raw.pttl(`${ns}:v:${key}`)));
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(49_000);
      expect(ttl).toBeLessThanOrEqual(100_000);
    }
    expect(new Set(ttls).size).toBeGreaterThan(1);
  });
});

describe('getMany / setMany', () => {
  let server: RedisServer;
  let admin: Redis;
  let monitor: Redis;
  let monitorSource: Redis;
  let seen: Array<{ command: string; first: string; source: string }> = [];
  let marks = 0;
  beforeAll(async () => {
    // A server of its own, so that no other test's traffic shows in MONITOR.
    server = await startRedisServer();
    admin = new Redis(server.url);
    monitorSource = new Redis(server.url);
    monitor = await monitorSource.monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      seen.push({ command: (args[0] ?? '').toLowerCase(), first: args[1] ?? '', source });
    });
  });
  afterAll(async () => {
    monitor.disconnect();
    monitorSource.disconnect();
    admin.disconnect();
    await server.stop();
  });

  /** Starts counting. */
  async function count(): Promise<void> {
    await settle();
    seen = [];
  }

  /**
   * Waits until MONITOR has shown everything the server ran so far: this call's own marker
   * is last. Not any marker: an earlier test's is still in `seen`, and waiting for that one
   * let a loaded CI run count the previous commands' late MONITOR lines as this test's.
   */
  async function settle(): Promise<void> {
    const mark = `mark-${++marks}`;
    await admin.echo(mark);
    const marked = (entry: (typeof seen)[number]) =>
      entry.command === 'echo' && entry.first === mark;
    for (let round = 0; round < 1_000 && !seen.some(marked); round++) await sleep(5);
    if (!seen.some(marked)) throw new Error(`MONITOR never showed ${mark}`);
  }

  /**
   * Commands clients sent since count(), by name: each is one round trip. Commands a Lua
   * script runs inside Redis show in MONITOR with the source "lua" and are not counted.
   */
  async function commands(): Promise<Record<string, number>> {
    await settle();
    const counts: Record<string, number> = {};
    for (const { command, source } of seen) {
      if (source === 'lua' || command === 'echo') continue;
      counts[command] = (counts[command] ?? 0) + 1;
    }
    return counts;
  }

  it('keeps order, mixes L1 and L2 hits, and costs one round trip each', async () => {
    const a = createCache({
      redis: server.url,
      namespace: 'rt',
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    const b = createCache({
      redis: server.url,
      namespace: 'rt',
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    caches.track(a);
    caches.track(b);
    await Promise.all([a.ready(), b.ready()]);
    // Scripts are loaded on first use; warm them so the count shows steady state.
    await a.setMany([
      { key: 'warm', value: 0 },
      { key: 'up', value: 0 },
    ]);

    await count();
    await a.setMany([
      { key: 'one', value: 1, ttl: '1h' },
      { key: 'two', value: { n: 2 }, ttl: '10m', tags: ['t'] },
      { key: 'three', value: new Map([[3, 3]]), ttl: 60_000 },
    ]);
    expect(await commands()).toEqual({ evalsha: 1 });
    expect(seen.filter((entry) => entry.source === 'lua').map((entry) => entry.command)).toEqual([
      'set',
      'set',
      'set',
      'publish',
    ]);

    await b.set('local', 'in B');
    await count();
    const values = await b.getMany(['three', 'missing', 'local', 'one', 'two']);
    expect(values).toEqual([new Map([[3, 3]]), undefined, 'in B', 1, { n: 2 }]);
    expect(b.stats().hits).toEqual({ l1: 1, l2: 3 });
    // One MGET for the entries and one for the tag time B had not seen yet.
    expect(await commands()).toEqual({ mget: 2 });

    await count();
    const again = await a.getMany(['x1', 'two', 'x2', 'one']);
    expect(again).toEqual([undefined, { n: 2 }, undefined, 1]);
    expect(await commands()).toEqual({ mget: 1 });

    // Per-item TTLs reached Redis.
    expect(await admin.pttl('rt:v:one')).toBeGreaterThan(3_000_000);
    const ten = await admin.pttl('rt:v:two');
    expect(ten).toBeGreaterThan(500_000);
    expect(ten).toBeLessThanOrEqual(600_000);
  });

  it('invalidates a tag in one command however many entries carry it', async () => {
    const cache = createCache({
      redis: server.url,
      namespace: 'tagwork',
      // One script writes all 2,000 entries, which a loaded CI machine may take seconds
      // for; the count below is what this test is about, not the deadline.
      commandTimeoutMs: 30_000,
    });
    caches.track(cache);
    await cache.ready();
    await cache.setMany(
      Array.from({ length: 2_000 }, (_, index) => ({
        key: `e${index}`,
        value: index,
        tags: ['all'],
      })),
    );
    expect(cache.status().pendingInvalidations).toBe(0);
    await cache.invalidateTags(['warm-the-script']);
    await count();
    await cache.invalidateTags(['all']);
    expect(await commands()).toEqual({ evalsha: 1 });
    expect(await cache.get('e1999')).toBeUndefined();
    expect(await cache.getMany(['e0', 'e1'])).toEqual([undefined, undefined]);
  });

  it('deletes several keys in one call', async () => {
    const cache = createCache({
      redis: server.url,
      namespace: 'del',
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    caches.track(cache);
    await cache.ready();
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'c', value: 3 },
    ]);
    await count();
    await cache.deleteMany(['a', 'c', 'a']);
    expect(await commands()).toEqual({ unlink: 1, publish: 1 });
    expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, 2, undefined]);
    expect(await admin.exists('del:v:a', 'del:v:c')).toBe(0);
  });
});

/**
 * A factory that reads its data when it starts and then waits for `release()`: `running`
 * settles once the first load has read, so a test can write while that load is in flight.
 */
function heldLoad<T>(read: () => T) {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started: () => void = () => {};
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const load = async () => {
    const seen = read();
    started();
    await gate;
    return seen;
  };
  return { load, running, release: () => release() };
}

describe('getOrSet', () => {
  it('runs the factory once for 100 concurrent calls on one key', async () => {
    const [a, b] = await pair();
    let runs = 0;
    const factory = async () => {
      runs++;
      await sleep(30);
      return { computed: runs };
    };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => a.getOrSet('hot', factory)),
    );
    expect(runs).toBe(1);
    for (const result of results) expect(result).toEqual({ computed: 1 });
    expect(a.stats().factory).toMatchObject({ runs: 1, errors: 0 });
    // One call read the tiers and ran the factory; the other 99 waited for it.
    expect(a.stats()).toMatchObject({ misses: { l1: 1, l2: 1 }, coalesced: 99 });
    // The value reaches L2 (written in the background) for the other instance.
    expect(await eventually(() => b.has('hot'), true)).toBe(true);
    expect(await b.getOrSet('hot', factory)).toEqual({ computed: 1 });
    expect(runs).toBe(1);
  });

  it('gives a factory error to every waiter and frees the key', async () => {
    const cache = await open({ namespace: namespace() });
    let runs = 0;
    const failing = async () => {
      runs++;
      await sleep(20);
      throw new Error('database down');
    };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => cache.getOrSet('k', failing)),
    );
    expect(runs).toBe(1);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason.message).toBe('database down');
    }
    expect(await cache.getOrSet('k', () => 'recovered')).toBe('recovered');
    expect(cache.stats().factory).toMatchObject({ runs: 2, errors: 1 });
  });

  it('serves the stale value within grace when the factory fails', async () => {
    const cache = await open({ namespace: namespace(), grace: '10s' });
    await cache.getOrSet('k', () => 'old', { ttl: 100 });
    await sleep(150);
    expect(await cache.get('k')).toBeUndefined();
    const value = await cache.getOrSet('k', () => {
      throw new Error('source down');
    });
    expect(value).toBe('old');
    expect(cache.stats().staleHits).toBe(1);
    // Without grace the error comes through.
    await cache.getOrSet('g0', () => 'old', { ttl: 100, grace: 0 });
    await sleep(150);
    await expect(
      cache.getOrSet('g0', () => Promise.reject(new Error('source down')), { grace: 0 }),
    ).rejects.toThrow('source down');
  });

  it('answers stale after the soft timeout and stores the slow value later', async () => {
    const cache = await open({ namespace: namespace(), grace: '10s' });
    await cache.getOrSet('k', () => 'old', { ttl: 100 });
    await sleep(150);
    let finished = false;
    const started = performance.now();
    const value = await cache.getOrSet(
      'k',
      async () => {
        await sleep(300);
        finished = true;
        return 'new';
      },
      { softTimeout: 50 },
    );
    expect(value).toBe('old');
    expect(finished).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    await sleep(400);
    expect(finished).toBe(true);
    expect(await cache.get('k')).toBe('new');
  });

  it('refreshes early in the background', async () => {
    const cache = await open({ namespace: namespace(), earlyRefresh: 0.5 });
    let version = 0;
    const factory = async () => {
      version++;
      return version;
    };
    expect(await cache.getOrSet('k', factory, { ttl: 400 })).toBe(1);
    expect(await cache.getOrSet('k', factory, { ttl: 400 })).toBe(1);
    expect(version).toBe(1);
    await sleep(250);
    // Past half its life: the caller still gets the current value at once.
    expect(await cache.getOrSet('k', factory, { ttl: 400 })).toBe(1);
    await sleep(50);
    expect(version).toBe(2);
    expect(await cache.get('k')).toBe(2);
  });

  it('does not store a result superseded by a delete during the factory', async () => {
    const [a, b] = await pair();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const pending = a.getOrSet('k', async () => {
      await gate;
      return 'computed before the delete';
    });
    await b.delete('k');
    // A hears of the delete while its factory still runs.
    expect(await eventually(async () => a.stats().bus.received, 1)).toBe(1);
    release();
    expect(await pending).toBe('computed before the delete');
    await sleep(20);
    expect(await a.get('k')).toBeUndefined();
    expect(await b.get('k')).toBeUndefined();
  });

  it('starts a new load for a read that comes after invalidateTags, not the one in flight', async () => {
    const cache = await open({ namespace: namespace() });
    let rows = ['a'];
    const { load: list, running, release } = heldLoad(() => [...rows]);
    const before = cache.getOrSet('list', list, { tags: ['models'] });
    await running;
    // A write lands and invalidates while that load still runs.
    rows = ['a', 'b'];
    await cache.invalidateTags(['models']);
    const after = cache.getOrSet('list', list, { tags: ['models'] });
    release();
    expect(await before).toEqual(['a']);
    expect(await after).toEqual(['a', 'b']);
    expect(cache.stats()).toMatchObject({ coalesced: 0, factory: { runs: 2, errors: 0 } });
    expect(await cache.getOrSet('list', list, { tags: ['models'] })).toEqual(['a', 'b']);
  });

  it('starts a new load for a read that comes after a delete of the key', async () => {
    const cache = await open({ namespace: namespace() });
    let value = 'old';
    const { load, running, release } = heldLoad(() => value);
    const before = cache.getOrSet('k', load);
    await running;
    value = 'new';
    await cache.delete('k');
    const after = cache.getOrSet('k', load);
    release();
    expect([await before, await after]).toEqual(['old', 'new']);
  });
});

describe('refreshOnInvalidate', () => {
  /** A factory whose runs can be held at a gate, returning what `value` is when each starts. */
  function gatedFactory(first: string) {
    const state = {
      value: first,
      runs: 0,
      gate: undefined as Promise<void> | undefined,
      open: () => {},
    };
    const hold = () => {
      state.gate = new Promise<void>((resolve) => {
        state.open = resolve;
      });
    };
    const factory = async () => {
      state.runs++;
      const value = state.value;
      await state.gate;
      return value;
    };
    return { state, hold, factory };
  }

  const sticky = { tags: ['models'], refreshOnInvalidate: true } as const;

  it.each([
    ['with Redis', {}],
    ['on L1 alone', { redis: undefined }],
  ])('answers the refreshed value as a hit after invalidateTags, %s', async (_name, extra) => {
    const cache = await open({ namespace: namespace(), ...extra });
    const { state, factory } = gatedFactory('v0');
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v0');
    state.value = 'v1';
    await cache.invalidateTags(['models']);
    // Computed again by the invalidation itself, not by the next read.
    expect(state.runs).toBe(2);
    const hits = cache.stats().hits.l1;
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v1');
    expect(state.runs).toBe(2);
    expect(cache.stats().hits.l1).toBe(hits + 1);
  });

  it('answers the previous value while the refresh runs, the new one once it resolves', async () => {
    const cache = await open({ namespace: namespace() });
    const { state, hold, factory } = gatedFactory('old');
    expect(await cache.getOrSet('list', factory, sticky)).toBe('old');
    state.value = 'new';
    hold();
    let invalidated = false;
    const invalidation = cache.invalidateTags(['models']).then(() => {
      invalidated = true;
    });
    await sleep(20);
    expect(state.runs).toBe(2);
    expect(await cache.getOrSet('list', factory, sticky)).toBe('old');
    expect(invalidated).toBe(false);
    state.open();
    await invalidation;
    expect(await cache.getOrSet('list', factory, sticky)).toBe('new');
    expect(state.runs).toBe(2);
  });

  it('runs once more for all the invalidations that come during a refresh, each waiting for a run that started after it', async () => {
    const cache = await open({ namespace: namespace() });
    const { state, hold, factory } = gatedFactory('v0');
    await cache.getOrSet('list', factory, sticky);
    state.value = 'v1';
    hold();
    const first = cache.invalidateTags(['models']);
    await sleep(10);
    const release = state.open;
    state.value = 'v2';
    const second = cache.invalidateTags(['models']);
    state.value = 'v3';
    const third = cache.invalidateTags(['models']);
    let later = false;
    void Promise.all([second, third]).then(() => {
      later = true;
    });
    // The queued run starts when the first ends; hold it too, to look between the two.
    hold();
    release();
    await first;
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v1');
    expect(later).toBe(false);
    state.open();
    await Promise.all([second, third]);
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v3');
    // The first load, the first refresh, and one refresh for the two that came during it.
    expect(state.runs).toBe(3);
  });

  it('gives up a refresh that fails: invalidateTags resolves, logs it, and the next read loads', async () => {
    const logger = recordingLogger();
    const cache = await open({ namespace: namespace(), logger });
    let fail = false;
    let value = 'v0';
    const factory = async () => {
      if (fail) throw new Error('database away');
      return value;
    };
    await cache.getOrSet('list', factory, sticky);
    fail = true;
    value = 'v1';
    await cache.invalidateTags(['models']);
    expect(logger.warns).toContainEqual(expect.objectContaining({ key: 'list' }));
    fail = false;
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v1');
    expect(cache.stats().misses.l1).toBeGreaterThan(0);
  });

  it('stops answering the previous value when the key is deleted during the refresh, and stores nothing from it', async () => {
    const cache = await open({ namespace: namespace() });
    const { state, hold, factory } = gatedFactory('v0');
    await cache.getOrSet('list', factory, sticky);
    state.value = 'v1';
    hold();
    const invalidation = cache.invalidateTags(['models']);
    await sleep(10);
    await cache.delete('list');
    const release = state.open;
    state.gate = undefined;
    state.value = 'v2';
    // A load of its own, not the value held before the delete.
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v2');
    release();
    await invalidation;
    expect(await cache.get('list')).toBe('v2');
  });

  it('lets another instance read the refreshed value from Redis without running its factory', async () => {
    const [a, b] = await pair();
    const { state, factory } = gatedFactory('v0');
    await a.getOrSet('list', factory, sticky);
    expect(await b.getOrSet('list', factory, sticky)).toBe('v0');
    expect(state.runs).toBe(1);
    state.value = 'v1';
    await a.invalidateTags(['models']);
    expect(await eventually(() => b.getOrSet('list', factory, sticky), 'v1')).toBe('v1');
    expect(state.runs).toBe(2);
    expect(b.stats().hits.l2).toBeGreaterThanOrEqual(2);
  });

  it('refreshes only a key read since it was stored, and leaves one nobody read to drop', async () => {
    const cache = await open({ namespace: namespace() });
    const { state, factory } = gatedFactory('v0');
    await cache.getOrSet('list', factory, sticky);
    state.value = 'v1';
    await cache.invalidateTags(['models']);
    expect(state.runs).toBe(2);
    // Nobody read the refreshed value: the next write does not load it again.
    state.value = 'v2';
    await cache.invalidateTags(['models']);
    expect(state.runs).toBe(2);
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v2');
    expect(state.runs).toBe(3);
    // Read once since: refreshed again.
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v2');
    state.value = 'v3';
    await cache.invalidateTags(['models']);
    expect(state.runs).toBe(4);
    expect(await cache.getOrSet('list', factory, sticky)).toBe('v3');
  });

  it('leaves keys stored without it to their next read', async () => {
    const cache = await open({ namespace: namespace() });
    const { state, factory } = gatedFactory('v0');
    await cache.getOrSet('list', factory, { tags: ['models'] });
    state.value = 'v1';
    await cache.invalidateTags(['models']);
    expect(state.runs).toBe(1);
    expect(await cache.getOrSet('list', factory, { tags: ['models'] })).toBe('v1');
    expect(state.runs).toBe(2);
  });
});

describe('getOrSetMany and cached', () => {
  it('asks the batch factory only for the missing keys', async () => {
    const [a, b] = await pair();
    await a.set('a', 'A');
    const asked: string[][] = [];
    const factory = async (missing: string[]) => {
      asked.push(missing);
      return new Map(
        missing.filter((key) => key !== 'skip').map((key) => [key, key.toUpperCase()]),
      );
    };
    expect(await b.getOrSetMany(['b', 'a', 'skip', 'c', 'b'], factory)).toEqual([
      'B',
      'A',
      undefined,
      'C',
      'B',
    ]);
    expect(asked).toEqual([['b', 'skip', 'c']]);
    expect(
      await a.getOrSetMany(['c', 'skip', 'b'], async (missing) => {
        asked.push(missing);
        return Object.fromEntries(missing.map((key) => [key, `record ${key}`]));
      }),
    ).toEqual(['C', 'record skip', 'B']);
    expect(asked[1]).toEqual(['skip']);
  });

  it('joins a getOrSet already loading a key, and counts the wait as coalesced', async () => {
    const cache = await open({ namespace: namespace() });
    let release: (value: string) => void = () => undefined;
    const slow = cache.getOrSet('a', () => new Promise<string>((resolve) => (release = resolve)));
    const asked: string[][] = [];
    const many = cache.getOrSetMany(['a', 'b'], async (missing) => {
      asked.push(missing);
      return Object.fromEntries(missing.map((key) => [key, `batch ${key}`]));
    });
    await eventually(async () => asked.length, 1);
    release('single a');
    expect(await many).toEqual(['single a', 'batch b']);
    expect(await slow).toBe('single a');
    expect(asked).toEqual([['b']]);
    expect(cache.stats()).toMatchObject({ coalesced: 1, factory: { runs: 2, errors: 0 } });
  });

  it('serves stale values when the batch factory fails, and rejects without them', async () => {
    const cache = await open({ namespace: namespace(), grace: '10s' });
    await cache.setMany([
      { key: 'a', value: 'old a', ttl: 50 },
      { key: 'b', value: 'old b', ttl: 50 },
    ]);
    await sleep(80);
    const failing = async () => {
      throw new Error('batch source down');
    };
    expect(await cache.getOrSetMany(['a', 'b'], failing)).toEqual(['old a', 'old b']);
    expect(cache.stats().staleHits).toBe(2);
    await expect(cache.getOrSetMany(['a', 'never'], failing)).rejects.toThrow('batch source down');
    expect(cache.stats().factory).toMatchObject({ runs: 2, errors: 2 });
    // The keys are free again.
    expect(await cache.getOrSetMany(['never'], async () => ({ never: 'now' }))).toEqual(['now']);
  });

  it('joins a getOrSet already computing one of the keys', async () => {
    const cache = await open({ namespace: namespace() });
    let single = 0;
    const slow = cache.getOrSet('x', async () => {
      single++;
      await sleep(50);
      return 'from getOrSet';
    });
    const batch = await cache.getOrSetMany(['x', 'y'], async (missing) => ({
      ...Object.fromEntries(missing.map((key) => [key, `batch ${key}`])),
    }));
    expect(batch).toEqual(['from getOrSet', 'batch y']);
    expect(await slow).toBe('from getOrSet');
    expect(single).toBe(1);
  });

  it('wraps a function, keyed by its arguments, invalidated by its tags', async () => {
    const cache = await open({ namespace: namespace() });
    let calls = 0;
    async function modelById(id: number, detail = false) {
      calls++;
      return { id, detail, calls };
    }
    const cachedModel = cache.cached(modelById, {
      ttl: '1m',
      tags: (id) => [`model:${id}`],
    });
    expect(await cachedModel(1)).toEqual({ id: 1, detail: false, calls: 1 });
    expect(await cachedModel(1)).toEqual({ id: 1, detail: false, calls: 1 });
    expect(await cachedModel(1, true)).toEqual({ id: 1, detail: true, calls: 2 });
    await cache.invalidateTags(['model:1']);
    expect(await cachedModel(1)).toEqual({ id: 1, detail: false, calls: 3 });
    const custom = cache.cached(async (x: string) => x.length, { key: (x) => `len:${x}` });
    expect(await custom('four')).toBe(4);
    expect(await cache.get('len:four')).toBe(4);
    expect(() => cache.cached(async () => 1)).toThrow(/needs options\.key/);
  });
});

describe('tags, namespaces and clear', () => {
  it('hides tagged entries on every instance, including ones read later from L2', async () => {
    const ns = namespace();
    const [a, b] = await pair({ namespace: ns });
    await a.set('m1', 1, { tags: ['models', 'model:1'] });
    await a.set('m2', 2, { tags: ['models'] });
    await a.set('other', 3, { tags: ['users'] });
    expect(await b.get('m1')).toBe(1);
    await a.invalidateTags(['models']);
    expect(await a.get('m1')).toBeUndefined();
    expect(await a.get('m2')).toBeUndefined();
    expect(await a.get('other')).toBe(3);
    // A third instance that never saw the message reads the tag time from Redis.
    const c = await open({ namespace: ns });
    expect(await c.get('m2')).toBeUndefined();
    expect(await c.get('other')).toBe(3);
    // New entries with the tag are visible again.
    await sleep(2);
    await a.set('m1', 'new', { tags: ['models'] });
    expect(await c.get('m1')).toBe('new');
  });

  it('clears one namespace or the whole cache, in both tiers', async () => {
    const ns = namespace();
    const [a, b] = await pair({ namespace: ns });
    const users = a.namespace('users');
    await users.set('1', 'alice');
    await a.set('1', 'root one');
    await a.namespace('models').set('1', 'model one');
    expect(await b.namespace('users').get('1')).toBe('alice');
    expect(await caches.raw.get(`${ns}:v:users:1`)).not.toBeNull();

    await a.clear('users');
    expect(await users.get('1')).toBeUndefined();
    expect(await eventually(() => b.namespace('users').get('1'), undefined)).toBeUndefined();
    expect(await caches.raw.exists(`${ns}:v:users:1`)).toBe(0);
    expect(await b.get('1')).toBe('root one');

    await b.namespace('models').clear();
    expect(await eventually(() => a.namespace('models').get('1'), undefined)).toBeUndefined();

    await b.clear();
    expect(await eventually(() => a.get('1'), undefined)).toBeUndefined();
    expect(await caches.raw.keys(`${ns}:v:*`)).toEqual([]);
  });
});

describe('L1 bounds and memory mode', () => {
  it('bounds L1 by entries and by bytes', async () => {
    const byEntries = createCache({ l1: { maxEntries: 3 } });
    const byBytes = createCache({ l1: { maxBytes: 10_000 } });
    caches.track(byEntries);
    caches.track(byBytes);
    for (let index = 0; index < 5; index++) {
      await byEntries.set(`k${index}`, index);
      await byBytes.set(`k${index}`, 'x'.repeat(3_000));
    }
    expect(byEntries.status().l1.entries).toBe(3);
    expect(await byEntries.get('k0')).toBeUndefined();
    expect(await byEntries.get('k4')).toBe(4);
    const l1 = byBytes.status().l1;
    expect(l1.bytes).toBeLessThanOrEqual(10_000);
    expect(l1.entries).toBe(3);
    // One value over the whole budget is not kept at all.
    await byBytes.set('huge', 'x'.repeat(20_000));
    expect(await byBytes.has('huge')).toBe(false);
  });

  it('runs on L1 alone without Redis and says so', async () => {
    const cache = createCache({ ttl: '1m' });
    caches.track(cache);
    expect(cache.status()).toMatchObject({
      mode: 'memory',
      redis: 'none',
      bus: 'off',
      degraded: false,
      l1: { enabled: true, maxEntries: 10_000 },
    });
    expect(await cache.getOrSet('k', () => 'v', { tags: ['t'] })).toBe('v');
    expect(await cache.get('k')).toBe('v');
    await cache.invalidateTags(['t']);
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('n', 1);
    await cache.clear();
    expect(await cache.has('n')).toBe(false);
    expect(await cache.health()).toMatchObject({ ok: true, mode: 'memory', latencyMs: null });
  });

  it('runs on L2 alone with l1: false', async () => {
    const [a, b] = await pair({ l1: false });
    await a.set('k', { v: 1 });
    expect(await b.get('k')).toEqual({ v: 1 });
    expect(await a.get('k')).toEqual({ v: 1 });
    expect(a.stats().hits).toEqual({ l1: 0, l2: 1 });
    expect(a.status().l1.enabled).toBe(false);
  });
});

describe('status, stats and metrics', () => {
  it('reports hits and misses per tier, factory runs and bus messages', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const [a, b] = await pair({ registry, name: 'metered' });
    await a.getOrSet('k', () => 'v');
    // The L2 write (and its bus message to B) happens in the background.
    expect(await eventually(async () => b.stats().bus.received, 1)).toBe(1);
    await a.get('k');
    await b.get('k');
    await b.get('absent');
    expect(a.stats()).toMatchObject({
      hits: { l1: 1, l2: 0 },
      misses: { l1: 1, l2: 1 },
      factory: { runs: 1, errors: 0 },
    });
    const text = await registry.metrics();
    expect(text).toContain('fairmind_cache_hits_total{cache="metered",tier="l1"} 1');
    expect(text).toContain('fairmind_cache_hits_total{cache="metered",tier="l2"} 1');
    expect(text).toContain('fairmind_cache_misses_total{cache="metered",tier="l1"} 3');
    expect(text).toContain('fairmind_cache_factory_runs_total{cache="metered",outcome="ok"} 1');
    expect(text).toContain('fairmind_cache_coalesced_total{cache="metered"} 0');
    expect(text).toContain('fairmind_cache_degraded{cache="metered"} 0');
    expect(text).toMatch(
      /fairmind_cache_bus_messages_total\{cache="metered",direction="sent"\} [1-9]/,
    );
    expect(text).toMatch(/fairmind_cache_l1_entries\{cache="metered"\} 2/);
  });

  it('adds up the time its factories ran, single and batch, failed ones too', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const cache = await open({ namespace: namespace(), registry, name: 'timed' });
    // Resolves once performance.now() (the cache's clock) shows `ms` gone: a timer alone can
    // fire a little early by that clock, since it counts from the loop's cached time.
    const slow = async <T>(value: T, ms: number): Promise<T> => {
      const started = performance.now();
      while (performance.now() - started < ms) {
        await new Promise((resolve) => setTimeout(resolve, ms - (performance.now() - started)));
      }
      return value;
    };
    await cache.getOrSet('one', () => slow('v', 30));
    await cache.getOrSetMany(['a', 'b'], async (missing) =>
      slow(Object.fromEntries(missing.map((key) => [key, key])), 30),
    );
    await expect(
      cache.getOrSet('broken', () =>
        slow(undefined, 30).then(() => Promise.reject(new Error('x'))),
      ),
    ).rejects.toThrow('x');
    const { factory } = cache.stats();
    expect(factory).toMatchObject({ runs: 3, errors: 1 });
    // Three runs of at least 30 ms each took 90 ms or more; a hit adds nothing.
    expect(factory.seconds).toBeGreaterThanOrEqual(0.09);
    await cache.getOrSet('one', () => slow('again', 30));
    expect(cache.stats().factory.seconds).toBe(factory.seconds);
    const text = await registry.metrics();
    expect(text).toContain(
      `fairmind_cache_factory_seconds_total{cache="timed"} ${factory.seconds}`,
    );
  });

  it('reports the Redis mode, health and readiness', async () => {
    const cache = await open({ namespace: namespace() });
    expect(cache.status()).toMatchObject({
      mode: 'redis',
      redis: 'ready',
      circuit: 'closed',
      bus: 'subscribed',
      degraded: false,
      pendingInvalidations: 0,
    });
    const health = await cache.health();
    expect(health.ok).toBe(true);
    expect(health.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('uses a client it is given and leaves it open', async () => {
    const client = caches.connect({ enableOfflineQueue: false });
    await new Promise((resolve) => client.once('ready', resolve));
    const cache = createCache({
      redis: client,
      namespace: namespace(),
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    await cache.ready();
    await cache.set('k', 'v');
    expect(await cache.get('k')).toBe('v');
    await cache.close();
    expect(client.status).toBe('ready');
    client.disconnect();
  });

  it("gives a client it is given an 'error' listener, so ioredis never reports one unhandled", () => {
    const client = caches.connect({ lazyConnect: true });
    expect(client.listenerCount('error')).toBe(0);
    caches.track(createCache({ redis: client, namespace: namespace() }));
    expect(client.listenerCount('error')).toBe(1);
    client.disconnect();
  });

  it('connects a lazyConnect client it is given', async () => {
    const client = caches.connect({ lazyConnect: true, enableOfflineQueue: false });
    const cache = caches.track(createCache({ redis: client, namespace: namespace() }));
    expect((await cache.ready()).redis).toBe('ready');
    await cache.close();
    client.disconnect();
  });

  it('closes the client it made and refuses calls afterwards', async () => {
    const cache = await open({ namespace: namespace() });
    await cache.close();
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'CACHE_CLOSED' });
    await expect(cache.getOrSet('k', () => 1)).rejects.toMatchObject({ code: 'CACHE_CLOSED' });
    expect(cache.status().bus).toBe('closed');
  });
});

describe('validation', () => {
  it('refuses bad options at creation, naming the option', () => {
    const bad: Array<[CacheOptions, RegExp]> = [
      [{ redis: 'http://localhost' }, /redis must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ redis: {} as never }, /ioredis Redis or Cluster client/],
      [{ ttl: -1 }, /ttl must be/],
      [{ ttl: '10 minutes' as never }, /ttl must be/],
      [{ grace: 'soon' as never }, /grace must be/],
      [{ jitter: 2 }, /jitter must be a number from 0 to 1/],
      [{ earlyRefresh: 1 }, /earlyRefresh must be a number between 0 and 1/],
      [{ namespace: 'has space' }, /namespace must be/],
      [{ namespace: 'ends:' }, /namespace must be/],
      [{ commandTimeoutMs: 0 }, /commandTimeoutMs must be a positive integer/],
      [{ l1: { maxEntries: 0 } }, /l1\.maxEntries must be a positive integer/],
      [{ breaker: { failureThreshold: 1.5 } }, /breaker\.failureThreshold/],
    ];
    for (const [options, message] of bad) {
      expect(() => createCache(options)).toThrow(message);
    }
    let caught: unknown;
    try {
      createCache({ ttl: 'x' as never });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'INVALID_OPTIONS' });
    expect((caught as Error).message).toMatch(/^\[@fairmind\/cache\] ttl/);
    const prefixed = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    expect(() => createCache({ redis: prefixed })).toThrow(/keyPrefix/);
  });

  it('refuses bad keys and tags per call', async () => {
    const cache = createCache();
    caches.track(cache);
    await expect(cache.get('')).rejects.toMatchObject({ code: 'CACHE_INVALID_ARGUMENT' });
    await expect(cache.getOrSet(42 as never, () => 1)).rejects.toThrow(/non-empty string/);
    await expect(cache.set('k', 1, { tags: [''] })).rejects.toThrow(/tags must be/);
    await expect(cache.set('k', 1, { ttl: 0 })).rejects.toThrow(/ttl must be/);
    await expect(
      cache.getOrSet('k', () => 1, { tags: ['t'], refreshOnInvalidate: 'yes' as never }),
    ).rejects.toThrow(/refreshOnInvalidate must be true or false/);
    expect(() => cache.namespace('a:b')).toThrow(/namespace must be/);
  });
});

describe('options given as undefined', () => {
  // createCache({ redis: process.env.REDIS_URL, ... }) with exactOptionalPropertyTypes: a key
  // given as undefined means what leaving it out means (here: a memory-only cache).
  it('keep every default', async () => {
    const cache = caches.track(
      createCache(undefinedOptions(new URL('./index.ts', import.meta.url), 'CacheOptions')),
    );
    const defaults = caches.track(createCache());
    expect(cache.status()).toEqual(defaults.status());
    expect(cache.status().mode).toBe('memory');
    expect(await cache.getOrSet('k', async () => 'v')).toBe('v');
    expect(await cache.get('k')).toBe('v');
  });
});

describe('health after a Redis outage', () => {
  it('reports the truth when Redis answers again, before any call needs Redis', async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    try {
      const cache = caches.track(
        createCache({
          redis: server.url,
          namespace: namespace(),
          commandTimeoutMs: 50,
          // A long cooldown: no cache call would try Redis again for a minute.
          breaker: { failureThreshold: 2, resetTimeoutMs: 60_000 },
        }),
      );
      await cache.ready();
      expect((await cache.health()).ok).toBe(true);
      // Frozen, not gone: commands time out, and the circuit opens.
      await admin.call('CLIENT', 'PAUSE', '500', 'ALL');
      for (let index = 0; index < 3; index++) await cache.get(`cold-${index}`);
      expect(cache.status().circuit).toBe('open');
      expect((await cache.health()).ok).toBe(false);
      await sleep(600);
      // Redis answers again; nothing but /health itself asks the cache for Redis.
      const health = await cache.health();
      expect(health.ok).toBe(true);
      expect(health.latencyMs).toBeGreaterThanOrEqual(0);
      expect(cache.status().circuit).toBe('closed');
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });
});

describe('a value set right after invalidateTags', () => {
  it('is a hit, on the writer and from Redis, however close the two calls come', async () => {
    const [writer, reader] = await pair();
    let misses = 0;
    for (let round = 0; round < 60; round++) {
      await writer.invalidateTags(['t']);
      await writer.set(`k${round}`, round, { tags: ['t'] });
      if ((await writer.get(`k${round}`)) !== round) misses++;
      if ((await reader.get(`k${round}`)) !== round) misses++;
    }
    expect(misses).toBe(0);
  });

  it('still hides an entry written before the invalidation', async () => {
    const [writer, reader] = await pair();
    for (let round = 0; round < 20; round++) {
      await writer.set(`old${round}`, round, { tags: ['u'] });
      await writer.invalidateTags(['u']);
      expect(await writer.get(`old${round}`)).toBeUndefined();
      expect(await reader.get(`old${round}`)).toBeUndefined();
    }
  });
});
