import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest, serveNode, type TestServer } from '../test-support/index.js';
import {
  createNodeCompression,
  type FlushableResponse,
  type NodeCompressionOptions,
} from './index.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

async function serve(handler: Handler, options?: NodeCompressionOptions): Promise<string> {
  const compress = createNodeCompression(options);
  server = await serveNode([], async (req, res) => {
    compress(req, res);
    await handler(req, res);
  });
  return server.url;
}

function decode(encoding: string | undefined, body: Buffer): Buffer {
  if (encoding === 'br') return zlib.brotliDecompressSync(body);
  if (encoding === 'gzip') return zlib.gunzipSync(body);
  if (encoding === 'deflate') return zlib.inflateSync(body);
  if (encoding === undefined) return body;
  throw new Error(`unexpected content-encoding ${encoding}`);
}

// A seeded generator, so a failing size can be reproduced.
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'model',
  'risk',
  'fairness',
  'assessment',
  'owner',
  '"id":',
  '{',
  '}',
  '0.93',
  'high',
];

function textBody(size: number, random: () => number): Buffer {
  let text = '';
  while (text.length < size) text += `${WORDS[Math.floor(random() * WORDS.length)]} `;
  return Buffer.from(text.slice(0, size));
}

function jsonBody(size: number): Buffer {
  return textBody(size, prng(size));
}

const BROWSER = 'gzip, deflate, br';

