import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError, sleep, testingError } from './util.js';

export interface StartRedisServerOptions {
  /** Port to listen on; a free one is picked when omitted. */
  port?: number;
  /** The executable; defaults to `redis-server` on PATH. */
  binary?: string;
  /** Extra arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: readonly string[];
  /** How long to wait for the first PONG, in ms (default 5000). */
  startTimeoutMs?: number;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The current (or, once stopped, the last) process id. */
  readonly pid: number;
  /** SIGTERM, then wait for the process to exit (SIGKILL after 5 s). No-op if not running. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it still runs). */
  restart(): Promise<void>;
}

interface Instance {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the tail of the server's log once the process has exited. */
  readonly exited: Promise<string>;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 5_000;
// Ports picked by listening on 0 can be taken again before redis binds them; retry a few times.
const PORT_ATTEMPTS = 3;

/**
 * Spawns a throwaway `redis-server` on a loopback port (no persistence, its own temp dir) and
 * resolves once it answers PING. For fault tests: stop it, kill it, restart it mid-test.
 */
export async function startRedisServer(
  options: StartRedisServerOptions = {},
): Promise<RedisServer> {
  const binary = options.binary ?? 'redis-server';
  const launchOptions: LaunchOptions = {
    binary,
    args: options.args ?? [],
    startTimeoutMs: options.startTimeoutMs ?? 5_000,
  };

  let port = options.port ?? (await freePort());
  let current: Instance | undefined;
  for (let attempt = 1; current === undefined; attempt++) {
    try {
      current = await launch(port, launchOptions);
    } catch (error) {
      const retry =
        error instanceof PortInUse && options.port === undefined && attempt < PORT_ATTEMPTS;
      if (!retry) throw error instanceof PortInUse ? testingError(error.message) : error;
      port = await freePort();
    }
  }

  let instance: Instance = current;
  const fixedPort = port;
  return {
    port: fixedPort,
    url: `redis://${HOST}:${fixedPort}`,
    get pid() {
      return instance.pid;
    },
    stop: () => terminate(instance, 'SIGTERM'),
    kill: () => terminate(instance, 'SIGKILL'),
    restart: async () => {
      await terminate(instance, 'SIGTERM');
      try {
        instance = await launch(fixedPort, launchOptions);
      } catch (error) {
        if (!(error instanceof PortInUse)) throw error;
        throw testingError(`restart failed, port ${fixedPort} is taken: ${error.message}`);
      }
    },
  };
}

interface LaunchOptions {
  binary: string;
  args: readonly string[];
  startTimeoutMs: number;
}

class PortInUse extends Error {}

async function launch(port: number, options: LaunchOptions): Promise<Instance> {
  const { binary, startTimeoutMs } = options;
  // A directory per process, removed when it exits; with --save "" it only holds the log.
  const dir = mkdtempSync(join(tmpdir(), 'fm-redis-'));
  const logFile = join(dir, 'redis.log');
  const args = [
    ...['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    ...['--dir', dir, '--logfile', logFile],
    ...options.args,
  ];
  // Output goes to a file, not a pipe, so an open pipe never keeps the test process alive.
  const child = spawn(binary, args, { stdio: 'ignore' });
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (spawnError !== undefined || child.pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    const notFound = (spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    throw testingError(
      notFound
        ? `${binary} was not found on PATH. Install Redis (e.g. apt-get install redis-server) ` +
            'or pass options.binary with the path of a redis-server executable.'
        : `could not start ${binary} (${describeError(spawnError)}).`,
      spawnError,
    );
  }
  // The test process may exit without waiting for it; the cleanup hooks below kill it then.
  child.unref();
  track(child, dir);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', () => {
      const log = readLog(logFile);
      untrack(child);
      resolve(log);
    });
  });
  const instance: Instance = { child, pid: child.pid, exited };

  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(child)) {
      const log = await exited;
      const message = `${binary} exited during start-up on port ${port}. Its log:\n${log}`;
      if (/already in use/i.test(log)) throw new PortInUse(message);
      throw testingError(message);
    }
    if (await ping(port)) return instance;
    await sleep(25);
  }
  await terminate(instance, 'SIGKILL');
  throw testingError(
    `${binary} on port ${port} did not answer PING within ${startTimeoutMs} ms. Its log:\n` +
      (await exited),
  );
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function terminate(instance: Instance, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (isRunning(instance.child)) {
    instance.child.kill(signal);
    if (signal === 'SIGTERM') {
      const stopped = await Promise.race([
        instance.exited.then(() => true),
        sleep(STOP_GRACE_MS).then(() => false),
      ]);
      if (!stopped) instance.child.kill('SIGKILL');
    }
  }
  await instance.exited;
}

/** Asks the OS for a free loopback port by listening on port 0 and closing again. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(testingError('could not determine a free port.'));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** One raw PING; a plain socket avoids a client library's reconnect logic while polling. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2_000) || '(empty log)';
  } catch {
    return '(no log written)';
  }
}

// Cleanup when the test process ends with servers still running. Vitest stops its fork
// workers with SIGTERM, which skips 'exit' handlers, so the signals are handled too, but only
// while a server is alive: otherwise the process keeps its usual signal behaviour.
const live = new Map<ChildProcess, string>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function track(child: ChildProcess, dir: string): void {
  if (live.size === 0) {
    process.on('exit', cleanUp);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  live.set(child, dir);
}

function untrack(child: ChildProcess): void {
  const dir = live.get(child);
  if (dir === undefined) return;
  live.delete(child);
  rmSync(dir, { recursive: true, force: true });
  if (live.size === 0) {
    process.off('exit', cleanUp);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}

/** Synchronous, as 'exit' handlers must be. */
function cleanUp(): void {
  for (const [child, dir] of live) {
    try {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort while the process is going away.
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanUp();
  process.off('exit', cleanUp);
  for (const other of SIGNALS) process.off(other, onSignal);
  // Listening for the signal cancelled its default action; with no one else listening, die of
  // it as the process would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}
