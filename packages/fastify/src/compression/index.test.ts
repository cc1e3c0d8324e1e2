import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fairmind } from '../adapter/index.js';
import { createCompressionHook, type FastifyCompressionOptions } from './index.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const big = JSON.stringify({
  items: Array.from({ length: 100 }, (_, index) => ({ index, text: 'lorem ipsum dolor sit amet' })),
});

// Compression is off unless asked for: these tests ask for the defaults unless they say otherwise.
async function server(
  compression: FastifyCompressionOptions | false = {},
): Promise<FastifyInstance> {
  app = Fastify();
  await app.register(fairmind, { compression });
  app.get('/big', async (_request, reply) => reply.type('application/json').send(big));
  app.get('/small', async () => ({ ok: true }));
  app.get('/tagged', async (_request, reply) =>
    reply.type('application/json').header('etag', '"v1"').send(big),
  );
  app.get('/no-transform', async (_request, reply) =>
    reply.type('application/json').header('cache-control', 'no-transform').send(big),
  );
  app.get('/png', async (_request, reply) => reply.type('image/png').send(Buffer.alloc(4096)));
  app.get('/stream', async (_request, reply) =>
    reply.type('text/plain').send(Readable.from(['a'.repeat(2000), 'b'.repeat(2000)])),
  );
  app.get('/web-stream', async (_request, reply) =>
    reply.type('text/plain').send(new Blob(['c'.repeat(5000)]).stream()),
  );
  app.get('/empty', async (_request, reply) => reply.code(204).send());
  return app;
}

describe('compression in onSend', () => {
  it('compresses a large body with the negotiated coding and an exact Content-Length', async () => {
    const instance = await server();
    for (const [coding, decode] of [
      ['br', brotliDecompressSync],
      ['gzip', gunzipSync],
      ['deflate', inflateSync],
    ] as const) {
      const response = await instance.inject({
        url: '/big',
        headers: { 'accept-encoding': coding },
      });
      expect(response.headers['content-encoding']).toBe(coding);
      expect(response.headers['vary']).toBe('Accept-Encoding');
      expect(Number(response.headers['content-length'])).toBe(response.rawPayload.length);
      expect(response.rawPayload.length).toBeLessThan(big.length);
      expect(decode(response.rawPayload).toString()).toBe(big);
    }
  });

  it('prefers br by q-value and then the server order', async () => {
    const instance = await server();
    const first = await instance.inject({
      url: '/big',
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    });
    expect(first.headers['content-encoding']).toBe('br');
    const weighted = await instance.inject({
      url: '/big',
      headers: { 'accept-encoding': 'br;q=0.5, gzip' },
    });
    expect(weighted.headers['content-encoding']).toBe('gzip');
  });

  it('sends small, excluded and already decided bodies as they are', async () => {
    const instance = await server();
    const headers = { 'accept-encoding': 'gzip, br' };
    const small = await instance.inject({ url: '/small', headers });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.headers['vary']).toBe('Accept-Encoding');
    expect(small.json()).toEqual({ ok: true });
    const noTransform = await instance.inject({ url: '/no-transform', headers });
    expect(noTransform.headers['content-encoding']).toBeUndefined();
    expect(noTransform.body).toBe(big);
    const png = await instance.inject({ url: '/png', headers });
    expect(png.headers['content-encoding']).toBeUndefined();
    expect(png.headers['vary']).toBeUndefined();
    const empty = await instance.inject({ url: '/empty', headers });
    expect(empty.statusCode).toBe(204);
    expect(empty.headers['content-encoding']).toBeUndefined();
    const refused = await instance.inject({
      url: '/big',
      headers: { 'accept-encoding': 'identity' },
    });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.headers['vary']).toBe('Accept-Encoding');
  });

  it('weakens a strong ETag on a compressed body', async () => {
    const instance = await server();
    const compressed = await instance.inject({
      url: '/tagged',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(compressed.headers['etag']).toBe('W/"v1"');
    const plain = await instance.inject({ url: '/tagged' });
    expect(plain.headers['etag']).toBe('"v1"');
  });

  it('streams Node and Web stream payloads through the encoder without a Content-Length', async () => {
    const instance = await server();
    const node = await instance.inject({ url: '/stream', headers: { 'accept-encoding': 'gzip' } });
    expect(node.headers['content-encoding']).toBe('gzip');
    expect(node.headers['content-length']).toBeUndefined();
    expect(gunzipSync(node.rawPayload).toString()).toBe('a'.repeat(2000) + 'b'.repeat(2000));
    const web = await instance.inject({ url: '/web-stream', headers: { 'accept-encoding': 'br' } });
    expect(web.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(web.rawPayload).toString()).toBe('c'.repeat(5000));
  });

  it('compresses bodies over syncThreshold in the thread pool, still with an exact length', async () => {
    const instance = await server({ syncThreshold: 0, threshold: 100 });
    const response = await instance.inject({ url: '/big', headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(Number(response.headers['content-length'])).toBe(response.rawPayload.length);
    expect(gunzipSync(response.rawPayload).toString()).toBe(big);
  });

  it('is off with compression: false', async () => {
    const instance = await server(false);
    const response = await instance.inject({ url: '/big', headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(response.headers['vary']).toBeUndefined();
  });

  it('validates its options at creation', () => {
    expect(() => createCompressionHook({ brotliQuality: 12 })).toThrow(/brotliQuality/);
    expect(() => createCompressionHook({ threshold: -1 })).toThrow(/threshold/);
    expect(() =>
      createCompressionHook({ flushOnWrite: 'text/event-stream' as unknown as () => boolean }),
    ).toThrow(/flushOnWrite/);
    expect(() => createCompressionHook(null as unknown as FastifyCompressionOptions)).toThrow(
      /options object/,
    );
  });
});
