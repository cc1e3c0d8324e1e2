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

/** A refresh token presented for rotation, as {@link RefreshFamilyStore.rotate} takes it. */
export interface RefreshRotation {
  /** The family (`fam` claim). */
  readonly familyId: string;
  /** The `jti` of the presented refresh token. */
  readonly presentedTokenId: string;
  /** The `jti` the family moves on to when the presented token is its current one. */
  readonly nextTokenId: string;
  /** Epoch seconds. */
  readonly now: number;
  /**
   * How long, in seconds, the token a rotation spent may be presented again and get the same
   * next token instead of counting as reuse: several tabs refreshing at once. `0` turns it off.
   */
  readonly reuseIntervalSeconds: number;
}

/** What spending a refresh token did. */
export type RotateOutcome =
  /**
   * The family's current token is `tokenId`, as of `rotatedAt` (epoch seconds): the presented
   * token was current and was spent now (`rotated`), or it was spent by a rotation less than
   * the reuse interval ago (`repeated`), whose result this is.
   */
  | {
      readonly status: 'rotated' | 'repeated';
      readonly subject: string;
      readonly expiresAt: number;
      readonly tokenId: string;
      readonly rotatedAt: number;
    }
  /** The presented token was already spent: the family is now revoked. */
  | { readonly status: 'reused'; readonly subject: string; readonly expiresAt: number }
  /** The family was revoked before (logout, earlier reuse), has expired, or never existed. */
  | { readonly status: 'revoked' | 'expired' | 'unknown' };

/**
 * Where refresh-token families live. `rotate` must be atomic: of any number of concurrent
 * calls presenting the same token, exactly one spends it (a Lua script in Redis, a row lock in
 * SQL, a synchronous section in memory); the others see it spent.
 */
export interface RefreshFamilyStore {
  /** Records a new family whose current token is `family.tokenId`. */
  create(family: RefreshFamily): Promise<void>;
  /**
   * Spends the presented token: when it is the family's current token, `nextTokenId`
   * replaces it (`rotated`), and the store remembers the spent token and the time. When it is
   * that spent token, presented again within `reuseIntervalSeconds`, the answer is the same
   * next token (`repeated`). Any other token revokes the family (`reused`).
   */
  rotate(rotation: RefreshRotation): Promise<RotateOutcome>;
  /** Revokes a family (logout). Resolves `false` when there was none. */
  revoke(familyId: string): Promise<boolean>;
}

/**
 * Whether a token the family spent at `rotatedAt` may be presented again now: the one rule
 * every store applies (the Redis script applies it in Lua, with the same comparison). A store
 * of your own calls it in `rotate` when the presented token is the one spent last.
 *
 * @example
 * ```ts
 * if (presented === row.previousTokenId && withinReuseInterval(rotation, row.rotatedAt)) {
 *   return { status: 'repeated', subject, expiresAt, tokenId: row.currentTokenId, rotatedAt: row.rotatedAt };
 * }
 * ```
 */
export function withinReuseInterval(rotation: RefreshRotation, rotatedAt: number): boolean {
  return (
    rotation.reuseIntervalSeconds > 0 && rotation.now - rotatedAt <= rotation.reuseIntervalSeconds
  );
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
  /** The token the last rotation spent, and when (epoch seconds). */
  previous: { tokenId: string; rotatedAt: number } | undefined;
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
        previous: undefined,
        expiresAt: family.expiresAt,
        revoked: false,
      });
    },
    async rotate(rotation) {
      const family = families.get(rotation.familyId);
      if (family === undefined) return { status: 'unknown' };
      if (family.revoked) return { status: 'revoked' };
      if (family.expiresAt <= rotation.now) return { status: 'expired' };
      const { subject, expiresAt, previous } = family;
      if (family.tokenId === rotation.presentedTokenId) {
        family.previous = { tokenId: family.tokenId, rotatedAt: rotation.now };
        family.tokenId = rotation.nextTokenId;
        const rotatedAt = rotation.now;
        return { status: 'rotated', subject, expiresAt, tokenId: family.tokenId, rotatedAt };
      }
      if (
        previous?.tokenId === rotation.presentedTokenId &&
        withinReuseInterval(rotation, previous.rotatedAt)
      ) {
        const { rotatedAt } = previous;
        return { status: 'repeated', subject, expiresAt, tokenId: family.tokenId, rotatedAt };
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
