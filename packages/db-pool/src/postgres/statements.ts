import { createHash } from 'node:crypto';
import type { Logger } from '@fairmind/core';
import type pg from 'pg';
import type { QueryResult } from '../database/index.js';
import type { DatabaseErrorKind } from '../errors/index.js';
import { type ConnectionPool, isConnectionError, type PooledConnection } from '../pool/index.js';
import { compile, type SqlStatement } from '../sql/index.js';
import { classify, isStaleStatement, toDatabaseError } from './errors.js';

/** Runs statements on a connection and turns what fails into a `DatabaseError`. */
export interface Statements {
  execute<R extends object>(
    connection: PooledConnection,
    statement: SqlStatement,
  ): Promise<QueryResult<R>>;
  /** Runs a trusted text without parameters (a script, BEGIN, SAVEPOINT ...). */
  run(connection: PooledConnection, text: string): Promise<void>;
  /** Marks a lost connection broken, counts the error, and returns it as a DatabaseError. */
  fail(connection: PooledConnection, error: unknown, kind?: DatabaseErrorKind): unknown;
}

function toResult<R extends object>(result: pg.QueryResult<R & pg.QueryResultRow>): QueryResult<R> {
  return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
}

/**
 * Names statements by text. The name is a digest, so one text always gets one name on every
 * connection and two texts never share one; the map only saves re-hashing.
 */
function statementNames(): (text: string) => string {
  const names = new Map<string, string>();
  return (text) => {
    let name = names.get(text);
    if (name === undefined) {
      name = `fm_${createHash('sha1').update(text).digest('base64url')}`;
      if (names.size >= 10_000) names.delete(names.keys().next().value as string);
      names.set(text, name);
    }
    return name;
  };
}

/** What {@link createStatements} needs besides the pool. */
export interface StatementSettings {
  /** Named prepared statements, until a transaction-mode pooler is found in front. */
  prepare: boolean;
  /** Told once when a pooler is found and statements go unnamed from then on. */
  logger: Logger;
}

// A server that already holds a statement this connection never prepared (42P05), or that
// forgets one this connection prepared again a moment ago (a second 26000 on the same
// connection), is not one session: a pooler in transaction mode (PgBouncer before 1.21, or
// without max_prepared_statements) hands each transaction another server connection. Names
// are digests of the text, so no statement ever ran under a name of another text: the
// detection costs a retry, never a wrong result.
function poolerFound(error: unknown, connection: PooledConnection, own: string): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '42P05' || (code === '26000' && connection.renamed.has(own));
}

/**
 * The statement runner of one pool: named prepared statements (when `prepare` is on), healed
 * once when the server invalidated or forgot one, and unnamed for good once a pooler in
 * transaction mode shows itself.
 */
export function createStatements(pool: ConnectionPool, settings: StatementSettings): Statements {
  const statementName = statementNames();
  let prepare = settings.prepare;
  let evictions = 0;
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
      const pooler = poolerFound(error, connection, own);
      if (!pooler && !isStaleStatement(error)) throw fail(connection, error);
      // pg reads the transaction status only at ReadyForQuery, which follows the error: here
      // it is still the status the statement started in.
      const inTransaction = connection.client.getTransactionStatus() !== 'I';
      if (pooler) stopPreparing();
      else evict(connection, own);
      if (inTransaction) throw fail(connection, error, 'stale_statement');
      pool.noteError(error, 'stale_statement');
      // The statement failed at Parse or Bind, before it ran, and alone: running it again is
      // safe.
      if (pooler) return send<R>(connection, { text, values });
      config.name = connection.renamed.get(own) as string;
      connection.prepared.add(config.name);
      return send<R>(connection, config);
    });
  }

  function stopPreparing(): void {
    if (!prepare) return;
    prepare = false;
    settings.logger.warn(
      {},
      '[@fairmind/db-pool] a pooler in transaction mode (PgBouncer before 1.21, or without ' +
        'max_prepared_statements) is in front of PostgreSQL: statements are sent unnamed from ' +
        'now on. Set prepare: false to skip this detection, or give PgBouncer ' +
        'max_prepared_statements to keep prepared statements.',
    );
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

  return { execute, run, fail };
}
