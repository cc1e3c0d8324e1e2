import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FairmindError, type Logger, silentLogger } from '@fairmind/core';
import type { Registry } from 'prom-client';
import type {
  Database,
  HealthOptions,
  HealthReport,
  PoolStatus,
  Queryable,
  QueryResult,
  Row,
  StreamOptions,
  TransactionOptions,
} from '../database/index.js';
import { DatabaseError, poolClosedError, rowCountError } from '../errors/index.js';
import { type PoolMetrics, poolMetrics } from '../metrics/index.js';
import { compile, type SqlStatement, sql } from '../sql/index.js';
import {
  loadBetterSqlite3,
  type SqliteConnection,
  type SqliteDriver,
  type SqliteStatement,
} from './driver.js';

/** Options of {@link createSqliteDatabase}. */
export interface SqliteDatabaseOptions {
  /**
   * Where the database lives: `'sqlite:./data/app.db'` (relative to the working directory),
   * `'sqlite:///abs/path.db'`, `'sqlite::memory:'`, or a bare `'sqlite:'` for the default
   * file. The parent directory of a file is created when missing.
   * @default 'sqlite:./data/fairmind.db'
   */
  url?: string | undefined;
  /**
   * How long a statement waits for another process or connection to release its lock on the
   * file before failing with `SQLITE_BUSY`.
   * @default 5000
   */
  busyTimeoutMs?: number | undefined;
  /** @default silentLogger from @fairmind/core */
  logger?: Logger | undefined;
  /**
   * prom-client Registry for the pool metrics (the same names as on PostgreSQL, labelled
   * `driver="sqlite"`); none when unset.
   */
  registry?: Registry | undefined;
  /**
   * The `pool` label of the metrics.
   * @default 'default'
   */
  name?: string | undefined;
  /**
   * Prepared statements kept, by text, least recently used evicted first; `0` turns the cache
   * off.
   * @default 200
   */
  statementCacheSize?: number | undefined;
}

type Connection = SqliteConnection;
type Statement = SqliteStatement;

const DEFAULT_URL = 'sqlite:./data/fairmind.db';
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const DEFAULT_STATEMENT_CACHE_SIZE = 200;
const DEFAULT_HEALTH_TIMEOUT_MS = 2000;
// setTimeout's ceiling; larger values fire at once.
const MAX_TIMEOUT_MS = 2_147_483_647;
const MAX_RETRIES = 100;

// ---------------------------------------------------------------------------------------------
// Options

function invalid(option: string, problem: string): FairmindError {
  return new FairmindError('INVALID_OPTIONS', 500, `[@fairmind/db-pool] ${option} ${problem}`);
}

/**
 * The file path (or `':memory:'`) a `sqlite:` URL names, relative paths left relative.
 * @internal
 */
export function sqlitePathFromUrl(url: string): string {
  if (!url.toLowerCase().startsWith('sqlite:')) {
    // Only the scheme is quoted: a postgres:// URL would carry a password.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'no scheme';
    throw invalid(
      'options.url',
      `must be a sqlite: URL such as 'sqlite:./data/app.db', 'sqlite:///abs/app.db' or 'sqlite::memory:' (got ${scheme}); use createDatabase() for postgres:// URLs`,
    );
  }
  let rest = url.slice('sqlite:'.length);
  // 'sqlite:///abs' and 'sqlite://./rel' carry an empty authority, as in file: URLs.
  if (rest.startsWith('//')) rest = rest.slice(2);
  if (rest === '') return sqlitePathFromUrl(DEFAULT_URL);
  return rest;
}

interface Settings {
  path: string;
  memory: boolean;
  busyTimeoutMs: number;
  logger: Logger;
  registry: Registry | undefined;
  name: string;
  statementCacheSize: number;
}

