import { pg, Redis } from './deps.js';
import { describeError, redactUrl, testingError, withTimeout } from './util.js';

export const DATABASE_ENV = 'FAIRMIND_TEST_DATABASE_URL';
export const REDIS_ENV = 'FAIRMIND_TEST_REDIS_URL';
/**
 * Comma-separated `redis://` URLs of a Redis Cluster's nodes: the shared Redis is then that
 * cluster (the suites that use `useTestRedis().connect()` run on it), and `REDIS_ENV` is
 * taken from its first node when unset.
 */
export const REDIS_CLUSTER_ENV = 'FAIRMIND_TEST_REDIS_CLUSTER_NODES';
export const POSTGRES_IMAGE = 'postgres:15-alpine';
export const REDIS_IMAGE = 'redis:7-alpine';

/** Short, because a configured server that does not answer at once is down, not slow. */
const CHECK_TIMEOUT_MS = 3_000;

/**
 * Connects, runs `SELECT 1` and checks the user may create databases, since every test file
 * gets a fresh one. Throws a message that names the variable and what to do.
 */
export async function checkPostgres(url: string, source = DATABASE_ENV): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CHECK_TIMEOUT_MS,
    query_timeout: CHECK_TIMEOUT_MS,
    application_name: 'fairmind-testing-check',
  });
  // A connection dropped by the server after the check must not crash the test runner.
  client.on('error', () => {});
  let canCreate: boolean;
  try {
    await withTimeout(client.connect(), CHECK_TIMEOUT_MS, 'connect');
    await withTimeout(client.query('SELECT 1'), CHECK_TIMEOUT_MS, 'SELECT 1');
    const result = await client.query<{ ok: boolean }>(
      'SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user',
    );
    canCreate = result.rows[0]?.ok === true;
  } catch (error) {
    throw testingError(
      `${source}=${redactUrl(url)} did not answer (${describeError(error)}). Start that ` +
        `PostgreSQL server or point ${source} at one that is reachable.`,
      error,
    );
  } finally {
    await client.end().catch(() => {});
  }
  if (!canCreate) {
    throw testingError(
      `the user in ${source}=${redactUrl(url)} may not create databases, and every test file ` +
        'gets its own. Use a superuser or run ALTER ROLE <user> CREATEDB.',
    );
  }
}

/** Connects and sends PING; throws a message that names the variable and what to do. */
export async function checkRedis(url: string, source = REDIS_ENV): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CHECK_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // One attempt: retrying would turn "server down" into a hang.
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await withTimeout(client.connect(), CHECK_TIMEOUT_MS, 'connect');
    const reply = await withTimeout(client.ping(), CHECK_TIMEOUT_MS, 'PING');
    if (reply !== 'PONG') throw new Error(`PING answered ${reply}`);
  } catch (error) {
    throw testingError(
      `${source}=${redactUrl(url)} did not answer (${describeError(error)}). Start that ` +
        `Redis server or point ${source} at one that is reachable.`,
      error,
    );
  } finally {
    client.disconnect();
  }
}

export interface StartedService {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Loads testcontainers and asks it for a container runtime. Returns the reason when there is
 * none, so the caller can name both ways out in one message.
 */
export async function detectContainerRuntime(): Promise<
  { ok: true } | { ok: false; reason: string }
> {
  let testcontainers: typeof import('testcontainers');
  try {
    // Imported only here: the package is optional and loading it probes the Docker config.
    testcontainers = await import('testcontainers');
  } catch (error) {
    return { ok: false, reason: `testcontainers is not installed (${describeError(error)})` };
  }
  try {
    await testcontainers.getContainerRuntimeClient();
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: `no container runtime found (${describeError(error)})` };
  }
}

export async function startPostgresContainer(): Promise<StartedService> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(POSTGRES_IMAGE).start();
  return {
    url: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}

export async function startRedisContainer(): Promise<StartedService> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer(REDIS_IMAGE).start();
  return {
    url: container.getConnectionUrl(),
    stop: async () => {
      await container.stop();
    },
  };
}