describe('thresholds', () => {
  it('sends 1023 and 1024 bytes as they are and compresses 1025', async () => {
    const url = await serve((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(jsonBody(Number(req.url?.slice(1))));
    });
    for (const size of [1023, 1024]) {
      const response = await rawRequest(`${url}/${size}`, {
        headers: { 'accept-encoding': BROWSER },
      });
      expect(response.headers['content-encoding'], String(size)).toBeUndefined();
      expect(response.headers['content-length']).toBe(String(size));
      expect(response.headers.vary).toBe('Accept-Encoding');
      expect(response.body.equals(jsonBody(size))).toBe(true);
    }
    const response = await rawRequest(`${url}/1025`, { headers: { 'accept-encoding': BROWSER } });
    expect(response.headers['content-encoding']).toBe('br');
    // One buffer, compressed at once: the length is exact rather than chunked.
    expect(response.headers['content-length']).toBe(String(response.body.length));
    expect(response.headers['transfer-encoding']).toBeUndefined();
    expect(response.body.length).toBeLessThan(1025);
    expect(decode('br', response.body).equals(jsonBody(1025))).toBe(true);
  });

  it('counts bytes written in pieces the same way', async () => {
    const url = await serve((req, res) => {
      const body = jsonBody(Number(req.url?.slice(1)));
      res.setHeader('content-type', 'application/json');
      res.write(body.subarray(0, 600));
      res.write(body.subarray(600));
      res.end();
    });
    const small = await rawRequest(`${url}/1024`, { headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.headers['content-length']).toBe('1024');
    expect(small.body.equals(jsonBody(1024))).toBe(true);

    const large = await rawRequest(`${url}/1025`, { headers: { 'accept-encoding': 'gzip' } });
    expect(large.headers['content-encoding']).toBe('gzip');
    expect(large.headers['content-length']).toBeUndefined();
    expect(large.headers['transfer-encoding']).toBe('chunked');
    expect(decode('gzip', large.body).equals(jsonBody(1025))).toBe(true);
  });

  it('takes the threshold from the options', async () => {
    const url = await serve(
      (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(jsonBody(200));
      },
      { threshold: 100 },
    );
    const response = await rawRequest(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers['content-encoding']).toBe('gzip');
  });
});

describe('negotiation on the wire', () => {
  async function encodingFor(acceptEncoding: string | undefined): Promise<string | undefined> {
    const url =
      server?.url ??
      (await serve((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(jsonBody(4096));
      }));
    const headers: Record<string, string> = {};
    if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;
    const response = await rawRequest(url, { headers });
    expect(decode(response.headers['content-encoding'], response.body).equals(jsonBody(4096))).toBe(
      true,
    );
    return response.headers['content-encoding'];
  }

  it('honours q=0', async () => {
    expect(await encodingFor('br;q=0, gzip')).toBe('gzip');
    expect(await encodingFor('br;q=0, gzip;q=0, deflate')).toBe('deflate');
    expect(await encodingFor('br;q=0, gzip;q=0, deflate;q=0')).toBeUndefined();
  });

  it('understands *', async () => {
    expect(await encodingFor('*')).toBe('br');
    expect(await encodingFor('br;q=0, *')).toBe('gzip');
  });

  it('chooses br when preferred, and what the client prefers otherwise', async () => {
    expect(await encodingFor('gzip;q=0.5, br')).toBe('br');
    expect(await encodingFor(BROWSER)).toBe('br');
    expect(await encodingFor('gzip, br;q=0.5')).toBe('gzip');
    expect(await encodingFor('identity')).toBeUndefined();
    expect(await encodingFor(undefined)).toBeUndefined();
  });
});

describe('what is left alone', () => {
  it('skips HEAD, 204, 304, no-transform, encoded bodies and images', async () => {
    const url = await serve((req, res) => {
      const body = jsonBody(5000);
      res.setHeader('content-type', 'application/json');
      switch (req.url) {
        case '/204':
          res.statusCode = 204;
          return void res.end();
        case '/304':
          res.statusCode = 304;
          return void res.end();
        case '/no-transform':
          res.setHeader('cache-control', 'no-transform');
          break;
        case '/encoded':
          res.setHeader('content-encoding', 'gzip');
          return void res.end(zlib.gzipSync(body));
        case '/image':
          res.setHeader('content-type', 'image/png');
          break;
      }
      res.end(body);
    });
    const accept = { 'accept-encoding': BROWSER };
    const head = await rawRequest(url, { method: 'HEAD', headers: accept });
    expect(head.headers['content-encoding']).toBeUndefined();
    expect(head.headers.vary).toBe('Accept-Encoding');
    for (const path of ['/204', '/304']) {
      const response = await rawRequest(`${url}${path}`, { headers: accept });
      expect(response.headers['content-encoding'], path).toBeUndefined();
      expect(response.body.length).toBe(0);
    }
    for (const path of ['/no-transform', '/image']) {
      const response = await rawRequest(`${url}${path}`, { headers: accept });
      expect(response.headers['content-encoding'], path).toBeUndefined();
      expect(response.headers.vary, path).toBeUndefined();
      expect(response.body.equals(jsonBody(5000))).toBe(true);
    }
    const encoded = await rawRequest(`${url}/encoded`, { headers: accept });
    expect(encoded.headers['content-encoding']).toBe('gzip');
    expect(decode('gzip', encoded.body).equals(jsonBody(5000))).toBe(true);
  });

  it('weakens a strong ETag and keeps the Vary already set', async () => {
    const url = await serve((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('etag', '"v1"');
      res.setHeader('vary', 'Cookie');
      res.end(jsonBody(3000));
    });
    const compressed = await rawRequest(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(compressed.headers.etag).toBe('W/"v1"');
    expect(compressed.headers.vary).toBe('Cookie, Accept-Encoding');
    const plain = await rawRequest(url, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.etag).toBe('"v1"');
    expect(plain.headers.vary).toBe('Cookie, Accept-Encoding');
  });
});

describe('response APIs', () => {
  it('holds writeHead until the body is known and keeps its status and headers', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(201, 'Made', { 'content-type': 'application/json', 'x-kind': 'model' });
      expect(res.headersSent).toBe(false);
      res.end(jsonBody(4000));
    });
    const response = await rawRequest(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.status).toBe(201);
    expect(response.headers['x-kind']).toBe('model');
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(decode('gzip', response.body).equals(jsonBody(4000))).toBe(true);
  });

  it('accepts the raw header list form of writeHead', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
      res.end('tiny');
    });
    const response = await rawRequest(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(response.body.toString()).toBe('tiny');
  });

  it('streams after flushHeaders() and pushes data out on res.flush()', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const url = await serve(async (_req, res) => {
      res.setHeader('content-type', 'application/x-ndjson');
      res.flushHeaders();
      res.write('{"n":1}\n');
      (res as FlushableResponse).flush();
      await released;
      res.end('{"n":2}\n');
    });
    const chunks: string[] = [];
    const response = await new Promise<IncomingMessage>((resolve) =>
      httpGet(url, { headers: { 'accept-encoding': 'gzip' } }, resolve),
    );
    expect(response.headers['content-encoding']).toBe('gzip');
    const gunzip = zlib.createGunzip();
    response.pipe(gunzip);
    gunzip.on('data', (chunk: Buffer) => {
      chunks.push(chunk.toString());
      if (chunks.join('').includes('{"n":1}')) release();
    });
    await once(gunzip, 'end');
    expect(chunks.join('')).toBe('{"n":1}\n{"n":2}\n');
  });

  it("with flushHeaders: 'hold', still sends a small body as it is after flushHeaders()", async () => {
    const url = await serve(
      (req, res) => {
        res.setHeader('content-type', req.url === '/events' ? 'text/event-stream' : 'text/plain');
        res.flushHeaders();
        // Headers that need no size left at once: the event stream's are on the wire now.
        res.write(String(res.headersSent));
        res.end('x'.repeat(1000));
      },
      { flushHeaders: 'hold' },
    );
    const small = await rawRequest(`${url}/small`, { headers: { 'accept-encoding': BROWSER } });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.headers['content-length']).toBe('1005');
    expect(small.body.toString()).toBe(`false${'x'.repeat(1000)}`);
    const events = await rawRequest(`${url}/events`, { headers: { 'accept-encoding': 'gzip' } });
    expect(events.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(events.body).toString()).toBe(`true${'x'.repeat(1000)}`);
    expect(() => createNodeCompression({ flushHeaders: 'now' as unknown as 'send' })).toThrow(
      /flushHeaders must be one of 'send', 'hold'/,
    );
  });

  it('holds nothing back from a body that will not be compressed', async () => {
    const gates: Array<() => void> = [];
    const url = await serve(async (req, res) => {
      const opened = new Promise<void>((resolve) => gates.push(resolve));
      res.setHeader('content-type', req.url === '/image' ? 'image/png' : 'application/json');
      res.write('first');
      await opened;
      res.end('last');
    });
    for (const [path, acceptEncoding] of [
      ['/image', 'gzip'],
      ['/json', 'identity'],
    ] as const) {
      const response = await new Promise<IncomingMessage>((resolve) =>
        httpGet(`${url}${path}`, { headers: { 'accept-encoding': acceptEncoding } }, resolve),
      );
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        // Only the first piece can have arrived: the server waits for this before ending.
        if (text === 'first') gates.shift()?.();
      });
      await once(response, 'end');
      expect(text, path).toBe('firstlast');
      expect(response.headers['content-encoding']).toBeUndefined();
    }
  });

  it('calls write callbacks, also for data held back while deciding', async () => {
    const called: string[] = [];
    const url = await serve(async (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      await new Promise<void>((resolve) => res.write('held ', () => resolve()));
      called.push('first');
      await new Promise<void>((resolve) => res.write(jsonBody(2000), 'utf8', () => resolve()));
      called.push('second');
      res.end(() => called.push('end'));
    });
    const response = await rawRequest(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(decode('gzip', response.body).toString()).toBe(`held ${jsonBody(2000).toString()}`);
    await sleep(10);
    expect(called).toEqual(['first', 'second', 'end']);
  });

  it('compresses a single body above the sync threshold off the event loop, length still exact', async () => {
    const size = 300_000;
    const url = await serve((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('content-length', size);
      res.end(jsonBody(size));
    });
    const response = await rawRequest(url, { headers: { 'accept-encoding': 'br' } });
    expect(response.headers['content-encoding']).toBe('br');
    expect(response.headers['content-length']).toBe(String(response.body.length));
    expect(decode('br', response.body).equals(jsonBody(size))).toBe(true);
  });
});

