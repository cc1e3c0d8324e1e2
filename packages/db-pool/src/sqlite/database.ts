import { FairmindError, type Logger, wholeNumberRule } from '@fairmind/core';
import type {
  Database,
  HealthOptions,
  HealthReport,
  PoolStatus,
  Queryable,
  QueryResult,
  Reader,
  ReadOptions,
  ReplicaStatus,
  Row,
  StreamOptions,
  TransactionOptions,
} from '../database/index.js';
import { DatabaseError, poolClosedError, rowCountError } from '../errors/index.js';
import { invalidUse } from '../errors/options.js';
import { type PoolMetrics, poolMetrics } from '../metrics/index.js';
import { ScopeStorage } from '../scope-storage/index.js';
import { compile, type SqlStatement, sql } from '../sql/index.js';
import { bindValue } from './bind.js';
import type { SqliteConnection, SqliteStatement } from './driver.js';
import { connectionReleasedError, isBusy, toDatabaseError } from './errors.js';
import { AcquireTimeout, Mutex } from './mutex.js';
import {
  DEFAULT_HEALTH_TIMEOUT_MS,
  invalid,
  resolveTransactionSettings,
  type Settings,
  TIMEOUT_MS,
  type TransactionSettings,
} from './settings.js';

// better-sqlite3 ignores it, but a value PostgreSQL's cursor would refuse is refused here too.
const BATCH_SIZE = wholeNumberRule({ min: 1, max: 1e9 });

type Connection = SqliteConnection;
type Statement = SqliteStatement;

function assertStatement(statement: unknown, method: string): asserts statement is SqlStatement {
  if (
    !(
      typeof statement === 'object' &&
      statement !== null &&
      'strings' in statement &&
      'values' in statement
    )
  ) {
    throw invalidUse(
      `${method}() takes a statement built with the sql tag (sql\`select ...\`), not a string: a string would invite SQL injection; for a trusted script use exec()`,
    );
  }
}

function assertScript(script: unknown): asserts script is string {
  if (typeof script !== 'string') {
    throw invalidUse('exec() takes the text of a trusted SQL script');
  }
}

function assertFunction(fn: unknown, method: string): asserts fn is (...args: never[]) => unknown {
  if (typeof fn !== 'function') {
    throw invalidUse(`${method}() takes an async function`);
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

/** The statements that open, commit and roll back a transaction or a savepoint. */
interface ScopeStatements {
  readonly open: string;
  readonly commit: string;
  readonly rollback: string;
  readonly rollbackFailed: string;
}

function newScope(parent: Scope | undefined): Scope {
  return { active: true, parent, children: new Mutex() };
}

export class SqliteDatabase implements Database {
  readonly driver = 'sqlite' as const;
  readonly #conn: Connection;
  readonly #settings: Settings;
  readonly #logger: Logger;
  readonly #metrics: PoolMetrics | undefined;
  readonly #mutex = new Mutex();
  readonly #als = new ScopeStorage<Scope>();
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

  #begin<T>(
    parent: Scope | undefined,
    fn: (tx: Queryable) => Promise<T>,
    settings: TransactionSettings,
  ): Promise<T> {
    return this.#scoped(parent, fn, settings, {
      open: `BEGIN ${settings.mode}`,
      commit: 'COMMIT',
      rollback: 'ROLLBACK',
      rollbackFailed: '[@fairmind/db-pool] ROLLBACK failed after a failed transaction',
    });
  }

  #savepoint<T>(
    parent: Scope,
    fn: (tx: Queryable) => Promise<T>,
    settings: TransactionSettings,
  ): Promise<T> {
    const name = `fairmind_sp_${++this.#savepoints}`;
    return this.#scoped(parent, fn, settings, {
      open: `SAVEPOINT ${name}`,
      commit: `RELEASE ${name}`,
      // ROLLBACK TO keeps the savepoint open; RELEASE then drops it.
      rollback: `ROLLBACK TO ${name}; RELEASE ${name}`,
      rollbackFailed: '[@fairmind/db-pool] ROLLBACK TO SAVEPOINT failed',
    });
  }

  /** A transaction or a savepoint: the same run, between different statements. */
  async #scoped<T>(
    parent: Scope | undefined,
    fn: (tx: Queryable) => Promise<T>,
    settings: TransactionSettings,
    statements: ScopeStatements,
  ): Promise<T> {
    this.#script(statements.open);
    const scope = newScope(parent);
    let queryOnlyBefore: boolean | undefined;
    try {
      if (settings.readOnly) queryOnlyBefore = this.#queryOnly(true);
      const result = await this.#als.run(scope, () => fn(this.#handle(scope)));
      this.#script(statements.commit);
      return result;
    } catch (error) {
      // SQLite may already have rolled back (after SQLITE_BUSY or SQLITE_FULL, say).
      if (this.#conn.inTransaction) {
        try {
          this.#conn.exec(statements.rollback);
        } catch (rollbackError) {
          this.#logger.error({ err: rollbackError }, statements.rollbackFailed);
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
    if (options?.batchSize !== undefined && !BATCH_SIZE.accepts(options.batchSize)) {
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

  /** SQLite has no replicas: every read runs here (inside a scope, on its connection). */
  read(_options?: ReadOptions): Reader {
    return this;
  }

  /** SQLite has no replicas to wait for. */
  writePosition(): Promise<string | null> {
    return Promise.resolve(null);
  }

  replicas(): ReplicaStatus[] {
    return [];
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
    if (!TIMEOUT_MS.accepts(timeoutMs)) {
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
