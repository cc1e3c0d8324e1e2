import { EventEmitter } from 'node:events';
import { startRedisServer } from '@fairmind/testing';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../log/index.js';
import { watchRedisClient } from './index.js';

function recording() {
  const lines: Array<{ level: string; msg: string | undefined }> = [];
  const logger: Logger = {
    error: (_obj, msg) => lines.push({ level: 'error', msg }),
    warn: (_obj, msg) => lines.push({ level: 'warn', msg }),
    info: (_obj, msg) => lines.push({ level: 'info', msg }),
    debug: (_obj, msg) => lines.push({ level: 'debug', msg }),
    child: () => logger,
  };
  return { logger, lines, loud: () => lines.filter((line) => line.level !== 'debug') };
}

// ioredis may reconnect while the test still awaits the server's own start-up PING, so 'ready'
// can fire before a listener is attached: look at the status first.
function ready(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

describe('watchRedisClient', () => {
  it('logs one warning per outage and one line when Redis is back, however many retries', async () => {
    const server = await startRedisServer();
    const { logger, loud } = recording();
    // ioredis's defaults, as the guides' `new Redis(url)`: it retries every few ms at first.
    const client = new Redis(server.url);
    try {
      expect(watchRedisClient(client, { logger, name: 'test' })).toBe(true);
      await ready(client);
      await server.stop();
      // Let ioredis retry for a second: a dozen attempts or more, each an 'error'.
      let errors = 0;
      client.on('error', () => errors++);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(errors).toBeGreaterThan(2);
      expect(loud()).toEqual([
        { level: 'warn', msg: expect.stringContaining('[test] Redis connection failed') },
      ]);
      await server.restart();
      await ready(client);
      expect(loud()).toEqual([
        { level: 'warn', msg: expect.stringContaining('Redis connection failed') },
        { level: 'info', msg: '[test] Redis connection is ready again' },
      ]);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('watches a client once, whoever asks first', () => {
    const client = new EventEmitter();
    const first = recording();
    const second = recording();
    expect(watchRedisClient(client, { logger: first.logger })).toBe(true);
    expect(watchRedisClient(client, { logger: second.logger })).toBe(false);
    client.emit('error', new Error('ECONNREFUSED'));
    expect(first.lines).toHaveLength(1);
    expect(second.lines).toHaveLength(0);
    expect(client.listenerCount('error')).toBe(1);
  });
});
