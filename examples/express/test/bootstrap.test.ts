import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServer, useTestDatabase } from '@fairmind/testing';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };
const pgDatabase = useTestDatabase();
const servers: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop('SIGKILL')));
});

/** The start-up lines (pino JSON) whose message matches `pattern`. */
function logged(server: ServerProcess, pattern: RegExp): string[] {
  return server
    .output()
    .split('\n')
    .filter((line) => pattern.test(line));
}

describe('two instances started at the same moment on a new PostgreSQL database', () => {
  it('both come up, and exactly one creates the first admin', { timeout: 60_000 }, async () => {
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: pgDatabase.url,
      FAIRMIND_ADMIN_EMAIL: ADMIN.email,
      FAIRMIND_ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET: 'a-shared-secret-of-at-least-32-characters',
    };
    const started = await Promise.all([
      startServer({ script: 'src/main.ts', cwd: root, env }),
      startServer({ script: 'src/main.ts', cwd: root, env }),
    ]);
    servers.push(...started);
    // Per instance: [lines saying it created the admin, lines saying it found one].
    const outcomes = started.map((server) => [
      logged(server, /created the first admin/).length,
      logged(server, /first admin already exists/).length,
    ]);
    expect(outcomes.toSorted()).toEqual([
      [0, 1],
      [1, 0],
    ]);
    for (const server of started) {
      const login = await fetch(`${server.base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ADMIN),
      });
      expect(login.status).toBe(200);
    }
  });
});
