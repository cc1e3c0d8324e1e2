import { createRequire } from 'node:module';
import { FairmindError } from '@fairmind/core';

// The slice of better-sqlite3 12 this package calls, declared by hand. better-sqlite3 is an
// optional peer dependency and ships no types of its own: importing `@types/better-sqlite3`
// here would put that import in the published `.d.ts` and break `tsc` (TS2307) for every
// PostgreSQL-only user. driver.test.ts checks that the real types still fit these.

/** A prepared statement. */
export interface SqliteStatement {
  /** True when the statement returns rows (a SELECT, or a write with RETURNING). */
  readonly reader: boolean;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

/** One open database file. */
export interface SqliteConnection {
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare(source: string): SqliteStatement;
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

/** better-sqlite3's default export: `new Driver(path, { timeout })`. */
export type SqliteDriver = new (
  filename: string,
  options?: { timeout?: number },
) => SqliteConnection;

/**
 * Loads better-sqlite3, an optional peer dependency, so that PostgreSQL-only users never
 * install a native module. `load` is replaceable for tests.
 */
export function loadBetterSqlite3(load: (id: string) => unknown = defaultRequire()): SqliteDriver {
  try {
    return load('better-sqlite3') as SqliteDriver;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new FairmindError(
        'DRIVER_MISSING',
        500,
        '[@fairmind/db-pool] SQLite needs the optional peer dependency better-sqlite3: run `npm install better-sqlite3@12`, or set DATABASE_URL to a postgres:// URL',
        { cause: error },
      );
    }
    throw error;
  }
}

function defaultRequire(): (id: string) => unknown {
  // Always createRequire: in the ESM build esbuild defines a `require` that only throws, and
  // the CJS build shims import.meta.url (tsup `shims`).
  return createRequire(import.meta.url);
}
