import { describe, PREFIX } from '../errors/index.js';
import type { Principal } from '../rbac/index.js';
import type { AuthContext } from './context.js';
import type { Auth, RequestContext } from './index.js';

/** Sign-out of one session (and a refresh token's), or of every session of a user. */
export function createLogout(
  context: Pick<
    AuthContext,
    'settings' | 'nowSeconds' | 'logger' | 'revocation' | 'families' | 'verifyRefreshJwt' | 'audit'
  >,
): Pick<Auth, 'logout' | 'logoutEverywhere'> {
  const { settings, nowSeconds, logger, revocation, families, verifyRefreshJwt, audit } = context;

  async function logout(
    principal: Principal,
    options: RequestContext & { refreshToken?: string } = {},
  ) {
    const at = nowSeconds();
    const familyEnd = at + settings.familyLifetimeSeconds;
    const familiesToEnd = new Set<string>();
    if (principal.type === 'user' && principal.tokenId !== undefined) {
      await revocation.revokeToken(
        principal.tokenId,
        principal.id,
        principal.expiresAt ?? at + settings.accessTokenTtlSeconds,
      );
      if (principal.familyId !== undefined) familiesToEnd.add(principal.familyId);
    }
    if (options.refreshToken !== undefined) {
      // A refresh token that does not verify, or is someone else's, is ignored: logout still
      // succeeds for what the caller does own.
      try {
        const { payload } = await verifyRefreshJwt(options.refreshToken);
        if (payload.sub === principal.id && typeof payload['fam'] === 'string')
          familiesToEnd.add(payload['fam']);
      } catch (error) {
        logger.debug(
          { error: describe(error) },
          `${PREFIX} logout ignored a refresh token that did not verify`,
        );
      }
    }
    for (const fam of familiesToEnd) {
      await families.revoke(fam);
      await revocation.revokeFamily(fam, principal.id, familyEnd);
    }
    await audit('logout', {
      actorId: principal.id,
      ip: options.ip,
      details: { sessions: familiesToEnd.size },
    });
  }

  async function logoutEverywhere(
    userId: string,
    context: RequestContext & { actorId?: string } = {},
  ) {
    const at = nowSeconds();
    const longest = Math.max(settings.familyLifetimeSeconds, settings.accessTokenTtlSeconds);
    await revocation.revokeSubject(userId, at, at + longest + 60);
    await audit('logout.everywhere', {
      actorId: context.actorId ?? userId,
      ip: context.ip,
      details: { userId },
    });
  }

  return { logout, logoutEverywhere };
}
