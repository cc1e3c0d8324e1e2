import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { freePort } from './redis-server.js';

/** A server running as a child process, for end-to-end tests. */
export interface ServerProcess {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** The TypeScript entry point, run through tsx. */
  script?: string;
  /**
   * A command instead of `script`, such as `['pnpm', 'start']`: what a user types. It runs in
   * a process group of its own, which `stop` signals whole (pnpm, its shell and the server).
   */
  command?: readonly [string, ...string[]];
  cwd: string;
  /** The child's environment, on top of PATH; `PORT` and `HOST` are set for it. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The path polled until it answers 200. @default '/health/live' */
  readyPath?: string;
  /** @default 30_000 */
  startTimeoutMs?: number;
  /** The port, to start a server again where it was (a rolling restart). @default a free one */
  port?: number;
}

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

// Longer than a server's drain deadline (10 s), then the group is killed outright.
const GROUP_EXIT_TIMEOUT_MS = 15_000;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once no process of the group is left, killing what remains after the timeout. */
async function groupGone(pgid: number | undefined): Promise<void> {
  if (pgid === undefined) return;
  const deadline = Date.now() + GROUP_EXIT_TIMEOUT_MS;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) {
      process.kill(-pgid, 'SIGKILL');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts a server on a free loopback port and waits until `readyPath` answers. Fails with the
 * server's own output when it exits early or does not come up in time.
 */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOST: '127.0.0.1',
    PORT: String(port),
    // A developer's .env must not reach a test server; a test that wants one names it.
    FAIRMIND_ENV_FILE: 'none',
  };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value !== undefined) env[name] = value;
  }
  env['PORT'] = String(port);
  if ((options.script === undefined) === (options.command === undefined)) {
    throw new Error('[@fairmind/testing] startServer takes a script or a command, not both');
  }
  const [file, ...args] = options.command ?? [
    process.execPath,
    '--import',
    tsxLoader,
    options.script as string,
  ];
  const group = options.command !== undefined;
  const child = spawn(file, args, {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: group,
  });
  const signal = (name: NodeJS.Signals) => {
    if (group && child.pid !== undefined) process.kill(-child.pid, name);
    else child.kill(name);
  };
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const server: ServerProcess = {
    base,
    port,
    child,
    output: () => output,
    async stop(name = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) {
        if (group) await groupGone(child.pid);
        return child.exitCode;
      }
      const exited = once(child, 'exit');
      signal(name);
      const [code] = (await exited) as [number | null];
      // pnpm exits at once on SIGTERM while the server it started still drains and logs. Wait
      // for the whole group (reading its output all along), or a server whose output pipe was
      // closed under it hangs in its logger's exit flush and outlives the test run.
      if (group) await groupGone(child.pid);
      return code;
    },
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`[@fairmind/testing] the server exited early:\n${output}`);
    try {
      const response = await fetch(`${base}${options.readyPath ?? '/health/live'}`);
      if (response.ok) return server;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  signal('SIGKILL');
  throw new Error(
    `[@fairmind/testing] the server did not answer within the start timeout:\n${output}`,
  );
}
