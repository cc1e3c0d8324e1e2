import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import {
  checkOption,
  FairmindError,
  type Logger,
  silentLogger,
  wholeNumberRule,
} from '@fairmind/core';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import type { Registry } from 'prom-client';
import type {
  Database,
  HealthOptions,
  HealthReport,
  PoolStatus,
  Queryable,
  QueryResult,
  StreamOptions,
  TransactionOptions,
} from '../database/index.js';
import {
  DatabaseError,
  type DatabaseErrorKind,
  PoolTimeoutError,
  rowCountError,
} from '../errors/index.js';
import { invalidUse, OPTIONS_GOT } from '../errors/options.js';
import { poolMetrics } from '../metrics/index.js';
import { ConnectionPool, isConnectionError, type PooledConnection } from '../pool/index.js';
import { compile, type SqlStatement } from '../sql/index.js';

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
}

interface Context {
  readonly connection: PooledConnection;
  readonly inTransaction: boolean;
  savepoints: number;
}

const ISOLATION = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
} as const;

const atLeast = (min: number) => wholeNumberRule({ min, noun: 'integer' });

/**
 * The server invalidated (0A000 from plan revalidation, after a schema change altered a
 * statement's result type) or forgot (26000: `DISCARD ALL`, a pooler that moved the session)
 * a prepared statement. Preparing it again heals it, as pgjdbc's `willHealOnRetry` does.
 */
function isStaleStatement(error: unknown): boolean {
  const { code, routine, message } = error as {
    code?: unknown;
    routine?: unknown;
    message?: unknown;
  };
  if (code === '26000') return true;
  return (
    code === '0A000' &&
    (routine === 'RevalidateCachedQuery' ||
      (typeof message === 'string' && message.includes('cached plan must not change result type')))
  );
}

function classify(error: unknown): DatabaseErrorKind {
  const code = (error as { code?: unknown }).code;
  if (isConnectionError(error)) return 'connection_lost';
  if (typeof code !== 'string') return 'other';
  switch (code) {
    case '23505':
      return 'unique_violation';
    case '23503':
      return 'foreign_key_violation';
    case '23502':
      return 'not_null_violation';
    case '23514':
      return 'check_violation';
    case '40001':
      return 'serialization_failure';
    case '40P01':
      return 'deadlock';
    case '57014':
      return 'query_canceled';
  }
  if (code.startsWith('42')) return 'syntax_error';
  if (code.startsWith('22')) return 'invalid_input';
  return 'other';
}

/**
 * A driver error as a {@link DatabaseError}. Syntax and data errors keep only their
 * SQLSTATE: PostgreSQL quotes the offending SQL or value in those messages, and a value can
 * be a secret. pg's `detail` (which quotes key values) is never used.
 */
