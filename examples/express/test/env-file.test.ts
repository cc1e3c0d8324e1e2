import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServer } from '@fairmind/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(root, 'src', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'fairmind-dotenv-'));
const servers: ServerProcess[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function policy(server: ServerProcess): Promise<string | null> {
  const response = await fetch(`${server.base}/api/v1/models`);
  return response.headers.get('ratelimit-policy');
}

describe('example-express and .env', () => {
  it('reads the .env in its working directory; the real environment wins', async () => {
    writeFileSync(
      join(dir, '.env'),
      'RATE_LIMIT_REQUESTS=7\nRATE_LIMIT_WINDOW=30\nDATABASE_URL=sqlite::memory:\n',
    );
    const server = await startServer({
      script,
      cwd: dir,
      // Empty counts as unset: the example looks for its usual files.
      env: { FAIRMIND_ENV_FILE: '', RATE_LIMIT_WINDOW: '45', LOG_LEVEL: 'info' },
    });
    servers.push(server);
    expect(await policy(server)).toBe('"default";q=7;w=45');
    expect(server.output()).toContain(`read ${join(dir, '.env')}: 2 variable(s) set, 1 left`);
  });

  it('reads the file FAIRMIND_ENV_FILE names, and says when there is none', async () => {
    const file = join(dir, 'staging.env');
    writeFileSync(file, 'RATE_LIMIT_REQUESTS=3\n');
    const named = await startServer({
      script,
      cwd: root,
      env: { FAIRMIND_ENV_FILE: file, DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'info' },
    });
    servers.push(named);
    expect(await policy(named)).toBe('"default";q=3;w=60');

    const none = await startServer({
      script,
      cwd: dir,
      env: { FAIRMIND_ENV_FILE: 'none', DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'info' },
    });
    servers.push(none);
    expect(await policy(none)).toBe('"default";q=1000;w=60');
    expect(none.output()).not.toContain('.env');
    // Two servers started one after the other: on a loaded CI machine each start alone can
    // take half of the default 30 s.
  }, 60_000);

  it('exits 1 with one clear line when FAIRMIND_ENV_FILE names a missing file', async () => {
    const missing = join(dir, 'missing.env');
    const failure = await startServer({
      script,
      cwd: dir,
      env: { FAIRMIND_ENV_FILE: missing, DATABASE_URL: 'sqlite::memory:' },
      startTimeoutMs: 15_000,
    }).then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toContain(`FAIRMIND_ENV_FILE names ${missing}, which does not exist`);
  });
});
