// db-pool through Debian's PgBouncer (1.18: no prepared statements in transaction mode),
// started by this file on a spare loopback port in front of the test PostgreSQL. Its pool has
// three server connections for the client's eight, so statements of different client
// connections meet on one server connection, as they do in a busy deployment.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@fairmind/core';
import { createDatabase, type Database, migrate, sql } from '@fairmind/db-pool';
import { useTestDatabase } from '@fairmind/testing';
import { type PgBouncer, startPgBouncer } from '@fairmind/testing/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const database = useTestDatabase();
let transaction: PgBouncer;
let session: PgBouncer;
const opened: Database[] = [];

beforeAll(async () => {
  [transaction, session] = await Promise.all([
    startPgBouncer({ target: database.url, poolMode: 'transaction', poolSize: 3 }),
    startPgBouncer({ target: database.url, poolMode: 'session', poolSize: 10 }),
  ]);
  const direct = createDatabase({ url: database.url, poolSize: 1 });
  await direct.query(sql`create table accounts (id int primary key, balance int not null)`);
  await direct.query(sql`insert into accounts select g, 1000 from generate_series(1, 20) as g`);
  await direct.close();
});
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
  await Promise.all([transaction?.stop(), session?.stop()]);
});

function warnings(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = {
    error: (_obj: object, message?: string) => lines.push(`error: ${message ?? ''}`),
    warn: (_obj: object, message?: string) => lines.push(`warn: ${message ?? ''}`),
    info: () => {},
    debug: () => {},
    child: () => logger,
  } as Logger;
  return { logger, lines };
}

function open(url: string, options: { prepare?: boolean; logger?: Logger } = {}): Database {
  const db = createDatabase({ url, poolSize: 8, ...options });
  opened.push(db);
  return db;
}

/** Queries of several texts from 8 connections at once: each must answer for its own text. */
async function mixedQueries(db: Database): Promise<void> {
  const results = await Promise.all(
    Array.from({ length: 400 }, async (_, index) => {
      const id = (index % 20) + 1;
      switch (index % 4) {
        case 0:
          return [await db.one<{ n: number }>(sql`select ${id}::int as n`), { n: id }];
        case 1:
          return [
            await db.one<{ id: number }>(sql`select id from accounts where id = ${id}`),
            { id },
          ];
        case 2:
          return [
            await db.one<{ twice: number }>(sql`select ${id}::int * 2 as twice`),
            { twice: id * 2 },
          ];
        default:
          return [
            await db.one<{ text: string }>(sql`select ${`row-${id}`}::text as text`),
            { text: `row-${id}` },
          ];
      }
    }),
  );
  for (const [got, expected] of results) expect(got).toEqual(expected);
}

/** Concurrent transfers in transactions: the total never moves, failures roll back. */
async function transfers(db: Database): Promise<void> {
  const before = await db.one<{ total: string }>(
    sql`select sum(balance)::text as total from accounts`,
  );
  const outcomes = await Promise.allSettled(
    Array.from({ length: 60 }, (_, index) =>
      db.transaction(async (tx) => {
        const from = (index % 20) + 1;
        const to = ((index * 7) % 20) + 1;
        // Rows locked in id order, so that two transfers never deadlock each other.
        const moves = [
          { id: from, delta: -5 },
          { id: to, delta: 5 },
        ].sort((a, b) => a.id - b.id);
        for (const move of moves) {
          await tx.query(
            sql`update accounts set balance = balance + ${move.delta} where id = ${move.id}`,
          );
        }
        if (index % 10 === 0) throw new Error('roll this one back');
      }),
    ),
  );
  expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(6);
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') expect(String(outcome.reason)).toMatch(/roll this one back/);
  }
  const after = await db.one<{ total: string }>(
    sql`select sum(balance)::text as total from accounts`,
  );
  expect(after).toEqual(before);
}

