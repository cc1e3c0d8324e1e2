import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import {
  type CompressionDecision,
  type CompressionPolicy,
  type CompressionPolicyOptions,
  type ContentCoding,
  createCompressionPolicy,
  mediaTypeOf,
  type ResponseHeaderSource,
} from '../compression/index.js';
import { markEncoded } from '../encoded/index.js';
import {
  createNodeEncoders,
  type NodeEncoderOptions,
  type NodeEncoderStream,
  type NodeEncoders,
} from '../encoders/index.js';
import { functionOption, integerOption, oneOfOption, optionsObject } from '../options/index.js';
import type { CompressionEncoder, NodeAttach } from '../web/index.js';

export {
  createNodeEncoders,
  type NodeEncoderOptions,
  type NodeEncoderStream,
  type NodeEncoders,
} from '../encoders/index.js';
export {
  createPayloadCompression,
  type PayloadCompression,
  type PayloadCompressionOptions,
} from '../payload/index.js';

/**
 * The compression backend for `node:http` and Express, which share Node's `ServerResponse`.
 * The decisions come from the framework-free policy in `@fairmind/edge`; this module only
 * rewrites bytes. The Fastify and Hono adapters bring their own backends on the same policy,
 * and may use the same encoders (`createNodeEncoders`).
 */

/** Options of {@link createNodeCompression}: the policy's, plus the encoder settings. */
export interface NodeCompressionOptions extends CompressionPolicyOptions, NodeEncoderOptions {
  /**
   * A body sent with a single `end()` of up to this many bytes is compressed synchronously,
   * with an exact `Content-Length`: up to 64 KiB that blocks the event loop for a fraction
   * of a millisecond, less than a round trip through the thread pool. Larger single bodies
   * are compressed in the thread pool in one call, still with an exact `Content-Length`;
   * bodies written in pieces are streamed.
   * @default 65536
   */
  syncThreshold?: number | undefined;
  /**
   * Media types (lower-case, without parameters) whose every `write()` is flushed through
   * the encoder at once, so each piece reaches the client as it is written. Other streams
   * flush when the application calls `res.flush()`.
   * @default (type) => type === 'text/event-stream'
   */
  flushOnWrite?: ((mediaType: string) => boolean) | undefined;
  /**
   * What `res.flushHeaders()` does while the decision still waits on the body's size.
   * `'send'` decides at once, as for a large body, and sends the headers: the application
   * asked for them now. `'hold'` keeps them until the decision is made as for any body
   * written in pieces (more than `threshold` bytes, or the end), so a small body still goes
   * out as it is; it is for servers that call `flushHeaders()` themselves before every
   * streamed body, as @hono/node-server does. Either way, headers whose decision needs no
   * size (server-sent events, a `Content-Length`, a body that will not be compressed) go
   * out at once.
   * @default 'send'
   */
  flushHeaders?: 'send' | 'hold' | undefined;
}

/**
 * Compresses one response: call it before the handler writes anything. With `next` it is an
 * Express middleware as it stands.
 */
export type NodeCompression = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: () => void,
) => void;

/** `res.flush()`, as expressjs/compression defines it: push what the encoder holds now. */
export interface FlushableResponse extends ServerResponse {
  flush(): void;
}

type Callback = (error?: Error | null) => void;
type WriteFn = (
  chunk: unknown,
  encoding?: BufferEncoding | Callback,
  callback?: Callback,
) => boolean;
type EndFn = (
  chunk?: unknown,
  encoding?: BufferEncoding | (() => void),
  callback?: () => void,
) => ServerResponse;
type WriteHeadFn = (
  statusCode: number,
  reason?: string | OutgoingHttpHeaders | readonly unknown[],
  headers?: OutgoingHttpHeaders | readonly unknown[],
) => ServerResponse;

interface Settings {
  readonly policy: CompressionPolicy;
  readonly encoders: NodeEncoders;
  readonly syncThreshold: number;
  readonly flushOnWrite: (mediaType: string) => boolean;
  readonly holdFlushedHeaders: boolean;
}

const PENDING = 0;
const IDENTITY = 1;
const STREAMING = 2;
const ENDED = 3;

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array)
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(
    `[@fairmind/edge] res.write() and res.end() take a string, Buffer or Uint8Array, got ${typeof chunk}`,
  );
}

// Node's own check (ERR_HTTP_INVALID_STATUS_CODE), made here because the real writeHead runs
// later, when the first byte is written.
function checkStatus(statusCode: number): void {
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 999) {
    throw new RangeError(`[@fairmind/edge] Invalid status code: ${String(statusCode)}`);
  }
}

