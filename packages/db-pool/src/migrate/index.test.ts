import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFairmindError, type Logger } from '@fairmind/core';
import {
  createTestDatabase,
  dropTestDatabase,
  type ProcessResult,
  runTypeScript,
  useTestDatabase,
} from '@fairmind/testing';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database, Driver } from '../database/index.js';
import { createDatabase } from '../index.js';
import { sql } from '../sql/index.js';
import { loadMigrations, migrate, migrationStatus, planMigrations } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));
const shared = useTestDatabase();

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fm-migrate-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A migrations directory holding `files` (name to text). */
async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  await writeFiles(dir, files);
  return dir;
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
}

/** An empty database of the driver's kind, closed (and dropped) after the test. */
async function freshDatabase(driver: Driver): Promise<{ db: Database; url: string }> {
  let url: string;
  if (driver === 'sqlite') {
    url = `sqlite:${join(await tempDir(), 'test.db')}`;
  } else {
    const created = await createTestDatabase();
    cleanups.push(() => dropTestDatabase(created));
    url = created.url;
  }
  const db = createDatabase({ url });
  cleanups.push(() => db.close());
  return { db, url };
}

async function expectError(promise: Promise<unknown>, code: string, ...mentions: string[]) {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isFairmindError(error), `expected a FairmindError ${code}, got ${String(error)}`).toBe(
    true,
  );
  const { code: actual, message } = error as { code: string; message: string };
  expect(actual).toBe(code);
  expect(message).toMatch(/^\[@fairmind\/db-pool\] /);
  for (const mention of mentions) expect(message).toContain(mention);
  return error as Error & { code: string; cause?: unknown };
}

async function versions(db: Database, table = 'schema_migrations'): Promise<number[]> {
  const rows = await db.many<{ version: number | string }>(
    sql`select version from ${sql.id(table)} order by version`,
  );
  return rows.map((row) => Number(row.version));
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  const row =
    db.driver === 'postgres'
      ? await db.one<{ found: boolean }>(sql`select to_regclass(${name}) is not null as found`)
      : await db.one<{ found: number }>(
          sql`select count(*) as found from sqlite_master where type = 'table' and name = ${name}`,
        );
  return Boolean(row.found);
}

function recordingLogger(): Logger & { lines: { level: string; obj: object; msg?: string }[] } {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push(msg === undefined ? { level, obj } : { level, obj, msg });
    };
  const logger = {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: () => logger,
  };
  return logger;
}

