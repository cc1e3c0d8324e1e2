import { errors, type JWTVerifyOptions } from 'jose';
import { tokenExpired, tokenInvalid } from '../errors/index.js';
import type { JwtClaims } from './index.js';

/** The claim rules of one verifier, resolved from its options once. */
export interface ClaimRules {
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. */
  readonly tolerance: number;
  /** `exp` and the claims the options add. */
  readonly requiredClaims: string[];
  readonly issuer: string[] | undefined;
  readonly audience: string[] | undefined;
}

/** jose's claim options for a verification at `currentMs`. */
export function claimOptions(rules: ClaimRules, currentMs: number): JWTVerifyOptions {
  // A fixed shape, no spreads: jose skips an option that is undefined (issuer, audience)
  // exactly as one left out. No `typ` here, ever: the HMAC path gives jose a stand-in
  // header, so `typ` is checked on the real one, in precheckToken.
  return {
    clockTolerance: rules.tolerance,
    currentDate: new Date(currentMs),
    requiredClaims: rules.requiredClaims,
    issuer: rules.issuer,
    audience: rules.audience,
  } as JWTVerifyOptions;
}

/** The rules jose leaves to us, after its own claim checks. */
export function checkedPayload(
  rules: ClaimRules,
  payload: JwtClaims,
  currentMs: number,
): JwtClaims {
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
  if (payload.iat !== undefined && payload.iat > currentMs / 1000 + rules.tolerance) {
    throw tokenInvalid('the token was issued in the future ("iat")');
  }
  return payload;
}

/** The public message of a jose failure: jose's own words name the claim, never the token. */
export function mapJoseError(error: unknown): Error {
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
