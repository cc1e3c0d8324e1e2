import { createCache } from '@fairmind/cache';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { createDatabase, migrate } from '@fairmind/db-pool';
import { createRouteContext } from '@fairmind/edge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformMigrations } from '../app/index.js';
import { createHealth } from './index.js';

describe('readiness', () => {
  const db = createDatabase({ url: 'sqlite::memory:' });
  const cache = createCache({});
  let draining = false;
  const health = createHealth({
    db,
    cache,
    version: 'test',
    migrations: [platformMigrations],
    draining: () => draining,
  });
  const ready = health
    .routes(createMetricsRegistry({ defaultMetrics: false }))
    .find(([, path]) => path === '/health/ready');

  beforeAll(async () => {
    await migrate({ db, dir: platformMigrations.dir, table: platformMigrations.table });
  });
  afterAll(async () => {
    await cache.close();
    await db.close();
  });

  function call() {
    const exchange = {
      request: new Request('http://h/health/ready'),
      clientAddress: '127.0.0.1',
      secure: false,
      state: {},
    };
    return ready?.[2].handle(
      createRouteContext({ exchange, params: {}, source: new Request('http://h/') }),
    ) as Promise<{
      status: number;
    }>;
  }

  it('is ready when the database answers and every migration is applied', async () => {
    await expect(call()).resolves.toMatchObject({ status: 200 });
  });

  it('is not ready once shutdown began, naming the check', async () => {
    draining = true;
    await expect(call()).rejects.toMatchObject({
      status: 503,
      code: 'NOT_READY',
      details: { check: 'shutdown' },
    });
    draining = false;
  });

  it('is not ready while a migration is pending', async () => {
    const fresh = createDatabase({ url: 'sqlite::memory:' });
    const pending = createHealth({
      db: fresh,
      cache,
      version: 'test',
      migrations: [platformMigrations],
    });
    const route = pending
      .routes(createMetricsRegistry({ defaultMetrics: false }))
      .find(([, path]) => path === '/health/ready');
    const exchange = {
      request: new Request('http://h/health/ready'),
      clientAddress: '127.0.0.1',
      secure: false,
      state: {},
    };
    await expect(
      route?.[2].handle(
        createRouteContext({ exchange, params: {}, source: new Request('http://h/') }),
      ),
    ).rejects.toMatchObject({
      status: 503,
      details: { check: 'migrations' },
    });
    await fresh.close();
  });
});
