import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Middleware } from '@fairmind/core';
import { runTypeScript } from '@fairmind/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../limiter/index.js';
import { createMemoryStore } from '../memory-store/index.js';
import { createRedisStore } from '../redis/index.js';
import {
  HEALTHY_STORE_TIMEOUT_MS,
  serveNode,
  type TestServer,
  throwawayRedis,
  useSharedRedis,
} from '../test-support/index.js';
import { type RateLimitOptions, rateLimit } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));
const redis = useSharedRedis();

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let unique = 0;
function redisStore() {
  return createRedisStore({ client: redis.client, prefix: `${redis.prefix}${++unique}:` });
}

/** A node:http server with `chain`; the handler answers 200 with the rate-limit decision. */
async function serve(chain: Middleware[]): Promise<string> {
  const server: TestServer = await serveNode(chain, (_req, res, exchange) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ rateLimit: exchange.state.rateLimit ?? null }));
  });
  cleanups.push(() => server.close());
  return server.url;
}

async function limited(options: RateLimitOptions = {}): Promise<string> {
  return serve([
    rateLimit({
      store: redisStore(),
      limit: 5,
      windowSeconds: 60,
      timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
      ...options,
    }),
  ]);
}

async function statuses(
  url: string,
  requests: Array<Record<string, string>>,
  parallel = false,
): Promise<number[]> {
  if (parallel) {
    return Promise.all(requests.map(async (headers) => (await fetch(url, { headers })).status));
  }
  const out: number[] = [];
  for (const headers of requests) out.push((await fetch(url, { headers })).status);
  return out;
}

const allowed = (list: number[]) => list.filter((status) => status === 200).length;

