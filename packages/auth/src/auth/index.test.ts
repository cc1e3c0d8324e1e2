import { generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '@fairmind/core';
import { createMetricsRegistry } from '@fairmind/core/metrics';
import { undefinedOptions } from '@fairmind/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryApiKeyStore } from '../apikeys/index.js';
import { createMemoryAuditSink } from '../audit/index.js';
import { createPasswordHasher } from '../passwords/index.js';
import type { Principal } from '../rbac/index.js';
import type { RevocationStore } from '../revocation/index.js';
import { expectOnePair, expectOneWinner, rejection, TEST_SECRET } from '../testing/index.js';
import { createMemoryUserStore } from '../users/index.js';
import { type AuthOptions, authOptionsFromConfig, createAuth } from './index.js';

const SECRET = TEST_SECRET;
const passwords = createPasswordHasher({ cost: 4, workers: 1 });
afterAll(() => passwords.close());

function clock(start = 1_800_000_000_000) {
  let current = start;
  return {
    now: () => current,
    advance(ms: number) {
      current += ms;
    },
  };
}

const user = { id: 'user-1', role: 'analyst' };

function setup(options: Partial<AuthOptions> = {}, hmac = true) {
  const time = clock();
  const audit = createMemoryAuditSink();
  const users = createMemoryUserStore();
  void users.create({
    ...user,
    email: 'user-1@example.com',
    passwordHash: '-',
    createdAt: time.now(),
    updatedAt: time.now(),
  });
  const auth = createAuth({
    ...(hmac ? { secret: SECRET } : {}),
    now: time.now,
    users,
    apiKeys: createMemoryApiKeyStore(),
    passwords,
    audit,
    ...options,
  });
  return { auth, time, audit, users };
}

describe('access tokens', () => {
  it('carries typ at+jwt, sub, role, jti, iat, exp, iss and aud', async () => {
    const { auth, time } = setup();
    const { accessToken, expiresIn, tokenType } = await auth.issueTokens(user);
    const [header, payload] = accessToken
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'HS256', typ: 'at+jwt' });
    expect(payload).toMatchObject({
      sub: 'user-1',
      role: 'analyst',
      iss: 'fairmind',
      aud: 'fairmind-api',
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.iat).toBe(time.now() / 1000);
    expect(payload.exp - payload.iat).toBe(1800);
    expect(expiresIn).toBe(1800);
    expect(tokenType).toBe('Bearer');
    const principal = await auth.verifyAccessToken(accessToken);
    expect(principal).toMatchObject({
      type: 'user',
      id: 'user-1',
      role: 'analyst',
      tokenId: payload.jti,
    });
  });

  it('never takes a refresh token for an access token, nor the reverse', async () => {
    const { auth } = setup();
    const { accessToken, refreshToken } = await auth.issueTokens(user);
    expect((await rejection(auth.verifyAccessToken(refreshToken))).message).toMatch(/type at\+jwt/);
    expect((await rejection(auth.refresh(accessToken))).message).toMatch(/type refresh\+jwt/);
  });

  it('signs and verifies with RS256, ES256 and EdDSA keys, PEM or JWK', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    const cases: Array<Partial<AuthOptions>> = [
      {
        algorithm: 'RS256',
        privateKey: rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      },
      {
        algorithm: 'ES256',
        privateKey: ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
      },
      { algorithm: 'ES256', privateKey: ec.privateKey.export({ format: 'jwk' }) as never },
      {
        algorithm: 'EdDSA',
        privateKey: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      },
    ];
    for (const keys of cases) {
      const { auth } = setup(keys, false);
      const { accessToken } = await auth.issueTokens(user);
      expect(
        JSON.parse(Buffer.from(accessToken.split('.')[0] as string, 'base64url').toString()).alg,
      ).toBe(keys.algorithm);
      await expect(auth.verifyAccessToken(accessToken)).resolves.toMatchObject({ id: 'user-1' });
    }
  });

  it('rotates keys by kid: old tokens verify while the old key stays in the ring', async () => {
    const time = clock();
    const old = createAuth({ keys: [{ kid: 'old', secret: SECRET }], now: time.now, passwords });
    const token = (await old.issueTokens(user)).accessToken;
    const rotated = createAuth({
      keys: [
        { kid: 'new', secret: `${SECRET}-new` },
        { kid: 'old', secret: SECRET },
      ],
      signingKid: 'new',
      now: time.now,
      passwords,
    });
    await expect(rotated.verifyAccessToken(token)).resolves.toMatchObject({ id: 'user-1' });
    const fresh = (await rotated.issueTokens(user)).accessToken;
    expect(JSON.parse(Buffer.from(fresh.split('.')[0] as string, 'base64url').toString()).kid).toBe(
      'new',
    );
    const dropped = createAuth({
      keys: [{ kid: 'new', secret: `${SECRET}-new` }],
      now: time.now,
      passwords,
    });
    expect((await rejection(dropped.verifyAccessToken(token))).message).toMatch(/unknown key/);
  });

  it('expires tokens by the clock, also after they were cached', async () => {
    const { auth, time } = setup();
    const { accessToken } = await auth.issueTokens(user);
    await auth.verifyAccessToken(accessToken);
    time.advance(1800 * 1000);
    // Cached until exp, never past it: past exp the full check runs (with its tolerance)...
    await expect(auth.verifyAccessToken(accessToken)).resolves.toBeDefined();
    time.advance(5000);
    expect((await rejection(auth.verifyAccessToken(accessToken))).code).toBe('TOKEN_EXPIRED');
  });
});

