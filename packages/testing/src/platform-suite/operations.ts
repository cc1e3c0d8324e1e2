import { expect, it } from 'vitest';
import type { PlatformSuite } from './example-server.js';

/** Health, metrics and the headers every answer carries: what an operator looks at first. */
export function testOperations(suite: PlatformSuite): void {
  const { postgres } = suite;
  it('reports health in the mode it runs in', async () => {
    const { api } = suite;
    const health = await api.call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({
      status: 'ok',
      checks: {
        database: { status: 'ok', driver: postgres ? 'postgres' : 'sqlite' },
        cache: { status: 'ok', mode: postgres ? 'redis' : 'memory' },
      },
    });
    expect((await api.call('GET', '/health/ready')).status).toBe(200);
    expect((await api.call('GET', '/health/live')).json).toEqual({ status: 'ok' });
  });

  it('serves metrics in the Prometheus text format', async () => {
    const { api } = suite;
    const metrics = await api.call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/^# HELP /m);
    expect(metrics.text).toContain('http_request_duration_seconds_bucket');
    expect(metrics.text).toContain('fairmind_db_pool_connections');
    for (const line of metrics.text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eE]+|NaN|[+-]Inf$/);
    }
  });

  it('sends the security headers, a request id and the rate-limit headers', async () => {
    const { api, admin } = suite;
    const response = await api.call('GET', '/auth/me', {
      token: admin.accessToken,
      headers: { 'x-request-id': 'trace-123' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(response.headers.get('ratelimit-policy')).toBe('"default";q=1000;w=60');
    expect(response.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
    const bad = await api.call('GET', '/health/live', {
      headers: { 'x-request-id': 'no spaces allowed' },
    });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(bad.headers.get('ratelimit')).toBeNull();
    const missing = await api.call('GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-frame-options')).toBe('DENY');
  });
}
