import { describe, expect, it } from 'vitest';
import { serviceUrls } from './context.js';
import { freePort } from './redis-server.js';
import { checkPostgres, checkRedis } from './services.js';

describe('service checks used by the global setup', () => {
  it('accept the configured servers', async () => {
    const { databaseUrl, redisUrl } = serviceUrls();
    await expect(checkPostgres(databaseUrl)).resolves.toBeUndefined();
    await expect(checkRedis(redisUrl)).resolves.toBeUndefined();
  });

  it('name the variable, hide the password and say what to do when nothing answers', async () => {
    const port = await freePort();
    await expect(checkPostgres(`postgres://u:secret@127.0.0.1:${port}/db`)).rejects.toThrow(
      /^\[@fairmind\/testing\] FAIRMIND_TEST_DATABASE_URL=postgres:\/\/u:\*\*\*@127\.0\.0\.1:\d+\/db did not answer \(.*ECONNREFUSED.*\)\. Start that PostgreSQL server/,
    );
    await expect(checkRedis(`redis://127.0.0.1:${port}`)).rejects.toThrow(
      /^\[@fairmind\/testing\] FAIRMIND_TEST_REDIS_URL=redis:\/\/127\.0\.0\.1:\d+ did not answer .*Start that Redis server/,
    );
  });
});
