import { gunzipSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type CompressionEncoder, createResponseCompression, webEncoder } from './index.js';

const big = JSON.stringify({
  items: Array.from({ length: 100 }, (_, index) => ({ index, text: 'lorem ipsum dolor sit amet' })),
});
const json = { 'content-type': 'application/json' };

function request(acceptEncoding: string | null, method = 'GET'): Request {
  return new Request('http://example.com/', {
    method,
    headers: acceptEncoding === null ? {} : { 'accept-encoding': acceptEncoding },
  });
}

// A body that arrives in pieces, so its length is not known up front.
function streamed(...pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
}

async function bytes(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

describe('createResponseCompression', () => {
  const compress = createResponseCompression();

  it('compresses a body of known length whole, with an exact Content-Length', async () => {
    const original = new Response(big, {
      headers: { ...json, 'content-length': String(big.length), etag: '"v1"' },
    });
    const response = await compress(request('gzip, deflate, br'), original);
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('vary')).toBe('Accept-Encoding');
    expect(response.headers.get('etag')).toBe('W/"v1"');
    const body = await bytes(response);
    expect(Number(response.headers.get('content-length'))).toBe(body.length);
    expect(gunzipSync(body).toString()).toBe(big);
  });

  it('makes deflate when the client prefers it', async () => {
    const response = await compress(
      request('deflate, gzip;q=0.5'),
      new Response(big, { headers: { ...json, 'content-length': String(big.length) } }),
    );
    expect(response.headers.get('content-encoding')).toBe('deflate');
    expect(inflateSync(await bytes(response)).toString()).toBe(big);
  });

  it('streams a body of unknown length over the threshold through the encoder', async () => {
    const half = big.slice(0, 800);
    const response = await compress(
      request('gzip'),
      new Response(streamed(half, big.slice(800)), { headers: json }),
    );
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('content-length')).toBeNull();
    expect(gunzipSync(await bytes(response)).toString()).toBe(big);
  });

  it('streams a body of known length over bufferLimit', async () => {
    const small = createResponseCompression({ bufferLimit: 1500 });
    const response = await small(
      request('gzip'),
      new Response(big, { headers: { ...json, 'content-length': String(big.length) } }),
    );
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('content-length')).toBeNull();
    expect(gunzipSync(await bytes(response)).toString()).toBe(big);
  });

  it('sends a small body of unknown length as it is, with its length', async () => {
    const response = await compress(
      request('gzip'),
      new Response(streamed('{"ok":', 'true}'), { headers: json }),
    );
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.get('vary')).toBe('Accept-Encoding');
    expect(response.headers.get('content-length')).toBe('11');
    expect(await response.text()).toBe('{"ok":true}');
  });

  it('leaves excluded responses alone, and says Vary only when the body depends on it', async () => {
    const cases: Array<[Request, Response, string | null]> = [
      [request('gzip'), new Response(big, { headers: { 'content-type': 'image/png' } }), null],
      [
        request('gzip'),
        new Response(big, { headers: { ...json, 'cache-control': 'no-transform' } }),
        null,
      ],
      [
        request('gzip'),
        new Response(big, { headers: { ...json, 'content-encoding': 'gzip' } }),
        null,
      ],
      [
        request('gzip'),
        new Response(big, { headers: { 'content-type': 'text/event-stream' } }),
        null,
      ],
      [request('gzip'), new Response(null, { status: 204, headers: json }), 'Accept-Encoding'],
      [request('gzip', 'HEAD'), new Response(big, { headers: json }), 'Accept-Encoding'],
      [request('identity'), new Response(big, { headers: json }), 'Accept-Encoding'],
      [request(null), new Response(big, { headers: json }), 'Accept-Encoding'],
      // CompressionStream makes no br: a client that takes only br gets the body as it is.
      [request('br'), new Response(big, { headers: json }), 'Accept-Encoding'],
    ];
    for (const [req, res, vary] of cases) {
      const before = res.headers.get('content-encoding');
      const response = await compress(req, res);
      expect(response.headers.get('content-encoding')).toBe(before);
      expect(response.headers.get('vary')).toBe(vary);
    }
  });

  it('keeps status, status text and other headers, and merges Vary', async () => {
    const response = await compress(
      request('gzip'),
      new Response(big, {
        status: 201,
        statusText: 'Created',
        headers: { ...json, vary: 'Origin', 'x-request-id': 'abc' },
      }),
    );
    expect(response.status).toBe(201);
    expect(response.statusText).toBe('Created');
    expect(response.headers.get('vary')).toBe('Origin, Accept-Encoding');
    expect(response.headers.get('x-request-id')).toBe('abc');
  });

  it('refuses options it cannot honour, at creation', () => {
    expect(() => createResponseCompression({ encodings: ['br'] })).toThrow(/nodeEncoder/);
    expect(() => createResponseCompression({ encoder: {} as CompressionEncoder })).toThrow(
      /encoder/,
    );
    expect(() => createResponseCompression({ bufferLimit: 1.5 })).toThrow(/bufferLimit/);
    expect(() => createResponseCompression({ threshold: -1 })).toThrow(/threshold/);
    expect(() =>
      createResponseCompression({ flushOnWrite: 'text/event-stream' as unknown as () => boolean }),
    ).toThrow(/flushOnWrite/);
  });

  it('sends the types of flushOnWrite uncompressed, since the Web rewrite cannot flush', async () => {
    const ndjson = createResponseCompression({
      flushOnWrite: (type) => type === 'application/x-ndjson',
    });
    const response = await ndjson(
      request('gzip'),
      new Response(big, { headers: { 'content-type': 'application/x-ndjson' } }),
    );
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(await response.text()).toBe(big);
  });
});

describe('webEncoder', () => {
  it('makes gzip and deflate, whole and streamed', async () => {
    const encoder = webEncoder();
    const input = new TextEncoder().encode(big);
    expect(gunzipSync(await encoder.whole(input, 'gzip')).toString()).toBe(big);
    expect(inflateSync(await encoder.whole(input, 'deflate')).toString()).toBe(big);
    const stream = encoder.stream(streamed(big.slice(0, 10), big.slice(10)), 'gzip');
    expect(gunzipSync(await bytes(new Response(stream))).toString()).toBe(big);
  });
});
