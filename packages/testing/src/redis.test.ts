import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceUrls } from './context.js';
import { useTestRedis } from './hooks.js';
import { deleteRedisPrefix, escapeGlob } from './redis-keys.js';

const redis = useTestRedis();
let client: Redis;

beforeAll(async () => {
  client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
});
afterAll(() => {
  client.disconnect();
});

describe('useTestRedis', () => {
  it('gives a per-file prefix under the run id', () => {
    const { runId, redisUrl } = serviceUrls();
    expect(redis.url).toBe(redisUrl);
    expect(redis.prefix.startsWith(`t:${runId}:`)).toBe(true);
    expect(redis.prefix.endsWith(':')).toBe(true);
  });
});

describe('deleteRedisPrefix', () => {
  it('deletes every key under the prefix, and only those', async () => {
    const base = `${redis.prefix}sweep:`;
    const pipeline = client.pipeline();
    for (let i = 0; i < 1_200; i++) pipeline.set(`${base}${i}`, 'x');
    pipeline.set(`${redis.prefix}sweepX`, 'keep');
    await pipeline.exec();

    expect(await deleteRedisPrefix(redis.url, base)).toBe(1_200);
    expect(await client.exists(`${base}0`, `${base}1199`)).toBe(0);
    expect(await client.get(`${redis.prefix}sweepX`)).toBe('keep');
  });

  it('treats glob characters in the prefix literally', async () => {
    await client.set(`${redis.prefix}a*b:1`, 'x');
    await client.set(`${redis.prefix}aXb:1`, 'keep');
    expect(escapeGlob('a*b?[c]\\')).toBe('a\\*b\\?\\[c\\]\\\\');
    expect(await deleteRedisPrefix(redis.url, `${redis.prefix}a*b:`)).toBe(1);
    expect(await client.get(`${redis.prefix}aXb:1`)).toBe('keep');
  });

  it('refuses an empty prefix', async () => {
    await expect(deleteRedisPrefix(redis.url, '')).rejects.toThrow(/non-empty prefix/);
  });
});
