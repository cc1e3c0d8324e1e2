import { expect, it } from 'vitest';
import type { PlatformSuite } from './example-server.js';

/** Who may do what: users and their roles, then API keys held to their scopes. */
export function testAccessControl(suite: PlatformSuite): void {
  testUsersAndRoles(suite);
  testApiKeys(suite);
}

function testUsersAndRoles(suite: PlatformSuite): void {
  const { postgres } = suite;
  it('manages users and enforces RBAC', async () => {
    const { api, admin } = suite;
    const created = await api.call('POST', '/auth/users', {
      token: admin.accessToken,
      body: {
        email: `viewer-${postgres}@example.com`,
        password: 'viewer-password',
        role: 'viewer',
      },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      email: `viewer-${postgres}@example.com`,
      role: 'viewer',
    });
    expect(created.text).not.toContain('password');
    const duplicate = await api.call('POST', '/auth/users', {
      token: admin.accessToken,
      body: {
        email: `viewer-${postgres}@example.com`,
        password: 'viewer-password',
        role: 'viewer',
      },
    });
    expect(duplicate.status).toBe(409);
    const tooLong = await api.call('POST', '/auth/users', {
      token: admin.accessToken,
      body: { email: 'long@example.com', password: 'x'.repeat(73), role: 'viewer' },
    });
    expect(tooLong.status).toBe(400);

    const viewer = await api.login(`viewer-${postgres}@example.com`, 'viewer-password');
    const me = await api.call('GET', '/auth/me', { token: viewer.accessToken });
    expect(me.json).toMatchObject({
      role: 'viewer',
      permissions: ['models:read', 'assessments:read', 'dashboard:read'],
    });
    expect((await api.call('GET', '/api/v1/models', { token: viewer.accessToken })).status).toBe(
      200,
    );
    const denied = await api.call('POST', '/api/v1/models', {
      token: viewer.accessToken,
      body: { name: 'x', version: '1', riskLevel: 'low' },
    });
    expect(denied.status).toBe(403);
    expect(denied.json).toMatchObject({ code: 'FORBIDDEN' });
    expect((await api.call('GET', '/api/v1/audit', { token: viewer.accessToken })).status).toBe(
      403,
    );
    expect((await api.call('GET', '/api/v1/models')).status).toBe(401);
  });
}

function testApiKeys(suite: PlatformSuite): void {
  it('issues API keys that act within their scopes', async () => {
    const { api, admin } = suite;
    const created = await api.call('POST', '/auth/api-keys', {
      token: admin.accessToken,
      body: { name: 'ci', scopes: ['models:read'] },
    });
    expect(created.status).toBe(201);
    const key = created.json['key'] as string;
    expect(created.json).toMatchObject({ name: 'ci', scopes: ['models:read'] });
    const listed = await api.call('GET', '/api/v1/models', { headers: { 'x-api-key': key } });
    expect(listed.status).toBe(200);
    const write = await api.call('POST', '/api/v1/models', {
      headers: { 'x-api-key': key },
      body: { name: 'x', version: '1', riskLevel: 'low' },
    });
    expect(write.status).toBe(403);
    const keys = await api.call('GET', '/auth/api-keys', { token: admin.accessToken });
    expect(keys.text).not.toContain(key);
    const id = created.json['id'] as string;
    expect(
      (await api.call('DELETE', `/auth/api-keys/${id}`, { token: admin.accessToken })).status,
    ).toBe(204);
    expect(
      (await api.call('GET', '/api/v1/models', { headers: { 'x-api-key': key } })).status,
    ).toBe(401);
  });
}
