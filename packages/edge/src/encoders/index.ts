import zlib from 'node:zlib';
import type { ContentCoding } from '../compression/index.js';
import { integerOption, optionsObject } from '../options/index.js';
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

  return {
    compressSync(encoding, body) {
      if (encoding === 'br') return zlib.brotliCompressSync(body, brotliFor(body.length));
      return encoding === 'gzip'
        ? zlib.gzipSync(body, gzipFor(body.length))
        : zlib.deflateSync(body, deflateFor(body.length));
    },
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
