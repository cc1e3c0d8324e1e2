import { silentLogger } from '@fairmind/core';
import { useTestDatabase } from '@fairmind/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionPool, type ConnectionPoolSettings, isConnectionError } from './index.js';

const testDb = useTestDatabase();
const pools: ConnectionPool[] = [];

function createPool(overrides: Partial<ConnectionPoolSettings> = {}): ConnectionPool {
  const pool = new ConnectionPool({
    connectionString: testDb.url,
    size: 2,
    maxOverflow: 0,
    timeoutMs: 2_000,
    connectTimeoutMs: 2_000,
    applicationName: 'fm-pool-test',
    maxLifetimeMs: 60_000,
    idleValidationMs: 30_000,
    leakDetectionMs: 0,
    statementCacheSize: 10,
    ssl: undefined,
    logger: silentLogger,
    ...overrides,
  });
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  // Tests end with a connection still borrowed; do not wait the whole timeout for it.
  await Promise.all(pools.splice(0).map((pool) => pool.close(50)));
});

describe('ConnectionPool', () => {
  it('reuses the most recently returned connection', async () => {
    const pool = createPool();
    const first = await pool.acquire();
    const second = await pool.acquire();
    pool.release(first);
    pool.release(second);
    expect((await pool.acquire()).id).toBe(second.id);
  });

  it('drops an idle connection whose socket closed quietly', async () => {
    const pool = createPool();
    const connection = await pool.acquire();
    pool.release(connection);
    expect(pool.snapshot().idle).toBe(1);
    // No error message from the server: just the socket going away.
    (
      connection.client as unknown as { connection: { stream: { destroy(): void } } }
    ).connection.stream.destroy();
    for (let attempt = 0; attempt < 50 && pool.snapshot().idle > 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(pool.snapshot().idle).toBe(0);
    const next = await pool.acquire();
    expect(next.id).not.toBe(connection.id);
    await expect(next.client.query('select 1')).resolves.toBeDefined();
  });

  it('validates a connection idle past the threshold and replaces it when the probe fails', async () => {
    const pool = createPool({ idleValidationMs: 5 });
    const connection = await pool.acquire();
    pool.release(connection);
    const original = connection.client.query.bind(connection.client);
    let probes = 0;
    connection.client.query = ((config: unknown) => {
      probes++;
      return Promise.reject(
        Object.assign(new Error('Connection terminated unexpectedly'), { config }),
      );
    }) as typeof connection.client.query;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const next = await pool.acquire();
    expect(probes).toBe(1);
    expect(next.id).not.toBe(connection.id);
    connection.client.query = original;
    expect(pool.snapshot().errors).toBe(1);
  });

  it('hands a fresh connection out without a probe', async () => {
    const pool = createPool({ idleValidationMs: 60_000 });
    const connection = await pool.acquire();
    pool.release(connection);
    let probes = 0;
    const original = connection.client.query.bind(connection.client);
    connection.client.query = ((...args: Parameters<typeof original>) => {
      probes++;
      return original(...args);
    }) as typeof connection.client.query;
    expect((await pool.acquire()).id).toBe(connection.id);
    expect(probes).toBe(0);
  });

  it('retires a connection past its lifetime on release', async () => {
    const pool = createPool({ maxLifetimeMs: 1_000 });
    const connection = await pool.acquire();
    connection.retireAt = performance.now() - 1;
    pool.release(connection);
    expect(pool.snapshot().idle).toBe(0);
    expect((await pool.acquire()).id).not.toBe(connection.id);
  });

  it('recognises connection errors', () => {
    expect(isConnectionError(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isConnectionError('nope')).toBe(false);
  });
});
