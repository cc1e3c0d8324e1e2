import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { authGuard, FairmindError, type Handler, jsonReply, type Middleware } from '@fairmind/core';
import { recordingLogger } from '@fairmind/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createNodeBridge,
  createRequestListener,
  exchangeOf,
  notFoundHandler,
  problemHandler,
  use,
} from './index.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(listener: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(listener);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const tag: Middleware = () => ({ headers: { 'x-frame-options': 'DENY', vary: 'Origin' } });
const gate: Middleware = (exchange) => {
  if (exchange.request.headers.get('x-block')) {
    throw new FairmindError('RATE_LIMITED', 429, 'Slow down.', { headers: { 'Retry-After': '7' } });
  }
  return undefined;
};
const big = {
  items: Array.from({ length: 200 }, (_, index) => ({ index, text: 'lorem ipsum dolor sit amet' })),
};
const handler: Handler<IncomingMessage> = async (exchange) => {
  const path = exchange.request.url;
  if (path === '/boom') throw new Error('database password is hunter2');
  if (path === '/big') return jsonReply(200, big);
  return jsonReply(200, { peer: exchange.clientAddress });
};

describe('createRequestListener', () => {
  it('runs the middleware, then the handler, with the middleware headers on the response', async () => {
    const base = await listen(createRequestListener({ middleware: [tag, gate], handler }));
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ peer: '127.0.0.1' });
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  it('answers from the middleware with its problem and keeps the gathered headers', async () => {
    const base = await listen(createRequestListener({ middleware: [tag, gate], handler }));
    const response = await fetch(`${base}/`, { headers: { 'x-block': '1' } });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
  });

  it('turns a handler failure into a 500 problem that leaks nothing', async () => {
    const errors: unknown[] = [];
    const logger = {
      error: (obj: object) => errors.push(obj),
      warn() {},
      info() {},
      debug() {},
      child() {
        return logger;
      },
    };
    const base = await listen(createRequestListener({ middleware: [tag], handler, logger }));
    const response = await fetch(`${base}/boom`);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('hunter2');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(errors).toHaveLength(1);
  });

  it('compresses large bodies and merges Vary when compression is asked for', async () => {
    const base = await listen(
      createRequestListener({ middleware: [tag], handler, compression: {} }),
    );
    const response = await fetch(`${base}/big`, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('vary')).toMatch(/Origin/);
    expect(response.headers.get('vary')).toMatch(/Accept-Encoding/i);
    const raw = Buffer.from(await response.arrayBuffer());
    // fetch decodes gzip itself; either way the JSON must be intact.
    const text = raw[0] === 0x1f ? gunzipSync(raw).toString() : raw.toString();
    expect(JSON.parse(text)).toEqual(big);
  });

  it('leaves bodies alone unless compression is asked for', async () => {
    for (const compression of [false, undefined] as const) {
      const base = await listen(createRequestListener({ handler, compression }));
      const response = await fetch(`${base}/big`, { headers: { 'accept-encoding': 'gzip' } });
      expect(response.headers.get('content-encoding')).toBeNull();
      expect(response.headers.get('vary')).toBeNull();
      await new Promise((resolve) => server?.close(resolve));
    }
  });
});

describe('createNodeBridge', () => {
  it('stays synchronous for synchronous middleware and reports false after a reply', async () => {
    const bridge = createNodeBridge({ middleware: [tag, gate], compression: false });
    const results: unknown[] = [];
    const base = await listen((req, res) => {
      const go = bridge(req, res);
      results.push(go);
      if (go === true) res.end('ok');
    });
    await fetch(base);
    await fetch(base, { headers: { 'x-block': '1' } });
    expect(results).toEqual([true, false]);
  });
});

describe('use', () => {
  // Stands in for authenticate() and requireRole('admin'): two use() calls, one state.
  const signIn: Middleware = (exchange) => {
    const role = exchange.request.headers.get('x-role');
    if (role) (exchange.state as { auth?: unknown }).auth = { role };
    return { headers: { 'x-frame-options': 'DENY' } };
  };
  const admins = authGuard((exchange) => {
    const auth = (exchange.state as { auth?: { role: string } }).auth;
    if (!auth) throw new FairmindError('UNAUTHENTICATED', 401, 'Sign in.');
    if (auth.role !== 'admin') throw new FairmindError('FORBIDDEN', 403, 'Admins only.');
    return undefined;
  });

  it('shares one exchange between use() calls and answers like the listener', async () => {
    const logger = recordingLogger();
    const everywhere = use([signIn, tag], { logger });
    const guard = use(admins);
    const problems = problemHandler({ logger });
    const base = await listen(async (req, res) => {
      try {
        if (!(await everywhere(req, res))) return;
        if (req.url === '/boom') throw new Error('database password is hunter2');
        if (req.url !== '/admin') return notFoundHandler(req, res);
        if (!(await guard(req, res))) return;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(exchangeOf(req)?.state));
      } catch (error) {
        problems(error, req, res);
      }
    });
    const ok = await fetch(`${base}/admin`, {
      headers: { 'x-role': 'admin', 'accept-encoding': 'gzip' },
    });
    expect(await ok.json()).toEqual({ auth: { role: 'admin' } });
    expect(ok.headers.get('x-frame-options')).toBe('DENY');
    expect(ok.headers.get('vary')).toBe('Origin');
    const denied = await fetch(`${base}/admin`, { headers: { 'x-role': 'viewer' } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('x-frame-options')).toBe('DENY');
    expect(await denied.json()).toMatchObject({ code: 'FORBIDDEN' });
    expect((await fetch(`${base}/admin`)).status).toBe(401);
    const missing = await fetch(`${base}/nope?key=1`, { method: 'DELETE' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'No route for DELETE /nope: check the URL.',
    });
    const failed = await fetch(`${base}/boom`);
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-frame-options')).toBe('DENY');
    expect(await failed.text()).not.toContain('hunter2');
    expect(logger.errors).toEqual([
      expect.objectContaining({ method: 'GET', path: '/boom', status: 500 }),
    ]);
  });

  it('refuses what is not a middleware', () => {
    expect(() => use({} as never)).toThrow(/contract middleware/);
  });
});
