/**
 * Measures what example-express does under PostgreSQL faults, on a private cluster (never the
 * shared server) behind a fault proxy, and prints one row per fault for docs/reliability.md:
 * the latency a request sees, its status, what the server logs, and how long it takes to
 * recover once the fault ends. Every wait is bounded; the whole run takes about two minutes.
 *
 *   pnpm build && pnpm --filter example-express reliability
 *
 * The server runs the packages' dist/ (as the end-to-end tests do), with DATABASE_TIMEOUT=5.
 * The probe is GET /api/v1/models/:id with a bearer token: a read the cache never answers.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ProcessResult,
  runTypeScript,
  type ServerProcess,
  startBlackholeServer,
  startFaultProxy,
  startPostgresServer,
  startServer,
} from '@fairmind/testing/servers';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATABASE_TIMEOUT_S = 5;
// A client that waits longer than this has given up: the bound we report when none holds.
const CLIENT_LIMIT_MS = 20_000;
// Recovery is polled every 100 ms for at most this long.
const RECOVERY_LIMIT_MS = 60_000;
const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

interface Probe {
  status: number;
  code: string;
  ms: number;
}

interface Row {
  fault: string;
  latency: string;
  status: string;
  logged: string;
  recovery: string;
  how: string;
}

const rows: Row[] = [];
const round = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cluster = await startPostgresServer({ auth: 'scram-sha-256' });
const proxy = await startFaultProxy(cluster.port);
const admin = (database: string) => {
  const url = new URL(cluster.url);
  url.pathname = `/${database}`;
  return url;
};
await sql('postgres', 'create database fairmind');
const viaProxy = admin('fairmind');
viaProxy.port = String(proxy.port);

const baseEnv = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'info',
  DATABASE_TIMEOUT: String(DATABASE_TIMEOUT_S),
  FAIRMIND_ADMIN_EMAIL: ADMIN.email,
  FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
  JWT_SECRET: 'a-reliability-secret-of-at-least-32-chars',
  RATE_LIMIT_REQUESTS: '1000000',
};

let server: ServerProcess | undefined;
try {
  server = await startServer({
    script: 'src/main.ts',
    cwd: root,
    env: { ...baseEnv, DATABASE_URL: viaProxy.toString() },
  });
  await measureServing(server);
  await measureStartUps();
  print();
} finally {
  await server?.stop('SIGKILL');
  await proxy.close();
  await cluster.remove();
}

/** One statement on the cluster, directly (not through the proxy), as its superuser. */
async function sql(database: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: admin(database).toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function measureServing(target: ServerProcess): Promise<void> {
  const login = await post(target, '/auth/login', ADMIN);
  const token = login['accessToken'] as string;
  const model = await post(
    target,
    '/api/v1/models',
    { name: 'probe', version: '1', riskLevel: 'low' },
    token,
  );
  const path = `/api/v1/models/${model['id'] as string}`;
  const probe = (url = path) => request(target, url, token);
  const recover = async (from: number): Promise<string> => {
    const deadline = performance.now() + RECOVERY_LIMIT_MS;
    while (performance.now() < deadline) {
      if ((await probe()).status === 200) return round(performance.now() - from);
      await sleep(100);
    }
    return `not within ${round(RECOVERY_LIMIT_MS)}`;
  };
  // Every connection of the pool has run the probe's statement before each fault.
  const warm = () => Promise.all(Array.from({ length: 20 }, () => probe()));
  await warm();

  {
    const mark = target.output().length;
    let terminated = 0;
    const during = await underLoad(probe, async () => {
      terminated = await terminate();
    });
    rows.push({
      fault: `backends terminated (pg_terminate_backend of all ${terminated}, under load)`,
      latency: `max ${round(Math.max(...during.map((entry) => entry.ms)))}`,
      status: tally(during),
      logged: logged(target, mark),
      recovery: settled(during, await recover(performance.now())),
      how: 'pg_terminate_backend on every backend of the database while 20 clients send probes back to back',
    });
  }

  await warm();
  {
    const mark = target.output().length;
    const from = performance.now();
    await sql('fairmind', 'alter table models alter column version type varchar(200)');
    const sequential = [];
    for (let index = 0; index < 5; index++) sequential.push(await probe());
    const concurrent = await Promise.all(Array.from({ length: 20 }, () => probe()));
    const all = [...sequential, ...concurrent];
    rows.push({
      fault: 'schema changed under a running pool (a column type the statement returns)',
      latency: `max ${round(Math.max(...all.map((entry) => entry.ms)))}`,
      status: tally(all),
      logged: logged(target, mark),
      recovery: settled(all, await recover(from)),
      how: 'ALTER TABLE models ALTER COLUMN version TYPE varchar(200), then 5 + 20 concurrent probes',
    });
  }

  {
    await warm();
    const mark = target.output().length;
    await cluster.stop();
    const down = await probe();
    const ready = await probe('/health/ready');
    const restarted = performance.now();
    await cluster.restart();
    const up = performance.now();
    rows.push({
      fault: 'PostgreSQL down (stopped) while serving',
      latency: `${round(down.ms)} (DATABASE_TIMEOUT=${DATABASE_TIMEOUT_S}); /health/ready ${round(ready.ms)}`,
      status: `${down.status} ${down.code}; /health/ready ${ready.status} ${ready.code}`,
      logged: logged(target, mark),
      recovery: `${await recover(up)} after PostgreSQL accepts again (its start took ${round(up - restarted)})`,
      how: 'fast shutdown (SIGINT) of the private cluster, one probe and /health/ready, start it again',
    });
  }

  {
    await warm();
    const mark = target.output().length;
    const from = performance.now();
    const seen: Probe[] = [];
    let restarting = true;
    const restart = cluster.restart().finally(() => {
      restarting = false;
    });
    // Requests keep coming during the restart; each waits at most DATABASE_TIMEOUT.
    for (let index = 0; restarting && index < 200; index++) {
      seen.push(await probe());
      await sleep(50);
    }
    await restart;
    const ready = performance.now();
    const recovered = await recover(ready);
    rows.push({
      fault: 'PostgreSQL restarted',
      latency: `max ${round(Math.max(...seen.map((entry) => entry.ms)))} during the restart (${round(ready - from)})`,
      status: `during: ${tally(seen)}`,
      logged: logged(target, mark),
      recovery: `${recovered} after PostgreSQL accepts again`,
      how: 'fast shutdown and start of the private cluster while probes run every 50 ms',
    });
  }

  {
    await warm();
    const mark = target.output().length;
    proxy.blackhole();
    const [hung, ready] = await Promise.all([probe(), probe('/health/ready')]);
    const from = performance.now();
    proxy.forward();
    rows.push({
      fault: 'unreachable host while serving (blackhole: open connections and new ones go silent)',
      latency: `${hung.status === 0 ? `no bound: still waiting when the client gave up at ${round(CLIENT_LIMIT_MS)}` : round(hung.ms)}; /health/ready ${round(ready.ms)}`,
      status: `${hung.status === 0 ? 'none' : `${hung.status} ${hung.code}`}; /health/ready ${ready.status} ${ready.code}`,
      logged: logged(target, mark),
      recovery: `${await recover(from)} after the network comes back`,
      how: 'the fault proxy between server and cluster drops everything both ways, then forwards again',
    });
  }

  {
    await warm();
    const mark = target.output().length;
    // One session throughout: a new login would need the password being changed.
    const control = new pg.Client({ connectionString: admin('postgres').toString() });
    await control.connect();
    await control.query("alter role postgres password 'rotated-elsewhere'");
    const cut = await terminate(control);
    const refused = [await probe(), await probe(), await probe()];
    await control.query(`alter role postgres password '${cluster.password}'`);
    await control.end();
    const from = performance.now();
    rows.push({
      fault: `wrong credentials while serving (password changed, all ${cut} connections dropped)`,
      latency: `max ${round(Math.max(...refused.map((entry) => entry.ms)))}`,
      status: tally(refused),
      logged: logged(target, mark),
      recovery: `${await recover(from)} after the password is right again`,
      how: 'ALTER ROLE postgres PASSWORD, pg_terminate_backend, 3 probes, then the password back',
    });
  }
}

async function measureStartUps(): Promise<void> {
  const blackhole = await startBlackholeServer();
  try {
    const silent = admin('fairmind');
    silent.port = String(blackhole.port);
    rows.push(await startUp('unreachable host at start-up (blackhole)', silent));
  } finally {
    await blackhole.close();
  }
  const wrongPassword = admin('fairmind');
  wrongPassword.password = 'not-the-password';
  rows.push(await startUp('wrong credentials at start-up (28P01)', wrongPassword));
  rows.push(await startUp('wrong database at start-up (3D000)', admin('no_such_database')));
}

async function startUp(fault: string, url: URL): Promise<Row> {
  const started = performance.now();
  const result: ProcessResult = await runTypeScript(join(root, 'src/main.ts'), {
    cwd: root,
    timeoutMs: 60_000,
    env: {
      PATH: process.env['PATH'],
      FAIRMIND_ENV_FILE: 'none',
      HOST: '127.0.0.1',
      PORT: '0',
      ...baseEnv,
      DATABASE_URL: url.toString(),
    },
  });
  const elapsed = performance.now() - started;
  return {
    fault,
    latency: `exits after ${round(elapsed)}`,
    status: `exit code ${result.code ?? result.signal}; no listener`,
    logged: summarise(`${result.stdout}\n${result.stderr}`),
    recovery: 'a restart with the right DATABASE_URL',
    how: 'node --import tsx src/main.ts with that DATABASE_URL (DATABASE_TIMEOUT=5)',
  };
}

/**
 * 20 clients sending `probe` back to back; `fault` runs 300 ms in, and the load goes on for
 * 700 ms after it. Returns every probe.
 */
async function underLoad(
  probe: () => Promise<Probe>,
  fault: () => Promise<void>,
): Promise<Probe[]> {
  const seen: Probe[] = [];
  let running = true;
  const client = async () => {
    for (let index = 0; running && index < 10_000; index++) seen.push(await probe());
  };
  const clients = Array.from({ length: 20 }, client);
  await sleep(300);
  await fault();
  await sleep(700);
  running = false;
  await Promise.all(clients);
  return seen;
}

/** The recovery time, or that there was nothing to recover from. */
function settled(probes: readonly Probe[], recovery: string): string {
  return probes.every((entry) => entry.status === 200)
    ? 'none needed: no request failed'
    : recovery;
}

/** Terminates every backend of the server's database, through `through` or a new session. */
async function terminate(through?: pg.Client): Promise<number> {
  const client = through ?? new pg.Client({ connectionString: admin('postgres').toString() });
  if (!through) await client.connect();
  try {
    const { rows: result } = await client.query<{ n: number }>(
      `select count(*) filter (where pg_terminate_backend(pid, 5000))::int as n
         from pg_stat_activity where datname = 'fairmind' and pid <> pg_backend_pid()`,
    );
    return result[0]?.n ?? 0;
  } finally {
    if (!through) await client.end();
  }
}

async function post(
  target: ServerProcess,
  path: string,
  body: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${target.base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CLIENT_LIMIT_MS),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

async function request(target: ServerProcess, path: string, token: string): Promise<Probe> {
  const started = performance.now();
  try {
    const response = await fetch(`${target.base}${path}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(CLIENT_LIMIT_MS),
    });
    const body = (await response.json().catch(() => ({}))) as { code?: string };
    return {
      status: response.status,
      code: response.ok ? '' : (body.code ?? ''),
      ms: performance.now() - started,
    };
  } catch {
    return { status: 0, code: 'client gave up', ms: performance.now() - started };
  }
}

/** `8×200, 2×503 POOL_TIMEOUT`, in order of first appearance. */
function tally(probes: readonly Probe[]): string {
  const counts = new Map<string, number>();
  for (const { status, code } of probes) {
    const key = status === 0 ? 'no answer' : `${status}${code ? ` ${code}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, count]) => `${count}×${key}`).join(', ');
}

/** The warnings and errors the server logged since `mark`. */
function logged(target: ServerProcess, mark: number): string {
  return summarise(target.output().slice(mark));
}

/** Distinct messages at warn level or above, ids and numbers folded, with their counts. */
function summarise(output: string): string {
  const counts = new Map<string, number>();
  for (const line of output.split('\n')) {
    let entry: { level?: number; msg?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const level = entry.level ?? 0;
    if (level < 40 || entry.msg === undefined) continue;
    const message = entry.msg
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/gi, '<id>')
      .replace(/\d+(\.\d+)?/g, 'N')
      .slice(0, 160);
    const key = `${level >= 50 ? 'error' : 'warn'}: ${message}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts.size === 0
    ? 'nothing at warn or above'
    : [...counts].map(([key, count]) => `${count}× ${key}`).join('<br>');
}

function print(): void {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root })
    .toString()
    .trim();
  console.log(
    `\nexample-express at ${commit}, Node ${process.version}, ${cpus().length} CPUs, PostgreSQL via a local TCP proxy, DATABASE_TIMEOUT=${DATABASE_TIMEOUT_S}\n`,
  );
  console.log(
    '| fault | latency a request sees | status | logged (warn and above) | recovery after the fault ends | how |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.fault} | ${row.latency} | ${row.status} | ${row.logged} | ${row.recovery} | ${row.how} |`,
    );
  }
}
