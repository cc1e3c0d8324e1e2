import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, type Database, migrate, sql } from '@fairmind/db-pool';
import { useTestDatabase } from '@fairmind/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../auth/index.js';
import { createPasswordHasher } from '../passwords/index.js';
import { expectOnePair, expectOneWinner, rejection, TEST_SECRET } from '../testing/index.js';
import {
  authMigrations,
  createSqlApiKeyStore,
  createSqlAuditSink,
  createSqlRefreshFamilyStore,
  createSqlRevocationStore,
  createSqlUserStore,
} from './index.js';

const SECRET = TEST_SECRET;
const testDb = useTestDatabase();
const passwords = createPasswordHasher({ cost: 4, workers: 1 });
const sqliteDir = mkdtempSync(join(tmpdir(), 'fm-auth-sqlite-'));
const databases: Record<'postgres' | 'sqlite', Database> = {} as never;

beforeAll(async () => {
  databases.postgres = createDatabase({ url: testDb.url, poolSize: 10, maxOverflow: 10 });
  databases.sqlite = createDatabase({ url: `sqlite:${join(sqliteDir, 'auth.db')}` });
  for (const db of Object.values(databases)) {
    const { applied } = await migrate({ db, ...authMigrations });
    expect(applied.map((file) => file.file)).toEqual([
      '001_auth_schema.sql',
      '002_revocations.sql',
      '003_refresh_reuse_interval.sql',
      '004_user_disabled.sql',
    ]);
    expect((await migrate({ db, ...authMigrations })).applied).toEqual([]);
  }
});
afterAll(async () => {
  await Promise.all(Object.values(databases).map((db) => db.close()));
  await passwords.close();
  rmSync(sqliteDir, { recursive: true, force: true });
});