function isNonNegativeInteger(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

function resolveSettings(options: SqliteDatabaseOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'must be an object such as { url: "sqlite:./data/app.db" }');
  }
  const url = options.url ?? DEFAULT_URL;
  if (typeof url !== 'string') throw invalid('options.url', 'must be a string');
  const path = sqlitePathFromUrl(url);
  const memory = path === ':memory:';

  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!isNonNegativeInteger(busyTimeoutMs, MAX_TIMEOUT_MS)) {
    throw invalid(
      'options.busyTimeoutMs',
      `must be a whole number of milliseconds from 0 to ${MAX_TIMEOUT_MS}`,
    );
  }
  const statementCacheSize = options.statementCacheSize ?? DEFAULT_STATEMENT_CACHE_SIZE;
  if (!isNonNegativeInteger(statementCacheSize, Number.MAX_SAFE_INTEGER)) {
    throw invalid(
      'options.statementCacheSize',
      'must be a whole number, 0 or more (0 turns the cache off)',
    );
  }
  const logger = options.logger ?? silentLogger;
  const methods = ['error', 'warn', 'info', 'debug', 'child'] as const;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    methods.some((m) => typeof logger[m] !== 'function')
  ) {
    throw invalid(
      'options.logger',
      'must have error, warn, info, debug and child methods (a pino logger does)',
    );
  }
  const registry = options.registry;
  if (registry !== undefined && typeof registry?.getSingleMetric !== 'function') {
    throw invalid(
      'options.registry',
      'must be a prom-client Registry (createMetricsRegistry() from @fairmind/core/metrics)',
    );
  }
  return {
    path: memory ? path : resolve(path),
    memory,
    busyTimeoutMs,
    logger: logger.child({ component: '@fairmind/db-pool', driver: 'sqlite' }),
    registry,
    name: options.name ?? 'default',
    statementCacheSize,
  };
}

interface TransactionSettings {
  mode: 'DEFERRED' | 'IMMEDIATE' | 'EXCLUSIVE';
  readOnly: boolean;
  retries: number;
}

const ISOLATION_LEVELS: readonly unknown[] = ['read committed', 'repeatable read', 'serializable'];
const SQLITE_MODES: readonly unknown[] = ['deferred', 'immediate', 'exclusive'];

// Validated on every call, as the options differ per call; the checks are a few comparisons.
function resolveTransactionSettings(options: TransactionOptions | undefined): TransactionSettings {
  if (options === undefined) return { mode: 'DEFERRED', readOnly: false, retries: 0 };
  if (typeof options !== 'object' || options === null) {
    throw invalid('transaction options', 'must be an object');
  }
  // isolation and statementTimeoutMs are accepted so that code written for PostgreSQL runs
  // here: SQLite transactions are always serializable and have no statement timeout.
  if (options.isolation !== undefined && !ISOLATION_LEVELS.includes(options.isolation)) {
    throw invalid('transaction option isolation', `must be one of ${ISOLATION_LEVELS.join(', ')}`);
  }
  if (
    options.statementTimeoutMs !== undefined &&
    !isNonNegativeInteger(options.statementTimeoutMs, MAX_TIMEOUT_MS)
  ) {
    throw invalid(
      'transaction option statementTimeoutMs',
      'must be a whole number of milliseconds',
    );
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') {
    throw invalid('transaction option readOnly', 'must be a boolean');
  }
  if (options.retries !== undefined && !isNonNegativeInteger(options.retries, MAX_RETRIES)) {
    throw invalid('transaction option retries', `must be a whole number from 0 to ${MAX_RETRIES}`);
  }
  if (options.sqliteMode !== undefined && !SQLITE_MODES.includes(options.sqliteMode)) {
    throw invalid('transaction option sqliteMode', `must be one of ${SQLITE_MODES.join(', ')}`);
  }
  return {
    mode: (options.sqliteMode ?? 'deferred').toUpperCase() as TransactionSettings['mode'],
    readOnly: options.readOnly ?? false,
    retries: options.retries ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Values and errors

/**
 * Converts a bound value to one SQLite stores. SQLite has no boolean, date or JSON type, so
 * they become 1/0, ISO-8601 text and JSON text; read back, they stay in that form.
 */
function bindValue(value: unknown, index: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'undefined':
      return null;
    case 'object': {
      if (value === null || Buffer.isBuffer(value)) return value;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw invalidParameter(index, 'is an invalid Date');
        return value.toISOString();
      }
      if (ArrayBuffer.isView(value)) {
        return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      }
      try {
        return JSON.stringify(value) ?? null;
      } catch (error) {
        throw invalidParameter(
          index,
          'cannot be serialized to JSON (a cycle or a bigint inside?)',
          error,
        );
      }
    }
    default:
      throw invalidParameter(index, `is a ${typeof value}, which SQL cannot store`);
  }
}

