import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@fairmind/core';
import { createLogger } from '@fairmind/core/logger';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { createRequestListener } from '@fairmind/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../app/index.js';

const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

describe('cached reads across writes', () => {
  let platform: Platform;
  let server: Server;
  let base: string;
  let auth: Record<string, string>;

  beforeAll(async () => {
    const config = loadConfig({
      env: {
        NODE_ENV: 'test',
        DATABASE_URL: 'sqlite::memory:',
        JWT_SECRET: 'governance-test-secret-of-32-characters',
        FAIRMIND_ADMIN_EMAIL: ADMIN.email,
        FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
      },
    });
    platform = createPlatform({
      config,
      logger: createLogger({ level: 'silent' }),
      registry: createMetricsRegistry({ defaultMetrics: false }),
    });
    await platform.start();
    server = createServer(createRequestListener(platform)).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const login = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
    auth = {
      authorization: `Bearer ${((await login.json()) as { accessToken: string }).accessToken}`,
    };
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await platform?.close();
  });

  const read = async (path: string) => {
    const response = await fetch(`${base}${path}`, { headers: auth });
    expect(response.status).toBe(200);
    return (await response.json()) as unknown;
  };

  const create = async (name: string) => {
    const response = await fetch(`${base}/api/v1/models`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name, version: '1', riskLevel: 'high' }),
    });
    expect(response.status).toBe(201);
  };

  it('answers the list and the dashboard after a write from the cache, with the write in them', async () => {
    await read('/api/v1/models?limit=20');
    await read('/api/v1/dashboard');
    for (const name of ['first', 'second', 'third']) {
      await create(name);
      // The write computed both again before it was answered: the reads run no factory.
      const before = platform.cache.stats();
      const list = (await read('/api/v1/models?limit=20')) as { items: Array<{ name: string }> };
      const dashboard = (await read('/api/v1/dashboard')) as {
        models: { byRisk: { high: number } };
      };
      const after = platform.cache.stats();
      expect(list.items.map((model) => model.name)).toContain(name);
      expect(dashboard.models.byRisk.high).toBe(['first', 'second', 'third'].indexOf(name) + 1);
      expect(after.factory.runs).toBe(before.factory.runs);
      expect(after.hits.l1).toBe(before.hits.l1 + 2);
    }
  });
});
