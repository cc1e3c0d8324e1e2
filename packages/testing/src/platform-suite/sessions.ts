import { expect, it } from 'vitest';
import type { Session } from './client.js';
import { ADMIN, type PlatformSuite } from './example-server.js';

/** Logging in, refreshing and logging out, and what the token answers let caches keep. */
export function testSessions(suite: PlatformSuite): void {
  it('refreshes, detects reuse, and logs out', async () => {
    const { api } = suite;
    const session = await api.login(ADMIN.email, ADMIN.password);
    const refreshed = await api.call('POST', '/auth/refresh', {
      body: { refreshToken: session.refreshToken },
    });
    expect(refreshed.status).toBe(200);
    const next = refreshed.json as unknown as Session;
    const reused = await api.call('POST', '/auth/refresh', {
      body: { refreshToken: session.refreshToken },
    });
    expect(reused.status).toBe(401);
    expect(reused.json).toMatchObject({ code: 'REFRESH_TOKEN_REUSED' });
    expect((await api.call('GET', '/auth/me', { token: next.accessToken })).status).toBe(401);

    const other = await api.login(ADMIN.email, ADMIN.password);
    expect((await api.call('POST', '/auth/logout', { token: other.accessToken })).status).toBe(204);
    const after = await api.call('GET', '/auth/me', { token: other.accessToken });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('keeps tokens and authenticated answers out of shared caches', async () => {
    const { api, admin } = suite;
    // RFC 6749 section 5.1: token responses must not be stored by any cache.
    const login = await api.call('POST', '/auth/login', { body: ADMIN });
    expect(login.headers.get('cache-control')).toBe('no-store');
    const refreshed = await api.call('POST', '/auth/refresh', {
      body: { refreshToken: (login.json as unknown as Session).refreshToken },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
    const token = admin.accessToken;
    for (const path of ['/auth/me', '/api/v1/models', '/api/v1/dashboard', '/api/v1/nope']) {
      const response = await api.call('GET', path, { token });
      expect(response.headers.get('cache-control'), path).toBe('private, no-cache');
    }
    // The API key is shown this once: the route asks for no-store.
    const key = await api.call('POST', '/auth/api-keys', { token, body: { name: 'cache' } });
    expect(key.headers.get('cache-control')).toBe('no-store');
    // Anonymous answers say nothing: there is nothing private in them.
    expect((await api.call('GET', '/health')).headers.get('cache-control')).toBeNull();
  });

  it('refuses wrong credentials the same way for unknown and known emails', async () => {
    const { api } = suite;
    const wrong = await api.call('POST', '/auth/login', {
      body: { email: ADMIN.email, password: 'not-the-password' },
    });
    const unknown = await api.call('POST', '/auth/login', {
      body: { email: 'ghost@example.com', password: 'whatever-123' },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(unknown.json).toMatchObject({ code: 'INVALID_CREDENTIALS' });
  });
}
