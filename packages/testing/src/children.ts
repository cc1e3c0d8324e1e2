import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { sleep } from './util.js';

/** A server process a helper started, with a promise of the tail of its log once it exited. */
export interface Instance {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<string>;
}

/** A server a fault test controls: stop it, crash it, start it again where it was. */
export interface ControlledServer {
  readonly port: number;
  readonly url: string;
  /** The current (or, once stopped, the last) process id. */
  readonly pid: number;
  /** A clean stop, as in a planned restart; resolves once the process is gone. */
  stop(): Promise<void>;
  /** A crash; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it still runs). */
  restart(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

/** The last 2,000 characters of a server's log file, for an error message. */
export function readLogTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2_000) || '(empty log)';
  } catch {
    return '(no log written)';
  }
}

/** Resolves once `child` has started, with the error that kept it from starting, if any. */
export function spawnOutcome(child: ChildProcess): Promise<Error | undefined> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/**
 * Sends `signal` to the instance's pid and waits for it to exit; a signal other than SIGKILL
 * is given 5 s, then SIGKILL follows. No-op on a process that already exited.
 */
export async function terminate(instance: Instance, signal: NodeJS.Signals): Promise<void> {
  if (isRunning(instance.child)) {
    instance.child.kill(signal);
    if (signal !== 'SIGKILL') {
      const stopped = await Promise.race([
        instance.exited.then(() => true),
        sleep(STOP_GRACE_MS).then(() => false),
      ]);
      if (!stopped) instance.child.kill('SIGKILL');
    }
  }
  await instance.exited;
}

// Cleanup when the test process ends with servers still running. Vitest stops its fork
// workers with SIGTERM, which skips 'exit' handlers, so the signals are handled too, but only
// while something is registered: otherwise the process keeps its usual signal behaviour.
const live = new Map<object, () => void>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * Runs `cleanUp` (synchronously: kill a child, remove a directory) if the test process ends
 * while `key` is still registered.
 */
export function onTestProcessExit(key: object, cleanUp: () => void): void {
  if (live.size === 0) {
    process.on('exit', cleanUpAll);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  live.set(key, cleanUp);
}

/** Forgets `key`, returning its clean-up so the caller may run it now. */
export function forget(key: object): (() => void) | undefined {
  const cleanUp = live.get(key);
  if (cleanUp === undefined) return undefined;
  live.delete(key);
  if (live.size === 0) {
    process.off('exit', cleanUpAll);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  return cleanUp;
}

/** Synchronous, as 'exit' handlers must be. */
function cleanUpAll(): void {
  for (const cleanUp of live.values()) {
    try {
      cleanUp();
    } catch {
      // Best effort while the process is going away.
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanUpAll();
  process.off('exit', cleanUpAll);
  for (const other of SIGNALS) process.off(other, onSignal);
  // Listening for the signal cancelled its default action; with no one else listening, die of
  // it as the process would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/**
 * Resolves with the tail of `logFile` once `child` exits, after forgetting it and removing its
 * folder `dir` (which holds the log).
 */
export function exitedWithLog(child: ChildProcess, logFile: string, dir: string): Promise<string> {
  return new Promise<string>((resolve) => {
    child.once('exit', () => {
      const log = readLogTail(logFile);
      forget(child);
      rmSync(dir, { recursive: true, force: true });
      resolve(log);
    });
  });
}
