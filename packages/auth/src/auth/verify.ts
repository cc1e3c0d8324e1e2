import { counterIncrement } from '@fairmind/core/metrics';
import { LRUCache } from 'lru-cache';
import { tokenInvalid } from '../errors/index.js';
import type { JwtClaims, VerifiedJwt } from '../jwt/index.js';
import type { MiddlewareDeps } from '../middleware/index.js';
import type { Principal } from '../rbac/index.js';
import type { RevocationReason } from '../revocation/index.js';
import { isPromise } from '../revocation/index.js';
import type { AuthContext } from './context.js';
import type { Auth } from './index.js';
import { ACCESS_OK, CACHE_HIT, CACHE_MISS, type Counted, outcomeOf } from './metrics.js';
import { type RevocationCheck, revokedError } from './revocation-check.js';

const noop = () => {};

/** A claim that must be a non-empty string of at most 256 characters, else TOKEN_INVALID. */
export function stringClaim(payload: JwtClaims, name: string): string {
  const value = payload[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw tokenInvalid(`the token's "${name}" claim is missing or not a string`);
  }
  return value;
}

function principalOf(payload: JwtClaims): Principal {
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  const fam = payload['fam'];
  return {
    type: 'user',
    id: stringClaim(payload, 'sub'),
    role: stringClaim(payload, 'role'),
    tokenId: stringClaim(payload, 'jti'),
    familyId: typeof fam === 'string' ? fam : undefined,
    issuedAt: iat,
    expiresAt: exp,
  };
}

/** What {@link createAccessTokenVerifier} needs besides the context. */
export interface AccessTokenVerifierDeps
  extends Pick<AuthContext, 'settings' | 'now' | 'verifyAccessJwt' | 'metrics'>,
    Pick<RevocationCheck, 'revocationReason'> {}

/**
 * `verifyAccessToken`, the hot path: a cache of verified tokens, then the revocation check,
 * both synchronous when the store answers synchronously, so that a cached token costs no
 * promise but the one returned. Its helpers stay in this one closure (hence its length) so
 * that each request reads the cache and counters as closure variables, not through objects.
 */
export function createAccessTokenVerifier(deps: AccessTokenVerifierDeps): {
  readonly verifyAccessToken: Auth['verifyAccessToken'];
  /** The same, synchronous where it can be: the middleware's path. */
  readonly accessTokenPrincipal: MiddlewareDeps['accessTokenPrincipal'];
} {
  const { settings, now, verifyAccessJwt, revocationReason } = deps;
  const { verifications, cacheLookups } = deps.metrics;
  // The series every request bumps, counted in place (see counterIncrement).
  const countAccessOk = verifications ? counterIncrement(verifications, ACCESS_OK) : noop;
  const countHit = cacheLookups ? counterIncrement(cacheLookups, CACHE_HIT) : noop;
  const countMiss = cacheLookups ? counterIncrement(cacheLookups, CACHE_MISS) : noop;
  const cache =
    settings.tokenCacheSize === 0
      ? undefined
      : new LRUCache<string, Principal>({ max: settings.tokenCacheSize });

  /** Counts a failed access-token verification; returns the error to throw. */
  function countAccessFailure(error: unknown): unknown {
    verifications?.inc({ kind: 'access', outcome: outcomeOf(error) });
    return error;
  }

  function accessFailed(error: unknown): never {
    throw countAccessFailure(error);
  }

  /**
   * The revocation check and the count of the outcome, synchronously when the store answers
   * synchronously (the memory store does). What it throws or rejects with is counted.
   */
  function admit(principal: Principal): Principal | Promise<Principal> {
    let reason: ReturnType<typeof revocationReason>;
    try {
      reason = revocationReason({
        jti: principal.tokenId as string,
        sub: principal.id,
        fam: principal.familyId,
        iat: principal.issuedAt as number,
      });
    } catch (error) {
      return accessFailed(error);
    }
    if (isPromise(reason)) {
      return reason.then((answer) => admitted(principal, answer), accessFailed);
    }
    return admitted(principal, reason);
  }

  function admitted(principal: Principal, reason: RevocationReason | null): Principal {
    if (reason !== null) accessFailed(revokedError(reason));
    countAccessOk();
    return principal;
  }

  /** A token jose accepted: its principal, cached, then the revocation check. */
  function acceptVerified(token: string, verified: VerifiedJwt): Principal | Promise<Principal> {
    let principal: Principal;
    try {
      principal = principalOf(verified.payload);
      if (cache !== undefined && (principal.expiresAt as number) * 1000 > now()) {
        cache.set(token, principal);
      }
    } catch (error) {
      return accessFailed(error);
    }
    return admit(principal);
  }

  // Promise chains rather than an async function: the cold path is one jose call and this,
  // and each async frame shows against it. Every failure is counted exactly once. A cached
  // token whose revocation answer is known answers synchronously (and a failure throws), so
  // that authenticate() costs the request no promise and no turn of the microtask queue.
  function accessTokenPrincipal(token: string): Principal | Promise<Principal> {
    let principal: Principal | undefined;
    try {
      principal = cache?.get(token);
      // An entry is never used past its token's exp: expiry is checked here, on the same clock
      // as verification, rather than left to the cache's own timers.
      if (principal !== undefined && (principal.expiresAt as number) * 1000 > now()) {
        countHit();
      } else {
        if (principal !== undefined) cache?.delete(token);
        if (cache !== undefined) countMiss();
        principal = undefined;
      }
    } catch (error) {
      throw countAccessFailure(error);
    }
    // admit() counts what it throws.
    if (principal !== undefined) return admit(principal);
    return verifyAccessJwt(token).then((verified) => acceptVerified(token, verified), accessFailed);
  }

  function verifyAccessToken(token: string): Promise<Principal> {
    try {
      return Promise.resolve(accessTokenPrincipal(token));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return { verifyAccessToken, accessTokenPrincipal };
}

/** `verifyApiKey`: the key's principal, counted like every other verification. */
export function createApiKeyVerifier(
  deps: Pick<AuthContext, 'apiKeys'> & { readonly counted: Counted },
): Auth['verifyApiKey'] {
  const { apiKeys, counted } = deps;

  function verifyApiKey(key: string): Promise<Principal> {
    return counted('api_key', async () => {
      if (apiKeys === undefined) throw tokenInvalid('API keys are not enabled on this server');
      return apiKeys.verify(key);
    });
  }

  return verifyApiKey;
}
