/** A refresh-token family: one sign-in, whose refresh tokens replace each other in turn. */
export interface RefreshFamily {
  /** The family id (`fam` claim of its tokens). */
  readonly id: string;
  /** The user (`sub`). */
  readonly subject: string;
  /** The `jti` of the one refresh token of the family that may still be spent. */
  readonly tokenId: string;
  /** The absolute end of the family, epoch seconds: no rotation extends it. */
  readonly expiresAt: number;
  /** Epoch seconds. */
  readonly createdAt: number;
}

/** What spending a refresh token did. */
export type RotateOutcome =
  /** The presented token was current; `nextTokenId` is now. */
  | { readonly status: 'rotated'; readonly subject: string; readonly expiresAt: number }
  /** The presented token was already spent: the family is now revoked. */
  | { readonly status: 'reused'; readonly subject: string; readonly expiresAt: number }
  /** The family was revoked before (logout, earlier reuse), has expired, or never existed. */
  | { readonly status: 'revoked' | 'expired' | 'unknown' };

/**
 * Where refresh-token families live. `rotate` must be atomic: of any number of concurrent
 * calls presenting the same token, exactly one sees it current (a Lua script in Redis, a row
 * lock in SQL, a synchronous section in memory).
 */
export interface RefreshFamilyStore {
  /** Records a new family whose current token is `family.tokenId`. */
  create(family: RefreshFamily): Promise<void>;
  /**
   * Spends `presentedTokenId`: when it is the family's current token, `nextTokenId` replaces
   * it (`rotated`); when it is not, the family is revoked (`reused`). `now` is epoch seconds.
   */
  rotate(
    familyId: string,
    presentedTokenId: string,
    nextTokenId: string,
    now: number,
  ): Promise<RotateOutcome>;
  /** Revokes a family (logout). Resolves `false` when there was none. */
  revoke(familyId: string): Promise<boolean>;
}

/** Options of {@link createMemoryRefreshFamilyStore}. */
export interface MemoryRefreshFamilyStoreOptions {
  /**
   * The clock in milliseconds, for sweeping expired families.
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

interface MemoryFamily {
  subject: string;
  tokenId: string;
  expiresAt: number;
  revoked: boolean;
}

/**
 * Refresh families in this process's memory, for development and single-instance use. The
 * check-and-replace of `rotate` runs without an `await` in between, which is what makes it
 * atomic on one event loop.
 *
 * @example
 * ```ts
 * const auth = createAuth({ secret, refreshFamilies: createMemoryRefreshFamilyStore() });
 * ```
 */
export function createMemoryRefreshFamilyStore(
  options: MemoryRefreshFamilyStoreOptions = {},
): RefreshFamilyStore {
  const now = options.now ?? Date.now;
  const families = new Map<string, MemoryFamily>();
  let lastSweep = now();

  function sweep(): void {
    const at = now();
    if (at - lastSweep < 60_000) return;
    lastSweep = at;
    for (const [id, family] of families) if (family.expiresAt * 1000 <= at) families.delete(id);
  }

  return {
    async create(family) {
      sweep();
      families.set(family.id, {
        subject: family.subject,
        tokenId: family.tokenId,
        expiresAt: family.expiresAt,
        revoked: false,
      });
    },
    async rotate(familyId, presentedTokenId, nextTokenId, at) {
      const family = families.get(familyId);
      if (family === undefined) return { status: 'unknown' };
      if (family.revoked) return { status: 'revoked' };
      if (family.expiresAt <= at) return { status: 'expired' };
      const { subject, expiresAt } = family;
      if (family.tokenId === presentedTokenId) {
        family.tokenId = nextTokenId;
        return { status: 'rotated', subject, expiresAt };
      }
      family.revoked = true;
      return { status: 'reused', subject, expiresAt };
    },
    async revoke(familyId) {
      const family = families.get(familyId);
      if (family === undefined) return false;
      family.revoked = true;
      return true;
    },
  };
}
