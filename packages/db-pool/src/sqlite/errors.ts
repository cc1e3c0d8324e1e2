import { FairmindError, findCause } from '@fairmind/core';
import { DatabaseError } from '../errors/index.js';

export function invalidParameter(index: number, problem: string, cause?: unknown): FairmindError {
  // The position, never the value: values may be secrets.
  return new FairmindError(
    'INVALID_PARAMETER',
    500,
    `[@fairmind/db-pool] value ${index + 1} of the statement ${problem}: convert it before passing it to sql\`\``,
    cause === undefined ? {} : { cause },
  );
}

// Column lists such as "users.email" or "t.a, t.b", and named constraints. An unnamed CHECK
// reports its expression instead, which is SQL text: that is left out.
const CONSTRAINT_NAME = /^[\p{L}\p{N}_$.]+(?:, [\p{L}\p{N}_$.]+)*$/u;

function constraintOf(message: string): string | undefined {
  const detail = /constraint failed: (.+)$/.exec(message)?.[1];
  if (detail === undefined) return undefined;
  const index = /^index '([^']+)'$/.exec(detail)?.[1];
  if (index !== undefined) return index;
  return CONSTRAINT_NAME.test(detail) ? detail : undefined;
}

/** The column of a single-column constraint (`NOT NULL constraint failed: items.name`). */
function columnOf(message: string): string | undefined {
  return /constraint failed: [A-Za-z_][\w$]*\.([A-Za-z_][\w$]*)$/.exec(message)?.[1];
}

type ErrorOptions = { cause: unknown; sqlState: string | undefined };

/**
 * A driver error as a {@link DatabaseError}. Messages are written here from the error code
 * and never copy the driver's text, which can quote the statement (`near "...": syntax
 * error`); the original stays in `cause` for logs.
 */
export function toDatabaseError(error: unknown): FairmindError {
  if (error instanceof FairmindError) return error;
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' && rawCode.startsWith('SQLITE_') ? rawCode : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const options: ErrorOptions = { cause: error, sqlState: code };
  return (
    (code === undefined ? undefined : constraintError(code, message, options)) ??
    (code === undefined ? undefined : lockError(code, options)) ??
    statementError(code, message, options) ??
    new DatabaseError(
      'other',
      `the statement failed (${code ?? (error instanceof Error ? error.name : 'unknown error')}); the driver's detail is in the error's cause`,
      options,
    )
  );
}

/** A violated UNIQUE, PRIMARY KEY, FOREIGN KEY, NOT NULL or CHECK constraint. */
function constraintError(
  code: string,
  message: string,
  options: ErrorOptions,
): DatabaseError | undefined {
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const constraint = constraintOf(message);
    const what = code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ? 'primary key' : 'unique constraint';
    return new DatabaseError(
      'unique_violation',
      `${what} violated${constraint ? ` on ${constraint}` : ''}: a row with the same value already exists (${code})`,
      { ...options, constraint, column: columnOf(message) },
    );
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new DatabaseError(
      'foreign_key_violation',
      `foreign key constraint violated: the referenced row does not exist, or other rows still reference the one being changed (${code})`,
      options,
    );
  }
  if (code === 'SQLITE_CONSTRAINT_NOTNULL') {
    const constraint = constraintOf(message);
    return new DatabaseError(
      'not_null_violation',
      `not-null constraint violated${constraint ? ` on ${constraint}` : ''}: give the column a value (${code})`,
      { ...options, constraint, column: columnOf(message) },
    );
  }
  if (code === 'SQLITE_CONSTRAINT_CHECK') {
    const constraint = constraintOf(message);
    return new DatabaseError(
      'check_violation',
      `check constraint ${constraint ?? '(unnamed)'} violated: a value is outside what the table allows (${code})`,
      { ...options, constraint },
    );
  }
  return undefined;
}

/** A locked or read-only file, or an interrupted statement. */
function lockError(code: string, options: ErrorOptions): DatabaseError | undefined {
  if (code.startsWith('SQLITE_BUSY')) {
    return new DatabaseError(
      'other',
      `the database file stayed locked by another connection or process (${code}): keep write transactions short, raise busyTimeoutMs, start writing transactions with { sqliteMode: 'immediate' }, or pass { retries } to transaction()`,
      options,
    );
  }
  if (code.startsWith('SQLITE_LOCKED')) {
    return new DatabaseError(
      'other',
      `a table is locked by another statement on this connection (${code}): finish or break an open stream() before writing`,
      options,
    );
  }
  if (code === 'SQLITE_INTERRUPT') {
    return new DatabaseError('query_canceled', `the statement was interrupted (${code})`, options);
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new DatabaseError(
      'other',
      `the database refused a write (${code}): the transaction is readOnly, or the file or its directory is not writable`,
      options,
    );
  }
  return undefined;
}

/** A statement SQLite could not run as written, or on a connection busy with a stream. */
function statementError(
  code: string | undefined,
  message: string,
  options: ErrorOptions,
): DatabaseError | undefined {
  if (code === 'SQLITE_ERROR') {
    if (/syntax error|incomplete input|unrecognized token/i.test(message)) {
      return new DatabaseError(
        'syntax_error',
        `the statement has a syntax error (${code}): check the SQL text; the driver's detail is in the error's cause`,
        options,
      );
    }
    const missing = /^no such (table|column|function|index|view)/i.exec(message)?.[1];
    if (missing !== undefined) {
      return new DatabaseError(
        'syntax_error',
        `the statement names a ${missing.toLowerCase()} that does not exist (${code}): check the name, or run the migrations`,
        options,
      );
    }
  }
  if (/busy executing a query/i.test(message)) {
    return new DatabaseError(
      'other',
      'the connection is busy with an open stream(): only reads may run while a stream is iterated; finish or break the loop first, or collect the rows with many()',
      options,
    );
  }
  if (/parameter|bind/i.test(message) && code === undefined) {
    return new DatabaseError(
      'other',
      'the statement\'s placeholders and values do not match: build it with sql`` and do not write "?" or "$1" placeholders yourself',
      options,
    );
  }
  return undefined;
}

export function isBusy(error: unknown): boolean {
  // Callers may wrap the error; follow a few causes.
  const busy = (cause: Error) =>
    cause instanceof DatabaseError && cause.sqlState?.startsWith('SQLITE_BUSY') === true;
  return findCause(error, busy, 5) !== undefined;
}

export function connectionReleasedError(): FairmindError {
  return new FairmindError(
    'CONNECTION_RELEASED',
    500,
    '[@fairmind/db-pool] this connection or transaction handle was used after its callback settled: await every query inside the callback, and use the database object for later work',
  );
}
