import { webHeaderTarget } from '@fairmind/core/adapter';
import { concat } from '../bytes/index.js';
import {
  type CompressionPolicyOptions,
  type ContentCoding,
  createCompressionPolicy,
  isCompressibleType,
  peekBody,
} from '../compression/index.js';
import { markEncoded } from '../encoded/index.js';
import { functionOption, integerOption, optionError, optionsObject } from '../options/index.js';

export {
  createWebBridge,
  observeResponse,
  type WebBridge,
  type WebBridgeOptions,
  type WebPass,
} from '../web-bridge/index.js';

/**
 * Compression of a finished Web `Response`, for fetch-style servers (Hono, any runtime):
 * the decisions come from the same policy as every other backend, so a response is
 * compressed, or not, exactly as on the Node adapters. Nothing here imports Node.
 */

/** Turns bytes into one content coding; the two halves of a compression backend. */
export interface CompressionEncoder {
  /** The codings it produces; the policy only ever offers these. */
  readonly encodings: readonly ContentCoding[];
  /** Compresses a whole body held in memory, for a response with an exact `Content-Length`. */
  whole(bytes: Uint8Array, encoding: ContentCoding): Uint8Array | Promise<Uint8Array>;
  /** Compresses a body as it streams. */
  stream(body: ReadableStream<Uint8Array>, encoding: ContentCoding): ReadableStream<Uint8Array>;
  /**
   * A backend that compresses at the Node response instead, given the policy options once;
   * it returns what to call on each request's Node request and response. A server that
   * writes a string or buffer body straight to the socket (@hono/node-server) leaves that
   * fast path when the `Response` body is rewritten, so compressing at the Node response
   * costs less there.
   */
  readonly nodeBackend?: ((policy: NodeBackendOptions) => NodeAttach) | undefined;
}

/** What a Node backend is given: the policy's options and the types flushed per write. */
export interface NodeBackendOptions extends CompressionPolicyOptions {
  readonly flushOnWrite: (mediaType: string) => boolean;
}

/** Compression attached to one Node request and response (see `nodeBackend`). */
export type NodeAttach = (incoming: unknown, outgoing: unknown) => void;

/**
 * The encoder of every Web-standard runtime: `CompressionStream`, which makes gzip and
 * deflate but not br.
 *
 * @example
 * ```ts
 * const compress = createResponseCompression({ encoder: webEncoder() });
 * ```
 */
export function webEncoder(): CompressionEncoder {
  function stream(body: ReadableStream<Uint8Array>, encoding: ContentCoding) {
    // Typed as taking any BufferSource; the bodies here are always Uint8Array chunks.
    const encoder = new CompressionStream(encoding as CompressionFormat);
    return body.pipeThrough(encoder as unknown as TransformStream<Uint8Array, Uint8Array>);
  }
  return {
    encodings: ['gzip', 'deflate'],
    async whole(bytes, encoding) {
      const compressed = stream(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), encoding);
      return new Uint8Array(await new Response(compressed).arrayBuffer());
    },
    stream,
  };
}

/** Options of {@link createResponseCompression}: the policy's, plus the backend's. */
export interface ResponseCompressionOptions extends CompressionPolicyOptions {
  /**
   * What makes the bytes. The policy offers only the codings it can produce, so with the
   * default a client asking for br alone gets an uncompressed body.
   * @default webEncoder() (gzip and deflate)
   */
  encoder?: CompressionEncoder | undefined;
  /**
   * A body whose `Content-Length` is at most this many bytes is compressed whole and sent
   * with an exact `Content-Length`; longer bodies, and bodies of unknown length over the
   * threshold, are streamed through the encoder. Bodies of unknown length are read up to
   * the threshold to find out whether they are small: a streamed response's first bytes wait
   * for at most `threshold` bytes, never for the whole body.
   * @default 65536
   */
  bufferLimit?: number | undefined;
  /**
   * Media types (lower-case, without parameters) whose every chunk must reach the client as
   * the body produces it. A Node backend compresses them and flushes the encoder per chunk;
   * the Web rewrite cannot flush, so it sends them uncompressed.
   * @default (type) => type === 'text/event-stream'
   */
  flushOnWrite?: ((mediaType: string) => boolean) | undefined;
}

/**
 * Rewrites a finished response for the request it answers, or returns it as it is. `node`
 * is set when the encoder can compress at the Node response instead (see
 * {@link CompressionEncoder.nodeBackend}).
 */
export interface ResponseCompression {
  (
    request: { readonly method: string; readonly headers: { get(name: string): string | null } },
    response: Response,
  ): Promise<Response>;
  readonly node?: NodeAttach;
}

const FACTORY = 'createResponseCompression';

