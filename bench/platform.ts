/**
 * The whole platform under load: example-express, example-fastify and example-hono on
 * PostgreSQL and Redis, each in its own process with its request log on (to /dev/null), and
 * wrk in another, on three workloads: the authenticated list `GET /api/v1/models?limit=20` (a
 * cache hit once warm, gzip), `GET /api/v1/dashboard`, and a mix of 90% list reads and 10%
 * model writes. Each runs at several connection counts, so the table shows how every figure
 * moves as the load grows (the cost curve), and bench/results/platform.svg draws it.
 *
 *   pnpm build
 *   FAIRMIND_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *   FAIRMIND_BENCH_REDIS_URL=redis://127.0.0.1:6379 pnpm --filter @fairmind/bench run platform
 *
 * Knobs: BENCH_SERVERS (express,fastify,hono), BENCH_WORKLOADS (list,dashboard,mix),
 * BENCH_CONNECTIONS (50,500,2000), BENCH_SECONDS (per run, 30), BENCH_THREADS (wrk's, 2),
 * BENCH_PROFILE_DIR (a directory: each server runs with `--cpu-prof` and writes its profile
 * there when it stops), BENCH_BARE (0 leaves out the bare Fastify reference), BENCH_FROM
 * (`source` runs the examples on the packages' TypeScript through tsx, as `pnpm start` does;
 * by default they run on the built packages, as an application that installed them does).
 * BENCH_FRONT=haproxy puts HAProxy (`apt-get install haproxy`) in front of each server, with
 * at most BENCH_FRONT_MAXCONN (64) kept-alive connections to it and the rest of the requests
 * queued, as a production balancer does, bare Fastify included; its rows are named
 * `<server> via haproxy`, the figures go to bench/results/platform-haproxy.*, and the CPU per
 * request is the server's alone.
 * tsx keeps function names by wrapping every closure made per request in a call (`__name`,
 * 2-4% of the busy time in a profile), which a built package does not pay.
 * Bare Fastify answers the same JSON text of the list and the dashboard (bench/platform/bare.ts)
 * right after each of example-fastify's runs of them, at the same connection count (after
 * every server when example-fastify is not run), and the last table gives each server's
 * cached reads over it: the issue's ratio, in one run.
 * Every run gets a fresh database, created on the server of FAIRMIND_BENCH_DATABASE_URL (its
 * user must be allowed to CREATE DATABASE) and dropped after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { benchDatabaseUrl, benchRedisUrl, numberFromEnv } from './lib/measure.js';
import { costCurveSvg } from './lib/svg.js';
import {
  freePort,
  listFromEnv,
  processUsage,
  profileFlags,
  runWrk,
  WRK_DONE,
  wrkErrors,
} from './lib/wrk.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const databaseUrl = benchDatabaseUrl;
const redisUrl = benchRedisUrl;
const seconds = numberFromEnv('BENCH_SECONDS', 30);
const threads = numberFromEnv('BENCH_THREADS', 2);
const servers = listFromEnv('BENCH_SERVERS', ['express', 'fastify', 'hono']);
const workloads = listFromEnv('BENCH_WORKLOADS', ['list', 'dashboard', 'mix']);
const connections = listFromEnv('BENCH_CONNECTIONS', ['50', '500', '2000']).map(Number);
const sourceFlags = process.env['BENCH_FROM'] === 'source' ? ['--conditions=@fairmind/source'] : [];
const front = process.env['BENCH_FRONT'] || undefined;
if (front !== undefined && front !== 'haproxy') {
  throw new Error(`[bench] BENCH_FRONT must be haproxy or unset, got ${front}`);
}
const frontMaxConn = numberFromEnv('BENCH_FRONT_MAXCONN', 64);
/** What the rows' server names end with: where the load went through. */
const suffix = front === undefined ? '' : ` via ${front}`;
const ADMIN = { email: 'admin@example.com', password: 'bench-password-1' };

