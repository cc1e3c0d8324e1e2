import type { Exchange, Reply } from '@fairmind/core';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuthOptions, createAuth } from '../auth/index.js';
import { createPasswordHasher } from '../passwords/index.js';
import { TEST_SECRET } from '../testing/index.js';
import { createMemoryUserStore } from '../users/index.js';
import { type AuthRoutesOptions, authRoutes } from './index.js';

const passwords = createPasswordHasher({ cost: 4, workers: 1 });
afterAll(() => passwords.close());

const HOST = 'app.example';
const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };
const VIEWER = { email: 'viewer@example.com', password: 'viewer-password' };

interface Call {
  headers?: Record<string, string>;
  body?: unknown;
}

interface Answer {
  status: number;
  headers: Readonly<Record<string, string>>;
  json: Record<string, unknown>;
}

async function setup(
  routeOptions: Partial<AuthRoutesOptions> = {},
  authOptions: Partial<AuthOptions> = {},
) {
  const users = createMemoryUserStore();
  const auth = createAuth({ secret: TEST_SECRET, users, passwords, ...authOptions });
  await auth.createUser({ ...ADMIN, role: 'admin' });
  await auth.createUser({ ...VIEWER, role: 'viewer' });
  const routes = authRoutes(auth, { users, ...routeOptions });
  async function call(method: string, path: string, options: Call = {}): Promise<Answer> {
    const text =
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body);
    const headers = new Map<string, string>(
      Object.entries({
        host: HOST,
        ...(text === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': String(text.length) }),
        ...options.headers,
      }).map(([name, value]) => [name.toLowerCase(), value]),
    );
    const exchange: Exchange = {
      request: { method, url: path, headers: { get: (name) => headers.get(name) ?? null } },
      clientAddress: '203.0.113.7',
      secure: true,
      state: {},
    };
    const source = new Request(`https://${HOST}${path}`, {
      method,
      ...(text === undefined
        ? {}
        : { body: text, headers: { 'content-type': 'application/json' } }),
    });
    let reply: Reply;
    try {
      reply = await routes.handler(exchange, source);
    } catch (error) {
      const {
        status,
        code,
        headers: extra,
      } = error as {
        status: number;
        code: string;
        headers?: Record<string, string>;
      };
      return { status, headers: extra ?? {}, json: { code, message: (error as Error).message } };
    }
    return {
      status: reply.status,
      headers: reply.headers,
      json: reply.body ? (JSON.parse(reply.body) as Record<string, unknown>) : {},
    };
  }
  const bearer = (token: unknown) => ({ authorization: `Bearer ${token as string}` });
  return { auth, users, routes, call, bearer };
}

