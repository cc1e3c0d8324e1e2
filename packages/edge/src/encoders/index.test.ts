import { once } from 'node:events';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { ContentCoding } from '../compression/index.js';
import { createNodeEncoders } from './index.js';

const body = Buffer.from(
  JSON.stringify({ items: Array.from({ length: 200 }, (_, id) => ({ id, risk: 'high' })) }),
);
const decode: Record<ContentCoding, (input: Buffer) => Buffer> = {
  br: (input) => zlib.brotliDecompressSync(input),
  gzip: (input) => zlib.gunzipSync(input),
  deflate: (input) => zlib.inflateSync(input),
};

const sync = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
const decodePartial: Record<ContentCoding, (input: Buffer) => Buffer> = {
  br: (input) =>
    zlib.brotliDecompressSync(input, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }),
  gzip: (input) => zlib.gunzipSync(input, sync),
  deflate: (input) => zlib.inflateSync(input, sync),
};

describe.each<ContentCoding>(['br', 'gzip', 'deflate'])('%s', (encoding) => {
  const encoders = createNodeEncoders();

  it('round-trips one body on the event loop and in the thread pool', async () => {
    const now = encoders.compressSync(encoding, body);
    expect(now.length).toBeLessThan(body.length / 5);
    expect(decode[encoding](now).equals(body)).toBe(true);
    const later = await new Promise<Buffer>((resolve, reject) =>
      encoders.compress(encoding, body, (error, result) =>
        error ? reject(error) : resolve(result),
      ),
    );
    expect(decode[encoding](later).equals(body)).toBe(true);
  });

  it('streams, and a flush makes what was written decodable before the end', async () => {
    const stream = encoders.createStream(encoding);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.write(body.subarray(0, 100));
    await new Promise<void>((resolve) => encoders.flush(stream, encoding, resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // What came out so far decodes to what went in, though the stream has not ended.
    const partial = decodePartial[encoding](Buffer.concat(chunks));
    expect(partial.equals(body.subarray(0, 100))).toBe(true);
    stream.end(body.subarray(100));
    await once(stream, 'end');
    expect(decode[encoding](Buffer.concat(chunks)).equals(body)).toBe(true);
  });
});

describe('options', () => {
  it('applies the levels and refuses bad ones by name', () => {
    const fast = createNodeEncoders({ gzipLevel: 1 }).compressSync('gzip', body);
    const small = createNodeEncoders({ gzipLevel: 9 }).compressSync('gzip', body);
    expect(fast.equals(small)).toBe(false);
    expect(zlib.gunzipSync(fast).equals(zlib.gunzipSync(small))).toBe(true);
    expect(() => createNodeEncoders({ brotliQuality: 12 })).toThrow(
      /brotliQuality must be a whole number from 0 to 11/,
    );
    expect(() => createNodeEncoders({ deflateLevel: 10 })).toThrow(
      /createNodeEncoders: deflateLevel/,
    );
    expect(() => createNodeEncoders({ chunkSize: 1 })).toThrow(/chunkSize/);
  });
});
