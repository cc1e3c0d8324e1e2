import { randomBytes } from 'node:crypto';
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

  it('takes a string as UTF-8, on the event loop and in the thread pool', async () => {
    const text = `${body.toString()} é ✓`;
    const utf8 = Buffer.from(text);
    expect(decode[encoding](encoders.compressSync(encoding, text)).equals(utf8)).toBe(true);
    const later = await new Promise<Buffer>((resolve, reject) =>
      encoders.compress(encoding, text, (error, result) =>
        error ? reject(error) : resolve(result),
      ),
    );
    expect(decode[encoding](later).equals(utf8)).toBe(true);
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

/** WBITS from the first bits of a brotli stream (RFC 7932 section 9.1, read LSB first). */
function brotliWindowBits(stream: Buffer): number {
  const bits = (stream[0] as number) | ((stream[1] as number) << 8);
  if ((bits & 1) === 0) return 16;
  const n = (bits >> 1) & 7;
  if (n !== 0) return 17 + n;
  const m = (bits >> 4) & 7;
  return m === 0 ? 17 : 8 + m;
}

/** windowBits from a zlib (deflate coding) header: CINFO is the high nibble of CMF. */
function zlibWindowBits(stream: Buffer): number {
  return ((stream[0] as number) >> 4) + 8;
}

function compressed(encoding: ContentCoding, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    createNodeEncoders().compress(encoding, input, (error, result) =>
      error ? reject(error) : resolve(result),
    ),
  );
}

describe('window sizing for one body', () => {
  const encoders = createNodeEncoders();
  const text = (size: number) =>
    Buffer.from('{"risk":"high","id":12345}'.repeat(size).slice(0, size));

  it('gives brotli and deflate a window no larger than the body needs', async () => {
    const small = text(2000);
    expect(brotliWindowBits(encoders.compressSync('br', small))).toBe(11);
    expect(brotliWindowBits(await compressed('br', small))).toBe(11);
    expect(zlibWindowBits(encoders.compressSync('deflate', small))).toBe(12);
    expect(brotliWindowBits(encoders.compressSync('br', text(100_000)))).toBe(17);
    expect(zlibWindowBits(encoders.compressSync('deflate', text(100_000)))).toBe(15);
    // A stream's size is unknown: it keeps the defaults.
    const stream = encoders.createStream('br');
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.end(small);
    await once(stream, 'end');
    expect(brotliWindowBits(Buffer.concat(chunks))).toBe(22);
  });

  it.each<ContentCoding>(['br', 'gzip', 'deflate'])(
    'round-trips %s bodies at the edges of each window size',
    async (encoding) => {
      // Sizes where the window steps up: brotli's (2^n - 16) and zlib's (2^n - 262).
      const sizes = [0, 1, 250, 251, 762, 763, 1008, 1009, 1786, 1787, 2032, 2033, 3834, 3835];
      sizes.push(32_506, 32_507, 65_520, 65_521, 131_056, 131_057, 300_000);
      for (const size of sizes) {
        const input = text(size);
        const now = encoders.compressSync(encoding, input);
        expect(decode[encoding](now).equals(input), `${size} bytes, sync`).toBe(true);
        const later = await compressed(encoding, input);
        expect(decode[encoding](later).equals(input), `${size} bytes, thread pool`).toBe(true);
      }
    },
  );

  it.each<ContentCoding>(['br', 'gzip', 'deflate'])(
    'sizes the %s output buffer to the body, and spills over when the output outgrows it',
    async (encoding) => {
      // The result is a slice of zlib's output chunk: a small body must not hold 16 KiB.
      const small = encoders.compressSync(encoding, text(2000));
      expect(small.buffer.byteLength).toBeLessThan(16 * 1024);
      // Random bytes do not shrink, so their output needs more than one sized chunk.
      for (const size of [1100, 2033, 5000, 40_000]) {
        const input = randomBytes(size);
        const now = encoders.compressSync(encoding, input);
        expect(now.length, `${size} random bytes`).toBeGreaterThan(size);
        expect(decode[encoding](now).equals(input), `${size} random bytes, sync`).toBe(true);
        const later = await compressed(encoding, input);
        expect(decode[encoding](later).equals(input), `${size} random, thread pool`).toBe(true);
      }
    },
  );
});

describe('reuse of the bytes of a body sent again', () => {
  const text = body.toString();

  it.each<ContentCoding>(['br', 'gzip', 'deflate'])(
    'compresses an equal body once, however it was built (%s)',
    (encoding) => {
      const encoders = createNodeEncoders();
      const first = encoders.compressSync(encoding, Buffer.from(text));
      // Another Buffer with the same bytes: the same result, not a second compression.
      expect(encoders.compressSync(encoding, Buffer.from(text))).toBe(first);
      expect(decode[encoding](first).equals(body)).toBe(true);
      // One byte apart: its own bytes.
      const other = Buffer.from(text.replace('"high"', '"HIGH"'));
      const second = encoders.compressSync(encoding, other);
      expect(second).not.toBe(first);
      expect(decode[encoding](second).equals(other)).toBe(true);
    },
  );

  it('finds a string body sent again, and never gives a string the bytes of a Buffer', () => {
    const encoders = createNodeEncoders();
    const first = encoders.compressSync('gzip', text);
    // A new string with the same text, as a framework serializes it on every request.
    expect(encoders.compressSync('gzip', `${text} `.trimEnd())).toBe(first);
    expect(zlib.gunzipSync(first).toString()).toBe(text);
    // 'é' as a string is two UTF-8 bytes; the one byte 0xe9 reads as 'é' in latin1.
    const word = encoders.compressSync('gzip', 'é');
    const byte = encoders.compressSync('gzip', Buffer.from([0xe9]));
    expect(zlib.gunzipSync(word).equals(Buffer.from('é'))).toBe(true);
    expect(zlib.gunzipSync(byte).equals(Buffer.from([0xe9]))).toBe(true);
  });

  it('tells apart bodies that differ only between the bytes it samples', () => {
    const encoders = createNodeEncoders();
    // 6,400 bytes: the fingerprint reads every 100th; these differ at index 1 alone.
    const bodies = ['a', 'b', 'c', 'd', 'e'].map((tag) => `x${tag}${'y'.repeat(6398)}`);
    const first = bodies.map((one) => encoders.compressSync('gzip', one));
    first.forEach((bytes, index) => {
      expect(zlib.gunzipSync(bytes).toString()).toBe(bodies[index]);
    });
    // Four bodies that share a fingerprint are kept; the fifth pushed out the first.
    expect(encoders.compressSync('gzip', bodies[4] as string)).toBe(first[4]);
    expect(encoders.compressSync('gzip', bodies[1] as string)).toBe(first[1]);
    expect(encoders.compressSync('gzip', bodies[0] as string)).not.toBe(first[0]);
  });

  it('keeps its own copy of a Buffer body, so a later write to it cannot mislead it', () => {
    const encoders = createNodeEncoders();
    const reused = Buffer.from(text);
    const before = encoders.compressSync('gzip', reused);
    reused.write('X', 10);
    const after = encoders.compressSync('gzip', reused);
    expect(after).not.toBe(before);
    expect(zlib.gunzipSync(after).equals(reused)).toBe(true);
  });

  it('keeps each coding apart', () => {
    const encoders = createNodeEncoders();
    const gzip = encoders.compressSync('gzip', body);
    const deflate = encoders.compressSync('deflate', body);
    expect(zlib.gunzipSync(gzip).equals(body)).toBe(true);
    expect(zlib.inflateSync(deflate).equals(body)).toBe(true);
  });

  it('forgets the least recent body past maxEntries, and keeps none with reuse: false', () => {
    const encoders = createNodeEncoders({ reuse: { maxEntries: 2 } });
    const bodies = ['a', 'b', 'c'].map((tag) => Buffer.from(`${tag}${text}`));
    const [a, b, c] = bodies.map((one) => encoders.compressSync('gzip', one));
    expect(encoders.compressSync('gzip', bodies[2] as Buffer)).toBe(c);
    expect(encoders.compressSync('gzip', bodies[1] as Buffer)).toBe(b);
    expect(encoders.compressSync('gzip', bodies[0] as Buffer)).not.toBe(a);
    const off = createNodeEncoders({ reuse: false });
    expect(off.compressSync('gzip', body)).not.toBe(off.compressSync('gzip', body));
  });

  it('does not keep a body larger than a quarter of maxBytes', () => {
    const encoders = createNodeEncoders({ reuse: { maxBytes: 4096 } });
    const large = randomBytes(1500).toString('hex'); // 3,000 bytes, over 1,024
    const once = encoders.compressSync('gzip', Buffer.from(large));
    expect(encoders.compressSync('gzip', Buffer.from(large))).not.toBe(once);
    const small = Buffer.from('x'.repeat(500));
    expect(encoders.compressSync('gzip', small)).toBe(encoders.compressSync('gzip', small));
  });

  it('refuses a bad reuse option by name', () => {
    expect(() => createNodeEncoders({ reuse: { maxEntries: 0 } })).toThrow(/reuse\.maxEntries/);
    expect(() => createNodeEncoders({ reuse: 'yes' as unknown as false })).toThrow(
      /reuse must be false or \{ maxEntries, maxBytes \}/,
    );
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
