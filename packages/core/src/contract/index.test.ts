import { describe, expect, it } from 'vitest';
import { FairmindError } from '../errors/index.js';
import {
  authGuard,
  type Exchange,
  isAuthGuard,
  jsonReply,
  type Middleware,
  mergeHeader,
  problemReply,
  requestPath,
  requestSearch,
  runMiddleware,
} from './index.js';

function exchangeFor(request: Request): Exchange {
  return { request, clientAddress: '127.0.0.1', secure: false, state: {} };
}

describe('the request view', () => {
  it('is satisfied by a Web Request', async () => {
    const seen: string[] = [];
    const tenant: Middleware = (exchange) => {
      seen.push(exchange.request.method, exchange.request.headers.get('X-Tenant') ?? 'none');
      return undefined;
    };
    await runMiddleware(
      [tenant],
      exchangeFor(new Request('http://h/x', { headers: { 'x-tenant': 'a' } })),
    );
    expect(seen).toEqual(['GET', 'a']);
  });

  it('reads path and query from absolute and origin-form targets', () => {
    expect(requestPath('/a/b?c=1#f')).toBe('/a/b');
    expect(requestPath('/a#f?x')).toBe('/a');
    expect(requestPath('http://host:8080/a/b?c=1')).toBe('/a/b');
    expect(requestPath('http://host')).toBe('/');
    expect(requestPath('*')).toBe('/');
    expect(requestSearch('/a?b=1&c=2#x')).toBe('b=1&c=2');
    expect(requestSearch('/a')).toBe('');
  });
});

describe('runMiddleware', () => {
  const ex = () => exchangeFor(new Request('http://h/'));

  it('stays synchronous for synchronous middleware', () => {
    const decision = runMiddleware([() => ({ headers: { 'x-a': '1' } })], ex());
    expect(decision).not.toBeInstanceOf(Promise);
    expect((decision as { headers: object }).headers).toEqual({ 'x-a': '1' });
  });

  it('merges headers, combines Vary and stops at the first reply', async () => {
    const calls: string[] = [];
    const chain: Middleware[] = [
      () => {
        calls.push('a');
        return { headers: { vary: 'Accept-Encoding', 'x-frame-options': 'DENY' } };
      },
      async () => {
        calls.push('b');
        return { headers: { vary: 'Origin, accept-encoding' } };
      },
      () => {
        calls.push('c');
        return { reply: jsonReply(429, { slow: true }, { 'retry-after': '3' }) };
      },
      () => {
        calls.push('d');
        return undefined;
      },
    ];
    const decision = await runMiddleware(chain, ex());
    expect(calls).toEqual(['a', 'b', 'c']);
    expect(decision.reply?.status).toBe(429);
    expect(decision.reply?.headers).toMatchObject({
      vary: 'Accept-Encoding, Origin',
      'x-frame-options': 'DENY',
      'retry-after': '3',
      'content-type': 'application/json; charset=utf-8',
    });
  });

  it('turns a thrown FairmindError into its problem, keeping gathered headers', async () => {
    const decision = await runMiddleware(
      [
        () => ({ headers: { 'x-content-type-options': 'nosniff' } }),
        () => {
          throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer token.', {
            headers: { 'WWW-Authenticate': 'Bearer' },
          });
        },
      ],
      ex(),
    );
    expect(decision.reply?.status).toBe(401);
    expect(decision.reply?.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'www-authenticate': 'Bearer',
      'content-type': 'application/problem+json',
    });
    expect(JSON.parse(decision.reply?.body ?? '')).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(decision.error).toBeInstanceOf(FairmindError);
  });

  it('turns a rejected promise into a 500 that says nothing of the cause', async () => {
    const decision = await runMiddleware(
      [async () => Promise.reject(new Error('secret sql'))],
      ex(),
    );
    expect(decision.reply?.status).toBe(500);
    expect(decision.reply?.body).not.toContain('secret');
    expect((decision.error as Error).message).toBe('secret sql');
  });

  it('collects onFinish callbacks in order', async () => {
    const first = () => {};
    const second = () => {};
    const decision = await runMiddleware(
      [() => ({ onFinish: first }), async () => ({ onFinish: second })],
      ex(),
    );
    expect(decision.onFinish).toEqual([first, second]);
    expect(decision.reply).toBeUndefined();
  });
});

describe('headers', () => {
  it('combines list headers case-insensitively and overwrites others', () => {
    const target: Record<string, string> = { vary: 'Origin', 'x-a': '1' };
    mergeHeader(target, 'vary', 'origin, Accept-Encoding');
    mergeHeader(target, 'x-a', '2');
    expect(target).toEqual({ vary: 'Origin, Accept-Encoding', 'x-a': '2' });
  });

  it('lists both policies when two rate limits set RateLimit and RateLimit-Policy', () => {
    const target: Record<string, string> = {
      'ratelimit-policy': '"default";q=1000;w=60',
      ratelimit: '"default";r=998;t=42',
    };
    mergeHeader(target, 'ratelimit-policy', '"login";q=10;w=60');
    mergeHeader(target, 'ratelimit', '"login";r=9;t=60');
    expect(target).toEqual({
      'ratelimit-policy': '"default";q=1000;w=60, "login";q=10;w=60',
      ratelimit: '"default";r=998;t=42, "login";r=9;t=60',
    });
  });

  it('builds a problem reply from anything', () => {
    const reply = problemReply(new Error('boom'), { 'x-request-id': 'r1' });
    expect(reply.status).toBe(500);
    expect(reply.headers).toEqual({
      'x-request-id': 'r1',
      'content-type': 'application/problem+json',
    });
  });
});

describe('authGuard', () => {
  it('makes a guard of a middleware, leaving the middleware itself unmarked', async () => {
    const check: Middleware = () => ({ headers: { 'x-checked': '1' } });
    expect(isAuthGuard(check)).toBe(false);
    const guard = authGuard(check);
    expect(isAuthGuard(guard)).toBe(true);
    expect(isAuthGuard(check)).toBe(false);
    expect(guard.name).toBe('check');
    expect(await guard({} as Exchange)).toEqual({ headers: { 'x-checked': '1' } });
    expect(guard.fairmindGuard).toBe('auth');
    expect(() => authGuard('nope' as unknown as Middleware)).toThrow(/authGuard\(\) takes/);
  });
});