describe('revocation', () => {
  it('refuses a revoked token replayed with its last character changed, a trailing =, space or newline', async () => {
    const { auth } = setup();
    const { accessToken } = await auth.issueTokens(user);
    const principal = await auth.verifyAccessToken(accessToken);
    await auth.logout(principal);
    const last = accessToken.at(-1) as string;
    const swapped = `${accessToken.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`;
    const variants = [
      accessToken,
      swapped,
      `${accessToken}=`,
      `${accessToken} `,
      `${accessToken}\n`,
    ];
    for (const variant of variants) {
      const error = await rejection(auth.verifyAccessToken(variant));
      expect(['TOKEN_REVOKED', 'TOKEN_INVALID'], JSON.stringify(variant.slice(-3))).toContain(
        error.code,
      );
      expect(error.status).toBe(401);
    }
    expect((await rejection(auth.verifyAccessToken(accessToken))).code).toBe('TOKEN_REVOKED');
  });

  it('checks revocation on every verification, cached or not', async () => {
    const { auth } = setup();
    const { accessToken } = await auth.issueTokens(user);
    const principal = await auth.verifyAccessToken(accessToken);
    await auth.verifyAccessToken(accessToken); // now cached
    await auth.logout(principal);
    expect((await rejection(auth.verifyAccessToken(accessToken))).code).toBe('TOKEN_REVOKED');
  });

  it('logs a user out everywhere with a not-before cutoff', async () => {
    const { auth, time } = setup();
    const first = await auth.issueTokens(user);
    const other = await auth.issueTokens({ id: 'user-2', role: 'viewer' });
    time.advance(1000);
    await auth.logoutEverywhere('user-1');
    expect((await rejection(auth.verifyAccessToken(first.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await rejection(auth.refresh(first.refreshToken))).code).toBe('TOKEN_REVOKED');
    await expect(auth.verifyAccessToken(other.accessToken)).resolves.toMatchObject({
      id: 'user-2',
    });
    time.advance(1000);
    const later = await auth.issueTokens(user);
    await expect(auth.verifyAccessToken(later.accessToken)).resolves.toMatchObject({
      id: 'user-1',
    });
  });

  it('fails closed when the revocation store cannot answer, and open when configured', async () => {
    const broken: RevocationStore = {
      revokeToken: async () => {},
      revokeFamily: async () => {},
      revokeSubject: async () => {},
      check: () => Promise.reject(new Error('connection refused')),
    };
    const hanging: RevocationStore = { ...broken, check: () => new Promise(() => {}) };
    // Tokens come from a healthy instance; the instances below verify them.
    const token = (await setup().auth.issueTokens(user)).accessToken;
    const closed = setup({ revocation: broken });
    const error = await rejection(closed.auth.verifyAccessToken(token));
    expect(error.code).toBe('AUTH_STORE_UNAVAILABLE');
    expect(error.status).toBe(503);

    const slow = setup({ revocation: hanging, storeTimeoutMs: 50 });
    const started = performance.now();
    const timeout = await rejection(slow.auth.verifyAccessToken(token));
    expect(timeout.code).toBe('AUTH_STORE_UNAVAILABLE');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);

    const open = setup({ revocation: broken, failOpen: true });
    await expect(open.auth.verifyAccessToken(token)).resolves.toMatchObject({ id: 'user-1' });
  });
});

describe('refresh rotation', () => {
  it('R1 gives R2; R1 again revokes the family and the access token issued with R2', async () => {
    const { auth, audit } = setup();
    const r1 = await auth.issueTokens(user);
    const r2 = await auth.refresh(r1.refreshToken);
    expect(r2.refreshToken).not.toBe(r1.refreshToken);
    await expect(auth.verifyAccessToken(r2.accessToken)).resolves.toMatchObject({ id: 'user-1' });

    const reuse = await rejection(auth.refresh(r1.refreshToken));
    expect(reuse.code).toBe('REFRESH_TOKEN_REUSED');
    expect(reuse.status).toBe(401);
    expect((await rejection(auth.verifyAccessToken(r2.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await rejection(auth.verifyAccessToken(r1.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await rejection(auth.refresh(r2.refreshToken))).code).toBe('TOKEN_REVOKED');
    expect(audit.events.map((event) => event.type)).toEqual(['token.refresh', 'token.reuse']);
  });

  it('answers a refresh without a token string as a bad request naming refreshToken', async () => {
    const { auth } = setup();
    for (const given of [undefined, null, 42, {}, '']) {
      const error = await rejection(auth.refresh(given as unknown as string));
      expect(error, JSON.stringify(given)).toMatchObject({
        code: 'VALIDATION_FAILED',
        status: 400,
      });
      expect(error.message).toMatch(/refreshToken/);
    }
    // A string that is no token is a credential problem, as before.
    expect((await rejection(auth.refresh('not-a-token'))).code).toBe('TOKEN_INVALID');
  });

  it('gives exactly one success to 20 concurrent refreshes of one token', async () => {
    const { auth } = setup();
    const { refreshToken } = await auth.issueTokens(user);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => auth.refresh(refreshToken)),
    );
    expectOneWinner(results);
  });

  it('gives 20 concurrent refreshes inside the reuse interval one new pair, and revokes on a replay after it', async () => {
    const { auth, audit, time } = setup({ refreshReuseIntervalSeconds: 10 });
    const r1 = await auth.issueTokens(user);
    const r2 = expectOnePair(
      await Promise.allSettled(Array.from({ length: 20 }, () => auth.refresh(r1.refreshToken))),
    );
    expect(r2.refreshToken).not.toBe(r1.refreshToken);
    await expect(auth.verifyAccessToken(r2.accessToken)).resolves.toMatchObject({ id: 'user-1' });
    expect(audit.events.map((event) => event.type)).toEqual(['token.refresh']);
    // Within the interval still, a tab that slept a few seconds gets the same pair too.
    time.advance(9_000);
    expect((await auth.refresh(r1.refreshToken)).refreshToken).toBe(r2.refreshToken);

    // The pair it handed out moves on as usual, and the token two steps back is reuse.
    const r3 = await auth.refresh(r2.refreshToken);
    expect((await rejection(auth.refresh(r1.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(auth.verifyAccessToken(r3.accessToken))).code).toBe('TOKEN_REVOKED');
  });

  it('treats a replay of a spent token after the reuse interval as reuse', async () => {
    const { auth, time } = setup({ refreshReuseIntervalSeconds: 10 });
    const r1 = await auth.issueTokens(user);
    const r2 = await auth.refresh(r1.refreshToken);
    time.advance(11_000);
    expect((await rejection(auth.refresh(r1.refreshToken))).code).toBe('REFRESH_TOKEN_REUSED');
    expect((await rejection(auth.refresh(r2.refreshToken))).code).toBe('TOKEN_REVOKED');
    expect(() => setup({ refreshReuseIntervalSeconds: 301 })).toThrow(
      /refreshReuseIntervalSeconds/,
    );
  });

  it('ends a family at its absolute lifetime, however often it was refreshed', async () => {
    const { auth, time } = setup({ familyLifetimeSeconds: 3600, refreshTokenTtlSeconds: 1800 });
    let pair = await auth.issueTokens(user);
    for (let step = 0; step < 3; step++) {
      time.advance(1000 * 1000);
      pair = await auth.refresh(pair.refreshToken);
    }
    const exp = JSON.parse(
      Buffer.from(pair.refreshToken.split('.')[1] as string, 'base64url').toString(),
    ).exp;
    expect(exp).toBe(1_800_000_000 + 3600);
    time.advance(700 * 1000);
    expect(['TOKEN_EXPIRED']).toContain((await rejection(auth.refresh(pair.refreshToken))).code);
  });

  it('takes the role from the user store at refresh time', async () => {
    const { auth, users } = setup();
    const created = await auth.createUser({
      email: 'ada@example.com',
      password: 'correct horse',
      role: 'viewer',
    });
    const pair = await auth.issueTokens(created);
    await users.update(created.id, { role: 'analyst', updatedAt: Date.now() });
    const next = await auth.refresh(pair.refreshToken);
    await expect(auth.verifyAccessToken(next.accessToken)).resolves.toMatchObject({
      role: 'analyst',
    });
  });

  it('logout revokes the access token and the refresh family at once', async () => {
    const { auth } = setup();
    const pair = await auth.issueTokens(user);
    const principal = await auth.verifyAccessToken(pair.accessToken);
    await auth.logout(principal, { refreshToken: pair.refreshToken });
    expect((await rejection(auth.verifyAccessToken(pair.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await rejection(auth.refresh(pair.refreshToken))).code).toBe('TOKEN_REVOKED');
  });
});

describe('login', () => {
  it('logs in, refuses a wrong password and an unknown email alike, and rehashes a weak hash', async () => {
    const { auth, users } = setup();
    const created = await auth.createUser({
      email: ' Ada@Example.com ',
      password: 'correct horse',
      role: 'analyst',
    });
    expect(created).toMatchObject({ email: 'ada@example.com', role: 'analyst' });
    const ok = await auth.login(
      { email: 'ADA@example.com', password: 'correct horse' },
      { ip: '192.0.2.1' },
    );
    expect(ok.user).toEqual({ id: created.id, email: 'ada@example.com', role: 'analyst' });
    await expect(auth.verifyAccessToken(ok.accessToken)).resolves.toMatchObject({ id: created.id });

    const wrong = await rejection(
      auth.login({ email: 'ada@example.com', password: 'wrong horse' }),
    );
    const unknown = await rejection(
      auth.login({ email: 'bob@example.com', password: 'wrong horse' }),
    );
    expect([wrong.code, wrong.status, wrong.message]).toEqual([
      unknown.code,
      unknown.status,
      unknown.message,
    ]);
    expect(wrong.code).toBe('INVALID_CREDENTIALS');

    // A hash of a lower cost than configured is replaced at the next good login.
    const stronger = createPasswordHasher({ cost: 5, workers: 1 });
    try {
      const rehashing = createAuth({ secret: SECRET, users, passwords: stronger });
      await rehashing.login({ email: 'ada@example.com', password: 'correct horse' });
      expect((await users.findById(created.id))?.passwordHash).toMatch(/^\$2b\$05\$/);
    } finally {
      await stronger.close();
    }
  });

  it('verifies an unknown email against a dummy hash of the configured cost', async () => {
    let dummies = 0;
    let verifies = 0;
    const counting = {
      ...passwords,
      cost: passwords.cost,
      queued: 0,
      hash: passwords.hash,
      needsRehash: passwords.needsRehash,
      close: async () => {},
      verify: (password: string, hash: string) => {
        verifies++;
        return passwords.verify(password, hash);
      },
      verifyDummy: (password: string) => {
        dummies++;
        return passwords.verifyDummy(password);
      },
    };
    const { auth } = setup({ passwords: counting });
    await rejection(auth.login({ email: 'nobody@example.com', password: 'whatever1' }));
    expect([dummies, verifies]).toEqual([1, 0]);
  });

  it('locks an account out after 5 failures with a 429 and Retry-After, and a success resets it', async () => {
    const { auth, time, audit } = setup();
    await auth.createUser({ email: 'ada@example.com', password: 'correct horse', role: 'viewer' });
    for (let attempt = 0; attempt < 4; attempt++) {
      await rejection(auth.login({ email: 'ada@example.com', password: 'nope nope' }));
    }
    await auth.login({ email: 'ada@example.com', password: 'correct horse' });
    for (let attempt = 0; attempt < 5; attempt++) {
      expect(
        (await rejection(auth.login({ email: 'ada@example.com', password: 'nope nope' }))).code,
      ).toBe('INVALID_CREDENTIALS');
    }
    const locked = await rejection(
      auth.login({ email: 'ada@example.com', password: 'correct horse' }),
    );
    expect(locked.code).toBe('RATE_LIMITED');
    expect(locked.status).toBe(429);
    expect(locked.headers?.['Retry-After']).toBe('30');
    expect(audit.events.some((event) => event.type === 'login.locked')).toBe(true);
    time.advance(30_000);
    await expect(
      auth.login({ email: 'ada@example.com', password: 'correct horse' }),
    ).resolves.toBeDefined();
  });

  it('refuses new passwords outside 8 to 72 bytes of UTF-8', async () => {
    const { auth } = setup();
    const long = 'é'.repeat(37); // 74 bytes, 37 characters
    const error = await rejection(
      auth.createUser({ email: 'a@example.com', password: long, role: 'viewer' }),
    );
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(/it is 74/);
    expect(
      (
        await rejection(
          auth.createUser({ email: 'a@example.com', password: 'short', role: 'viewer' }),
        )
      ).code,
    ).toBe('VALIDATION_FAILED');
    expect(
      (
        await rejection(
          auth.createUser({ email: 'a@example.com', password: 'long enough', role: 'boss' }),
        )
      ).code,
    ).toBe('VALIDATION_FAILED');
    await auth.createUser({ email: 'a@example.com', password: 'long enough', role: 'viewer' });
    expect(
      (
        await rejection(
          auth.createUser({ email: 'A@example.com', password: 'long enough', role: 'viewer' }),
        )
      ).code,
    ).toBe('CONFLICT');
  });
});

describe('API keys through createAuth', () => {
  it("creates a key within the owner's permissions and authenticates with it", async () => {
    const { auth } = setup();
    const owner = await auth.createUser({
      email: 'ci@example.com',
      password: 'correct horse',
      role: 'analyst',
    });
    const principal: Principal = { type: 'user', id: owner.id, role: 'analyst' };
    const created = await auth.createApiKey(principal, {
      name: 'CI',
      scopes: ['models:read'],
      expiresInDays: 30,
    });
    expect(created.key.startsWith(`${created.prefix}_`)).toBe(true);
    const keyPrincipal = await auth.verifyApiKey(created.key);
    expect(keyPrincipal).toMatchObject({
      type: 'api_key',
      id: owner.id,
      role: 'analyst',
      scopes: ['models:read'],
    });
    expect(auth.can(keyPrincipal, 'models:read')).toBe(true);
    expect(auth.check(keyPrincipal, 'models:write')).toEqual({
      allowed: false,
      reason: 'the API key\'s scopes do not include "models:write"',
    });
    const outside = await rejection(
      auth.createApiKey(principal, { name: 'too much', scopes: ['users:manage'] }),
    );
    expect(outside.code).toBe('FORBIDDEN');
    const viewer: Principal = { type: 'user', id: owner.id, role: 'viewer' };
    expect((await rejection(auth.createApiKey(viewer, { name: 'nope' }))).code).toBe('FORBIDDEN');
    expect((await auth.listApiKeys(principal)).map((key) => key.id)).toEqual([created.id]);
    await auth.revokeApiKey(principal, created.id);
    expect((await rejection(auth.verifyApiKey(created.key))).code).toBe('TOKEN_REVOKED');
  });
});

describe('audit trail', () => {
  it('records every kind of event and never a password, a token or a key secret', async () => {
    const { auth, audit } = setup();
    const password = 'a very secret password';
    const admin = await auth.createUser(
      { email: 'root@example.com', password, role: 'admin' },
      { ip: '192.0.2.9' },
    );
    await rejection(auth.login({ email: 'root@example.com', password: 'wrong password' }));
    const login = await auth.login({ email: 'root@example.com', password }, { ip: '192.0.2.9' });
    const refreshed = await auth.refresh(login.refreshToken);
    await rejection(auth.refresh(login.refreshToken));
    const principal: Principal = { type: 'user', id: admin.id, role: 'admin' };
    const key = await auth.createApiKey(principal, { name: 'ops' });
    await auth.revokeApiKey(principal, key.id);
    await auth.updateUser(admin.id, { password: 'another secret pw' }, { actorId: admin.id });
    const again = await auth.login({ email: 'root@example.com', password: 'another secret pw' });
    await auth.logout(await auth.verifyAccessToken(again.accessToken), {
      refreshToken: again.refreshToken,
    });
    await auth.deleteUser(admin.id, { actorId: admin.id });

    const types = new Set(audit.events.map((event) => event.type));
    for (const type of [
      'user.created',
      'login.failure',
      'login.success',
      'token.refresh',
      'token.reuse',
      'apikey.created',
      'apikey.revoked',
      'user.updated',
      'logout.everywhere',
      'logout',
      'user.deleted',
    ]) {
      expect(types, type).toContain(type);
    }
    const text = JSON.stringify(audit.events);
    const secrets = [
      password,
      'another secret pw',
      login.accessToken,
      login.refreshToken,
      refreshed.accessToken,
      refreshed.refreshToken,
      again.accessToken,
      key.key,
      key.key.slice(key.prefix.length + 1, -6),
    ];
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/\$2[aby]\$/);
    expect(audit.events.every((event) => /^\d{4}-\d\d-\d\dT/.test(event.at))).toBe(true);
  });

  it('keeps the request going when a sink fails', async () => {
    const { auth } = setup({ audit: { write: () => Promise.reject(new Error('disk full')) } });
    await expect(
      auth.createUser({ email: 'z@example.com', password: 'long enough', role: 'viewer' }),
    ).resolves.toBeDefined();
  });
});

describe('options and metrics', () => {
  it('refuses bad options at creation, naming them', () => {
    expect(() => createAuth({ passwords })).toThrow(/secret is required/);
    expect(() => createAuth({ secret: SECRET, accessTokenTtlSeconds: 0, passwords })).toThrow(
      /accessTokenTtlSeconds/,
    );
    expect(() => createAuth({ secret: 'short', production: true, passwords })).toThrow(
      /production needs at least 32/,
    );
    expect(() =>
      createAuth({
        secret: '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----',
        passwords,
      }),
    ).toThrow(/looks like a PEM key/);
    expect(() =>
      createAuth({ secret: SECRET, apiKeys: createMemoryApiKeyStore(), passwords }),
    ).toThrow(/needs users/);
    for (const thrower of [() => createAuth({ secret: SECRET, tokenCacheSize: -1, passwords })]) {
      try {
        thrower();
      } catch (error) {
        expect((error as { code: string }).code).toBe('INVALID_OPTIONS');
      }
    }
  });

  it('names secret and JWT_SECRET, not the key ring, for a bad secret given as secret', () => {
    for (const [secret, production, problem] of [
      ['', false, /is empty/],
      ['short', true, /production needs at least 32/],
      ['-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----', false, /PEM key/],
    ] as const) {
      let message = '';
      try {
        createAuth({ secret, production, passwords });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(problem);
      expect(message).toMatch(/^\[@fairmind\/auth\] secret \(JWT_SECRET\) /);
      expect(message).not.toMatch(/keys\[0\]/);
    }
  });

  it('counts verifications, cache hits and logins', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const { auth } = setup({ registry });
    const { accessToken } = await auth.issueTokens(user);
    await auth.verifyAccessToken(accessToken);
    await auth.verifyAccessToken(accessToken);
    await rejection(auth.verifyAccessToken('nope'));
    const text = await registry.metrics();
    expect(text).toContain('fairmind_auth_verifications_total{kind="access",outcome="ok"} 2');
    expect(text).toContain('fairmind_auth_verifications_total{kind="access",outcome="invalid"} 1');
    expect(text).toContain('fairmind_auth_token_cache_total{result="hit"} 1');
  });
});

describe('authOptionsFromConfig', () => {
  it('maps JWT_SECRET, JWT_ALGORITHM, JWT_EXPIRE_MINUTES and NODE_ENV', async () => {
    const config = loadConfig({
      env: { NODE_ENV: 'production', JWT_SECRET: SECRET, JWT_EXPIRE_MINUTES: '15' },
    });
    const options = authOptionsFromConfig(config);
    expect(options).toEqual({
      algorithm: 'HS256',
      secret: SECRET,
      accessTokenTtlSeconds: 900,
      production: true,
    });
    const auth = createAuth({ ...options, passwords });
    const { accessToken, expiresIn } = await auth.issueTokens(user);
    expect(expiresIn).toBe(900);
    await expect(auth.verifyAccessToken(accessToken)).resolves.toMatchObject({ id: 'user-1' });

    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const eddsa = authOptionsFromConfig(
      loadConfig({ env: { JWT_ALGORITHM: 'EdDSA', JWT_SECRET: pem } }),
    );
    expect(eddsa).toMatchObject({ algorithm: 'EdDSA', privateKey: pem, production: false });
    expect(() => createAuth({ ...eddsa, passwords })).not.toThrow();
  });
});

describe('the production secret rule', () => {
  it('is the one JWT_SECRET is checked by: what the config refuses, createAuth refuses', () => {
    const production = { NODE_ENV: 'production' };
    const configRefuses = (secret: string) => {
      try {
        loadConfig({ env: { ...production, JWT_SECRET: secret } });
        return false;
      } catch {
        return true;
      }
    };
    const authRefuses = (secret: string) => {
      try {
        createAuth({ secret, production: true, passwords });
        return false;
      } catch {
        return true;
      }
    };
    // Sixteen keys are 64 bytes of UTF-8 but only 16 characters someone typed.
    for (const secret of ['🔑'.repeat(16), 'x'.repeat(31), 'é'.repeat(32), 'x'.repeat(32)]) {
      expect(authRefuses(secret)).toBe(configRefuses(secret));
    }
    expect(authRefuses('🔑'.repeat(16))).toBe(true);
    expect(authRefuses('é'.repeat(32))).toBe(false);
    expect(() => createAuth({ secret: new Uint8Array(31), production: true, passwords })).toThrow(
      /is 31 bytes; production needs at least 32/,
    );
  });
});

describe('options given as undefined', () => {
  // With exactOptionalPropertyTypes a user writes { secret: process.env.JWT_SECRET, ... }:
  // every key given as undefined means what leaving it out means.
  it('createAuth keeps every default', async () => {
    const given = createAuth({
      ...undefinedOptions(new URL('./index.ts', import.meta.url), 'AuthOptions'),
      secret: SECRET,
      users: createMemoryUserStore(),
      passwords,
    });
    const left = createAuth({ secret: SECRET, users: createMemoryUserStore(), passwords });
    const a = await given.issueTokens(user);
    const b = await left.issueTokens(user);
    expect(a.expiresIn).toBe(b.expiresIn);
    expect(a.tokenType).toBe(b.tokenType);
    const claims = (token: string) => {
      const { iat, exp, jti, fam, ...rest } = JSON.parse(
        Buffer.from(token.split('.')[1] as string, 'base64url').toString(),
      );
      return { ...rest, lifetime: exp - iat, jti: typeof jti, fam: typeof fam };
    };
    expect(claims(a.accessToken)).toEqual(claims(b.accessToken));
    await expect(given.verifyAccessToken(a.accessToken)).resolves.toMatchObject({ id: 'user-1' });
  });

  it('logout takes a refresh token that is undefined', async () => {
    const { auth } = setup();
    const { accessToken } = await auth.issueTokens(user);
    const principal = await auth.verifyAccessToken(accessToken);
    const body: { refreshToken?: string } = {};
    await auth.logout(principal, { refreshToken: body.refreshToken, ip: undefined });
    expect((await rejection(auth.verifyAccessToken(accessToken))).code).toBe('TOKEN_REVOKED');
  });
});
