import {
  FairmindError,
  type FinishInfo,
  type Handler,
  jsonReply,
  type Middleware,
} from '@fairmind/core';
import { readJsonBody } from '@fairmind/edge';
import { recordingLogger } from '@fairmind/testing';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type FairmindEnv,
  fairmind,
  handle,
  mount,
  notFoundHandler,
  problemHandler,
} from './index.js';

// What @fairmind/auth declares; c.get('auth') must pick it up through AuthOf.
declare module '@fairmind/core' {
  interface FairmindState {
    auth?: { id: string; role: string };
  }
}

const PEER = '198.51.100.7';
const clientAddress = () => PEER;

// Stands in for @fairmind/auth's authenticate(): puts a principal on the state.
const authenticate: Middleware = (exchange) => {
  if (exchange.request.headers.get('authorization') === 'Bearer good') {
    exchange.state.auth = { id: 'u1', role: 'admin' };
  }
  return { headers: { 'x-content-type-options': 'nosniff', vary: 'Origin' } };
};
const deny: Middleware = (exchange) => {
  if (new URL(exchange.request.url).pathname.startsWith('/private') && !exchange.state.auth) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer token.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  return undefined;
};
const later: Middleware = async () => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return { headers: { 'x-later': 'yes' } };
};

describe('fairmind middleware', () => {
  it("puts the middleware headers on the response and exposes c.get('auth')", async () => {
    const app = new Hono<FairmindEnv>();
    app.use(fairmind({ clientAddress, middleware: [authenticate, later, deny] }));
    app.get('/private/me', (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<{ id: string; role: string } | undefined>();
      return c.json({ auth: c.get('auth'), state: Object.keys(c.get('fairmind')) });
    });
    app.get('/public', (c) => c.json({ auth: c.get('auth') ?? null }));
    app.get('/own-header', (c) => {
      c.header('x-content-type-options', 'overridden');
      c.header('vary', 'Cookie');
      return c.text('ok');
    });

    const ok = await app.request('/private/me', { headers: { authorization: 'Bearer good' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ auth: { id: 'u1', role: 'admin' }, state: ['auth'] });
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ok.headers.get('x-later')).toBe('yes');
    expect(ok.headers.get('x-powered-by')).toBeNull();

    expect(await (await app.request('/public')).json()).toEqual({ auth: null });

    const own = await app.request('/own-header');
    expect(own.headers.get('x-content-type-options')).toBe('overridden');
    // No Accept-Encoding: compression is off unless asked for.
    expect(own.headers.get('vary')).toBe('Origin, Cookie');
  });

  it('gives the middleware the client address it was told and a request view', async () => {
    const seen: Array<{ peer: string; secure: boolean; method: string }> = [];
    const app = new Hono();
    app.use(
      fairmind({
        clientAddress,
        middleware: [
          (exchange) => {
            seen.push({
              peer: exchange.clientAddress,
              secure: exchange.secure,
              method: exchange.request.method,
            });
            return undefined;
          },
        ],
      }),
    );
    app.get('/', (c) => c.text('ok'));
    await app.request('http://example.com/', { headers: { 'x-forwarded-for': '203.0.113.1' } });
    await app.request('https://example.com/');
    expect(seen).toEqual([
      { peer: PEER, secure: false, method: 'GET' },
      { peer: PEER, secure: true, method: 'GET' },
    ]);
  });

  it('ends the request with a short reply that keeps the gathered headers', async () => {
    const app = new Hono();
    app.use(fairmind({ clientAddress, middleware: [authenticate, deny] }));
    let reached = false;
    app.get('/private/me', (c) => {
      reached = true;
      return c.text('secret');
    });
    const denied = await app.request('/private/me');
    const text = await denied.text();
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    expect(denied.headers.get('content-length')).toBe(String(text.length));
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    expect(denied.headers.get('x-content-type-options')).toBe('nosniff');
    expect(JSON.parse(text)).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(reached).toBe(false);
  });

  it('puts the headers on responses whose headers are immutable', async () => {
    const app = new Hono();
    app.use(fairmind({ clientAddress, middleware: [authenticate] }));
    app.get('/away', () => Response.redirect('http://example.com/elsewhere', 302));
    const response = await app.request('/away');
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('http://example.com/elsewhere');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers errors and unknown routes as problems with the middleware headers', async () => {
    const logger = recordingLogger();
    const app = new Hono();
    app.use(fairmind({ clientAddress, middleware: [authenticate], logger }));
    app.get('/fail', () => {
      throw new Error('database password is hunter2');
    });
    app.get('/basic', () => {
      throw new HTTPException(401, {
        message: 'Who are you?',
        res: new Response('Unauthorized', { headers: { 'WWW-Authenticate': 'Basic' } }),
      });
    });
    app.onError(problemHandler({ logger }));
    app.notFound(notFoundHandler);

    const failed = await app.request('/fail');
    expect(failed.status).toBe(500);
    expect(failed.headers.get('content-type')).toBe('application/problem+json');
    expect(failed.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await failed.text()).not.toContain('hunter2');
    expect(logger.errors).toHaveLength(1);

    const basic = await app.request('/basic');
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Basic');
    expect(await basic.json()).toMatchObject({ code: 'UNAUTHENTICATED' });

    const missing = await app.request('/nope', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await missing.json()).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for POST /nope: check the URL.',
    });
    expect(logger.errors).toHaveLength(1);
  });

  it('reports each response to onFinish once its body is read, and HEAD at once', async () => {
    const finished: FinishInfo[] = [];
    const observe: Middleware = () => ({ onFinish: (info) => finished.push(info) });
    const app = new Hono();
    app.use(fairmind({ clientAddress, middleware: [observe, deny] }));
    app.get('/hello', (c) => c.text('hello'));
    const response = await app.request('/hello');
    expect(finished).toEqual([]);
    expect(await response.text()).toBe('hello');
    await (await app.request('/private')).text();
    await app.request('/hello', { method: 'HEAD' });
    expect(finished).toEqual([
      expect.objectContaining({ status: 200, bytes: 5, aborted: false }),
      expect.objectContaining({ status: 401, aborted: false }),
      expect.objectContaining({ status: 200, bytes: 0, aborted: false }),
    ]);
    const abandoned = await app.request('/hello');
    await abandoned.body?.cancel();
    expect(finished.at(-1)).toMatchObject({ aborted: true });
  });

  it('answers HEAD like GET, without a body and without compressing', async () => {
    const app = new Hono();
    app.use(fairmind({ clientAddress, middleware: [authenticate], compression: {} }));
    const big = { text: 'lorem ipsum '.repeat(400) };
    app.get('/big', (c) => c.json(big));
    const head = await app.request('/big', {
      method: 'HEAD',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(head.headers.get('content-encoding')).toBeNull();
    expect(head.headers.get('vary')).toBe('Origin, Accept-Encoding');
    expect(head.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses bad options at creation', () => {
    expect(() => fairmind({} as never)).toThrow(/clientAddress/);
    expect(() => fairmind({ clientAddress, middleware: [42 as never] })).toThrow(/function/);
    expect(() => fairmind({ clientAddress, compression: { bufferLimit: -1 } })).toThrow(
      /bufferLimit/,
    );
  });
});

// A contract application that reads its own body, as the platform does.
const application: Handler<Request> = async (exchange, body) => {
  const path = new URL(exchange.request.url).pathname;
  if (path === '/echo') {
    const input = await readJsonBody<Record<string, unknown>>(body, { limit: 64 });
    return jsonReply(201, { input, auth: exchange.state.auth ?? null });
  }
  if (path === '/big') return jsonReply(200, { text: 'lorem ipsum '.repeat(400) });
  if (path === '/teapot') throw new FairmindError('CONFLICT', 409, 'Already brewing.');
  if (path === '/fail') throw new Error('database password is hunter2');
  throw new FairmindError('NOT_FOUND', 404, `No route for ${path}.`);
};

describe('mount', () => {
  it('hands c.req.raw to the application, which reads and limits the body itself', async () => {
    const app = new Hono();
    mount(app, { middleware: [authenticate], handler: application }, { clientAddress });
    const created = await app.request('/echo', {
      method: 'POST',
      headers: { authorization: 'Bearer good', 'content-type': 'application/json' },
      body: '{"hello":"world"}',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(created.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await created.json()).toEqual({
      input: { hello: 'world' },
      auth: { id: 'u1', role: 'admin' },
    });

    const tooBig = await app.request('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(100) }),
    });
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('answers what the application throws as problems with the middleware headers', async () => {
    const logger = recordingLogger();
    const app = new Hono();
    mount(app, { middleware: [authenticate], handler: application }, { clientAddress, logger });
    const conflict = await app.request('/teapot', { method: 'PUT' });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toBe('application/problem+json');
    expect(conflict.headers.get('x-content-type-options')).toBe('nosniff');
    const failed = await app.request('/fail');
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain('hunter2');
    expect(failed.headers.get('x-content-type-options')).toBe('nosniff');
    expect(logger.errors).toHaveLength(1);
    const missing = await app.request('/anything/else', { method: 'DELETE' });
    expect(await missing.json()).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for /anything/else.',
    });
  });

  it('answers HEAD through the application without a body', async () => {
    const app = new Hono();
    mount(app, { middleware: [authenticate], handler: application }, { clientAddress });
    const get = await app.request('/big');
    const length = get.headers.get('content-length');
    const head = await app.request('/big', {
      method: 'HEAD',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(head.headers.get('content-length')).toBe(length);
    expect(head.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(head.headers.get('content-encoding')).toBeNull();
    expect(head.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('lets routes of the app answer first, with the middleware', async () => {
    const app = new Hono();
    mount(app, { middleware: [authenticate], handler: application }, { clientAddress });
    app.get('/own', (c) => c.json({ own: true }));
    const own = await app.request('/own');
    expect(await own.json()).toEqual({ own: true });
    expect(own.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses to run a handler without the middleware that makes its exchange', async () => {
    const app = new Hono();
    app.get('/', handle(application));
    app.onError(problemHandler());
    const response = await app.request('/');
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});
