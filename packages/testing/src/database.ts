import pg from 'pg';
import { serviceUrls } from './context.js';
import { describeError, randomId, redactUrl, sleep, testingError } from './util.js';

export interface TestDatabase {
  /** Connection string of the fresh database; hand it to the code under test. */
  readonly url: string;
  readonly name: string;
  /** The server connection the database was created from (and is dropped through). */
  readonly adminUrl: string;
}

export interface CreateTestDatabaseOptions {
  /** A connection whose user may CREATE DATABASE; defaults to the one the global setup provided. */
  adminUrl?: string;
  /** Database to copy (`CREATE DATABASE ... TEMPLATE`), e.g. one with migrations already applied. */
  template?: string;
  /** Put into the name so the global teardown can sweep leftovers; defaults to the run id. */
  runId?: string;
}

/** Every database this package creates starts with this, and it only ever drops such names. */
const NAME_PATTERN = /^fm_t_[a-z0-9_]+$/;
const APPLICATION_NAME = 'fairmind-testing';
// CREATE DATABASE fails with 55006 while anything is connected to the template; that is
// usually a moment (another file's CREATE or a lingering session), so retry briefly.
const CREATE_ATTEMPTS = 10;

/** Creates an empty database on the admin server; pair with {@link dropTestDatabase}. */
export async function createTestDatabase(
  options: CreateTestDatabaseOptions = {},
): Promise<TestDatabase> {
  let adminUrl = options.adminUrl;
  let runId = options.runId;
  if (adminUrl === undefined) {
    const provided = serviceUrls();
    adminUrl = provided.databaseUrl;
    runId ??= provided.runId;
  }
  const name = runId === undefined ? `fm_t_${randomId()}` : `fm_t_${runId}_${randomId()}`;
  if (!NAME_PATTERN.test(name)) {
    throw testingError(`runId ${JSON.stringify(runId)} must be lower-case letters, digits or _.`);
  }
  await withAdmin(adminUrl, async (client) => {
    const template =
      options.template === undefined
        ? ''
        : ` TEMPLATE ${client.escapeIdentifier(options.template)}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE "${name}"${template}`);
        return;
      } catch (error) {
        if (!isObjectInUse(error) || attempt >= CREATE_ATTEMPTS) {
          throw testingError(
            `could not create test database ${name} on ${redactUrl(adminUrl)} ` +
              `(${describeError(error)}). Check that the server is up and its user may CREATE ` +
              'DATABASE, and that nothing stays connected to the template database.',
            error,
          );
        }
        await sleep(50 * attempt);
      }
    }
  });
  return { url: databaseUrl(adminUrl, name), name, adminUrl };
}

/** Drops a database made by {@link createTestDatabase}, disconnecting whatever still uses it. */
export async function dropTestDatabase(database: Pick<TestDatabase, 'name' | 'adminUrl'>) {
  // Refuse anything this package did not name: the admin URL may point at a shared server.
  if (!NAME_PATTERN.test(database.name)) {
    throw testingError(
      `refusing to drop ${JSON.stringify(database.name)}: only databases created by ` +
        'createTestDatabase() (named fm_t_...) are dropped.',
    );
  }
  await withAdmin(database.adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${database.name}" WITH (FORCE)`);
  });
}

export interface BackendFilter {
  /** Only backends connected to this database. */
  database?: string;
  /** Only backends whose `application_name` is this. */
  applicationName?: string;
}

/**
 * Terminates (`pg_terminate_backend`) every client backend matching the filter, except the
 * one running this query, and waits up to 5 s for each to exit. Returns how many were
 * terminated. Needs PostgreSQL 14+ and a user allowed to signal those backends.
 */
export async function terminateBackends(adminUrl: string, filter: BackendFilter): Promise<number> {
  // Without a filter this would cut every other test file's connections on a shared server.
  if (filter.database === undefined && filter.applicationName === undefined) {
    throw testingError(
      'terminateBackends() needs filter.database and/or filter.applicationName; an empty ' +
        'filter would terminate every connection on the server.',
    );
  }
  return withAdmin(adminUrl, async (client) => {
    const { rows } = await client.query<{ terminated: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))::int AS terminated
         FROM pg_stat_activity
        WHERE pid <> pg_backend_pid()
          AND backend_type = 'client backend'
          AND ($1::text IS NULL OR datname = $1)
          AND ($2::text IS NULL OR application_name = $2)`,
      [filter.database ?? null, filter.applicationName ?? null],
    );
    return rows[0]?.terminated ?? 0;
  });
}

/** The admin URL with its database name replaced; user, host and query parameters are kept. */
export function databaseUrl(adminUrl: string, name: string): string {
  let url: URL;
  try {
    url = new URL(adminUrl);
  } catch (error) {
    throw testingError(
      `${redactUrl(adminUrl)} is not a postgres:// URL; pass a connection string like ` +
        'postgres://user@127.0.0.1:5432/postgres.',
      error,
    );
  }
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(adminUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: adminUrl,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: 5_000,
  });
  // Errors surface through the awaited calls; the event would otherwise crash the worker.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw testingError(
      `could not connect to ${redactUrl(adminUrl)} (${describeError(error)}). Is the test ` +
        'PostgreSQL still running?',
      error,
    );
  }
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function isObjectInUse(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '55006'
  );
}
