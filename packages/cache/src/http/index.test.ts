import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Exchange, type FairmindState, runMiddleware } from '@fairmind/core';
import { applyHeaders, nodeExchange, writeReply } from '@fairmind/core/node';
import { useTestRedis } from '@fairmind/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTHY_COMMAND_TIMEOUT_MS } from '../cache/fixtures.js';
import { type Cache, createCache } from '../cache/index.js';
import { createResponseCache, type ResponseCache, sortedQuery } from './index.js';

const testRedis = useTestRedis();

interface Role {
  role?: string;
}
const roleOf = (exchange: Exchange) => (exchange.state as Role).role;

/**
 * A small platform: GET /models and /dashboard are cached per role; POST /models writes and
 * invalidates the 'models' tag before answering, as the platform's handlers do.
 */
function platform(responses: ResponseCache) {
  const calls = new Map<string, number>();
  const server = createServer((req, res) => {
    void (async () => {
      const exchange = nodeExchange(req, { role: req.headers['x-role'] } as FairmindState);
      const decision = await runMiddleware([responses.middleware()], exchange);
      if (decision.reply) {
        writeReply(res, decision.reply);
        return;
      }
      applyHeaders(res, decision.headers);
      const path = (req.url ?? '/').split('?')[0] as string;
      if (req.method === 'POST') {
        await responses.invalidate(['models']);
        res.statusCode = 204;
        res.end();
        return;
      }
      const count = (calls.get(path) ?? 0) + 1;
      calls.set(path, count);
      const body = JSON.stringify({ path, count, role: roleOf(exchange), query: req.url });
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        etag: `"${path}-${count}"`,
        'x-request-id': `req-${count}`,
      };
      if (path === '/private') headers['cache-control'] = 'private';
      if (path === '/cookie') headers['set-cookie'] = 'session=1';
      const status = path === '/missing' ? 404 : 200;
      if (req.method === 'GET') await responses.store(exchange, { status, headers, body });
      res.writeHead(status, headers);
      res.end(body);
    })();
  });
  return { server, calls };
}