function applyWriteHeadHeaders(
  res: ServerResponse,
  headers: OutgoingHttpHeaders | readonly unknown[] | undefined,
): void {
  if (headers === undefined) return;
  if (Array.isArray(headers)) {
    // The raw form: [name, value, name, value, ...]; repeated names accumulate as Node does.
    for (let index = 0; index + 1 < headers.length; index += 2) {
      const name = String(headers[index]);
      const value = headers[index + 1] as string | string[];
      const existing = res.getHeader(name);
      if (existing === undefined) res.setHeader(name, value);
      else res.setHeader(name, ([] as string[]).concat(existing as string, value as string));
    }
    return;
  }
  for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
    if (value !== undefined) res.setHeader(name, value);
  }
}

/**
 * One response's compressor. It patches `writeHead`, `write`, `end`, `flushHeaders` and adds
 * `flush` on the response object, and holds the headers back until it has seen enough of the
 * body to decide: a `Content-Length`, the whole body in `end()`, more than `threshold` bytes
 * written, or a `flush()`. That is how 1024 bytes written in two pieces still go out as they
 * are, and why `res.headersSent` stays false until the first byte really leaves.
 */
class ResponseCompressor {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #settings: Settings;
  readonly #write: WriteFn;
  readonly #end: EndFn;
  readonly #writeHead: WriteHeadFn;
  readonly #flushHeaders: () => void;
  #state = PENDING;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #stream: NodeEncoderStream | undefined;
  #encoding: ContentCoding | null = null;

  constructor(req: IncomingMessage, res: ServerResponse, settings: Settings) {
    this.#req = req;
    this.#res = res;
    this.#settings = settings;
    this.#write = res.write as unknown as WriteFn;
    this.#end = res.end as unknown as EndFn;
    this.#writeHead = res.writeHead as unknown as WriteHeadFn;
    this.#flushHeaders = res.flushHeaders;
    const target = res as unknown as {
      write: WriteFn;
      end: EndFn;
      writeHead: WriteHeadFn;
      flushHeaders: () => void;
      flush: () => void;
    };
    target.write = (chunk, encoding, callback) => this.write(chunk, encoding, callback);
    target.end = (chunk, encoding, callback) => this.end(chunk, encoding, callback);
    target.writeHead = (statusCode, reason, headers) => this.writeHead(statusCode, reason, headers);
    target.flushHeaders = () => this.flushHeaders();
    target.flush = () => this.flush();
  }

  writeHead(
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | readonly unknown[],
    headers?: OutgoingHttpHeaders | readonly unknown[],
  ): ServerResponse {
    if (this.#state !== PENDING)
      return this.#writeHead.call(this.#res, statusCode, reason, headers);
    checkStatus(statusCode);
    const res = this.#res;
    res.statusCode = statusCode;
    if (typeof reason === 'string') res.statusMessage = reason;
    else headers = reason;
    applyWriteHeadHeaders(res, headers);
    return res;
  }

  write(chunk: unknown, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (this.#state === PENDING) {
      const buffer = toBuffer(chunk, encoding);
      this.#hold(buffer, callback);
      if (!this.#mustDecide()) return true;
      this.#decide(undefined);
      return this.#drainHeld();
    }
    if (this.#state === STREAMING) return this.#writeStream(toBuffer(chunk, encoding), callback);
    return this.#write.call(this.#res, chunk, encoding, callback);
  }

  end(
    chunk?: unknown,
    encoding?: BufferEncoding | (() => void),
    callback?: () => void,
  ): ServerResponse {
    if (typeof chunk === 'function') {
      callback = chunk as () => void;
      chunk = undefined;
      encoding = undefined;
    } else if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    const res = this.#res;
    if (this.#state === IDENTITY || this.#state === ENDED) {
      this.#state = ENDED;
      return this.#end.call(res, chunk, encoding, callback);
    }
    if (this.#state === STREAMING) {
      this.#state = ENDED;
      const stream = this.#stream as NodeEncoderStream;
      if (callback) res.once('finish', callback);
      if (chunk === undefined || chunk === null) stream.end();
      else stream.end(toBuffer(chunk, encoding));
      return res;
    }
    // PENDING: the whole body is here, so its size is exact. A lone string (the common small
    // JSON reply) is measured rather than copied, and goes to Node as it is when uncompressed.
    this.#state = ENDED;
    let body: Buffer | string;
    if (this.#held.length === 0 && typeof chunk === 'string') {
      body = chunk;
    } else {
      if (chunk !== undefined && chunk !== null) this.#hold(toBuffer(chunk, encoding), undefined);
      body = this.#held.length === 1 ? (this.#held[0] as Buffer) : Buffer.concat(this.#held);
      this.#held = [];
      encoding = undefined;
    }
    const size = typeof body === 'string' ? Buffer.byteLength(body, encoding) : body.length;
    const decision = this.#policyDecision(size);
    if (decision.vary) this.#markEncoded(decision.encoding);
    const encodingChosen = decision.encoding;
    if (encodingChosen === null) {
      if (this.#bodyAllowed() && res.getHeader('transfer-encoding') === undefined) {
        res.setHeader('content-length', size);
      }
      return this.#end.call(res, body, encoding, callback);
    }
    // UTF-8 text goes to the encoders as it is: a body sent again is then found without first
    // being copied into a Buffer.
    const utf8 = encoding === undefined || encoding === 'utf8' || encoding === 'utf-8';
    const data = typeof body === 'string' && !utf8 ? Buffer.from(body, encoding) : body;
    if (size <= this.#settings.syncThreshold) {
      const compressed = this.#settings.encoders.compressSync(encodingChosen, data);
      res.setHeader('content-length', compressed.length);
      this.#end.call(res, compressed, undefined, callback);
      return res;
    }
    this.#settings.encoders.compress(encodingChosen, data, (error, compressed) => {
      if (error) {
        res.destroy(error);
        return;
      }
      if (res.destroyed) return;
      res.setHeader('content-length', compressed.length);
      this.#end.call(res, compressed, undefined, callback);
    });
    return res;
  }

  flushHeaders(): void {
    if (this.#state === PENDING) {
      if (this.#settings.holdFlushedHeaders && !this.#mustDecide()) return;
      this.#decide(undefined);
      this.#drainHeld();
    }
    this.#flushHeaders.call(this.#res);
  }

  flush(): void {
    if (this.#state === PENDING) {
      this.#decide(undefined);
      this.#drainHeld();
    }
    if (this.#state === STREAMING) this.#flushStream();
  }

  #headers(): ResponseHeaderSource {
    const res = this.#res;
    return { get: (name) => res.getHeader(name) };
  }

  #bodyAllowed(): boolean {
    const status = this.#res.statusCode;
    return this.#req.method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
  }

  // Held data is accepted, as a Writable's buffer accepts it: its callback runs now, since an
  // application may wait for it before writing the bytes that end the wait.
  #hold(buffer: Buffer, callback: Callback | undefined): void {
    this.#held.push(buffer);
    this.#heldBytes += buffer.length;
    if (callback) process.nextTick(callback, null);
  }

