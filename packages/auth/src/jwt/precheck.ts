import { tokenInvalid } from '../errors/index.js';

/** Tokens longer than this are refused before anything is decoded. */
export const DEFAULT_MAX_TOKEN_BYTES = 8192;

/** The protected header of a token that passed {@link precheckToken}. */
export interface JwtHeader {
  readonly alg: string;
  readonly typ?: string;
  readonly kid?: string;
  readonly [name: string]: unknown;
}

// Canonical compact form (RFC 7515 section 7.1): three base64url segments (RFC 4648 section 5,
// no padding, no whitespace), none empty.
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function alphabetIndex(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 45 ? 62 : 63; // - and _
}

/**
 * Whether a base64url segment is the only spelling of its bytes. A length of 4n+1 encodes no
 * whole byte, and the last character of a 4n+2 or 4n+3 segment carries 4 or 2 unused bits
 * that must be zero (RFC 4648 section 3.5): otherwise several texts decode to one token.
 */
function canonicalSegment(token: string, start: number, end: number): boolean {
  const rest = (end - start) % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = alphabetIndex(token.charCodeAt(end - 1));
  return rest === 2 ? (last & 15) === 0 : (last & 3) === 0;
}

// jose decodes the header as strict UTF-8; so does this, so both paths refuse the same bytes.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// Parsed headers by their base64url text. A service sees a handful of distinct headers (one
// per key and type), so most verifications skip the decode; bounded against floods of junk.
const headerCache = new Map<string, JwtHeader>();
const HEADER_CACHE_SIZE = 256;

function decodeHeader(segment: string): JwtHeader {
  const cached = headerCache.get(segment);
  if (cached !== undefined) return cached;
  const header = parseHeader(segment);
  if (headerCache.size >= HEADER_CACHE_SIZE) headerCache.clear();
  headerCache.set(segment, Object.freeze(header));
  return header;
}

function parseHeader(segment: string): JwtHeader {
  let header: unknown;
  try {
    header = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
  } catch (error) {
    throw tokenInvalid('the token header is not JSON', error);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw tokenInvalid('the token header is not a JSON object');
  }
  return header as JwtHeader;
}

function normaliseType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

/**
 * Everything that can be checked before cryptography, cheapest first: the size, the
 * canonical compact form, the header's JSON, `alg` in the allowlist (never `none`), no
 * `crit` (this verifier understands no extension), and `typ`. Throws `TOKEN_INVALID`.
 *
 * @example
 * ```ts
 * const header = precheckToken(token, { algorithms: ['HS256'], typ: 'at+jwt' });
 * ```
 */
export function precheckToken(
  token: unknown,
  options: {
    algorithms: readonly string[];
    typ?: string | undefined;
    maxTokenBytes?: number | undefined;
  },
): JwtHeader {
  if (typeof token !== 'string') throw tokenInvalid('the token is not a string');
  const max = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  // Base64url is ASCII, so length is the byte count of any token that can pass the next check.
  if (token.length > max) throw tokenInvalid(`the token is over ${max} bytes`);
  if (!COMPACT.test(token)) {
    throw tokenInvalid(
      'the token is not in compact form (three base64url parts separated by dots, without padding or whitespace)',
    );
  }
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (
    !canonicalSegment(token, 0, first) ||
    !canonicalSegment(token, first + 1, second) ||
    !canonicalSegment(token, second + 1, token.length)
  ) {
    throw tokenInvalid('the token is not canonical base64url');
  }
  const header = decodeHeader(token.slice(0, first));
  const alg = header.alg;
  if (typeof alg !== 'string') throw tokenInvalid('the token header has no alg');
  if (alg.toLowerCase() === 'none') throw tokenInvalid('unsigned tokens (alg "none") are refused');
  if (!options.algorithms.includes(alg)) {
    throw tokenInvalid(`the token algorithm ${JSON.stringify(alg)} is not allowed`);
  }
  if (header['crit'] !== undefined) {
    throw tokenInvalid('the token has a "crit" header, and no extension is understood here');
  }
  if (options.typ !== undefined) {
    if (
      typeof header.typ !== 'string' ||
      normaliseType(header.typ) !== normaliseType(options.typ)
    ) {
      throw tokenInvalid(`the token is not of type ${options.typ}`);
    }
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') {
    throw tokenInvalid('the token kid is not a string');
  }
  return header;
}
