import { createHash, randomUUID } from 'node:crypto';
import { forbidden, validationFailed } from '../errors/index.js';
import { ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, signJwt } from '../jwt/index.js';
import type { AuthContext } from './context.js';
import type { TokenPair } from './index.js';
import type { RevocationCheck } from './revocation-check.js';

/** What {@link createSigner} needs besides the context. */
export interface SignerDeps
  extends Pick<AuthContext, 'settings' | 'nowSeconds' | 'keys' | 'rbac' | 'families'>,
    Pick<RevocationCheck, 'revocationReason'> {}

/**
 * The access token's `jti`, derived from its refresh token's: a refresh repeated within the
 * reuse interval then signs the same pair, not a second live access token. One-way, so an
 * access token tells nothing of the refresh token's id.
 */
function accessTokenId(refreshJti: string): string {
  const hex = createHash('sha256').update(`access:${refreshJti}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Signs the access and refresh tokens of a session: a new one, or the next pair of one. */
export function createSigner(deps: SignerDeps) {
  const { settings, nowSeconds, keys, rbac, families, revocationReason } = deps;

  /**
   * The `iat` of new tokens: now, unless the user's "log out everywhere" cutoff falls in this
   * very second; a token stamped with the cutoff's second would count as issued before it, so
   * it is stamped one second later (well within the verifier's tolerance for `iat`).
   */
  async function issuedAt(sub: string): Promise<number> {
    const at = nowSeconds();
    const probe = await revocationReason({ jti: '', sub, iat: at });
    return probe === 'subject' ? at + 1 : at;
  }

  async function signPair(
    user: { id: string; role: string },
    family: { id: string; expiresAt: number },
    refreshJti: string,
    iat: number,
  ): Promise<TokenPair> {
    const common = {
      sub: user.id,
      iat,
      iss: settings.issuer,
      aud: settings.audience,
      fam: family.id,
    };
    const [accessToken, refreshToken] = await Promise.all([
      signJwt(
        { keys, typ: ACCESS_TOKEN_TYPE },
        {
          ...common,
          role: user.role,
          jti: accessTokenId(refreshJti),
          exp: iat + settings.accessTokenTtlSeconds,
        },
      ),
      signJwt(
        { keys, typ: REFRESH_TOKEN_TYPE },
        {
          ...common,
          role: user.role,
          jti: refreshJti,
          exp: Math.min(iat + settings.refreshTokenTtlSeconds, family.expiresAt),
        },
      ),
    ]);
    return {
      accessToken,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: settings.accessTokenTtlSeconds,
    };
  }

  async function issueTokens(user: { id: string; role: string }): Promise<TokenPair> {
    if (typeof user?.id !== 'string' || user.id === '' || typeof user.role !== 'string') {
      throw validationFailed('issueTokens needs a user with a string id and role');
    }
    if (!rbac.has(user.role)) throw forbidden(`unknown role ${JSON.stringify(user.role)}`);
    const iat = await issuedAt(user.id);
    const family = { id: randomUUID(), expiresAt: iat + settings.familyLifetimeSeconds };
    const refreshJti = randomUUID();
    await families.create({
      id: family.id,
      subject: user.id,
      tokenId: refreshJti,
      expiresAt: family.expiresAt,
      createdAt: iat,
    });
    return signPair(user, family, refreshJti, iat);
  }

  return { issuedAt, signPair, issueTokens };
}

/** See {@link createSigner}. */
export type Signer = ReturnType<typeof createSigner>;
