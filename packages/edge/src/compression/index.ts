import {
  booleanOption,
  functionOption,
  integerOption,
  optionError,
  optionsObject,
  shown,
} from '../options/index.js';

/**
 * The framework-free half of compression: which encoding a client gets, and whether a
 * response should be compressed at all. Body rewriting needs a native backend per runtime
 * (a generic one would have to buffer), so the Node one lives in `@fairmind/edge/node` and
 * the Fastify and Hono adapters bring their own; all of them take their decisions from here,
 * so a response is compressed, or not, the same way on every adapter.
 */

/** A content coding this package can produce. */
export type ContentCoding = 'br' | 'gzip' | 'deflate';

const CODINGS: readonly ContentCoding[] = ['br', 'gzip', 'deflate'];

/** Why a response is or is not compressed; `'compress'` means it is. */
export type CompressionReason =
  | 'compress'
  | 'method'
  | 'status'
  | 'no-transform'
  | 'encoded'
  | 'type'
  | 'size'
  | 'not-acceptable';

/** Reads response headers; Web `Headers` and a wrapped Node `getHeader` both satisfy it. */
export interface ResponseHeaderSource {
  get(name: string): string | number | readonly string[] | null | undefined;
}

/** A response about to be sent, as the policy sees it. */
export interface CompressionCandidate {
  /** The request method: `HEAD` responses carry no body to compress. */
  readonly method: string;
  readonly status: number;
  /** The response headers (`Content-Type`, `Content-Encoding`, `Cache-Control`, `Content-Length`). */
  readonly headers: ResponseHeaderSource;
  /**
   * The body size in bytes when the backend knows it (a single buffer); otherwise the
   * `Content-Length` header is used, and a body of unknown size counts as large.
   */
  readonly size?: number | undefined;
}

/** What {@link CompressionPolicy.decide} concluded. */
export interface CompressionDecision {
  /** The coding to apply, or `null` to send the body as it is. */
  readonly encoding: ContentCoding | null;
  /**
   * Whether the response depends on `Accept-Encoding` and must say so in `Vary`: true for
   * every compressible response, compressed or not (a cache must not hand a gzip body to a
   * client that did not ask for it, nor a plain one to every client).
   */
  readonly vary: boolean;
  readonly reason: CompressionReason;
}

/** Options of {@link createCompressionPolicy}, {@link negotiateEncoding} and {@link shouldCompress}. */
export interface CompressionPolicyOptions {
  /**
   * Bodies of this many bytes or fewer are sent as they are: below about a kilobyte the
   * encoding's framing and the CPU cost outweigh the bytes saved.
   * @default 1024
   */
  threshold?: number | undefined;
  /**
   * The codings offered, in the server's order of preference when the client's q-values tie.
   * @default ['br', 'gzip', 'deflate']
   */
  encodings?: readonly ContentCoding[] | undefined;
  /**
   * Decides from the media type (lower-case, without parameters) whether a body is worth
   * compressing. The default accepts text, JSON, XML, JavaScript, SVG, form data and
   * uncompressed fonts, and refuses images, audio, video, archives and unknown binary.
   * @default isCompressibleType
   */
  filter?: ((mediaType: string) => boolean) | undefined;
  /**
   * Whether a client that sends no `Accept-Encoding` at all gets a compressed body.
   * RFC 9110 section 12.5.3 allows any coding then, but old clients and scripts that omit
   * the header rarely decode one, so the default is to send the body as it is.
   * @default false
   */
  compressWithoutAcceptEncoding?: boolean | undefined;
}

/** A compression policy with its options resolved once. */
export interface CompressionPolicy {
  readonly threshold: number;
  readonly encodings: readonly ContentCoding[];
  /** The coding to use for an `Accept-Encoding` value, or `null` for none. */
  negotiate(acceptEncoding: string | null | undefined): ContentCoding | null;
  /** The whole decision for one response. */
  decide(
    candidate: CompressionCandidate,
    acceptEncoding: string | null | undefined,
  ): CompressionDecision;
  /** Whether a `Content-Type` value is worth compressing, by the `filter` option. */
  isCompressible(contentType: string | null | undefined): boolean;
}

