import type { TestProject } from 'vitest/node';
import { pg } from './deps.js';
import { PROVIDED } from './provided.js';
import { deleteRedisPrefix } from './redis-keys.js';
import {
  checkPostgres,
  checkRedis,
  DATABASE_ENV,
  detectContainerRuntime,
  POSTGRES_IMAGE,
  REDIS_CLUSTER_ENV,
  REDIS_ENV,
  REDIS_IMAGE,
  type StartedService,
  startPostgresContainer,
  startRedisContainer,
} from './services.js';
import { describeError, randomId, testingError } from './util.js';

/**
 * Vitest global setup: finds a PostgreSQL and a Redis (the environment first, testcontainers
 * otherwise), checks they answer and provides their URLs and a run id to every test file.
 * It never skips: without a server the run fails and says how to provide one.
 */
export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  const envDatabaseUrl = process.env[DATABASE_ENV] || undefined;
  const clusterNodes = (process.env[REDIS_CLUSTER_ENV] ?? '')
    .split(',')
    .map((node) => node.trim())
    .filter((node) => node !== '');
  const envRedisUrl = process.env[REDIS_ENV] || clusterNodes[0] || undefined;

  await Promise.all([
    envDatabaseUrl === undefined ? undefined : checkPostgres(envDatabaseUrl),
    envRedisUrl === undefined ? undefined : checkRedis(envRedisUrl),
  ]);

  const started: StartedService[] = [];
  let databaseUrl = envDatabaseUrl;
  let redisUrl = envRedisUrl;
  if (databaseUrl === undefined || redisUrl === undefined) {
    const runtime = await detectContainerRuntime();
    if (!runtime.ok) {
      throw missingServicesError(databaseUrl === undefined, redisUrl === undefined, runtime.reason);
    }
    try {
      // allSettled, not all: when one start fails the other must finish before stopAll, or
      // its container would outlive the run.
      const [postgres, redis] = await Promise.allSettled([
        databaseUrl === undefined ? track(started, startPostgresContainer()) : undefined,
        redisUrl === undefined ? track(started, startRedisContainer()) : undefined,
      ]).then((results) =>
        results.map((result) => {
          if (result.status === 'rejected') throw result.reason;
          return result.value;
        }),
      );
      if (postgres) {
        databaseUrl = postgres.url;
        await checkPostgres(databaseUrl, `the ${POSTGRES_IMAGE} container`);
      }
      if (redis) {
        redisUrl = redis.url;
        await checkRedis(redisUrl, `the ${REDIS_IMAGE} container`);
      }
    } catch (error) {
      await stopAll(started);
      throw testingError(
        `testcontainers found a container runtime but could not start the test services ` +
          `(${describeError(error)}). Fix the runtime, or set ${DATABASE_ENV} and ${REDIS_ENV} ` +
          'to reachable servers.',
        error,
      );
    }
  }
  if (databaseUrl === undefined || redisUrl === undefined) {
    throw testingError('internal error: a service URL is still missing after setup.');
  }

  const runId = randomId(4);
  provide(PROVIDED.databaseUrl, databaseUrl);
  provide(PROVIDED.redisUrl, redisUrl);
  provide(PROVIDED.runId, runId);
  provide(PROVIDED.redisClusterNodes, clusterNodes.join(','));

  const finalDatabaseUrl = databaseUrl;
  const finalRedisUrl = redisUrl;
  return async () => {
    // A worker that crashed skipped its afterAll hooks; sweep what this run left behind on
    // shared servers. Containers are thrown away whole, so only these need it.
    const sweeps: Promise<unknown>[] = [];
    if (envDatabaseUrl !== undefined) sweeps.push(dropRunDatabases(finalDatabaseUrl, runId));
    if (envRedisUrl !== undefined) sweeps.push(sweepRedis(finalRedisUrl, runId, clusterNodes));
    const results = await Promise.allSettled(sweeps);
    for (const result of results) {
      if (result.status === 'rejected') {
        console.warn(
          `[@fairmind/testing] cleanup after the run failed: ${describeError(result.reason)}`,
        );
      }
    }
    await stopAll(started);
  };
}

function missingServicesError(needDatabase: boolean, needRedis: boolean, reason: string): Error {
  const lines: string[] = [];
  if (needDatabase) {
    lines.push(
      `  - PostgreSQL: set ${DATABASE_ENV} to a reachable server ` +
        '(e.g. postgres://postgres@127.0.0.1:5432/test)',
    );
  }
  if (needRedis) {
    lines.push(`  - Redis: set ${REDIS_ENV} to a reachable server (e.g. redis://127.0.0.1:6379)`);
  }
  const images = [needDatabase ? POSTGRES_IMAGE : '', needRedis ? REDIS_IMAGE : '']
    .filter(Boolean)
    .join(' and ');
  return testingError(
    `the integration tests need real servers, and these are not configured:\n${lines.join('\n')}\n` +
      `or make Docker (or another container runtime) available so testcontainers can start ` +
      `${images}. testcontainers reported: ${reason}. Tests are never skipped for this.`,
  );
}

async function track(
  started: StartedService[],
  start: Promise<StartedService>,
): Promise<StartedService> {
  const service = await start;
  started.push(service);
  return service;
}

async function stopAll(started: StartedService[]): Promise<void> {
  await Promise.allSettled(started.map((service) => service.stop()));
  started.length = 0;
}

async function dropRunDatabases(adminUrl: string, runId: string): Promise<void> {
  const client = new pg.Client({
    connectionString: adminUrl,
    application_name: 'fairmind-testing',
  });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`fm_t_${runId}_%`],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  } finally {
    await client.end();
  }
}

async function sweepRedis(url: string, runId: string, clusterNodes: string[]): Promise<void> {
  await deleteRedisPrefix(url, `t:${runId}:`, clusterNodes);
}
