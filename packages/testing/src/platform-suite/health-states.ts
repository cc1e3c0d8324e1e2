import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, terminateBackends } from '../database.js';
import { pg } from '../deps.js';
import { useTestDatabase } from '../hooks.js';
import { type RedisServer, startRedisServer } from '../redis-server.js';
import { type ServerProcess, startServer } from '../server.js';
import { exampleName } from './example-server.js';

/** The services the health tests break and mend, read inside tests once `beforeAll` ran. */
interface HealthStatesSuite {
  readonly database: TestDatabase;
  readonly redis: RedisServer;
  readonly server: ServerProcess;
  /** A connection to the server that can refuse and allow connections to the database. */
  readonly admin: InstanceType<typeof pg.Client>;
  /** `GET /health`: its status and its document. */
  health(): Promise<{ status: number; body: Record<string, unknown> }>;
}

/**
 * `/health` in each state of the services behind it: Redis killed (degraded, still 200) and
 * back (ok again), the database refusing connections (503, the check named in
 * `/health/ready`) and back. Redis is a throwaway server; the database is the file's own.
 */
export function describeHealthStates(exampleRoot: string): void {
  const pgDatabase = useTestDatabase();
  describe(`${exampleName(exampleRoot)}: health in each state`, () => {
    const suite = useHealthStatesServer(exampleRoot, pgDatabase);
    it('is ok with both services up', async () => {
      const { health } = suite;
      expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
    });
    testRedisOutage(suite);
    testDatabaseOutage(suite);
  });
}

/** Starts the example on the file's database and a throwaway Redis; allows connections back after. */
function useHealthStatesServer(exampleRoot: string, pgDatabase: TestDatabase): HealthStatesSuite {
  let redis: RedisServer;
  let server: ServerProcess;
  let admin: InstanceType<typeof pg.Client>;

  beforeAll(async () => {
    redis = await startRedisServer();
    server = await startServer({
      script: 'src/main.ts',
      cwd: exampleRoot,
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: pgDatabase.url,
        REDIS_URL: redis.url,
      },
    });
    admin = new pg.Client({ connectionString: pgDatabase.adminUrl });
    await admin.connect();
  });

  afterAll(async () => {
    await admin
      ?.query(`alter database "${pgDatabase.name}" allow_connections true`)
      .catch(() => undefined);
    await admin?.end();
    await server?.stop('SIGKILL');
    await redis?.stop();
  });

  return {
    database: pgDatabase,
    get redis() {
      return redis;
    },
    get server() {
      return server;
    },
    get admin() {
      return admin;
    },
    async health() {
      const response = await fetch(`${server.base}/health`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
  };
}

function testRedisOutage(suite: HealthStatesSuite): void {
  it('is degraded, still 200, while Redis is down, and ok again once it is back', async () => {
    const { redis, server, health } = suite;
    await redis.kill();
    const down = await health();
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({
      status: 'degraded',
      checks: { cache: { status: 'down', mode: 'redis' } },
    });
    expect((await fetch(`${server.base}/health/live`)).status).toBe(200);
    await redis.restart();
    let body: Record<string, unknown> = {};
    for (let attempt = 0; attempt < 50; attempt++) {
      body = (await health()).body;
      if (body['status'] === 'ok') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(body['status']).toBe('ok');
  });
}

function testDatabaseOutage(suite: HealthStatesSuite): void {
  it('answers 503 with the failing check named while the database refuses connections', async () => {
    const { database: pgDatabase, admin, server, health } = suite;
    await admin.query(`alter database "${pgDatabase.name}" allow_connections false`);
    await terminateBackends(pgDatabase.adminUrl, { database: pgDatabase.name });
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      checks: { database: { status: 'down', driver: 'postgres' } },
    });
    const ready = await fetch(`${server.base}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ code: 'NOT_READY', check: 'database' });
    expect((await fetch(`${server.base}/health/live`)).status).toBe(200);
    await admin.query(`alter database "${pgDatabase.name}" allow_connections true`);
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = (await fetch(`${server.base}/health/ready`)).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });
}