function resolveEncoder(value: unknown): CompressionEncoder {
  if (value === undefined) return webEncoder();
  const encoder = value as Partial<CompressionEncoder> | null;
  if (
    typeof encoder !== 'object' ||
    encoder === null ||
    !Array.isArray(encoder.encodings) ||
    typeof encoder.whole !== 'function' ||
    typeof encoder.stream !== 'function'
  ) {
    throw optionError(
      FACTORY,
      'encoder must be an encoder such as webEncoder() or nodeEncoder(): ' +
        '{ encodings, whole(), stream() }.',
    );
  }
  return encoder as CompressionEncoder;
}

// The bytes already read, then the rest of the body as it comes.
function replay(
  chunks: readonly Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function declaredLength(headers: Headers): number | undefined {
  const raw = headers.get('content-length');
  return raw !== null && /^\d+$/.test(raw.trim()) ? Number(raw) : undefined;
}

function rebuilt(response: Response, body: BodyInit | null, headers: Headers): Response {
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/**
 * Compression as a function of a finished `Response`, with its options resolved once. The
 * Hono adapter runs it on `c.res`; use it alone to compress the responses of any fetch
 * handler.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * import { createResponseCompression } from '@fairmind/edge/web';
 *
 * const compress = createResponseCompression();
 * const response = await compress(request, await app.fetch(request));
 * ```
 */
export function createResponseCompression(
  options?: ResponseCompressionOptions,
): ResponseCompression {
  const {
    encoder: encoderOption,
    bufferLimit: limitOption,
    flushOnWrite: flushOption,
    ...policyOptions
  } = optionsObject(FACTORY, options);
  const flushOnWrite =
    functionOption<(mediaType: string) => boolean>(FACTORY, 'flushOnWrite', flushOption) ??
    ((mediaType: string) => mediaType === 'text/event-stream');
  const encoder = resolveEncoder(encoderOption);
  const requested = createCompressionPolicy(policyOptions);
  const encodings = requested.encodings.filter((coding) => encoder.encodings.includes(coding));
  if (encodings.length === 0) {
    throw optionError(
      FACTORY,
      `encodings (${requested.encodings.join(', ')}) has none that the encoder ` +
        `makes (${encoder.encodings.join(', ')}): pick from those, or use nodeEncoder() for br.`,
    );
  }
  const filter = policyOptions.filter ?? isCompressibleType;
  const policy = createCompressionPolicy({
    ...policyOptions,
    encodings,
    // The Web rewrite cannot flush an encoder per chunk: compressed, these would be held back.
    filter: (mediaType) => !flushOnWrite(mediaType) && filter(mediaType),
  });
  const bufferLimit = integerOption(FACTORY, {
    name: 'bufferLimit',
    value: limitOption,
    fallback: 64 * 1024,
    min: 0,
  });

  const compressResponse = async function compressResponse(
    request: Parameters<ResponseCompression>[0],
    response: Response,
  ): Promise<Response> {
    const decision = policy.decide(
      { method: request.method, status: response.status, headers: response.headers },
      request.headers.get('accept-encoding'),
    );
    if (!decision.vary) return response;
    const headers = new Headers(response.headers);
    const { encoding } = decision;
    const body = response.body;
    if (encoding === null || body === null) {
      markEncoded(webHeaderTarget(headers), null);
      return rebuilt(response, body, headers);
    }

    let stream: ReadableStream<Uint8Array> = body;
    const length = declaredLength(headers);
    if (length === undefined) {
      const reader = body.getReader();
      const peeked = await peekBody(() => reader.read(), policy.threshold);
      if (peeked.ended) {
        // The whole body is in hand and no larger than the threshold: send it as it is.
        markEncoded(webHeaderTarget(headers), null);
        headers.set('content-length', String(peeked.size));
        const whole = concat(peeked.chunks, peeked.size) as Uint8Array<ArrayBuffer>;
        return rebuilt(response, whole, headers);
      }
      stream = replay(peeked.chunks, reader);
    }

    markEncoded(webHeaderTarget(headers), encoding);
    if (length !== undefined && length <= bufferLimit) {
      const bytes = new Uint8Array(await response.arrayBuffer());
      const compressed = await encoder.whole(bytes, encoding);
      headers.set('content-length', String(compressed.byteLength));
      return rebuilt(response, compressed as Uint8Array<ArrayBuffer>, headers);
    }
    return rebuilt(response, encoder.stream(stream, encoding), headers);
  };
  // The Node backend gets the same policy, with the user's own filter: it flushes the types of
  // flushOnWrite per write, so it need not keep them uncompressed.
  const node = encoder.nodeBackend?.({ ...policyOptions, encodings, flushOnWrite });
  return node === undefined ? compressResponse : Object.assign(compressResponse, { node });
}
