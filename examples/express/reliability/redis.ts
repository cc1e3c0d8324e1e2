// Redis faults under load, measured on a running example-express (PostgreSQL + a private
// redis-server): what a client sees while Redis is down, frozen, or restarted empty, and how
// long recovery takes. The figures go into docs/reliability.md.
//
//   pnpm build && FAIRMIND_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//     node --import tsx examples/express/reliability/redis.ts
//
// (`pnpm --filter example-express reliability` runs it after the PostgreSQL faults.)
//
// Load: 16 clients in a loop, each request an authenticated GET /api/v1/models, /auth/me or
// /api/v1/dashboard, and one more client that logs in twice a second (bcrypt at cost 12 takes
// a quarter second of a worker: more would measure the hasher, not Redis). A fault starts 2 s in and lasts 5 s; the run ends
// 5 s after it. Everything runs on loopback and every loop is bounded by the run's deadline.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type RedisServer,
  type ServerProcess,
  startRedisServer,
  startServer,
} from '@fairmind/testing/servers';
import { Redis } from 'ioredis';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const example = join(here, '..');
const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };
const CLIENTS = 16;
const FAULT_AT_MS = 2_000;
const FAULT_MS = 5_000;
const AFTER_MS = 5_000;

interface Sample {
  readonly at: number;
  readonly ms: number;
  readonly status: number;
  readonly login: boolean;
}

type Fault = 'down' | 'frozen' | 'restarted empty';

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json().catch(() => ({}))) as Record<string, unknown>;
}

async function load(server: ServerProcess, start: number, until: number): Promise<Sample[]> {
  const login = async () =>
    fetch(`${server.base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
  const token = (await json(await login()))['accessToken'] as string;
  const paths = ['/api/v1/models', '/auth/me', '/api/v1/dashboard'];
  const samples: Sample[] = [];
  const timed = async (request: () => Promise<Response>, isLogin: boolean) => {
    const began = performance.now();
    let status: number;
    try {
      const response = await request();
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = 0;
    }
    samples.push({ at: began - start, ms: performance.now() - began, status, login: isLogin });
  };
  const readers = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let round = 0; performance.now() < until; round++) {
      await timed(
        () =>
          fetch(`${server.base}${paths[(client + round) % paths.length]}`, {
            headers: { authorization: `Bearer ${token}` },
            signal: AbortSignal.timeout(10_000),
          }),
        false,
      );
    }
  });
  const logins = (async () => {
    while (performance.now() < until) {
      await timed(login, true);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  await Promise.all([...readers, logins]);
  return samples;
}

async function inject(fault: Fault, redis: RedisServer): Promise<() => Promise<void>> {
  if (fault === 'down') {
    await redis.kill();
    return () => redis.restart();
  }
  if (fault === 'restarted empty') {
    await redis.kill();
    await redis.restart();
    return async () => {};
  }
  const admin = new Redis(redis.url);
  await admin.call('CLIENT', 'PAUSE', String(FAULT_MS), 'ALL');
  admin.disconnect();
  return async () => {};
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const adminUrl = process.env['FAIRMIND_TEST_DATABASE_URL'];
if (!adminUrl)
  throw new Error('set FAIRMIND_TEST_DATABASE_URL to a PostgreSQL that may CREATE DATABASE');

/** A database of its own for one run, on the server FAIRMIND_TEST_DATABASE_URL names. */
async function withDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `fm_reliability_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    const url = new URL(adminUrl as string);
    url.pathname = `/${name}`;
    try {
      return await work(url.toString());
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
    }
  } finally {
    await admin.end();
  }
}

function measure(fault: Fault) {
  return withDatabase((url) => measureOn(url, fault));
}

async function measureOn(databaseUrl: string, fault: Fault) {
  const redis = await startRedisServer();
  const server = await startServer({
    script: 'src/main.ts',
    cwd: example,
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      FAIRMIND_ADMIN_EMAIL: ADMIN.email,
      FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET: 'a-secret-of-at-least-32-characters-for-the-run',
      // The load is one client IP: the limiter must not be what answers.
      RATE_LIMIT_REQUESTS: '10000000',
    },
  });
  try {
    const start = performance.now();
    const running = load(server, start, start + FAULT_AT_MS + FAULT_MS + AFTER_MS);
    await new Promise((resolve) => setTimeout(resolve, FAULT_AT_MS));
    const logBefore = server.output().length;
    const end = await inject(fault, redis);
    await new Promise((resolve) => setTimeout(resolve, FAULT_MS));
    await end();
    const samples = await running;
    const reads = samples.filter((s) => !s.login);
    const during = reads.filter((s) => s.at >= FAULT_AT_MS && s.at < FAULT_AT_MS + FAULT_MS);
    const before = reads.filter((s) => s.at < FAULT_AT_MS);
    const after = reads.filter((s) => s.at >= FAULT_AT_MS + FAULT_MS);
    const loginsDuring = samples.filter(
      (s) => s.login && s.at >= FAULT_AT_MS && s.at < FAULT_AT_MS + FAULT_MS,
    );
    const statuses = (list: Sample[]) => {
      const counts: Record<string, number> = {};
      for (const s of list) counts[String(s.status)] = (counts[String(s.status)] ?? 0) + 1;
      return counts;
    };
    // Recovery: from the end of the fault to the start of the first second in which every
    // request succeeded within twice the p99 before the fault.
    const limit =
      2 *
      percentile(
        before.map((s) => s.ms),
        99,
      );
    let recoveredAt: number | null = null;
    for (let t = FAULT_AT_MS + FAULT_MS; t < FAULT_AT_MS + FAULT_MS + AFTER_MS - 1000; t += 100) {
      const second = reads.filter((s) => s.at >= t && s.at < t + 1000);
      if (
        second.length > 0 &&
        second.every((s) => s.status < 500 && s.status > 0 && s.ms <= limit)
      ) {
        recoveredAt = t - (FAULT_AT_MS + FAULT_MS);
        break;
      }
    }
    const log = server
      .output()
      .slice(logBefore)
      .split('\n')
      .filter((line) => /"level":(40|50)/.test(line))
      .map((line) => (JSON.parse(line) as { msg: string }).msg.slice(0, 110));
    return {
      fault,
      requestsDuringFault: during.length,
      statusesDuringFault: statuses(during),
      maxMsDuringFault: Math.round(Math.max(0, ...during.map((s) => s.ms))),
      p99MsDuringFault: Math.round(
        percentile(
          during.map((s) => s.ms),
          99,
        ),
      ),
      p99MsBefore: Math.round(
        percentile(
          before.map((s) => s.ms),
          99,
        ),
      ),
      statusesAfter: statuses(after),
      loginsDuringFault: statuses(loginsDuring),
      maxLoginMsDuringFault: Math.round(Math.max(0, ...loginsDuring.map((s) => s.ms))),
      recoveryMs: recoveredAt,
      warningsLogged: [...new Set(log)],
    };
  } finally {
    await server.stop('SIGKILL');
    await redis.stop();
  }
}

const results = [];
for (const fault of ['down', 'frozen', 'restarted empty'] as const) {
  results.push(await measure(fault));
}
console.log(JSON.stringify(results, null, 2));
