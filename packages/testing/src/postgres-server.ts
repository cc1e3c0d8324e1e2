import { execFile, spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  type ControlledServer,
  forget,
  type Instance,
  isRunning,
  onTestProcessExit,
  readLogTail,
  spawnOutcome,
  terminate,
} from './children.js';
import { freePort } from './redis-server.js';
import { describeError, randomId, sleep, testingError } from './util.js';

export interface StartPostgresServerOptions {
  /**
   * How TCP logins are checked: `trust` takes any password, `scram-sha-256` refuses a wrong
   * one (SQLSTATE 28P01), which the shared test server, on trust, cannot show.
   * @default 'trust'
   */
  auth?: 'trust' | 'scram-sha-256';
  /** The password of the superuser `postgres`. @default a random one */
  password?: string;
  /** Port to listen on; a free one is picked when omitted. */
  port?: number;
  /** The folder of `initdb` and `postgres`. @default found on PATH */
  binDir?: string;
  /** How long to wait for the first successful login, in ms. @default 15_000 */
  startTimeoutMs?: number;
}

/**
 * `url` is `postgres://postgres:<password>@127.0.0.1:<port>/postgres`; stop is a fast shutdown
 * (SIGINT: clients are disconnected), kill an immediate one (SIGQUIT: no checkpoint, backends
 * die at once).
 */
export interface PostgresServer extends ControlledServer {
  readonly password: string;
  /** Stops the server and deletes its cluster. */
  remove(): Promise<void>;
  /**
   * A streaming replica of this server: `pg_basebackup -R` into a cluster of its own, started
   * as a hot standby on a spare port; resolves once it takes logins. Its `url` reads the
   * same databases; `remove()` stops it and deletes its copy.
   */
  startReplica(): Promise<PostgresServer>;
}

const HOST = '127.0.0.1';
const run = promisify(execFile);

/** Where one throwaway cluster lives and whom its programs run as. */
interface ClusterLayout {
  readonly dir: string;
  readonly data: string;
  readonly owner: { uid: number; gid: number } | undefined;
  readonly bin: (name: string) => string;
}

/** A cluster and where its server listens: everything a (re)start needs. */
interface LaunchTarget extends ClusterLayout {
  readonly port: number;
  readonly url: string;
  readonly startTimeoutMs: number;
}

/**
 * Creates a throwaway PostgreSQL cluster (initdb, in a temp folder, fsync off) and starts it on
 * a loopback port: for fault tests that stop, crash or restart the database, and for
 * authentication failures, without touching the shared server. Under root, both programs run
 * as the `postgres` user, which PostgreSQL requires.
 */
export async function startPostgresServer(
  options: StartPostgresServerOptions = {},
): Promise<PostgresServer> {
  const password = options.password ?? randomId(12);
  const dir = mkdtempSync(join(tmpdir(), 'fm-pg-'));
  const cluster = {};
  onTestProcessExit(cluster, () => rmSync(dir, { recursive: true, force: true }));
  const layout: ClusterLayout = {
    dir,
    data: join(dir, 'data'),
    owner: serverUser(),
    bin: (name) => (options.binDir ? join(options.binDir, name) : name),
  };
  await removingOnFailure(cluster, initCluster(layout, password, options.auth ?? 'trust'));
  const port = options.port ?? (await freePort());
  const target: LaunchTarget = {
    ...layout,
    port,
    url: `postgres://postgres:${encodeURIComponent(password)}@${HOST}:${port}/postgres`,
    startTimeoutMs: options.startTimeoutMs ?? 15_000,
  };
  return controlled(
    cluster,
    target,
    password,
    await removingOnFailure(cluster, launchPostgres(target)),
  );
}

/** The handle of a started cluster, primary or replica. */
function controlled(
  cluster: object,
  target: LaunchTarget,
  password: string,
  started: Instance,
): PostgresServer {
  let instance = started;
  return {
    port: target.port,
    url: target.url,
    password,
    get pid() {
      return instance.pid;
    },
    stop: () => terminate(instance, 'SIGINT'),
    kill: () => terminate(instance, 'SIGQUIT'),
    restart: async () => {
      await terminate(instance, 'SIGINT');
      instance = await launchPostgres(target);
    },
    remove: async () => {
      await terminate(instance, 'SIGINT');
      forget(cluster)?.();
    },
    startReplica: () => startReplica(target, password),
  };
}

