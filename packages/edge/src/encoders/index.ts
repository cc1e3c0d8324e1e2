import zlib from 'node:zlib';
import { LRUCache } from 'lru-cache';
import type { ContentCoding } from '../compression/index.js';
import { integerOption, optionError, optionsObject } from '../options/index.js';
import { brotliSizer, zlibSizer } from './sizing.js';

/**
 * The encoders behind every Node compression backend: one body at once (on the event loop
 * or in the thread pool) or a stream, with the levels resolved once. `createNodeCompression`
 * uses them for `node:http` and Express; an adapter with another response model (Fastify's
 * `onSend`) can use the same ones rather than configure zlib again.
 */

/** Encoder settings. */
export interface NodeEncoderOptions {
  /**
   * Brotli quality, 0-11. 4 compresses JSON better than gzip level 6 at about the same
   * speed; 11 is for assets compressed once at build time, not for dynamic responses.
   * @default 4
   */
  brotliQuality?: number | undefined;
  /**
   * gzip level, 1-9.
   * @default 6
   */
  gzipLevel?: number | undefined;
  /**
   * deflate level, 1-9.
   * @default 6
   */
  deflateLevel?: number | undefined;
  /**
   * zlib's output chunk size in bytes for streams. A single body of known size gets a chunk
   * sized to it instead, up to this.
   * @default 16384
   */
  chunkSize?: number | undefined;
  /**
   * The compressed bytes of recent bodies, reused when the same body is sent again: a cached
   * list answered to every client is compressed once, not on every request. The key is the
   * whole body, so only the bytes of exactly this body can come back. Bodies compressed on
   * the event loop (those within `syncThreshold`) are kept; `false` turns it off.
   * @default { maxEntries: 256, maxBytes: 8_388_608 }
   */
  reuse?: { maxEntries?: number | undefined; maxBytes?: number | undefined } | false | undefined;
}

/** A streaming encoder of any of the three codings. */
export type NodeEncoderStream = zlib.BrotliCompress | zlib.Gzip | zlib.Deflate;

/** See {@link createNodeEncoders}. */
export interface NodeEncoders {
  /** Compresses one body now, on the event loop: for small bodies, where that is fastest. */
  compressSync(encoding: ContentCoding, body: Buffer): Buffer;
  /** Compresses one body in the thread pool, leaving the event loop free. */
  compress(
    encoding: ContentCoding,
    body: Buffer,
    done: (error: Error | null, result: Buffer) => void,
  ): void;
  /**
   * A streaming encoder, for bodies written in pieces. With `flushEachWrite` every write is
   * pushed out at once (zlib's `flush` option: `Z_SYNC_FLUSH`, or brotli's flush operation),
   * so the client can decode each piece as it arrives: server-sent events, for one. The
   * compression ratio suffers, so it is for streams whose pieces must not wait.
   */
  createStream(
    encoding: ContentCoding,
    options?: { readonly flushEachWrite?: boolean | undefined },
  ): NodeEncoderStream;
  /**
   * Pushes out everything a streaming encoder holds, so the client can decode it now
   * (`Z_SYNC_FLUSH`, or brotli's flush operation): per server-sent event, or on `res.flush()`.
   */
  flush(stream: NodeEncoderStream, encoding: ContentCoding, callback?: () => void): void;
}

/**
 * Resolves encoder settings once and returns the functions that apply them.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { createNodeEncoders } from '@fairmind/edge/node';
 * const encoders = createNodeEncoders({ brotliQuality: 5 });
 * const body = encoders.compressSync('br', Buffer.from(JSON.stringify(payload)));
 * ```
 */
