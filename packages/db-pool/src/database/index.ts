import type { PoolSnapshot } from '../errors/index.js';
import type { ReplicaStatus } from '../replicas/index.js';
import type { SqlStatement } from '../sql/index.js';

/** Which engine a {@link Database} runs on. */
export type Driver = 'postgres' | 'sqlite';

/**
 * A result row: column name to value. The row type parameters of {@link Queryable} take any
 * object type, so an `interface Item { id: string }` works as well as a type alias (an
 * interface has no index signature, so `Record<string, unknown>` would refuse it).
 */
export type Row = Record<string, unknown>;

/** The rows of a query and how many rows it touched. */
export interface QueryResult<R extends object = Row> {
  readonly rows: R[];
  /** Rows returned by a read, or changed by a write. */
  readonly rowCount: number;
}

/** What runs statements: the database itself, and the handle inside a connection or transaction. */
export interface Queryable {
  /** Runs a statement and returns its rows and row count. */
  query<R extends object = Row>(statement: SqlStatement): Promise<QueryResult<R>>;
  /** Exactly one row, else a `NOT_FOUND` (none) or `TOO_MANY_ROWS` error. */
  one<R extends object = Row>(statement: SqlStatement): Promise<R>;
  /** One row or `null`; several rows are a `TOO_MANY_ROWS` error. */
  maybeOne<R extends object = Row>(statement: SqlStatement): Promise<R | null>;
  /** Every row. */
  many<R extends object = Row>(statement: SqlStatement): Promise<R[]>;
  /**
   * Runs a trusted script of one or more statements without parameters, such as a
   * migration file. Never pass it text built from input.
   */
  exec(script: string): Promise<void>;
}

/** SQL isolation levels (PostgreSQL's names; SQLite transactions are always serializable). */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/** Options of {@link Database.transaction}. */
export interface TransactionOptions {
  /**
   * @default the server's default ('read committed' on PostgreSQL)
   */
  isolation?: IsolationLevel | undefined;
  /**
   * Start the transaction `READ ONLY` (PostgreSQL).
   * @default false
   */
  readOnly?: boolean | undefined;
  /**
   * `SET LOCAL statement_timeout` for this transaction, in milliseconds (PostgreSQL).
   * @default the server's setting
   */
  statementTimeoutMs?: number | undefined;
  /**
   * How many times to run `fn` again after a serialization failure (40001), a deadlock
   * (40P01) or a prepared statement gone stale (a schema change), with a short jittered
   * back-off. `fn` must be safe to repeat.
   * @default 0
   */
  retries?: number | undefined;
  /**
   * On SQLite, `IMMEDIATE` takes the write lock at `BEGIN` (what migrations need).
   * @default 'deferred'
   */
  sqliteMode?: 'deferred' | 'immediate' | 'exclusive' | undefined;
}

/** Options of {@link Database.stream}. */
export interface StreamOptions {
  /**
   * Rows fetched per round trip (PostgreSQL cursor).
   * @default 100
   */
  batchSize?: number | undefined;
}

/** A pool's counters, as `status()` and `/health` report them. */
export interface PoolStatus extends PoolSnapshot {
  /** Connections open beyond `size`. */
  readonly overflow: number;
  /** Acquires that failed with `PoolTimeoutError` so far. */
  readonly timeouts: number;
  /** Connection and query errors so far. */
  readonly errors: number;
}

/** What `health()` finds. It never throws. */
export interface HealthReport {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly driver: Driver;
  /** The last error seen by the probe or the pool, as a message, or `null`. */
  readonly lastError: string | null;
}

/** Options of {@link Database.health}. */
export interface HealthOptions {
  /**
   * The probe's own deadline, acquire included.
   * @default 2000
   */
  timeoutMs?: number | undefined;
}

/** The reading half of {@link Queryable}: what may run on a read replica. */
export type Reader = Pick<Queryable, 'query' | 'one' | 'maybeOne' | 'many'>;

/** Options of {@link Database.read}. */
export interface ReadOptions {
  /**
   * A WAL position from {@link Database.writePosition}, taken after a write committed: only a
   * replica that has replayed it is used, so the read sees that write (read-your-writes).
   * `null` or absent: any replica within the lag limit.
   * @default undefined
   */
  after?: string | null | undefined;
}

export type { ReplicaStatus } from '../replicas/index.js';

/**
 * One API over PostgreSQL and SQLite. Calls made inside `withConnection` or `transaction`
 * (also through this object, from any nested function) run on that connection, so nested
 * code never waits for a second connection from the pool it is holding.
 */
export interface Database extends Queryable {
  readonly driver: Driver;
  /** Holds one connection for `fn`, released when it settles, whatever happens. */
  withConnection<T>(fn: (connection: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction: commit when it returns, roll back when it throws. Inside
   * another transaction it becomes a SAVEPOINT.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Streams a large result in batches without holding it all in memory. */
  stream<R extends object = Row>(
    statement: SqlStatement,
    options?: StreamOptions,
  ): AsyncIterable<R>;
  /**
   * Runs reads on a read replica when the database has usable ones (PostgreSQL with
   * `replicas`), else on the primary: inside `withConnection` or `transaction`, on that
   * connection. A replica that fails a read (gone, or a query cancelled by recovery) is left
   * out and the read runs on the primary, so a caller never sees a replica's outage. Only
   * reads belong here: a replica refuses writes (SQLSTATE 25006).
   */
  read(options?: ReadOptions): Reader;
  /**
   * The primary's WAL position now (`pg_current_wal_lsn()`), to pass as `read({ after })` so
   * a later read sees what was written before; call it after the write has committed. `null`
   * on SQLite, which has no replicas.
   */
  writePosition(): Promise<string | null>;
  /** Each read replica's state; empty without replicas. */
  replicas(): ReplicaStatus[];
  /** Pool counters, synchronously. */
  status(): PoolStatus;
  /** Runs a probe with its own deadline. */
  health(options?: HealthOptions): Promise<HealthReport>;
  /** Waits for work in progress, refuses new work, and closes every connection. */
  close(): Promise<void>;
}
