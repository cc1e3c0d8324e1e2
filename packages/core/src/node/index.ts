import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { applyHeaders, withRequestId } from '../adapter/index.js';
import {
  type Decision,
  type Exchange,
  type FairmindState,
  type FinishInfo,
  type HeaderReader,
  type HeaderRecord,
  type Middleware,
  problemReply,
  type Reply,
  type RequestView,
  runMiddleware,
} from '../contract/index.js';
import { FairmindError, statusTitle } from '../errors/index.js';
import { type Logger, logRequestFailure, silentLogger } from '../log/index.js';

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

// One implementation for every adapter; exported here too, where Node users have found it.
export { applyHeaders } from '../adapter/index.js';

/**
 * The body a contract handler reads, after a framework's body parser (express.json(),
 * Fastify's JSON and text parsers) may have read `req`: `req` itself while unread, else a
 * stream of what the parser made, as bytes again (a string or Buffer as it is, JSON
 * serialized once more) with `req`'s headers. `readBody` and `readJsonBody` from
 * `@fairmind/edge` take either; on the consumed `req` they could only refuse. Written by hand:
 * the frameworks keep no copy of the raw bytes, and a parser that kept one would cost every
 * route the copy.
 *
 * @example
 * ```ts
 * const reply = await handler(exchange, bodyAfterParser(req, req.body));
 * ```
 */
export function bodyAfterParser(req: IncomingMessage, parsed: unknown): IncomingMessage {
  if (!req.readableEnded || parsed === undefined) return req;
  let bytes: Buffer | undefined;
  if (typeof parsed === 'string') bytes = Buffer.from(parsed);
  else if (Buffer.isBuffer(parsed)) bytes = parsed;
  // Serializing what a JSON parser made gives the same JSON value back.
  else if (/\bjson\b/i.test(String(req.headers['content-type'] ?? ''))) {
    bytes = Buffer.from(JSON.stringify(parsed));
  }
  // Anything else (a form a parser of the app's own made an object of) stays as read.
  if (bytes === undefined) return req;
  const replay = Readable.from([bytes]);
  // Only what the body readers use of an IncomingMessage: the stream and its headers.
  return Object.assign(replay, {
    headers: { ...req.headers, 'content-length': String(bytes.byteLength) },
    method: req.method,
    url: req.url,
  }) as unknown as IncomingMessage;
}

/** Options of {@link lingerBeforeClose}. */
export interface LingerOptions {
  /**
   * The most bytes read and thrown away after the answer; past it the socket closes.
   * @default 16777216 (16 MiB)
   */
  maxBytes?: number | undefined;
  /**
   * The longest the socket stays open after the answer, in milliseconds.
   * @default 5000
   */
  maxMs?: number | undefined;
}

const lingering = new WeakSet<object>();
const LINGER_POLL_MS = 20;

/**
 * Lets a client that is still sending a request body read the answer that ends the
 * connection (a 413 with `Connection: close`). Node closes such a socket as soon as the
 * answer is written; bytes the client sends after that, or that were still unread, make the
 * kernel reset the connection, and the client sees EPIPE or ECONNRESET instead of the answer
 * it was sent. Here the socket sends its FIN, then reads and discards what the client still
 * sends until the body has all arrived, the client closes, or `maxBytes` or `maxMs` run out
 * (the "lingering close" of RFC 9112 section 9.6). A request whose body has been read whole
 * needs none of it and is left alone. Call it before the response ends; the adapters do for
 * every reply that carries `Connection: close`.
 *
 * @example
 * ```ts
 * res.setHeader('connection', 'close');
 * lingerBeforeClose(req);
 * res.end(problemBody);
 * ```
 */
