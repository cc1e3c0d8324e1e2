import type { IncomingMessage } from 'node:http';
import { invalidOptions } from '@fairmind/core';
import type { Context } from 'hono';

interface NodeBindings {
  readonly incoming?: Pick<IncomingMessage, 'socket'>;
  readonly server?: { readonly incoming?: Pick<IncomingMessage, 'socket'> };
}

// Read by shape and with types only, so the main entry point, which uses it as use()'s default,
// stays free of Node imports and runs on every runtime.
export function nodePeer(c: Context): string {
  const env = c.env as NodeBindings | undefined;
  const incoming = env?.server?.incoming ?? env?.incoming;
  if (incoming === undefined) {
    throw invalidOptions(
      '@fairmind/hono',
      'found no Node request in c.env to take the client address from: serve the app with ' +
        '@hono/node-server, or give clientAddress the connection helper of your runtime.',
    );
  }
  // A socket the client already closed has no address left; the request is moot by then.
  return incoming.socket.remoteAddress ?? '';
}
