import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest, serveNode, type TestServer } from '../test-support/index.js';
import { type CorsOptions, cors } from './index.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

let handled = 0;
async function serve(options: CorsOptions): Promise<string> {
  server = await serveNode([cors(options)], (_req, res) => {
    handled++;
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });
  return server.url;
}

function preflight(url: string, origin: string, headers: Record<string, string> = {}) {
  return rawRequest(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'PATCH', ...headers },
  });
}

describe('origins', () => {
  it('allows exact origins and subdomain patterns, and nothing else', async () => {
    const url = await serve({
      origins: ['https://app.example.com', 'https://*.fairmind.ai', 'http://localhost:5173'],
    });
    const allowedOrigins = [
      'https://app.example.com',
      'https://APP.example.com',
      'https://app.example.com:443',
      'https://eu.fairmind.ai',
      'https://a.b.fairmind.ai',
      'http://localhost:5173',
    ];
    for (const origin of allowedOrigins) {
      const response = await rawRequest(url, { headers: { origin } });
      expect(response.headers['access-control-allow-origin'], origin).toBe(origin);
      expect(response.headers.vary).toBe('Origin');
    }
    const refused = [
      'https://evil.com',
      'http://app.example.com',
      'https://app.example.com:8443',
      'https://fairmind.ai',
      'https://evilfairmind.ai',
      'https://eu.fairmind.ai.evil.com',
      'http://localhost:5174',
      'null',
      'https://*.fairmind.ai',
    ];
    for (const origin of refused) {
      const response = await rawRequest(url, { headers: { origin } });
      expect(response.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(response.headers.vary, origin).toBe('Origin');
      expect(response.status).toBe(200);
    }
    const noOrigin = await rawRequest(url);
    expect(noOrigin.headers.vary).toBe('Origin');
    expect(noOrigin.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers * to everyone without credentials, and needs no Vary then', async () => {
    const url = await serve({ origins: '*' });
    const response = await rawRequest(url, { headers: { origin: 'https://anyone.example' } });
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers.vary).toBeUndefined();
    expect(response.headers['access-control-expose-headers']).toBe(
      'X-Request-Id, RateLimit, RateLimit-Policy, Retry-After',
    );
  });

  it('sends credentials and exposed headers for allowed origins', async () => {
    const url = await serve({
      origins: ['https://app.example.com'],
      credentials: true,
      exposedHeaders: ['X-Request-Id'],
    });
    const response = await rawRequest(url, { headers: { origin: 'https://app.example.com' } });
    expect(response.headers['access-control-allow-credentials']).toBe('true');
    expect(response.headers['access-control-expose-headers']).toBe('X-Request-Id');
  });
});

describe('preflight', () => {
  it('answers 204 with methods, headers and max-age, without reaching the handler', async () => {
    const url = await serve({
      origins: ['https://app.example.com'],
      credentials: true,
      maxAge: 300,
    });
    const before = handled;
    const response = await preflight(url, 'https://app.example.com', {
      'access-control-request-headers': 'content-type, authorization',
    });
    expect(response.status).toBe(204);
    expect(response.body.length).toBe(0);
    expect(response.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, HEAD, PUT, PATCH, POST, DELETE',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-max-age': '300',
      vary: 'Origin, Access-Control-Request-Headers',
    });
    expect(handled).toBe(before);
  });

  it('gives a disallowed origin a bare 204, and lists fixed headers when configured', async () => {
    const url = await serve({
      origins: ['https://app.example.com'],
      allowedHeaders: ['Content-Type'],
      methods: ['get', 'post'],
    });
    const refused = await preflight(url, 'https://evil.com');
    expect(refused.status).toBe(204);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(refused.headers['access-control-allow-methods']).toBeUndefined();
    const allowed = await preflight(url, 'https://app.example.com', {
      'access-control-request-headers': 'x-anything',
    });
    expect(allowed.headers['access-control-allow-headers']).toBe('Content-Type');
    expect(allowed.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(allowed.headers.vary).toBe('Origin');
  });

  it('lets a plain OPTIONS request (no Access-Control-Request-Method) through', async () => {
    const url = await serve({ origins: ['https://app.example.com'] });
    const before = handled;
    const response = await rawRequest(url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com' },
    });
    expect(response.status).toBe(200);
    expect(handled).toBe(before + 1);
  });
});

describe('options', () => {
  it('refuses bad options by name', () => {
    expect(() => cors({} as CorsOptions)).toThrow(/origins is required/);
    expect(() => cors({ origins: ['https://app.example.com/'] })).toThrow(
      /no path, no trailing slash/,
    );
    expect(() => cors({ origins: ['app.example.com'] })).toThrow(/is not '\*' or scheme:\/\/host/);
    expect(() => cors({ origins: ['https://*'] })).toThrow(/origins has/);
    expect(() => cors({ origins: '*', credentials: true })).toThrow(/would let every website read/);
    expect(() => cors({ origins: '*', maxAge: -1 })).toThrow(/maxAge/);
    expect(() => cors({ origins: '*', methods: ['GET POST'] })).toThrow(
      /not a valid method or header name/,
    );
  });
});
