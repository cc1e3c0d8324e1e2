import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@fairmind/core/logger';
import { useTestDatabase, useTestRedis } from '@fairmind/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotesApp } from '../src/app.js';

const database = useTestDatabase();
const redis = useTestRedis();
const SECRET = 'own-app-test-secret-of-at-least-32-chars';
const WRITER = { email: 'wren@example.com', password: 'wren-password-1' };
const READER = { email: 'rhea@example.com', password: 'rhea-password-1' };
const REUSE_SECONDS = 2;

let notesApp: Awaited<ReturnType<typeof createNotesApp>>;
let server: Server;
let base: string;

beforeAll(async () => {
  notesApp = await createNotesApp({
    databaseUrl: database.url,
    redisUrl: redis.url,
    redisPrefix: redis.prefix,
    jwtSecret: SECRET,
    logger: createLogger({ level: 'silent' }),
    refreshReuseIntervalSeconds: REUSE_SECONDS,
  });
  await notesApp.auth.createUser({ ...WRITER, role: 'writer' });
  await notesApp.auth.createUser({ ...READER, role: 'reader' });
  server = notesApp.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await notesApp.close();
});

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  cookie: string | undefined;
}

async function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const response = await fetch(base + path, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  const setCookie = response.headers.get('set-cookie');
  return {
    status: response.status,
    headers: response.headers,
    json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    cookie: setCookie === null ? undefined : setCookie.split(';')[0],
  };
}

const bearer = (answer: Answer) => ({ authorization: `Bearer ${answer.json['accessToken']}` });
const sameSite = (cookie: string | undefined) => ({
  cookie: cookie ?? '',
  origin: base,
});

describe('signing in', () => {
  it('works with Bearer tokens for API clients', async () => {
    const login = await call('POST', '/api/auth/login', { body: WRITER });
    expect(login.status).toBe(200);
    expect(login.json['refreshToken']).toEqual(expect.any(String));
    expect(login.cookie).toBeUndefined();
    const me = await call('GET', '/api/auth/me', { headers: bearer(login) });
    expect(me.json).toMatchObject({ email: WRITER.email, role: 'writer' });
    expect(me.json['permissions']).toEqual(expect.arrayContaining(['notes:read', 'notes:write']));
  });

  it('works with the cookie for browsers: rotation, reuse detection, logout', async () => {
    const login = await call('POST', '/auth/login', { body: WRITER });
    expect(login.json['refreshToken']).toBeUndefined();
    expect(login.headers.get('set-cookie')).toMatch(/HttpOnly; Secure; SameSite=Strict/);
    const next = await call('POST', '/auth/refresh', { headers: sameSite(login.cookie) });
    expect(next.status).toBe(200);
    expect(next.cookie).not.toBe(login.cookie);
    await new Promise((resolve) => setTimeout(resolve, (REUSE_SECONDS + 1.2) * 1000));
    const replay = await call('POST', '/auth/refresh', { headers: sameSite(login.cookie) });
    expect(replay).toMatchObject({ status: 401, json: { code: 'REFRESH_TOKEN_REUSED' } });
    const afterReuse = await call('GET', '/notes', { headers: bearer(next) });
    expect(afterReuse.json['code']).toBe('TOKEN_REVOKED');

    const again = await call('POST', '/auth/login', { body: WRITER });
    const out = await call('POST', '/auth/logout', { headers: bearer(again) });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/Expires=Thu, 01 Jan 1970/);
    const stale = await call('POST', '/auth/refresh', { headers: sameSite(again.cookie) });
    expect(stale.json['code']).toBe('TOKEN_REVOKED');
  });

  it('refuses a cross-site POST carrying the cookie without a CSRF proof', async () => {
    const login = await call('POST', '/auth/login', { body: WRITER });
    const forged = await call('POST', '/auth/refresh', {
      headers: { cookie: login.cookie ?? '', origin: 'https://evil.example' },
    });
    expect(forged).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    expect(forged.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const proved = await call('POST', '/auth/refresh', {
      headers: { cookie: login.cookie ?? '', 'x-csrf-token': login.json['csrfToken'] as string },
    });
    expect(proved.status).toBe(200);
  });

  it('gives 20 tabs refreshing one cookie at once one new pair; a replay after the interval revokes', async () => {
    const login = await call('POST', '/auth/login', { body: READER });
    const tabs = await Promise.all(
      Array.from({ length: 20 }, () =>
        call('POST', '/auth/refresh', { headers: sameSite(login.cookie) }),
      ),
    );
    expect(tabs.map((tab) => tab.status)).toEqual(Array(20).fill(200));
    expect(new Set(tabs.map((tab) => tab.cookie)).size).toBe(1);
    expect(new Set(tabs.map((tab) => tab.json['accessToken'])).size).toBe(1);
    const pair = tabs[0] as Answer;
    await new Promise((resolve) => setTimeout(resolve, (REUSE_SECONDS + 1.2) * 1000));
    const replay = await call('POST', '/auth/refresh', { headers: sameSite(login.cookie) });
    expect(replay.json['code']).toBe('REFRESH_TOKEN_REUSED');
    expect((await call('GET', '/notes', { headers: bearer(pair) })).json['code']).toBe(
      'TOKEN_REVOKED',
    );
  });

  it('ends the other sessions when the password changes', async () => {
    const phone = await call('POST', '/api/auth/login', { body: READER });
    const laptop = await call('POST', '/api/auth/login', { body: READER });
    const changed = await call('POST', '/api/auth/password', {
      headers: bearer(laptop),
      body: { currentPassword: READER.password, newPassword: 'rhea-password-2' },
    });
    expect(changed.status).toBe(200);
    expect((await call('GET', '/notes', { headers: bearer(phone) })).json['code']).toBe(
      'TOKEN_REVOKED',
    );
    expect((await call('GET', '/notes', { headers: bearer(changed) })).status).toBe(200);
    await call('POST', '/api/auth/password', {
      headers: bearer(changed),
      body: { currentPassword: 'rhea-password-2', newPassword: READER.password },
    });
  });
});

