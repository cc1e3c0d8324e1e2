import type { Logger } from '@fairmind/core';
import { type RedisServer, startRedisServer } from '@fairmind/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMemoryAuditSink } from '../audit/index.js';
import { createAuth } from '../auth/index.js';
import { createPasswordHasher } from '../passwords/index.js';
import { rejection, TEST_SECRET } from '../testing/index.js';
import { createMemoryUserStore } from '../users/index.js';
import {
  createRedisAttemptStore,
  createRedisRefreshFamilyStore,
  createRedisRevocationStore,
} from './index.js';

// Faults on a private redis-server: stopped, killed and restarted empty (no persistence), with
// clients made as docs/auth.md makes them, `new Redis(url)`: ioredis's default options, an
// offline queue and twenty retries per command, and no 'error' listener of the app's own.
const passwords = createPasswordHasher({ cost: 4, workers: 1 });
let server: RedisServer;
const clients: Redis[] = [];
beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  vi.restoreAllMocks();
  await server.restart();
});
afterAll(async () => {
  await server.stop();
  await passwords.close();
});

function recordingLogger() {
  const lines: Array<{ level: string; msg: string }> = [];
  const push = (level: string) => (_obj: object, msg?: string) => {
    lines.push({ level, msg: msg ?? '' });
  };
  const logger: Logger = {
    error: push('error'),
    warn: push('warn'),
    info: push('info'),
    debug: push('debug'),
    child: () => logger,
  };
  return { logger, lines };
}

async function connected(): Promise<Redis> {
  const client = new Redis(server.url);
  clients.push(client);
  await ready(client);
  return client;
}

async function platformLike(client: Redis, logger?: Logger) {
  const users = createMemoryUserStore();
  const audit = createMemoryAuditSink();
  const stores = { client, prefix: 'outage:', ...(logger ? { logger } : {}) };
  const auth = createAuth({
    secret: TEST_SECRET,
    passwords,
    users,
    audit,
    revocation: createRedisRevocationStore(stores),
    refreshFamilies: createRedisRefreshFamilyStore(stores),
    attempts: createRedisAttemptStore(stores),
  });
  await auth.createUser({ email: 'ada@example.com', password: 'correct horse', role: 'analyst' });
  return { auth, audit };
}

const ada = { email: 'ada@example.com', password: 'correct horse' };

/** Resolves once `client` is connected, now or later. */
function ready(client: Redis): Promise<unknown> {
  return client.status === 'ready'
    ? Promise.resolve()
    : new Promise((resolve) => client.once('ready', resolve));
}

/**
 * Stops Redis and waits until `client` has seen its connection close. `server.stop()` resolves
 * when the process has exited, which can be before the client reads the closed socket; a
 * command sent in that gap was in flight when Redis went away, and ioredis keeps such commands
 * to resend on reconnection (`autoResendUnfulfilledCommands`) - a different case from the one
 * these tests pin down, a command asked for while Redis is known to be down.
 */
async function stopRedisFor(client: Redis): Promise<void> {
  const closed =
    client.status === 'ready' ? new Promise((resolve) => client.once('close', resolve)) : null;
  await server.stop();
  await closed;
}

/** Commands ioredis holds for the reconnection. */
function queued(client: Redis): number {
  return (client as unknown as { offlineQueue: { length: number } }).offlineQueue.length;
}

describe('auth with Redis stopped', () => {
  it('answers a login with 503 at once, leaving no command queued for the reconnection', async () => {
    const client = await connected();
    const { auth, audit } = await platformLike(client);
    await stopRedisFor(client);
    const login = rejection(auth.login(ada, { ip: '203.0.113.7' }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Nothing waits in ioredis's offline queue: the stores refused to send while disconnected.
    expect(queued(client)).toBe(0);
    const error = await login;
    expect([error.code, error.status, error.headers?.['Retry-After']]).toEqual([
      'AUTH_STORE_UNAVAILABLE',
      503,
      '1',
    ]);
    // The audit trail says what happened: the store was unavailable, nobody was locked out.
    const types = audit.events.map((event) => event.type);
    expect(types).toEqual(['user.created', 'login.unavailable']);
    expect(audit.events.at(-1)?.details['reason']).toMatch(/could not be reached/);
  });

  it('bounds logout and refresh the same way', async () => {
    const client = await connected();
    const { auth } = await platformLike(client);
    const { accessToken, refreshToken } = await auth.login(ada);
    const principal = await auth.verifyAccessToken(accessToken);
    await stopRedisFor(client);
    expect((await rejection(auth.refresh(refreshToken))).code).toBe('AUTH_STORE_UNAVAILABLE');
    expect((await rejection(auth.logout(principal, { refreshToken }))).code).toBe(
      'AUTH_STORE_UNAVAILABLE',
    );
    expect(queued(client)).toBe(0);
  });

  it("gives the app's client an 'error' listener that logs once, not an unhandled error per retry", async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { logger, lines } = recordingLogger();
    const client = await connected();
    await platformLike(client, logger);
    await server.stop();
    // ioredis retries every few ms at first: a second is a dozen reconnection attempts.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const unhandled = consoleError.mock.calls.filter((call) =>
      String(call[0]).includes('Unhandled error event'),
    );
    expect(unhandled).toHaveLength(0);
    expect(lines.filter((line) => line.level === 'warn')).toHaveLength(1);
    await server.restart();
    await ready(client);
    expect(lines.filter((line) => line.level === 'info')).toEqual([
      { level: 'info', msg: '[@fairmind/auth] Redis connection is ready again' },
    ]);
  });
});

describe('a Redis that restarts empty', () => {
  it('does not bring a logged-out token back to life: older tokens are refused until re-issued', async () => {
    const client = await connected();
    const { auth } = await platformLike(client);
    const { accessToken, refreshToken } = await auth.login(ada);
    const principal = await auth.verifyAccessToken(accessToken);
    await auth.logout(principal, { refreshToken });
    expect((await rejection(auth.verifyAccessToken(accessToken))).code).toBe('TOKEN_REVOKED');

    // A restart without persistence: every key, the revocation included, is gone.
    await server.kill();
    await server.restart();
    await ready(client);
    expect(await client.dbsize()).toBe(0);
    // Past the epoch's re-read interval (1 s) and its one second of slack for the token's iat.
    await new Promise((resolve) => setTimeout(resolve, 2_100));

    const error = await rejection(auth.verifyAccessToken(accessToken));
    expect([error.code, error.status]).toEqual(['TOKEN_REVOKED', 401]);
    expect(error.message).toMatch(/revocation list \(it was reset\)/);
    // A token issued after the loss works: signing in again is the way back.
    const fresh = await auth.login(ada);
    await expect(auth.verifyAccessToken(fresh.accessToken)).resolves.toMatchObject({
      role: 'analyst',
    });
  });
});
