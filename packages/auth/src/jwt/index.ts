import { numberRule, optionOrDefault } from '@fairmind/core';
import { type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { invalid, tokenInvalid } from '../errors/index.js';
import { OPTIONS } from '../errors/options.js';
import { JWT_ALGORITHMS, type JwtAlgorithm, type KeyRing } from '../keys/index.js';
import { hmacKeyOf } from '../keys/internal.js';
import { type ClaimRules, checkedPayload, claimOptions, mapJoseError } from './claims.js';
import { verifyHmac } from './hmac.js';
import { DEFAULT_MAX_TOKEN_BYTES, type JwtHeader, precheckToken } from './precheck.js';

export { DEFAULT_MAX_TOKEN_BYTES, type JwtHeader, precheckToken } from './precheck.js';

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
/** @default clock tolerance for `exp`, `nbf` and `iat`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

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

function asList(value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? [value] : [...value];
}

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
  const { algorithms, ...context } = verifierContext(options);
  const precheckOptions = {
    algorithms,
    typ: options.typ,
    maxTokenBytes: options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
  };
  let ready = false;

  return function verifyJwt(token: string): Promise<VerifiedJwt> {
    try {
      const header = precheckToken(token, precheckOptions);
      if (ready) return verifyWithKey(context, token, header);
      return context.keys.ready().then(() => {
        ready = true;
        return verifyWithKey(context, token, header);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  };
}

/** What a verification needs besides the token, resolved from the options once. */
interface VerifierContext extends ClaimRules {
  readonly keys: KeyRing;
  readonly now: () => number;
  /** The one-element algorithm list jose gets for each allowed algorithm, built once. */
  readonly onlyAlgorithm: ReadonlyMap<string, string[]>;
}

/** Checks the options, in the order a caller sees their errors, and resolves the defaults. */
function verifierContext(
  options: JwtVerifierOptions,
): VerifierContext & { algorithms: readonly JwtAlgorithm[] } {
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
  return {
    keys,
    algorithms,
    tolerance: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    now: options.now ?? Date.now,
    issuer: asList(options.issuer),
    audience: asList(options.audience),
    requiredClaims: [...new Set(['exp', ...(options.requiredClaims ?? [])])],
    onlyAlgorithm: new Map(algorithms.map((algorithm) => [algorithm, [algorithm]])),
  };
}

// Plain promise chains rather than async functions: this runs once per cold verification,
// where each async frame shows against jose's own cost.
function verifyWithKey(
  context: VerifierContext,
  token: string,
  header: JwtHeader,
): Promise<VerifiedJwt> {
  const { keys, now } = context;
  const hmac = hmacKeyOf(keys, header.alg, header.kid);
  if (hmac !== undefined) return verifyHmac(context, token, header, hmac);
  const key = keys.find(header.alg, header.kid);
  if (key === undefined) {
    throw tokenInvalid(
      header.kid === undefined
        ? `no ${header.alg} key verifies tokens without a kid`
        : `the token names an unknown key (kid ${JSON.stringify(header.kid).slice(0, 80)})`,
    );
  }
  const currentMs = now();
  const verifyOptions = claimOptions(context, currentMs);
  verifyOptions.algorithms = context.onlyAlgorithm.get(header.alg) as string[];
  return jwtVerify(token, key, verifyOptions).then(
    ({ payload }) => ({ header, payload: checkedPayload(context, payload, currentMs) }),
    (error: unknown) => {
      throw mapJoseError(error);
    },
  );
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
