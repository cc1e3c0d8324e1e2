import { createConnection } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** Resolves with the socket error code, or 'connected' if something listens on the port. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function ping(url: string): Promise<string> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

describe('startRedisServer', () => {
  const servers: RedisServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('starts, dies on SIGKILL, and restarts on the same port', async () => {
    const server = await startRedisServer();
    servers.push(server);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await ping(server.url)).toBe('PONG');
    const firstPid = server.pid;

    await server.kill();
    expect(await connectOutcome(server.port)).toBe('ECONNREFUSED');
    await expect(ping(server.url)).rejects.toThrow();

    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(await ping(server.url)).toBe('PONG');

    await server.stop();
    expect(await connectOutcome(server.port)).toBe('ECONNREFUSED');
    // Stopping twice is a no-op, so cleanup code need not track state.
    await server.stop();
  });

  it('keeps data only in memory and applies extra arguments', async () => {
    const server = await startRedisServer({ args: ['--maxmemory', '12mb'] });
    servers.push(server);
    const client = new Redis(server.url);
    try {
      expect(await client.config('GET', 'save')).toEqual(['save', '']);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
      expect(await client.config('GET', 'maxmemory')).toEqual([
        'maxmemory',
        String(12 * 1024 * 1024),
      ]);
    } finally {
      client.disconnect();
    }
  });

  it('says what to do when the binary is missing', async () => {
    await expect(startRedisServer({ binary: 'no-such-redis-server' })).rejects.toThrow(
      /\[@fairmind\/testing\] no-such-redis-server was not found on PATH\. Install Redis/,
    );
  });
});
