import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { terminateBackends } from './database.js';
import { pg } from './deps.js';
import { useTestDatabase } from './hooks.js';
import { testAccessControl } from './platform-suite/access.js';
import { exampleName, useExampleServer } from './platform-suite/example-server.js';
import { testAuditTrail, testGovernance } from './platform-suite/governance.js';
import { testBadRequests, testParserRefusals } from './platform-suite/malformed-input.js';
import { testOperations } from './platform-suite/operations.js';
import { testSessions } from './platform-suite/sessions.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { type ServerProcess, startServer } from './server.js';

const modes = [
  { name: 'SQLite + memory', postgres: false },
  { name: 'PostgreSQL + Redis', postgres: true },
] as const;

/**
 * The end-to-end contract of the FairMind platform (HTTP-API.md), written once and run against
 * every example server: each example's test file calls {@link describePlatformContract} with
 * its own folder, and the suite starts that example's `src/main.ts` as a child process, on
 * SQLite + memory and on PostgreSQL + Redis, and walks the whole API over HTTP. The same
 * assertions for Express, Fastify and Hono are what make the adapters interchangeable.
 *
 * @example
 * ```ts
 * // examples/fastify/test/platform.test.ts
 * import { dirname, join } from 'node:path';
 * import { fileURLToPath } from 'node:url';
 * import { describePlatformContract } from '@fairmind/testing';
 *
 * describePlatformContract(join(dirname(fileURLToPath(import.meta.url)), '..'));
 * ```
 */
export function describePlatformContract(exampleRoot: string): void {
  const example = exampleName(exampleRoot);
  const pgDatabase = useTestDatabase();

  describe.each(modes)(`${example} on $name`, ({ postgres }) => {
    const suite = useExampleServer({ exampleRoot, postgres, database: pgDatabase });
    // The groups add no describe level of their own, so every test keeps its title. They share
    // one server and run in this order: the audit trail reads the failed logins of the
    // session tests.
    testOperations(suite);
    testSessions(suite);
    testAccessControl(suite);
    testGovernance(suite);
    testAuditTrail(suite);
    testParserRefusals(suite);
    testBadRequests(suite);
  });
}

/**
 * `/health` in each state of the services behind it: Redis killed (degraded, still 200) and
 * back (ok again), the database refusing connections (503, the check named in
 * `/health/ready`) and back. Redis is a throwaway server; the database is the file's own.
 */
export function describeHealthStates(exampleRoot: string): void {
  const pgDatabase = useTestDatabase();
  describe(`${exampleName(exampleRoot)}: health in each state`, () => {
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

    async function health() {
      const response = await fetch(`${server.base}/health`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }

    it('is ok with both services up', async () => {
      expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
    });

    it('is degraded, still 200, while Redis is down, and ok again once it is back', async () => {
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

    it('answers 503 with the failing check named while the database refuses connections', async () => {
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
  });
}
