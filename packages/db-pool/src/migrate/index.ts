import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FairmindError, findCause, type Logger, silentLogger, toIsoTime } from '@fairmind/core';
import type { Database, Driver, Queryable } from '../database/index.js';
import { invalidUse } from '../errors/options.js';
import { type SqlStatement, sql } from '../sql/index.js';
import { describe, migrationError, PREFIX } from './errors.js';
import { type LoadedMigration, loadMigrationTexts } from './files.js';
import { splitPostgresStatements } from './split-statements.js';

/** Options of {@link migrate}, {@link planMigrations} and {@link migrationStatus}. */
export interface MigrateOptions {
  /** The database to migrate (PostgreSQL or SQLite). */
  db: Database;
  /** The directory holding the `NNN_name.sql` files. */
  dir: string;
  /**
   * The table that records applied migrations, optionally schema-qualified (`app.migrations`).
   * @default 'schema_migrations'
   */
  table?: string | undefined;
  /**
   * Receives one `info` line per applied file.
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/** One migration file, as chosen for a driver. */
export interface MigrationFile {
  /** The number in front of the name; files apply in numeric order. */
  readonly version: number;
  /** The part between `NNN_` and `.sql` (or `.pg.sql` / `.sqlite.sql`). */
  readonly name: string;
  /** The file name inside the migrations directory, e.g. `001_initial_schema.pg.sql`. */
  readonly file: string;
  /** SHA-256 (hex) of the text with CRLF and CR turned into LF. */
  readonly checksum: string;
  /** `false` when the first line is `-- fairmind:no-transaction`. */
  readonly transactional: boolean;
}

/** Where one migration stands, as {@link migrationStatus} reports it. */
export interface MigrationStatusEntry {
  readonly version: number;
  readonly name: string;
  /**
   * `applied`: recorded with the file's checksum. `pending`: in the directory, not recorded.
   * `changed`: recorded, but the file's text differs. `missing`: recorded, but no file.
   */
  readonly state: 'applied' | 'pending' | 'changed' | 'missing';
  /** When it was recorded (ISO 8601), or `null` when pending. */
  readonly appliedAt: string | null;
  /** The file's checksum, or the recorded one when the file is missing. */
  readonly checksum: string;
}

interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: string;
}

type AppliedRow = {
  version: number | string;
  name: string;
  checksum: string;
  applied_at: Date | string;
};

/** The migrations table, its quoted forms and the advisory lock key derived from its name. */
interface Target {
  readonly display: string;
  readonly parts: readonly string[];
  readonly id: ReturnType<typeof sql.id>;
  readonly lockKey: string;
}

const DEFAULT_TABLE = 'schema_migrations';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads the migrations of a directory that apply to one driver, in numeric order (`001` <
 * `002` < `010`, never lexical). `NNN_name.pg.sql` / `NNN_name.sqlite.sql` replace
 * `NNN_name.sql` on their driver and are ignored on the other. Two files with one version for
 * the same driver, a `.sql` file not named `NNN_name.sql`, or a missing directory are errors.
 *
 * @example
 * ```ts
 * const files = await loadMigrations('./migrations', db.driver);
 * for (const file of files) console.log(file.version, file.file, file.checksum);
 * ```
 */
export async function loadMigrations(dir: string, driver: Driver): Promise<MigrationFile[]> {
  const loaded = await loadMigrationTexts(dir, driver);
  return loaded.map(({ text: _text, ...file }) => file);
}

/**
 * Applies the pending migrations of `dir` in numeric order, each file in its own transaction
 * together with its row in the migrations table. A file whose first line is
 * `-- fairmind:no-transaction` runs outside a transaction (for `CREATE INDEX CONCURRENTLY`)
 * and is recorded after it succeeds. Before anything runs, an applied file that changed
 * (`MIGRATION_CHANGED`) or went missing (`MIGRATION_MISSING`) is an error naming it. A
 * failing file is rolled back, not recorded, and reported as `MIGRATION_FAILED` naming it;
 * the files before it stay applied.
 *
 * Several processes may migrate at once: each file is applied exactly once (a
 * transaction-level advisory lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite, then a re-check
 * that the file is still pending). Resolves with the files this call applied. Call it outside
 * any transaction. No-transaction files hold a session-level advisory lock on PostgreSQL, so
 * they need a direct connection or PgBouncer in session mode; the rest work in transaction mode.
 *
 * @example
 * ```ts
 * const db = createDatabase({ url: process.env.DATABASE_URL });
 * const { applied } = await migrate({ db, dir: './migrations' });
 * console.log(`applied ${applied.length} migration(s)`);
 * ```
 */
