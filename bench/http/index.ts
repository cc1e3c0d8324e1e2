/**
 * Every HTTP contender in one run: the bare frameworks (a), Express stitched by hand (b),
 * Fastify stitched by hand (c) and our packages on each adapter (d), all answering the same
 * authenticated, rate-limited, logged, cached and gzipped `GET /api/models` (see
 * contenders.ts). Each server runs in its own process and wrk in another, and the contenders
 * take turns over several rounds, so drift in the machine hits them all alike. The figures
 * kept are each contender's median round; errors add up over every round.
 *
 *   pnpm build
 *   pnpm --filter @fairmind/bench run http
 *
 * Knobs: BENCH_SECONDS (per round, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50; a list runs
 * the matrix at each), BENCH_THREADS (wrk's, 2), BENCH_CONTENDERS (a comma-separated subset of
 * the names in contenders.ts), BENCH_PROFILE_DIR (each server writes a `--cpu-prof` profile
 * there when it stops). PostgreSQL and Redis: FAIRMIND_BENCH_DATABASE_URL and
 * FAIRMIND_BENCH_REDIS_URL (the tests' URLs when unset).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { createAuth, createMemoryUserStore } from '@fairmind/auth';
import pg from 'pg';
import { benchDatabaseUrl, benchRedisUrl, numberFromEnv } from '../lib/measure.js';
import {
  listFromEnv,
  processUsage,
  profileFlags,
  runWrk,
  WRK_DONE,
  wrkErrors,
} from '../lib/wrk.js';
import { CONTENDERS, ROUTE, type Services } from './contenders.js';

const here = dirname(fileURLToPath(import.meta.url));
const seconds = numberFromEnv('BENCH_SECONDS', 5);
const rounds = numberFromEnv('BENCH_ROUNDS', 3);
const threads = numberFromEnv('BENCH_THREADS', 2);
const connectionCounts = listFromEnv('BENCH_CONNECTIONS', ['50']).map(Number);
const names = listFromEnv('BENCH_CONTENDERS', Object.keys(CONTENDERS));
for (const name of names) {
  if (CONTENDERS[name] === undefined) {
    throw new Error(
      `[bench] BENCH_CONTENDERS names "${name}": one of ${Object.keys(CONTENDERS).join(', ')}`,
    );
  }
}

interface Round {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  bytesPerResponse: number;
  cpuUsPerRequest: number;
}

export interface HttpRow extends Round {
  contender: string;
  group: string;
  connections: number;
  peakRssMb: number;
  rounds: number[];
}

/** Twenty rows of about 120 bytes each: a ~2.5 KB JSON list, above compression's threshold. */
async function seed(): Promise<void> {
  const client = new pg.Client({ connectionString: benchDatabaseUrl });
  await client.connect();
  try {
    await client.query(`create table if not exists bench_http_models (
      id integer primary key, name text not null, version text not null,
      risk_level text not null, description text not null)`);
    await client.query('truncate bench_http_models');
    await client.query(`insert into bench_http_models
      select i, 'credit-model-' || i, '1.' || i, (array['low','medium','high'])[1 + i % 3],
        'Scores retail credit applications; reviewed quarterly by the model risk committee.'
      from generate_series(1, 20) as i`);
  } finally {
    await client.end();
  }
}

/** A viewer's access token from @fairmind/auth, which every stack verifies with the secret. */
async function token(secret: string): Promise<string> {
  const auth = createAuth({ secret, users: createMemoryUserStore() });
  await auth.createUser({
    email: 'bench@example.com',
    password: 'bench-password-1',
    role: 'viewer',
  });
  const pair = await auth.login({ email: 'bench@example.com', password: 'bench-password-1' });
  return pair.accessToken;
}

interface Running {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
}

