import { FairmindError, type Middleware } from '@fairmind/core';
import { concat } from '../bytes/index.js';
import {
  integerOption,
  optionError,
  optionsObject,
  PKG,
  stringListOption,
} from '../options/index.js';
import {
  isStandardSchema,
  type SchemaOutput,
  type StandardSchema,
  validate,
} from '../schema/index.js';

/**
 * Body limits and JSON parsing for handlers. The contract's request view has no body (it is
 * read by the handler, after the middleware), so these are helpers a handler or a framework
 * adapter calls, plus one middleware that refuses an oversized `Content-Length` before any
 * handler runs.
 */

/** 1 MiB: the HTTP-API.md limit for request bodies. */
export const DEFAULT_BODY_LIMIT = 1_048_576;

/** What a body can be read from: a Web `Request`, a Node `IncomingMessage`, or any byte stream. */
export type BodySource =
  | {
      readonly headers: { get(name: string): string | null };
      readonly body: ReadableStream<Uint8Array> | null;
    }
  | (AsyncIterable<Uint8Array | string> & {
      readonly headers?: Readonly<Record<string, string | string[] | undefined>> | undefined;
    });

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /**
   * The most bytes accepted; past it the read stops at once with a 413.
   * @default 1048576 (1 MiB)
   */
  limit?: number | undefined;
  /**
   * The `Content-Length`, for a bare stream without headers. Read from the request when it
   * has headers.
   * @default undefined
   */
  contentLength?: number | undefined;
}

/** Options of {@link readJsonBody}. */
export interface ReadJsonBodyOptions extends ReadBodyOptions {
  /**
   * Media types accepted as JSON; a `+json` suffix (`application/merge-patch+json`) counts
   * as JSON when `application/json` is listed.
   * @default ['application/json']
   */
  types?: readonly string[] | undefined;
  /**
   * The `Content-Type`, for a bare stream without headers.
   * @default read from the request
   */
  contentType?: string | null | undefined;
}

function tooLarge(limit: number): FairmindError {
  return new FairmindError(
    'PAYLOAD_TOO_LARGE',
    413,
    `[${PKG}] The request body is larger than ${limit} bytes: send a smaller body.`,
    // Without Connection: close, Node would read and discard the rest of a body of any size
    // after the 413 to keep the connection. The Node adapters still read a bounded amount
    // before closing (core's lingerBeforeClose), so a client still sending sees the 413.
    { headers: { connection: 'close' } },
  );
}

function invalid(message: string, cause?: unknown): FairmindError {
  return new FairmindError(
    'VALIDATION_FAILED',
    400,
    `[${PKG}] ${message}`,
    cause === undefined ? {} : { cause },
  );
}

function headerOf(source: BodySource, name: string): string | null {
  const headers = source.headers as
    | { get?: (name: string) => string | null }
    | Readonly<Record<string, string | string[] | undefined>>
    | undefined;
  if (headers === undefined || headers === null) return null;
  if (typeof headers.get === 'function') return headers.get(name);
  const value = (headers as Readonly<Record<string, string | string[] | undefined>>)[name];
  if (value === undefined) return null;
  return typeof value === 'string' ? value : value.join(', ');
}

function declaredLength(source: BodySource, given: number | undefined): number | undefined {
  if (given !== undefined) return given;
  const raw = headerOf(source, 'content-length');
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw);
}

type NodeReadable = AsyncIterable<Uint8Array | string> & {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly readableEnded?: boolean;
};

function isNodeReadable(source: unknown): source is NodeReadable {
  const candidate = source as Partial<NodeReadable>;
  return typeof candidate.on === 'function' && typeof candidate.pause === 'function';
}

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
}

