// db-pool's whole own suite, run again with its test database reached through PgBouncer in
// transaction mode (Debian's 1.18, started here on a spare port): every test passes except
// those that look at what PgBouncer owns by design (server sessions, their prepared
// statements and process ids), each listed below with the reason.
//
//   pnpm vitest run --project scale scale/test/pgbouncer-db-pool-suite.test.ts
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { useTestDatabase } from '@fairmind/testing';
import { type PgBouncer, startPgBouncer } from '@fairmind/testing/servers';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
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

interface Report {
  numTotalTests: number;
  numPassedTests: number;
  testResults: {
    assertionResults: { title: string; status: string; failureMessages: string[] }[];
  }[];
}

it("passes db-pool's own suite through PgBouncer, apart from what the pooler owns", {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-bouncer-suite-'));
  const output = join(dir, 'report.json');
  try {
    // The suite makes its own databases on the server it is given, and reaches them by name:
    // PgBouncer forwards every name to the test PostgreSQL.
    await run(
      process.execPath,
      [
        join(root, 'node_modules', 'vitest', 'vitest.mjs'),
        ...['run', '--project', 'db-pool', '--reporter=json', `--outputFile=${output}`],
      ],
      {
        cwd: root,
        env: { ...process.env, FAIRMIND_TEST_DATABASE_URL: bouncer.through(database.url) },
        timeout: 280_000,
        maxBuffer: 64 * 1024 * 1024,
      },
    ).catch((error: unknown) => {
      // vitest exits 1 when a test fails; the report says which.
      if ((error as { code?: unknown }).code !== 1) throw error;
    });
    const report = JSON.parse(readFileSync(output, 'utf8')) as Report;
    const results = report.testResults.flatMap((file) => file.assertionResults);
    const failed = results.filter((result) => result.status !== 'passed');
    const unexpected = failed.filter((result) => !(result.title in POOLER_OWNS));
    console.log(
      `[pgbouncer] db-pool's suite through PgBouncer (transaction mode): ${report.numPassedTests} of ${report.numTotalTests} passed; ${failed.length - unexpected.length} of the ${Object.keys(POOLER_OWNS).length} listed as the pooler's failed`,
    );
    expect(
      unexpected.map(
        (result) => `${result.title}\n${result.failureMessages.join('\n').slice(0, 600)}`,
      ),
    ).toEqual([]);
    expect(results.length).toBe(report.numTotalTests);
    expect(report.numPassedTests).toBeGreaterThanOrEqual(
      report.numTotalTests - Object.keys(POOLER_OWNS).length,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