function invalidParameter(index: number, problem: string, cause?: unknown): FairmindError {
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

/**
 * A driver error as a {@link DatabaseError}. Messages are written here from the error code
 * and never copy the driver's text, which can quote the statement (`near "...": syntax
 * error`); the original stays in `cause` for logs.
 */
function toDatabaseError(error: unknown): FairmindError {
  if (error instanceof FairmindError) return error;
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' && rawCode.startsWith('SQLITE_') ? rawCode : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const options = { cause: error, sqlState: code };

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
  if (code?.startsWith('SQLITE_BUSY')) {
    return new DatabaseError(
      'other',
      `the database file stayed locked by another connection or process (${code}): keep write transactions short, raise busyTimeoutMs, start writing transactions with { sqliteMode: 'immediate' }, or pass { retries } to transaction()`,
      options,
    );
  }
  if (code?.startsWith('SQLITE_LOCKED')) {
    return new DatabaseError(
      'other',
      `a table is locked by another statement on this connection (${code}): finish or break an open stream() before writing`,
      options,
    );
  }
  if (code === 'SQLITE_INTERRUPT') {
    return new DatabaseError('query_canceled', `the statement was interrupted (${code})`, options);
  }
  if (code?.startsWith('SQLITE_READONLY')) {
    return new DatabaseError(
      'other',
      `the database refused a write (${code}): the transaction is readOnly, or the file or its directory is not writable`,
      options,
    );
  }
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
  return new DatabaseError(
    'other',
    `the statement failed (${code ?? (error instanceof Error ? error.name : 'unknown error')}); the driver's detail is in the error's cause`,
    options,
  );
}

function isBusy(error: unknown): boolean {
  // Callers may wrap the error; follow a few causes.
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DatabaseError && current.sqlState?.startsWith('SQLITE_BUSY'))
      return true;
    current = current.cause;
  }
  return false;
}

function assertStatement(statement: unknown, method: string): asserts statement is SqlStatement {
  if (
    !(
      typeof statement === 'object' &&
      statement !== null &&
      'strings' in statement &&
      'values' in statement
    )
  ) {
    throw new FairmindError(
      'INVALID_OPTIONS',
      500,
      `[@fairmind/db-pool] ${method}() takes a statement built with the sql tag (sql\`select ...\`), not a string: a string would invite SQL injection; for a trusted script use exec()`,
    );
  }
}

function assertScript(script: unknown): asserts script is string {
  if (typeof script !== 'string') {
    throw new FairmindError(
      'INVALID_OPTIONS',
      500,
      '[@fairmind/db-pool] exec() takes the text of a trusted SQL script',
    );
  }
}

function assertFunction(fn: unknown, method: string): asserts fn is (...args: never[]) => unknown {
  if (typeof fn !== 'function') {
    throw new FairmindError(
      'INVALID_OPTIONS',
      500,
      `[@fairmind/db-pool] ${method}() takes an async function`,
    );
  }
}

function connectionReleasedError(): FairmindError {
  return new FairmindError(
    'CONNECTION_RELEASED',
    500,
    '[@fairmind/db-pool] this connection or transaction handle was used after its callback settled: await every query inside the callback, and use the database object for later work',
  );
}

// ---------------------------------------------------------------------------------------------
// Exclusive use of the one connection

class AcquireTimeout extends Error {}

interface Waiter {
  resolve(): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A FIFO async lock. better-sqlite3 has one synchronous connection, so a transaction whose
 * callback awaits must keep everyone else out until it ends.
 */
class Mutex {
  #held = false;
  readonly #queue: Waiter[] = [];

