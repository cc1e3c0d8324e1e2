import type { Database } from '../database/index.js';
import { SqliteDatabase } from './database.js';
import { loadBetterSqlite3 } from './driver.js';
import { open } from './open.js';
import { resolveSettings, type SqliteDatabaseOptions } from './settings.js';

export { type SqliteDatabaseOptions, sqlitePathFromUrl } from './settings.js';

/**
 * A {@link Database} on SQLite through better-sqlite3 (an optional peer dependency: install
 * `better-sqlite3@12`). The file's directory is created when missing and the database runs
 * in WAL mode with foreign keys on. It has the same async API as the PostgreSQL driver; the
 * one connection is used by one caller at a time, and calls made inside `withConnection` or
 * `transaction` (through the handle or through this object) run at once on it, so nested
 * code cannot deadlock.
 *
 * SQLite stores booleans as 1/0, dates as ISO-8601 text and objects or arrays as JSON text,
 * and returns them in that form. Integers beyond 2^53 come back as imprecise numbers.
 * `isolation` and `statementTimeoutMs` are accepted and have no effect (SQLite transactions
 * are serializable); `readOnly` sets `PRAGMA query_only` for the transaction.
 *
 * A `stream()` holds the connection until the loop ends: the loop body may read through the
 * database only inside `withConnection`/`transaction`; anywhere else it would wait for the
 * stream it is part of.
 *
 * @throws FairmindError `INVALID_OPTIONS` naming a bad option, `DRIVER_MISSING` without
 * better-sqlite3, or a DatabaseError when the file cannot be opened.
 *
 * @example
 * ```ts
 * const db = createSqliteDatabase({ url: 'sqlite:./data/app.db' });
 * await db.exec('create table if not exists notes (id integer primary key, body text)');
 * const note = await db.one(sql`insert into notes (body) values (${'hello'}) returning id`);
 * await db.transaction(async (tx) => {
 *   await tx.query(sql`update notes set body = ${'hi'} where id = ${note.id}`);
 * });
 * await db.close();
 * ```
 */
export function createSqliteDatabase(options: SqliteDatabaseOptions = {}): Database {
  const settings = resolveSettings(options);
  const Driver = loadBetterSqlite3();
  return new SqliteDatabase(open(Driver, settings), settings);
}
