import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Exchange, FairmindError, type Middleware } from '@fairmind/core';
import helmet from 'helmet';
import { afterEach, describe, expect, it } from 'vitest';
import { cors } from '../cors/index.js';
import { createMemoryStore } from '../memory-store/index.js';
import { rateLimit } from '../rate-limit/index.js';
import { requestLog } from '../request-log/index.js';
import {
  handleWeb,
  rawRequest,
  serveNode,
  stableHeaders,
  type TestServer,
} from '../test-support/index.js';
import { buildCsp, securityHeaders } from './index.js';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(
  chain: Middleware[],
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
) {
  const server = await serveNode(
    chain,
    handler ??
      ((_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end('ok');
      }),
    // What Express does before any middleware runs.
    { before: (_req, res) => res.setHeader('x-powered-by', 'Express') },
  );
  servers.push(server);
  return server.url;
}

const STRICT = {
  'content-security-policy': "default-src 'self';object-src 'none';frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};
const HSTS = 'max-age=31536000; includeSubDomains';

function securityPart(headers: Record<string, string>): Record<string, string> {
  const names = [...Object.keys(STRICT), 'strict-transport-security', 'x-powered-by'];
  return Object.fromEntries(Object.entries(headers).filter(([name]) => names.includes(name)));
}

describe('the strict preset', () => {
  it('is exactly the HTTP-API.md set, without X-Powered-By', async () => {
    const url = await serve([securityHeaders()]);
    const response = await rawRequest(url);
    expect(securityPart(stableHeaders(response.headers))).toEqual(STRICT);
  });

  it('adds HSTS only for HTTPS: TLS or a trusted proxy, never a spoofed header', async () => {
    const trusting = await serve([securityHeaders({ trustedProxies: 'loopback' })]);
    const viaProxy = await rawRequest(trusting, { headers: { 'x-forwarded-proto': 'https' } });
    expect(viaProxy.headers['strict-transport-security']).toBe(HSTS);
    const plainViaProxy = await rawRequest(trusting, { headers: { 'x-forwarded-proto': 'http' } });
    expect(plainViaProxy.headers['strict-transport-security']).toBeUndefined();

    const direct = await serve([securityHeaders()]);
    const spoofed = await rawRequest(direct, { headers: { 'x-forwarded-proto': 'https' } });
    expect(spoofed.headers['strict-transport-security']).toBeUndefined();

    const tls = await handleWeb(
      [securityHeaders()],
      new Request('https://api.example.com/'),
      () => new Response('ok'),
    );
    expect(tls.headers.get('strict-transport-security')).toBe(HSTS);
  });

  it('sends HSTS on plain HTTP when forced, with the configured value', async () => {
    const url = await serve([
      securityHeaders({
        strictTransportSecurity: { force: true, maxAge: 63_072_000, preload: true },
      }),
    ]);
    const response = await rawRequest(url);
    expect(response.headers['strict-transport-security']).toBe(
      'max-age=63072000; includeSubDomains; preload',
    );
  });
});

describe('every status, every adapter', () => {
  const TOO_MANY = Symbol('429');
  type Outcome = 'ok' | 'missing' | 'crash' | typeof TOO_MANY;

  function chain(): Middleware[] {
    return [
      requestLog(),
      securityHeaders(),
      cors({ origins: ['https://app.example.com'] }),
      // A fixed clock, so t= is the same for both servers.
      rateLimit({ store: createMemoryStore({ now: () => 30_000 }), limit: 3, windowSeconds: 60 }),
    ];
  }

  function act(outcome: Outcome): { status: number; body: string } {
    if (outcome === 'missing') throw new FairmindError('NOT_FOUND', 404, 'No such model.');
    if (outcome === 'crash') throw new Error('database password in a stack trace');
    return { status: 200, body: '{"ok":true}' };
  }

  it('puts the same headers on 2xx, 4xx, 5xx and a 429, on node:http and on Web Request', async () => {
    const url = await serve(chain(), (req, res) => {
      const { status, body } = act(req.url?.slice(1) as Outcome);
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
    const webChain = chain();
    const web = (path: string) =>
      handleWeb(
        webChain,
        new Request(`http://api.example.com/${path}`, {
          headers: { origin: 'https://app.example.com' },
        }),
        () => {
          const { status, body } = act(path as Outcome);
          return new Response(body, { status, headers: { 'content-type': 'application/json' } });
        },
      );

    const byStatus = new Map<number, Record<string, string>>();
    for (const path of ['ok', 'missing', 'crash', 'ok', 'ok']) {
      const fromNode = await rawRequest(`${url}/${path}`, {
        headers: { origin: 'https://app.example.com' },
      });
      const fromWeb = await web(path);
      expect(fromWeb.status, path).toBe(fromNode.status);
      const nodeHeaders = stableHeaders(fromNode.headers);
      expect(stableHeaders(fromWeb.headers), `${path} ${fromNode.status}`).toEqual(nodeHeaders);
      expect(securityPart(nodeHeaders)).toEqual(STRICT);
      expect(nodeHeaders['vary']).toBe('Origin');
      expect(nodeHeaders['access-control-allow-origin']).toBe('https://app.example.com');
      expect(fromNode.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      byStatus.set(fromNode.status, nodeHeaders);
    }
    expect([...byStatus.keys()].sort()).toEqual([200, 404, 429, 500]);
    expect(byStatus.get(500)?.['content-type']).toBe('application/problem+json');
  });
});

describe('the helmet preset', () => {
  async function helmetHeaders(): Promise<Record<string, string>> {
    const protect = helmet();
    const url = await serve([], (req, res) => {
      protect(req, res, () => {
        res.end();
      });
    });
    return stableHeaders((await rawRequest(url)).headers);
  }

  it("equals helmet 8's own output over HTTPS", async () => {
    const expected = await helmetHeaders();
    expect(Object.keys(expected)).toHaveLength(12);
    const url = await serve(
      [securityHeaders({ preset: 'helmet', trustedProxies: 'loopback' })],
      (_req, res) => res.end(),
    );
    const ours = await rawRequest(url, { headers: { 'x-forwarded-proto': 'https' } });
    expect(stableHeaders(ours.headers)).toEqual(expected);
    // Same order too.
    expect(Object.keys(stableHeaders(ours.headers))).toEqual(Object.keys(expected));
  });

  it('equals it over plain HTTP when HSTS is forced, and differs only by HSTS otherwise', async () => {
    const expected = await helmetHeaders();
    const forced = await serve(
      [securityHeaders({ preset: 'helmet', strictTransportSecurity: { force: true } })],
      (_req, res) => res.end(),
    );
    expect(stableHeaders((await rawRequest(forced)).headers)).toEqual(expected);
    const plain = await serve([securityHeaders({ preset: 'helmet' })], (_req, res) => res.end());
    const { 'strict-transport-security': _hsts, ...rest } = expected;
    expect(stableHeaders((await rawRequest(plain)).headers)).toEqual(rest);
  });
});

describe('configuring', () => {
  function headersOf(middleware: Middleware, exchange?: Partial<Exchange>) {
    const result = middleware({
      request: new Request('http://localhost/'),
      clientAddress: '127.0.0.1',
      secure: true,
      state: {},
      ...exchange,
    });
    return (result as { headers: Record<string, string> }).headers;
  }

  it('changes or drops each header', () => {
    const headers = headersOf(
      securityHeaders({
        xFrameOptions: 'SAMEORIGIN',
        referrerPolicy: 'strict-origin-when-cross-origin',
        crossOriginOpenerPolicy: false,
        crossOriginResourcePolicy: 'cross-origin',
        strictTransportSecurity: false,
        xContentTypeOptions: false,
        headers: { 'Permissions-Policy': 'camera=()', 'x-frame-options': false },
      }),
    );
    expect(headers).toEqual({
      'content-security-policy': STRICT['content-security-policy'],
      'cross-origin-resource-policy': 'cross-origin',
      'referrer-policy': 'strict-origin-when-cross-origin',
      'permissions-policy': 'camera=()',
    });
    expect(
      headersOf(securityHeaders({ contentSecurityPolicy: false }))['content-security-policy'],
    ).toBeUndefined();
    expect(
      headersOf(securityHeaders({ contentSecurityPolicy: "default-src 'none'" }))[
        'content-security-policy'
      ],
    ).toBe("default-src 'none'");
  });

  it('extends the CSP, removes directives and reports only when asked', () => {
    const headers = headersOf(
      securityHeaders({
        contentSecurityPolicy: {
          directives: { imgSrc: ["'self'", 'data:'], 'frame-ancestors': null },
          reportOnly: true,
        },
      }),
    );
    expect(headers['content-security-policy']).toBeUndefined();
    expect(headers['content-security-policy-report-only']).toBe(
      "default-src 'self';object-src 'none';img-src 'self' data:",
    );
  });

  it('puts a fresh nonce in the CSP and on exchange.state for each request', () => {
    const middleware = securityHeaders({ contentSecurityPolicy: { nonce: true } });
    const seen = new Set<string>();
    for (let index = 0; index < 20; index++) {
      const state: Exchange['state'] = {};
      const csp = headersOf(middleware, { state })['content-security-policy'] as string;
      const nonce = state.cspNonce as string;
      expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(csp).toBe(
        `default-src 'self';object-src 'none';frame-ancestors 'none';script-src 'self' 'nonce-${nonce}';style-src 'self' 'nonce-${nonce}'`,
      );
      seen.add(nonce);
    }
    expect(seen.size).toBe(20);
    // HSTS and the rest are still there.
    expect(headersOf(middleware)['strict-transport-security']).toBe(HSTS);
  });

  it('builds and checks CSP text', () => {
    expect(
      buildCsp({ 'default-src': ["'self'"], 'upgrade-insecure-requests': [], 'img-src': 'data:' }),
    ).toBe("default-src 'self';upgrade-insecure-requests;img-src data:");
    expect(() => buildCsp({ 'default-src': ['self'] })).toThrow(/must be single-quoted: "'self'"/);
    expect(() => buildCsp({ 'script-src': ["'self'; report-uri https://evil"] })).toThrow(
      /cannot contain ';'/,
    );
    expect(() => buildCsp({ 'Default Src': ["'self'"] })).toThrow(/not a CSP directive name/);
    expect(() => buildCsp({ 'script-src': ['nonce-abc'] })).toThrow(/single-quoted/);
  });

  it('lists X-Powered-By for the adapters to remove', () => {
    expect(securityHeaders().removeHeaders).toEqual(['x-powered-by']);
  });

  it('refuses bad options by name', () => {
    expect(() => securityHeaders({ preset: 'lax' as 'strict' })).toThrow(
      /preset must be one of 'strict', 'helmet'/,
    );
    expect(() => securityHeaders({ xFrameOptions: 'ALLOW' as 'DENY' })).toThrow(/xFrameOptions/);
    expect(() => securityHeaders({ referrerPolicy: 'sometimes' })).toThrow(/referrerPolicy/);
    expect(() => securityHeaders({ headers: { 'bad name': 'x' } })).toThrow(/not a header name/);
    expect(() => securityHeaders({ headers: { 'x-a': 'line\nbreak' } })).toThrow(
      /must be a header value/,
    );
    expect(() =>
      securityHeaders({ strictTransportSecurity: { preload: true, maxAge: 60 } }),
    ).toThrow(/preload needs includeSubDomains and a maxAge/);
    expect(() => securityHeaders({ contentSecurityPolicy: { nonce: 'yes' as never } })).toThrow(
      /nonce/,
    );
    expect(() => securityHeaders({ trustedProxies: '*' })).toThrow(/would trust every address/);
  });
});
