import type { HeaderTarget } from '@fairmind/core/adapter';
import type { FastifyReply } from 'fastify';

/**
 * A reply's headers as the shared helpers reach them. Fastify keeps them in its own store until
 * it writes the response, so they are set through the reply, never on `reply.raw`.
 */
export function replyHeaders(reply: FastifyReply): HeaderTarget {
  return new ReplyHeaders(reply);
}

// Methods on a prototype rather than three closures per call: a request reaches its headers
// this way three times (chain, reply, compression).
class ReplyHeaders implements HeaderTarget {
  readonly #reply: FastifyReply;

  constructor(reply: FastifyReply) {
    this.#reply = reply;
  }

  getHeader(name: string): ReturnType<HeaderTarget['getHeader']> {
    return this.#reply.getHeader(name);
  }

  setHeader(name: string, value: string): void {
    this.#reply.header(name, value);
  }

  removeHeader(name: string): void {
    this.#reply.removeHeader(name);
  }
}
