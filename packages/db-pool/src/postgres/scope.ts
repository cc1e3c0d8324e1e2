import type { Queryable } from '../database/index.js';
import { rowCountError } from '../errors/index.js';
import type { ConnectionPool, PooledConnection } from '../pool/index.js';
import type { ScopeStorage } from '../scope-storage/index.js';
import type { SqlStatement } from '../sql/index.js';
import type { Statements } from './statements.js';

/**
 * The connection of a `withConnection` or `transaction` call, which every call made inside it
 * (through the handle or through the database) runs on.
 */
export interface Scope {
  readonly connection: PooledConnection;
  readonly inTransaction: boolean;
  savepoints: number;
}

/** What the parts of one PostgreSQL database share. */
export interface PostgresContext {
  readonly pool: ConnectionPool;
  readonly storage: ScopeStorage<Scope>;
  readonly statements: Statements;
}

/** Runs `fn` on the scope's connection, or on one borrowed for the call. */
export function borrow<T>(
  { pool, storage }: PostgresContext,
  fn: (connection: PooledConnection) => Promise<T>,
): Promise<T> {
  const scope = storage.getStore();
  if (scope) return fn(scope.connection);
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

/** The handle that runs statements on one connection. */
export function bound({ statements }: PostgresContext, connection: PooledConnection): Queryable {
  const query = <R extends object>(statement: SqlStatement) =>
    statements.execute<R>(connection, statement);
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
    exec: (script: string) => statements.run(connection, script),
  };
}

/** `Database.withConnection`: one connection for `fn`, unless a scope already has one. */
export async function withConnection<T>(
  context: PostgresContext,
  fn: (connection: Queryable) => Promise<T>,
): Promise<T> {
  const { pool, storage } = context;
  const scope = storage.getStore();
  if (scope) return fn(bound(context, scope.connection));
  const connection = await pool.acquire();
  try {
    return await storage.run({ connection, inTransaction: false, savepoints: 0 }, () =>
      fn(bound(context, connection)),
    );
  } finally {
    pool.release(connection);
  }
}