describe('the response cache on node:http', () => {
  let cache: Cache;
  let server: Server;
  let base: string;
  let calls: Map<string, number>;

  beforeAll(async () => {
    cache = createCache({
      redis: testRedis.url,
      namespace: `${testRedis.prefix}http`,
      commandTimeoutMs: HEALTHY_COMMAND_TIMEOUT_MS,
    });
    await cache.ready();
    const responses = createResponseCache({
      cache,
      ttl: '1m',
      vary: [roleOf, 'accept-language'],
      tags: ['models'],
    });
    const app = platform(responses);
    server = app.server;
    calls = app.calls;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cache.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers: { 'x-role': 'admin', ...headers } });

  it('serves a second GET from the cache, whatever the query order', async () => {
    const first = await get('/models?limit=20&cursor=a');
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-status')).toBe('fairmind; fwd=miss');
    const firstBody = await first.json();

    const second = await get('/models?cursor=a&limit=20');
    expect(second.status).toBe(200);
    expect(second.headers.get('cache-status')).toBe('fairmind; hit');
    expect(second.headers.get('age')).toMatch(/^\d+$/);
    expect(second.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(second.headers.get('etag')).toBe('"/models-1"');
    // Per-request headers are not replayed.
    expect(second.headers.get('x-request-id')).toBeNull();
    expect(await second.json()).toEqual(firstBody);
    expect(calls.get('/models')).toBe(1);
  });

  it('keeps one entry per vary value: the role and a header', async () => {
    await get('/dashboard');
    await get('/dashboard', { 'x-role': 'viewer' });
    await get('/dashboard', { 'accept-language': 'de' });
    await get('/dashboard');
    const viewer = await get('/dashboard', { 'x-role': 'viewer' });
    expect((await viewer.json()).role).toBe('viewer');
    expect(calls.get('/dashboard')).toBe(3);
  });

  it('invalidates by tag on a write, before the write is answered', async () => {
    await get('/models?page=2');
    const before = calls.get('/models') ?? 0;
    const write = await fetch(`${base}/models`, { method: 'POST', headers: { 'x-role': 'admin' } });
    expect(write.status).toBe(204);
    const after = await get('/models?page=2');
    expect(after.headers.get('cache-status')).toBe('fairmind; fwd=miss');
    expect(calls.get('/models')).toBe(before + 1);
  });

  it('answers If-None-Match with 304 and HEAD without a body', async () => {
    const first = await get('/etag');
    const etag = first.headers.get('etag') as string;
    const revalidated = await get('/etag', { 'if-none-match': `W/${etag}, "other"` });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect(await revalidated.text()).toBe('');
    const head = await fetch(`${base}/etag`, { method: 'HEAD', headers: { 'x-role': 'admin' } });
    expect(head.status).toBe(200);
    expect(head.headers.get('cache-status')).toBe('fairmind; hit');
    expect(calls.get('/etag')).toBe(1);
  });

  it('never keeps private, cookie-setting or non-200 responses', async () => {
    for (const path of ['/private', '/cookie', '/missing']) {
      await get(path);
      const again = await get(path);
      expect(again.headers.get('cache-status')).toBe('fairmind; fwd=miss');
      expect(calls.get(path)).toBe(2);
    }
  });
});

describe('keys and options', () => {
  const exchange = (
    url: string,
    method = 'GET',
    headers: Record<string, string> = {},
    state = {},
  ) =>
    ({
      request: new Request(`http://h${url}`, { method, headers }),
      clientAddress: '127.0.0.1',
      secure: false,
      state,
    }) as Exchange;

  it('builds keys from method, path, sorted query and the vary list', () => {
    const responses = createResponseCache({ cache: createCache(), vary: [roleOf] });
    expect(responses.key(exchange('/a?b=2&a=1&b=1', 'GET', {}, { role: 'admin' }))).toBe(
      'GET /a?a=1&b=1&b=2|admin',
    );
    expect(responses.key(exchange('/a', 'HEAD'))).toBe('GET /a?|');
    expect(responses.key(exchange('/a', 'POST'))).toBeUndefined();
    expect(responses.key(exchange(`/a?q=${'x'.repeat(600)}`))).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(sortedQuery('/x?z=%20&a=1')).toBe('a=1&z=+');
    expect(sortedQuery('/x')).toBe('');
  });

  it('refuses bad options at creation', () => {
    const cache = createCache();
    expect(() => createResponseCache({} as never)).toThrow(/needs options\.cache/);
    expect(() => createResponseCache({ cache, ttl: 0 })).toThrow(/ttl must be/);
    expect(() => createResponseCache({ cache, vary: [1 as never] })).toThrow(/vary must be/);
    expect(() => createResponseCache({ cache, statuses: [99] })).toThrow(/statuses/);
    expect(() => createResponseCache({ cache, tags: [''] })).toThrow(/tags must be/);
    expect(() => createResponseCache({ cache, maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
  });

  it('skips bodies over the limit', async () => {
    const responses = createResponseCache({ cache: createCache(), maxBodyBytes: 10 });
    const ex = exchange('/big');
    const stored = await responses.store(ex, { status: 200, headers: {}, body: 'é'.repeat(6) });
    expect(stored).toBe(false);
    expect(await responses.store(ex, { status: 200, headers: { 'x-n': 1 }, body: 'small' })).toBe(
      true,
    );
    expect((await responses.lookup(ex))?.headers).toEqual({ 'x-n': '1' });
  });
});

describe('cached(handler)', () => {
  const exchange = (url: string, headers: Record<string, string> = {}, method = 'GET') =>
    ({
      request: new Request(`http://h${url}`, { method, headers }),
      clientAddress: '127.0.0.1',
      secure: false,
      state: {},
    }) as Exchange;

  it('answers from the cache, revalidates with 304 and forgets on invalidation', async () => {
    const responses = createResponseCache({ cache: createCache(), tags: ['notes'] });
    let runs = 0;
    const handler = responses.cached(async () => {
      runs++;
      return { status: 200, headers: { 'content-type': 'application/json' }, body: `[${runs}]` };
    });
    const first = await handler(exchange('/notes'), undefined);
    expect(first).toMatchObject({ status: 200, body: '[1]' });
    expect(first.headers['cache-status']).toBe('fairmind; fwd=miss');
    const etag = first.headers['etag'] as string;
    expect(etag).toMatch(/^"[\w-]{27}"$/);
    const again = await handler(exchange('/notes'), undefined);
    expect(again).toMatchObject({ status: 200, body: '[1]', headers: { etag } });
    const revalidated = await handler(exchange('/notes', { 'if-none-match': etag }), undefined);
    expect(revalidated).toMatchObject({ status: 304, body: null, headers: { etag } });
    expect(runs).toBe(1);

    await responses.invalidate(['notes']);
    const fresh = await handler(exchange('/notes', { 'if-none-match': etag }), undefined);
    expect(fresh).toMatchObject({ status: 200, body: '[2]' });
    expect(fresh.headers['etag']).not.toBe(etag);
  });

  it('passes through what it may not keep: errors, no-store, other methods', async () => {
    const responses = createResponseCache({ cache: createCache() });
    const replies = [
      { status: 404, headers: {}, body: '{}' },
      { status: 200, headers: { 'cache-control': 'no-store' }, body: 'x' },
    ];
    for (const reply of replies) {
      const handler = responses.cached(async () => reply);
      expect(await handler(exchange('/x'), undefined)).toBe(reply);
      expect(await responses.lookup(exchange('/x'))).toBeUndefined();
    }
    const post = responses.cached(async () => ({ status: 200, headers: {}, body: 'ok' }));
    expect((await post(exchange('/y', {}, 'POST'), undefined)).headers['etag']).toBeUndefined();
  });
});
