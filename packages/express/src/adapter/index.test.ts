import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FairmindError, jsonReply, type Middleware } from '@fairmind/core';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { fairmind, handle, mount, problemHandler } from './index.js';

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
});
