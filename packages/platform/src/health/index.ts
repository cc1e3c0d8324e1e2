import type { Cache } from '@fairmind/cache';
import { FairmindError } from '@fairmind/core';
import { type Database, migrationStatus } from '@fairmind/db-pool';
import type { Registry } from 'prom-client';
import { json, type Route } from '../routes/index.js';

interface HealthDeps {
  db: Database;
  cache: Cache;
  version: string;
  migrations: ReadonlyArray<{ readonly dir: string; readonly table: string }>;
  /** True once shutdown began: readiness fails so load balancers stop sending new requests. */
  draining?: () => boolean;
}

const startedAt = Date.now();

/** `/health`, `/health/live`, `/health/ready` and `/metrics` of HTTP-API.md. */
export function createHealth({ db, cache, version, migrations, draining }: HealthDeps) {
  async function pendingMigrations(): Promise<number> {
    let pending = 0;
    for (const { dir, table } of migrations) {
      const entries = await migrationStatus({ db, dir, table });
      pending += entries.filter((entry) => entry.state !== 'applied').length;
    }
    return pending;
  }

  return {
    routes(registry: Registry): Array<[string, string, Route]> {
      return [
        [
          'GET',
          '/health/live',
          { permission: null, handle: async () => json(200, { status: 'ok' }) },
        ],
        [
          'GET',
          '/health/ready',
          {
            permission: null,
            async handle() {
              if (draining?.()) {
                throw new FairmindError(
                  'NOT_READY',
                  503,
                  'The server is shutting down (check: shutdown).',
                  {
                    expose: true,
                    details: { check: 'shutdown' },
                  },
                );
              }
              const database = await db.health({ timeoutMs: 2000 });
              if (!database.ok) {
                throw new FairmindError(
                  'NOT_READY',
                  503,
                  'The database is not answering (check: database).',
                  {
                    expose: true,
                    details: { check: 'database' },
                  },
                );
              }
              const pending = await pendingMigrations();
              if (pending > 0) {
                throw new FairmindError(
                  'NOT_READY',
                  503,
                  `${pending} migration(s) are not applied (check: migrations).`,
                  {
                    expose: true,
                    details: { check: 'migrations' },
                  },
                );
              }
              return json(200, { status: 'ok' });
            },
          },
        ],
        [
          'GET',
          '/health',
          {
            permission: null,
            async handle() {
              const [database, cacheHealth] = await Promise.all([
                db.health({ timeoutMs: 2000 }),
                cache.health(),
              ]);
              const pool = db.status();
              const body = {
                status: database.ok && cacheHealth.ok ? 'ok' : 'degraded',
                version,
                uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
                checks: {
                  database: {
                    status: database.ok ? 'ok' : 'down',
                    latencyMs: database.latencyMs,
                    driver: database.driver,
                    pool: {
                      size: pool.size,
                      maxOverflow: pool.maxOverflow,
                      total: pool.total,
                      idle: pool.idle,
                      active: pool.active,
                      waiting: pool.waiting,
                    },
                  },
                  cache: {
                    status: cacheHealth.ok ? 'ok' : 'down',
                    mode: cacheHealth.mode,
                    latencyMs: cacheHealth.latencyMs,
                  },
                },
              };
              return json(database.ok ? 200 : 503, body);
            },
          },
        ],
        [
          'GET',
          '/metrics',
          {
            permission: null,
            async handle() {
              return {
                status: 200,
                headers: { 'content-type': registry.contentType },
                body: await registry.metrics(),
              };
            },
          },
        ],
      ];
    },
  };
}
