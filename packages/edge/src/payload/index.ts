import { pipeline, Readable } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import type { HeaderTarget } from '@fairmind/core/adapter';
import {
  type ContentCoding,
  createCompressionPolicy,
  mediaTypeOf,
  peekBody,
} from '../compression/index.js';
import { markEncoded } from '../encoded/index.js';
import { createNodeEncoders } from '../encoders/index.js';
import type { NodeCompressionOptions } from '../node/index.js';
import { functionOption, integerOption, optionsObject } from '../options/index.js';

/** Options of {@link createPayloadCompression}: those of `createNodeCompression`, but for `flushHeaders`. */
export type PayloadCompressionOptions = Omit<NodeCompressionOptions, 'flushHeaders'>;

/**
 * Compresses one payload a framework is about to send, and calls `done` with what to send
 * instead (see {@link createPayloadCompression}).
 */
export type PayloadCompression = (
  request: { readonly method: string; readonly acceptEncoding: string | undefined },
  response: { readonly status: number; readonly headers: HeaderTarget },
  payload: unknown,
  done: (error: Error | null, payload?: unknown) => void,
) => void;

type Payload =
  | { kind: 'bytes'; size: number; data: string | Buffer }
  | { kind: 'stream'; stream: Readable }
  | { kind: 'opaque' };

const EMPTY = Buffer.alloc(0);

// What Fastify hands onSend: a string, a Buffer, a Node stream, a Web ReadableStream, a
// Response, or nothing. A Response brings its own status and headers, which Fastify applies
// only after onSend, so the policy cannot judge it here and it goes out as it is.
function classify(payload: unknown): Payload {
  // No body weighs nothing: the policy then leaves it alone, but still sets Vary.
  if (payload === null || payload === undefined) return { kind: 'bytes', size: 0, data: EMPTY };
  if (typeof payload === 'string') {
    return { kind: 'bytes', size: Buffer.byteLength(payload), data: payload };
  }
  if (Buffer.isBuffer(payload)) return { kind: 'bytes', size: payload.length, data: payload };
  if (typeof (payload as { pipe?: unknown }).pipe === 'function') {
    return { kind: 'stream', stream: payload as Readable };
  }
  if (typeof (payload as { getReader?: unknown }).getReader === 'function') {
    return { kind: 'stream', stream: Readable.fromWeb(payload as NodeWebReadableStream) };
  }
  return { kind: 'opaque' };
}

function toBytes(chunk: unknown): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
}

// The chunks read while deciding, then the rest of the stream as it comes.
async function* replay(
  chunks: readonly Uint8Array[],
  rest: AsyncIterable<unknown>,
): AsyncGenerator<unknown> {
  yield* chunks;
  yield* rest;
}

/**
 * The compression backend of frameworks that hand the payload to a hook before they write it
 * (Fastify's `onSend`): a string or buffer is compressed whole with an exact length, a Node or
 * Web stream through a zlib stream, with the policy's decisions and the encoders of
 * `createNodeCompression`, so the bytes are the same as on node:http and Express.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const compress = createPayloadCompression({ threshold: 2048 });
 * app.addHook('onSend', (request, reply, payload, done) =>
 *   compress(
 *     { method: request.method, acceptEncoding: request.headers['accept-encoding'] },
 *     { status: reply.statusCode, headers: replyHeaders(reply) },
 *     payload,
 *     done,
 *   ),
 * );
 * ```
 */
export function createPayloadCompression(
  options?: PayloadCompressionOptions,
  factory = 'createPayloadCompression',
): PayloadCompression {
  const opts = optionsObject(factory, options);
  const policy = createCompressionPolicy(opts);
  const syncThreshold = integerOption(factory, {
    name: 'syncThreshold',
    value: opts.syncThreshold,
    fallback: 64 * 1024,
    min: 0,
    max: 2 ** 31,
  });
  const flushOnWrite =
    functionOption<(mediaType: string) => boolean>(factory, 'flushOnWrite', opts.flushOnWrite) ??
    ((mediaType) => mediaType === 'text/event-stream');
  const encoders = createNodeEncoders(opts, factory);

  // The framework watches the stream it is given (the encoder; Fastify does) and ends the
  // response on its error; pipeline destroys both ends, so its callback has nothing left to do.
  const encodeStream = (source: Readable, encoding: ContentCoding, flushEachWrite: boolean) =>
    pipeline(source, encoders.createStream(encoding, { flushEachWrite }), () => {});

  return function compressPayload(request, response, payload, done) {
    const { headers } = response;
    const body = classify(payload);
    if (body.kind === 'opaque') {
      done(null, payload);
      return;
    }
    const decision = policy.decide(
      {
        method: request.method,
        status: response.status,
        headers: { get: (name) => headers.getHeader(name) },
        size: body.kind === 'bytes' ? body.size : undefined,
      },
      request.acceptEncoding,
    );
    if (decision.vary) markEncoded(headers, null);
    const { encoding } = decision;
    if (encoding === null) {
      done(null, payload);
      return;
    }
    if (body.kind === 'stream') {
      const type = headers.getHeader('content-type');
      const flushEachWrite = typeof type === 'string' && flushOnWrite(mediaTypeOf(type));
      if (flushEachWrite || headers.getHeader('content-length') !== undefined) {
        markEncoded(headers, encoding);
        done(null, encodeStream(body.stream, encoding, flushEachWrite));
        return;
      }
      // The threshold is on the whole body, however it is written: a stream of unknown length
      // is read until it passes the threshold or ends, and one that ends within it is sent
      // whole, as it is, with its length.
      const iterator: AsyncIterator<unknown> = body.stream[Symbol.asyncIterator]();
      const read = async () => {
        const next = await iterator.next();
        return next.done ? { done: true } : { value: toBytes(next.value) };
      };
      peekBody(read, policy.threshold).then((peeked) => {
        if (peeked.ended) {
          done(null, Buffer.concat(peeked.chunks));
          return;
        }
        const rest = { [Symbol.asyncIterator]: () => iterator };
        markEncoded(headers, encoding);
        done(null, encodeStream(Readable.from(replay(peeked.chunks, rest)), encoding, false));
      }, done);
      return;
    }
    markEncoded(headers, encoding);
    // The string itself goes to the encoders: a body sent again is then found without first
    // being copied into a Buffer, and one compressed in the thread pool is copied there.
    if (body.size <= syncThreshold) {
      done(null, encoders.compressSync(encoding, body.data));
      return;
    }
    encoders.compress(encoding, body.data, done);
  };
}