// Types that compress well and are not already compressed. Written out rather than read
// from mime-db (what the `compressible` package does): these few rules cover what an API
// sends, and the main entry must stay small enough for Web runtimes.
const COMPRESSIBLE_EXACT = new Set([
  'application/json',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/xml',
  'application/x-www-form-urlencoded',
  'application/graphql',
  'application/x-ndjson',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/wasm',
  'application/x-sh',
  'application/vnd.ms-fontobject',
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'font/otf',
  'font/ttf',
  'font/collection',
]);

/**
 * The default `filter`: text, JSON and XML (`+json`, `+xml` suffixes included), JavaScript,
 * SVG, form data, server-sent events and uncompressed fonts. Images other than SVG, BMP and
 * icons, audio, video, archives, WOFF fonts and `application/octet-stream` are already
 * compressed or unknown, and are refused.
 *
 * @example
 * ```ts
 * isCompressibleType('application/problem+json'); // true
 * isCompressibleType('image/png'); // false
 * ```
 */
export function isCompressibleType(mediaType: string): boolean {
  if (mediaType.startsWith('text/')) return true;
  if (COMPRESSIBLE_EXACT.has(mediaType)) return true;
  return mediaType.endsWith('+json') || mediaType.endsWith('+xml') || mediaType.endsWith('+yaml');
}

/**
 * The media type of a `Content-Type` value: lower-case, parameters and spaces removed.
 *
 * @example
 * ```ts
 * mediaTypeOf('Application/JSON; charset=utf-8'); // 'application/json'
 * ```
 */
