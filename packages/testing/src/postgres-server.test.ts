import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loginOutcome as login,
  type PostgresServer,
  startPostgresServer,
} from './postgres-server.js';

describe('startPostgresServer', () => {
  let server: PostgresServer;
  afterAll(async () => {
    await server?.remove();
  });

  it('checks passwords, stops, restarts on its port with its data, and removes its cluster', async () => {
    server = await startPostgresServer({ auth: 'scram-sha-256' });
    expect(await login(server.url)).toBe('ok');
    const wrong = new URL(server.url);
    wrong.password = 'not-the-password';
    expect(await login(wrong.toString())).toBe('28P01');

    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('create table kept (n int)');
    const dataDir = (
      await admin.query<{ d: string }>("select current_setting('data_directory') as d")
    ).rows[0]?.d;
    await admin.end();

    const pid = server.pid;
    await server.stop();
    expect(await login(server.url)).toBe('ECONNREFUSED');
    await server.restart();
    expect(server.pid).not.toBe(pid);
    const after = new pg.Client({ connectionString: server.url });
    await after.connect();
    await expect(after.query('select count(*) from kept')).resolves.toBeDefined();
    await after.end();

    await server.remove();
    expect(await login(server.url)).toBe('ECONNREFUSED');
    expect(dataDir && existsSync(dataDir)).toBe(false);
  });
});
