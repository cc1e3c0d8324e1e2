import { FairmindError } from '@fairmind/core';
import type pg from 'pg';
import type { HealthOptions, HealthReport } from '../database/index.js';
import { PoolTimeoutError } from '../errors/index.js';
import type { ConnectionPool } from '../pool/index.js';

/**
 * `Database.health`: `SELECT 1` on a connection acquired within the probe's own deadline,
 * which also bounds the query. Never throws: a failure is a report with `ok: false`.
 */
export async function probeHealth(
  pool: ConnectionPool,
  healthOptions: HealthOptions,
): Promise<HealthReport> {
  const probeTimeout = healthOptions.timeoutMs ?? 2_000;
  const started = performance.now();
  const latencyMs = () => Math.round((performance.now() - started) * 100) / 100;
  try {
    const connection = await pool.acquire(probeTimeout);
    try {
      const remaining = Math.max(1, Math.round(probeTimeout - (performance.now() - started)));
      await connection.client.query({
        text: 'SELECT 1',
        query_timeout: remaining,
      } as pg.QueryConfig);
    } catch (error) {
      connection.broken = true;
      throw error;
    } finally {
      pool.release(connection);
    }
    return { ok: true, latencyMs: latencyMs(), driver: 'postgres', lastError: pool.lastError };
  } catch (error) {
    return { ok: false, latencyMs: latencyMs(), driver: 'postgres', lastError: probeError(error) };
  }
}

/** Our own errors already say what to do; anything else gets the package's prefix. */
function probeError(error: unknown): string {
  return error instanceof PoolTimeoutError || error instanceof FairmindError
    ? error.message
    : `[@fairmind/db-pool] health probe failed: ${error instanceof Error ? error.message : String(error)}`;
}
