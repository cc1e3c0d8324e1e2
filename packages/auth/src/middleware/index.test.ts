import { type Exchange, isAuthGuard, runMiddleware } from '@fairmind/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryApiKeyStore } from '../apikeys/index.js';
import { createMemoryAuditSink } from '../audit/index.js';
import { createAuth } from '../auth/index.js';
import { createPasswordHasher } from '../passwords/index.js';
import { TEST_SECRET } from '../testing/index.js';
import { createMemoryUserStore } from '../users/index.js';

const passwords = createPasswordHasher({ cost: 4, workers: 1 });
afterAll(() => passwords.close());

function exchange(headers: Record<string, string> = {}, url = '/api/v1/models'): Exchange {
  const lower = new Map(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return {
    request: {
      method: 'GET',
      url,
      headers: { get: (name) => lower.get(name.toLowerCase()) ?? null },
    },
    clientAddress: '192.0.2.7',
    secure: false,
    state: {},
  };
}

async function setup() {
  const audit = createMemoryAuditSink();
  const users = createMemoryUserStore();
  const auth = createAuth({
    secret: TEST_SECRET,
    users,
    apiKeys: createMemoryApiKeyStore(),
    passwords,
    audit,
  });
  const viewer = await auth.createUser({
    email: 'v@example.com',
    password: 'long enough',
    role: 'viewer',
  });
  const analyst = await auth.createUser({
    email: 'a@example.com',
    password: 'long enough',
    role: 'analyst',
  });
  const viewerToken = (await auth.issueTokens(viewer)).accessToken;
  return { auth, audit, users, viewer, analyst, viewerToken };
}

describe('authenticate()', () => {
  it('answers a token it has verified before at once, so the chain goes on in the same turn', async () => {
    const { auth, viewer, viewerToken } = await setup();
    const authenticate = auth.authenticate();
    // The first time, jose verifies it: a promise.
    const first = exchange({ Authorization: `Bearer ${viewerToken}` });
    const cold = authenticate(first);
    expect(cold).toBeInstanceOf(Promise);
    await cold;
    // Then it is a cached token with a memory revocation store: no promise at all.
    const again = exchange({ Authorization: `Bearer ${viewerToken}` });
    expect(authenticate(again)).toBeUndefined();
    expect(again.state.auth).toMatchObject({ id: viewer.id, role: 'viewer' });
    expect(
      runMiddleware([authenticate], exchange({ Authorization: `Bearer ${viewerToken}` })),
    ).not.toBeInstanceOf(Promise);
    // A revoked one is refused at once too, as the chain answers a rejection: 401.
    await auth.logout(again.state.auth as NonNullable<typeof again.state.auth>);
    const revoked = runMiddleware(
      [authenticate],
      exchange({ Authorization: `Bearer ${viewerToken}` }),
    );
    expect((await revoked).reply?.status).toBe(401);
    // A malformed header is refused before any verification.
    expect(() => authenticate(exchange({ Authorization: 'Basic abc' }))).toThrow(
      expect.objectContaining({ status: 401 }),
    );
  });

  it('puts the principal of a Bearer token on state.auth', async () => {
    const { auth, viewer, viewerToken } = await setup();
    const ex = exchange({ Authorization: `Bearer ${viewerToken}` });
    const decision = await runMiddleware([auth.authenticate()], ex);
    expect(decision.reply).toBeUndefined();
    expect(ex.state.auth).toMatchObject({ type: 'user', id: viewer.id, role: 'viewer' });
    // The scheme is case-insensitive (RFC 7235).
    const lower = exchange({ authorization: `bearer ${viewerToken}` });
    await runMiddleware([auth.authenticate()], lower);
    expect(lower.state.auth?.id).toBe(viewer.id);
  });

  it('accepts an X-API-Key', async () => {
    const { auth, analyst } = await setup();
    const { key } = await auth.createApiKey(
      { type: 'user', id: analyst.id, role: 'analyst' },
      { name: 'k' },
    );
    const ex = exchange({ 'X-API-Key': key });
    await runMiddleware([auth.authenticate()], ex);
    expect(ex.state.auth).toMatchObject({ type: 'api_key', id: analyst.id });
  });

  it('answers 401 with WWW-Authenticate: Bearer for missing, malformed and bad credentials', async () => {
    const { auth, viewerToken } = await setup();
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'UNAUTHENTICATED'],
      [{ Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'UNAUTHENTICATED'],
      [{ Authorization: `Bearer ${viewerToken}x` }, 'TOKEN_INVALID'],
      [{ Authorization: 'Bearer ' }, 'TOKEN_INVALID'],
      [{ 'X-API-Key': 'fm_live_nope' }, 'TOKEN_INVALID'],
    ];
    for (const [headers, code] of cases) {
      const decision = await runMiddleware([auth.authenticate()], exchange(headers));
      expect(decision.reply?.status, JSON.stringify(headers)).toBe(401);
      expect(decision.reply?.headers['www-authenticate']).toBe('Bearer');
      expect(JSON.parse(decision.reply?.body ?? '{}').code).toBe(code);
    }
  });

  it('lets anonymous requests through when optional, but not bad credentials', async () => {
    const { auth } = await setup();
    const anonymous = exchange();
    expect(
      (await runMiddleware([auth.authenticate({ optional: true })], anonymous)).reply,
    ).toBeUndefined();
    expect(anonymous.state.auth).toBeUndefined();
    const bad = await runMiddleware(
      [auth.authenticate({ optional: true })],
      exchange({ Authorization: 'Bearer x.y.z' }),
    );
    expect(bad.reply?.status).toBe(401);
  });
});

