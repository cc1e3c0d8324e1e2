import { pipeline, Readable } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { invalidOptions } from '@fairmind/core';
import {
  type CompressionPolicyOptions,
  type ContentCoding,
  createCompressionPolicy,
  mediaTypeOf,
  peekBody,
} from '@fairmind/edge';
import { createNodeEncoders, markEncoded } from '@fairmind/edge/node';
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { replyHeaders } from '../reply/index.js';

/**
 * Fastify's compression backend: an `onSend` hook that rewrites the payload Fastify is about
 * to write, with the decisions of `@fairmind/edge`'s policy, so a response is compressed, or
 * not, exactly as on the Express and node:http adapters.
 */

const PKG = '@fairmind/fastify';

/** Options of the Fastify compression: the policy's, plus the encoder settings. */
export interface FastifyCompressionOptions extends CompressionPolicyOptions {
  /**
   * Brotli quality, 0-11. 4 compresses JSON better than gzip level 6 at about the same
   * speed; 11 is for assets compressed once at build time.
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
   * A string or buffer payload of up to this many bytes is compressed synchronously, as
   * @fastify/compress does for small bodies: below 64 KiB that blocks the event loop for less
   * than a round trip through the thread pool would. Larger ones go to the thread pool in one
   * call. Either way the response gets an exact `Content-Length`; stream payloads are piped
   * through a zlib stream instead.
   * @default 65536
   */
  syncThreshold?: number | undefined;
  /**
   * Media types (lower-case, without parameters) whose stream payloads are flushed through
   * the encoder at every chunk, so each piece reaches the client as the stream produces it
   * rather than when the encoder's buffer fills or the stream ends.
   * @default (type) => type === 'text/event-stream'
   */
  flushOnWrite?: ((mediaType: string) => boolean) | undefined;
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOptions(
      PKG,
      `compression.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

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
 * The `onSend` hook that compresses responses, with options resolved once. The plugin adds
 * it for you; use it alone to compress without the rest of the adapter.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * app.addHook('onSend', createCompressionHook({ threshold: 2048 }));
 * ```
 */
export function createCompressionHook(options: FastifyCompressionOptions = {}): onSendHookHandler {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(PKG, 'compression must be an options object or false.');
  }
  const policy = createCompressionPolicy(options);
  const syncThreshold = integer('syncThreshold', options.syncThreshold, 64 * 1024, 0, 2 ** 31);
  if (options.flushOnWrite !== undefined && typeof options.flushOnWrite !== 'function') {
    throw invalidOptions(PKG, 'compression.flushOnWrite must be a function of the media type.');
  }
  const flushOnWrite = options.flushOnWrite ?? ((mediaType) => mediaType === 'text/event-stream');
  // The same encoders as the Express and node:http backend, so the bytes are the same too.
  const encoders = createNodeEncoders(options, 'compression');

  // Fastify watches the stream it is given (the encoder) and ends the response on its error;
  // pipeline destroys both ends, so its callback has nothing left to do.
  const encodeStream = (source: Readable, encoding: ContentCoding, flushEachWrite: boolean) =>
    pipeline(source, encoders.createStream(encoding, { flushEachWrite }), () => {});

  return function fairmindCompression(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: Error | null, payload?: unknown) => void,
  ): void {
    const body = classify(payload);
    if (body.kind === 'opaque') {
      done(null, payload);
      return;
    }
    const decision = policy.decide(
      {
        method: request.raw.method ?? 'GET',
        status: reply.statusCode,
        headers: { get: (name) => reply.getHeader(name) },
        size: body.kind === 'bytes' ? body.size : undefined,
      },
      request.headers['accept-encoding'],
    );
    const headers = replyHeaders(reply);
    if (decision.vary) markEncoded(headers, null);
    const { encoding } = decision;
    if (encoding === null) {
      done(null, payload);
      return;
    }
    if (body.kind === 'stream') {
      const type = reply.getHeader('content-type');
      const flushEachWrite = typeof type === 'string' && flushOnWrite(mediaTypeOf(type));
      if (flushEachWrite || reply.getHeader('content-length') !== undefined) {
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
    const bytes = typeof body.data === 'string' ? Buffer.from(body.data) : body.data;
    if (bytes.length <= syncThreshold) {
      done(null, encoders.compressSync(encoding, bytes));
      return;
    }
    encoders.compress(encoding, bytes, done);
  } as onSendHookHandler;
}