function start(name: string, services: Services): Promise<Running> {
  const child = fork(join(here, 'server.ts'), [name], {
    execArgv: [...profileFlags(), '--import', 'tsx'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      FAIRMIND_BENCH_SERVICES: JSON.stringify(services),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) =>
      resolve({ name, child, port: (message as { port: number }).port }),
    );
    child.once('exit', (code) =>
      reject(new Error(`[bench] ${name} exited with ${code} before listening`)),
    );
  });
}

/** Every contender must send the same rows before any is measured. */
async function check(running: readonly Running[], bearer: string): Promise<void> {
  let reference: unknown;
  for (const { name, port } of running) {
    const response = await fetch(`http://127.0.0.1:${port}${ROUTE}`, {
      headers: { authorization: `Bearer ${bearer}` },
    });
    if (response.status !== 200)
      throw new Error(`[bench] ${name} answered ${response.status}: ${await response.text()}`);
    const body = await response.json();
    reference ??= body;
    if (!isDeepStrictEqual(body, reference))
      throw new Error(`[bench] ${name} sent other JSON than ${running[0]?.name}`);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function round(
  running: Running,
  connections: number,
  script: string,
  length: number,
): Promise<Round> {
  const pid = running.child.pid as number;
  const before = processUsage(pid).cpuUs;
  const summary = await runWrk({
    url: `http://127.0.0.1:${running.port}${ROUTE}`,
    script,
    connections,
    seconds: length,
    threads,
  });
  const cpuUs = processUsage(pid).cpuUs - before;
  return {
    requestsPerSecond: summary.requests / (summary.durationUs / 1e6),
    p50Ms: summary.p50 / 1000,
    p99Ms: summary.p99 / 1000,
    p999Ms: summary.p999 / 1000,
    errors: wrkErrors(summary),
    bytesPerResponse: summary.bytes / Math.max(1, summary.requests),
    cpuUsPerRequest: cpuUs / Math.max(1, summary.requests),
  };
}

function reference(row: HttpRow): string {
  if (row.group === 'a') return 'bare node:http';
  return `bare ${row.contender.replace(/^@fairmind on |\s*stitched$| \(.*\)$/g, '')}`;
}

function table(rows: readonly HttpRow[]): string {
  const lines = [
    '| contender | req/s (median) | group | connections | p50 ms | p99 ms | p99.9 ms | errors | bytes/resp | CPU µs/req | peak RSS MB | rounds | ratio vs bare |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const row of rows) {
    const base = rows.find(
      (other) => other.contender === reference(row) && other.connections === row.connections,
    );
    const ratio = base ? (row.requestsPerSecond / base.requestsPerSecond).toFixed(2) : '-';
    lines.push(
      `| ${row.contender} | ${Math.round(row.requestsPerSecond).toLocaleString('en-US')} | ${row.group} | ${row.connections} | ${row.p50Ms.toFixed(1)} | ${row.p99Ms.toFixed(1)} | ${row.p999Ms.toFixed(1)} | ${row.errors} | ${Math.round(row.bytesPerResponse)} | ${Math.round(row.cpuUsPerRequest)} | ${Math.round(row.peakRssMb)} | ${row.rounds.map(Math.round).join(' / ')} | ${ratio}x |`,
    );
  }
  return lines.join('\n');
}

/** The ratios: (d)/(b) on Express, (d)/(c) on Fastify, (d)/(a) on every adapter. */
function ratios(rows: readonly HttpRow[]): string {
  const pairs: Array<[string, string, string]> = [
    ['(d)/(b)', '@fairmind on Express', 'Express stitched'],
    ['(d)/(c)', '@fairmind on Fastify', 'Fastify stitched'],
    ['(d)/(c)', '@fairmind on Fastify (cache l1: false)', 'Fastify stitched'],
    ['(d)/(c)', '@fairmind on Fastify (response cache)', 'Fastify stitched'],
    ['(d)/(a)', '@fairmind on Express', 'bare Express'],
    ['(d)/(a)', '@fairmind on Fastify', 'bare Fastify'],
    ['(d)/(a)', '@fairmind on Fastify (response cache)', 'bare Fastify'],
    ['(d)/(a)', '@fairmind on Fastify (rate-limit leases)', 'bare Fastify'],
    ['(d)/(a)', '@fairmind on Hono', 'bare Hono'],
    ['(d)/(a)', '@fairmind on node:http', 'bare node:http'],
  ];
  const lines = [
    '| comparison | req/s | connections | against, req/s | CPU µs/req, ours / theirs | ratio |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const connections of connectionCounts) {
    for (const [label, ours, theirs] of pairs) {
      const a = rows.find((row) => row.contender === ours && row.connections === connections);
      const b = rows.find((row) => row.contender === theirs && row.connections === connections);
      if (a === undefined || b === undefined) continue;
      lines.push(
        `| ${label} ${ours} / ${theirs} | ${Math.round(a.requestsPerSecond).toLocaleString('en-US')} | ${connections} | ${Math.round(b.requestsPerSecond).toLocaleString('en-US')} | ${Math.round(a.cpuUsPerRequest)} / ${Math.round(b.cpuUsPerRequest)} | ${(a.requestsPerSecond / b.requestsPerSecond).toFixed(2)}x |`,
      );
    }
  }
  return lines.join('\n');
}

console.log(
  `http benchmark: node ${process.version}, wrk -t${threads}, ${rounds} rounds x ${seconds}s, connections ${connectionCounts.join(', ')}, ${names.length} contenders`,
);
await seed();
const secret = randomBytes(32).toString('base64url');
const bearer = await token(secret);
const running: Running[] = [];
const rows: HttpRow[] = [];
try {
  for (const [index, name] of names.entries()) {
    const services: Services = {
      databaseUrl: benchDatabaseUrl,
      redisUrl: benchRedisUrl,
      jwtSecret: secret,
      prefix: `fm-bench-http:${process.pid}:${index}:`,
    };
    running.push(await start(name, services));
  }
  await check(running, bearer);
  const script = `wrk.headers["Authorization"] = "Bearer ${bearer}"\nwrk.headers["Accept-Encoding"] = "gzip"\n${WRK_DONE}`;
  for (const connections of connectionCounts) {
    for (const contender of running) await round(contender, connections, script, 1);
    const taken = new Map<string, Round[]>(running.map((contender) => [contender.name, []]));
    for (let index = 0; index < rounds; index++) {
      for (const contender of running)
        taken.get(contender.name)?.push(await round(contender, connections, script, seconds));
    }
    for (const contender of running) {
      const all = taken.get(contender.name) ?? [];
      const middle = median(all.map((one) => one.requestsPerSecond));
      const kept = all.find((one) => one.requestsPerSecond === middle) as Round;
      const row: HttpRow = {
        ...kept,
        contender: contender.name,
        group: CONTENDERS[contender.name]?.group ?? '?',
        connections,
        errors: all.reduce((total, one) => total + one.errors, 0),
        peakRssMb: processUsage(contender.child.pid as number).peakRssMb,
        rounds: all.map((one) => Math.round(one.requestsPerSecond)),
      };
      rows.push(row);
    }
  }
} finally {
  for (const { child } of running) child.kill('SIGTERM');
}
console.log(`\nHTTP contenders, one authenticated, cached, gzipped GET\n${table(rows)}`);
console.log(`\nHTTP ratios, the issue's pairs\n${ratios(rows)}`);
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
// Each row's rounds on one line, as the repository's formatter (biome) lays out a short array,
// so that `pnpm lint` passes on the file the bench writes.
const text = JSON.stringify(rows, null, 2).replace(
  /"rounds": \[\s+([^\]]*?)\s+\]/g,
  (_all, items: string) => `"rounds": [${items.split(/,\s+/).join(', ')}]`,
);
writeFileSync(join(out, 'http.json'), `${text}\n`);
console.log('\nwrote bench/results/http.json');