describe.each(['sqlite', 'postgres'] as const)('migrate on %s', (driver) => {
  it('applies files in numeric order (001 < 002 < 9 < 010), never lexical', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '010_widen.sql':
        'alter table late add column extra integer;\ninsert into steps (v) values (10);',
      '002_second.sql': 'insert into steps (v) values (2);',
      '001_steps.sql': 'create table steps (v integer not null);',
      '9_late.sql': 'create table late (id integer);\ninsert into steps (v) values (9);',
    });
    const logger = recordingLogger();
    const { applied } = await migrate({ db, dir, logger });
    expect(applied.map((file) => file.version)).toEqual([1, 2, 9, 10]);
    expect(applied.map((file) => file.file)).toEqual([
      '001_steps.sql',
      '002_second.sql',
      '9_late.sql',
      '010_widen.sql',
    ]);
    expect(await versions(db)).toEqual([1, 2, 9, 10]);
    const steps = await db.many<{ v: number }>(sql`select v from steps`);
    expect(steps.map((row) => row.v)).toEqual([2, 9, 10]);
    expect(logger.lines.filter((line) => line.level === 'info').map((line) => line.msg)).toEqual([
      '[@fairmind/db-pool] applied migration 001_steps.sql',
      '[@fairmind/db-pool] applied migration 002_second.sql',
      '[@fairmind/db-pool] applied migration 9_late.sql',
      '[@fairmind/db-pool] applied migration 010_widen.sql',
    ]);

    const row = await db.one<{ name: string; checksum: string; applied_at: unknown }>(
      sql`select name, checksum, applied_at from schema_migrations where version = ${10}`,
    );
    expect(row.name).toBe('widen');
    expect(row.checksum).toBe(applied[3]?.checksum);
    expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does nothing on a second run', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '001_a.sql': 'create table a (id integer);',
      '002_b.sql': 'insert into a (id) values (1);',
    });
    expect((await migrate({ db, dir })).applied).toHaveLength(2);
    const before = await migrationStatus({ db, dir });
    expect((await migrate({ db, dir })).applied).toEqual([]);
    expect(await migrationStatus({ db, dir })).toEqual(before);
    expect(await db.many(sql`select id from a`)).toHaveLength(1);
  });

  it('rolls a failing file back, does not record it, and keeps the earlier ones', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '001_ok.sql': 'create table ok (id integer);',
      '002_broken.sql':
        'create table half_done (id integer);\ninsert into ok (id) values (1);\n' +
        'insert into no_such_table (id) values (1);',
      '003_after.sql': 'create table after_broken (id integer);',
    });
    const error = await expectError(migrate({ db, dir }), 'MIGRATION_FAILED', '002_broken.sql');
    expect(error.message).toContain('rolled back');
    // The driver's own message, which names the culprit.
    expect(error.message).toContain('no_such_table');
    expect(error.cause).toBeInstanceOf(Error);
    expect(await versions(db)).toEqual([1]);
    expect(await tableExists(db, 'ok')).toBe(true);
    expect(await tableExists(db, 'half_done')).toBe(false);
    expect(await tableExists(db, 'after_broken')).toBe(false);
    expect(await db.many(sql`select id from ok`)).toEqual([]);

    // Fixed, it applies, and so does the file after it.
    await writeFile(join(dir, '002_broken.sql'), 'create table half_done (id integer);');
    expect((await migrate({ db, dir })).applied.map((file) => file.version)).toEqual([2, 3]);
  });

  it('refuses an edited applied file, naming it, before applying anything', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '001_users.sql': 'create table users (id integer);\n',
      '002_posts.sql': 'create table posts (id integer);\n',
    });
    await migrate({ db, dir });
    await writeFiles(dir, {
      '002_posts.sql': 'create table posts (id integer, title text);\n',
      '003_pending.sql': 'create table pending_one (id integer);\n',
    });
    await expectError(migrate({ db, dir }), 'MIGRATION_CHANGED', '002_posts.sql');
    await expectError(planMigrations({ db, dir }), 'MIGRATION_CHANGED', '002_posts.sql');
    expect(await tableExists(db, 'pending_one')).toBe(false);
    expect(await versions(db)).toEqual([1, 2]);
  });

  it('does not count a line-ending-only edit (CRLF, CR) as a change', async () => {
    const { db } = await freshDatabase(driver);
    const text = '-- users\ncreate table users (\n  id integer\n);\n';
    const dir = await migrationsDir({ '001_users.sql': text });
    const [before] = await loadMigrations(dir, driver);
    await migrate({ db, dir });

    await writeFile(join(dir, '001_users.sql'), text.replaceAll('\n', '\r\n'));
    const [crlf] = await loadMigrations(dir, driver);
    expect(crlf?.checksum).toBe(before?.checksum);
    expect((await migrate({ db, dir })).applied).toEqual([]);

    await writeFile(join(dir, '001_users.sql'), text.replaceAll('\n', '\r'));
    expect((await migrate({ db, dir })).applied).toEqual([]);
    expect((await migrationStatus({ db, dir })).map((entry) => entry.state)).toEqual(['applied']);
  });

  it('refuses a missing applied file, naming it', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '001_users.sql': 'create table users (id integer);',
      '002_audit_trail.sql': 'create table audit (id integer);',
    });
    await migrate({ db, dir });
    await unlink(join(dir, '002_audit_trail.sql'));
    await writeFiles(dir, { '003_later.sql': 'create table later (id integer);' });
    await expectError(migrate({ db, dir }), 'MIGRATION_MISSING', 'audit_trail', 'version 2');
    expect(await tableExists(db, 'later')).toBe(false);
  });

  it('picks the dialect variant for its driver and ignores the other', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      // The plain file would fail: it only exists to be replaced by the variants.
      '001_models.sql': 'this is not sql;',
      '001_models.pg.sql':
        "create table models (id serial primary key, engine text not null default 'pg');\n" +
        'insert into models default values;',
      '001_models.sqlite.sql':
        'create table models (id integer primary key autoincrement, ' +
        "engine text not null default 'sqlite');\ninsert into models default values;",
      '002_pg_only.pg.sql': 'create table pg_only (id bigserial primary key);',
      '003_shared.sql': 'create table shared (id integer);',
    });
    const files = await loadMigrations(dir, driver);
    const variant = driver === 'postgres' ? 'pg' : 'sqlite';
    expect(files.map((file) => file.file)).toEqual(
      driver === 'postgres'
        ? ['001_models.pg.sql', '002_pg_only.pg.sql', '003_shared.sql']
        : ['001_models.sqlite.sql', '003_shared.sql'],
    );
    expect(files[0]?.name).toBe('models');
    await migrate({ db, dir });
    expect(await db.one(sql`select engine from models`)).toEqual({ engine: variant });
    expect(await tableExists(db, 'pg_only')).toBe(driver === 'postgres');
    expect(await versions(db)).toEqual(driver === 'postgres' ? [1, 2, 3] : [1, 3]);
  });

  it('refuses two files with one version for the same driver, naming both', async () => {
    const clash = await migrationsDir({ '001_a.sql': '', '1_b.sql': '' });
    await expectError(loadMigrations(clash, driver), 'MIGRATION_CONFLICT', '001_a.sql', '1_b.sql');
    const variants = await migrationsDir({ '002_x.pg.sql': '', '002_y.pg.sql': '' });
    // Checked for both drivers, so SQLite development catches a clash PostgreSQL would hit.
    await expectError(
      loadMigrations(variants, driver),
      'MIGRATION_CONFLICT',
      '002_x.pg.sql',
      '002_y.pg.sql',
    );
    const renamed = await migrationsDir({ '003_users.sql': '', '003_people.sqlite.sql': '' });
    await expectError(loadMigrations(renamed, driver), 'MIGRATION_CONFLICT', '003_people');
    const misnamed = await migrationsDir({ '001_a.sql': '', 'seed.sql': '' });
    await expectError(loadMigrations(misnamed, driver), 'MIGRATION_INVALID', 'seed.sql');
    await expectError(
      loadMigrations(join(misnamed, 'nope'), driver),
      'MIGRATION_DIR_NOT_FOUND',
      'nope',
    );
  });

  it('runs a -- fairmind:no-transaction file outside a transaction and records it after', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '001_items.sql': 'create table items (id integer, label text);',
      // Both statements refuse to run inside a transaction block.
      '002_index.pg.sql':
        '-- fairmind:no-transaction\r\n' +
        'create index concurrently items_id on items (id);\n' +
        "/* a comment; with a semicolon */ do $body$ begin raise notice 'a;b'; end $body$;\n" +
        "create index concurrently items_label on items (label) where label <> ';';\n",
      '002_index.sqlite.sql':
        '-- fairmind:no-transaction\ncreate index items_id on items (id);\nvacuum;\n',
    });
    const files = await loadMigrations(dir, driver);
    expect(files.map((file) => file.transactional)).toEqual([true, false]);
    expect((await migrate({ db, dir })).applied.map((file) => file.version)).toEqual([1, 2]);
    expect(await versions(db)).toEqual([1, 2]);
    const indexes =
      driver === 'postgres'
        ? await db.many(sql`select indexname as name from pg_indexes where tablename = 'items'`)
        : await db.many(
            sql`select name from sqlite_master where type = 'index' and tbl_name = 'items'`,
          );
    expect(indexes.map((row) => row['name']).sort()).toEqual(
      driver === 'postgres' ? ['items_id', 'items_label'] : ['items_id'],
    );

    // A failing one is not recorded, and the session is left usable.
    await writeFiles(dir, {
      '003_bad.sql': '-- fairmind:no-transaction\nbegin;\nselect * from no_such_table;\n',
    });
    const error = await expectError(migrate({ db, dir }), 'MIGRATION_FAILED', '003_bad.sql');
    expect(error.message).toContain('outside a transaction');
    expect(await versions(db)).toEqual([1, 2]);
    expect(await db.one(sql`select 1 as one`)).toEqual({ one: 1 });
  });

  it('plans and reports status without changing anything', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({
      '001_a.sql': 'create table a (id integer);',
      '002_b.sql': 'create table b (id integer);',
    });
    expect((await planMigrations({ db, dir })).map((file) => file.file)).toEqual([
      '001_a.sql',
      '002_b.sql',
    ]);
    const fresh = await migrationStatus({ db, dir });
    expect(fresh.map((entry) => [entry.version, entry.name, entry.state, entry.appliedAt])).toEqual(
      [
        [1, 'a', 'pending', null],
        [2, 'b', 'pending', null],
      ],
    );
    // The dry run did not even create the migrations table.
    expect(await tableExists(db, 'schema_migrations')).toBe(false);

    await migrate({ db, dir });
    await writeFiles(dir, {
      '003_c.sql': 'create table c (id integer);',
      '004_d.sql': 'create table d (id integer);',
    });
    expect((await planMigrations({ db, dir })).map((file) => file.version)).toEqual([3, 4]);
    const status = await migrationStatus({ db, dir });
    expect(status.map((entry) => entry.state)).toEqual([
      'applied',
      'applied',
      'pending',
      'pending',
    ]);
    for (const entry of status.slice(0, 2)) {
      expect(entry.appliedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Math.abs(Date.parse(entry.appliedAt ?? '') - Date.now())).toBeLessThan(60_000);
    }
    expect(await tableExists(db, 'c')).toBe(false);

    await writeFile(join(dir, '001_a.sql'), 'create table a (id bigint);');
    await unlink(join(dir, '002_b.sql'));
    expect((await migrationStatus({ db, dir })).map((entry) => [entry.name, entry.state])).toEqual([
      ['a', 'changed'],
      ['b', 'missing'],
      ['c', 'pending'],
      ['d', 'pending'],
    ]);
  });

  it('uses the table given, which may be schema-qualified', async () => {
    const { db } = await freshDatabase(driver);
    const dir = await migrationsDir({ '001_a.sql': 'create table a (id integer);' });
    await migrate({ db, dir, table: 'app_migrations' });
    expect(await versions(db, 'app_migrations')).toEqual([1]);
    expect(await tableExists(db, 'schema_migrations')).toBe(false);
    const schema = driver === 'postgres' ? 'public' : 'main';
    expect((await migrate({ db, dir, table: `${schema}.app_migrations` })).applied).toEqual([]);
    await expectError(
      migrate({ db, dir, table: 'bad; drop table a' }),
      'INVALID_OPTIONS',
      'bad; drop table a',
    );
  });
});

