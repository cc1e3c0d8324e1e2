import { get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type FinishInfo, type Handler, jsonReply, type Middleware } from '@fairmind/core';
import { readJsonBody } from '@fairmind/edge';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fairmind, mount } from '../adapter/index.js';
import { nodeClientAddress, nodeEncoder } from './index.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(app: Hono): Promise<string> {
  const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  server = started;
  if (!started.listening) await new Promise((resolve) => started.once('listening', resolve));
  return `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
}

const big = JSON.stringify({ text: 'lorem ipsum dolor sit amet '.repeat(200) });

describe('nodeClientAddress', () => {
  it('gives the socket peer on @hono/node-server, whatever X-Forwarded-For says', async () => {
    const peers: string[] = [];
    const record: Middleware = (exchange) => {
      peers.push(exchange.clientAddress);
      return undefined;
    };
    const app = new Hono();
    app.use(fairmind({ clientAddress: nodeClientAddress, middleware: [record] }));
    app.get('/', (c) => c.text('ok'));
    const base = await listen(app);
    await fetch(base, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(peers).toEqual(['127.0.0.1']);
  });

  it('refuses to guess on a runtime that is not @hono/node-server', async () => {
    const app = new Hono();
    app.use(fairmind({ clientAddress: nodeClientAddress }));
    app.get('/', (c) => c.text('ok'));
    let caught: unknown;
    app.onError((error, c) => {
      caught = error;
      return c.text('failed', 500);
    });
    expect((await app.request('/')).status).toBe(500);
    expect(caught).toMatchObject({ code: 'INVALID_OPTIONS' });
    expect(String((caught as Error).message)).toMatch(/@hono\/node-server/);
  });
});

describe('nodeEncoder', () => {
  it('makes br on Node, whole with an exact Content-Length and streamed', async () => {
    const encoder = new TextEncoder();
    const app = new Hono();
    app.use(
      fairmind({ clientAddress: nodeClientAddress, compression: { encoder: nodeEncoder() } }),
    );
    app.get('/whole', (c) =>
      c.body(big, 200, {
        'content-type': 'application/json',
        'content-length': String(big.length),
      }),
    );
    app.get('/json', (c) => c.json(JSON.parse(big)));
    app.get(
      '/stream',
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode(big.slice(0, 1000)));
              controller.enqueue(encoder.encode(big.slice(1000)));
              controller.close();
            },
          }),
          { headers: { 'content-type': 'application/json' } },
        ),
    );
    const base = await listen(app);

    // undici's fetch decodes br itself; the raw bytes are checked through node:http below.
    const whole = await fetch(`${base}/whole`, { headers: { 'accept-encoding': 'br' } });
    expect(whole.headers.get('content-encoding')).toBe('br');
    expect(await whole.text()).toBe(big);

    const raw = await rawGet(`${base}/whole`, 'br');
    expect(raw.headers['content-encoding']).toBe('br');
    expect(Number(raw.headers['content-length'])).toBe(raw.body.length);
    expect(brotliDecompressSync(raw.body).toString()).toBe(big);

    // A body of known size, even without a Content-Length from the app (c.json), is
    // compressed whole at the Node response: exact length, no chunking.
    const json = await rawGet(`${base}/json`, 'gzip');
    expect(json.headers['content-encoding']).toBe('gzip');
    expect(Number(json.headers['content-length'])).toBe(json.body.length);
    expect(gunzipSync(json.body).toString()).toBe(big);

    const stream = await rawGet(`${base}/stream`, 'gzip');
    expect(stream.headers['content-encoding']).toBe('gzip');
    expect(stream.headers['transfer-encoding']).toBe('chunked');
    expect(gunzipSync(stream.body).toString()).toBe(big);
  });

  it('refuses bad levels at creation', () => {
    expect(() => nodeEncoder({ brotliQuality: 12 })).toThrow(/brotliQuality/);
    expect(() => nodeEncoder({ gzipLevel: 0 })).toThrow(/gzipLevel/);
  });
});

describe('finished responses on @hono/node-server', () => {
  it('reports status and body bytes from the Node response, and a client that left as aborted', async () => {
    const finished: FinishInfo[] = [];
    const watch: Middleware = () => ({ onFinish: (info) => finished.push(info) });
    const app = new Hono();
    app.use(fairmind({ clientAddress: nodeClientAddress, middleware: [watch], compression: {} }));
    app.get('/json', (c) => c.json({ hello: 'world' }));
    app.get('/missing', (c) => c.text('nope', 404));
    app.get('/big', (c) => c.body(big, 200, { 'content-type': 'application/json' }));
    // A type that is not compressed, so its first bytes go out at once rather than wait
    // for the compression threshold.
    app.get('/endless', () => {
      const encoder = new TextEncoder();
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode('first'));
          },
        }),
        { headers: { 'content-type': 'image/png' } },
      );
    });
    const base = await listen(app);
    const json = await (await fetch(`${base}/json`)).text();
    await (await fetch(`${base}/missing`)).text();
    // undici's fetch decodes gzip itself; node:http shows the bytes that went out.
    const compressed = await rawGet(`${base}/big`, 'gzip');
    expect(compressed.headers['content-encoding']).toBe('gzip');
    const compressedBytes = compressed.body.length;
    await vi.waitFor(() => expect(finished).toHaveLength(3));
    const leaving = new AbortController();
    const endless = await fetch(`${base}/endless`, { signal: leaving.signal });
    await endless.body?.getReader().read();
    leaving.abort();
    await vi.waitFor(() => expect(finished).toHaveLength(4));
    expect(finished).toMatchObject([
      { status: 200, bytes: Buffer.byteLength(json), aborted: false },
      { status: 404, bytes: 4, aborted: false },
      { status: 200, aborted: false },
      { status: 200, aborted: true },
    ]);
    // The compressed body was streamed, chunked: what left is its bytes plus the chunk
    // framing (a hex size and two CRLFs per chunk, and the last empty chunk), never headers.
    expect(compressedBytes).toBeGreaterThan(0);
    expect(compressedBytes).toBeLessThan(big.length);
    expect(finished[2]?.bytes).toBeGreaterThanOrEqual(compressedBytes);
    expect(finished[2]?.bytes).toBeLessThanOrEqual(compressedBytes + 32);
  });
});

describe('mount on @hono/node-server', () => {
  const application: Handler<Request> = async (_exchange, body) =>
    jsonReply(201, await readJsonBody(body, { limit: 1024 }));

  it('reads the body through c.req.raw and answers an oversized one with 413', async () => {
    const app = new Hono();
    mount(app, { middleware: [], handler: application }, { clientAddress: nodeClientAddress });
    const base = await listen(app);
    const ok = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ a: 1 });

    const declared = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(5000) }),
    });
    expect(declared.status).toBe(413);

    // Without a Content-Length the limit is found while reading.
    const encoder = new TextEncoder();
    const chunked = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(encoder.encode(`{"text":"${'x'.repeat(3000)}`));
          controller.enqueue(encoder.encode('"}'));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });
});

async function rawGet(
  url: string,
  acceptEncoding: string,
): Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}
