import { expect, it } from 'vitest';
import type { PlatformSuite } from './example-server.js';
import { rawExchange } from './raw-exchange.js';

/**
 * Requests Node's HTTP parser refuses before any middleware runs: they still get a problem
 * document, the security headers and a request id that the log line carries too.
 */
export function testParserRefusals(suite: PlatformSuite): void {
  it('answers what the HTTP parser refuses with a logged problem document', async () => {
    const { api, server } = suite;
    const cases: Array<[string, string, number, string]> = [
      ['bad method', 'G@T / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['bad header name', 'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      [
        'Content-Length with Transfer-Encoding',
        'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n' +
          'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
        'MALFORMED_REQUEST',
      ],
      [
        'bad chunk size',
        'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
        400,
        'MALFORMED_REQUEST',
      ],
      [
        'headers over 16 KiB',
        `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
        431,
        'HEADERS_TOO_LARGE',
      ],
      [
        'unknown Expect',
        'GET /health/live HTTP/1.1\r\nHost: x\r\nExpect: bananas\r\n\r\n',
        417,
        'EXPECTATION_FAILED',
      ],
    ];
    for (const [name, request, status, code] of cases) {
      const answer = await rawExchange(server.port, request);
      expect.soft(answer.status, name).toBe(status);
      expect.soft(answer.headers['content-type'], name).toBe('application/problem+json');
      expect.soft(answer.headers['x-frame-options'], name).toBe('DENY');
      expect.soft(answer.headers['content-security-policy'], name).toContain("default-src 'self'");
      expect.soft(answer.headers['connection'], name).toBe('close');
      const requestId = answer.headers['x-request-id'] ?? '';
      expect.soft(requestId, name).toMatch(/^[0-9a-f-]{36}$/);
      expect.soft(answer.body, name).toMatchObject({ status, code });
      // The request log's line (4xx at warn) carries the same id.
      let logged = false;
      for (let attempt = 0; attempt < 50 && !logged; attempt++) {
        logged = server.output().includes(`"requestId":"${requestId}"`);
        if (!logged) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect.soft(logged, `${name}: a log line with ${requestId}`).toBe(true);
    }
    expect((await api.call('GET', '/health/live')).status).toBe(200);
  });
}

/** Malformed, oversized, hostile and unauthenticated requests: a 4xx each, never a 5xx. */
export function testBadRequests(suite: PlatformSuite): void {
  it('answers bad requests of every kind with a 4xx problem and keeps serving', async () => {
    const { api, admin } = suite;
    const token = admin.accessToken;
    const cases: Array<[string, string, Parameters<typeof api.call>[2]]> = [
      ['POST', '/api/v1/models', { token, body: '{"name": "x", ' }],
      ['POST', '/api/v1/models', { token, body: { name: 5, version: '1', riskLevel: 'low' } }],
      [
        'POST',
        '/api/v1/models',
        { token, body: { name: 'x', version: '1', riskLevel: 'low', extra: true } },
      ],
      ['POST', '/api/v1/models', { token, body: { version: '1' } }],
      ['POST', '/api/v1/models', { token, body: 'x'.repeat(1_100_000) }],
      [
        'POST',
        '/api/v1/models',
        {
          token,
          body: { name: 'x', version: '1', riskLevel: 'low' },
          headers: { 'content-type': 'text/plain' },
        },
      ],
      ['GET', "/api/v1/models/1' OR '1'='1", { token }],
      ['GET', `/api/v1/models/${'x'.repeat(500)}`, { token }],
      ['GET', '/api/v1/models?limit=0', { token }],
      ['GET', '/api/v1/models?limit=abc', { token }],
      ['GET', '/api/v1/models?cursor=not-a-cursor', { token }],
      ['GET', '/api/v1/models', { headers: { authorization: 'Bearer not.a.jwt' } }],
      ['GET', '/api/v1/models', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }],
      ['GET', '/api/v1/models', { headers: { 'x-api-key': "'; drop table models; --" } }],
      ['PUT', '/api/v1/models', { token }],
      ['POST', '/auth/login', { body: { email: "' OR 1=1 --", password: 'x' } }],
      ['POST', '/auth/login', { body: [] }],
      ['POST', '/auth/refresh', { body: { refreshToken: 'garbage' } }],
    ];
    for (const [method, path, options] of cases) {
      const response = await api.call(method, path, options);
      expect.soft(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect.soft(response.status, `${method} ${path}`).toBeLessThan(500);
      expect
        .soft(response.headers.get('content-type'), `${method} ${path}`)
        .toBe('application/problem+json');
    }
    expect((await api.call('GET', '/health/live')).status).toBe(200);
  });
}
