import { applyHeaders, type HeaderTarget } from '@fairmind/core/adapter';
import { type ContentCoding, weakenEtag } from '../compression/index.js';

const VARY = Object.freeze({ vary: 'Accept-Encoding' });

/**
 * Marks a response's headers for a compression decision, the same way on every backend:
 * `Vary: Accept-Encoding` always (call it with `null` for a response that depends on
 * `Accept-Encoding` but goes out as it is), and for an `encoding`, `Content-Encoding`, a weak
 * `ETag` (the bytes differ from the identity body's) and no `Content-Length` (the backend sets
 * the compressed one when it knows it).
 *
 * @example
 * ```ts
 * const { encoding, vary } = policy.decide(candidate, acceptEncoding);
 * if (vary) markEncoded(res, encoding);
 * ```
 */
export function markEncoded(target: HeaderTarget, encoding: ContentCoding | null): void {
  applyHeaders(target, VARY);
  if (encoding === null) return;
  target.setHeader('content-encoding', encoding);
  const etag = target.getHeader('etag');
  if (typeof etag === 'string') target.setHeader('etag', weakenEtag(etag));
  target.removeHeader('content-length');
}
