import type { FairmindError } from '@fairmind/core';
import { withDeadline } from '../deadline/index.js';
import { describe, PREFIX, storeUnavailable, tokenRevoked } from '../errors/index.js';
import {
  isPromise,
  type RevocationQuery,
  type RevocationReason,
  type RevocationStore,
} from '../revocation/index.js';
import type { AuthContext } from './context.js';

// What TOKEN_REVOKED names for each reason (the message ends "has been revoked: sign in again").
const REVOKED_WHAT: Readonly<Record<RevocationReason, string>> = {
  token: 'the token',
  family: 'the session of this token',
  subject: "the user's sessions",
  // The store lost its list after the token was issued: it may have been revoked since.
  reset: 'every session older than the revocation list (it was reset)',
};

export function revokedError(reason: RevocationReason): FairmindError {
  return tokenRevoked(REVOKED_WHAT[reason]);
}

/** The revocation store's answer, or, when it fails, what `failOpen` says to do. */
export interface RevocationCheck {
  /**
   * The store's answer, synchronously when the store gives one (the memory store does): the
   * hot path then adds no promise of its own.
   */
  revocationReason(
    query: RevocationQuery,
  ): RevocationReason | null | Promise<RevocationReason | null>;
  /** Rejects with TOKEN_REVOKED when the query names a revoked token. */
  checkRevoked(query: RevocationQuery): Promise<void>;
}

export function createRevocationCheck(
  context: Pick<AuthContext, 'settings' | 'logger' | 'revocation'>,
): RevocationCheck {
  const { settings, logger, revocation } = context;

  function storeFailed(error: unknown): null {
    if (settings.failOpen) {
      logger.warn(
        { error: describe(error) },
        `${PREFIX} revocation store failed; accepting the token (failOpen)`,
      );
      return null;
    }
    throw storeUnavailable('revocation store', error);
  }

  function revocationReason(
    query: RevocationQuery,
  ): RevocationReason | null | Promise<RevocationReason | null> {
    let answer: ReturnType<RevocationStore['check']>;
    try {
      answer = revocation.check(query);
    } catch (error) {
      return storeFailed(error);
    }
    if (!isPromise(answer)) return answer;
    return withDeadline(answer, settings.storeTimeoutMs, 'the revocation store').catch(storeFailed);
  }

  async function checkRevoked(query: RevocationQuery): Promise<void> {
    const reason = await revocationReason(query);
    if (reason !== null) throw revokedError(reason);
  }

  return { revocationReason, checkRevoked };
}
