import { randomUUID } from 'node:crypto';
import {
  refreshTokenReused,
  tokenExpired,
  tokenInvalid,
  tokenRevoked,
  validationFailed,
} from '../errors/index.js';
import type { AuthContext } from './context.js';
import type { Auth, RequestContext, TokenPair } from './index.js';
import type { Counted } from './metrics.js';
import type { RevocationCheck } from './revocation-check.js';
import type { Signer } from './sign.js';
import { stringClaim } from './verify.js';

/** What {@link createRefresh} needs besides the context. */
export interface RefreshDeps
  extends Pick<
      AuthContext,
      'revocation' | 'families' | 'users' | 'verifyRefreshJwt' | 'audit' | 'settings'
    >,
    Pick<RevocationCheck, 'checkRevoked'>,
    Pick<Signer, 'issuedAt' | 'signPair'> {
  readonly counted: Counted;
}

/**
 * Refresh-token rotation: each refresh token is spent once for the next pair of its family;
 * spending one twice revokes the family (reuse detection), but within the reuse interval,
 * where the repeat gets the pair the first spend got.
 */
export function createRefresh(deps: RefreshDeps): Pick<Auth, 'refresh'> {
  const { revocation, families, users, verifyRefreshJwt, audit, settings } = deps;
  const { checkRevoked, issuedAt, signPair, counted } = deps;

  function refresh(refreshToken: string, context: RequestContext = {}): Promise<TokenPair> {
    // A request without a token string is malformed (400), not a bad credential (401): the
    // client must fix the request, not sign in again.
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      return Promise.reject(
        validationFailed(
          'refreshToken must be the non-empty string that login or refresh answered: send { "refreshToken": "<token>" }.',
        ),
      );
    }
    return counted('refresh', () => rotate(refreshToken, context));
  }

  /** Spends a verified, unrevoked refresh token: the family moves on to the next pair. */
  async function rotate(refreshToken: string, context: RequestContext): Promise<TokenPair> {
    const { payload } = await verifyRefreshJwt(refreshToken);
    const sub = stringClaim(payload, 'sub');
    const jti = stringClaim(payload, 'jti');
    const fam = stringClaim(payload, 'fam');
    const iat = payload.iat as number;
    await checkRevoked({ jti, sub, fam, iat });
    // The new pair's iat is the rotation's time, stored with it, so a repeat within the reuse
    // interval signs the very same claims.
    const outcome = await families.rotate({
      familyId: fam,
      presentedTokenId: jti,
      nextTokenId: randomUUID(),
      now: await issuedAt(sub),
      reuseIntervalSeconds: settings.refreshReuseIntervalSeconds,
    });
    if (outcome.status === 'reused') {
      // The whole family dies, the access tokens issued from it included.
      await revocation.revokeFamily(fam, sub, outcome.expiresAt);
      await audit('token.reuse', { actorId: sub, ip: context.ip, details: { familyId: fam } });
      throw refreshTokenReused();
    }
    if (outcome.status !== 'rotated' && outcome.status !== 'repeated') {
      if (outcome.status === 'revoked') throw tokenRevoked('the session of this refresh token');
      if (outcome.status === 'expired') throw tokenExpired('the session of this refresh token');
      throw tokenInvalid('the refresh token belongs to no known session');
    }
    let role = stringClaim(payload, 'role');
    if (users !== undefined) {
      const user = await users.findById(sub);
      if (user === null || (user.disabledAt ?? null) !== null) {
        await families.revoke(fam);
        throw tokenRevoked(
          "the refresh token's user no longer exists or is disabled, so the token",
        );
      }
      role = user.role;
    }
    const pair = await signPair(
      { id: sub, role },
      { id: fam, expiresAt: outcome.expiresAt },
      outcome.tokenId,
      outcome.rotatedAt,
    );
    // A repeat hands out what the first spend did: one refresh, audited once.
    if (outcome.status === 'rotated') {
      await audit('token.refresh', { actorId: sub, ip: context.ip, details: { familyId: fam } });
    }
    return pair;
  }

  return { refresh };
}