describe('requirePermission() and requireRole()', () => {
  it('allows, and denies with 403 and an audit event naming the reason', async () => {
    const { auth, audit, viewer, viewerToken } = await setup();
    const headers = { Authorization: `Bearer ${viewerToken}` };
    const allowed = await runMiddleware(
      [auth.authenticate(), auth.requirePermission('models:read')],
      exchange(headers),
    );
    expect(allowed.reply).toBeUndefined();
    const denied = await runMiddleware(
      [auth.authenticate(), auth.requirePermission('models:write')],
      exchange(headers),
    );
    expect(denied.reply?.status).toBe(403);
    const body = JSON.parse(denied.reply?.body ?? '{}');
    expect(body.code).toBe('FORBIDDEN');
    expect(body.detail).toMatch(/role "viewer" lacks the permission "models:write"/);
    const event = audit.events.at(-1);
    expect(event).toMatchObject({
      type: 'permission.denied',
      actorId: viewer.id,
      ip: '192.0.2.7',
      details: { permission: 'models:write', path: '/api/v1/models', method: 'GET' },
    });
    const role = await runMiddleware(
      [auth.authenticate(), auth.requireRole('admin', 'analyst')],
      exchange(headers),
    );
    expect(role.reply?.status).toBe(403);
    expect(JSON.parse(role.reply?.body ?? '{}').detail).toMatch(/not one of admin, analyst/);
  });

  it('answers 401 when nobody authenticated, and denies an unknown role with a reason', async () => {
    const { auth } = await setup();
    expect(
      (await runMiddleware([auth.requirePermission('models:read')], exchange())).reply?.status,
    ).toBe(401);
    const ghost = exchange();
    ghost.state.auth = { type: 'user', id: 'g', role: 'ghost' };
    const decision = await runMiddleware([auth.requirePermission('models:read')], ghost);
    expect(JSON.parse(decision.reply?.body ?? '{}').detail).toMatch(/unknown role "ghost"/);
    const byRole = await runMiddleware([auth.requireRole('viewer')], ghost);
    expect(JSON.parse(byRole.reply?.body ?? '{}').detail).toMatch(/unknown role "ghost"/);
    expect(() => auth.requireRole('ghost')).toThrow(/unknown role/);
    expect(() => auth.requirePermission()).toThrow(/at least one/);
  });
});

describe('guards on their own', () => {
  it('authenticate the request themselves, and are marked as guards', async () => {
    const { auth, viewerToken } = await setup();
    const bearer = { authorization: `Bearer ${viewerToken}` };
    for (const guard of [
      auth.requireAuth(),
      auth.requirePermission('models:read'),
      auth.requireRole('viewer'),
    ]) {
      expect(isAuthGuard(guard)).toBe(true);
      const signedIn = exchange(bearer);
      expect((await runMiddleware([guard], signedIn)).reply).toBeUndefined();
      expect(signedIn.state.auth).toMatchObject({ type: 'user', role: 'viewer' });
      expect((await runMiddleware([guard], exchange())).reply?.status).toBe(401);
      const forged = exchange({ authorization: 'Bearer not-a-token' });
      expect((await runMiddleware([guard], forged)).reply?.status).toBe(401);
    }
    expect((await runMiddleware([auth.requireRole('admin')], exchange(bearer))).reply?.status).toBe(
      403,
    );
  });

  it('answer at once when the principal is known, and refuse through a rejection', async () => {
    const { auth } = await setup();
    const known = exchange();
    known.state.auth = { type: 'user', id: 'u', role: 'viewer' };
    expect(auth.requireAuth()(known)).toBeUndefined();
    expect(auth.requirePermission('models:read')(known)).toBeUndefined();
    expect(auth.requireRole('viewer')(known)).toBeUndefined();
    await expect(auth.requirePermission('models:write')(known)).rejects.toMatchObject({
      status: 403,
    });
    await expect(auth.requireRole('admin')(known)).rejects.toMatchObject({ status: 403 });
    // Unknown, the principal is looked for first: a promise, rejected with 401 here.
    await expect(auth.requireAuth()(exchange())).rejects.toMatchObject({ status: 401 });
  });

  it('requireAuth({ apiKeys: false }) refuses API keys with 403', async () => {
    const { auth, analyst } = await setup();
    const key = await auth.createApiKey(
      { type: 'user', id: analyst.id, role: 'analyst' },
      { name: 'ci' },
    );
    const headers = { 'x-api-key': key.key };
    expect((await runMiddleware([auth.requireAuth()], exchange(headers))).reply).toBeUndefined();
    const refused = await runMiddleware([auth.requireAuth({ apiKeys: false })], exchange(headers));
    expect(refused.reply?.status).toBe(403);
  });
});