describe('server-sent events', () => {
  it('delivers the first event before the stream ends', async () => {
    // One gate per request: the stream ends only after the client has decoded its first event.
    const gates: Array<() => void> = [];
    const url = await serve(async (_req, res) => {
      const opened = new Promise<void>((resolve) => gates.push(resolve));
      res.setHeader('content-type', 'text/event-stream');
      res.setHeader('cache-control', 'no-cache');
      res.write('event: ready\ndata: first\n\n');
      await opened;
      res.end('data: last\n\n');
    });
    for (const encoding of ['br', 'gzip', 'deflate'] as const) {
      const response = await new Promise<IncomingMessage>((resolve) =>
        httpGet(url, { headers: { 'accept-encoding': encoding } }, resolve),
      );
      expect(response.headers['content-encoding']).toBe(encoding);
      expect(response.headers['content-length']).toBeUndefined();
      const decoder =
        encoding === 'br'
          ? zlib.createBrotliDecompress()
          : encoding === 'gzip'
            ? zlib.createGunzip()
            : zlib.createInflate();
      response.pipe(decoder);
      let text = '';
      let firstBeforeEnd = false;
      decoder.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (!firstBeforeEnd && text.includes('data: first\n\n')) {
          firstBeforeEnd = !text.includes('data: last');
          gates.shift()?.();
        }
      });
      await once(decoder, 'end');
      expect(firstBeforeEnd).toBe(true);
      expect(text).toBe('event: ready\ndata: first\n\ndata: last\n\n');
    }
  });
});

