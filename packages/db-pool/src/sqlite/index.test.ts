import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FairmindError } from '@fairmind/core';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../database/index.js';
import { DatabaseError } from '../errors/index.js';
import { type SqlStatement, sql } from '../sql/index.js';
import { loadBetterSqlite3 } from './driver.js';
import { createSqliteDatabase, sqlitePathFromUrl } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'fairmind-sqlite-'));
let fileCounter = 0;
const open: Database[] = [];

function fileUrl(name = `db-${++fileCounter}.db`): string {
  return `sqlite://${join(dir, name)}`;
}

function memory(options: Parameters<typeof createSqliteDatabase>[0] = {}): Database {
  const db = createSqliteDatabase({ url: 'sqlite::memory:', ...options });
  open.push(db);
  return db;
}

function file(options: Parameters<typeof createSqliteDatabase>[0] = {}): Database {
  const db = createSqliteDatabase({ url: fileUrl(), ...options });
  open.push(db);
  return db;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function createUsers(db: Database): Promise<void> {
  await db.exec(`
    create table users (
      id integer primary key,
      email text not null unique,
      age integer check (age >= 0),
      score real,
      active integer,
      born text,
      avatar blob,
      profile text,
      big integer,
      note text
    );
    create table posts (
      id integer primary key,
      user_id integer not null references users(id),
      title text not null,
      constraint title_not_blank check (length(title) > 0)
    );
  `);
}

describe('createSqliteDatabase: CRUD through the sql tag', () => {
  it('inserts, reads, updates and deletes values of every type', async () => {
    const db = memory();
    await createUsers(db);
    const born = new Date('1990-05-06T07:08:09.010Z');
    const avatar = Buffer.from([0, 1, 2, 255]);
    const profile = { tags: ['a', 'b'], nested: { x: 1 } };
    const big = 2n ** 60n;

    const inserted = await db.query(sql`
      insert into users (email, age, score, active, born, avatar, profile, big, note)
      values (${'ada@example.com'}, ${36}, ${9.5}, ${true}, ${born}, ${avatar}, ${profile}, ${big}, ${undefined})
    `);
    expect(inserted).toEqual({ rows: [], rowCount: 1 });

    const user = await db.one(sql`select * from users where email = ${'ada@example.com'}`);
    expect(user).toEqual({
      id: 1,
      email: 'ada@example.com',
      age: 36,
      score: 9.5,
      active: 1,
      born: '1990-05-06T07:08:09.010Z',
      avatar,
      profile: JSON.stringify(profile),
      big: Number(big),
      note: null,
    });
    // bigint is bound exactly (the row's number is rounded on the way back).
    const exact = await db.one(sql`select big = ${big} as same, typeof(big) as type from users`);
    expect(exact).toEqual({ same: 1, type: 'integer' });
    // JSON text is queryable with SQLite's JSON functions.
    const tag = await db.one(sql`select json_extract(profile, '$.tags[1]') as tag from users`);
    expect(tag).toEqual({ tag: 'b' });
    const list = await db.one(sql`select ${[1, 'two']} as arr, ${false} as no, ${null} as empty`);
    expect(list).toEqual({ arr: '[1,"two"]', no: 0, empty: null });
    const bytes = await db.one(sql`select ${new Uint8Array([7, 8])} as bytes`);
    expect(bytes['bytes']).toEqual(Buffer.from([7, 8]));

    const updated = await db.query(
      sql`update users set age = ${37}, active = ${false} where id = ${1}`,
    );
    expect(updated).toEqual({ rows: [], rowCount: 1 });
    expect(await db.one(sql`select age, active from users where id = ${1}`)).toEqual({
      age: 37,
      active: 0,
    });

    const noMatch = await db.query(sql`update users set age = ${1} where id = ${999}`);
    expect(noMatch.rowCount).toBe(0);

    const deleted = await db.query(sql`delete from users where id = ${1}`);
    expect(deleted).toEqual({ rows: [], rowCount: 1 });
    expect(await db.many(sql`select * from users`)).toEqual([]);
  });

  it('returns RETURNING rows from a write, with the row count', async () => {
    const db = memory();
    await createUsers(db);
    const result = await db.query(sql`
      insert into users (email) values (${'a@x.io'}), (${'b@x.io'}) returning id, email
    `);
    expect(result).toEqual({
      rows: [
        { id: 1, email: 'a@x.io' },
        { id: 2, email: 'b@x.io' },
      ],
      rowCount: 2,
    });
    const deleted = await db.one(sql`delete from users where id = ${2} returning email`);
    expect(deleted).toEqual({ email: 'b@x.io' });
  });

  it('a read reports rowCount = rows.length', async () => {
    const db = memory();
    const result = await db.query(sql`select 1 as n union all select 2 union all select 3`);
    expect(result.rowCount).toBe(3);
    expect(result.rows).toHaveLength(3);
  });

  it('runs sql.id, sql.list, sql.join and sql.raw against SQLite', async () => {
    const db = memory();
    await db.exec('create table "odd ""name""" (id integer primary key, label text)');
    const table = sql.id('odd "name"');
    const rows = sql.join([sql`(${1}, ${'one'})`, sql`(${2}, ${'two'})`, sql`(${3}, ${'three'})`]);
    await db.query(sql`insert into ${table} (id, label) values ${rows}`);
    const picked = await db.many(
      sql`select ${sql.id('label')} from ${table} where id in (${sql.list([1, 3])}) order by id ${sql.raw('desc')}`,
    );
    expect(picked).toEqual([{ label: 'three' }, { label: 'one' }]);
  });

  it('keeps an injection attempt as a plain value', async () => {
    const db = memory();
    await createUsers(db);
    const evil = "x'); drop table users; --";
    await db.query(sql`insert into users (email) values (${evil})`);
    expect(await db.one(sql`select email from users`)).toEqual({ email: evil });
    expect(await db.many(sql`select name from sqlite_master where name = ${'users'}`)).toHaveLength(
      1,
    );
  });

  it('refuses values SQL cannot store, naming the position and not the value', async () => {
    const db = memory();
    const bad = await caught(db.query(sql`select ${1}, ${Symbol('secret')}`));
    expect(bad).toBeInstanceOf(FairmindError);
    expect((bad as FairmindError).code).toBe('INVALID_PARAMETER');
    expect((bad as Error).message).toContain('value 2');
    const date = await caught(db.query(sql`select ${new Date('nope')}`));
    expect((date as FairmindError).code).toBe('INVALID_PARAMETER');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(((await caught(db.query(sql`select ${cyclic}`))) as FairmindError).code).toBe(
      'INVALID_PARAMETER',
    );
  });

  it('refuses a plain string where a statement is expected', async () => {
    const db = memory();
    const error = await caught(db.query('select 1' as unknown as SqlStatement));
    expect((error as Error).message).toMatch(/sql tag/);
  });

  it('works with the statement cache off and with a cache of one', async () => {
    for (const statementCacheSize of [0, 1]) {
      const db = memory({ statementCacheSize });
      for (let i = 0; i < 5; i++) {
        expect(await db.one(sql`select ${i} as a`)).toEqual({ a: i });
        expect(await db.one(sql`select ${i} as b`)).toEqual({ b: i });
      }
    }
  });

  it('exec runs a multi-statement script', async () => {
    const db = memory();
    await db.exec('create table t (a); insert into t values (1); insert into t values (2);');
    expect(await db.many(sql`select a from t order by a`)).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

describe('one / maybeOne / many', () => {
  it('one() wants exactly one row', async () => {
    const db = memory();
    await db.exec('create table t (a); insert into t values (1), (2);');
    expect(await db.one(sql`select a from t where a = ${1}`)).toEqual({ a: 1 });
    const none = await caught(db.one(sql`select a from t where a = ${3}`));
    expect((none as FairmindError).code).toBe('NOT_FOUND');
    const many = await caught(db.one(sql`select a from t`));
    expect((many as FairmindError).code).toBe('TOO_MANY_ROWS');
  });

  it('maybeOne() gives null for none and refuses several', async () => {
    const db = memory();
    await db.exec('create table t (a); insert into t values (1), (2);');
    expect(await db.maybeOne(sql`select a from t where a = ${3}`)).toBeNull();
    expect(await db.maybeOne(sql`select a from t where a = ${2}`)).toEqual({ a: 2 });
    const many = await caught(db.maybeOne(sql`select a from t`));
    expect((many as FairmindError).code).toBe('TOO_MANY_ROWS');
  });
});

describe('transactions', () => {
  it('commits when the callback returns and gives its value', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    const value = await db.transaction(async (tx) => {
      await tx.query(sql`insert into t values (${1})`);
      return 'done';
    });
    expect(value).toBe('done');
    expect(await db.many(sql`select a from t`)).toEqual([{ a: 1 }]);
  });

  it('rolls back when the callback throws and rethrows the error', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    const boom = new Error('boom');
    const error = await caught(
      db.transaction(async (tx) => {
        await tx.query(sql`insert into t values (${1})`);
        await db.query(sql`insert into t values (${2})`);
        throw boom;
      }),
    );
    expect(error).toBe(boom);
    expect(await db.many(sql`select a from t`)).toEqual([]);
    expect(db.status().active).toBe(0);
  });

  it('nested transactions are savepoints: an inner rollback keeps the outer work', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    await db.transaction(async (tx) => {
      await tx.query(sql`insert into t values (${1})`);
      const inner = await caught(
        db.transaction(async (inner) => {
          await inner.query(sql`insert into t values (${2})`);
          throw new Error('inner fails');
        }),
      );
      expect((inner as Error).message).toBe('inner fails');
      await db.transaction(async (inner) => {
        await inner.query(sql`insert into t values (${3})`);
        await db.transaction(async (deeper) => {
          await deeper.query(sql`insert into t values (${4})`);
        });
      });
    });
    expect(await db.many(sql`select a from t order by a`)).toEqual([{ a: 1 }, { a: 3 }, { a: 4 }]);
  });

  it('an outer rollback undoes released savepoints too', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    await caught(
      db.transaction(async () => {
        await db.transaction(async (inner) => {
          await inner.query(sql`insert into t values (${1})`);
        });
        throw new Error('outer fails');
      }),
    );
    expect(await db.many(sql`select a from t`)).toEqual([]);
  });

  it('parallel nested transactions in one scope run one after the other', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    await db.transaction(async () => {
      await Promise.all(
        [1, 2, 3].map((n) =>
          caught(
            db.transaction(async (inner) => {
              await inner.query(sql`insert into t values (${n})`);
              await tick();
              if (n === 2) throw new Error('two fails');
            }),
          ).catch(() => undefined),
        ),
      );
    });
    expect(await db.many(sql`select a from t order by a`)).toEqual([{ a: 1 }, { a: 3 }]);
  });

  it('a transaction inside withConnection is a real BEGIN, and nests further as savepoints', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    await db.withConnection(async (connection) => {
      await connection.query(sql`insert into t values (${1})`);
      await caught(
        db.transaction(async (tx) => {
          await tx.query(sql`insert into t values (${2})`);
          throw new Error('no');
        }),
      );
      await db.transaction(async (tx) => {
        await tx.query(sql`insert into t values (${3})`);
      });
    });
    expect(await db.many(sql`select a from t order by a`)).toEqual([{ a: 1 }, { a: 3 }]);
  });

  it('readOnly refuses writes, and the next transaction can write again', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    const error = await caught(
      db.transaction(async (tx) => tx.query(sql`insert into t values (${1})`), { readOnly: true }),
    );
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/readOnly/);
    expect(
      await db.transaction(async (tx) => tx.many(sql`select a from t`), { readOnly: true }),
    ).toEqual([]);
    await db.transaction(async (tx) => tx.query(sql`insert into t values (${1})`));
    expect(await db.many(sql`select a from t`)).toEqual([{ a: 1 }]);
  });

  it('accepts the PostgreSQL-only options and refuses bad ones by name', async () => {
    const db = memory();
    await db.transaction(async () => undefined, {
      isolation: 'serializable',
      statementTimeoutMs: 1000,
      sqliteMode: 'immediate',
    });
    const bad = await caught(
      db.transaction(async () => undefined, { sqliteMode: 'later' as 'deferred' }),
    );
    expect((bad as FairmindError).code).toBe('INVALID_OPTIONS');
    expect((bad as Error).message).toContain('sqliteMode');
    const retries = await caught(db.transaction(async () => undefined, { retries: -1 }));
    expect((retries as Error).message).toContain('retries');
  });

  it('a handle used after its callback ended is refused', async () => {
    const db = memory();
    let leaked: Parameters<Parameters<Database['transaction']>[0]>[0] | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    const error = await caught(leaked?.query(sql`select 1`) ?? Promise.resolve());
    expect((error as FairmindError).code).toBe('CONNECTION_RELEASED');
  });

  it('rolls back a transaction left open through exec() before the next caller', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    await db.withConnection(async (connection) => {
      await connection.exec('begin');
      await connection.query(sql`insert into t values (${1})`);
    });
    expect(await db.many(sql`select a from t`)).toEqual([]);
    await db.transaction(async (tx) => tx.query(sql`insert into t values (${2})`));
    expect(await db.many(sql`select a from t`)).toEqual([{ a: 2 }]);
  });
});

