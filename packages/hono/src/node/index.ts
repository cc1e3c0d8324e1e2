import type { IncomingMessage } from 'node:http';
import { invalidOptions } from '@fairmind/core';
import { type NodeEncoderOptions, nodeWebEncoder } from '@fairmind/edge/node';
import type { CompressionEncoder } from '@fairmind/edge/web';
import type { Context } from 'hono';

export type { NodeEncoderOptions } from '@fairmind/edge/node';

interface NodeBindings {
  readonly incoming?: Pick<IncomingMessage, 'socket'>;
  readonly server?: { readonly incoming?: Pick<IncomingMessage, 'socket'> };
}

/**
 * The socket peer of a request served by @hono/node-server, from `c.env.incoming` as Hono's
 * own `getConnInfo` reads it; pass it as `clientAddress`. It never reads a header: put the
 * proxies you trust in `TRUSTED_PROXIES` and the contract's resolver walks `X-Forwarded-For`.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` when the app is not served by @hono/node-server.
 * @example
 * ```ts
 * app.use(fairmind({ clientAddress: nodeClientAddress }));
 * ```
 */
export function nodeClientAddress(c: Context): string {
  const env = c.env as NodeBindings | undefined;
  const incoming = env?.server?.incoming ?? env?.incoming;
  if (incoming === undefined) {
    throw invalidOptions(
      '@fairmind/hono',
      'nodeClientAddress found no Node request in c.env: serve the app with ' +
        '@hono/node-server, or give clientAddress the connection helper of your runtime.',
    );
  }
  // A socket the client already closed has no address left; the request is moot by then.
  return incoming.socket.remoteAddress ?? '';
}

/**
 * An encoder on node:zlib for `compression.encoder`: br, gzip and deflate, with the bytes of
 * the Express and node:http adapters. On @hono/node-server the adapter compresses at the Node
 * response with it, and leaves the server's fast path for string and buffer bodies alone.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * app.use(fairmind({ clientAddress: nodeClientAddress, compression: { encoder: nodeEncoder() } }));
 * ```
 */
export function nodeEncoder(options?: NodeEncoderOptions): CompressionEncoder {
  return nodeWebEncoder(options, 'nodeEncoder');
}
