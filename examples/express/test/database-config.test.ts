import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  databaseUrl,
  type ProcessResult,
  runTypeScript,
  startPostgresServer,
  useTestDatabase,
} from '@fairmind/testing';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pgDatabase = useTestDatabase();

// DATABASE_TIMEOUT stays at its 30 s: a start that waited it out would be killed first.
const START_LIMIT_MS = 20_000;

function start(url: string): Promise<ProcessResult> {
  return runTypeScript(join(root, 'src/main.ts'), {
    cwd: root,
    timeoutMs: START_LIMIT_MS,
    env: {
      PATH: process.env['PATH'],
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      FAIRMIND_ENV_FILE: 'none',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: url,
      JWT_SECRET: 'a-test-secret-of-at-least-32-characters',
    },
  });
}

/** The lines logged at error level or above (pino JSON), or written as plain text to stderr. */
function problems(result: ProcessResult): string[] {
  return `${result.stdout}\n${result.stderr}`
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 50;
      } catch {
        return true;
      }
    });
}

function expectOneClearLine(result: ProcessResult, reason: RegExp): void {
  expect(result.code).toBe(1);
  const lines = problems(result);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(reason);
  expect(lines[0]).toMatch(/DATABASE_URL/);
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/PoolTimeoutError|\\n\s+at /);
}

describe('a DATABASE_URL the server refuses', () => {
  it('naming a database that does not exist: exit 1 at once, with one line that says so', {
    timeout: START_LIMIT_MS + 5_000,
  }, async () => {
    const result = await start(databaseUrl(pgDatabase.adminUrl, 'fm_t_no_such_database'));
    expectOneClearLine(result, /database \\"fm_t_no_such_database\\" does not exist/);
  });

  it('with a wrong password: exit 1 at once, with one line that says so', {
    timeout: START_LIMIT_MS + 20_000,
  }, async () => {
    const server = await startPostgresServer({ auth: 'scram-sha-256' });
    try {
      const url = new URL(server.url);
      url.password = 'not-the-password';
      const result = await start(url.toString());
      expectOneClearLine(result, /password authentication failed for user \\"postgres\\"/);
    } finally {
      await server.remove();
    }
  });
});