export async function migrate(options: MigrateOptions): Promise<{ applied: MigrationFile[] }> {
  const { db, dir } = options;
  const logger = options.logger ?? silentLogger;
  const target = resolveTarget(options.table);
  const files = await loadMigrationTexts(dir, db.driver);
  await ensureTable(db, target, logger);
  const recorded = await readApplied(db, target);
  const pending = pendingMigrations(files, recorded, dir, target);
  const lastApplied = Math.max(-1, ...recorded.keys());

  const run: MigrationRun = { db, target, logger, dir };
  const applied: MigrationFile[] = [];
  for (const migration of pending) {
    if (migration.version < lastApplied) {
      logger.warn(
        { version: migration.version, file: migration.file, lastApplied },
        `${PREFIX} applying ${migration.file} after a higher version was already applied`,
      );
    }
    const started = performance.now();
    const ran = migration.transactional
      ? await applyInTransaction(run, migration)
      : await applyWithoutTransaction(run, migration);
    const { text: _text, ...file } = migration;
    if (!ran) {
      logger.debug(
        { version: migration.version, file: migration.file },
        `${PREFIX} ${migration.file} was applied by another process meanwhile`,
      );
      continue;
    }
    applied.push(file);
    logger.info(
      {
        version: migration.version,
        name: migration.name,
        file: migration.file,
        transactional: migration.transactional,
        durationMs: Math.round(performance.now() - started),
      },
      `${PREFIX} applied migration ${migration.file}`,
    );
  }
  return { applied };
}

/** The files on disk and the rows recorded, read without creating the table (dry runs). */
async function readState(options: MigrateOptions) {
  const target = resolveTarget(options.table);
  const files = await loadMigrationTexts(options.dir, options.db.driver);
  const recorded = (await tableExists(options.db, target))
    ? await readApplied(options.db, target)
    : new Map<number, AppliedMigration>();
  return { target, files, recorded };
}

/**
 * The dry run of {@link migrate}: the files it would apply now, in order, without changing
 * anything (the migrations table is not even created). Fails the same way on a changed or
 * missing applied file.
 *
 * @example
 * ```ts
 * const plan = await planMigrations({ db, dir: './migrations' });
 * for (const file of plan) console.log(`would apply ${file.file}`);
 * ```
 */
export async function planMigrations(options: MigrateOptions): Promise<MigrationFile[]> {
  const { files, recorded, target } = await readState(options);
  return pendingMigrations(files, recorded, options.dir, target).map(
    ({ text: _text, ...file }) => file,
  );
}

/**
 * Every migration in the directory or the migrations table, by version, with its state:
 * `applied`, `pending`, `changed` or `missing`. It reports changed and missing files instead
 * of failing, and changes nothing.
 *
 * @example
 * ```ts
 * for (const entry of await migrationStatus({ db, dir: './migrations' })) {
 *   console.log(entry.version, entry.name, entry.state, entry.appliedAt ?? '-');
 * }
 * ```
 */
export async function migrationStatus(options: MigrateOptions): Promise<MigrationStatusEntry[]> {
  const { files, recorded } = await readState(options);
  const entries: MigrationStatusEntry[] = [];
  const seen = new Set<number>();
  for (const file of files) {
    seen.add(file.version);
    const row = recorded.get(file.version);
    entries.push({
      version: file.version,
      name: file.name,
      state: row === undefined ? 'pending' : row.checksum === file.checksum ? 'applied' : 'changed',
      appliedAt: row?.appliedAt ?? null,
      checksum: file.checksum,
    });
  }
  for (const row of recorded.values()) {
    if (seen.has(row.version)) continue;
    entries.push({
      version: row.version,
      name: row.name,
      state: 'missing',
      appliedAt: row.appliedAt,
      checksum: row.checksum,
    });
  }
  return entries.sort((a, b) => a.version - b.version);
}

