import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { type FinishInfo, jsonReply, type Middleware, runMiddleware } from '../contract/index.js';
import {
  applyHeaders,
  bodyAfterParser,
  lingerBeforeClose,
  nodeExchange,
  observeFinish,
  writeReply,
} from './index.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(chain: Middleware[]): Promise<string> {
  server = createServer(async (req, res) => {
    const exchange = nodeExchange(req);
    const decision = await runMiddleware(chain, exchange);
    observeFinish(res, decision.onFinish);
    if (decision.reply) return writeReply(res, decision.reply);
    res.setHeader('vary', 'Cookie');
    applyHeaders(res, decision.headers);
    res.setHeader('content-type', 'text/plain');
    res.end(`${exchange.clientAddress} ${exchange.request.headers.get('x-multi')}`);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

describe('node helpers', () => {
  it('exposes the socket peer and headers, applies headers and reports the finish', async () => {
    const finished: FinishInfo[] = [];
    const base = await serve([
      () => ({
        headers: { vary: 'Accept-Encoding', 'x-frame-options': 'DENY' },
        onFinish: (i) => finished.push(i),
      }),
    ]);
    const response = await fetch(`${base}/x`, {
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-multi': 'a' },
    });
    expect(await response.text()).toBe('127.0.0.1 a');
    expect(response.headers.get('vary')).toBe('Cookie, Accept-Encoding');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ status: 200, aborted: false });
  });

  it('counts body bytes, not headers, when the length is out of getHeader()s sight', async () => {
    const finished: FinishInfo[] = [];
    server = createServer((_req, res) => {
      observeFinish(res, [(info) => finished.push(info)]);
      // Headers given to writeHead() alone never reach getHeader(), as Fastify and
      // @hono/node-server write them.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
      res.end('hello world');
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('hello world');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(finished).toMatchObject([{ status: 200, bytes: 11, aborted: false }]);
  });

  it('writes a short-circuit reply with an exact length', async () => {
    const base = await serve([
      () => ({ reply: jsonReply(429, { a: 'é' }, { 'retry-after': '2' }) }),
    ]);
    const response = await fetch(base);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength('{"a":"é"}')));
    expect(await response.json()).toEqual({ a: 'é' });
  });

  it('stops lingering after maxBytes or maxMs, however long the client goes on', async () => {
    server = createServer((req, res) => {
      lingerBeforeClose(req, { maxBytes: 256 * 1024, maxMs: req.url === '/slow' ? 50 : 60_000 });
      res.writeHead(413, { connection: 'close', 'content-length': '0' });
      res.end();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Each client declares 1 GiB; the first keeps writing, the second writes once and waits.
    const heard = await Promise.all(
      ['/flood', '/slow'].map(
        (path) =>
          new Promise<string>((resolve) => {
            const socket = connect(port, '127.0.0.1');
            let answer = '';
            const chunk = Buffer.alloc(16 * 1024, 120);
            let written = 0;
            const write = () => {
              // Bounded: 1 GiB is never reached, the server closes after 256 KiB.
              while (path === '/flood' && written < 65_536 && socket.write(chunk)) written++;
            };
            socket.on('drain', write);
            socket.on('data', (data: Buffer) => {
              answer += data.toString('latin1');
            });
            socket.on('error', () => {});
            socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
            socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1073741824\r\n\r\n`);
            socket.write(chunk);
            write();
          }),
      ),
    );
    expect(heard).toEqual(['HTTP/1.1 413 Payload Too Large', 'HTTP/1.1 413 Payload Too Large']);
  });
});

describe('bodyAfterParser', () => {
  /** A request stand-in: a Node stream with headers, read to the end when `read` is set. */
  async function request(contentType: string, read: boolean) {
    const stream = Object.assign(Readable.from([Buffer.from('a=1')]), {
      headers: { 'content-type': contentType, 'content-length': '3' },
    });
    if (read) for await (const _chunk of stream);
    return stream as unknown as IncomingMessage;
  }

  it('passes the request on while unread, or when no parser left a body', async () => {
    const req = await request('application/json', false);
    expect(bodyAfterParser(req, {})).toBe(req);
    const read = await request('application/json', true);
    expect(bodyAfterParser(read, undefined)).toBe(read);
  });

  it('replays a string, a Buffer or JSON, and leaves other parsed shapes alone', async () => {
    expect(await text(bodyAfterParser(await request('text/plain', true), 'héllo'))).toBe('héllo');
    expect(await text(bodyAfterParser(await request('x/y', true), Buffer.from('raw')))).toBe('raw');
    const json = bodyAfterParser(await request('application/problem+json', true), { a: [1] });
    expect(json.headers['content-length']).toBe('9');
    expect(await text(json)).toBe('{"a":[1]}');
    const form = await request('application/x-www-form-urlencoded', true);
    expect(bodyAfterParser(form, { a: '1' })).toBe(form);
  });
});
