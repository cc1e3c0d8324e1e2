import { randomBytes } from 'node:crypto';
import type { Server } from 'node:net';

/** Builds an error whose message carries the package prefix, so a failing suite says who spoke. */
export function testingError(message: string, cause?: unknown): Error {
  return cause === undefined
    ? new Error(`[@fairmind/testing] ${message}`)
    : new Error(`[@fairmind/testing] ${message}`, { cause });
}

/** Lower-case hex, safe inside SQL identifiers and Redis glob patterns without quoting. */
export function randomId(bytes = 6): string {
  return randomBytes(bytes).toString('hex');
}

export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    // node:net reports a refused dual-stack connect as an AggregateError with an empty message.
    return error.errors.map(describeError).join('; ');
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Hides the password so connection strings can go into error messages and CI logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}

/** Rejects after `ms` so a silent server cannot hang a hook until vitest's own timeout. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Listens on a free loopback port and resolves with it. */
export async function listenOnLoopback(server: Server, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw testingError(`${what} has no TCP port.`);
  }
  return address.port;
}

/**
 * Polls `condition` every `intervalMs` until it holds; throws, saying how long it waited, once
 * `timeoutMs` has passed. For states reached in the background (a replica catching up, a bus
 * message arriving), never as a measure of speed.
 *
 * @example
 * ```ts
 * await until(() => db.replicas()[0]?.usable === true);
 * ```
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw testingError(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
