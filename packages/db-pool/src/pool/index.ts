import type { Logger } from '@fairmind/core';
import pg from 'pg';
import {
  DatabaseError,
  type PoolSnapshot,
  PoolTimeoutError,
  poolClosedError,
} from '../errors/index.js';

/**
 * A PostgreSQL connection pool with SQLAlchemy QueuePool semantics, written here because
 * pg.Pool has none of them: `size` connections are kept, a burst may open `maxOverflow`
 * more, and a connection returned while `size` are idle is closed at once rather than after
 * an idle timeout. One deadline covers the queue and the connect, and its error tells an
 * exhausted pool from an unreachable server. The wire protocol stays pg's.
 */

/** One pooled connection and what the pool knows about it. */
export interface PooledConnection {
  readonly client: pg.Client;
  readonly id: number;
  /** Set by the pool or a caller when the connection must not be reused. */
  broken: boolean;
  /** Distinct prepared statement names parsed on this connection. */
  readonly prepared: Set<string>;
  /**
   * Names used instead of a statement's own on this connection, once the server invalidated
   * (a schema change) or forgot (`DISCARD ALL`, a pooler) the statement of that name.
   */
  readonly renamed: Map<string, string>;
  /** @internal */ createdAt: number;
  /** @internal */ retireAt: number;
  /** @internal */ releasedAt: number;
  /** @internal */ acquiredAt: number;
  /** @internal */ leakTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Settings of {@link ConnectionPool}, resolved and validated by the caller. */
export interface ConnectionPoolSettings {
  connectionString: string;
  size: number;
  maxOverflow: number;
  timeoutMs: number;
  /** How long one connect (TCP, TLS and the start-up handshake) may take. */
  connectTimeoutMs: number;
  applicationName: string;
  maxLifetimeMs: number;
  idleValidationMs: number;
  leakDetectionMs: number;
  statementCacheSize: number;
  ssl: pg.ClientConfig['ssl'] | undefined;
  logger: Logger;
  onAcquire?: (waitMs: number) => void;
  onRelease?: (heldMs: number) => void;
  onTimeout?: () => void;
  onError?: (kind: string) => void;
}

interface Waiter {
  resolve(connection: PooledConnection): void;
  reject(error: unknown): void;
  readonly startedAt: number;
  readonly timeoutMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Where the caller asked, for leak reports; only captured when leak detection is on. */
  readonly site: Error | undefined;
}

// Connection loss: SQLSTATE class 08 and admin shutdown / crash (57P01-57P03), or a socket
// error with no SQLSTATE at all.
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(08|57P0[1-3])/.test(code)) return true;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true; // ECONNRESET, EPIPE, ...
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection is closed|Client has encountered a connection error|Query read timeout/i.test(
      message,
    )
  );
}

// What the server answers to a login that no retry will fix: these name the setting to change.
const REFUSALS: Readonly<Record<string, string>> = {
  '3D000': 'fix the database name in the URL (DATABASE_URL), or create the database',
  '28P01':
    'fix the user name or password in the URL (DATABASE_URL; percent-encode special characters)',
  '28000':
    'fix the user in the URL (DATABASE_URL), or let it in: CREATE ROLE ... LOGIN, and an entry in pg_hba.conf',
  '42501': 'grant the user CONNECT on the database, or connect as another user',
};

/**
 * A connect error that retrying cannot fix (a database that does not exist, a refused login),
 * as a {@link DatabaseError} of kind `config_invalid` that carries the server's own reason;
 * `undefined` for anything transient (a refused port, a server starting up, too many clients).
 */
function refusedLogin(error: unknown): DatabaseError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  let advice = typeof code === 'string' ? REFUSALS[code] : undefined;
  // pg's own words when the server asks for a password the URL does not have.
  if (advice === undefined && /client password must be a string/.test(text)) {
    advice = 'put the password in the URL (DATABASE_URL)';
  }
  // PgBouncer sends a refused login as a protocol error (08P01), in PostgreSQL's words or its
  // own; taken as the transient 08 class, it would be retried until the deadline.
  if (advice === undefined && code === '08P01') advice = poolerRefusal(text);
  if (advice === undefined) return undefined;
  return new DatabaseError(
    'config_invalid',
    `PostgreSQL refused the connection: ${text}${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}: ${advice}`,
    { cause: error, sqlState: typeof code === 'string' ? code : undefined },
  );
}

