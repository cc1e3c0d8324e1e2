import type BetterSqlite3 from 'better-sqlite3';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { loadBetterSqlite3, type SqliteConnection, type SqliteDriver } from './driver.js';

describe('the hand-declared better-sqlite3 types', () => {
  it('are satisfied by @types/better-sqlite3, so the two cannot drift apart', () => {
    expectTypeOf<typeof BetterSqlite3>().toExtend<SqliteDriver>();
    expectTypeOf<BetterSqlite3.Database>().toExtend<SqliteConnection>();
  });

  it('fit the module that loads at run time', () => {
    const Driver = loadBetterSqlite3();
    const conn = new Driver(':memory:', { timeout: 100 });
    const statement = conn.prepare('select 1 as one');
    expect(statement.reader).toBe(true);
    expect(statement.all()).toEqual([{ one: 1 }]);
    expect(conn.pragma('user_version', { simple: true })).toBe(0);
    conn.close();
    expect(conn.open).toBe(false);
  });
});