export function lingerBeforeClose(req: IncomingMessage, options: LingerOptions = {}): void {
  const socket = req.socket as IncomingMessage['socket'] | null;
  if (req.complete || socket === null || socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  const maxMs = options.maxMs ?? 5000;
  const target = socket as { destroySoon?: () => void };
  const destroySoon = target.destroySoon;
  if (typeof destroySoon !== 'function') return;
  // What Node's http server calls once a Connection: close response is written.
  target.destroySoon = function lingerThenDestroy() {
    target.destroySoon = destroySoon;
    if (req.complete) {
      destroySoon.call(socket);
      return;
    }
    const start = socket.bytesRead;
    const startedAt = Date.now();
    // The count is polled: a 'data' listener on the socket would take it from Node's parser,
    // which reads the socket natively, and stall it. The parser discards the rest of the body
    // (the request was dumped when the answer finished).
    const poll = setInterval(() => {
      if (socket.bytesRead - start > maxBytes || Date.now() - startedAt >= maxMs) close();
    }, LINGER_POLL_MS);
    poll.unref?.();
    const close = () => {
      clearInterval(poll);
      req.off('end', close);
      socket.off('end', close);
      socket.destroy();
    };
    socket.once('end', close);
    req.once('end', close);
    socket.end();
    // An application that stopped reading when it refused the body left the request paused.
    req.resume();
  };
}

/**
 * Sends a short-circuit {@link Reply} on a Node response. A reply with `Connection: close`
 * (a 413) lingers: see {@link lingerBeforeClose}.
 */
export function writeReply(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  applyHeaders(res, reply.headers);
  if (closesConnection(reply.headers) && res.req !== undefined) lingerBeforeClose(res.req);
  if (reply.body === null) {
    res.end();
    return;
  }
  res.setHeader('content-length', Buffer.byteLength(reply.body));
  res.end(reply.body);
}

/** Whether contract headers end the connection (`Connection: close`). */
function closesConnection(headers: Readonly<HeaderRecord>): boolean {
  return headers['connection']?.toLowerCase() === 'close';
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
  // on(), not once(): `report` runs once by itself, and once() wraps every listener in a
  // bound function and a state object, on every request.
  res.on('finish', () => report(false));
  res.on('close', () => report(!res.writableFinished));
}

/** Options of {@link answerParserErrors}. */
export interface ParserErrorOptions {
  /**
   * The application's middleware, run for each refused request as for any other (security
   * headers, request id, request log), on what could be read of it.
   * @default []
   */
  middleware?: readonly Middleware[] | undefined;
  /**
   * Where a failure of the middleware itself is logged.
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/** What Node's HTTP parser reports: llhttp's code and the bytes it was reading. */
type ParserError = Error & { code?: string; rawPacket?: unknown; reason?: string };

const answered = new WeakSet<object>();

// The request line, when the parser got that far: method and target as the client sent them,
// kept only if they are plain tokens, so nothing odd reaches the log.
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) ([\x21-\x7e]{1,2048}) HTTP\/\d\.\d\r?\n/;

function refusedRequest(error: ParserError, socket: Socket): RequestView {
  const pending = (socket as { _httpMessage?: { req?: IncomingMessage } })._httpMessage?.req;
  if (pending !== undefined) return nodeRequestView(pending);
  const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.toString('latin1', 0, 2200) : '';
  const line = REQUEST_LINE.exec(raw);
  return { method: line?.[1] ?? '-', url: line?.[2] ?? '-', headers: { get: () => null } };
}

function parserProblem(error: ParserError): FairmindError {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new FairmindError(
      'HEADERS_TOO_LARGE',
      431,
      'The request headers are larger than the server accepts (16 KiB): send fewer or shorter headers.',
    );
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new FairmindError(
      'REQUEST_TIMEOUT',
      408,
      'The request did not arrive in time: send it again, whole.',
    );
  }
  // llhttp's reason names the fault ("Invalid method encountered", "Content-Length can't be
  // present with Transfer-Encoding"); it is the parser's own text, never the request's.
  const reason = typeof error.reason === 'string' ? ` (${error.reason.slice(0, 200)})` : '';
  return new FairmindError(
    'MALFORMED_REQUEST',
    400,
    `The request is not valid HTTP/1.1${reason}: fix the request line, headers or body framing.`,
  );
}

function headerBlock(status: number, headers: Readonly<HeaderRecord>, length: number): string {
  let head = `HTTP/1.1 ${status} ${statusTitle(status)}\r\n`;
  for (const name in headers) {
    if (name === 'content-length' || name === 'connection') continue;
    head += `${name}: ${headers[name]}\r\n`;
  }
  return `${head}content-length: ${length}\r\nconnection: close\r\n\r\n`;
}

/**
 * Answers requests that Node's HTTP parser refuses (a bad method or header name,
 * `Content-Length` with `Transfer-Encoding`, a bad chunk size, headers over the size limit)
 * and requests with an `Expect` other than `100-continue` with an RFC 9457 problem, after
 * running `middleware` for them like for any request: so they get the security headers, a
 * request id and a request-log line, where Node alone writes a bare status line and logs
 * nothing. It replaces the server's other `clientError` listeners (Fastify installs one).
 *
 * @example
 * ```ts
 * const server = app.listen(3000);
 * answerParserErrors(server, { middleware: platform.middleware, logger });
 * ```
 */
export function answerParserErrors(server: Server, options: ParserErrorOptions = {}): void {
  const chain = options.middleware ?? [];
  const logger = options.logger ?? silentLogger;

  // runMiddleware turns a middleware's throw into a reply; what is left is a bug, and the
  // answer still goes out, bare.
  function decide(exchange: Exchange): Promise<Decision> {
    return Promise.resolve(runMiddleware(chain, exchange)).catch((failure: unknown) => {
      logRequestFailure({ logger, pkg: '@fairmind/core', status: 500, error: failure, exchange });
      return { reply: undefined, headers: {}, onFinish: [], error: failure };
    });
  }

  server.removeAllListeners('clientError');
  server.on('clientError', (error: ParserError, socket: Socket) => {
    // The parser goes on failing on what follows on the same connection: answer once.
    if (answered.has(socket)) return;
    answered.add(socket);
    const pending = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent === true) {
      socket.destroy();
      return;
    }
    const startedAt = performance.now();
    const exchange: Exchange = {
      request: refusedRequest(error, socket),
      clientAddress: socket.remoteAddress ?? '',
      secure: (socket as Partial<TLSSocket>).encrypted === true,
      state: {},
    };
    void decide(exchange).then((decision) => {
      const reply = withRequestId(problemReply(parserProblem(error), decision.headers), exchange);
      const body = reply.body ?? '';
      const length = Buffer.byteLength(body);
      const report = (aborted: boolean) => {
        const info: FinishInfo = {
          status: reply.status,
          bytes: length,
          durationMs: performance.now() - startedAt,
          aborted,
        };
        for (const callback of decision.onFinish) callback(info);
      };
      if (!socket.writable) {
        report(true);
        return;
      }
      // Ended rather than destroyed, so the answer is not lost to a reset; a client that
      // keeps the connection open is cut after a second.
      socket.end(headerBlock(reply.status, reply.headers, length) + body, () => report(false));
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  });

  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const startedAt = performance.now();
    const exchange = nodeExchange(req);
    const expectation = req.headers.expect ?? '';
    void decide(exchange).then((decision) => {
      observeFinish(res, decision.onFinish, startedAt);
      const problem = new FairmindError(
        'EXPECTATION_FAILED',
        417,
        `The server meets no expectation but 100-continue, got Expect: ${JSON.stringify(expectation.slice(0, 100))}: send the request without it.`,
      );
      const headers = { ...decision.headers, connection: 'close' };
      writeReply(res, withRequestId(problemReply(problem, headers), exchange));
    });
  });
}
