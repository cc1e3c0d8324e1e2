import { randomUUID } from 'node:crypto';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import {
  type BlackholeServer,
  databaseUrl,
  startBlackholeServer,
  startPostgresServer,
  terminateBackends,
  undefinedOptions,
  useTestDatabase,
} from '@fairmind/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../database/index.js';
import { DatabaseError, PoolTimeoutError } from '../errors/index.js';
import { sql } from '../sql/index.js';
import { createPostgresDatabase, type PostgresDatabaseOptions } from './index.js';

const testDb = useTestDatabase();
const opened: Database[] = [];

function open(options: Partial<PostgresDatabaseOptions> = {}): Database & { app: string } {
  const app = options.applicationName ?? `fm-test-${randomUUID().slice(0, 8)}`;
  const db = createPostgresDatabase({ url: testDb.url, applicationName: app, ...options });
  opened.push(db);
  return Object.assign(db, { app });
}

let admin: pg.Client;
beforeAll(async () => {
  admin = new pg.Client({ connectionString: testDb.url });
  await admin.connect();
  await admin.query(
    'create table accounts (id int primary key, balance int not null check (balance >= 0))',
  );
});
afterAll(async () => {
  await admin.end();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

async function backends(app: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    'select count(*) as n from pg_stat_activity where application_name = $1',
    [app],
  );
  return Number(rows[0]?.n);
}

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Holds `count` connections until the returned release() is called. */
async function hold(db: Database, count: number) {
  const gate = deferred();
  const started: Array<Promise<void>> = [];
  const held: Array<Promise<unknown>> = [];
  for (let index = 0; index < count; index++) {
    const entered = deferred();
    started.push(entered.promise);
    held.push(
      db.withConnection(async () => {
        entered.resolve();
        await gate.promise;
      }),
    );
  }
  await Promise.all(started);
  return async () => {
    gate.resolve();
    await Promise.all(held);
  };
}

describe('pool exhaustion', () => {
  it('times out a third acquire with a snapshot, then works after a release', async () => {
    const db = open({ poolSize: 2, maxOverflow: 0, timeoutMs: 200 });
    const release = await hold(db, 2);
    const started = performance.now();
    const third = db.query(sql`select 1`).then(
      () => undefined,
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(db.status()).toMatchObject({ waiting: 1, active: 2, total: 2 });
    const error = await third;
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(PoolTimeoutError);
    const timeout = error as PoolTimeoutError;
    expect(timeout.reason).toBe('exhausted');
    expect(timeout.snapshot).toMatchObject({ total: 2, active: 2, idle: 0, waiting: 1 });
    expect(timeout.message).toMatch(/total=2 idle=0 active=2 waiting=1/);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(db.status()).toMatchObject({ waiting: 0, timeouts: 1 });
    await release();
    await expect(db.one(sql`select 1 as one`)).resolves.toEqual({ one: 1 });
  });

  it('tells an unreachable server from an exhausted pool', async () => {
    const db = createPostgresDatabase({
      url: 'postgres://postgres@127.0.0.1:1/test',
      timeoutMs: 300,
    });
    opened.push(db);
    const error = await db.query(sql`select 1`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PoolTimeoutError);
    expect((error as PoolTimeoutError).reason).toBe('unreachable');
    expect((error as PoolTimeoutError).message).toMatch(/could not be reached/);
    const health = await db.health({ timeoutMs: 200 });
    expect(health).toMatchObject({ ok: false, driver: 'postgres' });
    expect(health.lastError).toMatch(/no connection within 200 ms/);
  });
});

describe('a server that accepts TCP and never answers', () => {
  let blackhole: BlackholeServer;
  beforeEach(async () => {
    blackhole = await startBlackholeServer();
  });
  afterEach(async () => {
    await blackhole.close();
  });

  /** The error of one query through a pool pointed at the blackhole. */
  function queryBlackhole(options: Partial<PostgresDatabaseOptions>): Promise<unknown> {
    const db = createPostgresDatabase({
      url: `postgres://postgres@127.0.0.1:${blackhole.port}/test`,
      ...options,
    });
    opened.push(db);
    return db.query(sql`select 1`).catch((caught: unknown) => caught);
  }

  it('is reported as unreachable, not as an exhausted pool', async () => {
    const error = await queryBlackhole({ timeoutMs: 1_000 });
    expect(error).toBeInstanceOf(PoolTimeoutError);
    const timeout = error as PoolTimeoutError;
    expect(timeout.snapshot.active).toBe(0);
    expect(timeout.reason).toBe('unreachable');
    expect(timeout.message).toMatch(/server/);
    expect(timeout.message).not.toMatch(/raise poolSize/);
  });

  it('gives up on a hung connect after connectTimeoutMs and tries again', async () => {
    const error = await queryBlackhole({ timeoutMs: 3_000, connectTimeoutMs: 200 });
    expect(error).toMatchObject({ reason: 'unreachable' });
    expect((error as Error).message).toMatch(/did not complete a connect within connectTimeoutMs/);
    // One hung connect per attempt: the pool abandoned each and opened another.
    expect(blackhole.accepted).toBeGreaterThan(1);
  });

  it('refuses a connectTimeoutMs that is not a positive integer', () => {
    expect(() => createPostgresDatabase({ url: testDb.url, connectTimeoutMs: 0 })).toThrow(
      /connectTimeoutMs/,
    );
  });
});

describe('a connect the server refuses for good', () => {
  // The pool's deadline is 30 s: each test's own 10 s timeout is what "at once" means here.
  async function refusal(url: string): Promise<DatabaseError> {
    const db = createPostgresDatabase({ url, timeoutMs: 30_000 });
    opened.push(db);
    const error = await db.query(sql`select 1`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ kind: 'config_invalid', code: 'DB_CONFIG_INVALID' });
    expect(db.status()).toMatchObject({ waiting: 0, total: 0 });
    return error as DatabaseError;
  }

  it('fails at once on a database that does not exist (3D000)', { timeout: 10_000 }, async () => {
    const error = await refusal(databaseUrl(testDb.adminUrl, 'fm_t_no_such_database'));
    expect(error.sqlState).toBe('3D000');
    expect(error.message).toMatch(/database "fm_t_no_such_database" does not exist/);
    expect(error.message).toMatch(/DATABASE_URL/);
  });

  it('fails at once on a role that does not exist (28000)', { timeout: 10_000 }, async () => {
    const url = new URL(testDb.url);
    url.username = 'fm_no_such_role';
    const error = await refusal(url.toString());
    expect(error.sqlState).toBe('28000');
    expect(error.message).toMatch(/role "fm_no_such_role" does not exist/);
  });

  it('fails at once on a wrong password (28P01)', { timeout: 30_000 }, async () => {
    const server = await startPostgresServer({ auth: 'scram-sha-256' });
    try {
      const url = new URL(server.url);
      url.password = 'not-the-password';
      const error = await refusal(url.toString());
      expect(error.sqlState).toBe('28P01');
      expect(error.message).toMatch(/password authentication failed for user "postgres"/);
    } finally {
      await server.remove();
    }
  });
});

describe('overflow', () => {
  it('opens up to size + overflow, queues the next, and closes the overflow on release', async () => {
    const db = open({ poolSize: 2, maxOverflow: 3, timeoutMs: 5_000 });
    const release = await hold(db, 5);
    expect(db.status()).toMatchObject({ total: 5, active: 5, overflow: 3 });
    expect(await backends(db.app)).toBe(5);
    const sixth = db.one<{ n: number }>(sql`select 6 as n`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(db.status().waiting).toBe(1);
    await release();
    await expect(sixth).resolves.toEqual({ n: 6 });
    // Ends are asynchronous on the server side; poll briefly (bounded).
    for (let attempt = 0; attempt < 50 && (await backends(db.app)) > 2; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await backends(db.app)).toBeLessThanOrEqual(2);
    expect(db.status()).toMatchObject({ idle: 2, active: 0, total: 2, overflow: 0 });
  });
});

describe('backend crashes', () => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
  });
  afterAll(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  });

  it('survives pg_terminate_backend on idle connections', async () => {
    const db = open({ poolSize: 3, maxOverflow: 0 });
    const release = await hold(db, 3);
    await release();
    expect(db.status().idle).toBe(3);
    expect(await terminateBackends(testDb.adminUrl, { applicationName: db.app })).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(db.one(sql`select 1 as ok`)).resolves.toEqual({ ok: 1 });
    expect(db.status().errors).toBeGreaterThanOrEqual(3);
    expect(uncaught).toEqual([]);
  });

  it('fails only the in-flight call when its backend is terminated', async () => {
    const db = open({ poolSize: 2, maxOverflow: 0 });
    const slow = db.query(sql`select pg_sleep(10)`).catch((error: unknown) => error);
    for (let attempt = 0; attempt < 100; attempt++) {
      const { rows } = await admin.query(
        "select 1 from pg_stat_activity where application_name = $1 and query like '%pg_sleep%' and state = 'active'",
        [db.app],
      );
      if (rows.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await terminateBackends(testDb.adminUrl, { applicationName: db.app })).toBe(1);
    const error = await slow;
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).kind).toBe('connection_lost');
    await expect(db.one(sql`select 2 as ok`)).resolves.toEqual({ ok: 2 });
    expect(db.status()).toMatchObject({ active: 0 });
    expect(uncaught).toEqual([]);
  });
});