/** The advice for a login PgBouncer refused (SQLSTATE 08P01), or none for its other errors. */
function poolerRefusal(text: string): string | undefined {
  if (/^database "[^"]*" does not exist$|^no such database/.test(text)) {
    return `${REFUSALS['3D000']} (PgBouncer forwarded the refusal: also check its [databases] section)`;
  }
  if (/authentication failed$|^no such user/.test(text)) {
    return `${REFUSALS['28P01']}; behind PgBouncer also check its auth_file or auth_query`;
  }
  return undefined;
}

const noop = () => {};

export class ConnectionPool {
  readonly #settings: ConnectionPoolSettings;
  // LIFO: the most recently used connection is the warmest (caches, TCP window).
  readonly #idle: PooledConnection[] = [];
  readonly #active = new Set<PooledConnection>();
  readonly #waiters: Waiter[] = [];
  readonly #ending = new Set<Promise<void>>();
  #connecting = 0;
  #validating = 0;
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #consecutiveConnectFailures = 0;
  #lastConnectError: unknown;
  #timeouts = 0;
  #errors = 0;
  #lastError: string | null = null;

  constructor(settings: ConnectionPoolSettings) {
    this.#settings = settings;
  }

  get max(): number {
    return this.#settings.size + this.#settings.maxOverflow;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  #total(): number {
    return this.#idle.length + this.#active.size + this.#connecting + this.#validating;
  }