describe('concurrency on the one connection', () => {
  it('a query from outside waits for an open transaction to end', async () => {
    const db = file();
    await db.exec('create table t (a)');
    const gate = deferred();
    const entered = deferred();
    const transaction = db.transaction(async (tx) => {
      await tx.query(sql`insert into t values (${1})`);
      entered.resolve();
      await gate.promise;
    });
    await entered.promise;
    let outsideDone = false;
    const outside = db.many(sql`select a from t`).then((rows) => {
      outsideDone = true;
      return rows;
    });
    await tick();
    expect(outsideDone).toBe(false);
    expect(db.status()).toMatchObject({ active: 1, idle: 0, waiting: 1 });
    gate.resolve();
    await transaction;
    // It ran after the commit, so it sees the row.
    expect(await outside).toEqual([{ a: 1 }]);
    expect(db.status()).toMatchObject({ active: 0, idle: 1, waiting: 0 });
  });

  it('calls through the database object inside a transaction do not deadlock', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    async function repository(n: number): Promise<void> {
      // Code that knows nothing of the transaction and uses the database object.
      await db.query(sql`insert into t values (${n})`);
      await db.withConnection(async (c) => c.query(sql`insert into t values (${n + 100})`));
    }
    await db.transaction(async () => {
      await repository(1);
      await new Promise<void>((resolve, reject) => {
        setTimeout(() => {
          repository(2).then(resolve, reject);
        }, 5);
      });
      await Promise.all([db.one(sql`select 1 as x`), db.exec('select 1'), db.health()]);
      const seen = await db.many(sql`select a from t order by a`);
      expect(seen).toEqual([{ a: 1 }, { a: 2 }, { a: 101 }, { a: 102 }]);
    });
    expect(await db.many(sql`select count(*) as n from t`)).toEqual([{ n: 4 }]);
  });

  it('work scheduled inside a transaction but run after it ended queues like outside work', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    let late: Promise<unknown> | undefined;
    const fired = deferred();
    await db.transaction(async () => {
      setTimeout(() => {
        late = db.query(sql`insert into t values (${'late'})`);
        fired.resolve();
      }, 20);
    });
    const gate = deferred();
    const entered = deferred();
    const holder = db.transaction(async (tx) => {
      entered.resolve();
      await gate.promise;
      await tx.query(sql`insert into t values (${'holder'})`);
    });
    await entered.promise;
    await fired.promise;
    expect(db.status().waiting).toBe(1);
    gate.resolve();
    await holder;
    await late;
    expect(await db.many(sql`select a from t order by rowid`)).toEqual([
      { a: 'holder' },
      { a: 'late' },
    ]);
  });

  it('withConnection is exclusive and nests', async () => {
    const db = memory();
    const order: string[] = [];
    const gate = deferred();
    const first = db.withConnection(async () => {
      order.push('first:start');
      await db.withConnection(async (inner) => {
        await inner.query(sql`select 1`);
        order.push('first:nested');
      });
      await gate.promise;
      order.push('first:end');
    });
    const second = db.withConnection(async () => {
      order.push('second');
    });
    await tick();
    expect(order).toEqual(['first:start', 'first:nested']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(['first:start', 'first:nested', 'first:end', 'second']);
  });

  it('1,000 failing withConnection calls leave nothing active', async () => {
    const db = memory();
    const failures = await Promise.allSettled(
      Array.from({ length: 1000 }, (_, i) =>
        db.withConnection(async (connection) => {
          if (i % 2 === 0) await connection.query(sql`select * from missing_table`);
          throw new Error(`fail ${i}`);
        }),
      ),
    );
    expect(failures.every((result) => result.status === 'rejected')).toBe(true);
    expect(db.status()).toMatchObject({ total: 1, idle: 1, active: 0, waiting: 0, errors: 500 });
    expect(await db.one(sql`select 1 as ok`)).toEqual({ ok: 1 });
  });

  it('retries a transaction on SQLITE_BUSY when asked', async () => {
    const url = fileUrl();
    const a = createSqliteDatabase({ url });
    const b = createSqliteDatabase({ url, busyTimeoutMs: 20 });
    open.push(a, b);
    await a.exec('create table t (a)');
    const gate = deferred();
    const entered = deferred();
    const holder = a.transaction(
      async (tx) => {
        await tx.query(sql`insert into t values (${1})`);
        entered.resolve();
        await gate.promise;
      },
      { sqliteMode: 'immediate' },
    );
    await entered.promise;

    const busy = await caught(
      b.transaction(async (tx) => tx.query(sql`insert into t values (${2})`), {
        sqliteMode: 'immediate',
      }),
    );
    expect(busy).toBeInstanceOf(DatabaseError);
    expect(busy).toMatchObject({ kind: 'other', sqlState: 'SQLITE_BUSY' });
    expect((busy as Error).message).toMatch(/busyTimeoutMs/);

    setTimeout(gate.resolve, 60);
    await b.transaction(async (tx) => tx.query(sql`insert into t values (${2})`), {
      sqliteMode: 'immediate',
      retries: 20,
    });
    await holder;
    expect(await b.many(sql`select a from t order by a`)).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

describe('errors', () => {
  it('maps a unique violation without SQL text or values in the message', async () => {
    const db = memory();
    await createUsers(db);
    const email = 'secret-value@example.com';
    await db.query(sql`insert into users (email) values (${email})`);
    const error = await caught(db.query(sql`insert into users (email) values (${email})`));
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({
      kind: 'unique_violation',
      code: 'DB_UNIQUE_VIOLATION',
      status: 409,
      sqlState: 'SQLITE_CONSTRAINT_UNIQUE',
      constraint: 'users.email',
      column: 'email',
      expose: false,
      details: { column: 'email' },
    });
    const message = (error as Error).message;
    expect(message).toMatch(/^\[@fairmind\/db-pool\] /);
    expect(message).not.toContain(email);
    expect(message.toLowerCase()).not.toContain('insert');
    expect(message).not.toContain('values');

    const pk = await caught(
      db.query(sql`insert into users (id, email) values (${1}, ${'other@x.io'})`),
    );
    expect(pk).toMatchObject({ kind: 'unique_violation', constraint: 'users.id' });
  });

  it('maps foreign key, not-null and check violations', async () => {
    const db = memory();
    await createUsers(db);
    const fk = await caught(
      db.query(sql`insert into posts (user_id, title) values (${42}, ${'t'})`),
    );
    expect(fk).toMatchObject({ kind: 'foreign_key_violation', status: 409 });
    const notNull = await caught(db.query(sql`insert into users (email) values (${null})`));
    expect(notNull).toMatchObject({
      kind: 'not_null_violation',
      constraint: 'users.email',
      column: 'email',
      status: 400,
    });
    await db.query(sql`insert into users (id, email) values (${1}, ${'a@x.io'})`);
    const named = await caught(
      db.query(sql`insert into posts (user_id, title) values (${1}, ${''})`),
    );
    expect(named).toMatchObject({ kind: 'check_violation', constraint: 'title_not_blank' });
    // An unnamed CHECK reports its expression, which is SQL text: it is left out.
    const unnamed = await caught(
      db.query(sql`insert into users (email, age) values (${'b@x.io'}, ${-1})`),
    );
    expect(unnamed).toMatchObject({ kind: 'check_violation', constraint: undefined });
    expect((unnamed as Error).message).not.toContain('age >= 0');
  });

  it('maps syntax errors and unknown tables without quoting the statement', async () => {
    const db = memory();
    const syntax = await caught(db.query(sql`selec ${'x'} frm nowhere`));
    expect(syntax).toMatchObject({ kind: 'syntax_error', sqlState: 'SQLITE_ERROR' });
    expect((syntax as Error).message).not.toContain('selec');
    const missing = await caught(db.query(sql`select * from no_such_thing`));
    expect(missing).toMatchObject({ kind: 'syntax_error' });
    expect((missing as Error).message).toMatch(/table that does not exist/);
    expect((missing as Error).message).not.toContain('no_such_thing');
    expect(db.status().errors).toBe(2);
  });
});

describe('stream()', () => {
  it('yields every row and releases the connection', async () => {
    const db = memory();
    await db.exec(`
      create table t (a);
      with recursive n(a) as (select 1 union all select a + 1 from n where a < 1000)
      insert into t select a from n;
    `);
    let count = 0;
    let sum = 0;
    for await (const row of db.stream<{ a: number }>(sql`select a from t where a > ${0}`, {
      batchSize: 10,
    })) {
      count++;
      sum += row.a;
    }
    expect(count).toBe(1000);
    expect(sum).toBe(500500);
    expect(db.status().active).toBe(0);
  });

  it('an early break releases the connection', async () => {
    const db = memory();
    await db.exec('create table t (a); insert into t values (1), (2), (3);');
    for await (const row of db.stream(sql`select a from t`)) {
      expect(row).toEqual({ a: 1 });
      expect(db.status().active).toBe(1);
      break;
    }
    expect(db.status().active).toBe(0);
    await db.query(sql`insert into t values (${4})`);
    expect(await db.many(sql`select a from t order by a`)).toHaveLength(4);
  });

  it('holds the connection while iterating: outside work waits', async () => {
    const db = memory();
    await db.exec('create table t (a); insert into t values (1), (2);');
    const iterator = db.stream(sql`select a from t`)[Symbol.asyncIterator]();
    await iterator.next();
    let done = false;
    const outside = db.query(sql`insert into t values (${3})`).then(() => {
      done = true;
    });
    await tick();
    expect(done).toBe(false);
    expect(db.status().waiting).toBe(1);
    await iterator.return?.();
    await outside;
    expect(done).toBe(true);
  });

  it('inside a transaction sees its uncommitted rows, and reads may run in the loop', async () => {
    const db = memory();
    await db.exec('create table t (a)');
    await db.transaction(async (tx) => {
      await tx.query(sql`insert into t values (${1}), (${2})`);
      const seen: unknown[] = [];
      for await (const row of db.stream(sql`select a from t order by a`)) {
        seen.push(row);
        expect(await db.one(sql`select count(*) as n from t`)).toEqual({ n: 2 });
      }
      expect(seen).toEqual([{ a: 1 }, { a: 2 }]);
      // A write while a stream is open is refused by the driver, with advice.
      for await (const _ of db.stream(sql`select a from t`)) {
        const error = await caught(tx.query(sql`insert into t values (${3})`));
        expect(error).toBeInstanceOf(DatabaseError);
        expect((error as Error).message).toMatch(/stream/);
        break;
      }
    });
  });

  it('a failing statement rejects the iteration and releases the connection', async () => {
    const db = memory();
    const error = await caught(
      (async () => {
        for await (const _ of db.stream(sql`select * from nothing_here`)) {
          // never reached
        }
      })(),
    );
    expect(error).toMatchObject({ kind: 'syntax_error' });
    expect(db.status().active).toBe(0);
  });
});

describe('files, pragmas and options', () => {
  it('creates the parent directory and runs in WAL mode with the pragmas set', async () => {
    const path = join(dir, 'nested', 'deeper', 'app.db');
    const db = createSqliteDatabase({ url: `sqlite://${path}`, busyTimeoutMs: 1234 });
    open.push(db);
    expect(existsSync(path)).toBe(true);
    expect(await db.one(sql`select * from pragma_journal_mode()`)).toEqual({ journal_mode: 'wal' });
    expect(await db.one(sql`select * from pragma_foreign_keys()`)).toEqual({ foreign_keys: 1 });
    expect(await db.one(sql`select * from pragma_synchronous()`)).toEqual({ synchronous: 1 });
    expect(await db.one(sql`select * from pragma_busy_timeout()`)).toEqual({ timeout: 1234 });
  });

  it('keeps data across reopening a file', async () => {
    const url = fileUrl();
    const first = createSqliteDatabase({ url });
    await first.exec('create table t (a)');
    await first.query(sql`insert into t values (${'kept'})`);
    await first.close();
    const second = createSqliteDatabase({ url });
    open.push(second);
    expect(await second.many(sql`select a from t`)).toEqual([{ a: 'kept' }]);
  });

  it('an in-memory database has no WAL', async () => {
    const db = memory();
    expect(await db.one(sql`select * from pragma_journal_mode()`)).toEqual({
      journal_mode: 'memory',
    });
    expect(await db.one(sql`select * from pragma_foreign_keys()`)).toEqual({ foreign_keys: 1 });
  });

  it('reads the URL forms', () => {
    expect(sqlitePathFromUrl('sqlite:./data/app.db')).toBe('./data/app.db');
    expect(sqlitePathFromUrl('sqlite:///abs/path.db')).toBe('/abs/path.db');
    expect(sqlitePathFromUrl('sqlite::memory:')).toBe(':memory:');
    expect(sqlitePathFromUrl('sqlite://:memory:')).toBe(':memory:');
    expect(sqlitePathFromUrl('sqlite:')).toBe('./data/fairmind.db');
    expect(sqlitePathFromUrl('sqlite:data/x.db')).toBe('data/x.db');
  });

  it('refuses bad options by name, without echoing a URL that may hold a password', () => {
    const attempt = (options: Record<string, unknown>) => {
      try {
        createSqliteDatabase(options);
      } catch (error) {
        return error as FairmindError;
      }
      throw new Error('expected an error');
    };
    const url = attempt({ url: 'postgres://app:hunter2@db/app' });
    expect(url.code).toBe('INVALID_OPTIONS');
    expect(url.message).toContain('options.url');
    expect(url.message).not.toContain('hunter2');
    expect(attempt({ url: 42 }).message).toContain('options.url');
    expect(attempt({ url: 'sqlite::memory:', busyTimeoutMs: -1 }).message).toContain(
      'options.busyTimeoutMs',
    );
    expect(attempt({ url: 'sqlite::memory:', busyTimeoutMs: 1.5 }).message).toContain(
      'options.busyTimeoutMs',
    );
    expect(attempt({ url: 'sqlite::memory:', statementCacheSize: -3 }).message).toContain(
      'options.statementCacheSize',
    );
    expect(attempt({ url: 'sqlite::memory:', logger: {} }).message).toContain('options.logger');
    expect(attempt({ url: 'sqlite::memory:', registry: {} }).message).toContain('options.registry');
  });

  it('reports a missing better-sqlite3 with the install command', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), {
        code: 'MODULE_NOT_FOUND',
      });
    };
    let error: unknown;
    try {
      loadBetterSqlite3(missing);
    } catch (caughtError) {
      error = caughtError;
    }
    expect(error).toBeInstanceOf(FairmindError);
    expect((error as FairmindError).code).toBe('DRIVER_MISSING');
    expect((error as Error).message).toContain('npm install better-sqlite3@12');
    expect(typeof loadBetterSqlite3()).toBe('function');
  });

  it('fills the metrics registry it is given', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const db = memory({ registry });
    await db.query(sql`select 1`);
    await caught(db.query(sql`select * from missing`));
    const text = await registry.metrics();
    expect(text).toContain(
      'fairmind_db_pool_errors_total{pool="default",driver="sqlite",kind="syntax_error"} 1',
    );
    expect(text).toContain(
      'fairmind_db_pool_connections{pool="default",driver="sqlite",state="idle"} 1',
    );
    expect(text).toContain(
      'fairmind_db_pool_acquire_seconds_count{pool="default",driver="sqlite"} 2',
    );
  });
});