  get held(): boolean {
    return this.#held;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  acquire(timeoutMs?: number): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, timer: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const index = this.#queue.indexOf(waiter);
          if (index !== -1) this.#queue.splice(index, 1);
          reject(new AcquireTimeout());
        }, timeoutMs);
      }
      this.#queue.push(waiter);
    });
  }

  release(): void {
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#held = false;
      return;
    }
    // The lock passes straight to the next waiter, so nobody can barge in between.
    if (next.timer !== undefined) clearTimeout(next.timer);
    next.resolve();
  }
}

/**
 * Where a call runs: inside `withConnection`, a transaction, a savepoint or a stream. A scope
 * found through AsyncLocalStorage but no longer active (a timer that outlived its callback)
 * falls back to its parent, then to the lock.
 */
interface Scope {
  active: boolean;
  readonly parent: Scope | undefined;
  // Serializes nested transactions started in parallel from one scope, whose savepoints
  // would otherwise interleave (RELEASE of the first would release the second).
  readonly children: Mutex;
}

function newScope(parent: Scope | undefined): Scope {
  return { active: true, parent, children: new Mutex() };
}

// ---------------------------------------------------------------------------------------------
// The database

class SqliteDatabase implements Database {
  readonly driver = 'sqlite' as const;
  readonly #conn: Connection;
  readonly #settings: Settings;
  readonly #logger: Logger;
  readonly #metrics: PoolMetrics | undefined;
  readonly #mutex = new Mutex();
  readonly #als = new AsyncLocalStorage<Scope>();
  readonly #statements = new Map<string, Statement>();
  #savepoints = 0;
  #errors = 0;
  #lastError: string | null = null;
  #refusing = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(conn: Connection, settings: Settings) {
    this.#conn = conn;
    this.#settings = settings;
    this.#logger = settings.logger;
    this.#metrics = settings.registry
      ? poolMetrics(settings.registry, settings.name, 'sqlite')
      : undefined;
    this.#metrics?.track(() => this.status());
  }

  // -- running statements (synchronous; callers hold the connection) --------------------------

  #prepare(text: string): Statement {
    const size = this.#settings.statementCacheSize;
    if (size === 0) return this.#conn.prepare(text);
    const cached = this.#statements.get(text);
    if (cached !== undefined) {
      // Re-insert to mark it most recently used: a Map iterates in insertion order.
      this.#statements.delete(text);
      this.#statements.set(text, cached);
      return cached;
    }
    const statement = this.#conn.prepare(text);
    if (this.#statements.size >= size) {
      const oldest = this.#statements.keys().next();
      if (!oldest.done) this.#statements.delete(oldest.value);
    }
    this.#statements.set(text, statement);
    return statement;
  }

  #fail(error: unknown): FairmindError {
    const mapped = toDatabaseError(error);
    this.#errors++;
    // Constraint and syntax errors are the application's; health() reports the others (a
    // locked or unwritable file, an I/O error).
    const kind = mapped instanceof DatabaseError ? mapped.kind : 'other';
    if (kind === 'other' || kind === 'query_canceled') this.#lastError = mapped.message;
    this.#metrics?.onError(kind);
    return mapped;
  }

  #execute<R extends object>(statement: SqlStatement): QueryResult<R> {
    const { text, values } = compile(statement, 'sqlite');
    const params = values.map(bindValue);
    try {
      const prepared = this.#prepare(text);
      // `reader` is also true for INSERT/UPDATE/DELETE ... RETURNING, which return rows.
      if (prepared.reader) {
        const rows = prepared.all(...params) as R[];
        return { rows, rowCount: rows.length };
      }
      const info = prepared.run(...params);
      return { rows: [], rowCount: info.changes };
    } catch (error) {
      throw this.#fail(error);
    }
  }

  #script(text: string): void {
    try {
      this.#conn.exec(text);
    } catch (error) {
      throw this.#fail(error);
    }
  }

  // -- who may use the connection ---------------------------------------------------------------

  #current(): Scope | undefined {
    let scope = this.#als.getStore();
    while (scope !== undefined && !scope.active) scope = scope.parent;
    return scope;
  }

  async #acquire(timeoutMs?: number): Promise<number> {
    if (this.#refusing) throw poolClosedError();
    const started = performance.now();
    await this.#mutex.acquire(timeoutMs);
    const acquiredAt = performance.now();
    this.#metrics?.onAcquire(acquiredAt - started);
    return acquiredAt;
  }

  #release(acquiredAt: number): void {
    // A caller that ran BEGIN through exec() and never finished it must not hand its open
    // transaction to the next caller.
    if (this.#conn.open && this.#conn.inTransaction) {
      this.#logger.warn(
        {},
        '[@fairmind/db-pool] a connection was released inside a transaction; rolling it back',
      );
      try {
        this.#conn.exec('ROLLBACK');
      } catch (error) {
        this.#logger.error(
          { err: error },
          '[@fairmind/db-pool] rolling back an abandoned transaction failed',
        );
      }
    }
    this.#metrics?.onRelease(performance.now() - acquiredAt);
    this.#mutex.release();
  }

  async #locked<T>(work: () => T | Promise<T>, timeoutMs?: number): Promise<T> {
    const acquiredAt = await this.#acquire(timeoutMs);
    try {
      return await work();
    } finally {
      this.#release(acquiredAt);
    }
  }

  /** Runs `work` now when called inside a scope, else once the lock is ours. */
  #use<T>(statement: unknown, method: string, work: () => T): Promise<T> {
    try {
      if (method === 'exec') assertScript(statement);
      else assertStatement(statement, method);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#current() !== undefined) {
      try {
        return Promise.resolve(work());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#locked(work);
  }

  // -- Queryable ----------------------------------------------------------------------------------

  #one<R extends object>(statement: SqlStatement): R {
    const { rows } = this.#execute<R>(statement);
    const [row] = rows;
    if (row === undefined || rows.length > 1) throw rowCountError('one', rows.length);
    return row;
  }

  #maybeOne<R extends object>(statement: SqlStatement): R | null {
    const { rows } = this.#execute<R>(statement);
    if (rows.length > 1) throw rowCountError('at most one', rows.length);
    return rows[0] ?? null;
  }

  query<R extends object = Row>(statement: SqlStatement): Promise<QueryResult<R>> {
    return this.#use(statement, 'query', () => this.#execute<R>(statement));
  }

  one<R extends object = Row>(statement: SqlStatement): Promise<R> {
    return this.#use(statement, 'one', () => this.#one<R>(statement));
  }

  maybeOne<R extends object = Row>(statement: SqlStatement): Promise<R | null> {
    return this.#use(statement, 'maybeOne', () => this.#maybeOne<R>(statement));
  }

  many<R extends object = Row>(statement: SqlStatement): Promise<R[]> {
    return this.#use(statement, 'many', () => this.#execute<R>(statement).rows);
  }

  exec(script: string): Promise<void> {
    return this.#use(script, 'exec', () => this.#script(script));
  }

  /** The handle given to callbacks: bound to its scope, refused once the scope ends. */
  #handle(scope: Scope): Queryable {
    const run = <T>(statement: unknown, method: string, work: () => T): Promise<T> => {
      try {
        if (!scope.active) throw connectionReleasedError();
        if (method === 'exec') assertScript(statement);
        else assertStatement(statement, method);
        return Promise.resolve(work());
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return {
      query: <R extends object = Row>(statement: SqlStatement) =>
        run(statement, 'query', () => this.#execute<R>(statement)),
      one: <R extends object = Row>(statement: SqlStatement) =>
        run(statement, 'one', () => this.#one<R>(statement)),
      maybeOne: <R extends object = Row>(statement: SqlStatement) =>
        run(statement, 'maybeOne', () => this.#maybeOne<R>(statement)),
      many: <R extends object = Row>(statement: SqlStatement) =>
        run(statement, 'many', () => this.#execute<R>(statement).rows),
      exec: (script: string) => run(script, 'exec', () => this.#script(script)),
    };
  }

  // -- connections and transactions ---------------------------------------------------------

  async withConnection<T>(fn: (connection: Queryable) => Promise<T>): Promise<T> {
    assertFunction(fn, 'withConnection');
    const outer = this.#current();
    // Already exclusive: the one connection is ours, so nesting just reuses it.
    if (outer !== undefined) return fn(this.#handle(outer));
    return this.#locked(async () => {
      const scope = newScope(undefined);
      try {
        return await this.#als.run(scope, () => fn(this.#handle(scope)));
      } finally {
        scope.active = false;
      }
    });
  }

  async transaction<T>(
    fn: (tx: Queryable) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    assertFunction(fn, 'transaction');
    const settings = resolveTransactionSettings(options);
    const outer = this.#current();
    if (outer === undefined) {
      return this.#retrying(settings, () =>
        this.#locked(() => this.#begin(undefined, fn, settings)),
      );
    }
    await outer.children.acquire();
    try {
      if (!outer.active) throw connectionReleasedError();
      if (this.#conn.inTransaction) return await this.#savepoint(outer, fn, settings);
      // Inside withConnection but not yet in a transaction: a real BEGIN, and the lock is
      // already ours, so retries need not queue again.
      return await this.#retrying(settings, () => this.#begin(outer, fn, settings));
    } finally {
      outer.children.release();
    }
  }

  async #retrying<T>(settings: TransactionSettings, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (tries >= settings.retries || !isBusy(error)) throw error;
        // Jittered exponential back-off, so that competing processes do not retry in step.
        const delay = Math.min(1000, 10 * 2 ** tries) * (0.5 + Math.random() / 2);
        this.#logger.debug(
          { attempt: tries + 1, delayMs: Math.round(delay) },
          '[@fairmind/db-pool] SQLITE_BUSY: retrying the transaction',
        );
        await new Promise((done) => setTimeout(done, delay));
      }
    }
  }

  #queryOnly(on: boolean): boolean {
    const previous = this.#conn.pragma('query_only', { simple: true }) === 1;
    if (previous !== on) this.#conn.pragma(`query_only = ${on ? 'ON' : 'OFF'}`);
    return previous;
  }

  async #begin<T>(
    parent: Scope | undefined,
    fn: (tx: Queryable) => Promise<T>,
    settings: TransactionSettings,
  ): Promise<T> {
    this.#script(`BEGIN ${settings.mode}`);
    const scope = newScope(parent);
    let queryOnlyBefore: boolean | undefined;
    try {
      if (settings.readOnly) queryOnlyBefore = this.#queryOnly(true);
      const result = await this.#als.run(scope, () => fn(this.#handle(scope)));
      this.#script('COMMIT');
      return result;
    } catch (error) {
      // SQLite may already have rolled back (after SQLITE_BUSY or SQLITE_FULL, say).
      if (this.#conn.inTransaction) {
        try {
          this.#conn.exec('ROLLBACK');
        } catch (rollbackError) {
          this.#logger.error(
            { err: rollbackError },
            '[@fairmind/db-pool] ROLLBACK failed after a failed transaction',
          );
        }
      }
      throw error;
    } finally {
      scope.active = false;
      if (queryOnlyBefore !== undefined) this.#queryOnly(queryOnlyBefore);
    }
  }

  async #savepoint<T>(
    parent: Scope,
    fn: (tx: Queryable) => Promise<T>,
    settings: TransactionSettings,
  ): Promise<T> {
    const name = `fairmind_sp_${++this.#savepoints}`;
    this.#script(`SAVEPOINT ${name}`);
    const scope = newScope(parent);
    let queryOnlyBefore: boolean | undefined;
    try {
      if (settings.readOnly) queryOnlyBefore = this.#queryOnly(true);
      const result = await this.#als.run(scope, () => fn(this.#handle(scope)));
      this.#script(`RELEASE ${name}`);
      return result;
    } catch (error) {
      if (this.#conn.inTransaction) {
        try {
          // ROLLBACK TO keeps the savepoint open; RELEASE then drops it.
          this.#conn.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
        } catch (rollbackError) {
          this.#logger.error(
            { err: rollbackError },
            '[@fairmind/db-pool] ROLLBACK TO SAVEPOINT failed',
          );
        }
      }
      throw error;
    } finally {
      scope.active = false;
      if (queryOnlyBefore !== undefined) this.#queryOnly(queryOnlyBefore);
    }
  }

  // -- streaming ----------------------------------------------------------------------------------

  stream<R extends object = Row>(
    statement: SqlStatement,
    options?: StreamOptions,
  ): AsyncIterable<R> {
    assertStatement(statement, 'stream');
    // batchSize is for PostgreSQL's cursor; better-sqlite3 reads one row at a time.
    if (
      options?.batchSize !== undefined &&
      !(isNonNegativeInteger(options.batchSize, 1e9) && options.batchSize > 0)
    ) {
      throw invalid('stream option batchSize', 'must be a whole number, 1 or more');
    }
    return this.#iterate<R>(statement);
  }

  async *#iterate<R extends object>(statement: SqlStatement): AsyncGenerator<R, void, undefined> {
    // Decided on the first next(), in the caller's async context.
    const scope = this.#current();
    const acquiredAt = scope === undefined ? await this.#acquire() : undefined;
    try {
      const { text, values } = compile(statement, 'sqlite');
      const params = values.map(bindValue);
      let iterator: IterableIterator<R>;
      try {
        // Not from the cache: a cached statement being iterated could not serve query().
        const prepared = this.#conn.prepare(text);
        if (!prepared.reader) {
          prepared.run(...params);
          return;
        }
        iterator = prepared.iterate(...params) as IterableIterator<R>;
      } catch (error) {
        throw this.#fail(error);
      }
      try {
        for (;;) {
          let next: IteratorResult<R>;
          try {
            next = iterator.next();
          } catch (error) {
            throw this.#fail(error);
          }
          if (next.done) return;
          yield next.value;
        }
      } finally {
        // An early break must end the statement, or the connection stays busy.
        iterator.return?.();
      }
    } finally {
      if (acquiredAt !== undefined) this.#release(acquiredAt);
    }
  }

  // -- status, health, close ----------------------------------------------------------------

  status(): PoolStatus {
    const total = this.#closed ? 0 : 1;
    const active = this.#closed ? 0 : this.#mutex.held ? 1 : 0;
    return {
      size: 1,
      maxOverflow: 0,
      total,
      idle: total - active,
      active,
      waiting: this.#mutex.waiting,
      overflow: 0,
      timeouts: 0,
      errors: this.#errors,
    };
  }

  async health(options?: HealthOptions): Promise<HealthReport> {
    const started = performance.now();
    const report = (ok: boolean, lastError: string | null): HealthReport => ({
      ok,
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      driver: 'sqlite',
      lastError,
    });
    const timeoutMs = options?.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    if (!isNonNegativeInteger(timeoutMs, MAX_TIMEOUT_MS)) {
      return report(
        false,
        '[@fairmind/db-pool] health option timeoutMs must be a whole number of milliseconds',
      );
    }
    if (this.#refusing) return report(false, poolClosedError().message);
    const probe = sql`select 1 as ok`;
    try {
      if (this.#current() !== undefined) this.#execute(probe);
      else await this.#locked(() => this.#execute(probe), timeoutMs);
      return report(true, this.#lastError);
    } catch (error) {
      if (error instanceof AcquireTimeout) {
        const { active, waiting } = this.status();
        return report(
          false,
          `[@fairmind/db-pool] the SQLite connection stayed busy for ${timeoutMs} ms (active=${active} waiting=${waiting}): look for a long transaction or an unfinished stream()`,
        );
      }
      return report(false, error instanceof Error ? error.message : String(error));
    }
  }

  close(): Promise<void> {
    if (this.#current() !== undefined) {
      // Waiting for the lock from inside its holder would never end.
      return Promise.reject(
        new FairmindError(
          'INVALID_STATE',
          500,
          '[@fairmind/db-pool] close() was called inside withConnection(), transaction() or a stream, whose end it would wait for forever: close the database after the callback returns',
        ),
      );
    }
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Work queued before close() still runs; anything asked for from now on is refused.
    const acquired = this.#acquire();
    this.#refusing = true;
    await acquired;
    try {
      this.#statements.clear();
      this.#conn.close();
      this.#logger.info(
        { path: this.#settings.path },
        '[@fairmind/db-pool] SQLite database closed',
      );
    } finally {
      this.#closed = true;
      this.#mutex.release();
    }
  }
}

// ---------------------------------------------------------------------------------------------

function open(Driver: SqliteDriver, settings: Settings): Connection {
  if (!settings.memory) {
    try {
      mkdirSync(dirname(settings.path), { recursive: true });
    } catch (error) {
      throw new FairmindError(
        'INVALID_OPTIONS',
        500,
        `[@fairmind/db-pool] could not create the directory ${dirname(settings.path)} for the SQLite file: make it writable or point options.url elsewhere`,
        { cause: error },
      );
    }
  }
  let conn: Connection;
  try {
    conn = new Driver(settings.path, { timeout: settings.busyTimeoutMs });
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (
      /bindings|NODE_MODULE_VERSION|compiled against|invalid ELF|not a valid Win32/i.test(message)
    ) {
      throw new FairmindError(
        'DRIVER_MISSING',
        500,
        '[@fairmind/db-pool] better-sqlite3 is installed but its native module does not load in this Node.js: run `npm rebuild better-sqlite3` (or reinstall better-sqlite3@12)',
        { cause: error },
      );
    }
    const code = (error as { code?: unknown } | null)?.code;
    throw new DatabaseError(
      'other',
      `could not open the SQLite database ${settings.memory ? 'in memory' : `file ${settings.path}`}: check that it is a SQLite file and that its directory is writable`,
      { cause: error, sqlState: typeof code === 'string' ? code : undefined },
    );
  }
  try {
    // WAL lets readers in other processes (a migration CLI, a backup) work while this one
    // writes; NORMAL synchronous is durable in WAL except on power loss, at a fraction of the
    // fsyncs. An in-memory database has no journal file to put in WAL mode.
    let journalMode = 'memory';
    if (!settings.memory) {
      journalMode = String(conn.pragma('journal_mode = WAL', { simple: true }));
      if (journalMode.toLowerCase() !== 'wal') {
        settings.logger.warn(
          { path: settings.path, journalMode },
          '[@fairmind/db-pool] SQLite refused WAL mode (a network or read-only file system?); concurrent readers will block writers',
        );
      }
    }
    conn.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
    conn.pragma('foreign_keys = ON');
    conn.pragma('synchronous = NORMAL');
    settings.logger.info(
      { path: settings.memory ? ':memory:' : settings.path, journalMode },
      '[@fairmind/db-pool] SQLite database opened',
    );
  } catch (error) {
    conn.close();
    throw toDatabaseError(error);
  }
  return conn;
}

/**
 * A {@link Database} on SQLite through better-sqlite3 (an optional peer dependency: install
 * `better-sqlite3@12`). The file's directory is created when missing and the database runs
 * in WAL mode with foreign keys on. It has the same async API as the PostgreSQL driver; the
 * one connection is used by one caller at a time, and calls made inside `withConnection` or
 * `transaction` (through the handle or through this object) run at once on it, so nested
 * code cannot deadlock.
 *
 * SQLite stores booleans as 1/0, dates as ISO-8601 text and objects or arrays as JSON text,
 * and returns them in that form. Integers beyond 2^53 come back as imprecise numbers.
 * `isolation` and `statementTimeoutMs` are accepted and have no effect (SQLite transactions
 * are serializable); `readOnly` sets `PRAGMA query_only` for the transaction.
 *
 * A `stream()` holds the connection until the loop ends: the loop body may read through the
 * database only inside `withConnection`/`transaction`; anywhere else it would wait for the
 * stream it is part of.
 *
 * @throws FairmindError `INVALID_OPTIONS` naming a bad option, `DRIVER_MISSING` without
 * better-sqlite3, or a DatabaseError when the file cannot be opened.
 *
 * @example
 * ```ts
 * const db = createSqliteDatabase({ url: 'sqlite:./data/app.db' });
 * await db.exec('create table if not exists notes (id integer primary key, body text)');
 * const note = await db.one(sql`insert into notes (body) values (${'hello'}) returning id`);
 * await db.transaction(async (tx) => {
 *   await tx.query(sql`update notes set body = ${'hi'} where id = ${note.id}`);
 * });
 * await db.close();
 * ```
 */
export function createSqliteDatabase(options: SqliteDatabaseOptions = {}): Database {
  const settings = resolveSettings(options);
  const Driver = loadBetterSqlite3();
  return new SqliteDatabase(open(Driver, settings), settings);
}
