import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnsecuredJWT } from 'jose';
import { tokenInvalid } from '../errors/index.js';
import type { HmacKey } from '../keys/internal.js';
import { type ClaimRules, checkedPayload, claimOptions, mapJoseError } from './claims.js';
import type { JwtClaims, VerifiedJwt } from './index.js';
import type { JwtHeader } from './precheck.js';

// The protected header {"alg":"none"}, base64url: see verifyHmac.
const UNSECURED_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

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
 * with the key its own `find` returns. `token` has passed precheckToken, which gave `header`.
 */
export function verifyHmac(
  rules: ClaimRules & { readonly now: () => number },
  token: string,
  header: JwtHeader,
  hmac: HmacKey,
): Promise<VerifiedJwt> {
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
  const { now } = rules;
  const currentMs = now();
  let payload: JwtClaims;
  try {
    const claims = token.slice(token.indexOf('.') + 1, signatureStart);
    payload = UnsecuredJWT.decode(`${UNSECURED_HEADER}.${claims}.`, claimOptions(rules, currentMs))
      .payload as JwtClaims;
  } catch (error) {
    throw mapJoseError(error);
  }
  return Promise.resolve({ header, payload: checkedPayload(rules, payload, currentMs) });
}