describe('transactions', () => {
  it('commits on return and rolls back on throw', async () => {
    const db = open();
    await db.transaction(async (tx) => {
      await tx.query(sql`insert into accounts (id, balance) values (${1}, ${100})`);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query(sql`insert into accounts (id, balance) values (${2}, ${100})`);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(
      await db.many(sql`select id from accounts where id in (${sql.list([1, 2])}) order by id`),
    ).toEqual([{ id: 1 }]);
  });

  it('turns a nested transaction into a savepoint', async () => {
    const db = open();
    await db.transaction(async (tx) => {
      await tx.query(sql`insert into accounts values (${10}, ${1})`);
      await expect(
        db.transaction(async (inner) => {
          await inner.query(sql`insert into accounts values (${11}, ${1})`);
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      await db.transaction(async (inner) => {
        await inner.query(sql`insert into accounts values (${12}, ${1})`);
      });
    });
    const ids = await db.many<{ id: number }>(
      sql`select id from accounts where id between 10 and 19 order by id`,
    );
    expect(ids.map((row) => row.id)).toEqual([10, 12]);
  });

  it('reuses the transaction connection for nested calls, so a pool of one cannot deadlock', async () => {
    const db = open({ poolSize: 1, maxOverflow: 0, timeoutMs: 500 });
    const result = await db.transaction(async () => {
      await db.query(sql`insert into accounts values (${20}, ${5})`);
      return db.withConnection((connection) =>
        connection.one<{ balance: number }>(sql`select balance from accounts where id = ${20}`),
      );
    });
    expect(result).toEqual({ balance: 5 });
  });

  it('never hands out a connection left in a failed transaction', async () => {
    const db = open({ poolSize: 1, maxOverflow: 0 });
    await db
      .withConnection(async (connection) => {
        await connection.exec('begin');
        await connection.query(sql`select * from no_such_table`);
      })
      .catch(() => undefined);
    await expect(db.one(sql`select 1 as ok`)).resolves.toEqual({ ok: 1 });
  });

  it('leaves no connection active after 1,000 failing withConnection calls', async () => {
    const db = open({ poolSize: 2, maxOverflow: 0 });
    let failures = 0;
    for (let index = 0; index < 1_000; index++) {
      await db
        .withConnection(async () => {
          throw new Error('boom');
        })
        .catch(() => failures++);
    }
    expect(failures).toBe(1_000);
    expect(db.status()).toMatchObject({ active: 0, waiting: 0 });
  });

  it('applies a statement timeout with SET LOCAL', async () => {
    const db = open();
    const error = await db
      .transaction((tx) => tx.query(sql`select pg_sleep(2)`), { statementTimeoutMs: 50 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).kind).toBe('query_canceled');
    // SET LOCAL ended with the transaction.
    await expect(db.one(sql`select current_setting('statement_timeout') as t`)).resolves.toEqual({
      t: '0',
    });
  });

  it('runs read-only transactions at the asked isolation level', async () => {
    const db = open();
    const level = await db.transaction(
      (tx) => tx.one<{ l: string }>(sql`select current_setting('transaction_isolation') as l`),
      {
        isolation: 'repeatable read',
        readOnly: true,
      },
    );
    expect(level).toEqual({ l: 'repeatable read' });
    const error = await db
      .transaction((tx) => tx.query(sql`insert into accounts values (${30}, ${1})`), {
        readOnly: true,
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
  });

  it('retries serialization failures a bounded number of times', async () => {
    const db = open({ poolSize: 4 });
    await db.query(sql`insert into accounts values (${40}, ${0})`);
    let attempts = 0;
    const increment = () =>
      db.transaction(
        async (tx) => {
          attempts++;
          const { balance } = await tx.one<{ balance: number }>(
            sql`select balance from accounts where id = ${40}`,
          );
          await new Promise((resolve) => setTimeout(resolve, 30));
          await tx.query(sql`update accounts set balance = ${balance + 1} where id = ${40}`);
        },
        { isolation: 'serializable', retries: 5 },
      );
    await Promise.all([increment(), increment(), increment()]);
    expect(await db.one(sql`select balance from accounts where id = ${40}`)).toEqual({
      balance: 3,
    });
    expect(attempts).toBeGreaterThan(3);
    const once = () =>
      db.transaction(
        async (tx) => {
          const { balance } = await tx.one<{ balance: number }>(
            sql`select balance from accounts where id = ${40}`,
          );
          await new Promise((resolve) => setTimeout(resolve, 30));
          await tx.query(sql`update accounts set balance = ${balance + 1} where id = ${40}`);
        },
        { isolation: 'serializable' },
      );
    const noRetry = await Promise.allSettled([once(), once()]);
    const rejected = noRetry.filter((outcome) => outcome.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toMatchObject({
      kind: 'serialization_failure',
    });
  });
});

describe('queries', () => {
  it('binds every value as a parameter', async () => {
    const db = open();
    const hostile = "'); drop table accounts; --";
    const row = await db.one<{ v: string; n: number; b: boolean; j: unknown }>(
      sql`select ${hostile}::text as v, ${41}::int + 1 as n, ${true}::boolean as b, ${JSON.stringify({ a: 1 })}::jsonb as j`,
    );
    expect(row).toEqual({ v: hostile, n: 42, b: true, j: { a: 1 } });
    await expect(
      db.one(sql`select count(*)::int as n from ${sql.id('accounts')}`),
    ).resolves.toHaveProperty('n');
  });

  it('reports row-count mistakes', async () => {
    const db = open();
    await expect(db.one(sql`select 1 where false`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(db.maybeOne(sql`select 1 where false`)).resolves.toBeNull();
    await expect(db.maybeOne(sql`select generate_series(1, 2)`)).rejects.toMatchObject({
      code: 'TOO_MANY_ROWS',
    });
  });

  it('maps constraint errors without leaking values', async () => {
    const db = open();
    await db.query(sql`insert into accounts values (${50}, ${1})`);
    const duplicate = await db
      .query(sql`insert into accounts values (${50}, ${1})`)
      .catch((error: unknown) => error);
    expect(duplicate).toMatchObject({
      kind: 'unique_violation',
      status: 409,
      code: 'DB_UNIQUE_VIOLATION',
      constraint: 'accounts_pkey',
      column: 'id',
      expose: false,
    });
    const check = await db
      .query(sql`insert into accounts values (${51}, ${-5})`)
      .catch((error: unknown) => error);
    expect(check).toMatchObject({ kind: 'check_violation', sqlState: '23514' });
    const bad = await db.query(sql`select ${'secret-value'}::int`).catch((error: unknown) => error);
    expect(bad).toMatchObject({ kind: 'invalid_input', status: 400 });
    expect((bad as Error).message).not.toContain('secret-value');
    const syntax = await db
      .exec('selec secret_column from nowhere')
      .catch((error: unknown) => error);
    expect(syntax).toMatchObject({ kind: 'syntax_error' });
    expect((syntax as Error).message).not.toContain('secret_column');
  });

  it('prepares statements by default, and not when told', async () => {
    const prepared = open();
    const count = (db: Database) =>
      db.withConnection(async (connection) => {
        await connection.query(sql`select ${1}::int as a`);
        await connection.query(sql`select ${2}::int as a`);
        return connection.one<{ n: number }>(
          sql`select count(*)::int as n from pg_prepared_statements`,
        );
      });
    expect((await count(prepared)).n).toBeGreaterThanOrEqual(1);
    const unprepared = open({ prepare: false });
    expect(await count(unprepared)).toEqual({ n: 0 });
  });

  it('retires a connection that holds more prepared statements than the cache allows', async () => {
    const db = open({ poolSize: 1, maxOverflow: 0, statementCacheSize: 3 });
    const pids = new Set<number>();
    for (let index = 0; index < 8; index++) {
      const { pid } = await db.one<{ pid: number }>(
        sql`select pg_backend_pid() as pid, ${index}::int as i ${sql.raw(`-- ${index}`)}`,
      );
      pids.add(pid);
    }
    expect(pids.size).toBeGreaterThan(1);
  });

  it('streams a large result in batches', async () => {
    const db = open({ poolSize: 1, maxOverflow: 0 });
    let sum = 0;
    let count = 0;
    for await (const row of db.stream<{ n: number }>(sql`select generate_series(1, ${5000}) as n`, {
      batchSize: 250,
    })) {
      sum += row.n;
      count++;
      if (count === 10) expect(db.status().active).toBe(1);
    }
    expect({ count, sum }).toEqual({ count: 5000, sum: (5000 * 5001) / 2 });
    expect(db.status().active).toBe(0);
    // Breaking early releases the connection too.
    for await (const row of db.stream<{ n: number }>(sql`select generate_series(1, 100) as n`)) {
      if (row.n === 3) break;
    }
    expect(db.status().active).toBe(0);
    await expect(db.one(sql`select 1 as ok`)).resolves.toEqual({ ok: 1 });
  });
});

describe('prepared statements after a schema change', () => {
  // One connection, so every call below reuses the statement that connection prepared.
  async function withTable(name: string) {
    await admin.query(`create table ${name} (a int)`);
    await admin.query(`insert into ${name} values (1)`);
    const db = open({ poolSize: 1, maxOverflow: 0 });
    const select = sql`select * from ${sql.id(name)}`;
    const pid = () => db.one<{ pid: number }>(sql`select pg_backend_pid() as pid`);
    expect(await db.many(select)).toEqual([{ a: 1 }]);
    return { db, select, pid };
  }

  it('re-prepares and retries once outside a transaction (0A000)', async () => {
    const { db, select, pid } = await withTable('schema_heal');
    const before = await pid();
    await admin.query('alter table schema_heal add column b int');
    await expect(db.many(select)).resolves.toEqual([{ a: 1, b: null }]);
    await expect(db.many(select)).resolves.toEqual([{ a: 1, b: null }]);
    // Healed on the same connection, not by retiring it.
    expect(await pid()).toEqual(before);
  });

  it('fails a transaction with a retry-the-transaction error, and heals the next one', async () => {
    const { db, select } = await withTable('schema_tx');
    await admin.query('alter table schema_tx add column b int');
    const error = await db.transaction((tx) => tx.many(select)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ kind: 'stale_statement', sqlState: '0A000', status: 503 });
    expect((error as Error).message).toMatch(/retry the transaction/);
    await expect(db.transaction((tx) => tx.many(select))).resolves.toEqual([{ a: 1, b: null }]);
    await admin.query('alter table schema_tx add column c int');
    await expect(db.transaction((tx) => tx.many(select), { retries: 1 })).resolves.toEqual([
      { a: 1, b: null, c: null },
    ]);
  });

  it('prepares again a statement the server forgot (26000 after DISCARD ALL)', async () => {
    const { db, select } = await withTable('schema_discard');
    const rows = await db.withConnection(async (connection) => {
      await connection.exec('DISCARD ALL');
      return connection.many(select);
    });
    expect(rows).toEqual([{ a: 1 }]);
    await expect(db.many(select)).resolves.toEqual([{ a: 1 }]);
  });
});

describe('status, health, metrics, leaks and close', () => {
  it('reports health with latency', async () => {
    const db = open();
    const health = await db.health();
    expect(health).toMatchObject({ ok: true, driver: 'postgres', lastError: null });
    expect(health.latencyMs).toBeGreaterThan(0);
  });

  it('exports pool metrics', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const db = open({ registry, name: 'main' });
    await db.query(sql`select 1`);
    const text = await registry.metrics();
    expect(text).toMatch(
      /fairmind_db_pool_connections\{pool="main",driver="postgres",state="idle"\} 1/,
    );
    expect(text).toMatch(
      /fairmind_db_pool_acquire_seconds_count\{pool="main",driver="postgres"\} 1/,
    );
    expect(text).toMatch(/fairmind_db_pool_held_seconds_count\{pool="main",driver="postgres"\} 1/);
  });

  it('logs a leaked connection with the stack that took it', async () => {
    const warnings: Array<{ obj: Record<string, unknown>; msg: string | undefined }> = [];
    const logger = {
      error() {},
      info() {},
      debug() {},
      warn(obj: object, msg?: string) {
        warnings.push({ obj: obj as Record<string, unknown>, msg });
      },
      child() {
        return logger;
      },
    };
    const db = open({ leakDetectionMs: 30, logger });
    await db.withConnection(() => new Promise((resolve) => setTimeout(resolve, 120)));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/possible connection leak/);
    expect(String(warnings[0]?.obj['stack'])).toContain('index.test.ts');
  });

  it('validates options once, at creation', () => {
    expect(() => createPostgresDatabase({ url: 'mysql://x' })).toThrow(/postgres:\/\//);
    expect(() => createPostgresDatabase({ url: testDb.url, poolSize: 0 })).toThrow(/poolSize/);
    expect(() => createPostgresDatabase({ url: testDb.url, maxOverflow: -1 })).toThrow(
      /maxOverflow/,
    );
    expect(() => createPostgresDatabase({ url: testDb.url, timeoutMs: 1.5 })).toThrow(/timeoutMs/);
  });

  it('drains on close, refuses new work and leaves no connection open', async () => {
    const db = open({ poolSize: 3 });
    const slow = db.query(sql`select pg_sleep(0.2)`);
    // Close only once the query holds its connection: a caller still waiting in the queue
    // is refused by close(), by design.
    for (let attempt = 0; attempt < 200 && db.status().active === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(db.status().active).toBe(1);
    const closing = db.close();
    await expect(db.query(sql`select 1`)).rejects.toMatchObject({ code: 'POOL_CLOSED' });
    await expect(slow).resolves.toBeDefined();
    await closing;
    expect(db.status().total).toBe(0);
    expect(await backends(db.app)).toBe(0);
    await expect(db.close()).resolves.toBeUndefined();
  });
});

describe('options given as undefined', () => {
  // createDatabase({ url: process.env.DATABASE_URL, poolSize: env.POOL }) with
  // exactOptionalPropertyTypes: a key given as undefined means what leaving it out means.
  it('keep every default of the pool', async () => {
    const db = createPostgresDatabase({
      ...undefinedOptions(new URL('./index.ts', import.meta.url), 'PostgresDatabaseOptions'),
      url: testDb.url,
    });
    opened.push(db);
    const defaults = createPostgresDatabase({ url: testDb.url });
    opened.push(defaults);
    expect(await db.one(sql`select 1 as one`)).toEqual({ one: 1 });
    const limits = ({ size, maxOverflow }: { size: number; maxOverflow: number }) => ({
      size,
      maxOverflow,
    });
    expect(limits(db.status())).toEqual(limits(defaults.status()));
    expect(limits(db.status())).toEqual({ size: 20, maxOverflow: 30 });
  });
});
