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
   * list answered to every client is compressed once, not on every request. A body matches
   * only one equal to it byte for byte, so only the bytes of exactly this body can come back.
   * Bodies compressed on the event loop (those within `syncThreshold`) are kept; `maxEntries`
   * counts them (up to four bodies alike enough to share a sample of their bytes count once),
   * `maxBytes` their bytes and their compressed bytes; `false` turns it off.
   * @default { maxEntries: 256, maxBytes: 8_388_608 }
   */
  reuse?: { maxEntries?: number | undefined; maxBytes?: number | undefined } | false | undefined;
}

/** A streaming encoder of any of the three codings. */
export type NodeEncoderStream = zlib.BrotliCompress | zlib.Gzip | zlib.Deflate;

/** See {@link createNodeEncoders}. */
export interface NodeEncoders {
  /**
   * Compresses one body now, on the event loop: for small bodies, where that is fastest. A
   * string is taken as UTF-8 text; passing the string a framework serialized, rather than a
   * Buffer made from it, lets a body sent again skip that copy as well as the compression.
   */
  compressSync(encoding: ContentCoding, body: Buffer | string): Buffer;
  /** Compresses one body in the thread pool, leaving the event loop free; a string as UTF-8. */
  compress(
    encoding: ContentCoding,
    body: Buffer | string,
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
  const { chunkSize, brotli, gzip, deflate } = zlibSettings(factory, opts);
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
    compress(encoding, text, done) {
      const body = bytesOf(text);
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

/** The zlib and brotli options of every coding, from the encoder options, checked once. */
function zlibSettings(
  factory: string,
  opts: NodeEncoderOptions,
): {
  chunkSize: number;
  brotli: zlib.BrotliOptions;
  gzip: zlib.ZlibOptions;
  deflate: zlib.ZlibOptions;
} {
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
  return { chunkSize, brotli, gzip, deflate };
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

/** One body the memo keeps: the body itself, to prove a match, and its bytes per coding. */
interface Kept {
  readonly body: string | Buffer;
  readonly coded: Partial<Record<ContentCoding, Buffer>>;
}

// Bodies that share a fingerprint are kept side by side, the most recent first, up to this.
const CHAIN = 4;
// How many code units of a body the fingerprint reads, spread evenly over it.
const SAMPLES = 64;

/**
 * A cheap number from the body's length, kind and an even sample of its code units. Hashing a
 * whole body as a Map key cost more than compressing was worth saving (about 5 µs for a 3 KB
 * list, a fresh string on every request); a match on this number is only a candidate, proven
 * by comparing the whole body, which is a memcmp.
 */
function fingerprint(body: string | Buffer): number {
  const length = body.length;
  const step = length > SAMPLES ? Math.floor(length / SAMPLES) : 1;
  let hash = Math.imul(length, 16777619);
  if (typeof body === 'string') {
    for (let index = 0; index < length; index += step) {
      hash = Math.imul(hash ^ body.charCodeAt(index), 16777619);
    }
    return (hash & ~1) >>> 0;
  }
  for (let index = 0; index < length; index += step) {
    hash = Math.imul(hash ^ (body[index] as number), 16777619);
  }
  // A string and a Buffer never match each other: the lowest bit keeps them apart.
  return (hash | 1) >>> 0;
}

const sameBody = (kept: string | Buffer, body: string | Buffer) =>
  typeof body === 'string' ? kept === body : Buffer.isBuffer(kept) && kept.equals(body);

const keptSize = (chain: readonly Kept[]) => {
  let size = 0;
  for (const kept of chain) {
    size += kept.body.length;
    for (const bytes of Object.values(kept.coded)) size += bytes.length;
  }
  return Math.max(1, size);
};

/**
 * Wraps a one-shot encoder with an LRU of the bytes it made, by body and coding. A string
 * body is kept as it is (no copy); a Buffer is copied, since its owner may write to it later.
 * Written by hand around lru-cache: the key must be cheap to make from a body that is a new
 * object on every request, and no memo library keys on content without hashing all of it.
 */
function reusing(
  encode: (encoding: ContentCoding, body: Buffer) => Buffer,
  bounds: { maxEntries: number; maxBytes: number } | undefined,
): (encoding: ContentCoding, body: Buffer | string) => Buffer {
  if (bounds === undefined) return (encoding, body) => encode(encoding, bytesOf(body));
  const memo = new LRUCache<number, Kept[]>({
    max: bounds.maxEntries,
    maxSize: bounds.maxBytes,
    sizeCalculation: keptSize,
  });
  // A body bigger than a quarter of the memo would push out everything else for one entry.
  const largest = Math.floor(bounds.maxBytes / 4);
  return (encoding, body) => {
    if (body.length > largest) return encode(encoding, bytesOf(body));
    const key = fingerprint(body);
    const chain = memo.get(key);
    const kept = chain?.find((one) => sameBody(one.body, body));
    const known = kept?.coded[encoding];
    if (known !== undefined) return known;
    const bytes = encode(encoding, bytesOf(body));
    // Kept in a buffer of its own: the encoder's result is a slice of a larger one (or of
    // Node's pool), which the memo would otherwise hold whole while counting only the slice.
    const own = copyOf(bytes);
    const entry: Kept = kept ?? { body: typeof body === 'string' ? body : copyOf(body), coded: {} };
    entry.coded[encoding] = own;
    const others = (chain ?? []).filter((one) => one !== entry).slice(0, CHAIN - 1);
    // Set again, so the memo counts the entry's new size.
    memo.set(key, [entry, ...others]);
    return own;
  };
}

/** The bytes in a buffer of their own, outside Node's shared pool. */
function copyOf(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

const bytesOf = (body: Buffer | string) => (typeof body === 'string' ? Buffer.from(body) : body);
