// db-pool's whole own suite, run again with its test database reached through PgBouncer in
// transaction mode (Debian's 1.18, started here on a spare port): every test passes except
// those that look at what PgBouncer owns by design (server sessions, their prepared
// statements and process ids), each listed below with the reason.
//
//   pnpm vitest run --project scale scale/test/pgbouncer-db-pool-suite.test.ts
import { useTestDatabase } from '@fairmind/testing';
import { type PgBouncer, startPgBouncer } from '@fairmind/testing/servers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSuites } from './suite-run.js';

const database = useTestDatabase();
let bouncer: PgBouncer;

/** Tests that check what a transaction pooler changes, and why each may fail through one. */
const POOLER_OWNS: Readonly<Record<string, string>> = {
  'fails at once on a database that does not exist (3D000)':
    'PgBouncer reports the refusal as 08P01 in its own words; db-pool still fails at once with DB_CONFIG_INVALID (pgbouncer-db-pool.test.ts checks that)',
  'fails at once on a role that does not exist (28000)':
    'PgBouncer refuses an unknown user itself ("trust" authentication failed, 08P01)',
  'opens up to size + overflow, queues the next, and closes the overflow on release':
    "counts the server sessions in pg_stat_activity, which are PgBouncer's",
  'survives pg_terminate_backend on idle connections':
    "ends server sessions by the pids db-pool's connections report, which PgBouncer shares out",
  'reuses the transaction connection for nested calls, so a pool of one cannot deadlock':
    "its first prepared statement meets another client's inside a transaction: the one-time retryable DB_STALE_STATEMENT of docs/db-pool.md, before db-pool switches to unnamed statements",
  'prepares statements by default, and not when told':
    'counts pg_prepared_statements, which db-pool stops creating once it has found the pooler',
  'retires a connection that holds more prepared statements than the cache allows':
    'the same: no prepared statements behind a transaction pooler',
  'drains on close, refuses new work and leaves no connection open':
    "counts the server sessions left, which are PgBouncer's to keep",
  'five migrator processes apply each file once and leave no advisory lock held':
    'one file is -- fairmind:no-transaction, which a migrator refuses (MIGRATION_NEEDS_SESSION) or warns about when the pooler moves its session',
  'five migrators in one process apply each file once and hold no advisory lock':
    'the same file, refused the same way (pgbouncer-db-pool.test.ts checks the refusal and that no lock is left)',
};

beforeAll(async () => {
  bouncer = await startPgBouncer({ target: database.url, poolMode: 'transaction', poolSize: 10 });
});
afterAll(async () => {
  await bouncer?.stop();
});

it("passes db-pool's own suite through PgBouncer, apart from what the pooler owns", {
  timeout: 300_000,
}, async () => {
  // The suite makes its own databases on the server it is given, and reaches them by name:
  // PgBouncer forwards every name to the test PostgreSQL.
  const result = await runSuites({
    projects: ['db-pool'],
    env: { ...process.env, FAIRMIND_TEST_DATABASE_URL: bouncer.through(database.url) },
    expected: POOLER_OWNS,
  });
  console.log(
    `[pgbouncer] db-pool's suite through PgBouncer (transaction mode): ${result.passed} of ${result.total} passed; ${result.expectedFailures} of the ${Object.keys(POOLER_OWNS).length} listed as the pooler's failed`,
  );
  expect(result.unexpected).toEqual([]);
  expect(result.passed).toBeGreaterThanOrEqual(result.total - Object.keys(POOLER_OWNS).length);
  expect(result.total).toBeGreaterThan(100);
});