function toDatabaseError(error: unknown, kind = classify(error)): unknown {
  if (error instanceof FairmindError) return error;
  const code = (error as { code?: unknown }).code;
  const sqlState = typeof code === 'string' ? code : undefined;
  const constraint = (error as { constraint?: unknown }).constraint;
  const original = error instanceof Error ? error.message : String(error);
  // 42601 quotes the SQL near the error and class 22 quotes the value; the rest of class 42
  // (undefined or duplicate objects, privileges) names only objects and is worth keeping.
  const safe = sqlState !== '42601' && kind !== 'invalid_input';
  const message =
    kind === 'connection_lost'
      ? `the connection to PostgreSQL was lost (${original}); the statement may not have run`
      : kind === 'stale_statement'
        ? `a prepared statement went stale inside a transaction (SQLSTATE ${sqlState}: ${original}), so PostgreSQL aborted the transaction: retry the transaction (transaction() does with its retries option); the statement has been evicted and will be prepared again`
        : `${kind.replaceAll('_', ' ')}${sqlState ? ` (SQLSTATE ${sqlState})` : ''}${
            typeof constraint === 'string' ? ` on constraint "${constraint}"` : ''
          }${safe ? `: ${original}` : ''}`;
  return new DatabaseError(kind, message, {
    cause: error,
    sqlState,
    constraint: typeof constraint === 'string' ? constraint : undefined,
    column: columnOf(error),
  });
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/**
 * The one column an error is about: PostgreSQL names it for a null in a not-null column, and
 * a key violation's detail (`Key (email)=(...) already exists`) names the key's columns before
 * quoting the values, which are never read. Keys of several columns or of expressions give none.
 */
function columnOf(error: unknown): string | undefined {
  const { column, detail } = error as { column?: unknown; detail?: unknown };
  if (typeof column === 'string') return column;
  const key = typeof detail === 'string' ? /^Key \(([^()]+)\)=\(/.exec(detail)?.[1] : undefined;
  return key !== undefined && IDENTIFIER.test(key) ? key : undefined;
}

function isRetryable(error: unknown): boolean {
  return (
    error instanceof DatabaseError &&
    (error.kind === 'serialization_failure' ||
      error.kind === 'deadlock' ||
      error.kind === 'stale_statement')
  );
}

function toResult<R extends object>(result: pg.QueryResult<R & pg.QueryResultRow>): QueryResult<R> {
  return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  if (typeof options?.url !== 'string' || !/^postgres(?:ql)?:\/\//.test(options.url)) {
    throw invalidUse('url must be a postgres:// or postgresql:// connection URL');
  }
  const size = checkOption(OPTIONS_GOT, 'poolSize', options.poolSize ?? 20, atLeast(1));
  const maxOverflow = checkOption(
    OPTIONS_GOT,
    'maxOverflow',
    options.maxOverflow ?? 30,
    atLeast(0),
  );
  const timeoutMs = checkOption(OPTIONS_GOT, 'timeoutMs', options.timeoutMs ?? 30_000, atLeast(1));
  const connectTimeoutMs = Math.min(
    checkOption(OPTIONS_GOT, 'connectTimeoutMs', options.connectTimeoutMs ?? 10_000, atLeast(1)),
    timeoutMs,
  );
  const statementCacheSize = checkOption(
    OPTIONS_GOT,
    'statementCacheSize',
    options.statementCacheSize ?? 200,
    atLeast(1),
  );
  const maxLifetimeMs = checkOption(
    OPTIONS_GOT,
    'maxLifetimeMs',
    options.maxLifetimeMs ?? 1_800_000,
    atLeast(1_000),
  );
  const idleValidationMs = checkOption(
    OPTIONS_GOT,
    'idleValidationMs',
    options.idleValidationMs ?? 30_000,
    atLeast(0),
  );
  const leakDetectionMs = checkOption(
    OPTIONS_GOT,
    'leakDetectionMs',
    options.leakDetectionMs ?? 0,
    atLeast(0),
  );
  const prepare = options.prepare ?? true;
  const logger = options.logger ?? silentLogger;
  const poolName = options.name ?? 'default';

  const metrics = options.registry
    ? poolMetrics(options.registry, poolName, 'postgres')
    : undefined;
  const pool = new ConnectionPool({
    connectionString: options.url,
    size,
    maxOverflow,
    timeoutMs,
    connectTimeoutMs,
    applicationName: options.applicationName ?? 'fairmind',
    maxLifetimeMs,
    idleValidationMs,
    leakDetectionMs,
    statementCacheSize,
    ssl: options.ssl,
    logger,
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

  const storage = new AsyncLocalStorage<Context>();
  // Statement names by text. The name is a digest, so one text always gets one name on
  // every connection and two texts never share one; the map only saves re-hashing.
  const names = new Map<string, string>();
  let evictions = 0;
  let lastProbeError: string | null = null;

  function statementName(text: string): string {
    let name = names.get(text);
    if (name === undefined) {
      name = `fm_${createHash('sha1').update(text).digest('base64url')}`;
      if (names.size >= 10_000) names.delete(names.keys().next().value as string);
      names.set(text, name);
    }
    return name;
  }

  // The hot path is written with then() rather than async/await: each await costs a
  // promise and a microtask, and a query is only a few of them.
  function execute<R extends object>(
    connection: PooledConnection,
    statement: SqlStatement,
  ): Promise<QueryResult<R>> {
    const { text, values } = compile(statement, 'postgres');
    if (!prepare) return send<R>(connection, { text, values });
    const own = statementName(text);
    const config: pg.QueryConfig = {
      text,
      values,
      name: connection.renamed.size === 0 ? own : (connection.renamed.get(own) ?? own),
    };
    connection.prepared.add(config.name as string);
    return connection.client.query<R>(config).then(toResult, (error: unknown) => {
      if (!isStaleStatement(error)) throw fail(connection, error);
      // pg reads the transaction status only at ReadyForQuery, which follows the error: here
      // it is still the status the statement started in.
      const inTransaction = connection.client.getTransactionStatus() !== 'I';
      evict(connection, own);
      if (inTransaction) throw fail(connection, error, 'stale_statement');
      pool.noteError(error, 'stale_statement');
      // The statement failed at Bind, before it ran, and alone: running it again is safe.
      config.name = connection.renamed.get(own) as string;
      connection.prepared.add(config.name);
      return send<R>(connection, config);
    });
  }

  function send<R extends object>(
    connection: PooledConnection,
    config: pg.QueryConfig,
  ): Promise<QueryResult<R>> {
    return connection.client.query<R>(config).then(toResult, (error: unknown) => {
      throw fail(connection, error);
    });
  }

  /**
   * Prepares the statement under a new name on this connection from now on. Re-using the
   * name would need a DEALLOCATE first, which an aborted transaction refuses and which
   * PgBouncer (renaming statements per server connection) would send to the wrong one; the
   * old plan stays until the connection retires, and counts against statementCacheSize.
   */
  function evict(connection: PooledConnection, own: string): void {
    connection.renamed.set(own, `${own}_${++evictions}`);
  }

  async function run(connection: PooledConnection, text: string): Promise<void> {
    try {
      await connection.client.query(text);
    } catch (error) {
      throw fail(connection, error);
    }
  }

  function fail(connection: PooledConnection, error: unknown, kind = classify(error)): unknown {
    if (isConnectionError(error)) connection.broken = true;
    pool.noteError(error, kind);
    return toDatabaseError(error, kind);
  }

  /** Runs `fn` on the context's connection, or on one borrowed for the call. */
  function borrow<T>(fn: (connection: PooledConnection) => Promise<T>): Promise<T> {
    const context = storage.getStore();
    if (context) return fn(context.connection);
    return pool.acquire().then((connection) => {
      let work: Promise<T>;
      try {
        work = fn(connection);
      } catch (error) {
        pool.release(connection);
        throw error;
      }
      return work.then(
        (value) => {
          pool.release(connection);
          return value;
        },
        (error: unknown) => {
          pool.release(connection);
          throw error;
        },
      );
    });
  }

  function bound(connection: PooledConnection): Queryable {
    const query = <R extends object>(statement: SqlStatement) => execute<R>(connection, statement);
    return {
      query,
      async one<R extends object>(statement: SqlStatement) {
        const { rows } = await query<R>(statement);
        if (rows.length !== 1) throw rowCountError('one', rows.length);
        return rows[0] as R;
      },
      async maybeOne<R extends object>(statement: SqlStatement) {
        const { rows } = await query<R>(statement);
        if (rows.length > 1) throw rowCountError('at most one', rows.length);
        return rows[0] ?? null;
      },
      async many<R extends object>(statement: SqlStatement) {
        return (await query<R>(statement)).rows;
      },
      exec: (script: string) => run(connection, script),
    };
  }

  async function runTransaction<T>(
    connection: PooledConnection,
    fn: (tx: Queryable) => Promise<T>,
    transactionOptions: TransactionOptions,
  ): Promise<T> {
    let begin = 'BEGIN';
    if (transactionOptions.isolation)
      begin += ` ISOLATION LEVEL ${ISOLATION[transactionOptions.isolation]}`;
    if (transactionOptions.readOnly) begin += ' READ ONLY';
    await run(connection, begin);
    try {
      if (transactionOptions.statementTimeoutMs !== undefined) {
        await run(
          connection,
          `SET LOCAL statement_timeout = ${transactionOptions.statementTimeoutMs}`,
        );
      }
      const result = await storage.run({ connection, inTransaction: true, savepoints: 0 }, () =>
        fn(bound(connection)),
      );
      await run(connection, 'COMMIT');
      return result;
    } catch (error) {
      try {
        await connection.client.query('ROLLBACK');
      } catch {
        // A connection that cannot roll back cannot be trusted with the next transaction.
        connection.broken = true;
      }
      throw error;
    }
  }

  async function savepoint<T>(context: Context, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const name = `fm_sp_${++context.savepoints}`;
    await run(context.connection, `SAVEPOINT ${name}`);
    try {
      const result = await fn(bound(context.connection));
      await run(context.connection, `RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      try {
        await context.connection.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
        await context.connection.client.query(`RELEASE SAVEPOINT ${name}`);
      } catch {
        context.connection.broken = true;
      }
      throw error;
    }
  }

  function validateTransactionOptions(transactionOptions: TransactionOptions): void {
    const { isolation, statementTimeoutMs, retries } = transactionOptions;
    if (isolation !== undefined && !(isolation in ISOLATION)) {
      throw invalidUse(`isolation must be one of ${Object.keys(ISOLATION).join(', ')}`);
    }
    if (statementTimeoutMs !== undefined)
      checkOption(OPTIONS_GOT, 'statementTimeoutMs', statementTimeoutMs, atLeast(0));
    if (retries !== undefined) checkOption(OPTIONS_GOT, 'retries', retries, atLeast(0));
  }

  const database: Database = {
    driver: 'postgres',
    query: <R extends object>(statement: SqlStatement) =>
      borrow((connection) => execute<R>(connection, statement)),
    one: <R extends object>(statement: SqlStatement) =>
      borrow((connection) => bound(connection).one<R>(statement)),
    maybeOne: <R extends object>(statement: SqlStatement) =>
      borrow((connection) => bound(connection).maybeOne<R>(statement)),
    many: <R extends object>(statement: SqlStatement) =>
      borrow((connection) => bound(connection).many<R>(statement)),
    exec: (script: string) => borrow((connection) => run(connection, script)),

    async withConnection<T>(fn: (connection: Queryable) => Promise<T>): Promise<T> {
      const context = storage.getStore();
      if (context) return fn(bound(context.connection));
      const connection = await pool.acquire();
      try {
        return await storage.run({ connection, inTransaction: false, savepoints: 0 }, () =>
          fn(bound(connection)),
        );
      } finally {
        pool.release(connection);
      }
    },

    async transaction<T>(
      fn: (tx: Queryable) => Promise<T>,
      transactionOptions: TransactionOptions = {},
    ): Promise<T> {
      validateTransactionOptions(transactionOptions);
      const context = storage.getStore();
      if (context?.inTransaction) return savepoint(context, fn);
      const retries = transactionOptions.retries ?? 0;
      for (let attempt = 0; ; attempt++) {
        try {
          if (context) return await runTransaction(context.connection, fn, transactionOptions);
          const connection = await pool.acquire();
          try {
            return await runTransaction(connection, fn, transactionOptions);
          } finally {
            pool.release(connection);
          }
        } catch (error) {
          if (attempt >= retries || !isRetryable(error)) throw error;
          // Jittered back-off so the transactions that collided do not collide again.
          await sleep(5 * 2 ** attempt + Math.random() * 10 * 2 ** attempt);
        }
      }
    },

    async *stream<R extends object>(statement: SqlStatement, streamOptions: StreamOptions = {}) {
      const batchSize = checkOption(
        OPTIONS_GOT,
        'batchSize',
        streamOptions.batchSize ?? 100,
        atLeast(1),
      );
      const { text, values } = compile(statement, 'postgres');
      const context = storage.getStore();
      const connection = context?.connection ?? (await pool.acquire());
      const cursor = connection.client.query(new Cursor<R>(text, values));
      try {
        for (;;) {
          let rows: R[];
          try {
            rows = await cursor.read(batchSize);
          } catch (error) {
            throw fail(connection, error);
          }
          if (rows.length === 0) break;
          for (const row of rows) yield row;
        }
      } finally {
        await cursor.close().catch(() => {
          connection.broken = true;
        });
        if (!context) pool.release(connection);
      }
    },

    status(): PoolStatus {
      return pool.snapshot();
    },

    async health(healthOptions: HealthOptions = {}): Promise<HealthReport> {
      const probeTimeout = healthOptions.timeoutMs ?? 2_000;
      const started = performance.now();
      try {
        const connection = await pool.acquire(probeTimeout);
        try {
          const remaining = Math.max(1, Math.round(probeTimeout - (performance.now() - started)));
          await connection.client.query({
            text: 'SELECT 1',
            query_timeout: remaining,
          } as pg.QueryConfig);
        } catch (error) {
          connection.broken = true;
          throw error;
        } finally {
          pool.release(connection);
        }
        lastProbeError = null;
        return {
          ok: true,
          latencyMs: Math.round((performance.now() - started) * 100) / 100,
          driver: 'postgres',
          lastError: pool.lastError,
        };
      } catch (error) {
        lastProbeError =
          error instanceof PoolTimeoutError || error instanceof FairmindError
            ? error.message
            : `[@fairmind/db-pool] health probe failed: ${error instanceof Error ? error.message : String(error)}`;
        return {
          ok: false,
          latencyMs: Math.round((performance.now() - started) * 100) / 100,
          driver: 'postgres',
          lastError: lastProbeError,
        };
      }
    },

    close(): Promise<void> {
      return pool.close();
    },
  };
  return database;
}
