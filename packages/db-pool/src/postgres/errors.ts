import { FairmindError } from '@fairmind/core';
import { DatabaseError, type DatabaseErrorKind } from '../errors/index.js';
import { isConnectionError } from '../pool/index.js';

/**
 * The server invalidated (0A000 from plan revalidation, after a schema change altered a
 * statement's result type) or forgot (26000: `DISCARD ALL`, a pooler that moved the session)
 * a prepared statement. Preparing it again heals it, as pgjdbc's `willHealOnRetry` does.
 */
export function isStaleStatement(error: unknown): boolean {
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

export function classify(error: unknown): DatabaseErrorKind {
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
export function toDatabaseError(error: unknown, kind = classify(error)): unknown {
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

export function isRetryable(error: unknown): boolean {
  return (
    error instanceof DatabaseError &&
    (error.kind === 'serialization_failure' ||
      error.kind === 'deadlock' ||
      error.kind === 'stale_statement')
  );
}
