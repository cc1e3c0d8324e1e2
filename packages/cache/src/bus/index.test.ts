import { describe, expect, it } from 'vitest';
import { HEALTHY_COMMAND_TIMEOUT_MS, useCaches } from '../cache/fixtures.js';
import { type Cache, createCache } from '../cache/index.js';
import { decodeMessage, encodeMessage } from './index.js';

const caches = useCaches();
let counter = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two instances on one namespace, each with its own instance id, both subscribed. */
async function pair(): Promise<{ a: Cache; b: Cache; ns: string; ids: [string, string] }> {
  counter++;
  const ns = caches.namespace('bus');
  const healthy = { redis: caches.redis, commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS };
  const ids: [string, string] = [`a-${counter}`, `b-${counter}`];
  const a = caches.track(createCache({ ...healthy, namespace: ns, instanceId: ids[0] }));
  const b = caches.track(createCache({ ...healthy, namespace: ns, instanceId: ids[1] }));
  await Promise.all([a.ready(), b.ready()]);
  expect(a.status().bus).toBe('subscribed');
  expect(b.status().bus).toBe('subscribed');
  return { a, b, ns, ids };
}

/**
 * Milliseconds until `read` returns `expected`, polling every 2 ms for at most 1 s; -1 if it
 * never does. The acceptance bound is 100 ms.
 */
async function msUntil(read: () => Promise<unknown>, expected: unknown): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 1_000) {
    if (Object.is(await read(), expected)) return performance.now() - started;
    await sleep(2);
  }
  return -1;
}

describe('the invalidation bus', () => {
  it("drops B's L1 copy within 100 ms of a set, delete or tag invalidation on A", async () => {
    const { a, b } = await pair();
    await a.set('k', 'v1', { tags: ['t'] });
    expect(await b.get('k')).toBe('v1');
    expect(await b.get('k')).toBe('v1');
    expect(b.stats().hits.l1).toBe(1);

    await a.set('k', 'v2', { tags: ['t'] });
    const afterSet = await msUntil(() => b.get('k'), 'v2');
    expect(afterSet).toBeGreaterThanOrEqual(0);
    expect(afterSet).toBeLessThanOrEqual(100);

    await b.get('k');
    await a.delete('k');
    const afterDelete = await msUntil(() => b.get('k'), undefined);
    expect(afterDelete).toBeGreaterThanOrEqual(0);
    expect(afterDelete).toBeLessThanOrEqual(100);

    await a.set('k', 'v3', { tags: ['t'] });
    expect(await msUntil(() => b.get('k'), 'v3')).toBeGreaterThanOrEqual(0);
    await a.invalidateTags(['t']);
    const afterTags = await msUntil(() => b.get('k'), undefined);
    expect(afterTags).toBeGreaterThanOrEqual(0);
    expect(afterTags).toBeLessThanOrEqual(100);
    expect(b.stats().bus.received).toBeGreaterThanOrEqual(4);
  });

  it('does not echo to its sender', async () => {
    const { a, b } = await pair();
    await a.set('k', 'v');
    await a.set('k2', 'v');
    await a.delete('k2');
    await a.invalidateTags(['nothing']);
    await sleep(50);
    expect(a.stats().bus).toEqual({ sent: 4, received: 0 });
    expect(b.stats().bus.received).toBe(4);
    // A's own L1 copy survived its own message.
    expect(await a.get('k')).toBe('v');
    expect(a.stats().hits).toEqual({ l1: 1, l2: 0 });
  });

  it("flushes B's L1 when B's subscriber reconnects", async () => {
    const { a, b, ns, ids } = await pair();
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    // Change L2 behind the bus's back, as a message lost during a disconnect would.
    const key = `${ns}:v:k`;
    const text = (await caches.raw.get(key)) ?? '';
    await caches.raw.set(key, text.replace('"v1"', '"changed"'), 'KEEPTTL');
    expect(await b.get('k')).toBe('v1');

    const clients = await caches.raw.client('LIST');
    const line = String(clients)
      .split('\n')
      .find((entry) => entry.includes(`name=fairmind-cache-bus:${ids[1]} `));
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
    expect(id).toBeDefined();
    await caches.raw.client('KILL', 'ID', id as string);

    for (let round = 0; round < 300 && b.stats().l1Flushes === 0; round++) await sleep(10);
    expect(b.stats().l1Flushes).toBe(1);
    expect(b.status().bus).toBe('subscribed');
    expect(await b.get('k')).toBe('changed');
    expect(a.stats().l1Flushes).toBe(0);
    // And the bus works again after the reconnect.
    expect(await b.get('k')).toBe('changed');
    await a.set('k', 'after');
    expect(await msUntil(() => b.get('k'), 'after')).toBeGreaterThanOrEqual(0);
  });

  it('ignores malformed messages and counts them', async () => {
    const { b, ns } = await pair();
    await caches.raw.publish(`${ns}:bus`, 'not json');
    await caches.raw.publish(`${ns}:bus`, JSON.stringify({ i: 'x', k: 'k', d: 'not a list' }));
    for (let round = 0; round < 100 && b.stats().errors < 2; round++) await sleep(10);
    expect(b.stats().errors).toBe(2);
    expect(b.stats().bus.received).toBe(0);
  });
});

describe('messages', () => {
  it('round-trip with their sender', () => {
    for (const message of [
      { kind: 'keys', keys: ['a', 'b:c'] },
      { kind: 'tags', tags: ['t'], at: 123 },
      { kind: 'clear', prefix: 'users:' },
    ] as const) {
      expect(decodeMessage(encodeMessage('me', message))).toEqual({ from: 'me', message });
    }
    expect(decodeMessage('{"i":"me","k":"t","d":["t"]}')).toBeUndefined();
    expect(decodeMessage('[]')).toBeUndefined();
    expect(decodeMessage('null')).toBeUndefined();
  });
});