function resolveTarget(table: string | undefined): Target {
  const display = table ?? DEFAULT_TABLE;
  const parts = display.split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw invalidUse(
      `migrations table ${JSON.stringify(display)} is not a plain name: use letters, ` +
        "digits and _ (optionally schema-qualified, as in 'app.schema_migrations')",
    );
  }
  // One fixed 64-bit key per table name, so migrators of one table exclude each other and
  // never collide with an application's small advisory lock numbers by accident.
  const digest = createHash('sha256').update(`fairmind:migrate:${display}`).digest();
  const lockKey = digest.readBigInt64BE(0).toString();
  return { display, parts, id: sql.id(...parts), lockKey };
}

function pendingMigrations(
  files: readonly LoadedMigration[],
  recorded: ReadonlyMap<number, AppliedMigration>,
  dir: string,
  target: Target,
): LoadedMigration[] {
  const byVersion = new Map(files.map((file) => [file.version, file]));
  for (const row of [...recorded.values()].sort((a, b) => a.version - b.version)) {
    const file = byVersion.get(row.version);
    if (file === undefined) throw missingError(row, dir, target);
    if (file.checksum !== row.checksum) throw changedError(file, row.checksum, dir, target);
  }
  return files.filter((file) => !recorded.has(file.version));
}

function missingError(row: AppliedMigration, dir: string, target: Target): FairmindError {
  return migrationError(
    'MIGRATION_MISSING',
    `migration version ${row.version} (${row.name}, applied ${row.appliedAt}) is recorded in ` +
      `${target.display} but its file is not in ${dir}: restore it as NNN_${row.name}.sql; never ` +
      'delete an applied migration, undo it with a new one',
  );
}

function changedError(
  file: MigrationFile,
  recordedChecksum: string,
  dir: string,
  target: Target,
): FairmindError {
  return migrationError(
    'MIGRATION_CHANGED',
    `migration ${join(dir, file.file)} was changed after it was applied (checksum in ` +
      `${target.display} ${recordedChecksum.slice(0, 12)}, on disk ${file.checksum.slice(0, 12)}): ` +
      'restore the applied text and put the change in a new migration file',
  );
}

function failedError(migration: MigrationFile, dir: string, cause: unknown): FairmindError {
  // The driver's own words (`relation "x" does not exist`) are what a migration author needs;
  // DatabaseError keeps them on its cause so that HTTP responses and logs never carry them.
  let reason = describe(cause);
  const root = rootCause(cause);
  if (root !== cause && root instanceof Error && !reason.includes(root.message)) {
    reason += `: ${root.message}`;
  }
  const inTransactionBlock =
    sqlStateOf(cause) === '25001' || /cannot run inside a transaction block/i.test(reason);
  const hint = inTransactionBlock
    ? ' (make -- fairmind:no-transaction its first line to run it outside a transaction)'
    : '';
  const outcome = migration.transactional
    ? 'was rolled back and not recorded'
    : 'ran outside a transaction and was not recorded; statements before the failing one may ' +
      'have taken effect, so check them';
  return migrationError(
    'MIGRATION_FAILED',
    `migration ${join(dir, migration.file)} failed and ${outcome}: ${reason}${hint}. Fix the file ` +
      'and migrate again',
    cause,
  );
}

function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 10; depth++) {
    const next = current instanceof Error ? current.cause : undefined;
    if (next === undefined) return current;
    current = next;
  }
  return current;
}

function sqlStateOf(error: unknown): string | undefined {
  const found = findCause(error, (cause) => sqlStateIn(cause) !== undefined);
  return found === undefined ? undefined : sqlStateIn(found);
}

