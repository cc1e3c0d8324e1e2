import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  exitedWithLog,
  type Instance,
  isRunning,
  onTestProcessExit,
  spawnOutcome,
  terminate,
} from './children.js';
import { serverUser } from './postgres-server.js';
import { freePort } from './redis-server.js';
import { describeError, sleep, testingError } from './util.js';

const HOST = '127.0.0.1';

export interface StartPgBouncerOptions {
  /** The PostgreSQL every database name is sent to, as a URL (its host and port are used). */
  target: string;
  /**
   * `transaction` gives each transaction any server connection (what large deployments run);
   * `session` keeps one per client connection.
   * @default 'transaction'
   */
  poolMode?: 'transaction' | 'session' | undefined;
  /** Server connections per database and user. @default 20 */
  poolSize?: number | undefined;
  /** @default 10_000 */
  startTimeoutMs?: number | undefined;
}

/** A PgBouncer the test started, forwarding every database name to its target. */
export interface PgBouncer {
  readonly port: number;
  readonly pid: number;
  /** `url` with its host and port replaced by PgBouncer's: the same database, through it. */
  through(url: string): string;
  /** Stops it (SIGINT: a safe shutdown); resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `pgbouncer` on a spare loopback port, trusting every login and forwarding
 * any database name to `target`, and resolves once a query through it answers. Under root it
 * runs as the `postgres` user (PgBouncer refuses root).
 *
 * @example
 * ```ts
 * const bouncer = await startPgBouncer({ target: database.url });
 * const db = createDatabase({ url: bouncer.through(database.url) });
 * ```
 */
export async function startPgBouncer(options: StartPgBouncerOptions): Promise<PgBouncer> {
  const target = new URL(options.target);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fm-pgbouncer-'));
  const owner = serverUser();
  const { ini, logFile, files } = writeConfig({ dir, target, port, options });
  if (owner) for (const path of [dir, ...files]) chownSync(path, owner.uid, owner.gid);
  const child = spawn('pgbouncer', [ini], { ...(owner ?? {}), stdio: 'ignore' });
  const spawnError = await spawnOutcome(child);
  if (spawnError !== undefined || child.pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    const missing = (spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    throw testingError(
      missing
        ? 'pgbouncer was not found on PATH: install it (apt-get install pgbouncer).'
        : `could not start pgbouncer (${describeError(spawnError)}).`,
      spawnError,
    );
  }
  child.unref();
  onTestProcessExit(child, () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const exited = exitedWithLog(child, logFile, dir);
  const instance: Instance = { child, pid: child.pid, exited };
  const through = (url: string): string => {
    const next = new URL(url);
    next.hostname = HOST;
    next.port = String(port);
    return next.toString();
  };

  const stop = () => terminate(instance, 'SIGINT');
  await firstQuery({
    instance,
    url: through(options.target),
    timeoutMs: options.startTimeoutMs ?? 10_000,
  });
  return { port, pid: child.pid, through, stop };
}

function writeConfig({
  dir,
  target,
  port,
  options,
}: {
  dir: string;
  target: URL;
  port: number;
  options: StartPgBouncerOptions;
}): { ini: string; logFile: string; files: string[] } {
  const users = join(dir, 'users.txt');
  const logFile = join(dir, 'pgbouncer.log');
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(users, `"${decodeURIComponent(target.username || 'postgres')}" ""\n`);
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '[pgbouncer]',
      `listen_addr = ${HOST}`,
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 20}`,
      'max_client_conn = 1000',
      // pg sends extra_float_digits at start-up, which PgBouncer must be told to pass over.
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${logFile}`,
      '',
    ].join('\n'),
  );
  return { ini, logFile, files: [users, ini] };
}

/** Resolves once a query through PgBouncer answers; fails with its log if it never does. */
async function firstQuery({
  instance,
  url,
  timeoutMs,
}: {
  instance: Instance;
  url: string;
  timeoutMs: number;
}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!isRunning(instance.child)) {
      throw testingError(`pgbouncer exited during start-up. Its log:\n${await instance.exited}`);
    }
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (error) {
      last = error;
      await client.end().catch(() => {});
    }
    await sleep(50);
  }
  await terminate(instance, 'SIGKILL');
  throw testingError(
    `pgbouncer did not pass a query within ${timeoutMs} ms (${describeError(last)}). Its log:\n` +
      (await instance.exited),
  );
}
