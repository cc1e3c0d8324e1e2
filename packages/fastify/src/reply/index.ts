import type { HeaderTarget } from '@fairmind/core/adapter';
import type { FastifyReply } from 'fastify';

/**
 * A reply's headers as the shared helpers reach them. Fastify keeps them in its own store until
 * it writes the response, so they are set through the reply, never on `reply.raw`.
 */
export function replyHeaders(reply: FastifyReply): HeaderTarget {
  return {
    getHeader: (name) => reply.getHeader(name),
    setHeader: (name, value) => reply.header(name, value),
    removeHeader: (name) => reply.removeHeader(name),
  };
}
