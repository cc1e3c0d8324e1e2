import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as streamText } from 'node:stream/consumers';
import {
  authGuard,
  FairmindError,
  type FinishInfo,
  type Handler,
  jsonReply,
  type Middleware,
} from '@fairmind/core';
import { readJsonBody } from '@fairmind/edge';
import { recordingLogger } from '@fairmind/testing';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  exchangeOf,
  fairmind,
  frameworkErrorHandler,
  guarded,
  handle,
  mount,
  notFoundHandler,
  problemErrorHandler,
  use,
} from './index.js';

// What @fairmind/auth declares; request.auth must pick it up through AuthOf.
declare module '@fairmind/core' {
  interface FairmindState {
    auth?: { id: string; role: string };
    requestId?: string;
  }
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function fastify(): FastifyInstance {
  app = Fastify();
  return app;
}

// Stands in for @fairmind/auth's authenticate(): puts a principal on the state.
const authenticate: Middleware = (exchange) => {
  if (exchange.request.headers.get('authorization') === 'Bearer good') {
    (exchange.state as { auth?: unknown }).auth = { id: 'u1', role: 'admin' };
  }
  return { headers: { 'x-content-type-options': 'nosniff', vary: 'Origin' } };
};
const deny: Middleware = (exchange) => {
  if (exchange.request.url.startsWith('/private') && !(exchange.state as { auth?: unknown }).auth) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer token.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  return undefined;
};
const later: Middleware = async () => {
  await new Promise((resolve) => setImmediate(resolve));
  return { headers: { 'x-later': 'yes' } };
};

describe('fairmind plugin', () => {
  it('puts the middleware headers on the reply and exposes request.auth and request.fairmind', async () => {
    const server = fastify();
    await server.register(fairmind, { middleware: [authenticate, later, deny] });
    server.get('/private/me', async (request) => ({
      auth: request.auth,
      state: Object.keys(request.fairmind ?? {}),
      peer: exchangeOf(request)?.clientAddress,
    }));
    server.get('/public', async (request) => ({ auth: request.auth }));

    const ok = await server.inject({
      url: '/private/me',
      headers: { authorization: 'Bearer good' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({
      auth: { id: 'u1', role: 'admin' },
      state: ['auth'],
      peer: '127.0.0.1',
    });
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(ok.headers['x-later']).toBe('yes');
    expect(ok.headers['x-powered-by']).toBeUndefined();

    expectTypeOf<FastifyRequest['auth']>().toEqualTypeOf<{ id: string; role: string } | null>();

    const anonymous = await server.inject({ url: '/public' });
    expect(anonymous.json()).toEqual({ auth: null });
  });

  it('ends the request with a short reply that keeps the gathered headers', async () => {
    const server = fastify();
    await server.register(fairmind, { middleware: [authenticate, deny] });
    let reached = false;
    server.get('/private/me', async () => {
      reached = true;
      return {};
    });
    const denied = await server.inject({ url: '/private/me' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['content-type']).toBe('application/problem+json');
    expect(denied.headers['www-authenticate']).toBe('Bearer');
    expect(denied.headers['x-content-type-options']).toBe('nosniff');
    expect(denied.json()).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(reached).toBe(false);
  });

  it('combines list headers from the middleware with those a route sets', async () => {
    const server = fastify();
    await server.register(fairmind, { middleware: [authenticate], compression: false });
    server.get('/', async (_request, reply) => {
      reply.header('x-content-type-options', 'overridden');
      return 'ok';
    });
    const response = await server.inject({ url: '/' });
    expect(response.headers['vary']).toBe('Origin');
    expect(response.headers['x-content-type-options']).toBe('overridden');
  });

  it('reports each finished response to onFinish with its status and length', async () => {
    const finished: FinishInfo[] = [];
    const observe: Middleware = () => ({ onFinish: (info) => finished.push(info) });
    const server = fastify();
    await server.register(fairmind, { middleware: [observe, deny] });
    server.get('/hello', async () => 'hello');
    await server.inject({ url: '/hello' });
    await server.inject({ url: '/private' });
    expect(finished).toEqual([
      expect.objectContaining({ status: 200, bytes: 5, aborted: false }),
      expect.objectContaining({ status: 401, aborted: false }),
    ]);
  });

  it('answers route errors, Fastify client errors and unknown routes as problems', async () => {
    const logger = recordingLogger();
    const server = fastify();
    await server.register(fairmind, { middleware: [authenticate], logger });
    server.get('/fail', async () => {
      throw new Error('database password is hunter2');
    });
    server.get('/conflict', async () => {
      throw new FairmindError('CONFLICT', 409, 'Already there.');
    });
    server.post(
      '/typed',
      { schema: { body: { type: 'object', required: ['name'] } } },
      async () => ({}),
    );

    const failed = await server.inject({ url: '/fail' });
    expect(failed.statusCode).toBe(500);
    expect(failed.headers['content-type']).toBe('application/problem+json');
    expect(failed.body).not.toContain('hunter2');
    expect(failed.headers['x-content-type-options']).toBe('nosniff');
    expect(logger.errors).toHaveLength(1);

    const conflict = await server.inject({ url: '/conflict' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'CONFLICT', detail: 'Already there.' });

    const badJson = await server.inject({
      method: 'POST',
      url: '/typed',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });

    const invalid = await server.inject({ method: 'POST', url: '/typed', payload: {} });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()['detail']).toContain('name');

    const media = await server.inject({
      method: 'POST',
      url: '/typed',
      headers: { 'content-type': 'application/x-unknown' },
      payload: 'x',
    });
    expect(media.statusCode).toBe(415);
    expect(media.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });

    const missing = await server.inject({ url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(missing.headers['x-content-type-options']).toBe('nosniff');
    expect(missing.json()).toMatchObject({ code: 'NOT_FOUND' });
    expect(logger.errors).toHaveLength(1);
  });

  it('leaves error and not-found handling to the app with problems: false', async () => {
    const server = fastify();
    await server.register(fairmind, { problems: false });
    const missing = await server.inject({ url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/json/);
  });

  it('answers HEAD like GET, without a body and without compressing', async () => {
    const server = fastify();
    await server.register(fairmind, { middleware: [authenticate], compression: {} });
    const big = { text: 'lorem ipsum '.repeat(400) };
    server.get('/big', async () => big);
    const head = await server.inject({
      method: 'HEAD',
      url: '/big',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-encoding']).toBeUndefined();
    expect(head.headers['content-length']).toBe(String(JSON.stringify(big).length));
    expect(head.headers['vary']).toBe('Origin, Accept-Encoding');
    expect(head.headers['x-content-type-options']).toBe('nosniff');
  });

  it('refuses bad options when it is registered', async () => {
    const server = fastify();
    server.register(fairmind, { middleware: 'nope' as unknown as Middleware[] });
    await expect(server.ready()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    const other = Fastify();
    other.register(fairmind, { compression: { gzipLevel: 12 } });
    await expect(other.ready()).rejects.toThrow(/gzipLevel/);
    await other.close();
  });
});

// A contract application that reads its own body, as the platform does.
const application: Handler<IncomingMessage> = async (exchange, body) => {
  const path = exchange.request.url;
  if (path === '/echo') {
    const input = await readJsonBody<Record<string, unknown>>(body, { limit: 64 });
    return jsonReply(201, { input, auth: (exchange.state as { auth?: unknown }).auth ?? null });
  }
  if (path === '/big') return jsonReply(200, { text: 'lorem ipsum '.repeat(400) });
  if (path.startsWith('/typed')) {
    const type = new URLSearchParams(path.split('?')[1]).get('type');
    return { status: 200, headers: type === null ? {} : { 'content-type': type }, body: 'é,1' };
  }
  throw new FairmindError('NOT_FOUND', 404, `No route for ${path}.`);
};

describe('mount', () => {
  it('hands the unread body to the application, which reads and limits it itself', async () => {
    const server = fastify();
    mount(server, { middleware: [authenticate], handler: application });
    const created = await server.inject({
      method: 'POST',
      url: '/echo',
      headers: { authorization: 'Bearer good', 'content-type': 'application/json' },
      payload: '{"hello":"world"}',
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(created.headers['x-content-type-options']).toBe('nosniff');
    expect(created.json()).toEqual({
      input: { hello: 'world' },
      auth: { id: 'u1', role: 'admin' },
    });

    // Fastify would refuse text/plain JSON itself or parse it; the application decides.
    const wrongType = await server.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'text/plain' },
      payload: '{}',
    });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.headers['content-type']).toBe('application/problem+json');
    expect(wrongType.json()).toMatchObject({ code: 'VALIDATION_FAILED' });

    const tooBig = await server.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ text: 'x'.repeat(100) }),
    });
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });

    const missing = await server.inject({ method: 'DELETE', url: '/anything/else' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for /anything/else.',
    });
  });

  it('answers HEAD through the application without a body', async () => {
    const server = fastify();
    mount(server, { middleware: [], handler: application });
    const head = await server.inject({ method: 'HEAD', url: '/big' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('sends every reply with the content type and bytes the application gave', async () => {
    const server = fastify();
    mount(server, { middleware: [], handler: application });
    const sent = async (type: string | null) => {
      const query = type === null ? '' : `?type=${encodeURIComponent(type)}`;
      const response = await server.inject({ method: 'GET', url: `/typed${query}` });
      expect(response.body).toBe('é,1');
      expect(response.headers['content-length']).toBe('4');
      return response.headers['content-type'];
    };
    expect(await sent('text/csv')).toBe('text/csv');
    expect(await sent('text/plain; charset=utf-8')).toBe('text/plain; charset=utf-8');
    expect(await sent('application/json; charset=utf-8')).toBe('application/json; charset=utf-8');
    // Fastify would add a charset to a JSON type sent as a string, and call an untyped string
    // text/plain: these go as bytes, exactly as given.
    expect(await sent('application/problem+json')).toBe('application/problem+json');
    expect(await sent('application/json')).toBe('application/json');
    expect(await sent(null)).toBe('application/octet-stream');
  });

  it('keeps routes declared beside the mount and their JSON parsing', async () => {
    const server = fastify();
    server.post('/own', async (request) => ({ parsed: request.body }));
    mount(server, { middleware: [authenticate], handler: application });
    const own = await server.inject({ method: 'POST', url: '/own', payload: { a: 1 } });
    expect(own.json()).toEqual({ parsed: { a: 1 } });
    expect(own.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers a URL Fastify cannot decode through the chain, as a problem', async () => {
    app = Fastify({ frameworkErrors: frameworkErrorHandler({ middleware: [authenticate] }) });
    mount(app, { middleware: [authenticate], handler: application });
    const bad = await app.inject({ url: '/models/%E0%A4%A?x=1' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toBe('application/problem+json');
    expect(bad.headers['x-content-type-options']).toBe('nosniff');
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });

    // With the application's handler, the application answers it as on every adapter.
    const handled = Fastify({
      frameworkErrors: frameworkErrorHandler({ middleware: [authenticate], handler: application }),
    });
    mount(handled, { middleware: [authenticate], handler: application });
    const routed = await handled.inject({ url: '/models/%E0%A4%A?x=1' });
    expect(routed.statusCode).toBe(404);
    expect(routed.headers['x-content-type-options']).toBe('nosniff');
    expect(routed.json()).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for /models/%E0%A4%A?x=1.',
    });
    await handled.close();
    expect(() => frameworkErrorHandler({ handler: 'nope' as never })).toThrow(/handler/);

    const plain = Fastify();
    mount(plain, { middleware: [authenticate], handler: application });
    const unhandled = await plain.inject({ url: '/models/%E0%A4%A?x=1' });
    expect(unhandled.headers['content-type']).toBe('application/json');
    await plain.close();
  });

  it('gives the socket peer as the client address, whatever X-Forwarded-For says', async () => {
    const server = fastify();
    await server.register(fairmind);
    server.get(
      '/peer',
      handle((exchange) => jsonReply(200, { peer: exchange.clientAddress })),
    );
    await server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/peer`, {
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(await response.json()).toEqual({ peer: '127.0.0.1' });
  });

  it('mounts an application in a prefixed scope of an app that registered the plugin', async () => {
    const server = fastify();
    await server.register(fairmind, { middleware: [signIn] });
    const seen: string[] = [];
    const inner: Middleware = (exchange) => {
      seen.push(String(exchange.state.requestId));
      return { headers: { 'x-inner': '1' } };
    };
    await server.register(
      async (scope) =>
        mount(scope, {
          middleware: [inner],
          handler: async (exchange, body) =>
            jsonReply(200, { auth: exchange.state.auth ?? null, got: await readJsonBody(body) }),
        }),
      { prefix: '/account' },
    );
    const response = await server.inject({
      method: 'POST',
      url: '/account/login',
      headers: { authorization: 'Bearer admin', 'content-type': 'application/json' },
      payload: '{"email":"a@example.com"}',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-inner']).toBe('1');
    expect(response.json()).toEqual({
      auth: { id: 'u-admin', role: 'admin' },
      got: { email: 'a@example.com' },
    });
    expect(seen).toEqual(['r-1']);
    await server.close();
  });

  it("gives handle() the body again after Fastify's own parsers read it", async () => {
    const server = fastify();
    await server.register(fairmind);
    server.post(
      '/echo',
      handle(async (_exchange, body) => jsonReply(201, { got: await readJsonBody(body) })),
    );
    server.post(
      '/text',
      handle(async (_exchange, body) => jsonReply(200, { text: await streamText(body) })),
    );
    const json = await server.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '{"title":"Model ü","tags":["a",1,null],"nested":{"x":true}}',
    });
    expect(json.statusCode).toBe(201);
    expect(json.json()).toEqual({
      got: { title: 'Model ü', tags: ['a', 1, null], nested: { x: true } },
    });
    const text = await server.inject({
      method: 'POST',
      url: '/text',
      headers: { 'content-type': 'text/plain' },
      payload: 'plain ü',
    });
    expect(text.json()).toEqual({ text: 'plain ü' });
    await server.close();
  });
});

type Principal = { id: string; role: string };

// Stands in for auth.authenticate({ optional: true }): `Bearer <role>` signs in as that role.
const signIn: Middleware = (exchange) => {
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
    server.addHook('onRequest', use(signIn));
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
    await plain.register(fairmind, { middleware: [signIn] });
    plain.get('/big', { onRequest: use(admins) }, async () => big);
    const gzip = { 'accept-encoding': 'gzip', authorization: 'Bearer admin' };
    const unasked = await plain.inject({ url: '/big', headers: gzip });
    expect(unasked.statusCode).toBe(200);
    expect(unasked.headers['content-encoding']).toBeUndefined();
    expect(unasked.headers['vary']).toBeUndefined();
    await plain.close();

    const asked = fastify();
    await asked.register(fairmind, { middleware: [signIn], compression: {} });
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
    server.addHook('onRequest', use(signIn));
    server.get(
      '/admin',
      guarded(admins, async (request) => {
        expectTypeOf(request.auth).toEqualTypeOf<Principal>();
        return { id: request.auth.id };
      }),
    );
    server.get('/models/:id', {
      schema: { params: { type: 'object', properties: { id: { type: 'string' } } } },
      ...guarded<{ Params: { id: string } }>([signIn, admins], async (request, reply) => {
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
    expect(() => guarded(signIn as never, async () => null)).toThrow(/AuthGuard/);
    expect(() => guarded([admins, signIn] as never, async () => null)).toThrow(/AuthGuard/);
  });
});

describe('problem handlers with use()', () => {
  it('answer errors and unknown routes as problems, logging the failure', async () => {
    const logger = recordingLogger();
    const server = fastify();
    server.addHook('onRequest', use(signIn));
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