function sqlStateIn(error: Error): string | undefined {
  const state = (error as { sqlState?: unknown }).sqlState ?? (error as { code?: unknown }).code;
  return typeof state === 'string' && /^[0-9A-Z]{5}$/.test(state) ? state : undefined;
}

function nowSql(driver: Driver): SqlStatement {
  return driver === 'postgres' ? sql`now()` : sql`strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
}

/** Thrown inside a transaction to roll it back when another migrator holds the lock. */
const LOCK_BUSY = Symbol('fairmind.migrate.lockBusy');

/** How long to wait before asking for the lock again: 10 ms doubling to 320 ms, jittered. */
function lockBackoff(attempt: number): number {
  const base = 10 * 2 ** Math.min(attempt, 5);
  return base / 2 + Math.random() * base;
}

function waitingForLock(logger: Logger, target: Target, attempt: number, what: string): void {
  if (attempt !== 0) return;
  logger.info(
    { table: target.display },
    `${PREFIX} another process is migrating ${target.display}; waiting for it before ${what}`,
  );
}

/** What takes the migrations lock: the database, its migrations table, and where waits are logged. */
interface Locker {
  readonly db: Database;
  readonly target: Target;
  readonly logger: Logger;
}

/** One {@link migrate} call, as the functions applying its files share it. */
interface MigrationRun extends Locker {
  /** The migrations directory, as errors name it. */
  readonly dir: string;
}

/**
 * Runs `fn` in a transaction that holds the migrations lock: on PostgreSQL a
 * transaction-level advisory lock (released by COMMIT or ROLLBACK, so it can never be left
 * held), on SQLite the write lock of BEGIN IMMEDIATE. Read committed, so each statement sees
 * what other migrators committed before the lock was granted.
 *
 * On PostgreSQL the lock is tried, never waited for inside the transaction: another
 * migrator may be running CREATE INDEX CONCURRENTLY, which waits for every transaction
 * holding a snapshot to end, including one blocked on this lock (a deadlock). So a busy lock
 * rolls the transaction back, and it is tried again in a new one after a short back-off.
 */
async function lockedTransaction<T>(
  locker: Locker,
  what: string,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  const { db, target, logger } = locker;
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction(
        async (tx) => {
          if (db.driver === 'postgres') {
            const { locked } = await tx.one<{ locked: boolean }>(
              sql`select pg_try_advisory_xact_lock(${target.lockKey}::bigint) as locked`,
            );
            if (!locked) throw LOCK_BUSY;
          }
          return fn(tx);
        },
        // Behind PgBouncer in transaction mode before db-pool has noticed it, the first
        // prepared statement of a fresh process can meet one of another client's (42P05 or
        // 26000, DB_STALE_STATEMENT) and abort the transaction; db-pool then stops naming
        // statements, so the same transaction succeeds again. fn only writes to the
        // database, so running it again after a rollback repeats nothing.
        { sqliteMode: 'immediate', isolation: 'read committed', retries: 3 },
      );
    } catch (error) {
      if (error !== LOCK_BUSY) throw error;
    }
    waitingForLock(logger, target, attempt, what);
    await sleep(lockBackoff(attempt));
  }
}

/**
 * Takes the session-level advisory lock on a held PostgreSQL connection, trying outside any
 * transaction for the same reason as {@link lockedTransaction}, and resolves with the server
 * process that holds it.
 */
async function lockSession(
  connection: Queryable,
  target: Target,
  logger: Logger,
  what: string,
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const { locked, pid } = await connection.one<{ locked: boolean; pid: number }>(
      sql`select pg_try_advisory_lock(${target.lockKey}::bigint) as locked, pg_backend_pid() as pid`,
    );
    if (locked) return pid;
    waitingForLock(logger, target, attempt, what);
    await sleep(lockBackoff(attempt));
  }
}

async function ensureTable(db: Database, target: Target, logger: Logger): Promise<void> {
  const { id } = target;
  const create =
    db.driver === 'postgres'
      ? sql`create table if not exists ${id} (
          version bigint primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now()
        )`
      : sql`create table if not exists ${id} (
          version integer primary key,
          name text not null,
          checksum text not null,
          applied_at text not null
        )`;
  // CREATE TABLE IF NOT EXISTS is not atomic on PostgreSQL: two sessions can both pass the
  // check and one then fails on the catalog's unique index. The lock serialises them.
  await lockedTransaction({ db, target, logger }, `creating ${target.display}`, async (tx) => {
    await tx.query(create);
  });
}

async function tableExists(db: Database, target: Target): Promise<boolean> {
  if (db.driver === 'postgres') {
    const quoted = target.parts.map((part) => `"${part}"`).join('.');
    const row = await db.one<{ found: boolean }>(
      sql`select to_regclass(${quoted}) is not null as found`,
    );
    return row.found;
  }
  const [schema, table] = target.parts.length === 2 ? target.parts : ['main', ...target.parts];
  const row = await db.maybeOne(
    sql`select 1 as found from ${sql.id(schema ?? 'main')}.sqlite_master
        where type = 'table' and name = ${table ?? DEFAULT_TABLE}`,
  );
  return row !== null;
}

async function readApplied(db: Queryable, target: Target): Promise<Map<number, AppliedMigration>> {
  const rows = await db.many<AppliedRow>(
    sql`select version, name, checksum, applied_at from ${target.id} order by version`,
  );
  return new Map(
    rows.map((row) => {
      const applied: AppliedMigration = {
        version: Number(row.version),
        name: row.name,
        checksum: row.checksum,
        appliedAt: toIsoTime(row.applied_at),
      };
      return [applied.version, applied];
    }),
  );
}

/**
 * Under the lock: is the file still pending? A row with another checksum means a concurrent
 * migrator applied a different text of the same version, which is as wrong as an edit.
 */
async function stillPending(
  q: Queryable,
  target: Target,
  migration: LoadedMigration,
  dir: string,
): Promise<boolean> {
  const row = await q.maybeOne<{ checksum: string }>(
    sql`select checksum from ${target.id} where version = ${migration.version}`,
  );
  if (row === null) return true;
  if (row.checksum !== migration.checksum) {
    throw changedError(migration, row.checksum, dir, target);
  }
  return false;
}

function recordStatement(driver: Driver, target: Target, migration: MigrationFile): SqlStatement {
  return sql`insert into ${target.id} (version, name, checksum, applied_at)
    values (${migration.version}, ${migration.name}, ${migration.checksum}, ${nowSql(driver)})`;
}

async function applyInTransaction(run: MigrationRun, migration: LoadedMigration): Promise<boolean> {
  const { db, target, dir } = run;
  try {
    return await lockedTransaction(run, `applying ${migration.file}`, async (tx) => {
      if (!(await stillPending(tx, target, migration, dir))) return false;
      await tx.exec(migration.text);
      await tx.query(recordStatement(db.driver, target, migration));
      return true;
    });
  } catch (error) {
    // COMMIT can fail too (a deferred constraint the file broke): that is the file failing.
    throw isMigrationError(error) ? error : failedError(migration, dir, error);
  }
}

async function applyWithoutTransaction(
  run: MigrationRun,
  migration: LoadedMigration,
): Promise<boolean> {
  const { db, target, logger } = run;
  return db.withConnection(async (connection) => {
    const postgres = db.driver === 'postgres';
    let holder: number | undefined;
    if (postgres) {
      // A session-level lock on the held connection: the file must run outside a transaction,
      // so the transaction-level lock cannot cover it. Released in the finally below; if the
      // connection itself died, the server dropped the lock with the session.
      holder = await lockSession(connection, target, logger, `applying ${migration.file}`);
      await requireOneSession(connection, target, migration, holder);
    }
    // SQLite has no lock to take outside a transaction: the re-check narrows the window and
    // the primary key on version refuses a second record. Such files are rare on SQLite
    // (VACUUM, PRAGMA foreign_keys around a table rebuild).
    let outcome: { ran: boolean } | { error: unknown };
    try {
      outcome = { ran: await runOutsideTransaction(connection, run, migration) };
    } catch (error) {
      outcome = { error };
      // A file that opened its own transaction and failed inside it leaves the session
      // aborted, where even the unlock would fail: end that transaction first. Outside a
      // transaction ROLLBACK is a warning on PostgreSQL and an ignored error on SQLite.
      await connection.exec('rollback').catch(() => {});
    }
    if (holder !== undefined) {
      try {
        const { unlocked } = await connection.one<{ unlocked: boolean }>(
          sql`select pg_advisory_unlock(${target.lockKey}::bigint) as unlocked`,
        );
        if (!unlocked) {
          // A pooler moved the session after the check above: free the lock where it is.
          await releaseStrandedLock(connection, target, holder);
          logger.warn(
            { file: migration.file, pid: holder },
            `${PREFIX} ${migration.file} ran, but its session lock was on another server session when it ended: ${ONE_SESSION_ADVICE}`,
          );
        }
      } catch (unlockError) {
        // Never hide the migration's own error behind the unlock's.
        if ('ran' in outcome) throw unlockError;
      }
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.ran;
  });
}

const ONE_SESSION_ADVICE =
  'a -- fairmind:no-transaction migration needs one database session from its lock to its ' +
  'end, and this connection is pooled per transaction (PgBouncer in transaction mode): run ' +
  'migrations against PostgreSQL directly (DATABASE_URL of the server) or through PgBouncer ' +
  'in session mode';

/**
 * A pooler in transaction mode sends each statement of a "held" connection to whichever
 * server session is free, so the session lock just taken may sit on a session this
 * connection no longer reaches: it would then stay held after the run, and every later
 * migrator would wait for it. Caught here, before the file runs, by asking which session
 * answers now; the lock is released and the run refused with what to do instead. (A quiet
 * pooler may hand back the same session by chance: then lock and unlock meet, and the check
 * at unlock covers the rest.)
 */
async function requireOneSession(
  connection: Queryable,
  target: Target,
  migration: LoadedMigration,
  holder: number,
): Promise<void> {
  const { pid } = await connection.one<{ pid: number }>(sql`select pg_backend_pid() as pid`);
  if (pid === holder) return;
  await releaseStrandedLock(connection, target, holder);
  throw migrationError(
    'MIGRATION_NEEDS_SESSION',
    `${migration.file} was not applied: ${ONE_SESSION_ADVICE} (lock table ${target.display})`,
  );
}

/**
 * Releases a lock held by a server session this connection no longer reaches for sure. The
 * unlock is sent again while the pooler hands each statement to some session, until it lands
 * on the holder (a few tries on a small pool); failing that, the holder is ended, the only
 * other way to release another session's advisory lock, at the cost of whatever another
 * client is running on it then: better than a lock that outlives the run and holds up every
 * later migrator.
 */
async function releaseStrandedLock(
  connection: Queryable,
  target: Target,
  holder: number,
): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const { unlocked } = await connection.one<{ unlocked: boolean }>(
      sql`select pg_advisory_unlock(${target.lockKey}::bigint) as unlocked`,
    );
    if (unlocked) return;
  }
  await connection.query(sql`select pg_terminate_backend(${holder}::int)`);
}

/** The body of {@link applyWithoutTransaction}, run with its lock held (on PostgreSQL). */
async function runOutsideTransaction(
  connection: Queryable,
  run: MigrationRun,
  migration: LoadedMigration,
): Promise<boolean> {
  const { target, dir } = run;
  const { driver } = run.db;
  if (!(await stillPending(connection, target, migration, dir))) return false;
  try {
    if (driver === 'postgres') {
      // A multi-statement query string is one implicit transaction on PostgreSQL, which
      // CREATE INDEX CONCURRENTLY refuses: send the statements one by one.
      for (const statement of splitPostgresStatements(migration.text)) {
        await connection.exec(statement);
      }
    } else {
      await connection.exec(migration.text);
    }
    await connection.query(recordStatement(driver, target, migration));
  } catch (error) {
    throw isMigrationError(error) ? error : failedError(migration, dir, error);
  }
  return true;
}

function isMigrationError(error: unknown): boolean {
  return error instanceof FairmindError && error.code.startsWith('MIGRATION_');
}
