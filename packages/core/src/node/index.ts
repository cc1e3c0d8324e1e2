import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  type Exchange,
  type FairmindState,
  type FinishInfo,
  type HeaderReader,
  type HeaderRecord,
  mergeHeader,
  type Reply,
  type RequestView,
} from '../contract/index.js';

/**
 * Node's parsed headers behind the contract's `get(name)`, read in place: building a
 * `Headers` object would copy every header on every request for the few a middleware reads.
 */
class NodeHeaderReader implements HeaderReader {
  constructor(private readonly raw: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }
}

/** The contract's request view of a Node `IncomingMessage`, without copying headers. */
export function nodeRequestView(req: IncomingMessage): RequestView {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: new NodeHeaderReader(req.headers),
  };
}

/**
 * An {@link Exchange} for a Node request: the socket peer as `clientAddress` (never a
 * header) and TLS from the socket itself.
 */
export function nodeExchange(req: IncomingMessage, state: FairmindState = {}): Exchange {
  return {
    request: nodeRequestView(req),
    clientAddress: req.socket.remoteAddress ?? '',
    secure: (req.socket as Partial<TLSSocket>).encrypted === true,
    state,
  };
}

/**
 * Puts contract headers on a Node response that has not been sent yet, combining list
 * headers (`Vary`) with what the application already set.
 */
export function applyHeaders(res: ServerResponse, headers: Readonly<HeaderRecord>): void {
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const existing = res.getHeader(name);
    if (existing === undefined) {
      res.setHeader(name, value);
    } else {
      const merged: HeaderRecord = {
        [name]: Array.isArray(existing) ? existing.join(', ') : String(existing),
      };
      mergeHeader(merged, name, value);
      res.setHeader(name, merged[name] as string);
    }
  }
}

/** Sends a short-circuit {@link Reply} on a Node response. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  applyHeaders(res, reply.headers);
  if (reply.body === null) {
    res.end();
    return;
  }
  res.setHeader('content-length', Buffer.byteLength(reply.body));
  res.end(reply.body);
}

/**
 * Calls each callback once with the response's {@link FinishInfo}: on `finish` when the
 * response was sent, on `close` without `finish` when the client went away first.
 * `contentLength` reads the body length where the framework keeps it (Fastify hands its
 * headers straight to `writeHead()`, where `res.getHeader()` never sees them).
 */
export function observeFinish(
  res: ServerResponse,
  callbacks: ReadonlyArray<(info: FinishInfo) => void>,
  startedAt: number = performance.now(),
  contentLength: () => unknown = () => res.getHeader('content-length'),
): void {
  if (callbacks.length === 0) return;
  const socket = res.socket;
  const bytesBefore = socket?.bytesWritten ?? 0;
  let done = false;
  const report = (aborted: boolean) => {
    if (done) return;
    done = true;
    const length = Number(contentLength() ?? Number.NaN);
    // Without a length to read, the socket's count since the response began, less the header
    // block: `_header` is Node's text of it, read by morgan and on-headers alike. What is
    // left is the body (with chunk framing, for a chunked one).
    const header = (res as { _header?: unknown })._header;
    // Latin-1 text: one byte per character.
    const headerBytes = typeof header === 'string' ? header.length : 0;
    const info: FinishInfo = {
      status: res.statusCode,
      bytes: Number.isFinite(length)
        ? length
        : Math.max(0, (socket?.bytesWritten ?? 0) - bytesBefore - headerBytes),
      durationMs: performance.now() - startedAt,
      aborted,
    };
    for (const callback of callbacks) callback(info);
  };
  res.once('finish', () => report(false));
  res.once('close', () => report(!res.writableFinished));
}