describe('5 per 60 s', () => {
  it('sends the IETF headers, then a 429 problem with an integer Retry-After equal to t', async () => {
    const url = await limited();
    const first = await fetch(`${url}/api/v1/models`);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"default";q=5;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"default";r=4;t=([1-9]|[1-5]\d|60)$/);
    const body = (await first.json()) as { rateLimit: { remaining: number; source: string } };
    expect(body.rateLimit).toMatchObject({ remaining: 4, source: 'store' });
    for (let index = 0; index < 4; index++) await fetch(url);
    const refused = await fetch(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=5;w=60');
    const header = refused.headers.get('ratelimit') ?? '';
    const t = Number(/;t=(\d+)$/.exec(header)?.[1]);
    expect(header).toMatch(/^"default";r=0;t=\d+$/);
    const retryAfter = refused.headers.get('retry-after') ?? '';
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(t);
    expect(t).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({
      status: 429,
      code: 'RATE_LIMITED',
      title: 'Too Many Requests',
    });
    // The deny cache answers the next ones the same way.
    const again = await fetch(url);
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('allows exactly 5 of 50 parallel requests', async () => {
    const url = await limited();
    const results = await statuses(
      url,
      Array.from({ length: 50 }, () => ({})),
      true,
    );
    expect(allowed(results)).toBe(5);
    expect(results.filter((status) => status === 429)).toHaveLength(45);
  });

  it('allows 5 in total to two processes and two clients sharing Redis', async () => {
    const prefix = `${redis.prefix}shared:`;
    const second = redis.connect();
    cleanups.push(() => second.disconnect());
    const limiters = [redis.client, second].map((own) =>
      createRateLimiter({
        store: createRedisStore({ client: own, prefix }),
        limit: 5,
        windowSeconds: 60,
        timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
      }),
    );
    const startAt = Date.now() + 1_500;
    const child = runTypeScript(join(here, 'fixtures', 'consume.ts'), {
      args: [
        redis.clusterNodes.join(',') || redis.url,
        prefix,
        'ip:203.0.113.7',
        '20',
        String(startAt),
      ],
    });
    await sleep(Math.max(0, startAt - Date.now()));
    const here20 = await Promise.all(
      limiters.flatMap((limiter) =>
        Array.from({ length: 20 }, () => limiter.consume('ip:203.0.113.7')),
      ),
    );
    const result = await child;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const inChild = Number(result.stdout);
    expect(here20.filter((r) => r.allowed).length + inChild).toBe(5);
  });

  it('does not give a burst at a window boundary twice the limit', async () => {
    let now = 59_900;
    const url = await serve([
      rateLimit({ store: createMemoryStore({ now: () => now }), limit: 5, windowSeconds: 60 }),
    ]);
    const before = await statuses(
      url,
      Array.from({ length: 5 }, () => ({})),
      true,
    );
    now = 60_100;
    const after = await statuses(
      url,
      Array.from({ length: 20 }, () => ({})),
      true,
    );
    expect(allowed(before)).toBe(5);
    expect(allowed(after)).toBe(0);
  });
});

describe('who is counted', () => {
  it('ignores X-Forwarded-For without trusted proxies', async () => {
    const url = await limited();
    const spoofed = Array.from({ length: 10 }, (_, index) => ({
      'x-forwarded-for': `198.51.100.${index}`,
    }));
    expect(allowed(await statuses(url, spoofed))).toBe(5);
  });

  it('reads X-Forwarded-For right to left through trusted proxies', async () => {
    const url = await limited({ trustedProxies: 'loopback, 10.0.0.0/8' });
    // The client's own prefix is forged; the entry the trusted proxy appended is the client.
    const forged = Array.from({ length: 10 }, (_, index) => ({
      'x-forwarded-for': `6.6.6.${index}, 203.0.113.7, 10.1.2.3`,
    }));
    expect(allowed(await statuses(url, forged))).toBe(5);
    expect(allowed(await statuses(url, [{ 'x-forwarded-for': '203.0.113.8' }]))).toBe(1);
  });

  it('counts one IPv6 /64 as one client, and a mapped IPv4 as the IPv4', async () => {
    const url = await limited({ trustedProxies: 'loopback' });
    const rotating = Array.from({ length: 10 }, (_, index) => ({
      'x-forwarded-for': `2001:db8:1:2:${index.toString(16)}::${index + 1}`,
    }));
    expect(allowed(await statuses(url, rotating))).toBe(5);
    expect(allowed(await statuses(url, [{ 'x-forwarded-for': '2001:db8:1:3::1' }]))).toBe(1);
    const mapped = [
      ...Array.from({ length: 3 }, () => ({ 'x-forwarded-for': '::ffff:203.0.113.20' })),
      ...Array.from({ length: 3 }, () => ({ 'x-forwarded-for': '203.0.113.20' })),
    ];
    expect(allowed(await statuses(url, mapped))).toBe(5);
  });

  it('counts by a value on exchange.state, falling back to the IP', async () => {
    const authenticate: Middleware = (exchange) => {
      const user = exchange.request.headers.get('x-test-user');
      if (user) (exchange.state as Record<string, unknown>)['auth'] = { userId: user };
      return undefined;
    };
    const url = await serve([
      authenticate,
      rateLimit({
        store: redisStore(),
        limit: 2,
        windowSeconds: 60,
        timeoutMs: HEALTHY_STORE_TIMEOUT_MS,
        key: { state: 'auth.userId' },
      }),
    ]);
    expect(
      await statuses(url, [
        { 'x-test-user': 'u1' },
        { 'x-test-user': 'u1' },
        { 'x-test-user': 'u1' },
      ]),
    ).toEqual([200, 200, 429]);
    expect(await statuses(url, [{ 'x-test-user': 'u2' }, {}, {}, {}])).toEqual([
      200, 200, 200, 429,
    ]);
  });

  it('counts by a function, and skips requests it returns nothing for', async () => {
    const url = await limited({
      limit: 1,
      key: (exchange) => exchange.request.headers.get('x-api-key'),
    });
    expect(
      await statuses(url, [{ 'x-api-key': 'a' }, { 'x-api-key': 'a' }, { 'x-api-key': 'b' }]),
    ).toEqual([200, 429, 200]);
    const free = await fetch(url);
    expect(free.status).toBe(200);
    expect(free.headers.get('ratelimit')).toBeNull();
  });

  it('charges a cost per request', async () => {
    const url = await limited({
      limit: 10,
      cost: (exchange) => Number(exchange.request.headers.get('x-cost') ?? 1),
    });
    const heavy = await fetch(url, { headers: { 'x-cost': '8' } });
    expect(heavy.headers.get('ratelimit')).toMatch(/r=2;/);
    expect((await fetch(url, { headers: { 'x-cost': '3' } })).status).toBe(429);
    expect((await fetch(url, { headers: { 'x-cost': '2' } })).status).toBe(200);
  });
});

describe('where limits apply', () => {
  it('limits only the configured paths and uses route policies where they match', async () => {
    const url = await limited({
      paths: ['/auth/*', '/api/*'],
      excludePaths: ['/api/public'],
      routes: [
        { name: 'login', paths: ['/auth/login'], methods: ['POST'], limit: 2, windowSeconds: 900 },
      ],
    });
    const health = await fetch(`${url}/health/live`);
    expect(health.headers.get('ratelimit-policy')).toBeNull();
    expect((await fetch(`${url}/api/public`)).headers.get('ratelimit')).toBeNull();
    expect((await fetch(`${url}/api/v1/models`)).headers.get('ratelimit-policy')).toBe(
      '"default";q=5;w=60',
    );
    const login = () => fetch(`${url}/auth/login`, { method: 'POST' });
    const first = await login();
    expect(first.headers.get('ratelimit-policy')).toBe('"login";q=2;w=900');
    expect(first.headers.get('ratelimit')).toMatch(/^"login";r=1;t=\d+$/);
    await login();
    expect((await login()).status).toBe(429);
    // GET on the same path is not the login route: the default policy counts it.
    expect((await fetch(`${url}/auth/login`)).headers.get('ratelimit-policy')).toBe(
      '"default";q=5;w=60',
    );
  });

  it('reports every policy when two rate limits are chained, and refuses by either', async () => {
    const url = await serve([
      rateLimit({ store: createMemoryStore(), limit: 100, windowSeconds: 60 }),
      rateLimit({ store: createMemoryStore(), name: 'login', limit: 2, windowSeconds: 900 }),
    ]);
    const first = await fetch(url);
    expect(first.headers.get('ratelimit-policy')).toBe('"default";q=100;w=60, "login";q=2;w=900');
    expect(first.headers.get('ratelimit')).toMatch(/^"default";r=99;t=\d+, "login";r=1;t=\d+$/);
    await fetch(url);
    const refused = await fetch(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=100;w=60, "login";q=2;w=900');
    expect(refused.headers.get('ratelimit')).toMatch(/^"default";r=97;t=\d+, "login";r=0;t=\d+$/);
  });

  it('skips what skip() says, and sends legacy headers when asked', async () => {
    const url = await limited({
      legacyHeaders: true,
      skip: (exchange) => exchange.request.headers.get('x-internal') === 'yes',
    });
    expect(
      (await fetch(url, { headers: { 'x-internal': 'yes' } })).headers.get('ratelimit'),
    ).toBeNull();
    const response = await fetch(url);
    expect(response.headers.get('x-ratelimit-limit')).toBe('5');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('4');
    const reset = Number(response.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
  });
});

describe('with Redis down', () => {
  it("'closed' answers 503 with Retry-After; 'open' lets requests through without a count", async () => {
    const { server, client: own, close } = await throwawayRedis();
    cleanups.push(close);
    const store = createRedisStore({ client: own });
    const common = { store, limit: 5, windowSeconds: 60, timeoutMs: 100 } as const;
    const closedUrl = await serve([rateLimit({ ...common, failure: 'closed' })]);
    const openUrl = await serve([rateLimit({ ...common, failure: 'open' })]);
    await server.kill();
    const closed = await fetch(closedUrl);
    expect(closed.status).toBe(503);
    expect(closed.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await closed.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    const open = await fetch(openUrl);
    expect(open.status).toBe(200);
    expect(open.headers.get('ratelimit-policy')).toBe('"default";q=5;w=60');
    expect(open.headers.get('ratelimit')).toBeNull();
  });
});

describe('options', () => {
  it('refuses bad options by name', () => {
    expect(() => rateLimit({ key: 'user' as 'ip' })).toThrow(/key must be 'ip', \{ state/);
    expect(() => rateLimit({ cost: 0 })).toThrow(/cost must be a whole number/);
    expect(() => rateLimit({ paths: ['api/*'] })).toThrow(
      /paths entries must be '\*' or start with '\/'/,
    );
    expect(() => rateLimit({ routes: {} as never })).toThrow(/routes must be a list/);
    expect(() =>
      rateLimit({
        routes: [
          { name: 'a', paths: ['/a'], limit: 1, windowSeconds: 1 },
          { name: 'a', paths: ['/b'], limit: 1, windowSeconds: 1 },
        ],
      }),
    ).toThrow(/routes\[1\]\.name 'a' is used twice/);
    expect(() =>
      rateLimit({ routes: [{ name: 'default', paths: ['/a'], limit: 1, windowSeconds: 1 }] }),
    ).toThrow(/both named 'default'/);
    expect(() =>
      rateLimit({ routes: [{ name: 'x', paths: ['/a'], limit: 0, windowSeconds: 1 }] }),
    ).toThrow(/limit must be/);
    expect(() => rateLimit({ clientIp: 'yes' as never })).toThrow(/clientIp must be a resolver/);
    expect(() => rateLimit({ trustedProxies: '0.0.0.0/0' })).toThrow(/would trust every address/);
  });
});