  // Streams of unknown length are decided as soon as waiting longer cannot change the answer
  // or would delay bytes the application wants sent.
  #mustDecide(): boolean {
    const res = this.#res;
    if (this.#heldBytes > this.#settings.policy.threshold) return true;
    if (res.getHeader('content-length') !== undefined) return true;
    const type = res.getHeader('content-type');
    if (typeof type === 'string' && this.#settings.flushOnWrite(mediaTypeOf(type))) return true;
    // Nothing to wait for when the body will not be compressed whatever its size (an image,
    // no-transform, a client that accepts no coding): its bytes go out as they come.
    return this.#policyDecision(undefined).encoding === null;
  }

  #policyDecision(size: number | undefined): CompressionDecision {
    return this.#settings.policy.decide(
      {
        method: this.#req.method ?? 'GET',
        status: this.#res.statusCode,
        headers: this.#headers(),
        size,
      },
      this.#req.headers['accept-encoding'],
    );
  }

  #decide(size: number | undefined): void {
    const res = this.#res;
    const decision = this.#policyDecision(size);
    // Without a Content-Length (markEncoded drops it) the response goes out chunked.
    if (decision.vary) this.#markEncoded(decision.encoding);
    if (decision.encoding === null) {
      this.#state = IDENTITY;
      return;
    }
    const type = res.getHeader('content-type');
    this.#startStream(
      decision.encoding,
      typeof type === 'string' && this.#settings.flushOnWrite(mediaTypeOf(type)),
    );
  }

  #markEncoded(encoding: ContentCoding | null): void {
    this.#encoding = encoding;
    markEncoded(this.#res, encoding);
  }

  #startStream(encoding: ContentCoding, flushEachWrite: boolean): void {
    const res = this.#res;
    const stream = this.#settings.encoders.createStream(encoding, { flushEachWrite });
    this.#stream = stream;
    this.#state = STREAMING;
    // A client that goes away mid-body must not leave a zlib handle (native memory) behind.
    res.once('close', () => {
      if (!stream.destroyed) stream.destroy();
    });
    stream.on('data', (chunk: Buffer) => {
      // Backpressure, one hop at a time: a full socket pauses the encoder, a paused encoder
      // fills its own buffer, and a full encoder makes the application's write() return false.
      if (!this.#write.call(res, chunk)) stream.pause();
    });
    // The application waits for 'drain' on the response after a false write(), and what it
    // waits on now is the encoder. A socket 'drain' must only resume the encoder: passed on,
    // it would wake the application to write another chunk into a full encoder every time
    // the socket took 16 KiB, and the encoder's buffer would grow without bound.
    const emit = res.emit;
    const target = res as unknown as {
      emit: (event: string | symbol, ...args: unknown[]) => boolean;
    };
    target.emit = (event, ...args) => {
      if (event !== 'drain') return emit.apply(res, [event, ...args] as Parameters<typeof emit>);
      if (stream.isPaused()) stream.resume();
      return true;
    };
    stream.on('drain', () => emit.call(res, 'drain'));
    stream.on('end', () => this.#end.call(res));
    stream.on('error', (error) => res.destroy(error));
  }

  #writeStream(buffer: Buffer, callback: Callback | undefined): boolean {
    return (this.#stream as NodeEncoderStream).write(buffer, callback);
  }

  #flushStream(): void {
    this.#settings.encoders.flush(
      this.#stream as NodeEncoderStream,
      this.#encoding as ContentCoding,
    );
  }

  // Sends what was held while deciding, through whichever path was chosen.
  #drainHeld(): boolean {
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    if (held.length === 0) return true;
    const body = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held);
    if (this.#state === STREAMING) return this.#writeStream(body, undefined);
    return this.#write.call(this.#res, body);
  }
}

