import { loadConfig } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { describeConformance } from '@fairmind/testing';
import { createPlatform, type Platform } from './app/index.js';
import { conformanceTargets } from './test-support/index.js';

const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

// Each target gets its own platform on its own in-memory database, so every run starts from
// the same state and the same script gives the same answers.
async function freshPlatform(): Promise<Platform> {
  const config = loadConfig({
    env: {
      NODE_ENV: 'test',
      DATABASE_URL: 'sqlite::memory:',
      JWT_SECRET: 'conformance-secret-of-at-least-32-chars',
      RATE_LIMIT_REQUESTS: '60',
      // The remaining count (RateLimit r=) is compared across adapters. With 60 s windows a
      // run that crossed a window boundary mid-script weighed the previous window's count in
      // and differed by one from the reference (seen once under load); 2^31 s windows start
      // in 1970 and end in 2038, so no run crosses one.
      RATE_LIMIT_WINDOW: String(2 ** 31),
      FAIRMIND_ADMIN_EMAIL: ADMIN.email,
      FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
    },
  });
  const platform = createPlatform({
    config,
    logger: createLogger({ level: 'silent' }),
    registry: createMetricsRegistry({ defaultMetrics: false }),
  });
  await platform.start();
  return platform;
}

const targets = conformanceTargets(async () => {
  const platform = await freshPlatform();
  return { ...platform, close: () => platform.close() };
});

describeConformance('the platform through every adapter', targets, async (call) => {
  await call('live', 'GET', '/health/live');
  await call('head', 'HEAD', '/health/live');
  await call('no route', 'GET', '/nope');
  await call('wrong method', 'PUT', '/api/v1/models');
  await call('bad json', 'POST', '/auth/login', { body: '{"email": ' });
  await call('wrong type', 'POST', '/auth/login', {
    body: 'email=a',
    headers: { 'content-type': 'text/plain' },
  });
  await call('unknown field', 'POST', '/auth/login', { body: { ...ADMIN, remember: true } });
  await call('wrong password', 'POST', '/auth/login', {
    body: { email: ADMIN.email, password: 'not-it-at-all' },
  });
  const login = await call('login', 'POST', '/auth/login', { body: ADMIN });
  const token = (login.raw as { accessToken: string }).accessToken;
  const refreshToken = (login.raw as { refreshToken: string }).refreshToken;
  const auth = { authorization: `Bearer ${token}` };
  await call('me', 'GET', '/auth/me', { headers: auth });
  await call('anonymous', 'GET', '/api/v1/models');
  await call('bad token', 'GET', '/api/v1/models', {
    headers: { authorization: 'Bearer not.a.token' },
  });
  await call('create viewer', 'POST', '/auth/users', {
    headers: auth,
    body: { email: 'viewer@example.com', password: 'viewer-password', role: 'viewer' },
  });
  await call('duplicate viewer', 'POST', '/auth/users', {
    headers: auth,
    body: { email: 'viewer@example.com', password: 'viewer-password', role: 'viewer' },
  });
  const viewer = await call('viewer login', 'POST', '/auth/login', {
    body: { email: 'viewer@example.com', password: 'viewer-password' },
  });
  const viewerAuth = {
    authorization: `Bearer ${(viewer.raw as { accessToken: string }).accessToken}`,
  };
  await call('viewer denied', 'POST', '/api/v1/models', {
    headers: viewerAuth,
    body: { name: 'x', version: '1', riskLevel: 'low' },
  });
  const model = await call('create model', 'POST', '/api/v1/models', {
    headers: auth,
    body: {
      name: 'Credit scoring',
      version: '1.0',
      riskLevel: 'high',
      description: 'd'.repeat(200),
    },
  });
  const id = (model.raw as { id: string }).id;
  for (let index = 0; index < 6; index++) {
    await call(`bulk model ${index}`, 'POST', '/api/v1/models', {
      headers: auth,
      body: {
        name: `bulk ${index}`,
        version: '1.0',
        riskLevel: 'low',
        description: 'b'.repeat(200),
      },
    });
  }
  await call('list gzip', 'GET', '/api/v1/models?limit=50', {
    headers: { ...auth, 'accept-encoding': 'gzip' },
  });
  await call('list br', 'GET', '/api/v1/models?limit=50', {
    headers: { ...auth, 'accept-encoding': 'br;q=1, gzip;q=0.5' },
  });
  await call('list page', 'GET', '/api/v1/models?limit=2', { headers: auth });
  await call('bad limit', 'GET', '/api/v1/models?limit=0', { headers: auth });
  await call('assessment', 'POST', `/api/v1/models/${id}/assessments`, {
    headers: auth,
    body: { metric: 'disparate_impact', value: 0.7, threshold: 0.8 },
  });
  await call('assessments', 'GET', `/api/v1/models/${id}/assessments`, { headers: auth });
  await call('dashboard', 'GET', '/api/v1/dashboard', { headers: auth });
  await call('patch', 'PATCH', `/api/v1/models/${id}`, {
    headers: auth,
    body: { riskLevel: 'medium' },
  });
  await call('too large', 'POST', '/api/v1/models', { headers: auth, body: 'x'.repeat(1_100_000) });
  await call('sql id', 'GET', "/api/v1/models/1'%20OR%20'1'='1", { headers: auth });
  await call('delete', 'DELETE', `/api/v1/models/${id}`, { headers: auth });
  await call('gone', 'GET', `/api/v1/models/${id}`, { headers: auth });
  const key = await call('api key', 'POST', '/auth/api-keys', {
    headers: auth,
    body: { name: 'ci', scopes: ['models:read'] },
  });
  const apiKey = { 'x-api-key': (key.raw as { key: string }).key };
  await call('api key read', 'GET', '/api/v1/dashboard', { headers: apiKey });
  await call('api key list', 'GET', '/auth/api-keys', { headers: auth });
  await call('api key revoke', 'DELETE', `/auth/api-keys/${(key.raw as { id: string }).id}`, {
    headers: auth,
  });
  await call('revoked key', 'GET', '/api/v1/dashboard', { headers: apiKey });
  await call('refresh', 'POST', '/auth/refresh', { body: { refreshToken } });
  await call('reuse', 'POST', '/auth/refresh', { body: { refreshToken } });
  await call('after reuse', 'GET', '/auth/me', { headers: auth });
  const again = await call('relogin', 'POST', '/auth/login', { body: ADMIN });
  const fresh = { authorization: `Bearer ${(again.raw as { accessToken: string }).accessToken}` };
  await call('audit', 'GET', '/api/v1/audit?type=login.failure', { headers: fresh });
  await call('logout', 'POST', '/auth/logout', { headers: fresh });
  await call('after logout', 'GET', '/auth/me', { headers: fresh });
  await call('health', 'GET', '/health');
  await call('ready', 'GET', '/health/ready');
  await call('metrics', 'GET', '/metrics');
  // 60 requests per window on /auth and /api: spend the rest until the limiter answers.
  for (let index = 0; index < 25; index++) await call(`spend ${index}`, 'GET', '/auth/me');
});
