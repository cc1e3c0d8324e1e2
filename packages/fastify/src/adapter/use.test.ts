import { authGuard, FairmindError, type Middleware } from '@fairmind/core';
import { recordingLogger } from '@fairmind/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { fairmind, guarded, notFoundHandler, problemErrorHandler, use } from './index.js';

// What @fairmind/auth declares; request.auth must pick it up through AuthOf.
declare module '@fairmind/core' {
  interface FairmindState {
    auth?: { id: string; role: string };
    requestId?: string;
  }
}

type Principal = { id: string; role: string };

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function fastify(): FastifyInstance {
  app = Fastify();
  return app;
}

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
  it('shares one state between hooks and answers short replies as problems', async () => {
    const server = fastify();
    server.addHook('onRequest', use(authenticate));
    server.get('/admin', { onRequest: use(admins) }, async (request) => {
      expectTypeOf(request.auth).toEqualTypeOf<Principal | null>();
      return { auth: request.auth, state: Object.keys(request.fairmind ?? {}) };
    });
    server.get('/late', { preHandler: [use(admins)] }, async (request) => request.auth);

    const ok = await server.inject({ url: '/admin', headers: { authorization: 'Bearer admin' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({
      auth: { id: 'u-admin', role: 'admin' },
      state: ['auth', 'requestId'],
    });
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(ok.headers['x-guarded']).toBe('yes');

    const anonymous = await server.inject({ url: '/admin' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toBe('application/problem+json');
    expect(anonymous.headers['www-authenticate']).toBe('Bearer');
    expect(anonymous.headers['x-content-type-options']).toBe('nosniff');
    expect(anonymous.json()).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });

    const viewer = await server.inject({ url: '/late', headers: { authorization: 'Bearer v' } });
    expect(viewer.statusCode).toBe(403);
    expect(viewer.json()).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('shares the state with the plugin, which compresses only when asked', async () => {
    const big = { text: 'lorem ipsum '.repeat(400) };
    const plain = fastify();
    await plain.register(fairmind, { middleware: [authenticate] });
    plain.get('/big', { onRequest: use(admins) }, async () => big);
    const gzip = { 'accept-encoding': 'gzip', authorization: 'Bearer admin' };
    const unasked = await plain.inject({ url: '/big', headers: gzip });
    expect(unasked.statusCode).toBe(200);
    expect(unasked.headers['content-encoding']).toBeUndefined();
    expect(unasked.headers['vary']).toBeUndefined();
    await plain.close();

    const asked = fastify();
    await asked.register(fairmind, { middleware: [authenticate], compression: {} });
    asked.get('/big', { onRequest: use(admins) }, async () => big);
    const compressed = await asked.inject({ url: '/big', headers: gzip });
    expect(compressed.headers['content-encoding']).toBe('gzip');
  });

  it('refuses what is not a middleware', () => {
    expect(() => use(42 as never)).toThrow(/contract middleware/);
  });
});

describe('guarded', () => {
  it('types the principal as present in the handler behind the guard', async () => {
    const server = fastify();
    server.addHook('onRequest', use(authenticate));
    server.get(
      '/admin',
      guarded(admins, async (request) => {
        expectTypeOf(request.auth).toEqualTypeOf<Principal>();
        return { id: request.auth.id };
      }),
    );
    server.get('/models/:id', {
      schema: { params: { type: 'object', properties: { id: { type: 'string' } } } },
      ...guarded<{ Params: { id: string } }>([authenticate, admins], async (request, reply) => {
        expectTypeOf(request.params.id).toEqualTypeOf<string>();
        return reply.code(200).send({ id: request.params.id, by: request.auth.role });
      }),
    });

    const ok = await server.inject({ url: '/admin', headers: { authorization: 'Bearer admin' } });
    expect(ok.json()).toEqual({ id: 'u-admin' });
    expect((await server.inject({ url: '/admin' })).statusCode).toBe(401);
    const model = await server.inject({
      url: '/models/m1',
      headers: { authorization: 'Bearer admin' },
    });
    expect(model.json()).toEqual({ id: 'm1', by: 'admin' });
  });

  it('refuses a middleware that is not a guard', () => {
    expect(() => guarded(authenticate as never, async () => null)).toThrow(/AuthGuard/);
    expect(() => guarded([admins, authenticate] as never, async () => null)).toThrow(/AuthGuard/);
  });
});

describe('problem handlers with use()', () => {
  it('answer errors and unknown routes as problems, logging the failure', async () => {
    const logger = recordingLogger();
    const server = fastify();
    server.addHook('onRequest', use(authenticate));
    server.setErrorHandler(problemErrorHandler({ logger }));
    server.setNotFoundHandler(notFoundHandler);
    server.get('/boom', async () => {
      throw new Error('database password is hunter2');
    });
    const missing = await server.inject({ method: 'POST', url: '/nope?token=x' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['x-content-type-options']).toBe('nosniff');
    expect(missing.json()).toMatchObject({ detail: 'No route for POST /nope: check the URL.' });
    const failed = await server.inject({ url: '/boom' });
    expect(failed.statusCode).toBe(500);
    expect(failed.body).not.toContain('hunter2');
    expect(logger.errors).toEqual([
      expect.objectContaining({ requestId: 'r-1', method: 'GET', path: '/boom', status: 500 }),
    ]);
  });
});
