/**
 * @fairmind/db-pool beside the peers it replaces, in one process and one run:
 *   - primary-key lookups: db-pool vs raw pg.Pool, vs a new pg.Client per query, vs postgres.js
 *   - SELECT 1: db-pool's overhead over raw pg.Pool
 *
 *   FAIRMIND_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pnpm --filter @fairmind/bench run db-pool
 *
 * Knobs: BENCH_SECONDS (per round, 3), BENCH_ROUNDS (5), BENCH_CONCURRENCY (16).
 */
import { createDatabase, sql } from '@fairmind/db-pool';
import pg from 'pg';
import postgres from 'postgres';
import { benchDatabaseUrl, type Contender, measure, numberFromEnv, report } from './lib/measure.js';

const url = benchDatabaseUrl;
const seconds = numberFromEnv('BENCH_SECONDS', 3);
const rounds = numberFromEnv('BENCH_ROUNDS', 5);
const concurrency = numberFromEnv('BENCH_CONCURRENCY', 16);
const poolSize = 10;
const ROWS = 10_000;

const setup = new pg.Client({ connectionString: url });
await setup.connect();
await setup.query(`
  create table if not exists bench_users (
    id integer primary key, email text not null, name text not null, created_at timestamptz not null default now()
  )`);
const { rows: present } = await setup.query<{ n: number }>(
  'select count(*)::int as n from bench_users',
);
if (present[0]?.n !== ROWS) {
  await setup.query('truncate bench_users');
  await setup.query(
    `insert into bench_users (id, email, name) select i, 'user' || i || '@example.com', 'User ' || i from generate_series(1, ${ROWS}) i`,
  );
  await setup.query('analyze bench_users');
}
await setup.end();

// A fixed pseudo-random walk over the ids, the same for every contender and every run.
let next = 0;
function randomId(): number {
  next = (next * 7919 + 104_729) % ROWS;
  return next + 1;
}
const LOOKUP = 'select id, email, name, created_at from bench_users where id = $1';

const fairmind = createDatabase({ url, poolSize, maxOverflow: 0 });
const raw = new pg.Pool({ connectionString: url, max: poolSize });
const porsager = postgres(url, { max: poolSize });

const lookups: Contender[] = [
  {
    name: '@fairmind/db-pool',
    run: () =>
      fairmind.maybeOne(
        sql`select id, email, name, created_at from bench_users where id = ${randomId()}`,
      ),
  },
  { name: 'pg.Pool', run: () => raw.query(LOOKUP, [randomId()]) },
  {
    name: 'postgres.js',
    run: () =>
      porsager`select id, email, name, created_at from bench_users where id = ${randomId()}`,
  },
  {
    name: 'new pg.Client per query',
    async run() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return await client.query(LOOKUP, [randomId()]);
      } finally {
        await client.end();
      }
    },
  },
];

console.log(
  `db-pool benchmark: node ${process.version}, pool size ${poolSize}, concurrency ${concurrency}, ${rounds} rounds x ${seconds}s, ${ROWS} rows`,
);
report(
  'Primary-key lookup',
  await measure(lookups, { seconds, rounds, concurrency, warmupSeconds: 1 }),
  'pg.Pool',
);

const selectOne: Contender[] = [
  { name: '@fairmind/db-pool', run: () => fairmind.query(sql`select 1`) },
  { name: '@fairmind/db-pool (prepare: false)', run: () => unprepared.query(sql`select 1`) },
  { name: 'pg.Pool', run: () => raw.query('select 1') },
];
const unprepared = createDatabase({ url, poolSize, maxOverflow: 0, prepare: false });
report(
  'SELECT 1',
  await measure(selectOne, { seconds, rounds, concurrency, warmupSeconds: 1 }),
  'pg.Pool',
);

await Promise.all([fairmind.close(), unprepared.close(), raw.end(), porsager.end()]);
