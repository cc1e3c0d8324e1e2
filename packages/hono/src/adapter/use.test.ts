import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authGuard, FairmindError, type Middleware } from '@fairmind/core';
import { recordingLogger } from '@fairmind/testing';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type FairmindEnv, fairmind, notFoundHandler, problemHandler, use } from './index.js';

// What @fairmind/auth declares; c.get('auth') must pick it up through AuthOf.
declare module '@fairmind/core' {
  interface FairmindState {
    auth?: { id: string; role: string };
    requestId?: string;
  }
}

type Principal = { id: string; role: string };
const clientAddress = () => '198.51.100.7';

// Stands in for auth.authenticate({ optional: true }): `Bearer <role>` signs in as that role.
const authenticate: Middleware = (exchange) => {
  const role = /^Bearer (\w+)$/.exec(exchange.request.headers.get('authorization') ?? '')?.[1];
  if (role !== undefined) exchange.state.auth = { id: `u-${role}`, role };
  exchange.state.requestId = 'r-1';
  return { headers: { 'x-content-type-options': 'nosniff' } };
};
// Stands in for auth.requireRole('admin').
const admins = authGuard((exchange) => {
  const auth = exchange.state.auth;
  if (auth === undefined) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Sign in.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  if (auth.role !== 'admin') throw new FairmindError('FORBIDDEN', 403, 'Admins only.');
  return { headers: { 'x-guarded': 'yes' } };
});

describe('use', () => {
  it('shares one state between use() calls and types the principal after a guard', async () => {
    const app = new Hono();
    app.use(use(authenticate, { clientAddress }));
    app.get('/admin', use(admins), (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal>();
      expectTypeOf(c.var.auth).toEqualTypeOf<Principal>();
      return c.json({ id: c.get('auth').id, state: Object.keys(c.get('fairmind')) });
    });
    app.get('/open', (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal | undefined>();
      return c.json({ auth: c.get('auth') ?? null });
    });

    const ok = await app.request('/admin', { headers: { authorization: 'Bearer admin' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: 'u-admin', state: ['auth', 'requestId'] });
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ok.headers.get('x-guarded')).toBe('yes');

    const anonymous = await app.request('/admin');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(anonymous.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await anonymous.json()).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });

    const viewer = await app.request('/admin', { headers: { authorization: 'Bearer viewer' } });
    expect(viewer.status).toBe(403);
    const open = await app.request('/open', { headers: { authorization: 'Bearer viewer' } });
    expect(await open.json()).toEqual({ auth: { id: 'u-viewer', role: 'viewer' } });
  });

  it('types an array that ends with a guard as guarded, on an app of FairmindEnv too', async () => {
    const app = new Hono<FairmindEnv>();
    app.use(fairmind({ clientAddress, middleware: [authenticate] }));
    app.get('/admin', use([authenticate, admins]), (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal>();
      return c.json(c.get('auth'));
    });
    app.get('/either', use([admins, authenticate]), (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal | undefined>();
      return c.json(c.get('auth') ?? null);
    });
    const ok = await app.request('/admin', { headers: { authorization: 'Bearer admin' } });
    expect(await ok.json()).toEqual({ id: 'u-admin', role: 'admin' });
    expect((await app.request('/either')).status).toBe(401);
  });

  it('compresses only where compression is asked for', async () => {
    const big = { text: 'lorem ipsum '.repeat(400) };
    const gzip = { 'accept-encoding': 'gzip' };
    const plain = new Hono();
    plain.use(use(authenticate, { clientAddress }));
    plain.use(fairmind({ clientAddress }));
    plain.get('/big', (c) => c.json(big));
    const unasked = await plain.request('/big', { headers: gzip });
    expect(unasked.headers.get('content-encoding')).toBeNull();
    expect(unasked.headers.get('vary')).toBeNull();

    const asked = new Hono();
    asked.use(fairmind({ clientAddress, compression: {} }));
    asked.get('/big', use(authenticate), (c) => c.json(big));
    const compressed = await asked.request('/big', { headers: gzip });
    expect(compressed.headers.get('content-encoding')).toBe('gzip');
    expect(compressed.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('takes the peer from @hono/node-server by default, and asks for it elsewhere', async () => {
    const peers: string[] = [];
    const record: Middleware = (exchange) => {
      peers.push(exchange.clientAddress);
      return undefined;
    };
    const app = new Hono();
    app.use(use(record));
    app.onError(problemHandler());
    app.get('/', (c) => c.text('ok'));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    try {
      if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as AddressInfo;
      await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(peers).toEqual(['127.0.0.1']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const elsewhere = await app.request('/');
    expect(elsewhere.status).toBe(500);
    expect(await elsewhere.json()).toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  it('refuses what is not a middleware', () => {
    expect(() => use(null as never)).toThrow(/contract middleware/);
  });
});

describe('problem handlers with use()', () => {
  it('answer errors and unknown routes as problems, logging the failure', async () => {
    const logger = recordingLogger();
    const app = new Hono();
    app.use(use(authenticate, { clientAddress }));
    app.get('/boom', () => {
      throw new Error('database password is hunter2');
    });
    app.onError(problemHandler({ logger }));
    app.notFound(notFoundHandler);
    const missing = await app.request('/nope?token=x', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await missing.json()).toMatchObject({
      detail: 'No route for POST /nope: check the URL.',
    });
    const failed = await app.request('/boom');
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await failed.text()).not.toContain('hunter2');
    expect(logger.errors).toEqual([
      expect.objectContaining({ requestId: 'r-1', method: 'GET', path: '/boom', status: 500 }),
    ]);
  });
});
