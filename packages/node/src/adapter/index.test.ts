import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { FairmindError, type Handler, jsonReply, type Middleware } from '@fairmind/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeBridge, createRequestListener } from './index.js';

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

  it('compresses large bodies and merges Vary', async () => {
    const base = await listen(createRequestListener({ middleware: [tag], handler }));
    const response = await fetch(`${base}/big`, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('vary')).toMatch(/Origin/);
    expect(response.headers.get('vary')).toMatch(/Accept-Encoding/i);
    const raw = Buffer.from(await response.arrayBuffer());
    // fetch decodes gzip itself; either way the JSON must be intact.
    const text = raw[0] === 0x1f ? gunzipSync(raw).toString() : raw.toString();
    expect(JSON.parse(text)).toEqual(big);
  });

  it('leaves bodies alone with compression off', async () => {
    const base = await listen(createRequestListener({ handler, compression: false }));
    const response = await fetch(`${base}/big`, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers.get('content-encoding')).toBeNull();
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