describe('authRoutes with Bearer tokens', () => {
  it('logs in, answers /me, refreshes and logs out, with no-store on tokens', async () => {
    const { call, bearer } = await setup();
    const login = await call('POST', '/auth/login', { body: ADMIN });
    expect(login.status).toBe(200);
    expect(login.headers['cache-control']).toBe('no-store');
    expect(login.json).toMatchObject({ tokenType: 'Bearer', user: { email: ADMIN.email } });
    const me = await call('GET', '/auth/me', { headers: bearer(login.json['accessToken']) });
    expect(me.json).toMatchObject({ email: ADMIN.email, role: 'admin' });
    expect(me.json['permissions']).toContain('users:manage');
    expect(me.json['permissions']).not.toContain('models:*');

    const next = await call('POST', '/auth/refresh', {
      body: { refreshToken: login.json['refreshToken'] },
    });
    expect(next.status).toBe(200);
    const out = await call('POST', '/auth/logout', { headers: bearer(next.json['accessToken']) });
    expect(out.status).toBe(204);
    expect(
      (await call('GET', '/auth/me', { headers: bearer(next.json['accessToken']) })).json,
    ).toMatchObject({ code: 'TOKEN_REVOKED' });
  });

  it('answers problems: 401 without a token, 400 naming a bad field, 404 and 405', async () => {
    const { call } = await setup();
    const anonymous = await call('GET', '/auth/me');
    expect(anonymous).toMatchObject({ status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
    const bad = await call('POST', '/auth/login', { body: { email: 1, password: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.json['message']).toMatch(/email: /);
    expect((await call('POST', '/auth/login', { body: 'null' })).status).toBe(400);
    expect((await call('GET', '/auth/nope')).status).toBe(404);
    const wrong = await call('GET', '/auth/login');
    expect(wrong).toMatchObject({ status: 405, headers: { Allow: 'POST' } });
  });

  it('changes a password, ending the other sessions and keeping the caller signed in', async () => {
    const { call, bearer } = await setup();
    const first = await call('POST', '/auth/login', { body: VIEWER });
    const second = await call('POST', '/auth/login', { body: VIEWER });
    const wrong = await call('POST', '/auth/password', {
      headers: bearer(first.json['accessToken']),
      body: { currentPassword: 'not-it-at-all', newPassword: 'a-new-password' },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json['message']).toMatch(/currentPassword/);
    const changed = await call('POST', '/auth/password', {
      headers: bearer(first.json['accessToken']),
      body: { currentPassword: VIEWER.password, newPassword: 'a-new-password' },
    });
    expect(changed.status).toBe(200);
    expect(changed.headers['cache-control']).toBe('no-store');
    const meAgain = await call('GET', '/auth/me', { headers: bearer(changed.json['accessToken']) });
    expect(meAgain.status).toBe(200);
    for (const old of [first, second]) {
      const answer = await call('GET', '/auth/me', { headers: bearer(old.json['accessToken']) });
      expect(answer.json['code']).toBe('TOKEN_REVOKED');
    }
    const refreshOld = await call('POST', '/auth/refresh', {
      body: { refreshToken: second.json['refreshToken'] },
    });
    expect(refreshOld.status).toBe(401);
    expect(
      (await call('POST', '/auth/login', { body: { ...VIEWER, password: 'a-new-password' } }))
        .status,
    ).toBe(200);
  });

  it('lets an administrator create users, change roles and delete them; others get 403', async () => {
    const { call, bearer } = await setup();
    const admin = bearer((await call('POST', '/auth/login', { body: ADMIN })).json['accessToken']);
    const viewer = bearer(
      (await call('POST', '/auth/login', { body: VIEWER })).json['accessToken'],
    );
    const newcomer = { email: 'new@example.com', password: 'newcomer-pass', role: 'viewer' };
    expect((await call('POST', '/auth/users', { headers: viewer, body: newcomer })).status).toBe(
      403,
    );
    const created = await call('POST', '/auth/users', { headers: admin, body: newcomer });
    expect(created).toMatchObject({ status: 201, json: { role: 'viewer' } });
    const id = created.json['id'] as string;
    const promoted = await call('PATCH', `/auth/users/${id}`, {
      headers: admin,
      body: { role: 'analyst' },
    });
    expect(promoted.json).toMatchObject({ role: 'analyst' });
    expect((await call('DELETE', `/auth/users/${id}`, { headers: admin })).status).toBe(204);
    const { email, password } = newcomer;
    expect((await call('POST', '/auth/login', { body: { email, password } })).status).toBe(401);
  });

  it('lets an administrator disable an account: no sign-in, no tokens, no keys; and enable it again', async () => {
    const { call, bearer } = await setup();
    const admin = bearer((await call('POST', '/auth/login', { body: ADMIN })).json['accessToken']);
    const session = await call('POST', '/auth/login', { body: VIEWER });
    const me = await call('GET', '/auth/me', { headers: bearer(session.json['accessToken']) });
    const id = me.json['id'] as string;
    const nothing = await call('PATCH', `/auth/users/${id}`, { headers: admin, body: {} });
    expect(nothing.status).toBe(400);
    const off = await call('PATCH', `/auth/users/${id}`, {
      headers: admin,
      body: { disabled: true },
    });
    expect(off.status).toBe(200);
    const signIn = await call('POST', '/auth/login', { body: VIEWER });
    expect(signIn).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    expect(signIn.json['message']).toMatch(/disabled/);
    const old = await call('GET', '/auth/me', { headers: bearer(session.json['accessToken']) });
    expect(old.json['code']).toBe('TOKEN_REVOKED');
    const refresh = await call('POST', '/auth/refresh', {
      body: { refreshToken: session.json['refreshToken'] },
    });
    expect(refresh.status).toBe(401);
    // A wrong password still reads as a wrong password: being disabled is not revealed.
    const guess = await call('POST', '/auth/login', { body: { ...VIEWER, password: 'guessing' } });
    expect(guess.json['code']).toBe('INVALID_CREDENTIALS');

    await call('PATCH', `/auth/users/${id}`, { headers: admin, body: { disabled: false } });
    expect((await call('POST', '/auth/login', { body: VIEWER })).status).toBe(200);
  });

  it('leaves out the routes an app turns off, and checks its options', async () => {
    const { call } = await setup({ passwordChange: false, apiKeys: false, userAdmin: 'create' });
    expect((await call('POST', '/auth/password', { body: {} })).status).toBe(404);
    expect((await call('GET', '/auth/api-keys')).status).toBe(404);
    expect((await call('DELETE', '/auth/users/1')).status).toBe(404);
    const users = createMemoryUserStore();
    const auth = createAuth({ secret: TEST_SECRET, users, passwords });
    expect(() => authRoutes(auth, {} as AuthRoutesOptions)).toThrow(/needs \{ users \}/);
    expect(() => authRoutes(auth, { users, prefix: 'auth/' })).toThrow(/prefix/);
    expect(() => authRoutes(auth, { users, cookies: { sameSite: 'none', secure: false } })).toThrow(
      /sameSite/,
    );
  });
});

describe('authRoutes with cookie sessions', () => {
  const cookieOf = (answer: Answer) => (answer.headers['set-cookie'] ?? '').split(';')[0] ?? '';

  it('keeps the refresh token in an HttpOnly cookie scoped to the refresh route, rotated on each use', async () => {
    const { call } = await setup({ cookies: true });
    const login = await call('POST', '/auth/login', { body: ADMIN });
    expect(login.json['refreshToken']).toBeUndefined();
    expect(login.json['accessToken']).toEqual(expect.any(String));
    expect(login.json['csrfToken']).toEqual(expect.any(String));
    const setCookie = login.headers['set-cookie'] ?? '';
    expect(setCookie).toMatch(/^__Secure-fairmind_refresh=ey/);
    for (const part of [
      'Path=/auth/refresh',
      'HttpOnly',
      'Secure',
      'SameSite=Strict',
      'Expires=',
    ]) {
      expect(setCookie).toContain(part);
    }
    const refreshed = await call('POST', '/auth/refresh', {
      headers: { cookie: cookieOf(login), origin: `https://${HOST}` },
    });
    expect(refreshed.status).toBe(200);
    expect(cookieOf(refreshed)).not.toBe(cookieOf(login));
    // The spent cookie again, outside any reuse interval: reuse, and the family is revoked.
    const replay = await call('POST', '/auth/refresh', {
      headers: { cookie: cookieOf(login), 'sec-fetch-site': 'same-origin' },
    });
    expect(replay.json['code']).toBe('REFRESH_TOKEN_REUSED');
  });

  it('refuses a cookie refresh from another site, or without any proof of where it came from', async () => {
    const { call } = await setup({ cookies: { trustedOrigins: ['https://front.example'] } });
    const login = await call('POST', '/auth/login', { body: ADMIN });
    const cookie = cookieOf(login);
    for (const headers of [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      {},
      { 'x-csrf-token': 'guessed' },
    ]) {
      const answer = await call('POST', '/auth/refresh', { headers: { cookie, ...headers } });
      expect(answer.status, JSON.stringify(headers)).toBe(403);
      expect(answer.json['code']).toBe('FORBIDDEN');
    }
    const csrf = await call('POST', '/auth/refresh', {
      headers: { cookie, 'x-csrf-token': login.json['csrfToken'] as string },
    });
    expect(csrf.status).toBe(200);
    const trusted = await call('POST', '/auth/refresh', {
      headers: { cookie: cookieOf(csrf), origin: 'https://front.example' },
    });
    expect(trusted.status).toBe(200);
  });

  it('clears the cookie on logout and revokes its session', async () => {
    const { call, bearer } = await setup({ cookies: true });
    const login = await call('POST', '/auth/login', { body: ADMIN });
    const out = await call('POST', '/auth/logout', { headers: bearer(login.json['accessToken']) });
    expect(out.status).toBe(204);
    expect(out.headers['set-cookie']).toMatch(
      /^__Secure-fairmind_refresh=; Path=\/auth\/refresh; Expires=Thu, 01 Jan 1970/,
    );
    const after = await call('POST', '/auth/refresh', {
      headers: { cookie: cookieOf(login), origin: `https://${HOST}` },
    });
    expect(after.json['code']).toBe('TOKEN_REVOKED');
    expect((await call('POST', '/auth/refresh')).status).toBe(401);
  });

  it('gives 20 concurrent refreshes of one cookie inside the reuse interval one new pair', async () => {
    const { call } = await setup({ cookies: true }, { refreshReuseIntervalSeconds: 10 });
    const login = await call('POST', '/auth/login', { body: ADMIN });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        call('POST', '/auth/refresh', {
          headers: { cookie: cookieOf(login), 'sec-fetch-site': 'same-origin' },
        }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map(cookieOf)).size).toBe(1);
    expect(new Set(answers.map((answer) => answer.json['accessToken'])).size).toBe(1);
  });
});