  snapshot(): PoolSnapshot & { overflow: number; timeouts: number; errors: number } {
    const total = this.#total();
    return {
      size: this.#settings.size,
      maxOverflow: this.#settings.maxOverflow,
      total,
      idle: this.#idle.length,
      active: this.#active.size,
      waiting: this.#waiters.length,
      overflow: Math.max(0, total - this.#settings.size),
      timeouts: this.#timeouts,
      errors: this.#errors,
    };
  }

  /** Records an error seen on a connection, for `status().errors` and `health().lastError`. */
  noteError(error: unknown, kind = 'connection_lost'): void {
    this.#errors++;
    // Constraint and syntax errors are the application's; health reports the server's.
    if (
      kind === 'connection_lost' ||
      kind === 'other' ||
      kind === 'query_canceled' ||
      kind === 'config_invalid'
    ) {
      this.#lastError = error instanceof Error ? error.message : String(error);
    }
    this.#settings.onError?.(kind);
  }

  /**
   * A connection within `timeoutMs` (the pool's timeout by default), or a
   * {@link PoolTimeoutError}. Resolves without a timer when an idle connection is ready.
   */
  acquire(timeoutMs: number = this.#settings.timeoutMs): Promise<PooledConnection> {
    if (this.#closed) return Promise.reject(poolClosedError());
    // The stack must be taken here, in the caller's frame: activation may happen later, in
    // a connect callback, where the stack shows only the pool.
    const site =
      this.#settings.leakDetectionMs > 0
        ? new Error('[@fairmind/db-pool] connection acquired here')
        : undefined;
    if (this.#waiters.length === 0) {
      const ready = this.#takeReadyIdle();
      if (ready) return Promise.resolve(this.#activate(ready, 0, site));
    }
    return new Promise<PooledConnection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        startedAt: performance.now(),
        timeoutMs,
        timer: undefined,
        site,
      };
      waiter.timer = setTimeout(() => this.#expire(waiter), timeoutMs);
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /**
   * Gives a connection back. It is closed instead of kept when asked, when it is broken,
   * past its lifetime, left inside a transaction (a failed one would answer 25P02 to the
   * next user), holding too many prepared statements, or when `size` are already idle.
   */
  release(connection: PooledConnection, destroy = false): void {
    if (!this.#active.delete(connection)) return;
    if (connection.leakTimer) clearTimeout(connection.leakTimer);
    connection.leakTimer = undefined;
    const now = performance.now();
    this.#settings.onRelease?.(now - connection.acquiredAt);
    const unusable =
      destroy ||
      this.#closed ||
      connection.broken ||
      now >= connection.retireAt ||
      connection.client.getTransactionStatus() !== 'I' ||
      connection.prepared.size > this.#settings.statementCacheSize;
    if (unusable) {
      this.#destroy(connection);
      this.#pump();
    } else {
      connection.releasedAt = now;
      this.#handOff(connection);
    }
    if (this.#closed && this.#active.size === 0) this.#drained?.();
  }

  /**
   * Refuses new work, fails every waiter, waits up to `timeoutMs` for borrowed connections
   * to come back (then closes them anyway), and resolves once every socket is closed.
   */
  close(timeoutMs: number = this.#settings.timeoutMs): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#rejectWaiters(poolClosedError);
    for (const connection of this.#idle.splice(0)) this.#end(connection);
    if (this.#active.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      for (const connection of this.#active) {
        this.#settings.logger.warn(
          { connection: connection.id },
          '[@fairmind/db-pool] closing a connection still borrowed when close() timed out',
        );
        if (connection.leakTimer) clearTimeout(connection.leakTimer);
        this.#end(connection);
      }
      this.#active.clear();
    }
    // Connects still in flight end themselves when they land (see #connect).
    while (this.#ending.size > 0 || this.#connecting > 0 || this.#validating > 0) {
      await Promise.race([...this.#ending, new Promise((resolve) => setTimeout(resolve, 10))]);
    }
  }

  #usable(connection: PooledConnection, now: number): boolean {
    return !connection.broken && now < connection.retireAt;
  }

  #takeReadyIdle(): PooledConnection | undefined {
    const now = performance.now();
    while (this.#idle.length > 0) {
      const connection = this.#idle[this.#idle.length - 1] as PooledConnection;
      if (!this.#usable(connection, now)) {
        this.#idle.pop();
        this.#destroy(connection);
        continue;
      }
      // Long idle connections may have been cut by a firewall or a failover: the slow
      // path validates them first.
      if (now - connection.releasedAt > this.#settings.idleValidationMs) return undefined;
      this.#idle.pop();
      return connection;
    }
    return undefined;
  }

  #activate(
    connection: PooledConnection,
    waitMs: number,
    site: Error | undefined,
  ): PooledConnection {
    this.#active.add(connection);
    connection.acquiredAt = performance.now();
    this.#settings.onAcquire?.(waitMs);
    if (site) {
      connection.leakTimer = setTimeout(() => {
        this.#settings.logger.warn(
          {
            connection: connection.id,
            heldMs: Math.round(performance.now() - connection.acquiredAt),
            stack: site.stack,
          },
          '[@fairmind/db-pool] possible connection leak: a connection has been held longer than leakDetectionMs; the stack shows where it was acquired',
        );
      }, this.#settings.leakDetectionMs);
      connection.leakTimer.unref?.();
    }
    return connection;
  }

  #handOff(connection: PooledConnection): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.resolve(this.#activate(connection, performance.now() - waiter.startedAt, waiter.site));
      return;
    }
    if (this.#closed || this.#idle.length >= this.#settings.size) {
      this.#destroy(connection);
      return;
    }
    this.#idle.push(connection);
  }

  #pump(): void {
    if (this.#closed) return;
    const now = performance.now();
    while (this.#waiters.length > 0 && this.#idle.length > 0) {
      const connection = this.#idle.pop() as PooledConnection;
      if (!this.#usable(connection, now)) {
        this.#destroy(connection);
        continue;
      }
      if (now - connection.releasedAt > this.#settings.idleValidationMs) {
        this.#validate(connection);
        continue;
      }
      this.#handOff(connection);
    }
    let needed = this.#waiters.length - this.#connecting - this.#validating;
    while (needed > 0 && this.#total() < this.max && this.#retryTimer === undefined) {
      this.#connect();
      needed--;
    }
  }

  #validate(connection: PooledConnection): void {
    this.#validating++;
    connection.client
      .query({
        text: 'SELECT 1',
        query_timeout: Math.min(this.#settings.timeoutMs, 5_000),
      } as pg.QueryConfig)
      .then(
        () => {
          this.#validating--;
          connection.releasedAt = performance.now();
          this.#handOff(connection);
        },
        (error: unknown) => {
          this.#validating--;
          this.noteError(error);
          this.#end(connection);
        },
      )
      .finally(() => this.#pump());
  }

  #connect(): void {
    this.#connecting++;
    const connection = this.#open();
    this.#watch(connection);
    const started = performance.now();
    connection.client.connect().then(
      () => this.#connected(connection),
      (error: unknown) => this.#connectFailed(connection, error, started),
    );
  }

  /** A new, not yet connected client and its record. */
  #open(): PooledConnection {
    const settings = this.#settings;
    const client = new pg.Client({
      connectionString: settings.connectionString,
      application_name: settings.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: settings.connectTimeoutMs,
      ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
    });
    const now = performance.now();
    // Jitter spreads retirements so a pool opened at once does not reconnect at once.
    const lifetime = settings.maxLifetimeMs * (1 - Math.random() * 0.1);
    return {
      client,
      id: this.#nextId++,
      broken: false,
      prepared: new Set(),
      renamed: new Map(),
      createdAt: now,
      retireAt: now + lifetime,
      releasedAt: now,
      acquiredAt: now,
      leakTimer: undefined,
    };
  }

  #watch(connection: PooledConnection): void {
    // Without a listener an idle connection's socket error (a server restart, a
    // pg_terminate_backend) would be an uncaught exception and take the process down.
    connection.client.on('error', (error) => {
      connection.broken = true;
      this.noteError(error);
      this.#dropIdle(connection);
    });
    // A socket closed without an error message (a network drop, a proxy restart) ends the
    // client quietly; an idle one must leave the pool before someone borrows it.
    connection.client.on('end', () => {
      connection.broken = true;
      this.#dropIdle(connection);
    });
  }

  /** Takes a connection that died while idle out of the pool; a borrowed one is left alone. */
  #dropIdle(connection: PooledConnection): void {
    const index = this.#idle.indexOf(connection);
    if (index !== -1) {
      this.#idle.splice(index, 1);
      this.#end(connection);
      this.#pump();
    }
  }