/** `pg_basebackup -R` of `primary` into a new temp folder, started on a spare port. */
async function startReplica(primary: LaunchTarget, password: string): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fm-pg-replica-'));
  const cluster = {};
  onTestProcessExit(cluster, () => rmSync(dir, { recursive: true, force: true }));
  const { owner, bin } = primary;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  await removingOnFailure(
    cluster,
    run(
      bin('pg_basebackup'),
      [
        ...['-D', data, '-h', HOST, '-p', String(primary.port), '-U', 'postgres'],
        // -R writes standby.signal and primary_conninfo; -X stream copies the WAL it needs.
        ...['-R', '-X', 'stream', '--no-sync', '-c', 'fast'],
      ],
      { ...(owner ?? {}), env: { ...process.env, PGPASSWORD: password }, timeout: 60_000 },
    ).catch((error: unknown) => {
      throw testingError(`pg_basebackup failed (${describeError(error)}).`, error);
    }),
  );
  const port = await freePort();
  const target: LaunchTarget = {
    dir,
    data,
    owner,
    bin,
    port,
    url: `postgres://postgres:${encodeURIComponent(password)}@${HOST}:${port}/postgres`,
    startTimeoutMs: primary.startTimeoutMs,
  };
  return controlled(
    cluster,
    target,
    password,
    await removingOnFailure(cluster, launchPostgres(target)),
  );
}

/** A failed start-up step deletes the cluster at once, rather than at the test process's exit. */
async function removingOnFailure<T>(cluster: object, step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (error) {
    forget(cluster)?.();
    throw error;
  }
}

/** Runs initdb with the superuser's password read from a file, never from the command line. */
async function initCluster(
  { dir, data, owner, bin }: ClusterLayout,
  password: string,
  auth: NonNullable<StartPostgresServerOptions['auth']>,
): Promise<void> {
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, password);
  if (owner) for (const path of [dir, passwordFile]) chownSync(path, owner.uid, owner.gid);
  try {
    await run(
      bin('initdb'),
      [
        ...['-D', data, '-U', 'postgres', '-A', auth],
        ...[`--pwfile=${passwordFile}`, '--no-sync', '-E', 'UTF8', '--no-instructions'],
      ],
      { ...(owner ?? {}), timeout: 60_000 },
    );
  } catch (error) {
    throw testingError(
      `initdb failed (${describeError(error)}). Install PostgreSQL's server programs (apt-get ` +
        'install postgresql) or pass binDir with the folder of initdb and postgres.',
      error,
    );
  }
}

/** Starts postgres on the cluster, its output appended to a log file read back on failure. */
async function launchPostgres(target: LaunchTarget): Promise<Instance> {
  const { dir, data, owner, bin, port } = target;
  const logFile = join(dir, 'postgres.log');
  const log = openSync(logFile, 'a');
  if (owner) chownSync(logFile, owner.uid, owner.gid);
  const child = spawn(
    bin('postgres'),
    [
      ...['-D', data, '-p', String(port), '-k', dir, '-h', HOST],
      ...['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'shared_buffers=16MB'],
    ],
    { ...(owner ?? {}), stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const spawnError = await spawnOutcome(child);
  if (spawnError !== undefined || child.pid === undefined) {
    throw testingError(`could not start postgres (${describeError(spawnError)}).`, spawnError);
  }
  child.unref();
  onTestProcessExit(child, () => child.kill('SIGKILL'));
  const exited = new Promise<string>((resolve) => {
    child.once('exit', () => {
      forget(child);
      resolve(readLogTail(logFile));
    });
  });
  const instance: Instance = { child, pid: child.pid, exited };
  await awaitFirstLogin(instance, target);
  return instance;
}

/**
 * An open port is not enough: postgres takes connections while it is still starting up and
 * refuses their logins (57P03), so the server counts as started at its first login.
 */
async function awaitFirstLogin(
  instance: Instance,
  { port, url, startTimeoutMs }: LaunchTarget,
): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(instance.child)) {
      throw testingError(
        `postgres exited during start-up on port ${port}:\n${await instance.exited}`,
      );
    }
    if ((await loginOutcome(url)) === 'ok') return;
    await sleep(50);
  }
  await terminate(instance, 'SIGQUIT');
  throw testingError(
    `postgres on port ${port} took no login within the start timeout:\n${await instance.exited}`,
  );
}

/** Under root, the `postgres` user that PostgreSQL and PgBouncer must run as; else none. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw testingError(
      'running as root, but there is no postgres user to run PostgreSQL as: create one ' +
        '(useradd postgres) or run the tests as an unprivileged user.',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** The SQLSTATE or socket error code of one login and `select 1`, or `'ok'`. */
export async function loginOutcome(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return 'ok';
  } catch (error) {
    return String((error as { code?: unknown }).code ?? describeError(error));
  } finally {
    await client.end().catch(() => {});
  }
}