/**
 * Creates the Node compression backend: br, gzip or deflate by the client's q-values, only
 * for compressible bodies over `threshold` bytes, with `Vary: Accept-Encoding`, a weakened
 * `ETag`, an exact `Content-Length` for single bodies and chunked streaming otherwise.
 * Server-sent events are flushed per write; other streams on `res.flush()`. Backpressure
 * passes through: `write()` returns false while the encoder is full and `'drain'` follows.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createNodeCompression } from '@fairmind/edge/node';
 *
 * const compress = createNodeCompression({ threshold: 1024 });
 * createServer((req, res) => {
 *   compress(req, res);
 *   res.setHeader('content-type', 'application/json');
 *   res.end(JSON.stringify(bigObject));
 * }).listen(3000);
 *
 * // Express: app.use(createNodeCompression());
 * ```
 */
export function createNodeCompression(options?: NodeCompressionOptions): NodeCompression {
  const factory = 'createNodeCompression';
  const opts = optionsObject(factory, options);
  const settings: Settings = {
    policy: createCompressionPolicy(opts),
    encoders: createNodeEncoders(opts, factory),
    syncThreshold: integerOption(factory, {
      name: 'syncThreshold',
      value: opts.syncThreshold,
      fallback: 64 * 1024,
      min: 0,
    }),
    flushOnWrite:
      functionOption<(mediaType: string) => boolean>(factory, 'flushOnWrite', opts.flushOnWrite) ??
      ((mediaType) => mediaType === 'text/event-stream'),
    holdFlushedHeaders:
      oneOfOption(factory, {
        name: 'flushHeaders',
        value: opts.flushHeaders,
        allowed: ['send', 'hold'],
        fallback: 'send',
      }) === 'hold',
  };
  return function compressResponse(req, res, next) {
    new ResponseCompressor(req, res, settings);
    next?.();
  };
}

/**
 * An encoder on node:zlib for `createResponseCompression` (`@fairmind/edge/web`): br, gzip
 * and deflate, with the same encoders, so the same bytes, as {@link createNodeCompression}.
 * A whole body (at most `bufferLimit`, 64 KiB by default) is compressed synchronously, which
 * blocks for less than a round trip through the thread pool would; streams go through a zlib
 * stream. Its `nodeBackend` compresses at the Node response instead, for servers that hand
 * the Node request and response over (@hono/node-server's `c.env`).
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const compress = createResponseCompression({ encoder: nodeWebEncoder({ brotliQuality: 5 }) });
 * ```
 */
export function nodeWebEncoder(
  options?: NodeEncoderOptions,
  factory = 'nodeWebEncoder',
): CompressionEncoder {
  const encoders = createNodeEncoders(options, factory);
  return {
    encodings: ['br', 'gzip', 'deflate'],
    whole(bytes, encoding) {
      return encoders.compressSync(
        encoding,
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
    },
    stream(body, encoding) {
      const pair = Duplex.toWeb(encoders.createStream(encoding));
      return body.pipeThrough(pair as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
    },
    // A server that calls flushHeaders() before every stream whose first chunk is not ready
    // yet (@hono/node-server does) is not the application asking for its headers: that must
    // not decide a small body's compression.
    nodeBackend(policy): NodeAttach {
      const compress = createNodeCompression({ ...policy, ...options, flushHeaders: 'hold' });
      return (incoming, outgoing) =>
        compress(incoming as IncomingMessage, outgoing as ServerResponse);
    },
  };
}
