import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** `url` is `redis://127.0.0.1:<port>`; stop is SIGTERM (SIGKILL after 5 s), kill SIGKILL. */
export type RedisServer = ControlledServer;

const HOST = '127.0.0.1';
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
  const spawnError = await spawnOutcome(child);
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
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  onTestProcessExit(child, () => {
    child.kill('SIGKILL');
    removeDir();
  });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', () => {
      const log = readLogTail(logFile);
      forget(child);
      removeDir();
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
