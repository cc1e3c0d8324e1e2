import { describe, expect, it } from 'vitest';
import { HEALTHY_COMMAND_TIMEOUT_MS, useCaches, useRedisServer } from '../cache/fixtures.js';
import { createCache } from '../cache/index.js';
import { parseEnvelope } from './index.js';

const caches = useCaches();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('parseEnvelope', () => {
  it('reads the envelope and refuses anything else', () => {
    expect(parseEnvelope('{"v":null,"e":2,"c":1}')).toEqual({ v: null, e: 2, c: 1 });
    expect(parseEnvelope('{"v":["D",0],"e":2,"s":3,"c":1,"t":["a"],"x":1}')).toMatchObject({
      s: 3,
      t: ['a'],
      x: 1,
    });
    for (const text of [
      'nope',
      '[]',
      'null',
      '{"e":2,"c":1}',
      '{"v":1,"e":"2","c":1}',
      '{"v":1,"e":2,"c":1,"t":[1]}',
    ]) {
      expect(() => parseEnvelope(text)).toThrow(/CACHE|not/);
    }
    expect(() => parseEnvelope('{"v":1,"e":2,"c":1,"x":2}')).toThrow(
      /encoding version 2; this version reads 1: upgrade @fairmind\/cache on every instance/,
    );
  });
});

describe('the tag clock', () => {
  it('stops trusting entries once it has forgotten a tag', async () => {
    const ns = caches.namespace();
    const options = {
      redis: caches.redis,
      namespace: ns,
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    };
    const a = caches.track(createCache(options));
    const b = caches.track(createCache(options));
    await Promise.all([a.ready(), b.ready()]);
    await a.set('entry', 'v', { tags: ['t0'] });
    await sleep(2);
    await b.invalidateTags(['t0']);
    for (let round = 0; round < 100 && a.stats().bus.received === 0; round++) await sleep(10);
    // A now knows t0's time; make it forget t0 by filling its tag clock (10,000 tags).
    await a.invalidateTags(Array.from({ length: 10_001 }, (_, index) => `flood${index}`));
    // Without the eviction count A would treat the unknown t0 as never invalidated.
    expect(await a.get('entry')).toBeUndefined();
  });
});

describe('writes kept while Redis is away', () => {
  const redis = useRedisServer();

  it('become one clear of the namespace past 10,000 keys', async () => {
    const options = {
      redis: redis.server.url,
      namespace: 'outbox',
      commandTimeoutMs: 100,
      breaker: { failureThreshold: 1, resetTimeoutMs: 100 },
    };
    const a = caches.track(createCache(options));
    const b = caches.track(createCache(options));
    await Promise.all([a.ready(), b.ready()]);
    await b.set('written-elsewhere', 1);
    await redis.admin.client('PAUSE', 400, 'ALL');
    await a.get('trips-the-breaker');
    expect(a.status().circuit).toBe('open');
    await a.setMany(
      Array.from({ length: 10_001 }, (_, index) => ({ key: `k${index}`, value: index })),
    );
    await a.invalidateTags(['still-kept']);
    expect(a.status().pendingInvalidations).toBe(2);

    await sleep(500);
    // Traffic drives recovery: each read past the cool-down probes Redis, and a probe or
    // replay that times out on a loaded machine leaves the writes for the next one.
    for (let round = 0; round < 100 && a.status().pendingInvalidations > 0; round++) {
      await a.get('probe');
      await sleep(50);
    }
    expect(a.status().pendingInvalidations).toBe(0);
    expect(await redis.admin.exists('outbox:v:written-elsewhere')).toBe(0);
    expect(Number(await redis.admin.get('outbox:t:{outbox}:still-kept'))).toBeGreaterThan(0);
  });
});
