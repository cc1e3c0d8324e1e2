import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '@fairmind/core';
import type { Registry } from 'prom-client';
import type { Database } from '../database/index.js';
import { poolMetrics } from '../metrics/index.js';
import { ConnectionPool, type ConnectionPoolSettings } from '../pool/index.js';
import { ScopeStorage } from '../scope-storage/index.js';
import { type SqlStatement, sql } from '../sql/index.js';
import { probeHealth } from './health.js';
import { openReplicas, readerOn, routedReader } from './reads.js';
import { borrow, type PostgresContext, type Scope, withConnection } from './scope.js';
import { type PostgresSettings, resolveSettings } from './settings.js';
import { createStatements } from './statements.js';
import { streamRows } from './stream.js';
import { transaction } from './transactions.js';

/** Options of {@link createPostgresDatabase}. */
export interface PostgresDatabaseOptions {
  /** A `postgres://` or `postgresql://` connection URL. */
  url: string;
  /**
   * Connections kept open (`DATABASE_POOL_SIZE`).
   * @default 20
   */
  poolSize?: number | undefined;
  /**
   * Extra connections a burst may open; closed again when returned while `poolSize` are
   * idle (`DATABASE_MAX_OVERFLOW`).
   * @default 30
   */
  maxOverflow?: number | undefined;
  /**
   * One deadline for getting a connection: the wait in the queue plus the connect
   * (`DATABASE_TIMEOUT`, in seconds there).
   * @default 30_000
   */
  timeoutMs?: number | undefined;
  /**
   * How long one connect (TCP, TLS and PostgreSQL's start-up) may take before it is
   * abandoned and tried again, within `timeoutMs`: a host that accepts TCP and never answers
   * then costs a few attempts, not the whole deadline on one. At most `timeoutMs`.
   * @default 10_000
   */
  connectTimeoutMs?: number | undefined;
  /**
   * `application_name`, as `pg_stat_activity` shows it.
   * @default 'fairmind'
   */
  applicationName?: string | undefined;
  /**
   * Run statements as named prepared statements, parsed once per connection. Turn off
   * behind PgBouncer in transaction mode before 1.21 (or without `max_prepared_statements`).
   * @default true
   */
  prepare?: boolean | undefined;
  /**
   * Prepared statements per connection before it is retired and replaced, which bounds the
   * server memory they hold.
   * @default 200
   */
  statementCacheSize?: number | undefined;
  /**
   * A connection is retired after this long (minus up to 10% jitter), so failovers and
   * server-side settings reach every connection.
   * @default 1_800_000 (30 minutes)
   */
  maxLifetimeMs?: number | undefined;
  /**
   * A connection idle longer than this answers `SELECT 1` before it is handed out.
   * @default 30_000
   */
  idleValidationMs?: number | undefined;
  /**
   * Log a warning, with the stack that acquired it, for a connection held longer than
   * this. `0` turns it off (capturing a stack per acquire has a cost).
   * @default 0
   */
  leakDetectionMs?: number | undefined;
  /**
   * TLS settings, passed to pg as is: `true`, or `node:tls` connection options such as
   * `{ ca, rejectUnauthorized }`. (Typed from `node:tls` rather than pg, so that these types need
   * no `@types/pg`.)
   */
  ssl?: boolean | ConnectionOptions | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /** Where to register the pool metrics; none when unset. */
  registry?: Registry | undefined;
  /**
   * The `pool` label of this pool's metrics, to tell several pools apart in one registry.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * URLs of streaming replicas of this database (`DATABASE_REPLICA_URLS`). Reads made through
   * `read()` go to them, round robin, while they answer and lag at most `maxReplicaLagMs`;
   * everything else stays on the primary. Each has a pool of the same size.
   * @default []
   */
  replicas?: readonly string[] | undefined;
  /**
   * A replica further behind the primary than this is left out of reads until it catches up
   * (`DATABASE_REPLICA_MAX_LAG`, in seconds there).
   * @default 2000
   */
  maxReplicaLagMs?: number | undefined;
  /**
   * How often each replica's lag is measured, and a replica that stopped answering is tried
   * again. Each check is one `pg_current_wal_lsn()` on the primary and one query per replica.
   * @default 500
   */
  replicaCheckIntervalMs?: number | undefined;
}

/**
 * A {@link Database} on PostgreSQL through `pg`, with its own pool (see `ConnectionPool`).
 *
 * @example
 * ```ts
 * const db = createPostgresDatabase({ url: process.env.DATABASE_URL!, poolSize: 20 });
 * const user = await db.maybeOne(sql`select * from users where email = ${email}`);
 * await db.transaction(async (tx) => {
 *   await tx.query(sql`update accounts set balance = balance - ${amount} where id = ${from}`);
 *   await tx.query(sql`update accounts set balance = balance + ${amount} where id = ${to}`);
 * });
 * ```
 */
export function createPostgresDatabase(options: PostgresDatabaseOptions): Database {
  const settings = resolveSettings(options);
  const context = openContext(settings, settings.pool, settings.name);
  const { pool } = context;
  const { execute, run } = context.statements;
  const replicas = openReplicas(settings, pool, (poolSettings, name) =>
    openContext(settings, poolSettings, name),
  );
  const primaryReader = readerOn(context);
  return {
    driver: 'postgres',
    query: <R extends object>(statement: SqlStatement) =>
      borrow(context, (connection) => execute<R>(connection, statement)),
    one: primaryReader.one,
    maybeOne: primaryReader.maybeOne,
    many: primaryReader.many,
    exec: (script: string) => borrow(context, (connection) => run(connection, script)),
    withConnection: (fn) => withConnection(context, fn),
    transaction: (fn, transactionOptions = {}) => transaction(context, fn, transactionOptions),
    stream: <R extends object>(statement: SqlStatement, streamOptions = {}) =>
      streamRows<R>(context, statement, streamOptions),
    read: (readOptions = {}) =>
      replicas && !context.storage.getStore()
        ? routedReader(replicas, primaryReader, readOptions.after)
        : primaryReader,
    writePosition: async () =>
      (
        await borrow(context, (connection) =>
          execute<{ lsn: string }>(connection, sql`select pg_current_wal_lsn()::text as lsn`),
        )
      ).rows[0]?.lsn ?? null,
    replicas: () => replicas?.set.status() ?? [],
    status: () => pool.snapshot(),
    health: (healthOptions = {}) => probeHealth(pool, healthOptions),
    close: async () => {
      await Promise.all([pool.close(), replicas?.set.close()]);
    },
  };
}

/** A pool with its metrics, its statements and its scope storage. */
function openContext(
  settings: PostgresSettings,
  poolSettings: ConnectionPoolSettings,
  name: string,
): PostgresContext {
  const pool = openPool(poolSettings, settings.registry, name);
  return {
    pool,
    storage: new ScopeStorage<Scope>(),
    statements: createStatements(pool, { prepare: settings.prepare, logger: poolSettings.logger }),
  };
}

/** The pool, its metric hooks attached when a registry was given. */
function openPool(
  poolSettings: ConnectionPoolSettings,
  registry: Registry | undefined,
  name: string,
): ConnectionPool {
  const metrics = registry ? poolMetrics(registry, name, 'postgres') : undefined;
  const pool = new ConnectionPool({
    ...poolSettings,
    ...(metrics
      ? {
          onAcquire: metrics.onAcquire,
          onRelease: metrics.onRelease,
          onTimeout: metrics.onTimeout,
          onError: metrics.onError,
        }
      : {}),
  });
  if (metrics) metrics.track(() => pool.snapshot());
  return pool;
}