export function createNodeEncoders(
  options?: NodeEncoderOptions,
  factory = 'createNodeEncoders',
): NodeEncoders {
  const opts = optionsObject(factory, options);
  const chunkSize = integerOption(factory, {
    name: 'chunkSize',
    value: opts.chunkSize,
    fallback: 16 * 1024,
    min: 64,
  });
  const brotliQuality = integerOption(factory, {
    name: 'brotliQuality',
    value: opts.brotliQuality,
    fallback: 4,
    min: 0,
    max: 11,
  });
  const brotli: zlib.BrotliOptions = {
    chunkSize,
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: brotliQuality,
      [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
    },
  };
  const gzip: zlib.ZlibOptions = {
    chunkSize,
    level: integerOption(factory, {
      name: 'gzipLevel',
      value: opts.gzipLevel,
      fallback: 6,
      min: 1,
      max: 9,
    }),
  };
  const deflate: zlib.ZlibOptions = {
    chunkSize,
    level: integerOption(factory, {
      name: 'deflateLevel',
      value: opts.deflateLevel,
      fallback: 6,
      min: 1,
      max: 9,
    }),
  };
  const brotliFor = brotliSizer(brotli, chunkSize);
  const gzipFor = zlibSizer(gzip, chunkSize);
  const deflateFor = zlibSizer(deflate, chunkSize);
  const encodeNow = (encoding: ContentCoding, body: Buffer): Buffer => {
    if (encoding === 'br') return zlib.brotliCompressSync(body, brotliFor(body.length));
    return encoding === 'gzip'
      ? zlib.gzipSync(body, gzipFor(body.length))
      : zlib.deflateSync(body, deflateFor(body.length));
  };

  return {
    compressSync: reusing(encodeNow, reuseOption(factory, opts.reuse)),
    compress(encoding, body, done) {
      if (encoding === 'br') zlib.brotliCompress(body, brotliFor(body.length), done);
      else if (encoding === 'gzip') zlib.gzip(body, gzipFor(body.length), done);
      else zlib.deflate(body, deflateFor(body.length), done);
    },
    createStream(encoding, streamOptions) {
      const flushEach = streamOptions?.flushEachWrite === true;
      if (encoding === 'br') {
        return zlib.createBrotliCompress(
          flushEach ? { ...brotli, flush: zlib.constants.BROTLI_OPERATION_FLUSH } : brotli,
        );
      }
      const options = encoding === 'gzip' ? gzip : deflate;
      const flushing = flushEach ? { ...options, flush: zlib.constants.Z_SYNC_FLUSH } : options;
      return encoding === 'gzip' ? zlib.createGzip(flushing) : zlib.createDeflate(flushing);
    },
    flush(stream, encoding, callback) {
      const kind =
        encoding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH;
      if (callback) stream.flush(kind, callback);
      else stream.flush(kind);
    },
  };
}

/** The bounds of the reuse memo, or undefined when it is off. */
function reuseOption(
  factory: string,
  value: NodeEncoderOptions['reuse'],
): { maxEntries: number; maxBytes: number } | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw optionError(factory, 'reuse must be false or { maxEntries, maxBytes }.');
  }
  return {
    maxEntries: integerOption(factory, {
      name: 'reuse.maxEntries',
      value: value?.maxEntries,
      fallback: 256,
      min: 1,
    }),
    maxBytes: integerOption(factory, {
      name: 'reuse.maxBytes',
      value: value?.maxBytes,
      fallback: 8 * 1024 * 1024,
      min: 1024,
    }),
  };
}

/**
 * Wraps a one-shot encoder with an LRU of the bytes it made, keyed by coding and body. The
 * key is the body read as latin1 (one byte, one character: a copy, but a cheap one next to
 * deflating the same bytes again), so equal bodies hit whoever built them, as a string or
 * a Buffer.
 */
function reusing(
  encode: (encoding: ContentCoding, body: Buffer) => Buffer,
  bounds: { maxEntries: number; maxBytes: number } | undefined,
): (encoding: ContentCoding, body: Buffer) => Buffer {
  if (bounds === undefined) return encode;
  const memo = new LRUCache<string, Buffer>({
    max: bounds.maxEntries,
    maxSize: bounds.maxBytes,
    sizeCalculation: (bytes, key) => bytes.length + key.length,
  });
  // A body bigger than a quarter of the memo would push out everything else for one entry.
  const largest = Math.floor(bounds.maxBytes / 4);
  return (encoding, body) => {
    if (body.length > largest) return encode(encoding, body);
    const key = encoding + body.toString('latin1');
    const known = memo.get(key);
    if (known !== undefined) return known;
    const bytes = encode(encoding, body);
    // Kept in a buffer of its own: the encoder's result is a slice of a larger one (or of
    // Node's pool), which the memo would otherwise hold whole while counting only the slice.
    const own = Buffer.allocUnsafeSlow(bytes.length);
    bytes.copy(own);
    memo.set(key, own);
    return own;
  };
}
