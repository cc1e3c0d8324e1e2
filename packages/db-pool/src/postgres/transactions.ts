import { checkOption } from '@fairmind/core';
import type { Queryable, TransactionOptions } from '../database/index.js';
import { invalidUse, OPTIONS_GOT } from '../errors/options.js';
import type { PooledConnection } from '../pool/index.js';
import { isRetryable } from './errors.js';
import { bound, type PostgresContext, type Scope } from './scope.js';
import { atLeast } from './settings.js';

const ISOLATION = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `Database.transaction`: a savepoint inside a transaction, else a transaction on the scope's
 * connection or a borrowed one, run again up to `retries` times when it failed retryably.
 */
export async function transaction<T>(
  context: PostgresContext,
  fn: (tx: Queryable) => Promise<T>,
  transactionOptions: TransactionOptions,
): Promise<T> {
  validateTransactionOptions(transactionOptions);
  const { pool, storage } = context;
  const scope = storage.getStore();
  if (scope?.inTransaction) return savepoint(context, scope, fn);
  const retries = transactionOptions.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      if (scope) return await runTransaction(context, scope.connection, fn, transactionOptions);
      const connection = await pool.acquire();
      try {
        return await runTransaction(context, connection, fn, transactionOptions);
      } finally {
        pool.release(connection);
      }
    } catch (error) {
      if (attempt >= retries || !isRetryable(error)) throw error;
      // Jittered back-off so the transactions that collided do not collide again.
      await sleep(5 * 2 ** attempt + Math.random() * 10 * 2 ** attempt);
    }
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

async function runTransaction<T>(
  context: PostgresContext,
  connection: PooledConnection,
  fn: (tx: Queryable) => Promise<T>,
  transactionOptions: TransactionOptions,
): Promise<T> {
  const { run } = context.statements;
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
    const result = await context.storage.run(
      { connection, inTransaction: true, savepoints: 0 },
      () => fn(bound(context, connection)),
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

async function savepoint<T>(
  context: PostgresContext,
  scope: Scope,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  const { run } = context.statements;
  const name = `fm_sp_${++scope.savepoints}`;
  await run(scope.connection, `SAVEPOINT ${name}`);
  try {
    const result = await fn(bound(context, scope.connection));
    await run(scope.connection, `RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (error) {
    try {
      await scope.connection.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await scope.connection.client.query(`RELEASE SAVEPOINT ${name}`);
    } catch {
      scope.connection.broken = true;
    }
    throw error;
  }
}