export interface PlatformRow {
  server: string;
  workload: string;
  connections: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** p99 over the queueing floor, connections / throughput: 1 means no tail beyond the queue. */
  p99OverFloor: number;
  errors: number;
  bytesPerResponse: number;
  /** Cache reads answered by L1 or L2. */
  cacheHitRate: number | null;
  /** Cache reads that waited for a load of their key another request had started. */
  coalescedRate: number | null;
  /** Factory runs (database loads) per cache read: what the cache spares the database. */
  loadsPerRead: number | null;
  /** The mean time of one load, from fairmind_cache_factory_seconds_total. */
  meanLoadMs: number | null;
  poolWaitsOver1ms: number;
  eventLoopP99Ms: number;
  rssMb: number;
  cpuUsPerRequest: number;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** One series' values by label set, from the Prometheus text. */
function samples(text: string, name: string): { labels: string; value: number }[] {
  const found: { labels: string; value: number }[] = [];
  const pattern = new RegExp(`^${name}(\\{[^}]*\\})? ([^\\s]+)`, 'gm');
  for (const match of text.matchAll(pattern)) {
    found.push({ labels: match[1] ?? '', value: Number(match[2]) });
  }
  return found;
}

const sum = (text: string, name: string, filter: (labels: string) => boolean = () => true) =>
  samples(text, name)
    .filter((sample) => filter(sample.labels))
    .reduce((total, sample) => total + sample.value, 0);

interface Started {
  readonly child: ChildProcess;
  readonly base: string;
  readonly database: string;
  /** Where wrk sends its requests: the server itself, or HAProxy in front of it. */
  readonly loadBase: string;
  /** HAProxy, with BENCH_FRONT=haproxy. */
  readonly front?: ChildProcess | undefined;
}

/**
 * HAProxy in front of one server (BENCH_FRONT=haproxy): it accepts wrk's connections and
 * queues their requests for at most BENCH_FRONT_MAXCONN connections to the server, kept
 * alive and reused, first come first served. A Node 20 process accepts one connection per
 * turn of its event loop (libuv#3696), so a burst of new connections into a saturated loop
 * waits in the accept queue for seconds; behind the balancer the server sees only its pool.
 */
async function startFront(
  serverBase: string,
  probePath: string,
): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fairmind-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    `global
  maxconn 8000
  nbthread 1
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout queue 60s
frontend bench
  bind 127.0.0.1:${port} backlog 8192
  default_backend platform
backend platform
  http-reuse always
  server app ${new URL(serverBase).host} maxconn ${frontMaxConn}
`,
  );
  const child = spawn('haproxy', ['-f', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  try {
    await untilAnswers(`${base}${probePath}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, base };
}

async function startPlatform(server: string): Promise<Started> {
  const database = `fm_bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  await adminQuery(`create database ${database}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...profileFlags(), ...sourceFlags, '--import', 'tsx', 'src/main.ts'],
    {
      cwd: join(root, 'examples', server),
      // The request log at info, as in production; its lines go nowhere.
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: url.toString(),
        REDIS_URL: redisUrl,
        JWT_SECRET: 'a-bench-secret-of-more-than-thirty-two-characters',
        FAIRMIND_ADMIN_EMAIL: ADMIN.email,
        FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
        RATE_LIMIT_REQUESTS: '1000000000',
        FAIRMIND_ENV_FILE: 'none',
      },
    },
  );
  const base = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 300; attempt++) {
    const ready = await fetch(`${base}/health/ready`).catch(() => undefined);
    if (ready?.status === 200) {
      if (front !== 'haproxy') return { child, base, database, loadBase: base };
      const balancer = await startFront(base, '/health/live').catch((error: unknown) => {
        child.kill('SIGKILL');
        throw error;
      });
      return { child, base, database, loadBase: balancer.base, front: balancer.child };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`[bench] example-${server} did not become ready`);
}

/** Stops HAProxy, if it is in front, then the server. */
async function stopProcesses({ child, front: balancer }: Started): Promise<void> {
  for (const running of [balancer, child]) {
    if (running === undefined) continue;
    running.kill('SIGTERM');
    await new Promise((resolve) => running.once('exit', resolve));
  }
}

async function stopPlatform(started: Started): Promise<void> {
  await stopProcesses(started);
  await adminQuery(`drop database if exists ${started.database} with (force)`);
}

async function login(base: string): Promise<string> {
  const response = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  if (response.status !== 200) throw new Error(`[bench] login answered ${response.status}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
}

/** A wrk script: the workload's requests, and a `done` hook that prints the summary as JSON. */
function wrkScript(workload: string, token: string): string {
  const write = JSON.stringify({ name: 'bench-model', version: '1', riskLevel: 'low' });
  const request =
    workload === 'mix'
      ? `local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then
    return wrk.format("POST", "/api/v1/models", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer ${token}", ["Accept-Encoding"] = "gzip" }, '${write}')
  end
  return wrk.format("GET", "/api/v1/models?limit=20")
end`
      : '';
  return `wrk.headers["Authorization"] = "Bearer ${token}"
wrk.headers["Accept-Encoding"] = "gzip"
${request}
${WRK_DONE}`;
}

const pathOf = (workload: string) =>
  workload === 'dashboard' ? '/api/v1/dashboard' : '/api/v1/models?limit=20';

/** One wrk run against a server process, with the CPU it spent and its peak RSS. */
async function loadRun(
  target: { readonly child: ChildProcess; readonly base: string },
  run: { workload: string; count: number; token: string },
) {
  const path = pathOf(run.workload);
  // Warm the cache and the connections, so the run measures the steady state.
  for (let index = 0; index < 20; index++) {
    await fetch(`${target.base}${path}`, { headers: { authorization: `Bearer ${run.token}` } });
  }
  const usageBefore = processUsage(target.child.pid as number);
  const summary = await runWrk({
    url: `${target.base}${path}`,
    script: wrkScript(run.workload, run.token),
    connections: run.count,
    seconds,
    threads,
  });
  const usageAfter = processUsage(target.child.pid as number);
  const rate = summary.requests / (summary.durationUs / 1e6);
  const p99Ms = summary.p99 / 1000;
  return {
    summary,
    rate,
    head: {
      requestsPerSecond: rate,
      p50Ms: summary.p50 / 1000,
      p99Ms,
      p999Ms: summary.p999 / 1000,
      p99OverFloor: p99Ms / ((run.count / rate) * 1000),
      errors: wrkErrors(summary),
      bytesPerResponse: summary.bytes / Math.max(1, summary.requests),
    },
    tail: {
      rssMb: usageAfter.peakRssMb,
      cpuUsPerRequest: (usageAfter.cpuUs - usageBefore.cpuUs) / Math.max(1, summary.requests),
    },
  };
}

async function measureRun(
  started: Started,
  server: string,
  workload: string,
  count: number,
  token: string,
): Promise<PlatformRow> {
  const before = await (await fetch(`${started.base}/metrics`)).text();
  const target = { child: started.child, base: started.loadBase };
  const { head, tail } = await loadRun(target, { workload, count, token });
  const after = await (await fetch(`${started.base}/metrics`)).text();
  const delta = (name: string, filter?: (labels: string) => boolean) =>
    sum(after, name, filter) - sum(before, name, filter);
  const hits = delta('fairmind_cache_hits_total');
  const misses = delta('fairmind_cache_misses_total', (labels) => !labels.includes('tier="l1"'));
  // Reads that waited for a load already running are neither hits nor misses of a tier.
  const coalesced = delta('fairmind_cache_coalesced_total');
  const loads = delta('fairmind_cache_factory_runs_total');
  const loadSeconds = delta('fairmind_cache_factory_seconds_total');
  const reads = hits + misses + coalesced;
  const acquires = delta('fairmind_db_pool_acquire_seconds_count');
  const fast = delta('fairmind_db_pool_acquire_seconds_bucket', (labels) =>
    labels.includes('le="0.001"'),
  );
  const meanLoadMs = loads > 0 ? (loadSeconds / loads) * 1000 : null;
  return {
    server,
    workload,
    connections: count,
    ...head,
    cacheHitRate: reads > 0 ? hits / reads : null,
    coalescedRate: reads > 0 ? coalesced / reads : null,
    loadsPerRead: reads > 0 ? loads / reads : null,
    meanLoadMs,
    poolWaitsOver1ms: acquires - fast,
    eventLoopP99Ms: sum(after, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    ...tail,
  };
}

/**
 * The reference of the cached reads: bare Fastify sending the same JSON text the platform
 * sent for each path (bench/platform/bare.ts).
 */
async function startBare(bodies: ReadonlyMap<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...profileFlags(), '--import', 'tsx', 'platform/bare.ts'],
    {
      cwd: here,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        PORT: String(port),
        FAIRMIND_BENCH_BODIES: JSON.stringify(
          Object.fromEntries([...bodies].map(([workload, text]) => [routeOf(workload), text])),
        ),
      },
    },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await untilAnswers(`${base}${pathOf([...bodies.keys()][0] ?? 'list')}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  if (front !== 'haproxy') return { child, base, database: '', loadBase: base };
  const balancer = await startFront(base, pathOf([...bodies.keys()][0] ?? 'list')).catch(
    (error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    },
  );
  return { child, base, database: '', loadBase: balancer.base, front: balancer.child };
}

async function stopBare(bare: Started): Promise<void> {
  await stopProcesses(bare);
}

/** One run of the bare reference, as a row of the table. */
async function measureBareRun(
  bare: Started,
  workload: string,
  count: number,
): Promise<PlatformRow> {
  const target = { child: bare.child, base: bare.loadBase };
  const { head, tail } = await loadRun(target, { workload, count, token: 'none' });
  const row: PlatformRow = {
    server: `${BARE}${suffix}`,
    workload,
    connections: count,
    ...head,
    cacheHitRate: null,
    coalescedRate: null,
    loadsPerRead: null,
    meanLoadMs: null,
    poolWaitsOver1ms: 0,
    eventLoopP99Ms: 0,
    ...tail,
  };
  console.log(table([row]).split('\n')[2]);
  return row;
}

/** The bare reference at every connection count, for every body: when no server is paired. */
async function measureBare(bodies: ReadonlyMap<string, string>): Promise<PlatformRow[]> {
  const bare = await startBare(bodies);
  const found: PlatformRow[] = [];
  try {
    for (const workload of bodies.keys()) {
      for (const count of connections) found.push(await measureBareRun(bare, workload, count));
    }
  } finally {
    await stopBare(bare);
  }
  return found;
}

const BARE = 'bare Fastify';
const routeOf = (workload: string) => pathOf(workload).split('?')[0] as string;

async function untilAnswers(url: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const answer = await fetch(url).catch(() => undefined);
    if (answer?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`[bench] ${url} never answered 200`);
}

/** Each platform server's cached reads over bare Fastify's at the same connection count. */
function ratioTable(rows: readonly PlatformRow[]): string {
  const lines = [
    '| server | workload | connections | req/s | bare Fastify req/s | ratio | CPU µs/req, ours / bare |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    if (row.server === `${BARE}${suffix}`) continue;
    const bare = rows.find(
      (other) =>
        other.server === `${BARE}${suffix}` &&
        other.workload === row.workload &&
        other.connections === row.connections,
    );
    if (bare === undefined) continue;
    lines.push(
      `| ${row.server} | ${row.workload} | ${row.connections} | ${Math.round(row.requestsPerSecond).toLocaleString('en-US')} | ${Math.round(bare.requestsPerSecond).toLocaleString('en-US')} | ${(row.requestsPerSecond / bare.requestsPerSecond).toFixed(2)}x | ${Math.round(row.cpuUsPerRequest)} / ${Math.round(bare.cpuUsPerRequest)} |`,
    );
  }
  return lines.join('\n');
}

const percent = (rate: number | null) => (rate === null ? '-' : `${(rate * 100).toFixed(1)}%`);

function table(rows: readonly PlatformRow[]): string {
  const lines = [
    '| server | workload | connections | req/s | p50 ms | p99 ms | p99.9 ms | p99 / floor | errors | bytes/resp | cache hits | coalesced | loads/read | load ms | pool waits >1 ms | loop p99 ms | peak RSS MB | CPU µs/req |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.server} | ${row.workload} | ${row.connections} | ${Math.round(row.requestsPerSecond).toLocaleString('en-US')} | ${row.p50Ms.toFixed(1)} | ${row.p99Ms.toFixed(1)} | ${row.p999Ms.toFixed(1)} | ${row.p99OverFloor.toFixed(2)} | ${row.errors} | ${Math.round(row.bytesPerResponse)} | ${percent(row.cacheHitRate)} | ${percent(row.coalescedRate)} | ${percent(row.loadsPerRead)} | ${row.meanLoadMs === null ? '-' : row.meanLoadMs.toFixed(1)} | ${row.poolWaitsOver1ms} | ${row.eventLoopP99Ms.toFixed(1)} | ${Math.round(row.rssMb)} | ${Math.round(row.cpuUsPerRequest)} |`,
    );
  }
  return lines.join('\n');
}

// Bare Fastify runs right after example-fastify at each connection count, on the JSON
// example-fastify sent, so that the ratio compares two runs a minute apart rather
// than runs twenty minutes apart on a machine whose speed drifts. Without example-fastify in
// BENCH_SERVERS, bare Fastify runs after every server, as before.
const PAIRED = 'fastify';
const withBare = process.env['BENCH_BARE'] !== '0';
const rows: PlatformRow[] = [];
/** The JSON text of each cached read, as the platform sent it, for the bare reference. */
const bodies = new Map<string, string>();
console.log(
  `platform benchmark: node ${process.version}, wrk -t${threads}, ${seconds}s per run, servers ${servers.join(', ')}, workloads ${workloads.join(', ')}, connections ${connections.join(', ')}`,
);
for (const server of servers) {
  for (const workload of workloads) {
    // A fresh server and database per workload: the mix's writes must not grow the list the
    // next workload reads.
    const started = await startPlatform(server);
    try {
      const token = await login(started.base);
      for (let index = 0; index < 50; index++) {
        await fetch(`${started.base}/api/v1/models`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `model-${index}`, version: '1', riskLevel: 'medium' }),
        });
      }
      const paired = server === PAIRED && withBare && workload !== 'mix';
      if (workload !== 'mix' && (paired || !bodies.has(workload))) {
        const answer = await fetch(`${started.base}${pathOf(workload)}`, {
          headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' },
        });
        bodies.set(workload, await answer.text());
      }
      const bare = paired
        ? await startBare(new Map([[workload, bodies.get(workload) as string]]))
        : undefined;
      try {
        for (const count of connections) {
          const row = await measureRun(started, `${server}${suffix}`, workload, count, token);
          rows.push(row);
          console.log(table([row]).split('\n')[2]);
          if (bare !== undefined) rows.push(await measureBareRun(bare, workload, count));
        }
      } finally {
        if (bare !== undefined) await stopBare(bare);
      }
    } finally {
      await stopPlatform(started);
    }
  }
}
if (bodies.size > 0 && withBare && !servers.includes(PAIRED)) {
  rows.push(...(await measureBare(bodies)));
}
console.log(`\n${table(rows)}`);
console.log(`\nThe cached reads over bare Fastify sending the same JSON\n${ratioTable(rows)}`);
const out = join(here, 'results');
mkdirSync(out, { recursive: true });
const file = front === undefined ? 'platform' : `platform-${front}`;
writeFileSync(join(out, `${file}.json`), `${JSON.stringify(rows, null, 2)}\n`);
writeFileSync(join(out, `${file}.svg`), costCurveSvg(rows));
console.log(`\nwrote bench/results/${file}.json and bench/results/${file}.svg`);
