import { FairmindError, type FairmindErrorOptions } from '@fairmind/core';

/** Counts of a pool at one instant, as {@link PoolTimeoutError} and `status()` report them. */
export interface PoolSnapshot {
  readonly size: number;
  readonly maxOverflow: number;
  readonly total: number;
  readonly idle: number;
  readonly active: number;
  readonly waiting: number;
}

/**
 * No connection could be had within `timeout`. `reason` tells an exhausted pool (every
 * connection busy: raise the size, shorten transactions, or find a leak) from an
 * unreachable server (every connect attempt failed: check the server and the URL).
 */
export class PoolTimeoutError extends FairmindError {
  readonly reason: 'exhausted' | 'unreachable';
  readonly snapshot: PoolSnapshot;

  constructor(
    reason: 'exhausted' | 'unreachable',
    timeoutMs: number,
    snapshot: PoolSnapshot,
    options: FairmindErrorOptions = {},
  ) {
    const counts = `total=${snapshot.total} idle=${snapshot.idle} active=${snapshot.active} waiting=${snapshot.waiting} size=${snapshot.size} maxOverflow=${snapshot.maxOverflow}`;
    const why = options.cause instanceof Error ? ` (${options.cause.message})` : '';
    const advice =
      reason === 'exhausted'
        ? 'every connection stayed busy: raise poolSize/maxOverflow, shorten transactions, or look for a connection that is never released (enable leakDetectionMs)'
        : `the server could not be reached${why}: check that PostgreSQL is up and answering, and that DATABASE_URL names the right host and port`;
    super(
      'POOL_TIMEOUT',
      503,
      `[@fairmind/db-pool] no connection within ${timeoutMs} ms: ${advice} (${counts})`,
      options,
    );
    this.reason = reason;
    this.snapshot = snapshot;
  }
}

/** What a database error is, independent of the driver. */
export type DatabaseErrorKind =
  | 'unique_violation'
  | 'foreign_key_violation'
  | 'not_null_violation'
  | 'check_violation'
  | 'serialization_failure'
  | 'deadlock'
  | 'query_canceled'
  | 'stale_statement'
  | 'connection_lost'
  | 'config_invalid'
  | 'syntax_error'
  | 'invalid_input'
  | 'other';

const STATUS: Readonly<Record<DatabaseErrorKind, number>> = {
  unique_violation: 409,
  foreign_key_violation: 409,
  not_null_violation: 400,
  check_violation: 400,
  serialization_failure: 503,
  deadlock: 503,
  query_canceled: 503,
  stale_statement: 503,
  connection_lost: 503,
  config_invalid: 500,
  syntax_error: 500,
  invalid_input: 400,
  other: 500,
};

/**
 * A failed statement, from either driver. `kind` is portable; `sqlState` is PostgreSQL's
 * SQLSTATE or SQLite's extended code. The message names the kind and constraint, never the
 * SQL text or the values, so logging it leaks nothing. It may quote the server, which names
 * tables and constraints, so it is not exposed: an HTTP client gets the status, the code
 * and, where the driver names it, the `column`.
 */
export class DatabaseError extends FairmindError {
  readonly kind: DatabaseErrorKind;
  readonly sqlState: string | undefined;
  readonly constraint: string | undefined;
  /** The one column the error is about, where the driver names it (`not_null_violation`, keys). */
  readonly column: string | undefined;

  constructor(
    kind: DatabaseErrorKind,
    message: string,
    options: FairmindErrorOptions & {
      sqlState?: string | undefined;
      constraint?: string | undefined;
      column?: string | undefined;
    } = {},
  ) {
    super(`DB_${kind.toUpperCase()}`, STATUS[kind], `[@fairmind/db-pool] ${message}`, {
      ...options,
      expose: options.expose ?? false,
      details:
        options.details ?? (options.column === undefined ? undefined : { column: options.column }),
    });
    this.kind = kind;
    this.sqlState = options.sqlState;
    this.constraint = options.constraint;
    this.column = options.column;
  }
}

/** The database was closed: no new work is taken. */
export function poolClosedError(): FairmindError {
  return new FairmindError(
    'POOL_CLOSED',
    503,
    '[@fairmind/db-pool] the database has been closed: create a new one with createDatabase() instead of reusing it after close()',
  );
}

/** `one()` found no row, or `one()` / `maybeOne()` found several. */
export function rowCountError(expected: 'one' | 'at most one', got: number): FairmindError {
  return got === 0
    ? new FairmindError(
        'NOT_FOUND',
        404,
        '[@fairmind/db-pool] the query returned no row where one was expected',
      )
    : new FairmindError(
        'TOO_MANY_ROWS',
        500,
        `[@fairmind/db-pool] the query returned ${got} rows where ${expected} was expected: add a LIMIT or a unique condition`,
      );
}