// A Node stream is read with listeners rather than for-await: leaving a for-await early
// destroys the stream, and with it the socket the 413 must still be written to.
function readNode(stream: NodeReadable, limit: number): Promise<Uint8Array> {
  if (stream.readableEnded === true) {
    // Waiting for 'end' on a stream that has already ended would leave the request hanging
    // for good: the usual cause is a framework's own body parser (express.json(), a Fastify
    // route's JSON parser) that read it first.
    return Promise.reject(
      new FairmindError(
        'BODY_ALREADY_READ',
        500,
        `[${PKG}] The request body was already read, most likely by the framework's own body ` +
          'parser: read it once, either with that parser or with readBody/readJsonBody, not both.',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
    };
    const onData = (chunk: unknown) => {
      const bytes = toBytes(chunk as Uint8Array | string);
      total += bytes.byteLength;
      if (total > limit) {
        cleanup();
        stream.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => {
      cleanup();
      resolve(concat(chunks, total));
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(invalid('The request body could not be read: the connection failed.', error));
    };
    const onAborted = () => onError(new Error('request aborted'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
    stream.resume();
  });
}

async function readWeb(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

async function readIterable(
  source: AsyncIterable<Uint8Array | string>,
  limit: number,
): Promise<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await iterator.next();
    if (done) break;
    const bytes = toBytes(value);
    total += bytes.byteLength;
    if (total > limit) {
      await iterator.return?.();
      throw tooLarge(limit);
    }
    chunks.push(bytes);
  }
  return concat(chunks, total);
}

function resolveLimit(factory: string, options: ReadBodyOptions): number {
  return integerOption(factory, {
    name: 'limit',
    value: options.limit,
    fallback: DEFAULT_BODY_LIMIT,
    min: 0,
  });
}

/**
 * Reads a request body into bytes, refusing more than `limit`: at once when the
 * `Content-Length` says so, otherwise as soon as the bytes read pass the limit, without
 * reading the rest.
 *
 * @throws {FairmindError} 413 `PAYLOAD_TOO_LARGE` over the limit (with `Connection: close`);
 * 400 `VALIDATION_FAILED` when the connection fails mid-body.
 * @example
 * ```ts
 * const bytes = await readBody(req, { limit: 64 * 1024 });
 * ```
 */
export async function readBody(
  source: BodySource,
  options: ReadBodyOptions = {},
): Promise<Uint8Array> {
  const limit = resolveLimit('readBody', optionsObject('readBody', options));
  const length = declaredLength(source, options.contentLength);
  if (length !== undefined && length > limit) throw tooLarge(limit);
  if ('body' in source && !isNodeReadable(source)) {
    const body = (source as { body: ReadableStream<Uint8Array> | null }).body;
    return body === null ? new Uint8Array(0) : readWeb(body, limit);
  }
  if (isNodeReadable(source)) return readNode(source, limit);
  if (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
    throw new TypeError(
      `[${PKG}] readBody needs a Request, an IncomingMessage or an async iterable of bytes`,
    );
  }
  return readIterable(source as AsyncIterable<Uint8Array | string>, limit);
}

function isJsonType(contentType: string | null, types: readonly string[]): boolean {
  if (contentType === null) return false;
  const semicolon = contentType.indexOf(';');
  const media = (semicolon === -1 ? contentType : contentType.slice(0, semicolon))
    .trim()
    .toLowerCase();
  return types.includes(media) || (types.includes('application/json') && media.endsWith('+json'));
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads and parses a JSON request body: the `Content-Type` must be JSON, the body at most
 * `limit` bytes (HTTP-API.md: 1 MiB), valid UTF-8 and valid JSON. Given a Standard Schema
 * (a zod 4 schema, for one), the value must also pass it, and what comes back is the schema's
 * typed output: `null`, an array or a wrong type never reaches the handler. Anything else is
 * a problem the handler can throw as it is.
 *
 * @throws {FairmindError} 400 `VALIDATION_FAILED` for a wrong content type, an empty body,
 * bad UTF-8, bad JSON or a value the schema refuses (naming each field in the message and in
 * `details.issues`); 413 `PAYLOAD_TOO_LARGE` over the limit.
 * @example
 * ```ts
 * const login = z.object({ email: z.email(), password: z.string().min(8) });
 * const input = await readJsonBody(request, login); // { email: string; password: string }
 * const loose = await readJsonBody(request, { limit: 4096 }); // unknown
 * ```
 */
export async function readJsonBody<S extends StandardSchema>(
  source: BodySource,
  schema: S,
  options?: ReadJsonBodyOptions,
): Promise<SchemaOutput<S>>;
export async function readJsonBody<T = unknown>(
  source: BodySource,
  options?: ReadJsonBodyOptions,
): Promise<T>;
export async function readJsonBody(
  source: BodySource,
  schemaOrOptions?: StandardSchema | ReadJsonBodyOptions,
  options?: ReadJsonBodyOptions,
): Promise<unknown> {
  if (isStandardSchema(schemaOrOptions)) {
    return validate(schemaOrOptions, await parseJsonBody(source, options ?? {}), 'body');
  }
  return parseJsonBody(source, schemaOrOptions ?? {});
}

async function parseJsonBody(source: BodySource, options: ReadJsonBodyOptions): Promise<unknown> {
  const factory = 'readJsonBody';
  const opts = optionsObject(factory, options);
  const types = stringListOption(factory, 'types', opts.types, ['application/json']).map((t) =>
    t.toLowerCase(),
  );
  const contentType =
    opts.contentType !== undefined ? opts.contentType : headerOf(source, 'content-type');
  if (!isJsonType(contentType, types)) {
    throw invalid(
      `The request body must be JSON: send it with Content-Type: application/json` +
        (contentType ? ` (got ${JSON.stringify(contentType.slice(0, 100))}).` : '.'),
    );
  }
  const bytes = await readBody(source, opts);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (error) {
    throw invalid('The request body is not valid UTF-8: send JSON encoded as UTF-8.', error);
  }
  if (text.trim() === '') throw invalid('The request body is empty: send a JSON document.');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalid(
      `The request body is not valid JSON (${(error as Error).message}): check the syntax.`,
      error,
    );
  }
}

/** Options of {@link bodyLimit}. */
export interface BodyLimitOptions {
  /**
   * The most bytes a request may declare in `Content-Length`.
   * @default 1048576 (1 MiB)
   */
  limit?: number | undefined;
  /**
   * Methods checked.
   * @default ['POST', 'PUT', 'PATCH', 'DELETE']
   */
  methods?: readonly string[] | undefined;
}

/**
 * Refuses a request whose `Content-Length` is over the limit with 413 before any handler
 * runs or any byte of the body is read. A chunked body has no length up front: read it with
 * {@link readBody} or {@link readJsonBody}, which stop at the same limit.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const chain = [requestLog({ logger }), bodyLimit({ limit: 1024 * 1024 })];
 * ```
 */
export function bodyLimit(options?: BodyLimitOptions): Middleware {
  const factory = 'bodyLimit';
  const opts = optionsObject(factory, options);
  const limit = integerOption(factory, {
    name: 'limit',
    value: opts.limit,
    fallback: DEFAULT_BODY_LIMIT,
    min: 0,
  });
  const methods = new Set(
    stringListOption(factory, 'methods', opts.methods, ['POST', 'PUT', 'PATCH', 'DELETE']).map(
      (m) => m.toUpperCase(),
    ),
  );
  if (methods.size === 0) throw optionError(factory, 'methods must name at least one method.');
  return function bodyLimitMiddleware(exchange) {
    if (!methods.has(exchange.request.method)) return undefined;
    const raw = exchange.request.headers.get('content-length');
    if (raw !== null && /^\d+$/.test(raw.trim()) && Number(raw) > limit) throw tooLarge(limit);
    return undefined;
  };
}
