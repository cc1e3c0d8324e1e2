import { expect, it } from 'vitest';
import { ADMIN, type PlatformSuite } from './example-server.js';

/** The governance routes: models, their assessments and the dashboard over them. */
export function testGovernance(suite: PlatformSuite): void {
  it('keeps models, assessments and a fresh dashboard', async () => {
    const { api, admin } = suite;
    const token = admin.accessToken;
    const before = (await api.call('GET', '/api/v1/dashboard', { token })).json as unknown as {
      models: { total: number };
    };
    const model = await api.call('POST', '/api/v1/models', {
      token,
      body: {
        name: 'Loan approval',
        version: '2.1',
        riskLevel: 'high',
        description: 'credit decisions',
      },
    });
    expect(model.status).toBe(201);
    const id = model.json['id'] as string;
    const dashboard = await api.call('GET', '/api/v1/dashboard', { token });
    expect(dashboard.json).toMatchObject({ models: { total: before.models.total + 1 } });
    const assessment = await api.call('POST', `/api/v1/models/${id}/assessments`, {
      token,
      body: { metric: 'disparate_impact', value: 0.85, threshold: 0.8 },
    });
    expect(assessment.status).toBe(201);
    expect(assessment.json).toMatchObject({ modelId: id, passed: true });
    const list = await api.call('GET', `/api/v1/models/${id}/assessments`, { token });
    expect(list.json).toMatchObject({ items: [{ id: assessment.json['id'] }], nextCursor: null });
    const patched = await api.call('PATCH', `/api/v1/models/${id}`, {
      token,
      body: { riskLevel: 'low' },
    });
    expect(patched.json).toMatchObject({ riskLevel: 'low', name: 'Loan approval' });
    const fresh = await api.call('GET', '/api/v1/dashboard', { token });
    expect(
      (fresh.json as unknown as { assessments: { total: number } }).assessments.total,
    ).toBeGreaterThanOrEqual(1);
    expect((await api.call('DELETE', `/api/v1/models/${id}`, { token })).status).toBe(204);
    expect((await api.call('GET', `/api/v1/models/${id}`, { token })).status).toBe(404);
    const gone = await api.call('GET', '/api/v1/dashboard', { token });
    expect(gone.json).toMatchObject({ models: { total: before.models.total } });
  });

  it('compresses large responses', async () => {
    const { api, admin, server } = suite;
    const token = admin.accessToken;
    for (let index = 0; index < 12; index++) {
      await api.call('POST', '/api/v1/models', {
        token,
        body: {
          name: `bulk model ${index}`,
          version: '1.0.0',
          riskLevel: 'medium',
          description: 'x'.repeat(60),
        },
      });
    }
    const response = await fetch(`${server.base}/api/v1/models?limit=50`, {
      headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'br' },
    });
    expect(response.headers.get('content-encoding')).toBe('br');
    expect(response.headers.get('vary')).toMatch(/Accept-Encoding/i);
    expect(((await response.json()) as { items: unknown[] }).items.length).toBeGreaterThanOrEqual(
      12,
    );
  });
}

/**
 * The audit log. It reads the events the earlier tests caused (the failed logins among them),
 * so it runs after them.
 */
export function testAuditTrail(suite: PlatformSuite): void {
  it('records an audit trail without secrets', async () => {
    const { api, admin } = suite;
    const audit = await api.call('GET', '/api/v1/audit?limit=100', { token: admin.accessToken });
    expect(audit.status).toBe(200);
    const types = (audit.json['items'] as Array<{ type: string }>).map((event) => event.type);
    expect(types).toEqual(expect.arrayContaining(['login.success', 'login.failure']));
    expect(audit.text).not.toContain(ADMIN.password);
    expect(audit.text).not.toContain(admin.accessToken);
    const filtered = await api.call('GET', '/api/v1/audit?type=login.failure', {
      token: admin.accessToken,
    });
    expect(
      (filtered.json['items'] as Array<{ type: string }>).every(
        (event) => event.type === 'login.failure',
      ),
    ).toBe(true);
  });
}
