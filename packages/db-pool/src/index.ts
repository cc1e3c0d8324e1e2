import type { Database } from './database/index.js';
import { invalidUse } from './errors/options.js';
import { createPostgresDatabase, type PostgresDatabaseOptions } from './postgres/index.js';
import { createSqliteDatabase, type SqliteDatabaseOptions } from './sqlite/index.js';

export type {
  Database,
  Driver,
  HealthOptions,
  HealthReport,
  IsolationLevel,
  PoolStatus,
  Queryable,
  QueryResult,
  Reader,
  ReadOptions,
  ReplicaStatus,
  Row,
  StreamOptions,
  TransactionOptions,
} from './database/index.js';
export {
  DatabaseError,
  type DatabaseErrorKind,
  type PoolSnapshot,
  PoolTimeoutError,
} from './errors/index.js';
export {
  loadMigrations,
  type MigrateOptions,
  type MigrationFile,
  type MigrationStatusEntry,
  migrate,
  migrationStatus,
  planMigrations,
} from './migrate/index.js';
export { createPostgresDatabase, type PostgresDatabaseOptions } from './postgres/index.js';
export {
  type CompiledStatement,
  compile,
  type Dialect,
  type SqlIdentifier,
  type SqlRaw,
  SqlStatement,
  type SqlTag,
  sql,
} from './sql/index.js';
export { createSqliteDatabase, type SqliteDatabaseOptions } from './sqlite/index.js';

/** Options of {@link createDatabase}: the PostgreSQL options, with SQLite's where they apply. */
export type DatabaseOptions = Omit<PostgresDatabaseOptions, 'url'> &
  Omit<SqliteDatabaseOptions, 'url'> & {
    /**
     * `postgres://` or `postgresql://` for PostgreSQL; `sqlite:<path>`, `sqlite::memory:` or
     * nothing for SQLite (`DATABASE_URL`).
     * @default 'sqlite:./data/fairmind.db'
     */
    url?: string | undefined;
  };

/**
 * One API, two drivers: PostgreSQL for a `postgres://` URL, SQLite for `sqlite:` or no URL.
 *
 * @example
 * ```ts
 * import { createDatabase, sql } from '@fairmind/db-pool';
 * const db = createDatabase({ url: process.env.DATABASE_URL, poolSize: 20, maxOverflow: 30 });
 * const rows = await db.many(sql`select id, name from models order by name limit ${20}`);
 * await db.close();
 * ```
 */
export function createDatabase(options: DatabaseOptions = {}): Database {
  const { url, ...rest } = options;
  if (url === undefined || url === '' || url.startsWith('sqlite:')) {
    const sqlite: SqliteDatabaseOptions = {};
    if (url) sqlite.url = url;
    if (rest.busyTimeoutMs !== undefined) sqlite.busyTimeoutMs = rest.busyTimeoutMs;
    if (rest.logger !== undefined) sqlite.logger = rest.logger;
    if (rest.registry !== undefined) sqlite.registry = rest.registry;
    if (rest.statementCacheSize !== undefined) sqlite.statementCacheSize = rest.statementCacheSize;
    return createSqliteDatabase(sqlite);
  }
  if (/^postgres(?:ql)?:\/\//.test(url)) return createPostgresDatabase({ ...rest, url });
  throw invalidUse(
    'url must start with postgres://, postgresql:// or sqlite: (or be left out for the SQLite default)',
  );
}