describe.each(['postgres', 'sqlite'] as const)('SQL stores on %s', (driver) => {
  function auth(refreshReuseIntervalSeconds = 0) {
    const db = databases[driver];
    return createAuth({
      refreshReuseIntervalSeconds,
      secret: SECRET,
      passwords,
      users: createSqlUserStore(db),
      apiKeys: createSqlApiKeyStore(db),
      refreshFamilies: createSqlRefreshFamilyStore(db),
      audit: createSqlAuditSink(db),
    });
  }

  it('gives exactly one success to 20 concurrent refreshes of one token (row lock)', async () => {
    const a = auth();
    const user = await a.createUser({
      email: `race-${driver}@example.com`,
      password: 'long enough',
      role: 'viewer',
    });
    const { refreshToken } = await a.issueTokens(user);
    if (driver === 'postgres') {
      // Open the pool's connections first: otherwise connecting staggers the refreshes and
      // the first one is done before the others reach the database.
      await Promise.all(
        Array.from({ length: 10 }, () => databases.postgres.query(sql`select pg_sleep(0.05)`)),
      );
    }
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => a.refresh(refreshToken)),
    );
    expectOneWinner(results);
  });

  it('gives 20 concurrent refreshes inside the reuse interval one new pair; a replay after it revokes', async () => {
    const a = auth(1);
    const user = await a.createUser({
      email: `repeat-${driver}@example.com`,
      password: 'long enough',
      role: 'viewer',
    });
    const r1 = await a.issueTokens(user);
    const r2 = expectOnePair(
      await Promise.allSettled(Array.from({ length: 20 }, () => a.refresh(r1.refreshToken))),
    );
    await expect(a.verifyAccessToken(r2.accessToken)).resolves.toMatchObject({ id: user.id });
    // Whole seconds: two of them past the rotation is past a one-second interval.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await rejection(a.refresh(r1.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(a.verifyAccessToken(r2.accessToken))).code).toBe('TOKEN_REVOKED');
  });

  it('keeps an account disabled, and its API keys stop working', async () => {
    const a = auth();
    const user = await a.createUser({
      email: `disabled-${driver}@example.com`,
      password: 'long enough',
      role: 'analyst',
    });
    const key = await a.createApiKey({ type: 'user', id: user.id, role: 'analyst' }, { name: 'k' });
    await a.updateUser(user.id, { disabled: true });
    const stored = await createSqlUserStore(databases[driver]).findById(user.id);
    expect(stored?.disabledAt).toEqual(expect.any(Number));
    expect((await rejection(a.verifyApiKey(key.key))).code).toBe('TOKEN_REVOKED');
    const login = { email: `disabled-${driver}@example.com`, password: 'long enough' };
    expect((await rejection(a.login(login))).code).toBe('FORBIDDEN');
    await a.updateUser(user.id, { disabled: false });
    expect((await createSqlUserStore(databases[driver]).findById(user.id))?.disabledAt).toBeNull();
    await expect(a.login(login)).resolves.toMatchObject({ user: { id: user.id } });
  });

  it('rotates, detects reuse and revokes the family', async () => {
    const a = auth();
    const user = await a.createUser({
      email: `rotate-${driver}@example.com`,
      password: 'long enough',
      role: 'viewer',
    });
    const r1 = await a.issueTokens(user);
    const r2 = await a.refresh(r1.refreshToken);
    expect((await rejection(a.refresh(r1.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(a.verifyAccessToken(r2.accessToken))).code).toBe('TOKEN_REVOKED');
    const row = await databases[driver].one<{ revoked_at: unknown }>(
      sql`select revoked_at from auth_refresh_families where subject = ${user.id}`,
    );
    expect(row.revoked_at).not.toBeNull();
  });

  it('keeps users with unique emails and logs them in', async () => {
    const a = auth();
    const store = createSqlUserStore(databases[driver]);
    const before = await store.count();
    const created = await a.createUser({
      email: `Ada-${driver}@Example.com`,
      password: 'correct horse',
      role: 'analyst',
    });
    expect(await store.count()).toBe(before + 1);
    expect(
      (
        await rejection(
          a.createUser({
            email: `ada-${driver}@example.com`,
            password: 'long enough',
            role: 'viewer',
          }),
        )
      ).code,
    ).toBe('CONFLICT');
    const login = await a.login({ email: `ada-${driver}@example.com`, password: 'correct horse' });
    expect(login.user).toEqual({
      id: created.id,
      email: `ada-${driver}@example.com`,
      role: 'analyst',
    });
    const updated = await a.updateUser(created.id, { role: 'admin' });
    expect(updated.role).toBe('admin');
    expect((await store.findById(created.id))?.role).toBe('admin');
    await a.deleteUser(created.id);
    expect(await store.findById(created.id)).toBeNull();
    expect(await store.update(created.id, { role: 'x', updatedAt: 1 })).toBe(false);
  });

  it('stores API keys as hashes and records their use', async () => {
    const a = auth();
    const owner = await a.createUser({
      email: `keys-${driver}@example.com`,
      password: 'long enough',
      role: 'analyst',
    });
    const principal = { type: 'user' as const, id: owner.id, role: owner.role };
    const created = await a.createApiKey(principal, {
      name: 'CI',
      scopes: ['models:read'],
      expiresInDays: 7,
    });
    const verified = await a.verifyApiKey(created.key);
    expect(verified).toMatchObject({ type: 'api_key', id: owner.id, scopes: ['models:read'] });
    const rows = await databases[driver].many(
      sql`select * from auth_api_keys where owner_id = ${owner.id}`,
    );
    expect(JSON.stringify(rows)).not.toContain(created.key.slice(created.prefix.length + 1, -6));
    // lastUsedAt is written in the background; wait for it (bounded).
    let listed = await a.listApiKeys(principal);
    for (let attempt = 0; attempt < 50 && listed[0]?.lastUsedAt === null; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      listed = await a.listApiKeys(principal);
    }
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      id: created.id,
      name: 'CI',
      scopes: ['models:read'],
      revokedAt: null,
    });
    expect(listed[0]?.lastUsedAt).not.toBeNull();
    await a.revokeApiKey(principal, created.id);
    expect((await rejection(a.verifyApiKey(created.key))).code).toBe('TOKEN_REVOKED');
  });

  it('keeps revocations durably: ids, families and the latest cutoff, until they expire', async () => {
    let clock = 1_800_000_000_000;
    const store = createSqlRevocationStore(databases[driver], { now: () => clock });
    const at = clock / 1000;
    const sub = `revoked-${driver}`;
    await store.revokeToken('jti-1', sub, at + 60);
    await store.revokeFamily('fam-1', sub, at + 600);
    await store.revokeSubject(sub, at - 100, at + 900);
    // A later cutoff wins; an earlier one written afterwards does not undo it.
    await store.revokeSubject(sub, at - 10, at + 900);
    await store.revokeSubject(sub, at - 50, at + 900);
    expect(await store.check({ jti: 'jti-1', sub, iat: at })).toBe('token');
    expect(await store.check({ jti: 'jti-2', sub, fam: 'fam-1', iat: at })).toBe('family');
    expect(await store.check({ jti: 'jti-2', sub, iat: at - 10 })).toBe('subject');
    expect(await store.check({ jti: 'jti-2', sub, iat: at - 9 })).toBeNull();
    expect(await store.check({ jti: 'jti-1', sub: 'someone-else', iat: at })).toBe('token');
    // Past the token's expiry its row no longer counts (the token itself is refused anyway).
    clock += 61_000;
    expect(await store.check({ jti: 'jti-1', sub, iat: at + 1 })).toBeNull();
    // Revoking what has already expired writes nothing.
    await store.revokeToken('jti-old', sub, at - 1);
    const rows = await databases[driver].many(
      sql`select id from auth_revocations where subject = ${sub} order by id`,
    );
    expect(rows.map((row) => row['id'])).toEqual(['fam-1', 'jti-1', sub]);
  });

  it('remembers the latest time a revocation missed the fast store', async () => {
    const store = createSqlRevocationStore(databases[driver]);
    const before = await store.unreplicatedBefore();
    await store.markUnreplicated(before + 5000);
    await store.markUnreplicated(before + 1000);
    expect(await store.unreplicatedBefore()).toBe(before + 5000);
  });

  it('writes the audit trail to its table, without secrets', async () => {
    const a = auth();
    await a.createUser({
      email: `audit-${driver}@example.com`,
      password: 'secret password',
      role: 'viewer',
    });
    const login = await a.login(
      { email: `audit-${driver}@example.com`, password: 'secret password' },
      { ip: '192.0.2.5' },
    );
    const rows = await databases[driver].many<{ type: string; ip: string | null; details: string }>(
      sql`select type, ip, details from auth_audit_events where type = 'login.success' and ip = '192.0.2.5'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(1);
    const all = JSON.stringify(await databases[driver].many(sql`select * from auth_audit_events`));
    for (const secret of ['secret password', login.accessToken, login.refreshToken])
      expect(all).not.toContain(secret);
  });
});