describe('notes', () => {
  it('guards routes with 401 and 403 problems', async () => {
    const anonymous = await call('GET', '/notes');
    expect(anonymous).toMatchObject({ status: 401, json: { code: 'UNAUTHENTICATED' } });
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const reader = await call('POST', '/api/auth/login', { body: READER });
    const denied = await call('POST', '/notes', { headers: bearer(reader), body: { title: 'x' } });
    expect(denied).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
  });

  it('answers a body the schema refuses with a 400 naming the field', async () => {
    const writer = await call('POST', '/api/auth/login', { body: WRITER });
    for (const body of [{ title: '' }, { title: 'ok', body: 3 }, null, [1]]) {
      const answer = await call('POST', '/notes', { headers: bearer(writer), body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json['code']).toBe('VALIDATION_FAILED');
    }
    const named = await call('POST', '/notes', { headers: bearer(writer), body: { title: '' } });
    expect(named.json['detail']).toMatch(/title: /);
  });

  it('answers unknown routes with a 404 problem', async () => {
    const answer = await call('GET', '/nope');
    expect(answer).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('revalidates a cached list with 304 and forgets it when the user writes', async () => {
    const writer = await call('POST', '/api/auth/login', { body: WRITER });
    const first = await call('GET', '/notes', { headers: bearer(writer) });
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^"/);
    const revalidated = await call('GET', '/notes', {
      headers: { ...bearer(writer), 'if-none-match': etag },
    });
    expect(revalidated.status).toBe(304);
    const created = await call('POST', '/notes', {
      headers: bearer(writer),
      body: { title: 'Buy milk' },
    });
    expect(created.status).toBe(201);
    const after = await call('GET', '/notes', {
      headers: { ...bearer(writer), 'if-none-match': etag },
    });
    expect(after.status).toBe(200);
    expect(after.json['items']).toEqual([expect.objectContaining({ title: 'Buy milk' })]);
  });
});
