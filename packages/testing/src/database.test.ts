import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { serviceUrls } from './context.js';
import {
  createTestDatabase,
  databaseUrl,
  dropTestDatabase,
  terminateBackends,
} from './database.js';
import { useTestDatabase } from './hooks.js';
import { sleep } from './util.js';

// Read at the top level on purpose: the handle must refuse until its beforeAll has run.
const db = useTestDatabase();
let earlyRead: unknown;
try {
  void db.url;
} catch (error) {
  earlyRead = error;
}

async function query<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe('useTestDatabase', () => {
  it('throws a clear error when read before beforeAll', () => {
    expect(earlyRead).toBeInstanceOf(Error);
    expect((earlyRead as Error).message).toMatch(
      /^\[@fairmind\/testing\] useTestDatabase\(\) handle read before/,
    );
  });

  it('connects to a fresh, empty database of its own', async () => {
    const { runId, databaseUrl: adminUrl } = serviceUrls();
    expect(db.adminUrl).toBe(adminUrl);
    expect(db.name).toMatch(new RegExp(`^fm_t_${runId}_[0-9a-f]+$`));
    const rows = await query<{ name: string; tables: number }>(
      db.url,
      `SELECT current_database() AS name,
              (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public') AS tables`,
    );
    expect(rows).toEqual([{ name: db.name, tables: 0 }]);
  });
});

describe('createTestDatabase / dropTestDatabase', () => {
  it('creates and drops a database, even with a connection still open', async () => {
    const created = await createTestDatabase({ adminUrl: serviceUrls().databaseUrl });
    expect(created.name).toMatch(/^fm_t_[0-9a-f]+$/);
    const lingering = new pg.Client({ connectionString: created.url });
    lingering.on('error', () => {});
    await lingering.connect();

    await dropTestDatabase(created);
    const rows = await query(db.adminUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [
      created.name,
    ]);
    expect(rows).toHaveLength(0);
    await lingering.end().catch(() => {});
  });

  it('copies a template database', async () => {
    const template = await createTestDatabase();
    try {
      await query(template.url, 'CREATE TABLE migrated (id int)');
      const copy = await createTestDatabase({ template: template.name });
      try {
        const rows = await query(copy.url, "SELECT 1 FROM pg_tables WHERE tablename = 'migrated'");
        expect(rows).toHaveLength(1);
      } finally {
        await dropTestDatabase(copy);
      }
    } finally {
      await dropTestDatabase(template);
    }
  });

  it('refuses to drop a database it did not name', async () => {
    await expect(dropTestDatabase({ name: 'test', adminUrl: db.adminUrl })).rejects.toThrow(
      /refusing to drop "test"/,
    );
  });

  it('keeps user, host and query when building the URL', () => {
    expect(databaseUrl('postgres://u:p@h:5433/admin?sslmode=disable', 'fm_t_x')).toBe(
      'postgres://u:p@h:5433/fm_t_x?sslmode=disable',
    );
  });
});

describe('terminateBackends', () => {
  it('terminates the matching connection and reports it', async () => {
    const applicationName = 'fm-terminate-victim';
    const victim = new pg.Client({ connectionString: db.url, application_name: applicationName });
    const errors: Error[] = [];
    // An idle connection killed by the server surfaces as an 'error' event, not a rejection.
    victim.on('error', (error) => errors.push(error));
    await victim.connect();
    const bystander = new pg.Client({ connectionString: db.url, application_name: 'fm-bystander' });
    await bystander.connect();
    try {
      const count = await terminateBackends(db.adminUrl, { database: db.name, applicationName });
      expect(count).toBe(1);

      for (let i = 0; i < 100 && errors.length === 0; i++) await sleep(20);
      // pg reports the server's admin_shutdown first, then the closed socket.
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect((errors[0] as Error & { code?: string }).code).toBe('57P01');
      await expect(victim.query('SELECT 1')).rejects.toThrow();
      // Only the matching backend went away.
      expect((await bystander.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await victim.end().catch(() => {});
      await bystander.end();
    }
  });

  it('returns 0 when nothing matches and refuses an empty filter', async () => {
    expect(await terminateBackends(db.adminUrl, { applicationName: 'fm-nobody-uses-this' })).toBe(
      0,
    );
    await expect(terminateBackends(db.adminUrl, {})).rejects.toThrow(/needs filter\.database/);
  });
});