describe('status, health and close', () => {
  it('status() describes one connection', () => {
    const db = memory();
    expect(db.status()).toEqual({
      size: 1,
      maxOverflow: 0,
      total: 1,
      idle: 1,
      active: 0,
      waiting: 0,
      overflow: 0,
      timeouts: 0,
      errors: 0,
    });
  });

  it('health() reports ok with a latency', async () => {
    const db = memory();
    const report = await db.health();
    expect(report).toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      driver: 'sqlite',
      lastError: null,
    });
    expect(report.latencyMs).toBeGreaterThanOrEqual(0);
    // Application errors (constraints, syntax) are not the database's health.
    await caught(db.query(sql`select * from missing`));
    expect((await db.health()).lastError).toBeNull();
  });

  it('health() gives up after its deadline when the connection stays busy, without throwing', async () => {
    const db = memory();
    const gate = deferred();
    const entered = deferred();
    const holder = db.withConnection(async () => {
      entered.resolve();
      await gate.promise;
    });
    await entered.promise;
    const report = await db.health({ timeoutMs: 30 });
    expect(report.ok).toBe(false);
    expect(report.driver).toBe('sqlite');
    expect(report.lastError).toMatch(/busy/);
    expect(db.status().waiting).toBe(0);
    gate.resolve();
    await holder;
    expect((await db.health()).ok).toBe(true);
  });

  it('close() waits for the holder, refuses new work, and is idempotent', async () => {
    const db = createSqliteDatabase({ url: fileUrl() });
    await db.exec('create table t (a)');
    const gate = deferred();
    const entered = deferred();
    const transaction = db.transaction(async (tx) => {
      entered.resolve();
      await gate.promise;
      // Work inside the transaction still runs after close() was called.
      await db.query(sql`insert into t values (${1})`);
      await tx.query(sql`insert into t values (${2})`);
      return 'committed';
    });
    await entered.promise;
    const queued = db.one(sql`select count(*) as n from t`);
    const closing = db.close();
    expect(db.close()).toBe(closing);
    const refused = await caught(db.query(sql`select 1`));
    expect((refused as FairmindError).code).toBe('POOL_CLOSED');
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    await tick();
    expect(closed).toBe(false);
    gate.resolve();
    expect(await transaction).toBe('committed');
    // Queued before close(), so it ran, after the commit.
    expect(await queued).toEqual({ n: 2 });
    await closing;
    await db.close();
    expect(db.status()).toMatchObject({ total: 0, idle: 0, active: 0 });
    expect(((await caught(db.transaction(async () => 1))) as FairmindError).code).toBe(
      'POOL_CLOSED',
    );
    expect(((await caught(db.withConnection(async () => 1))) as FairmindError).code).toBe(
      'POOL_CLOSED',
    );
    const streamError = await caught(
      (async () => {
        for await (const _ of db.stream(sql`select 1`)) {
          // never reached
        }
      })(),
    );
    expect((streamError as FairmindError).code).toBe('POOL_CLOSED');
    const health = await db.health();
    expect(health).toMatchObject({ ok: false, driver: 'sqlite' });
    expect(health.lastError).toMatch(/closed/);
  });

  it('close() from inside a transaction is refused instead of waiting forever', async () => {
    const db = memory();
    await db.transaction(async () => {
      const error = await caught(db.close());
      expect((error as FairmindError).code).toBe('INVALID_STATE');
    });
    await db.close();
  });
});
