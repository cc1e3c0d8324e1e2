import type { Cache } from '@fairmind/cache';
import type { Database } from '@fairmind/db-pool';
import { json } from '@fairmind/edge';

/** What `/health` reports on. */
export interface ReportDeps {
  db: Database;
  cache: Cache;
  version: string;
}

const startedAt = Date.now();

/**
 * The `/health` answer: every dependency's state and the pool's figures. A cache outage only
 * degrades the service (503 is for the database, without which nothing works).
 */
export async function healthReport({ db, cache, version }: ReportDeps) {
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
}