  #connected(connection: PooledConnection): void {
    this.#connecting--;
    this.#consecutiveConnectFailures = 0;
    this.#lastConnectError = undefined;
    if (this.#closed) {
      this.#end(connection);
      return;
    }
    connection.releasedAt = performance.now();
    this.#handOff(connection);
    this.#pump();
  }

  #connectFailed(connection: PooledConnection, error: unknown, started: number): void {
    const { connectTimeoutMs } = this.#settings;
    this.#connecting--;
    this.#consecutiveConnectFailures++;
    const refusal = refusedLogin(error);
    // pg reports its own connect timeout as a bare 'timeout expired'.
    this.#lastConnectError =
      refusal ??
      (performance.now() - started >= connectTimeoutMs
        ? new Error(
            `the server did not complete a connect within connectTimeoutMs (${connectTimeoutMs} ms)`,
            { cause: error },
          )
        : error);
    this.noteError(refusal ?? error, refusal ? 'config_invalid' : 'connection_lost');
    connection.client.end().catch(noop);
    if (this.#closed || this.#waiters.length === 0) return;
    // No retry fixes a wrong database or password, so waiting out the deadline would only
    // hide the reason; with connections still open, waiters may yet get one of those.
    if (refusal && this.#idle.length + this.#active.size === 0) {
      this.#rejectWaiters(() => refusal);
      return;
    }
    // Back off so an unreachable server costs a few attempts a second, not a hot loop.
    const delay = Math.min(50 * 2 ** (this.#consecutiveConnectFailures - 1), 1_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pump();
    }, delay);
  }

  /** Fails every waiter at once, each with an error of its own from `reason`. */
  #rejectWaiters(reason: () => unknown): void {
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(reason());
    }
  }

  #expire(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index === -1) return;
    // Snapshot first: the counts must include the waiter that is timing out.
    const snapshot = this.snapshot();
    this.#waiters.splice(index, 1);
    this.#timeouts++;
    this.#settings.onTimeout?.();
    // A connect still pending at the deadline means the server is slow to answer or not
    // answering at all (a blackhole accepts TCP and stays silent): not a busy pool.
    const failed = this.#consecutiveConnectFailures > 0 && this.#lastConnectError !== undefined;
    const pending = !failed && this.#connecting > 0;
    waiter.reject(
      failed || pending
        ? new PoolTimeoutError('unreachable', waiter.timeoutMs, snapshot, {
            cause: failed
              ? this.#lastConnectError
              : new Error(
                  `a connect to PostgreSQL was still unanswered after ${waiter.timeoutMs} ms`,
                ),
          })
        : new PoolTimeoutError('exhausted', waiter.timeoutMs, snapshot),
    );
    // A wait queue that emptied may leave a retry timer with no one to serve.
    if (this.#waiters.length === 0 && this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
  }

  #destroy(connection: PooledConnection): void {
    const index = this.#idle.indexOf(connection);
    if (index !== -1) this.#idle.splice(index, 1);
    this.#end(connection);
  }

  #end(connection: PooledConnection): void {
    const ending = connection.client
      .end()
      .catch(noop)
      .finally(() => this.#ending.delete(ending));
    this.#ending.add(ending);
  }
}
