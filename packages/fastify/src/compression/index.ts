import { invalidOptions } from '@fairmind/core';
import { createPayloadCompression, type PayloadCompressionOptions } from '@fairmind/edge/node';
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { replyHeaders } from '../reply/index.js';

/**
 * Options of the Fastify compression: the policy's, the encoder settings, `syncThreshold` (a
 * string or buffer payload of up to this many bytes, 64 KiB by default, is compressed on the
 * event loop, a larger one in the thread pool, both with an exact `Content-Length`) and
 * `flushOnWrite` (the media types whose stream payloads are flushed at every chunk,
 * `text/event-stream` by default).
 */
export type FastifyCompressionOptions = PayloadCompressionOptions;

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
    throw invalidOptions('@fairmind/fastify', 'compression must be an options object or false.');
  }
  const compress = createPayloadCompression(options, 'compression');
  return function fairmindCompression(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: Error | null, payload?: unknown) => void,
  ): void {
    compress(
      { method: request.raw.method ?? 'GET', acceptEncoding: request.headers['accept-encoding'] },
      { status: reply.statusCode, headers: replyHeaders(reply) },
      payload,
      done,
    );
  } as onSendHookHandler;
}