describe('migrate on postgres: concurrency', () => {
  const concurrentFiles = {
    '001_hits.sql': 'create table hits (version integer not null);',
    // Each file sleeps so that the migrators really overlap, and counts its own runs.
    '002_a.pg.sql': 'select pg_sleep(0.05);\ninsert into hits values (2);',
    '003_b.pg.sql': 'select pg_sleep(0.05);\ninsert into hits values (3);',
    '004_index.pg.sql':
      '-- fairmind:no-transaction\nselect pg_sleep(0.05);\n' +
      'create index concurrently hits_version on hits (version);\ninsert into hits values (4);',
    '005_c.pg.sql': 'insert into hits values (5);',
    '010_d.pg.sql': 'select pg_sleep(0.05);\ninsert into hits values (10);',
  };

  async function adminQuery<T extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
    const client = new pg.Client({ connectionString: shared.adminUrl });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  async function advisoryLocks(database: string): Promise<number> {
    const [row] = await adminQuery<{ count: number }>(
      `select count(*)::int as count from pg_locks
        where locktype = 'advisory' and database = (select oid from pg_database where datname = $1)`,
      [database],
    );
    return row?.count ?? -1;
  }

  async function hitCounts(db: Database) {
    return db.many(
      sql`select version, count(*)::int as runs from hits group by version order by version`,
    );
  }

  it('five migrators in one process apply each file once and hold no advisory lock', async () => {
    const created = await createTestDatabase();
    cleanups.push(() => dropTestDatabase(created));
    const dir = await migrationsDir(concurrentFiles);
    const dbs = Array.from({ length: 5 }, () => createDatabase({ url: created.url }));
    cleanups.push(() => Promise.all(dbs.map((db) => db.close())));
    const results = await Promise.all(dbs.map((db) => migrate({ db, dir })));
    const applied = results.flatMap((result) => result.applied.map((file) => file.version));
    expect(applied.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 10]);
    // The pools are still open: a lock left on an idle connection would show here.
    expect(await advisoryLocks(created.name)).toBe(0);
    const [db] = dbs;
    if (db === undefined) throw new Error('no database');
    expect(await hitCounts(db)).toEqual([2, 3, 4, 5, 10].map((version) => ({ version, runs: 1 })));
  });

  it('five migrator processes apply each file once and leave no advisory lock held', async () => {
    const dir = await migrationsDir(concurrentFiles);
    const startAt = Date.now() + 2_500;
    const runs = await Promise.all(
      Array.from({ length: 5 }, () => runMigrator(shared.url, dir, startAt)),
    );
    for (const run of runs) expect(run.stderr).toBe('');
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0, 0, 0]);
    const applied = runs.flatMap((run) => JSON.parse(run.stdout) as number[]);
    expect(applied.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 10]);
    expect(await advisoryLocks(shared.name)).toBe(0);

    const db = createDatabase({ url: shared.url });
    cleanups.push(() => db.close());
    expect(await hitCounts(db)).toEqual([2, 3, 4, 5, 10].map((version) => ({ version, runs: 1 })));
    expect(await versions(db)).toEqual([1, 2, 3, 4, 5, 10]);
  }, 60_000);

  it('names the directive when a file cannot run in a transaction', async () => {
    const { db } = await freshDatabase('postgres');
    const dir = await migrationsDir({
      '001_t.sql': 'create table t (id integer);',
      '002_idx.sql': 'create index concurrently t_id on t (id);',
    });
    const error = await expectError(migrate({ db, dir }), 'MIGRATION_FAILED', '002_idx.sql');
    expect(error.message).toContain('-- fairmind:no-transaction');
  });
});