describe('random bodies', () => {
  it('decompress to exactly the input, from 0 to 1 MiB, in one piece or many', async () => {
    const bodies = new Map<string, Buffer>();
    const url = await serve(async (req, res) => {
      const [, id = '', mode] = (req.url ?? '').split('/');
      const body = bodies.get(id) as Buffer;
      res.setHeader('content-type', 'text/plain');
      if (mode === 'one') {
        res.end(body);
        return;
      }
      // Pieces of random sizes, respecting backpressure as a well-behaved app does.
      const random = prng(body.length + 7);
      let offset = 0;
      while (offset < body.length) {
        const size = 1 + Math.floor(random() * 65_536);
        if (!res.write(body.subarray(offset, offset + size))) await once(res, 'drain');
        offset += size;
      }
      res.end();
    });
    const random = prng(42);
    const sizes = [0, 1, 1023, 1024, 1025, 4096, 65_535, 65_536, 65_537, 262_144, 1_048_576];
    for (let extra = 0; extra < 4; extra++) sizes.push(Math.floor(random() * 1_048_576));
    let id = 0;
    for (const size of sizes) {
      // Half compressible text, half incompressible noise: both must survive the round trip.
      const body = id % 2 === 0 ? textBody(size, random) : randomBytes(size);
      const key = String(id++);
      bodies.set(key, body);
      for (const encoding of ['br', 'gzip', 'deflate']) {
        for (const mode of ['one', 'pieces']) {
          const response = await rawRequest(`${url}/${key}/${mode}`, {
            headers: { 'accept-encoding': encoding },
          });
          const label = `${size} bytes, ${encoding}, ${mode}`;
          expect(response.headers['content-encoding'], label).toBe(
            size > 1024 ? encoding : undefined,
          );
          expect(
            decode(response.headers['content-encoding'], response.body).equals(body),
            label,
          ).toBe(true);
        }
      }
    }
  });
});

describe('backpressure', () => {
  it('stops the application while the client does not read, and loses nothing', async () => {
    const slice = Buffer.from(randomBytes(768 * 1024).toString('base64'));
    const total = 48;
    let written = 0;
    let sawFalse = false;
    const url = await serve(
      async (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        for (let index = 0; index < total; index++) {
          if (!res.write(slice)) {
            sawFalse = true;
            await once(res, 'drain');
          }
          written++;
        }
        res.end();
      },
      { gzipLevel: 1 },
    );
    const response = await new Promise<IncomingMessage>((resolve) =>
      httpGet(url, { headers: { 'accept-encoding': 'gzip' } }, resolve),
    );
    response.pause();
    // Wait until the writer has stopped making progress (bounded: at most 10 s).
    let stable = 0;
    let last = -1;
    for (let poll = 0; poll < 500 && stable < 10; poll++) {
      await sleep(20);
      stable = written === last ? stable + 1 : 0;
      last = written;
    }
    expect(sawFalse).toBe(true);
    // Tens of megabytes would otherwise sit in memory; the writer stopped long before.
    expect(written).toBeLessThan(total);
    const gunzip = zlib.createGunzip();
    let received = 0;
    let mismatch = false;
    gunzip.on('data', (chunk: Buffer) => {
      for (let index = 0; index < chunk.length; index++) {
        if (chunk[index] !== slice[(received + index) % slice.length]) mismatch = true;
      }
      received += chunk.length;
    });
    response.pipe(gunzip);
    response.resume();
    await once(gunzip, 'end');
    expect(mismatch).toBe(false);
    expect(received).toBe(slice.length * total);
  });
});

describe('options', () => {
  it('refuses bad settings by name', () => {
    expect(() => createNodeCompression({ brotliQuality: 12 })).toThrow(
      /brotliQuality must be a whole number from 0 to 11/,
    );
    expect(() => createNodeCompression({ gzipLevel: 0 })).toThrow(/gzipLevel/);
    expect(() => createNodeCompression({ syncThreshold: -1 })).toThrow(/syncThreshold/);
    expect(() => createNodeCompression({ flushOnWrite: true as unknown as () => boolean })).toThrow(
      /flushOnWrite must be a function/,
    );
    expect(() => createNodeCompression({ threshold: Number.NaN })).toThrow(/threshold/);
  });

  it('is an Express-style middleware when given next', async () => {
    const compress = createNodeCompression();
    server = await serveNode([], (req, res) => {
      compress(req, res, () => {
        res.setHeader('content-type', 'application/json');
        res.end(jsonBody(2048));
      });
    });
    const response = await rawRequest(server.url, { headers: { 'accept-encoding': 'deflate' } });
    expect(response.headers['content-encoding']).toBe('deflate');
    expect(decode('deflate', response.body).equals(jsonBody(2048))).toBe(true);
  });
});
