import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { authGuard, FairmindError, jsonReply, type Middleware } from '@fairmind/core';
import { recordingLogger } from '@fairmind/testing';
import express from 'express';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { fairmind, handle, mount, notFoundHandler, problemHandler, use } from './index.js';

// What @fairmind/auth declares; req.auth must pick it up through AuthOf.
declare module '@fairmind/core' {
  interface FairmindState {
    auth?: { id: string; role: string };
    requestId?: string;
  }
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(app: express.Express): Promise<string> {
  const listening = app.listen(0, '127.0.0.1');
  server = listening;
  await new Promise((resolve) => listening.once('listening', resolve));
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
}

// Stands in for @fairmind/auth's authenticate(): puts a principal on the state.
const authenticate: Middleware = (exchange) => {
  const token = exchange.request.headers.get('authorization');
  if (token === 'Bearer good')
    (exchange.state as { auth?: unknown }).auth = { id: 'u1', role: 'admin' };
  return { headers: { 'x-content-type-options': 'nosniff' } };
};
const deny: Middleware = (exchange) => {
  if (exchange.request.url.startsWith('/private') && !(exchange.state as { auth?: unknown }).auth) {
    throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer token.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  return undefined;
};

describe('@fairmind/express', () => {
  it('exposes req.auth and the middleware headers to Express routes', async () => {
    const app = express();
    app.use(fairmind({ middleware: [authenticate, deny] }));
    app.get('/private/me', (req, res) => {
      res.json({ auth: req.auth, state: Object.keys(req.fairmind ?? {}) });
    });
    const base = await listen(app);
    const ok = await fetch(`${base}/private/me`, { headers: { authorization: 'Bearer good' } });
    expect(await ok.json()).toEqual({ auth: { id: 'u1', role: 'admin' }, state: ['auth'] });
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ok.headers.get('x-powered-by')).toBeNull();
    const denied = await fetch(`${base}/private/me`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    expect(denied.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('mounts a contract application with problem JSON for errors', async () => {
    const app = express();
    mount(app, {
      middleware: [authenticate],
      handler: (exchange) => {
        if (exchange.request.url === '/missing')
          throw new FairmindError('NOT_FOUND', 404, 'No such thing.');
        return jsonReply(201, { created: true });
      },
    });
    const base = await listen(app);
    const created = await fetch(`${base}/things`, { method: 'POST' });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-content-type-options')).toBe('nosniff');
    const missing = await fetch(`${base}/missing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'NOT_FOUND', detail: 'No such thing.' });
  });

  it('answers errors from Express routes as problems', async () => {
    const app = express();
    app.get('/fail', () => {
      throw new Error('secret internals');
    });
    app.get('/teapot', (_req, _res, next) =>
      next(new FairmindError('CONFLICT', 409, 'Already there.')),
    );
    app.use(handle(() => jsonReply(200, {})));
    app.use(problemHandler());
    const base = await listen(app);
    const failed = await fetch(`${base}/fail`);
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain('secret');
    expect((await fetch(`${base}/teapot`)).status).toBe(409);
  });
});

describe('@fairmind/express edge cases', () => {
  it('shares one exchange between an app-level and a route-level chain', async () => {
    const app = express();
    app.use(fairmind({ middleware: [authenticate] }));
    const needsAuth: Middleware = (exchange) => {
      if (!(exchange.state as { auth?: unknown }).auth) {
        throw new FairmindError('UNAUTHENTICATED', 401, 'Send a bearer token.');
      }
      return undefined;
    };
    app.get('/route-level', fairmind({ middleware: [needsAuth] }), (req, res) => {
      res.json(req.auth);
    });
    const base = await listen(app);
    const response = await fetch(`${base}/route-level`, {
      headers: { authorization: 'Bearer good' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 'u1', role: 'admin' });
  });

  it('keeps the 4xx of a framework error such as a bad JSON body', async () => {
    const app = express();
    app.use(express.json());
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    app.use(problemHandler());
    const base = await listen(app);
    const response = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"broken": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
  });

  it('gives handle() the body again after express.json() read it', async () => {
    const app = express();
    app.use(express.json());
    app.post(
      '/echo',
      handle(async (_exchange, body) => {
        return jsonReply(201, {
          length: body.headers['content-length'],
          got: JSON.parse(await text(body)),
        });
      }),
    );
    const base = await listen(app);
    const response = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{ "title": "Model ü", "tags": ["a", 1, null] }',
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({
      length: String(Buffer.byteLength('{"title":"Model ü","tags":["a",1,null]}')),
      got: { title: 'Model ü', tags: ['a', 1, null] },
    });
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
  it('shares one state between use() calls and types the principal after a guard', async () => {
    const app = express();
    app.use(use(signIn));
    app.get('/admin/:section', use(admins), (req, res) => {
      expectTypeOf(req.auth).toEqualTypeOf<Principal>();
      expectTypeOf(res.locals.auth).toEqualTypeOf<Principal>();
      expectTypeOf(req.params.section).toEqualTypeOf<string>();
      res.json({ id: req.auth.id, locals: res.locals.auth.role, section: req.params.section });
    });
    app.get('/open', (req, res) => {
      expectTypeOf(req.auth).toEqualTypeOf<Principal | undefined>();
      res.json({ auth: req.auth ?? null, state: Object.keys(req.fairmind ?? {}) });
    });
    const base = await listen(app);

    const ok = await fetch(`${base}/admin/keys`, { headers: { authorization: 'Bearer admin' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: 'u-admin', locals: 'admin', section: 'keys' });
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ok.headers.get('x-guarded')).toBe('yes');
    expect(ok.headers.get('x-powered-by')).toBeNull();

    const anonymous = await fetch(`${base}/admin/keys`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(anonymous.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await anonymous.json()).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });

    const viewer = await fetch(`${base}/admin/keys`, {
      headers: { authorization: 'Bearer viewer' },
    });
    expect(viewer.status).toBe(403);
    expect(await viewer.json()).toMatchObject({ code: 'FORBIDDEN' });

    const open = await fetch(`${base}/open`, { headers: { authorization: 'Bearer viewer' } });
    expect(await open.json()).toEqual({
      auth: { id: 'u-viewer', role: 'viewer' },
      state: ['auth', 'requestId'],
    });
  });

  it('takes an array, typed as guarded when it ends with a guard', async () => {
    const app = express();
    app.get('/admin', use([signIn, admins]), (req, res) => {
      expectTypeOf(req.auth).toEqualTypeOf<Principal>();
      res.json(req.auth);
    });
    app.get('/both', use([admins, signIn]), (req, res) => {
      expectTypeOf(req.auth).toEqualTypeOf<Principal | undefined>();
      res.json(req.auth ?? null);
    });
    const base = await listen(app);
    const ok = await fetch(`${base}/admin`, { headers: { authorization: 'Bearer admin' } });
    expect(await ok.json()).toEqual({ id: 'u-admin', role: 'admin' });
    expect((await fetch(`${base}/admin`)).status).toBe(401);
  });

  it('shares the state with fairmind() and compresses only where compression is asked for', async () => {
    const big = { text: 'lorem ipsum '.repeat(400) };
    const app = express();
    app.get('/plain', use(signIn), (_req, res) => res.json(big));
    app.get('/default', fairmind({ middleware: [signIn] }), (_req, res) => res.json(big));
    app.get(
      '/asked',
      fairmind({ middleware: [signIn], compression: {} }),
      use(admins),
      (req, res) => {
        res.json({ ...big, id: req.auth.id });
      },
    );
    const base = await listen(app);
    const gzip = { 'accept-encoding': 'gzip' };
    for (const path of ['/plain', '/default']) {
      const response = await fetch(`${base}${path}`, { headers: gzip });
      expect(response.headers.get('content-encoding'), path).toBeNull();
      expect(response.headers.get('vary'), path).toBeNull();
    }
    const asked = await fetch(`${base}/asked`, {
      headers: { ...gzip, authorization: 'Bearer admin' },
    });
    expect(asked.headers.get('content-encoding')).toBe('gzip');
    expect(await asked.json()).toMatchObject({ id: 'u-admin' });
  });

  it('leaves req.auth and res.locals.auth to the app once it assigns them', async () => {
    const app = express();
    app.use(use(signIn));
    app.use((req, res, next) => {
      // As express-jwt does: its own req.auth, which a getter without a setter would refuse.
      (req as { auth: unknown }).auth = { sub: 'from-jwt' };
      res.locals['auth'] = 'local';
      next();
    });
    app.get('/mine', use(authenticate), (req, res) => {
      res.json({ req: req.auth, locals: res.locals['auth'], state: req.fairmind?.auth });
    });
    const base = await listen(app);
    const response = await fetch(`${base}/mine`, { headers: { authorization: 'Bearer admin' } });
    expect(await response.json()).toEqual({
      req: { sub: 'from-jwt' },
      locals: 'local',
      state: { id: 'u-admin', role: 'admin' },
    });
  });

  it('refuses what is not a middleware when use() runs', () => {
    expect(() => use('nope' as never)).toThrow(/contract middleware/);
    expect(() => use([signIn, 42 as never])).toThrow(/function/);
  });
});

describe('notFoundHandler and problemHandler', () => {
  it('answer unknown routes and thrown errors with problems, logging the failure', async () => {
    const logger = recordingLogger();
    const app = express();
    app.use(use(signIn));
    app.get('/boom', () => {
      throw new Error('database password is hunter2');
    });
    const router = express.Router();
    router.use(notFoundHandler);
    app.use('/nested', router);
    app.use(notFoundHandler);
    app.use(problemHandler({ logger }));
    const base = await listen(app);

    const missing = await fetch(`${base}/nope?token=secret`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await missing.json()).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for POST /nope: check the URL.',
    });
    const nested = await fetch(`${base}/nested/deeper`);
    expect(await nested.json()).toMatchObject({
      detail: 'No route for GET /nested/deeper: check the URL.',
    });

    const failed = await fetch(`${base}/boom`);
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await failed.text()).not.toContain('hunter2');
    expect(logger.errors).toEqual([
      expect.objectContaining({ requestId: 'r-1', method: 'GET', path: '/boom', status: 500 }),
    ]);
  });
});