describe('db-pool behind PgBouncer in transaction mode', () => {
  it('with prepare: false: right answers, transactions whole, nothing to warn about', async () => {
    const { logger, lines } = warnings();
    const db = open(transaction.through(database.url), { prepare: false, logger });
    await mixedQueries(db);
    await transfers(db);
    expect(lines).toEqual([]);
  });

  it('with the default (prepared statements): finds the pooler, warns once, never a wrong answer', async () => {
    const { logger, lines } = warnings();
    const db = open(transaction.through(database.url), { logger });
    await mixedQueries(db);
    // Transactions started before the switch may fail with a retryable 503; after it, none.
    await mixedQueries(db);
    await transfers(db);
    expect(lines.filter((line) => /pooler in transaction mode/.test(line))).toHaveLength(1);
    expect(lines.filter((line) => !/pooler in transaction mode/.test(line))).toEqual([]);
  });

  it('runs migrations, whose locks are transaction-level, through it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-bouncer-migrations-'));
    try {
      writeFileSync(join(dir, '001_notes.sql'), 'create table notes (id int primary key);');
      writeFileSync(join(dir, '002_more.sql'), 'alter table notes add column body text;');
      const db = open(transaction.through(database.url), { prepare: false });
      const { applied } = await migrate({ db, dir, table: 'bouncer_migrations' });
      expect(applied.map((file) => file.file)).toEqual(['001_notes.sql', '002_more.sql']);
      expect((await migrate({ db, dir, table: 'bouncer_migrations' })).applied).toEqual([]);
      await db.query(sql`insert into notes (id, body) values (1, 'kept')`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a login PgBouncer refuses', () => {
  it('fails at once with DB_CONFIG_INVALID, as a refusal by PostgreSQL itself does', async () => {
    // PgBouncer forwards the server's "does not exist" as a protocol error (08P01), a class
    // db-pool otherwise retries until DATABASE_TIMEOUT.
    const url = new URL(transaction.through(database.url));
    url.pathname = '/fm_no_such_database';
    const db = open(url.toString(), { prepare: false });
    const error = await db.query(sql`select 1`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'DB_CONFIG_INVALID', sqlState: '08P01' });
    expect(String((error as Error).message)).toMatch(
      /database "fm_no_such_database" does not exist.*fix the database name in the URL/,
    );
    // Retried, it would have ended as POOL_TIMEOUT ("unreachable") after DATABASE_TIMEOUT.
    expect(db.status()).toMatchObject({ waiting: 0, total: 0 });
  });
});

describe('migrations behind PgBouncer in transaction mode', () => {
  it('applies each file once when fresh processes migrate at once with prepared statements on', async () => {
    // Each Database stands for a process just started: none has met the pooler yet, so their
    // first prepared statements collide inside the migrations' transactions.
    const dir = mkdtempSync(join(tmpdir(), 'fm-bouncer-fresh-'));
    try {
      for (let version = 1; version <= 4; version++) {
        writeFileSync(join(dir, `00${version}_t.sql`), `create table fresh_${version} (id int);`);
      }
      const runs = await Promise.all(
        Array.from({ length: 5 }, () =>
          migrate({ db: open(transaction.through(database.url)), dir, table: 'fresh_migrations' }),
        ),
      );
      const applied = runs.flatMap((run) => run.applied.map((file) => file.file)).sort();
      expect(applied).toEqual(['001_t.sql', '002_t.sql', '003_t.sql', '004_t.sql']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a -- fairmind:no-transaction file it cannot hold one session for, and leaves no lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-bouncer-session-'));
    const direct = open(database.url);
    // Other clients keep every server connection busy, so the next statement of the migrator
    // goes to whichever server session frees up first, as in a busy deployment.
    let busy = true;
    const db = open(transaction.through(database.url), { prepare: false });
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        // A session ended to free a stranded lock fails the statement running on it.
        while (busy) await db.query(sql`select pg_sleep(0.005)`).catch(() => undefined);
      }),
    );
    try {
      writeFileSync(
        join(dir, '001_idx.sql'),
        '-- fairmind:no-transaction\ncreate index concurrently if not exists accounts_balance on accounts (balance);',
      );
      let refused: unknown;
      // A free session may come back by chance; with the others busy it rarely does twice.
      for (let attempt = 0; attempt < 5 && refused === undefined; attempt++) {
        refused = await migrate({ db, dir, table: `session_migrations_${attempt}` }).then(
          () => undefined,
          (error: unknown) => error,
        );
      }
      expect(refused).toMatchObject({ code: 'MIGRATION_NEEDS_SESSION' });
      expect(String((refused as Error).message)).toMatch(
        /001_idx\.sql was not applied: .*PgBouncer in session mode/,
      );
      const held = await direct.one<{ n: number }>(
        sql`select count(*)::int as n from pg_locks where locktype = 'advisory'`,
      );
      expect(held.n).toBe(0);
    } finally {
      busy = false;
      await load;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('db-pool behind PgBouncer in session mode', () => {
  it('keeps prepared statements: right answers, no pooler warning', async () => {
    const { logger, lines } = warnings();
    const db = open(session.through(database.url), { logger });
    // Session mode gives each client connection a server connection of its own for as long
    // as it lives: named statements stay where they were prepared.
    await mixedQueries(db);
    await transfers(db);
    expect(lines).toEqual([]);
  });
});
