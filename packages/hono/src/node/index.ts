import type { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { FairmindError, invalidOptions } from '@fairmind/core';
import { createNodeCompression, createNodeEncoders } from '@fairmind/edge/node';
import type { Context } from 'hono';
import type { CompressionEncoder, NodeAttach } from '../compression/index.js';

/**
 * The Node halves of the Hono adapter, for apps served by @hono/node-server: the socket
 * peer from the Node request, and an encoder on node:zlib, which makes br where
 * CompressionStream cannot.
 */

const PKG = '@fairmind/hono';

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
    throw new FairmindError(
      'INVALID_OPTIONS',
      500,
      `[${PKG}] nodeClientAddress found no Node request in c.env: serve the app with ` +
        '@hono/node-server, or give clientAddress the connection helper of your runtime.',
    );
  }
  // A socket the client already closed has no address left; the request is moot by then.
  return incoming.socket.remoteAddress ?? '';
}

/** Options of {@link nodeEncoder}. */
export interface NodeEncoderOptions {
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
}

/**
 * An encoder on node:zlib for `compression.encoder`: br, gzip and deflate. A whole body
 * (at most `bufferLimit`, 64 KiB by default) is compressed synchronously, which blocks for
 * less than a round trip through the thread pool would; streams go through a zlib stream.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * app.use(fairmind({ clientAddress: nodeClientAddress, compression: { encoder: nodeEncoder() } }));
 * ```
 */
export function nodeEncoder(options: NodeEncoderOptions = {}): CompressionEncoder {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(PKG, 'nodeEncoder() takes an options object.');
  }
  // The same encoders as the Express and node:http backend, so the bytes are the same too.
  const encoders = createNodeEncoders(options, 'nodeEncoder');

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
    // On @hono/node-server the adapter compresses at the Node response with the same backend
    // as Express and node:http (@fairmind/edge/node): same bytes, same rules. The server calls
    // flushHeaders() before every stream whose first chunk is not ready yet; that is not the
    // application asking for its headers, so it must not decide a small body's compression.
    nodeBackend(policy): NodeAttach {
      const compress = createNodeCompression({ ...policy, ...options, flushHeaders: 'hold' });
      return (incoming, outgoing) =>
        compress(incoming as IncomingMessage, outgoing as ServerResponse);
    },
  };
}
