// The platform on a PostgreSQL primary with a streaming replica (`pg_basebackup -R`), both
// private clusters started here on spare ports: two example-express instances sharing Redis
// read their lists and the dashboard from the replica, see every write at once, and ride
// through a replica that lags or dies.
//
//   pnpm vitest run --project scale scale/test/replicas.test.ts
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase, type SqlStatement, sql } from '@fairmind/db-pool';
import { type ServerProcess, startServer, until } from '@fairmind/testing';
import {
  type PostgresServer,
  type RedisServer,
  startPostgresServer,
  startRedisServer,
} from '@fairmind/testing/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, login, platformEnv } from './http.js';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'express');

let primary: PostgresServer;
let replica: PostgresServer;
let redis: RedisServer;
let a: ServerProcess;
let b: ServerProcess;
let token: string;

beforeAll(async () => {
  primary = await startPostgresServer();
  replica = await primary.startReplica();
  redis = await startRedisServer();
  const env = platformEnv({
    DATABASE_URL: primary.url,
    DATABASE_REPLICA_URLS: replica.url,
    DATABASE_REPLICA_MAX_LAG: '0.5',
    REDIS_URL: redis.url,
    RATE_LIMIT_REQUESTS: '1000000',
  });
  // One first, so that the second finds the migrations applied.
  a = await startServer({ script: 'src/main.ts', cwd: example, env });
  b = await startServer({ script: 'src/main.ts', cwd: example, env });
  token = await login(a.base);
  await Promise.all(
    [a, b].map((server) => until(async () => (await usable(server)) === 1, 15_000)),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
  await redis?.stop();
  await replica?.remove();
  await primary?.remove();
});

async function metrics(server: ServerProcess): Promise<string> {
  return (await fetch(`${server.base}/metrics`)).text();
}

/** `fairmind_db_replica_usable` of `server`: 1 while its list reads go to the replica. */
async function usable(server: ServerProcess): Promise<number | undefined> {
  const match = /^fairmind_db_replica_usable\{[^}]*\} (\d)/m.exec(await metrics(server));
  return match ? Number(match[1]) : undefined;
}

/** Reads through `read()` so far, on the replica and on the primary, summed over both. */
async function reads(): Promise<{ replica: number; primary: number }> {
  const total = { replica: 0, primary: 0 };
  for (const server of [a, b]) {
    for (const [, target, count] of (await metrics(server)).matchAll(
      /^fairmind_db_reads_total\{[^}]*target="([^"]+)"[^}]*\} (\d+)/gm,
    )) {
      if (target === 'primary') total.primary += Number(count);
      else total.replica += Number(count);
    }
  }
  return total;
}

async function onReplica(statement: SqlStatement): Promise<void> {
  const db = createDatabase({ url: replica.url, poolSize: 1 });
  try {
    await db.query(statement);
  } finally {
    await db.close();
  }
}

const get = (server: ServerProcess, path: string) => call(server.base, 'GET', path, { token });
const total = async (server: ServerProcess) =>
  ((await get(server, '/api/v1/dashboard')).json as { models: { total: number } }).models.total;

/** Creates a model through `writer`, then reads it back in the list and dashboard of both. */
async function writeThenRead(writer: ServerProcess): Promise<void> {
  const before = await total(writer === a ? b : a);
  const created = await call(writer.base, 'POST', '/api/v1/models', {
    token,
    body: { name: `replica-${randomUUID()}`, version: '1', riskLevel: 'low' },
  });
  expect(created.status).toBe(201);
  for (const server of [a, b]) {
    const list = (await get(server, '/api/v1/models?limit=5')).json as { items: { id: string }[] };
    expect(list.items.map((item) => item.id)).toContain(created.json['id']);
  }
  expect(await total(writer === a ? b : a)).toBe(before + 1);
}

describe('the platform with a read replica', () => {
  it('reads lists and the dashboard from the replica, and every write at once on both instances', async () => {
    const start = await reads();
    for (let round = 0; round < 20; round++) await writeThenRead(round % 2 ? a : b);
    const end = await reads();
    const replica = end.replica - start.replica;
    const primary = end.primary - start.primary;
    console.log(
      `[replicas] 20 writes, each read back fresh through both instances: ${replica} cache fills from the replica, ${primary} from the primary`,
    );
    expect(replica).toBeGreaterThan(primary);
  });

  it('leaves a lagging replica out, stays fresh meanwhile, and takes it back when it catches up', async () => {
    await onReplica(sql`select pg_wal_replay_pause()`);
    try {
      await writeThenRead(a);
      // Past DATABASE_REPLICA_MAX_LAG (0.5 s), both instances stop using it.
      await until(async () => (await usable(a)) === 0 && (await usable(b)) === 0, 15_000);
      const start = await reads();
      await writeThenRead(b);
      const end = await reads();
      expect(end.replica).toBe(start.replica);
    } finally {
      await onReplica(sql`select pg_wal_replay_resume()`);
    }
    await until(async () => (await usable(a)) === 1 && (await usable(b)) === 1, 15_000);
    await writeThenRead(a);
  });

  it('serves every request while the replica is down, and uses it again once it is back', async () => {
    await replica.kill();
    const statuses: number[] = [];
    for (let round = 0; round < 10; round++) {
      await writeThenRead(round % 2 ? a : b);
      statuses.push((await get(a, '/api/v1/dashboard')).status);
    }
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(await usable(a)).toBe(0);
    await replica.restart();
    await until(async () => (await usable(a)) === 1 && (await usable(b)) === 1, 30_000);
    const start = await reads();
    await writeThenRead(b);
    expect((await reads()).replica).toBeGreaterThan(start.replica);
    for (const server of [a, b]) expect(server.output()).not.toMatch(/Uncaught|unhandled/i);
  });
});