export function mediaTypeOf(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

// RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

interface Preference {
  /** q-values of the codings named in the header, lower-case. */
  readonly named: Map<string, number>;
  /** The q-value of `*`, or undefined when absent. */
  readonly star: number | undefined;
  /** The smallest q-value listed: identity's implied weight when it is not named. */
  readonly lowest: number;
}

/**
 * Parses `Accept-Encoding` (RFC 9110 section 12.5.3). Elements with a malformed weight are
 * skipped rather than guessed at; `x-gzip` is `gzip` (RFC 9110 section 8.4.1.3).
 */
function parseAcceptEncoding(header: string): Preference {
  const named = new Map<string, number>();
  let star: number | undefined;
  let lowest = 1;
  for (const element of header.split(',')) {
    const semicolon = element.indexOf(';');
    let coding = (semicolon === -1 ? element : element.slice(0, semicolon)).trim().toLowerCase();
    if (coding === '') continue;
    let q = 1;
    let valid = true;
    if (semicolon !== -1) {
      for (const parameter of element.slice(semicolon + 1).split(';')) {
        const equals = parameter.indexOf('=');
        if (equals === -1) continue;
        if (parameter.slice(0, equals).trim().toLowerCase() !== 'q') continue;
        const value = parameter.slice(equals + 1).trim();
        if (!QVALUE.test(value)) valid = false;
        else q = Number(value);
      }
    }
    if (!valid) continue;
    if (coding === 'x-gzip') coding = 'gzip';
    if (coding === '*') star = q;
    else if (!named.has(coding) || (named.get(coding) as number) < q) named.set(coding, q);
    if (q < lowest) lowest = q;
  }
  return { named, star, lowest };
}

function choose(preference: Preference, encodings: readonly ContentCoding[]): ContentCoding | null {
  let best: ContentCoding | null = null;
  let bestQ = 0;
  for (const coding of encodings) {
    // `*` stands for every coding the header does not name (RFC 9110 section 12.5.3).
    const q = preference.named.get(coding) ?? preference.star ?? 0;
    // Strictly greater: on a tie the earlier coding in the server's list wins.
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  if (best === null) return null;
  // identity is acceptable unless excluded; when not named, it weighs as little as the
  // least preferred coding listed, so "gzip, br" still means "compress, please".
  const identity = preference.named.get('identity') ?? preference.star ?? preference.lowest;
  return identity > bestQ ? null : best;
}

function resolveEncodings(factory: string, value: unknown): readonly ContentCoding[] {
  if (value === undefined) return CODINGS;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((coding) => !CODINGS.includes(coding as ContentCoding)) ||
    new Set(value).size !== value.length
  ) {
    throw optionError(
      factory,
      `encodings must be a non-empty list without repeats of 'br', 'gzip' and 'deflate' in ` +
        `order of preference, got ${shown(value)}.`,
    );
  }
  return Object.freeze([...(value as ContentCoding[])]);
}

// A response status whose body must not be transformed: no body (1xx, 204, 304) or a part
// of one (206, where the ranges refer to the unencoded representation).
function statusAllowsCompression(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 206 && status !== 304;
}

const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i;

function headerText(value: string | number | readonly string[] | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return value.join(', ');
}

// Browsers send one of a handful of Accept-Encoding strings; parsing each once per policy
// keeps negotiation off the per-request profile. Bounded so hostile variety costs nothing.
const NEGOTIATION_CACHE_SIZE = 64;

/**
 * Resolves compression options once and returns the policy every backend applies.
 *
 * @throws {FairmindError} `INVALID_OPTIONS` naming a bad option.
 * @example
 * ```ts
 * const policy = createCompressionPolicy({ threshold: 1024 });
 * policy.negotiate('gzip;q=0.8, br'); // 'br'
 * const { encoding, vary } = policy.decide(
 *   { method: 'GET', status: 200, headers: response.headers, size: body.byteLength },
 *   request.headers.get('accept-encoding'),
 * );
 * ```
 */
export function createCompressionPolicy(options?: CompressionPolicyOptions): CompressionPolicy {
  const factory = 'createCompressionPolicy';
  const opts = optionsObject(factory, options);
  const threshold = integerOption(factory, {
    name: 'threshold',
    value: opts.threshold,
    fallback: 1024,
    min: 0,
  });
  const encodings = resolveEncodings(factory, opts.encodings);
  const filter =
    functionOption<(mediaType: string) => boolean>(factory, 'filter', opts.filter) ??
    isCompressibleType;
  const withoutHeader = booleanOption(
    factory,
    'compressWithoutAcceptEncoding',
    opts.compressWithoutAcceptEncoding,
    false,
  );
  const cache = new Map<string, ContentCoding | null>();

  function negotiate(acceptEncoding: string | null | undefined): ContentCoding | null {
    if (acceptEncoding === null || acceptEncoding === undefined) {
      return withoutHeader ? (encodings[0] as ContentCoding) : null;
    }
    const cached = cache.get(acceptEncoding);
    if (cached !== undefined) return cached;
    const chosen = choose(parseAcceptEncoding(acceptEncoding), encodings);
    if (acceptEncoding.length <= 256) {
      if (cache.size >= NEGOTIATION_CACHE_SIZE) cache.clear();
      cache.set(acceptEncoding, chosen);
    }
    return chosen;
  }

  function isCompressible(contentType: string | null | undefined): boolean {
    if (!contentType) return false;
    return filter(mediaTypeOf(contentType));
  }

  function decide(
    candidate: CompressionCandidate,
    acceptEncoding: string | null | undefined,
  ): CompressionDecision {
    const { headers } = candidate;
    if (NO_TRANSFORM.test(headerText(headers.get('cache-control')))) {
      return { encoding: null, vary: false, reason: 'no-transform' };
    }
    const existing = headerText(headers.get('content-encoding')).trim().toLowerCase();
    if (existing !== '' && existing !== 'identity') {
      return { encoding: null, vary: false, reason: 'encoded' };
    }
    if (!isCompressible(headerText(headers.get('content-type')))) {
      return { encoding: null, vary: false, reason: 'type' };
    }
    // From here on the representation depends on Accept-Encoding, whatever is sent now.
    if (candidate.method === 'HEAD') return { encoding: null, vary: true, reason: 'method' };
    if (!statusAllowsCompression(candidate.status)) {
      return { encoding: null, vary: true, reason: 'status' };
    }
    let size = candidate.size;
    if (size === undefined) {
      const length = headerText(headers.get('content-length'));
      if (length !== '') size = Number(length);
    }
    if (size !== undefined && Number.isFinite(size) && size <= threshold) {
      return { encoding: null, vary: true, reason: 'size' };
    }
    const encoding = negotiate(acceptEncoding);
    return encoding === null
      ? { encoding: null, vary: true, reason: 'not-acceptable' }
      : { encoding, vary: true, reason: 'compress' };
  }

  return { threshold, encodings, negotiate, decide, isCompressible };
}

const defaultPolicy = createCompressionPolicy();

function policyFor(options: CompressionPolicyOptions | undefined): CompressionPolicy {
  return options === undefined ? defaultPolicy : createCompressionPolicy(options);
}

/**
 * The coding a client gets for its `Accept-Encoding`, by q-value: `q=0` excludes a coding,
 * `*` stands for every coding not named, an explicitly preferred `identity` wins, and when
 * q-values tie the server's order decides (br, then gzip, then deflate).
 *
 * @returns The coding, or `null` to send the body as it is.
 * @example
 * ```ts
 * negotiateEncoding('gzip, deflate, br'); // 'br'
 * negotiateEncoding('br;q=0, *'); // 'gzip'
 * negotiateEncoding('gzip;q=0'); // null
 * ```
 */
export function negotiateEncoding(
  acceptEncoding: string | null | undefined,
  options?: CompressionPolicyOptions,
): ContentCoding | null {
  return policyFor(options).negotiate(acceptEncoding);
}

/**
 * Whether a response may be compressed at all, before asking the client: not for HEAD,
 * 1xx, 204, 206 or 304, not with `Cache-Control: no-transform`, not when already encoded,
 * not for types that do not compress, and not at or under the threshold size.
 *
 * @example
 * ```ts
 * shouldCompress({ method: 'GET', status: 200, headers: response.headers, size: 2048 }); // true
 * ```
 */
export function shouldCompress(
  candidate: CompressionCandidate,
  options?: CompressionPolicyOptions,
): boolean {
  return policyFor(options).decide(candidate, '*').encoding !== null;
}

/**
 * The `ETag` to send with a compressed body: a strong validator promises byte-identical
 * bodies (RFC 9110 section 8.8.1), which the compressed bytes are not, so it becomes weak.
 *
 * @example
 * ```ts
 * weakenEtag('"abc"'); // 'W/"abc"'
 * weakenEtag('W/"abc"'); // 'W/"abc"'
 * ```
 */
export function weakenEtag(etag: string): string {
  return etag.startsWith('W/') ? etag : `W/${etag}`;
}

/** One read of a body: a Web stream reader's or an async iterator's result. */
export interface BodyRead {
  readonly done?: boolean | undefined;
  readonly value?: Uint8Array | undefined;
}

/** What {@link peekBody} read. */
export interface PeekedBody {
  /** The chunks read, in order. */
  readonly chunks: readonly Uint8Array[];
  /** Their total size in bytes. */
  readonly size: number;
  /** True when the body ended within the limit, so `chunks` is all of it. */
  readonly ended: boolean;
}

/**
 * Reads a body of unknown length until more than `limit` bytes arrived or it ended,
 * whichever comes first. A backend that gets a stream it must send headers for calls it with
 * the policy's threshold: a body that ends within it goes out as it is, whole and with its
 * length, however many pieces it came in; a longer one is compressed, its first bytes
 * delayed by at most `threshold` bytes. `read` is a Web stream reader's `read()` or an async
 * iterator's `next()`.
 *
 * @example
 * ```ts
 * const reader = response.body.getReader();
 * const peeked = await peekBody(() => reader.read(), policy.threshold);
 * if (peeked.ended) send(peeked.chunks); // small: as it is
 * ```
 */
export async function peekBody(read: () => Promise<BodyRead>, limit: number): Promise<PeekedBody> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Every read that yields bytes brings the limit closer; the count also bounds a stream
  // that keeps yielding empty chunks.
  for (let reads = 0; size <= limit && reads <= limit + 1; reads++) {
    const { done, value } = await read();
    if (done) return { chunks, size, ended: true };
    if (value === undefined || value.byteLength === 0) continue;
    chunks.push(value);
    size += value.byteLength;
  }
  return { chunks, size, ended: false };
}
