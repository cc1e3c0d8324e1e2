import { invalidOptions } from '@fairmind/core';
import { createPayloadCompression, type PayloadCompressionOptions } from '@fairmind/edge/node';
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { replyHeaders } from '../reply/index.js';

/**
 * Options of the Fastify compression: those of `createPayloadCompression` in
 * `@fairmind/edge/node` (the policy, the encoder settings, `syncThreshold`, `flushOnWrite`).
 */
export type FastifyCompressionOptions = PayloadCompressionOptions;

// The compressor is edge's; this only hands it Fastify's request, reply and payload.
export function createCompressionHook(options: FastifyCompressionOptions): onSendHookHandler {
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
