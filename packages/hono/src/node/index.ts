import { type NodeEncoderOptions, nodeWebEncoder } from '@fairmind/edge/node';
import type { CompressionEncoder } from '@fairmind/edge/web';
import type { Context } from 'hono';
import { nodePeer } from '../peer/index.js';

export type { NodeEncoderOptions } from '@fairmind/edge/node';

/**
 * The socket peer of a request served by @hono/node-server, from `c.env.incoming` as Hono's
 * own `getConnInfo` reads it; pass it as `clientAddress` (`use()` defaults to it). It never
 * reads a header: put the proxies you trust in `TRUSTED_PROXIES` and the contract's resolver
 * walks `X-Forwarded-For`.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` when the app is not served by @hono/node-server.
 * @example
 * ```ts
 * app.use(fairmind({ clientAddress: nodeClientAddress }));
 * ```
 */
export function nodeClientAddress(c: Context): string {
  return nodePeer(c);
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