describe('migrate on sqlite: concurrency', () => {
  it('five migrator processes on one file apply each migration once', async () => {
    const url = `sqlite:${join(await tempDir(), 'shared.db')}`;
    const dir = await migrationsDir({
      '001_hits.sql': 'create table hits (version integer not null);',
      '002_a.sql': 'insert into hits values (2);',
      '003_b.sql': 'create table b (id integer);\ninsert into hits values (3);',
      '010_c.sql': 'insert into hits values (10);',
    });
    const startAt = Date.now() + 2_500;
    const runs = await Promise.all(Array.from({ length: 5 }, () => runMigrator(url, dir, startAt)));
    for (const run of runs) expect(run.stderr).toBe('');
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0, 0, 0]);
    const applied = runs.flatMap((run) => JSON.parse(run.stdout) as number[]);
    expect(applied.sort((a, b) => a - b)).toEqual([1, 2, 3, 10]);
    const db = createDatabase({ url });
    cleanups.push(() => db.close());
    expect(
      await db.many(
        sql`select version, count(*) as runs from hits group by version order by version`,
      ),
    ).toEqual([2, 3, 10].map((version) => ({ version, runs: 1 })));
  }, 60_000);
});

function runMigrator(url: string, dir: string, startAt: number): Promise<ProcessResult> {
  return runTypeScript(join(here, 'fixtures', 'migrator.ts'), {
    args: [url, dir, String(startAt)],
  });
}
