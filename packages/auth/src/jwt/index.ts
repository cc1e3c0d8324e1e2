import { createHmac, timingSafeEqual } from 'node:crypto';
import { numberRule, optionOrDefault } from '@fairmind/core';
import {
  errors,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { invalid, tokenExpired, tokenInvalid } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import { JWT_ALGORITHMS, type JwtAlgorithm, type KeyRing } from '../keys/index.js';
import { type HmacKey, hmacKeyOf } from '../keys/internal.js';

/**
 * The claims of a JWT: the registered ones of RFC 7519 section 4.1, and any others. The shape
 * of jose's `JWTPayload`, declared here so that the published CommonJS declarations never
 * import jose, which is ESM-only (TypeScript refuses that import with TS1479 under
 * `module: node16`).
 */
export interface JwtClaims {
  /** Issuer. */
  iss?: string | undefined;
  /** Subject. */
  sub?: string | undefined;
  /** Audience. */
  aud?: string | string[] | undefined;
  /** JWT id. */
  jti?: string | undefined;
  /** Not before, in seconds since the epoch. */
  nbf?: number | undefined;
  /** Expiry, in seconds since the epoch. */
  exp?: number | undefined;
  /** Issued at, in seconds since the epoch. */
  iat?: number | undefined;
  [claim: string]: unknown;
}

/** RFC 9068 `typ` of an access token. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** `typ` of a refresh token: different, so neither is ever accepted in place of the other. */
export const REFRESH_TOKEN_TYPE = 'refresh+jwt';
/** Tokens longer than this are refused before anything is decoded. */
export const DEFAULT_MAX_TOKEN_BYTES = 8192;
/** @default clock tolerance for `exp`, `nbf` and `iat`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

/** The protected header of a token that passed {@link precheckToken}. */
export interface JwtHeader {
  readonly alg: string;
  readonly typ?: string;
  readonly kid?: string;
  readonly [name: string]: unknown;
}

/** A verified token: its header and its claims. */
export interface VerifiedJwt {
  readonly header: JwtHeader;
  readonly payload: JwtClaims;
}

/** Options of {@link createJwtVerifier}. */
export interface JwtVerifierOptions {
  /** The keys that may have signed the tokens ({@link createKeyRing}). */
  keys: KeyRing;
  /**
   * The allowlist: a token whose `alg` is not in it is refused before any cryptography.
   * Compared case-sensitively; `none` is refused in any spelling whatever this says.
   * @default the algorithms of the key ring
   */
  algorithms?: readonly JwtAlgorithm[] | undefined;
  /** The required `iss`, or one of several. */
  issuer?: string | readonly string[] | undefined;
  /** The required `aud` (one of the token's audiences must be one of these). */
  audience?: string | readonly string[] | undefined;
  /**
   * The required `typ` header (compared without case and without an `application/` prefix, as
   * media types are). Unset means any `typ`, or none.
   */
  typ?: string | undefined;
  /**
   * Claims that must be present besides `exp`, which always is.
   * @default []
   */
  requiredClaims?: readonly string[] | undefined;
  /**
   * Leeway for `exp`, `nbf` and `iat`, in seconds.
   * @default 5
   */
  clockToleranceSeconds?: number | undefined;
  /**
   * The clock, in milliseconds since the epoch (tests pin it).
   * @default Date.now
   */
  now?: (() => number) | undefined;
  /**
   * Longer tokens are refused without being decoded.
   * @default 8192
   */
  maxTokenBytes?: number | undefined;
}

/** Verifies one token; rejects with `TOKEN_EXPIRED` or `TOKEN_INVALID`. */
export type JwtVerifier = (token: string) => Promise<VerifiedJwt>;

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

function asList(value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? [value] : [...value];
}

/** The public message of a jose failure: jose's own words name the claim, never the token. */
function mapJoseError(error: unknown): Error {
  if (error instanceof errors.JWTExpired) return tokenExpired();
  if (error instanceof errors.JWTClaimValidationFailed) {
    return tokenInvalid(
      `the token's "${error.claim}" claim is not acceptable (${error.reason})`,
      error,
    );
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return tokenInvalid('the token signature does not verify', error);
  }
  if (error instanceof errors.JOSEError) {
    return tokenInvalid(`the token is not a valid JWT (${error.message})`, error);
  }
  return tokenInvalid('the token could not be verified', error);
}

// The protected header {"alg":"none"}, base64url: see verifyHmac.
const UNSECURED_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

/**
 * A JWT verifier on jose's `jwtVerify`, with the checks jose leaves to its caller done first
 * and without cryptography (see {@link precheckToken}): key lookup by `kid` within the header's
 * algorithm only, `exp` always required, `iat` not in the future.
 *
 * @example
 * ```ts
 * const verify = createJwtVerifier({ keys, issuer: 'fairmind', audience: 'fairmind-api', typ: 'at+jwt' });
 * const { payload } = await verify(token);
 * ```
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const keys = options.keys;
  if (typeof keys?.find !== 'function') throw invalid('keys', 'must be a key ring (createKeyRing)');
  const algorithms = options.algorithms ?? keys.algorithms;
  for (const algorithm of algorithms) {
    if (!(JWT_ALGORITHMS as readonly string[]).includes(algorithm)) {
      throw invalid(
        'algorithms',
        `holds ${JSON.stringify(algorithm)}; use ${JWT_ALGORITHMS.join(', ')}`,
      );
    }
  }
  if (algorithms.length === 0) throw invalid('algorithms', 'must allow at least one algorithm');
  optionOrDefault(OPTIONS, {
    name: 'clockToleranceSeconds',
    value: options.clockToleranceSeconds,
    rule: numberRule(),
    fallback: undefined,
  });
  optionOrDefault(OPTIONS, {
    name: 'maxTokenBytes',
    value: options.maxTokenBytes,
    rule: numberRule({ min: 64 }),
    fallback: undefined,
  });
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const now = options.now ?? Date.now;
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const typ = options.typ;
  const issuer = asList(options.issuer);
  const audience = asList(options.audience);
  const requiredClaims = [...new Set(['exp', ...(options.requiredClaims ?? [])])];
  // The one-element algorithm list jose gets for each allowed algorithm, built once.
  const onlyAlgorithm = new Map<string, string[]>(
    algorithms.map((algorithm) => [algorithm, [algorithm]]),
  );
  let ready = false;

  const precheckOptions = { algorithms, typ, maxTokenBytes };

  /** The rules jose leaves to us, after its own claim checks. */
  function checkedPayload(payload: JwtClaims, currentMs: number): JwtClaims {
    // JSON.parse reads 1e400 as Infinity, which jose accepts as a number: an exp that never
    // comes. Times must be finite.
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const value = payload[claim];
      if (value !== undefined && !Number.isFinite(value)) {
        throw tokenInvalid(`the token's "${claim}" claim is not a finite number`);
      }
    }
    // jose checks iat only against maxTokenAge; a token from the future is a clock or a
    // forgery.
    if (payload.iat !== undefined && payload.iat > currentMs / 1000 + tolerance) {
      throw tokenInvalid('the token was issued in the future ("iat")');
    }
    return payload;
  }

  function claimOptions(currentMs: number): JWTVerifyOptions {
    // A fixed shape, no spreads: jose skips an option that is undefined (issuer, audience)
    // exactly as one left out. No `typ` here, ever: the HMAC path gives jose a stand-in
    // header, so `typ` is checked on the real one, in precheckToken.
    return {
      clockTolerance: tolerance,
      currentDate: new Date(currentMs),
      requiredClaims,
      issuer,
      audience,
    } as JWTVerifyOptions;
  }

  /**
   * HS256/384/512 by hand, and why: jose 6 verifies through WebCrypto, and Node runs every
   * WebCrypto HMAC as a job in the thread pool, which costs several times the HMAC itself for
   * a token of a few hundred bytes. node:crypto computes it synchronously. Only the MAC is
   * ours; the claims still go through jose's own validation (`UnsecuredJWT.decode` runs the
   * same `validateClaimsSet` as `jwtVerify`), fed the payload segment whose MAC has just been
   * checked behind a fixed `{"alg":"none"}` header. `typ` and `crit` were checked on the real
   * header by precheckToken, and the segments are canonical base64url, so the signature has one
   * spelling and comparing its bytes in constant time is comparing the token's. Only rings made
   * by createKeyRing take this path (see keys/internal.ts); any other ring goes through jose
   * with the key its own `find` returns.
   */
  function verifyHmac(token: string, header: JwtHeader, hmac: HmacKey): Promise<VerifiedJwt> {
    const signatureStart = token.lastIndexOf('.');
    let expected: Buffer;
    try {
      expected = createHmac(hmac.hash, hmac.secret).update(token.slice(0, signatureStart)).digest();
    } catch (error) {
      throw tokenInvalid('the token could not be verified', error);
    }
    const given = Buffer.from(token.slice(signatureStart + 1), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw tokenInvalid('the token signature does not verify');
    }
    const currentMs = now();
    let payload: JwtClaims;
    try {
      const claims = token.slice(token.indexOf('.') + 1, signatureStart);
      payload = UnsecuredJWT.decode(`${UNSECURED_HEADER}.${claims}.`, claimOptions(currentMs))
        .payload as JwtClaims;
    } catch (error) {
      throw mapJoseError(error);
    }
    return Promise.resolve({ header, payload: checkedPayload(payload, currentMs) });
  }

  // Plain promise chains rather than async functions: this runs once per cold verification,
  // where each async frame shows against jose's own cost.
  function verifyWithKey(token: string, header: JwtHeader): Promise<VerifiedJwt> {
    const hmac = hmacKeyOf(keys, header.alg, header.kid);
    if (hmac !== undefined) return verifyHmac(token, header, hmac);
    const key = keys.find(header.alg, header.kid);
    if (key === undefined) {
      throw tokenInvalid(
        header.kid === undefined
          ? `no ${header.alg} key verifies tokens without a kid`
          : `the token names an unknown key (kid ${JSON.stringify(header.kid).slice(0, 80)})`,
      );
    }
    const currentMs = now();
    const verifyOptions = claimOptions(currentMs);
    verifyOptions.algorithms = onlyAlgorithm.get(header.alg) as string[];
    return jwtVerify(token, key, verifyOptions).then(
      ({ payload }) => ({ header, payload: checkedPayload(payload, currentMs) }),
      (error: unknown) => {
        throw mapJoseError(error);
      },
    );
  }

  return function verifyJwt(token: string): Promise<VerifiedJwt> {
    try {
      const header = precheckToken(token, precheckOptions);
      if (ready) return verifyWithKey(token, header);
      return keys.ready().then(() => {
        ready = true;
        return verifyWithKey(token, header);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  };
}

/** Options of {@link signJwt}. */
export interface SignJwtOptions {
  keys: KeyRing;
  /** The `typ` header. */
  typ: string;
}

/**
 * Signs claims with the ring's signing key; the header carries `alg`, `typ` and `kid`.
 *
 * @example
 * ```ts
 * const token = await signJwt({ keys, typ: 'at+jwt' }, { sub: 'u1', exp: 1_900_000_000 });
 * ```
 */
export async function signJwt(options: SignJwtOptions, claims: JwtClaims): Promise<string> {
  await options.keys.ready();
  const signer = options.keys.signer();
  if (signer === undefined) {
    throw invalid('keys', 'hold no secret or private key, so this instance cannot issue tokens');
  }
  const header: { alg: string; typ: string; kid?: string } = {
    alg: signer.algorithm,
    typ: options.typ,
  };
  if (signer.kid !== undefined) header.kid = signer.kid;
  // JSON drops a claim whose value is undefined, which is all jose's stricter type guards.
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header).sign(signer.key);
}
