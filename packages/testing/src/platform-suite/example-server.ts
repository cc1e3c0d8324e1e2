import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { TestDatabase } from '../database.js';
import { type PgBouncer, startPgBouncer } from '../pgbouncer.js';
import { type RedisServer, startRedisServer } from '../redis-server.js';
import { type ServerProcess, startServer } from '../server.js';
import { testingError } from '../util.js';
import { type ApiClient, client, type Session } from './client.js';

/** The first admin each example creates at start-up from its environment. */
export const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

// The example's package name (example-express, ...), for the test titles.
export function exampleName(root: string): string {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name?: unknown;
  };
  if (typeof manifest.name !== 'string') {
    throw testingError(`${join(root, 'package.json')} has no name: is ${root} an example folder?`);
  }
  return manifest.name;
}

/**
 * What the contract's tests share: the running example, a client for it and the admin's
 * session. Read it inside a test, not when the test is declared: the server starts in
 * `beforeAll`.
 */
export interface PlatformSuite {
  /** PostgreSQL + Redis when true, SQLite + memory when false. */
  readonly postgres: boolean;
  readonly server: ServerProcess;
  readonly api: ApiClient;
  readonly admin: Session;
}

/** Options of {@link useExampleServer}. */
export interface ExampleServerOptions {
  /** The example's folder, holding `src/main.ts`. */
  readonly exampleRoot: string;
  readonly postgres: boolean;
  /** The file's own database, used in the PostgreSQL mode. */
  readonly database: TestDatabase;
  /** In the PostgreSQL mode, reach it through a PgBouncer in transaction mode. */
  readonly pgbouncer?: boolean | undefined;
}

/**
 * Starts the example for the enclosing `describe` (with a throwaway Redis in the PostgreSQL
 * mode, a SQLite file in a temp folder otherwise), logs the admin in, and kills it all after.
 */
export function useExampleServer(options: ExampleServerOptions): PlatformSuite {
  const { exampleRoot, postgres, database } = options;
  let server: ServerProcess;
  let redis: RedisServer | undefined;
  let bouncer: PgBouncer | undefined;
  let dataDir: string;
  let api: ApiClient;
  let admin: Session;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fm-e2e-'));
    if (postgres) redis = await startRedisServer();
    // Few server connections, so the example's pool shares them as a busy deployment would.
    if (postgres && options.pgbouncer) {
      bouncer = await startPgBouncer({ target: database.url, poolSize: 3 });
    }
    server = await startServer({
      script: 'src/main.ts',
      cwd: exampleRoot,
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        DATABASE_URL: !postgres
          ? `sqlite:${join(dataDir, 'fm.db')}`
          : bouncer
            ? bouncer.through(database.url)
            : database.url,
        REDIS_URL: redis?.url,
        FAIRMIND_ADMIN_EMAIL: ADMIN.email,
        FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
      },
    });
    api = client(server.base);
    admin = await api.login(ADMIN.email, ADMIN.password);
  });

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await redis?.stop();
    await bouncer?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  return {
    postgres,
    get server() {
      return server;
    },
    get api() {
      return api;
    },
    get admin() {
      return admin;
    },
  };
}
